//! The webhook outbox through core with controlled time, on both backends: events are written
//! with the change they tell of (and not at all when the change is refused), claimed under a
//! lease, retried with backoff, ended by a terminal answer or by delivery; the scheduler's moves
//! are told too. The sender is a scripted stand-in for the HTTP adapter (which the end-to-end
//! tests exercise against a real receiver).

use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sales_agent::adapters::mock::MockAdServer;
use sales_agent::core::buying::{self, Mutation};
use sales_agent::core::media_buy::StartTime;
use sales_agent::core::media_buy::Verbatim;
use sales_agent::core::notify::{self, MAX_ATTEMPTS, Notification, Sender, Sent};
use sales_agent::core::ports::{Also, Store};
use sales_agent::core::schedule::advance;
use sales_agent::core::webhook::{UrlPolicy, Webhook};
use sales_agent::mcp::wire_tasks::Deferred;
use serde_json::{Value, json};

use crate::delivery::{demo, display_package, techcorp_buy};
use crate::support;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// Answers attempts from a script, then `Delivered`; records what it was given.
#[derive(Default)]
struct Script {
    answers: Mutex<Vec<Sent>>,
    seen: Mutex<Vec<String>>,
}

impl Script {
    fn new(answers: Vec<Sent>) -> Script {
        Script { answers: Mutex::new(answers), seen: Mutex::default() }
    }
}

impl Sender for Script {
    fn send<'a>(
        &'a self,
        notification: &'a Notification,
        _policy: UrlPolicy,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send + 'a>> {
        self.seen.lock().unwrap().push(notification.body.clone());
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.is_empty() { Sent::Delivered { status: 200 } } else { answers.remove(0) };
        Box::pin(async move { answer })
    }
}

fn hook(path: &str) -> Webhook {
    let url = format!("https://buyer.example/hooks/{path}");
    Webhook { config: Verbatim(json!({ "url": url }).to_string()), url, frequency: None }
}

#[tokio::test]
async fn events_are_written_with_the_change_and_delivered_with_backoff() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let mut request =
            techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(30), vec![display_package(5000.0)]);
        request.push_notification = Some(hook("op-1"));
        let original = json!({ "context": { "trace": "it-hook" } }).to_string();
        let mutation = Mutation { request: &original, ..Mutation::at(t0(), &Deferred) };
        let buy = buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &mutation)
            .await
            .unwrap()
            .into_buy()
            .unwrap();
        let outbox = db.notifications("demo", 10).await.unwrap();
        assert_eq!(outbox.len(), 1, "{}", db.backend_name());
        let event = &outbox[0].notification;
        let body: Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(body["idempotency_key"], event.event_id.as_str());
        assert_eq!(
            (body["task_type"].as_str(), body["status"].as_str()),
            (Some("create_media_buy"), Some("completed"))
        );
        assert_eq!(body["result"]["media_buy_id"], buy.media_buy_id.as_str());
        assert_eq!((&body["context"], &body["operation_id"]), (&json!({ "trace": "it-hook" }), &json!("op-1")));
        assert_eq!(event.url, "https://buyer.example/hooks/op-1");

        // Claimed under a lease: nobody else takes it meanwhile.
        let claimed = notify::claim_due(db, "demo", t0(), 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(notify::claim_due(db, "demo", t0(), 10).await.unwrap().is_empty(), "leased");
        let script = Script::new(vec![Sent::Retry("HTTP 503".into()), Sent::Retry("HTTP 503".into())]);
        let policy = UrlPolicy::default();
        let first = claimed.into_iter().next().unwrap();
        let after_one = notify::attempt(db, &script, policy, first, t0(), 0.5).await.unwrap();
        assert_eq!((after_one.attempts, after_one.next_attempt_at), (1, t0() + Duration::seconds(1)));
        assert!(notify::claim_due(db, "demo", t0() + Duration::milliseconds(900), 10).await.unwrap().is_empty());
        let again = notify::claim_due(db, "demo", t0() + Duration::seconds(1), 10).await.unwrap();
        let after_two =
            notify::attempt(db, &script, policy, again[0].clone(), t0() + Duration::seconds(1), 0.5).await.unwrap();
        assert_eq!(after_two.next_attempt_at, t0() + Duration::seconds(3), "doubling");
        let third = notify::claim_due(db, "demo", t0() + Duration::seconds(3), 10).await.unwrap();
        let done =
            notify::attempt(db, &script, policy, third[0].clone(), t0() + Duration::seconds(3), 0.5).await.unwrap();
        assert_eq!((done.attempts, done.delivered_at), (3, Some(t0() + Duration::seconds(3))));
        assert!(notify::claim_due(db, "demo", t0() + Duration::days(1), 10).await.unwrap().is_empty(), "delivered");
        let seen = script.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|body| body == &event.body), "every attempt sends the stored bytes");
        assert_eq!(db.notifications("demo", 10).await.unwrap()[0], done);
    }
}

#[tokio::test]
async fn terminal_answers_and_exhausted_retries_end_an_event() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        for path in ["gone", "flaky"] {
            let mut request =
                techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(30), vec![display_package(5000.0)]);
            request.push_notification = Some(hook(path));
            buying::create_media_buy(
                db,
                &demo.catalog,
                &demo.tenant,
                &demo.principal,
                &request,
                &Mutation::at(t0(), &Deferred),
            )
            .await
            .unwrap();
        }
        let events = notify::claim_due(db, "demo", t0(), 10).await.unwrap();
        let (gone, flaky): (Vec<_>, Vec<_>) = events.into_iter().partition(|r| r.notification.url.ends_with("gone"));
        let refused = Script::new(vec![Sent::Refused("HTTP 410".into())]);
        let ended = notify::attempt(db, &refused, UrlPolicy::default(), gone[0].clone(), t0(), 0.5).await.unwrap();
        assert!(ended.failed && ended.delivered_at.is_none());
        assert_eq!(ended.last_error.as_deref(), Some("HTTP 410"));

        let always = Script::new((0..MAX_ATTEMPTS).map(|_| Sent::Retry("timed out".into())).collect());
        let mut record = flaky[0].clone();
        let mut at = t0();
        for _ in 0..MAX_ATTEMPTS {
            record = notify::attempt(db, &always, UrlPolicy::default(), record, at, 0.0).await.unwrap();
            at = record.next_attempt_at;
        }
        assert!(record.failed, "{}: given up after {MAX_ATTEMPTS} attempts", db.backend_name());
        assert!(record.last_error.unwrap().starts_with("gave up after 15 attempts"));
        assert!(notify::claim_due(db, "demo", t0() + Duration::days(30), 10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn seller_moves_are_told_and_refused_writes_tell_nothing() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let start = t0() + Duration::days(1);
        let mut request =
            techcorp_buy(&demo.account, StartTime::At(start), t0() + Duration::days(30), vec![display_package(5000.0)]);
        request.push_notification = Some(hook("seller"));
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
        let moved =
            advance(db, &MockAdServer::new(), &Deferred, &demo.catalog, &demo.tenant, start, None).await.unwrap();
        assert_eq!(moved.0.len(), 1, "{}: the flight started", db.backend_name());
        let outbox = db.notifications("demo", 10).await.unwrap();
        assert_eq!(outbox.len(), 2, "created, then activated");
        let told: Value = serde_json::from_str(&outbox[1].notification.body).unwrap();
        assert_eq!(
            (told["task_type"].as_str(), told["status"].as_str()),
            (Some("update_media_buy"), Some("completed"))
        );
        assert_eq!(
            (told["result"]["media_buy_id"].as_str(), told["result"]["status"].as_str()),
            (Some(buy.media_buy_id.as_str()), Some("active"))
        );

        // A write refused by its compare-and-set leaves no event behind.
        let stale = db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap();
        let event = outbox[0].notification.clone();
        let also = Also { events: vec![Notification { event_id: notify::event_id(), ..event }], ..Also::default() };
        assert!(!db.update_media_buy(&stale, stale.revision - 1, &[], &also).await.unwrap());
        assert_eq!(db.notifications("demo", 10).await.unwrap().len(), 2);
    }
}
