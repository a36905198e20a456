//! Approvals through core with controlled time, on both backends: concurrent approvals run the
//! buy once, an operation refused when it runs fails its task and books nothing, overdue tasks
//! escalate once, budget increases above the policy's share wait and apply on approval, and a
//! write whose task changed meanwhile writes nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sales_agent::core::Error;
use sales_agent::core::approval::{self, BuyApproval};
use sales_agent::core::buying::{self, Changed, Created, Mutation, PackageUpdate, UpdateMediaBuy};
use sales_agent::core::media_buy::{MediaBuyStatus, StartTime};
use sales_agent::core::ports::{Also, AuditFilter, MediaBuyFilter, PageRequest, Store, TaskFilter, TaskWrite};
use sales_agent::core::tasks::{Priority, Resolution, TaskState, TaskStatus};
use sales_agent::mcp::wire_tasks::Deferred;
use sales_agent::store::Db;
use serde_json::json;

use crate::delivery::{Demo, demo, display_package, techcorp_buy};
use crate::support;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap()
}

/// The wire form of TechCorp's buy of one display package of `budget`, ending at `end`.
fn wire_request(budget: f64, end: DateTime<Utc>) -> String {
    json!({
        "idempotency_key": "approvals-it-0000001",
        "account": {"brand": {"domain": "techcorp.example"}, "operator": "techcorp.example"},
        "brand": {"domain": "techcorp.example"},
        "start_time": "asap",
        "end_time": end.to_rfc3339(),
        "packages": [{"product_id": "prod-tech-display-001", "pricing_option_id": "cpm_guaranteed",
                      "budget": budget, "creative_assignments": [{"creative_id": "cr_1"}]}],
        "context": {"trace": "it"},
    })
    .to_string()
}

/// Submits a $60,000 buy ending 30 days after `t0` (the demo holds buys above $50,000).
async fn submit(db: &Db, demo: &Demo) -> sales_agent::core::tasks::Task {
    let end = t0() + Duration::days(30);
    let request = techcorp_buy(&demo.account, StartTime::Asap, end, vec![display_package(60_000.0)]);
    let original = wire_request(60_000.0, end);
    let mutation = Mutation { request: &original, ..Mutation::at(t0(), &Deferred) };
    match buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &mutation).await {
        Ok(Created::Submitted(task)) => task,
        other => panic!("expected the submitted arm, got {other:?}"),
    }
}

async fn buy_count(db: &Db) -> usize {
    let filter = MediaBuyFilter {
        tenant_id: "demo".into(),
        principal_id: None,
        account_id: None,
        statuses: vec![],
        media_buy_ids: vec![],
    };
    db.list_media_buys(&filter, &PageRequest { after: None, limit: 100 }).await.unwrap().len()
}

#[tokio::test]
async fn concurrent_approvals_book_the_buy_exactly_once() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let task = submit(db, &demo).await;
        assert_eq!((task.state, task.status()), (TaskState::Pending, TaskStatus::Submitted));
        assert_eq!(buy_count(db).await, 0, "nothing booked while waiting");

        let at = t0() + Duration::hours(1);
        let approve = |actor: &'static str| {
            let (task, demo) = (task.clone(), &demo);
            async move {
                approval::decide(
                    db,
                    &demo.catalog,
                    &Deferred,
                    &demo.tenant,
                    actor,
                    &task,
                    Resolution::Approved,
                    None,
                    at,
                )
                .await
            }
        };
        let (first, second) = tokio::join!(approve("ops-a"), approve("ops-b"));
        let outcomes = [&first, &second];
        let won: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{}: exactly one approval wins: {outcomes:?}", db.backend_name());
        assert!(
            outcomes.iter().any(|o| matches!(o, Err(Error::Conflict { .. }))),
            "the other one is told the task changed"
        );
        assert_eq!(buy_count(db).await, 1, "{}: one buy", db.backend_name());
        let stored = db.task("demo", &task.task_id).await.unwrap().unwrap();
        assert_eq!(stored.status(), TaskStatus::Completed);
        let media_buy_id = stored.media_buy_id.clone().expect("the task names its buy");
        let buy = db.media_buy("demo", &media_buy_id).await.unwrap().unwrap();
        assert_eq!((buy.principal_id.as_str(), buy.total_budget()), ("demo-buyer", 60_000.0));
        assert_eq!(buy.start_time, at, "asap means the moment of approval");
        let result: serde_json::Value = serde_json::from_str(stored.result.as_deref().unwrap()).unwrap();
        assert_eq!(
            (result["media_buy_id"].as_str(), &result["context"]),
            (Some(media_buy_id.as_str()), &json!({"trace": "it"}))
        );

        // Once decided, nothing decides it again.
        let late = approval::decide(
            db,
            &demo.catalog,
            &Deferred,
            &demo.tenant,
            "ops-c",
            &stored,
            Resolution::Rejected,
            None,
            at,
        )
        .await;
        assert!(matches!(late, Err(Error::InvalidState { .. })), "{late:?}");
    }
}

#[tokio::test]
async fn an_operation_refused_when_it_runs_fails_its_task_and_books_nothing() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let task = submit(db, &demo).await;
        // Approved after the requested flight has ended: the buy cannot be made any more.
        let late = t0() + Duration::days(31);
        let failed = approval::decide(
            db,
            &demo.catalog,
            &Deferred,
            &demo.tenant,
            "ops",
            &task,
            Resolution::Approved,
            None,
            late,
        )
        .await
        .unwrap();
        assert_eq!((failed.state, failed.status()), (TaskState::Failed, TaskStatus::Failed));
        let failure = failed.failure.clone().expect("the refusal is kept");
        assert_eq!(failure.code, "INVALID_REQUEST", "{failure:?}");
        let response: serde_json::Value = serde_json::from_str(&failure.response).unwrap();
        assert_eq!(response["adcp_error"]["code"], "INVALID_REQUEST");
        assert_eq!(response["context"], json!({"trace": "it"}));
        assert_eq!(buy_count(db).await, 0, "{}", db.backend_name());
        assert_eq!(db.task("demo", &task.task_id).await.unwrap().unwrap(), failed);
    }
}

#[tokio::test]
async fn overdue_tasks_escalate_once_and_ops_are_told() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let mut demo = demo(test_db).await;
        let url = "https://hooks.slack.example/services/T0/B0".to_owned();
        let config = sales_agent::core::media_buy::Verbatim(json!({ "url": url }).to_string());
        demo.tenant.approvals.ops_webhook = Some(sales_agent::core::webhook::Webhook { url, config, frequency: None });
        let task = submit(db, &demo).await;
        assert_eq!(task.due_at, t0() + Duration::hours(24), "the demo's due_hours");
        assert!(
            approval::escalate_overdue(db, &Deferred, &demo.tenant, t0() + Duration::hours(23))
                .await
                .unwrap()
                .is_empty()
        );
        let escalated =
            approval::escalate_overdue(db, &Deferred, &demo.tenant, t0() + Duration::hours(25)).await.unwrap();
        assert_eq!(escalated.len(), 1, "{}", db.backend_name());
        assert_eq!((escalated[0].state, escalated[0].priority), (TaskState::Escalated, Priority::High));
        assert_eq!(escalated[0].status(), TaskStatus::Submitted, "the buyer still waits");
        assert!(
            approval::escalate_overdue(db, &Deferred, &demo.tenant, t0() + Duration::hours(26))
                .await
                .unwrap()
                .is_empty()
        );
        // Open tasks on time (get_pending_tasks include_overdue false) versus overdue ones.
        let open = |due_after, overdue_at| TaskFilter {
            tenant_id: "demo".into(),
            principal_id: None,
            states: vec![],
            statuses: vec![],
            task_types: vec![],
            priority: None,
            overdue_at,
            due_after,
            task_ids: vec![],
            deferred_only: false,
            newest_first: false,
        };
        let later = t0() + Duration::hours(26);
        assert_eq!(db.count_tasks(&open(Some(later), None)).await.unwrap(), 0);
        assert_eq!(db.count_tasks(&open(Some(t0()), None)).await.unwrap(), 1);
        assert_eq!(db.count_tasks(&open(None, Some(later))).await.unwrap(), 1);
        let filter = AuditFilter {
            tenant_id: "demo".into(),
            object_type: Some("task".into()),
            object_id: Some(task.task_id.clone()),
            actor: None,
        };
        let log = db.audit_log(&filter, &PageRequest { after: None, limit: 10 }).await.unwrap();
        let actions: Vec<_> = log.iter().map(|(_, e)| (e.action.as_str(), e.actor.as_str())).collect();
        assert_eq!(actions, vec![("escalated", "system:scheduler"), ("created", "demo-buyer")]);
        let told: Vec<serde_json::Value> = db
            .notifications("demo", 10)
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(&r.notification.body).unwrap())
            .collect();
        assert_eq!(told.len(), 2, "ops hear of the new task and of its escalation");
        let texts: Vec<&str> = told.iter().map(|body| body["text"].as_str().unwrap()).collect();
        assert!(texts[0].starts_with("New task: media_buy_approval") && texts[0].contains(&task.task_id), "{texts:?}");
        assert!(texts[1].starts_with("Overdue task escalated") && texts[1].contains("[high priority]"), "{texts:?}");
    }
}

#[tokio::test]
async fn budget_increases_above_the_share_wait_and_apply_on_approval() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let mut demo = demo(test_db).await;
        demo.tenant.approvals.media_buys = BuyApproval::Never;
        demo.tenant.approvals.budget_increase_share = Some(0.25);
        let end = t0() + Duration::days(30);
        let request = techcorp_buy(&demo.account, StartTime::Asap, end, vec![display_package(10_000.0)]);
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
        .expect("never held");
        let package_id = buy.packages[0].package_id.clone();
        let raise = |budget: f64| UpdateMediaBuy {
            media_buy_id: buy.media_buy_id.clone(),
            packages: vec![PackageUpdate {
                package_id: package_id.clone(),
                budget: Some(budget),
                ..PackageUpdate::default()
            }],
            ..UpdateMediaBuy::default()
        };
        let small = buying::update_media_buy(
            db,
            &demo.catalog,
            &demo.tenant,
            &demo.principal,
            &raise(12_000.0),
            &Mutation::at(t0(), &Deferred),
        )
        .await
        .unwrap();
        assert!(matches!(small, Changed::Buy(_)), "+20 % is within the share");

        let original = json!({"idempotency_key": "approvals-it-raise-001", "media_buy_id": buy.media_buy_id,
            "packages": [{"package_id": package_id, "budget": 20_000}]})
        .to_string();
        let mutation = Mutation { request: &original, ..Mutation::at(t0(), &Deferred) };
        let Changed::Submitted(task) =
            buying::update_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &raise(20_000.0), &mutation)
                .await
                .unwrap()
        else {
            panic!("+67 % waits for a person");
        };
        assert_eq!(task.media_buy_id.as_deref(), Some(buy.media_buy_id.as_str()));
        assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().total_budget(), 12_000.0);

        let at = t0() + Duration::hours(2);
        let done =
            approval::decide(db, &demo.catalog, &Deferred, &demo.tenant, "ops", &task, Resolution::Approved, None, at)
                .await
                .unwrap();
        assert_eq!(done.status(), TaskStatus::Completed, "{}", db.backend_name());
        let stored = db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap();
        assert_eq!((stored.total_budget(), stored.revision), (20_000.0, 3));
        assert_eq!(stored.status, MediaBuyStatus::Active);
    }
}

#[tokio::test]
async fn a_write_whose_task_changed_meanwhile_writes_nothing() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let demo = demo(test_db).await;
        let task = submit(db, &demo).await;
        let assigned = sales_agent::core::tasks::assign(&task, "ops@example", t0()).unwrap();
        assert!(db.save_task(&assigned, task.revision, &Also::default()).await.unwrap());
        assert!(!db.save_task(&assigned, task.revision, &Also::default()).await.unwrap(), "stale revision refused");

        // A buy written with a decision on the stale task: refused whole, nothing half-written.
        let end = t0() + Duration::days(30);
        let request = techcorp_buy(&demo.account, StartTime::Asap, end, vec![display_package(1_000.0)]);
        let (buy, history) =
            buying::plan_create(db, &demo.catalog, &demo.tenant, &demo.principal, &request, t0()).await.unwrap();
        let resolved = sales_agent::core::tasks::resolve(&task, Resolution::Approved, "ops", None, t0()).unwrap();
        let also =
            Also { task: Some(TaskWrite { task: resolved, expected_revision: task.revision }), ..Also::default() };
        let refused = db.insert_media_buy(&buy, &history, &also).await;
        assert!(matches!(refused, Err(sales_agent::core::StoreError::TaskChanged)), "{refused:?}");
        assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap(), None, "{}", db.backend_name());
        assert_eq!(db.task("demo", &task.task_id).await.unwrap().unwrap(), assigned);
    }
}

#[tokio::test]
async fn the_testing_hooks_are_refused_outside_sandbox_tenants() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let mut demo = demo(&test_db).await;
    demo.tenant.sandbox = false;
    let request =
        techcorp_buy(&demo.account, StartTime::Asap, t0() + Duration::days(30), vec![display_package(60_000.0)]);
    for (dry_run, auto_advance) in [(true, false), (false, true)] {
        let mutation = Mutation { dry_run, auto_advance, ..Mutation::at(t0(), &Deferred) };
        let refused =
            buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &mutation).await;
        assert!(matches!(refused, Err(Error::PermissionDenied(_))), "{refused:?}");
    }
    assert_eq!(buy_count(db).await, 0);
    // Without the hooks the same request gets past that check (and meets production's account
    // rules: an undeclared account is not provisioned outside sandbox).
    let plain = buying::create_media_buy(
        db,
        &demo.catalog,
        &demo.tenant,
        &demo.principal,
        &request,
        &Mutation::at(t0(), &Deferred),
    )
    .await;
    assert!(matches!(plain, Err(Error::AccountNotFound { .. })), "{plain:?}");
}
