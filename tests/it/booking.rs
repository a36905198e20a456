//! Booking through the outbox with the mock ad server, on both backends: every buy change
//! reaches the ad server, failures are retried without duplicates, refusals are recorded.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sales_agent::adapters::mock::{Fault, MockAdServer};
use sales_agent::core::booking::{RunState, SyncOutcome, sync_due};
use sales_agent::core::buying::{self, Mutation, PackageUpdate, UpdateMediaBuy};
use sales_agent::core::media_buy::{MediaBuy, MediaBuyStatus, StartTime};
use sales_agent::core::ports::Store;
use sales_agent::mcp::wire_tasks::Deferred;
use sales_agent::store::Db;

use crate::delivery::{Demo, demo, display_package, image_creative, techcorp_buy};
use crate::support;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

async fn create(db: &Db, demo: &Demo, budgets: &[f64]) -> MediaBuy {
    let packages = budgets.iter().map(|b| display_package(*b)).collect();
    let request = techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(30), packages);
    buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(t0(), &Deferred))
        .await
        .unwrap()
        .into_buy()
        .unwrap()
}

async fn update(db: &Db, demo: &Demo, request: UpdateMediaBuy, at: DateTime<Utc>) -> MediaBuy {
    buying::update_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(at, &Deferred))
        .await
        .unwrap()
        .into_updated()
        .unwrap()
        .media_buy
}

#[tokio::test]
async fn every_buy_change_reaches_the_ad_server() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mock = MockAdServer::new();
        let buy = create(db, &demo, &[5000.0, 2000.0]).await;
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().expect("booking asked for with the buy");
        assert_eq!((record.wanted_revision, record.synced_revision), (1, 0), "{}", db.backend_name());

        // Another worker holds the buy for a minute: nobody else syncs it meanwhile.
        let lease_end = t0() + Duration::minutes(1);
        let claimed = db.claim_bookings("demo", t0(), lease_end, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].leased_until, Some(lease_end));
        assert!(db.claim_bookings("demo", t0(), lease_end, 10).await.unwrap().is_empty(), "one holder");
        assert!(
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap().is_empty(),
            "due, but leased"
        );

        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, lease_end).await.unwrap();
        assert_eq!(outcomes, vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: 1, ops: 3 }]);
        let order = mock.order(&buy.media_buy_id).expect("order booked");
        assert_eq!(order.state, RunState::Running);
        let first = &buy.packages[0].package_id;
        let line = mock.line(first).expect("line booked");
        assert_eq!((line.spec.budget, line.spec.impressions), (5000.0, 400_000.0));
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert!(record.in_sync());
        assert_eq!(record.booking.order_id.as_deref(), Some(order.order_id.as_str()));
        assert_eq!(record.booking.lines.len(), 2);
        assert!(
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap().is_empty(),
            "nothing left to do"
        );

        // A budget change and a pause travel as one line update and one order state change.
        let change = UpdateMediaBuy {
            media_buy_id: buy.media_buy_id.clone(),
            paused: Some(true),
            packages: vec![PackageUpdate {
                package_id: first.clone(),
                budget: Some(7500.0),
                ..PackageUpdate::default()
            }],
            ..UpdateMediaBuy::default()
        };
        let changed = update(db, &demo, change, t0() + Duration::hours(1)).await;
        let later = t0() + Duration::hours(1);
        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, later).await.unwrap();
        assert_eq!(
            outcomes,
            vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: changed.revision, ops: 2 }]
        );
        assert_eq!(mock.order(&buy.media_buy_id).unwrap().state, RunState::Paused);
        assert_eq!(mock.line(first).unwrap().spec.impressions, 600_000.0, "goal follows the budget");
        assert_eq!(mock.line(&buy.packages[1].package_id).unwrap().spec.budget, 2000.0, "other line untouched");

        let cancel =
            UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), cancel: Some(None), ..UpdateMediaBuy::default() };
        update(db, &demo, cancel, later).await;
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, later).await.unwrap();
        assert_eq!(mock.order(&buy.media_buy_id).unwrap().state, RunState::Canceled);
        assert_eq!(
            mock.calls().iter().filter(|c| c.starts_with("create_")).count(),
            3,
            "one order and two lines, never created twice: {:?}",
            mock.calls()
        );
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_never_duplicate() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mock = MockAdServer::new();
        let buy = create(db, &demo, &[5000.0]).await;

        // The order is created, but the answer is lost: the retry finds it instead of making another.
        mock.fail_next(Fault::AppliedThenTimeout);
        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        let SyncOutcome::Retrying { attempts, next_attempt_at, .. } = &outcomes[0] else {
            panic!("expected a retry, got {outcomes:?}");
        };
        assert_eq!((*attempts, *next_attempt_at), (1, t0() + Duration::seconds(2)), "{}", db.backend_name());
        assert!(mock.order(&buy.media_buy_id).is_some(), "the platform acted");
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(record.booking.order_id, None, "but we never heard back");
        assert!(record.last_error.as_deref().unwrap().contains("timed out"));

        assert!(
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0() + Duration::seconds(1))
                .await
                .unwrap()
                .is_empty(),
            "backoff"
        );
        mock.fail_next(Fault::Unavailable);
        let outcomes =
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0() + Duration::seconds(2)).await.unwrap();
        assert!(
            matches!(&outcomes[0], SyncOutcome::Retrying { attempts: 2, next_attempt_at, .. }
                if *next_attempt_at == t0() + Duration::seconds(6)),
            "second backoff is 4 s: {outcomes:?}"
        );
        let outcomes =
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0() + Duration::seconds(6)).await.unwrap();
        assert!(matches!(outcomes[0], SyncOutcome::Synced { ops: 2, .. }), "{outcomes:?}");
        let calls = mock.calls();
        assert_eq!(calls.iter().filter(|c| c.starts_with("create_order")).count(), 3, "{calls:?}");
        assert_eq!(calls.iter().filter(|c| c.starts_with("create_line")).count(), 1, "{calls:?}");
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(record.booking.order_id, Some(format!("mock-order-{}", buy.media_buy_id)), "one order");
        assert_eq!((record.attempts, record.last_error), (0, None));
    }
}

#[tokio::test]
async fn refusals_reject_unbooked_buys_and_are_recorded_on_booked_ones() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mock = MockAdServer::new();

        let refused = create(db, &demo, &[5000.0]).await;
        mock.fail_next(Fault::Refused);
        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert!(matches!(&outcomes[0], SyncOutcome::Refused { .. }), "{outcomes:?}");
        let stored = db.media_buy("demo", &refused.media_buy_id).await.unwrap().unwrap();
        // It was already active (asap, with creatives), so the seller cancels it: it never delivered.
        assert_eq!(stored.status, MediaBuyStatus::Canceled, "{}", db.backend_name());
        assert_eq!(stored.cancellation.unwrap().canceled_by, sales_agent::core::media_buy::Party::Seller);
        let history = db.media_buy_history(&refused.media_buy_id, 5).await.unwrap();
        assert_eq!((history[0].action.as_str(), history[0].actor.as_str()), ("canceled", "seller"));
        assert!(history[0].summary.contains("refused"));
        // The rejection is a change too: its sync has nothing to book.
        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert!(matches!(outcomes[0], SyncOutcome::Synced { ops: 0, .. }), "{outcomes:?}");
        assert!(mock.order(&refused.media_buy_id).is_none());

        let booked = create(db, &demo, &[5000.0]).await;
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        let package_id = booked.packages[0].package_id.clone();
        let raise = |budget: f64| UpdateMediaBuy {
            media_buy_id: booked.media_buy_id.clone(),
            packages: vec![PackageUpdate {
                package_id: package_id.clone(),
                budget: Some(budget),
                ..PackageUpdate::default()
            }],
            ..UpdateMediaBuy::default()
        };
        update(db, &demo, raise(6000.0), t0()).await;
        mock.fail_next(Fault::Refused);
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        let record = db.booking("demo", &booked.media_buy_id).await.unwrap().unwrap();
        assert!(record.failed && !record.in_sync(), "the disagreement is on record");
        assert!(record.last_error.unwrap().contains("refused"));
        assert_eq!(db.media_buy("demo", &booked.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Active);
        assert!(
            sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0() + Duration::days(1))
                .await
                .unwrap()
                .is_empty(),
            "not retried"
        );
        assert_eq!(mock.line(&package_id).unwrap().spec.budget, 5000.0);

        // The buyer's next change is tried again.
        update(db, &demo, raise(6500.0), t0()).await;
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert_eq!(mock.line(&package_id).unwrap().spec.budget, 6500.0);
        assert!(db.booking("demo", &booked.media_buy_id).await.unwrap().unwrap().in_sync());
    }
}

#[tokio::test]
async fn platform_statuses_and_rebooks_are_kept_on_both_backends() {
    use sales_agent::core::creative::CreativeStatus;
    use sales_agent::core::ports::Also;
    use sales_agent::core::reconcile::{PlatformLine, PlatformState, PlatformStatus};
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let backend = db.backend_name();
        let demo = demo(test_db).await;
        let mock = MockAdServer::new();
        let buy = create(db, &demo, &[5000.0]).await;
        assert!(db.bookings_to_reconcile("demo", t0(), 10).await.unwrap().is_empty(), "{backend}: not booked yet");
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        let due = db.bookings_to_reconcile("demo", t0(), 10).await.unwrap();
        assert_eq!(due.len(), 1, "{backend}: booked, never read");
        let status = PlatformStatus {
            platform: "gam".into(),
            status: "APPROVED".into(),
            state: PlatformState::Delivering,
            lines: vec![PlatformLine {
                package_id: buy.packages[0].package_id.clone(),
                status: "DELIVERING".into(),
                state: PlatformState::Delivering,
            }],
            checked_at: t0(),
        };
        let next = t0() + Duration::minutes(5);
        db.record_platform_status(&buy.media_buy_id, Some(&status), next).await.unwrap();
        assert!(db.bookings_to_reconcile("demo", t0(), 10).await.unwrap().is_empty(), "{backend}: not due yet");
        assert_eq!(db.bookings_to_reconcile("demo", next, 10).await.unwrap().len(), 1, "{backend}: due again");
        // A failed read keeps the last status and only moves the next check.
        db.record_platform_status(&buy.media_buy_id, None, next + Duration::minutes(5)).await.unwrap();
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(record.platform, Some(status.clone()), "{backend}");

        // A creative of the buy changes: its booking falls behind and is planned again, with it.
        image_creative(db, &demo, &buy, "cr_1", CreativeStatus::Approved).await;
        let also = Also { rebook: vec![buy.media_buy_id.clone()], ..Also::default() };
        let creatives = db.find_creatives("demo", Some("cr_1"), None, 1).await.unwrap();
        db.save_creatives(&creatives, &also).await.unwrap();
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert!(!record.in_sync(), "{backend}: rebooked");
        let outcomes = sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert_eq!(outcomes, vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: 1, ops: 1 }]);
        let line = mock.line(&buy.packages[0].package_id).unwrap();
        assert_eq!(
            line.spec.creatives.iter().map(|c| c.creative_id.as_str()).collect::<Vec<_>>(),
            ["cr_1"],
            "{backend}"
        );
        assert!(db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap().in_sync());

        // A change of the buy has the platform read back as soon as it is booked.
        db.record_platform_status(&buy.media_buy_id, Some(&status), next).await.unwrap();
        let pause =
            UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(true), ..UpdateMediaBuy::default() };
        update(db, &demo, pause, t0()).await;
        assert!(db.bookings_to_reconcile("demo", t0(), 10).await.unwrap().is_empty(), "{backend}: not booked yet");
        sync_due(db, &mock, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert_eq!(db.bookings_to_reconcile("demo", t0(), 10).await.unwrap().len(), 1, "{backend}: due at once");
    }
}

#[tokio::test]
async fn platform_delivery_is_replaced_from_each_reports_first_day_on_both_backends() {
    use sales_agent::core::delivery::{Metrics, Reported, ReportedDay};
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let backend = db.backend_name();
        let demo = demo(test_db).await;
        let buy = create(db, &demo, &[5000.0, 2000.0]).await;
        let other = create(db, &demo, &[5000.0]).await;
        let (a, b) = (buy.packages[0].package_id.clone(), buy.packages[1].package_id.clone());
        let day = |package: &str, d: i64, impressions: f64| ReportedDay {
            package_id: package.to_owned(),
            from: t0() + Duration::days(d) + Duration::hours(4),
            metrics: Metrics { impressions, spend: impressions / 100.0, clicks: 1.0, completed_views: 0.0 },
        };
        let first = Reported {
            since: t0() + Duration::hours(4),
            days: vec![day(&a, 0, 100.0), day(&a, 1, 200.0), day(&b, 1, 50.0), day(&a, 2, 300.0)],
        };
        let at = t0() + Duration::days(3);
        db.record_platform_delivery("demo", &buy.media_buy_id, &first, at).await.unwrap();
        db.record_platform_delivery("demo", &other.media_buy_id, &Reported { since: t0(), days: vec![] }, at)
            .await
            .unwrap();
        let ids = vec![buy.media_buy_id.clone(), other.media_buy_id.clone()];
        let mut stored = db.platform_delivery("demo", &ids).await.unwrap();
        stored.sort_by(|x, y| (x.1.from, &x.1.package_id).cmp(&(y.1.from, &y.1.package_id)));
        assert_eq!(stored.len(), 4, "{backend}");
        assert_eq!(stored[0], (buy.media_buy_id.clone(), day(&a, 0, 100.0)), "{backend}");
        assert!(db.platform_delivery("elsewhere", &ids).await.unwrap().is_empty(), "{backend}: per tenant");
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(record.delivery_as_of, Some(at), "{backend}");

        // The next report from day 1 on: day 0 stays, days 1 and on are what it says (package b
        // had nothing on day 1 after all).
        let second = Reported {
            since: t0() + Duration::days(1) + Duration::hours(4),
            days: vec![day(&a, 1, 250.0), day(&a, 3, 400.0)],
        };
        db.record_platform_delivery("demo", &buy.media_buy_id, &second, at + Duration::days(1)).await.unwrap();
        let mut stored = db.platform_delivery("demo", std::slice::from_ref(&buy.media_buy_id)).await.unwrap();
        stored.sort_by_key(|(_, d)| d.from);
        let summary: Vec<(&str, f64)> =
            stored.iter().map(|(_, d)| (d.package_id.as_str(), d.metrics.impressions)).collect();
        assert_eq!(summary, [(a.as_str(), 100.0), (a.as_str(), 250.0), (a.as_str(), 400.0)], "{backend}");
        let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!(record.delivery_as_of, Some(at + Duration::days(1)), "{backend}");
    }
}
