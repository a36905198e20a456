//! Reporting webhooks through core with controlled time, on both backends: a buy that asks for
//! daily reports gets one per UTC day while it runs and a final one when it ends, each queued
//! in the webhook outbox with the schedule's advance, never twice.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sales_agent::adapters::mock::MockAdServer;
use sales_agent::core::buying::{self, Mutation, UpdateMediaBuy};
use sales_agent::core::media_buy::{StartTime, Verbatim};
use sales_agent::core::ports::{Also, Store};
use sales_agent::core::reporting::send_due;
use sales_agent::core::webhook::{Frequency, Webhook};
use sales_agent::mcp::wire_tasks::Deferred;
use serde_json::{Value, json};

use crate::delivery::{demo, display_package, techcorp_buy};
use crate::support;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 1, 9, 30, 0).unwrap()
}

fn reports(frequency: Frequency) -> Webhook {
    let url = "https://buyer.example/reports/op-r1".to_owned();
    let config = json!({
        "url": url,
        "reporting_frequency": frequency.as_str(),
        "authentication": { "schemes": ["Bearer"], "credentials": "0123456789abcdef0123456789abcdef" },
        "token": "report-token-0123456789",
    });
    Webhook { url, config: Verbatim(config.to_string()), frequency: Some(frequency) }
}

async fn bodies(db: &sales_agent::store::Db) -> Vec<Value> {
    db.notifications("demo", 50)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.notification.body).unwrap())
        .collect()
}

#[tokio::test]
async fn daily_reports_then_a_final_one() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mut request =
            techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(10), vec![display_package(5000.0)]);
        request.reporting_webhook = Some(reports(Frequency::Daily));
        let buy = buying::create_media_buy(
            db,
            &demo.catalog,
            &demo.tenant,
            &demo.principal,
            &request,
            &Mutation::at(t0(), &Deferred),
        )
        .await
        .unwrap()
        .into_buy()
        .unwrap();
        let schedule = db.report_schedule("demo", &buy.media_buy_id).await.unwrap().expect("a schedule");
        let midnight = Utc.with_ymd_and_hms(2026, 7, 2, 0, 0, 0).unwrap();
        assert_eq!((schedule.sequence, schedule.period_start, schedule.next_at), (0, t0(), midnight));

        let ad_server = MockAdServer::new();
        let send = |at| send_due(db, &ad_server, &Deferred, &demo.catalog, &demo.tenant, at);
        assert!(send(midnight - Duration::seconds(1)).await.unwrap().is_empty(), "not before the day ends");
        assert_eq!(send(midnight + Duration::seconds(5)).await.unwrap(), vec![(buy.media_buy_id.clone(), 1)]);
        assert!(send(midnight + Duration::seconds(10)).await.unwrap().is_empty(), "{}: once", db.backend_name());
        let first = bodies(db).await.pop().unwrap();
        assert_eq!(
            (first["notification_type"].as_str(), first["sequence_number"].as_i64()),
            (Some("scheduled"), Some(1))
        );
        assert_eq!(first["next_expected_at"], "2026-07-03T00:00:00Z");
        assert_eq!(first["reporting_period"]["start"], "2026-07-01T09:30:00Z");
        assert_eq!(first["reporting_period"]["end"], "2026-07-02T00:00:00Z");
        assert_eq!(first["media_buy_deliveries"][0]["media_buy_id"], buy.media_buy_id.as_str());
        assert!(first["media_buy_deliveries"][0]["totals"]["impressions"].as_f64().unwrap() > 0.0);
        assert!(first.get("aggregated_totals").is_none());
        assert_eq!(
            (first["token"].as_str(), first["idempotency_key"].as_str().map(str::len)),
            (Some("report-token-0123456789"), Some(36))
        );

        // The buyer cancels mid-day: the final report covers the day so far, and ends the schedule.
        let cancel_at = midnight + Duration::hours(6);
        let cancel =
            UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), cancel: Some(None), ..UpdateMediaBuy::default() };
        buying::update_media_buy(
            db,
            &demo.catalog,
            &demo.tenant,
            &demo.principal,
            &cancel,
            &Mutation::at(cancel_at, &Deferred),
        )
        .await
        .unwrap();
        assert_eq!(send(cancel_at + Duration::seconds(15)).await.unwrap(), vec![(buy.media_buy_id.clone(), 2)]);
        let last = bodies(db).await.pop().unwrap();
        assert_eq!((last["notification_type"].as_str(), last["sequence_number"].as_i64()), (Some("final"), Some(2)));
        assert!(last.get("next_expected_at").is_none());
        assert_eq!(last["reporting_period"]["end"], "2026-07-02T06:00:00Z");
        assert!(send(cancel_at + Duration::days(5)).await.unwrap().is_empty(), "nothing after the final report");
        assert!(db.report_schedule("demo", &buy.media_buy_id).await.unwrap().unwrap().done);
    }
}

#[tokio::test]
async fn a_stale_schedule_write_queues_nothing() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mut request =
            techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(2), vec![display_package(5000.0)]);
        request.reporting_webhook = Some(reports(Frequency::Hourly));
        let buy = buying::create_media_buy(
            db,
            &demo.catalog,
            &demo.tenant,
            &demo.principal,
            &request,
            &Mutation::at(t0(), &Deferred),
        )
        .await
        .unwrap()
        .into_buy()
        .unwrap();
        let schedule = db.report_schedule("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(schedule.next_at, Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap(), "hourly");
        let before = db.notifications("demo", 50).await.unwrap().len();
        let event = sales_agent::core::notify::Notification {
            event_id: sales_agent::core::notify::event_id(),
            tenant_id: "demo".into(),
            url: "https://buyer.example/x".into(),
            config: Verbatim("{}".into()),
            body: "{}".into(),
            created_at: t0(),
        };
        let advanced = sales_agent::core::reporting::ReportSchedule { sequence: 5, ..schedule.clone() };
        let also = Also { events: vec![event], ..Also::default() };
        assert!(!db.save_report(&advanced, 4, &also).await.unwrap(), "{}", db.backend_name());
        assert_eq!(db.notifications("demo", 50).await.unwrap().len(), before);
    }
}
