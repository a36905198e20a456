//! Store conformance: the same scenarios against SQLite (always) and Postgres (when
//! TEST_DATABASE_URL is set, which CI always does).

use chrono::{Duration, TimeZone, Utc};
use sales_agent::core::auth;
use sales_agent::core::catalog::Catalog;
use sales_agent::core::idempotency::{self, Begin, IdempotencyScope};
use sales_agent::core::ports::{AccountFilter, Also, Claim, PageRequest, Store};
use sales_agent::core::tenancy::{Account, AccountKey, AccountPolicy, AccountStatus, Billing, Principal, Tenant};
use sales_agent::core::{Error, StoreError};
use sales_agent::store::Db;

use crate::support;

fn tenant(id: &str) -> Tenant {
    Tenant {
        tenant_id: id.to_owned(),
        name: format!("Tenant {id}"),
        sandbox: true,
        agent_url: "http://127.0.0.1:8080/mcp".into(),
        publisher_domains: vec!["pub.example".into()],
        portfolio_description: None,
        primary_countries: vec![],
        account_policy: AccountPolicy {
            supported_billing: vec![Billing::Operator],
            payment_terms: vec!["net_30".into()],
            require_approval: false,
        },
        creative_review: sales_agent::core::creative::ReviewPolicy::AutoApprove,
        webhook_urls: sales_agent::core::webhook::UrlPolicy::default(),
        approvals: sales_agent::core::approval::ApprovalPolicy::default(),
    }
}

fn principal(id: &str, tenant_id: &str) -> Principal {
    Principal {
        principal_id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        name: id.to_uppercase(),
        admin: false,
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn account(id: &str, owner: &str, brand: &str) -> Account {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    Account {
        account_id: id.to_owned(),
        tenant_id: "t1".into(),
        owner_principal_id: owner.to_owned(),
        key: AccountKey {
            brand_domain: brand.to_owned(),
            brand_id: None,
            operator: "agency.example".into(),
            sandbox: false,
        },
        name: brand.to_owned(),
        status: AccountStatus::Active,
        billing: Billing::Operator,
        payment_terms: Some("net_30".into()),
        billing_entity_name: None,
        created_at: at,
        updated_at: at,
    }
}

async fn seeded(db: &Db) {
    db.upsert_tenant(&tenant("t1")).await.unwrap();
    db.insert_principal(&principal("p1", "t1"), &auth::hash_token("token-one")).await.unwrap();
    db.insert_principal(&principal("p2", "t1"), &auth::hash_token("token-two")).await.unwrap();
}

#[tokio::test]
async fn principals_are_found_by_token_hash_until_revoked() {
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        let found = auth::authenticate(db, "token-one").await.unwrap().expect("known token");
        assert_eq!(found, principal("p1", "t1"), "{}", db.backend_name());
        assert!(auth::authenticate(db, "token-three").await.unwrap().is_none());
        let duplicate = db.insert_principal(&principal("p3", "t1"), &auth::hash_token("token-one")).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "token hashes are unique");
        assert_eq!(db.list_principals("t1").await.unwrap().len(), 2);
        assert!(db.revoke_principal("t1", "p1", Utc::now()).await.unwrap());
        assert!(!db.revoke_principal("t1", "p1", Utc::now()).await.unwrap(), "revoking twice reports nothing to do");
        assert!(auth::authenticate(db, "token-one").await.unwrap().is_none(), "revoked tokens stop working");
        assert_eq!(db.list_principals("t1").await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn catalogs_round_trip_in_order_and_bump_their_version() {
    let demo = support::demo_config("sqlite::memory:").tenants[0].catalog.clone().expect("demo catalog");
    assert!(demo.products.len() >= 4);
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        assert_eq!(db.tenant_versions("t1").await.unwrap().0, None, "no catalog yet");
        let v1 = db.replace_catalog("t1", &demo, None, Utc::now()).await.unwrap();
        let (version, loaded) = db.load_catalog("t1").await.unwrap();
        assert_eq!((version, &loaded), (v1, &demo), "{}", db.backend_name());
        let mut smaller: Catalog = demo.clone();
        smaller.products.truncate(1);
        smaller.products[0].name = "Renamed".into();
        let stale = db.replace_catalog("t1", &smaller, Some(v1 - 1), Utc::now()).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "a stale expected version writes nothing");
        assert_eq!(db.load_catalog("t1").await.unwrap(), (v1, demo.clone()));
        let v2 = db.replace_catalog("t1", &smaller, Some(v1), Utc::now()).await.unwrap();
        assert_eq!(v2, v1 + 1);
        assert_eq!(db.load_catalog("t1").await.unwrap().1, smaller);
        let missing = db.replace_catalog("nobody", &demo, None, Utc::now()).await;
        assert!(missing.is_err(), "unknown tenant");
        assert_eq!(db.load_catalog("t1").await.unwrap().1, smaller, "a failed import leaves the catalog as it was");
    }
}

#[tokio::test]
async fn accounts_are_scoped_to_their_owner_and_page_by_key() {
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        let mine: Vec<Account> = (0..5).map(|i| account(&format!("acc_{i}"), "p1", &format!("b{i}.example"))).collect();
        db.save_accounts(&mine).await.unwrap();
        db.save_accounts(&[account("acc_x", "p2", "other.example")]).await.unwrap();
        let key = mine[2].key.clone();
        assert_eq!(db.account_by_key("t1", "p1", &key).await.unwrap().as_ref(), Some(&mine[2]));
        assert_eq!(db.account_by_key("t1", "p2", &key).await.unwrap(), None, "another owner's key is not found");
        let filter = AccountFilter {
            tenant_id: "t1".into(),
            owner_principal_id: Some("p1".into()),
            status: None,
            sandbox: None,
        };
        assert_eq!(db.count_accounts(&filter).await.unwrap(), 5);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = db.list_accounts(&filter, &PageRequest { after: after.clone(), limit: 2 }).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|a| a.account_id.clone());
            seen.extend(page.into_iter().map(|a| a.account_id));
        }
        assert_eq!(seen, vec!["acc_0", "acc_1", "acc_2", "acc_3", "acc_4"], "{}", db.backend_name());
        let mut closed = mine[1].clone();
        closed.status = AccountStatus::Closed;
        db.save_accounts(&[closed]).await.unwrap();
        let active = AccountFilter { status: Some(AccountStatus::Active), ..filter.clone() };
        assert_eq!(db.count_accounts(&active).await.unwrap(), 4);
        let everyone = AccountFilter { owner_principal_id: None, ..filter };
        assert_eq!(db.count_accounts(&everyone).await.unwrap(), 6);
        let clash = account("acc_new", "p1", "b0.example");
        assert!(matches!(db.save_accounts(&[clash]).await, Err(StoreError::Conflict(_))), "natural key is unique");
    }
}

fn scope(key: &str) -> IdempotencyScope {
    IdempotencyScope { principal_id: "p1".into(), account_scope: String::new(), key: key.into() }
}

#[tokio::test]
async fn idempotency_replays_conflicts_releases_and_expires() {
    for test_db in support::backends().await {
        let db = &test_db.db;
        let now = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let key = scope("key-0123456789abcdef");
        assert_eq!(idempotency::begin(db, &key, "hash-a", now).await.unwrap(), Begin::Execute);
        assert!(matches!(idempotency::begin(db, &key, "hash-a", now).await, Err(Error::IdempotencyInProgress)));
        idempotency::finish(db, &key, "{\"ok\":true}").await.unwrap();
        assert_eq!(idempotency::begin(db, &key, "hash-a", now).await.unwrap(), Begin::Replay("{\"ok\":true}".into()));
        assert!(matches!(idempotency::begin(db, &key, "hash-b", now).await, Err(Error::IdempotencyConflict)));
        let other_principal = IdempotencyScope { principal_id: "p2".into(), ..key.clone() };
        assert_eq!(idempotency::begin(db, &other_principal, "hash-b", now).await.unwrap(), Begin::Execute);
        let later = now + Duration::seconds(idempotency::REPLAY_TTL_SECONDS + 1);
        assert!(matches!(idempotency::begin(db, &key, "hash-a", later).await, Err(Error::IdempotencyExpired)));

        let failing = scope("key-failing-000000001");
        assert_eq!(idempotency::begin(db, &failing, "hash-a", now).await.unwrap(), Begin::Execute);
        idempotency::abandon(db, &failing).await.unwrap();
        assert_eq!(
            idempotency::begin(db, &failing, "hash-z", now).await.unwrap(),
            Begin::Execute,
            "released keys are free"
        );
    }
}

#[tokio::test]
async fn concurrent_claims_of_one_key_let_exactly_one_through() {
    for test_db in support::backends().await {
        let db = test_db.db.clone();
        let now = Utc::now();
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.claim_idempotency_key(&scope("key-concurrent-00001"), "h", now, now + Duration::hours(1)).await
                })
            })
            .collect();
        let mut claimed = 0;
        for task in tasks {
            if let Claim::Claimed = task.await.unwrap().unwrap() {
                claimed += 1;
            }
        }
        assert_eq!(claimed, 1, "{}", db.backend_name());
    }
}

fn buy(id: &str, status: sales_agent::core::media_buy::MediaBuyStatus) -> sales_agent::core::media_buy::MediaBuy {
    use sales_agent::core::catalog::PricingModel;
    use sales_agent::core::media_buy::{MediaBuy, Pacing, Package, Verbatim};
    let at = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    MediaBuy {
        media_buy_id: id.to_owned(),
        tenant_id: "t1".into(),
        principal_id: "p1".into(),
        account_id: "acc_0".into(),
        brand_domain: "b0.example".into(),
        status,
        currency: "USD".into(),
        start_time: at,
        end_time: at + Duration::days(30),
        confirmed_at: at,
        creative_deadline: at + Duration::days(1),
        revision: 1,
        po_number: None,
        cancellation: None,
        packages: vec![Package {
            package_id: format!("{id}_pkg"),
            product_id: "prod".into(),
            pricing_option_id: "cpm".into(),
            pricing_model: PricingModel::Cpm,
            rate: 12.5,
            currency: "USD".into(),
            budget: 3000.0,
            bid_price: None,
            impressions: 240_000.0,
            pacing: Pacing::Even,
            start_time: at,
            end_time: at + Duration::days(30),
            paused: false,
            cancellation: None,
            format_ids: vec![],
            targeting_overlay: Some(Verbatim(
                r#"{"property_list":{"agent_url":"https://x.example","list_id":"l1"}}"#.into(),
            )),
            measurement_terms: None,
            creative_ids: vec!["cr_1".into()],
            daily_budget: Some(400.0),
            daily_impressions: None,
        }],
        push_notification: Some(sales_agent::core::webhook::Webhook {
            url: "https://buyer.example/hooks".into(),
            config: Verbatim(r#"{"url":"https://buyer.example/hooks","token":"t0k3n-abcdefghijklmnop"}"#.into()),
            frequency: None,
        }),
        reporting_webhook: Some(sales_agent::core::webhook::Webhook {
            url: "https://buyer.example/reports".into(),
            config: Verbatim(
                r#"{"url":"https://buyer.example/reports","reporting_frequency":"daily","authentication":{"schemes":["Bearer"],"credentials":"0123456789abcdef0123456789abcdef"}}"#.into(),
            ),
            frequency: Some(sales_agent::core::webhook::Frequency::Daily),
        }),
        created_at: at,
        updated_at: at,
    }
}

fn created(revision: i64, action: &str) -> sales_agent::core::ports::HistoryEntry {
    sales_agent::core::ports::HistoryEntry {
        revision,
        at: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, revision as u32).unwrap(),
        actor: "p1".into(),
        action: action.into(),
        summary: format!("{action} summary"),
        package_id: None,
    }
}

#[tokio::test]
async fn media_buys_round_trip_update_by_revision_and_list_by_filter() {
    use sales_agent::core::media_buy::MediaBuyStatus as S;
    use sales_agent::core::ports::MediaBuyFilter;
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        db.save_accounts(&[account("acc_0", "p1", "b0.example")]).await.unwrap();
        let statuses = [S::Active, S::Paused, S::Active, S::Canceled, S::PendingCreatives];
        for (i, status) in statuses.iter().enumerate() {
            db.insert_media_buy(&buy(&format!("mb_{i}"), *status), &[created(1, "created")], &Also::default())
                .await
                .unwrap();
        }
        let loaded = db.media_buy("t1", "mb_0").await.unwrap().expect("stored");
        assert_eq!(loaded, buy("mb_0", S::Active), "{}", db.backend_name());
        assert_eq!(db.media_buy("other-tenant", "mb_0").await.unwrap(), None);

        let mut paused = loaded.clone();
        paused.status = S::Paused;
        paused.revision = 2;
        assert!(db.update_media_buy(&paused, 1, &[created(2, "paused")], &Also::default()).await.unwrap());
        let mut stale = loaded.clone();
        stale.revision = 2;
        assert!(
            !db.update_media_buy(&stale, 1, &[created(2, "stale")], &Also::default()).await.unwrap(),
            "stale revision refused"
        );
        assert_eq!(
            db.media_buy("t1", "mb_0").await.unwrap().unwrap().status,
            S::Paused,
            "refused write changed nothing"
        );
        let history = db.media_buy_history("mb_0", 10).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|h| h.action.as_str()).collect();
        assert_eq!(actions, vec!["paused", "created"], "newest first, and the refused write left no history");

        let filter = |statuses: Vec<S>, ids: Vec<&str>| MediaBuyFilter {
            tenant_id: "t1".into(),
            principal_id: Some("p1".into()),
            account_id: Some("acc_0".into()),
            statuses,
            media_buy_ids: ids.into_iter().map(String::from).collect(),
        };
        let page = |after: Option<&str>| PageRequest { after: after.map(String::from), limit: 10 };
        let active = db.list_media_buys(&filter(vec![S::Active], vec![]), &page(None)).await.unwrap();
        assert_eq!(active.iter().map(|b| b.media_buy_id.as_str()).collect::<Vec<_>>(), vec!["mb_2"]);
        let two = filter(vec![S::Paused, S::Canceled], vec![]);
        assert_eq!(db.count_media_buys(&two).await.unwrap(), 3);
        let by_id = db.list_media_buys(&filter(vec![], vec!["mb_3", "mb_4", "nope"]), &page(None)).await.unwrap();
        assert_eq!(by_id.len(), 2);
        let after = db.list_media_buys(&filter(vec![], vec![]), &page(Some("mb_2"))).await.unwrap();
        assert_eq!(after.iter().map(|b| b.media_buy_id.as_str()).collect::<Vec<_>>(), vec!["mb_3", "mb_4"]);
        let strangers = MediaBuyFilter { principal_id: Some("p2".into()), ..filter(vec![], vec![]) };
        assert_eq!(db.count_media_buys(&strangers).await.unwrap(), 0, "buys are scoped to their principal");
    }
}

fn creative(id: &str, status: sales_agent::core::creative::CreativeStatus) -> sales_agent::core::creative::Creative {
    use sales_agent::core::catalog::FormatId;
    use sales_agent::core::creative::Creative;
    use sales_agent::core::media_buy::Verbatim;
    let at = Utc.with_ymd_and_hms(2026, 4, 2, 0, 0, 0).unwrap();
    Creative {
        creative_id: id.to_owned(),
        tenant_id: "t1".into(),
        principal_id: "p1".into(),
        account_id: "acc_0".into(),
        name: format!("Creative {id}"),
        format_id: FormatId {
            agent_url: "https://a.example/mcp".into(),
            id: "display_300x250".into(),
            width: None,
            height: None,
            duration_ms: None,
        },
        assets: Verbatim(
            r#"{"image":{"asset_type":"image","url":"https://cdn.example/a.png","width":300,"height":250}}"#.into(),
        ),
        tags: vec!["spring".into()],
        status,
        rejection_reason: None,
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn creatives_upsert_and_assignments_follow_the_buys() {
    use sales_agent::core::creative::CreativeStatus as C;
    use sales_agent::core::media_buy::MediaBuyStatus as S;
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        db.save_accounts(&[account("acc_0", "p1", "b0.example")]).await.unwrap();
        db.save_creatives(&[creative("cr_1", C::PendingReview), creative("cr_2", C::Approved)], &Also::default())
            .await
            .unwrap();
        let waiting = db.find_creatives("t1", None, Some(C::PendingReview), 10).await.unwrap();
        assert_eq!(waiting.iter().map(|c| c.creative_id.as_str()).collect::<Vec<_>>(), vec!["cr_1"]);
        assert_eq!(db.find_creatives("t1", Some("cr_2"), None, 10).await.unwrap().len(), 1);
        assert!(db.find_creatives("t2", Some("cr_2"), None, 10).await.unwrap().is_empty(), "per tenant");
        let mut approved = creative("cr_1", C::Approved);
        approved.updated_at += Duration::hours(1);
        db.save_creatives(&[approved.clone()], &Also::default()).await.unwrap();
        assert!(db.find_creatives("t1", None, Some(C::PendingReview), 10).await.unwrap().is_empty());
        let library = db.creatives("t1", "p1").await.unwrap();
        assert_eq!(library.len(), 2, "{}", db.backend_name());
        assert_eq!(library.iter().find(|c| c.creative_id == "cr_1"), Some(&approved), "upsert by id");
        assert!(db.creatives("t1", "p2").await.unwrap().is_empty(), "libraries are per principal");

        let mut with_creatives = buy("mb_a", S::Active);
        with_creatives.packages[0].creative_ids = vec!["cr_1".into(), "cr_2".into()];
        db.insert_media_buy(&with_creatives, &[created(1, "created")], &Also::default()).await.unwrap();
        assert_eq!(db.media_buy_id_for_package("t1", "mb_a_pkg").await.unwrap().as_deref(), Some("mb_a"));
        assert_eq!(db.media_buy_id_for_package("t2", "mb_a_pkg").await.unwrap(), None, "packages are per tenant");
        let first = db.assignments("t1", "p1").await.unwrap();
        assert_eq!(first.len(), 2);

        let mut released = with_creatives.clone();
        released.packages[0].creative_ids = vec!["cr_2".into()];
        released.revision = 2;
        released.updated_at += Duration::days(1);
        assert!(db.update_media_buy(&released, 1, &[created(2, "unassigned")], &Also::default()).await.unwrap());
        let after = db.assignments("t1", "p1").await.unwrap();
        assert_eq!(after.len(), 1, "removed assignments leave the index");
        assert_eq!(after[0].creative_id, "cr_2");
        let kept = first.iter().find(|a| a.creative_id == "cr_2").unwrap();
        assert_eq!(after[0].assigned_at, kept.assigned_at, "a kept assignment keeps its date");
    }
}

#[tokio::test]
async fn feedback_is_stored_and_summarised_per_product() {
    use sales_agent::core::feedback::{Feedback, FeedbackInput};
    use sales_agent::core::media_buy::MediaBuyStatus as S;
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        db.save_accounts(&[account("acc_0", "p1", "b0.example")]).await.unwrap();
        db.insert_media_buy(&buy("mb_f", S::Active), &[created(1, "created")], &Also::default()).await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 4, 10, 0, 0, 0).unwrap();
        let item = |id: &str, product: Option<&str>, index: f64| Feedback {
            feedback_id: id.into(),
            tenant_id: "t1".into(),
            principal_id: "p1".into(),
            media_buy_id: "mb_f".into(),
            package_id: None,
            creative_id: None,
            product_id: product.map(String::from),
            input: FeedbackInput {
                package_id: None,
                product_id: product.map(String::from),
                creative_id: None,
                period: Some((at - Duration::days(7), at)),
                performance_index: index,
                metric_type: "overall_performance".into(),
                feedback_source: "buyer_attribution".into(),
                notes: Some("n".into()),
            },
            received_at: at,
        };
        let (_, before) = db.tenant_versions("t1").await.unwrap();
        db.insert_feedback(&[item("fb_1", Some("prod"), 1.2), item("fb_2", Some("prod"), 0.8)]).await.unwrap();
        db.insert_feedback(&[item("fb_3", None, 2.0), item("fb_4", Some("prod"), 0.0)]).await.unwrap();
        assert_eq!(db.tenant_versions("t1").await.unwrap().1, before + 2, "one generation per feedback batch");
        let records = db.product_records("t1").await.unwrap();
        assert_eq!(records.len(), 1, "{}", db.backend_name());
        let record = records["prod"];
        assert!((record.mean_index - 1.0).abs() < 1e-9, "0 means no value and is left out");
        assert_eq!(record.reports, 2);
        assert!(db.product_records("t2").await.unwrap().is_empty());
    }
}

fn quote(id: &str, at: chrono::DateTime<Utc>) -> sales_agent::core::avails::Quote {
    sales_agent::core::avails::Quote {
        quote_id: id.into(),
        tenant_id: "t1".into(),
        principal_id: "p1".into(),
        product_id: "prod".into(),
        pricing_option_id: "cpm".into(),
        name: "Prod - US-CA/US-NY".into(),
        start_time: at,
        end_time: at + Duration::days(14),
        impressions: 769_230,
        cpm: 45.0,
        total_cost: 34_615.35,
        availability: 0.92,
        targeting: Some(sales_agent::core::media_buy::Verbatim(r#"{"geo_country_any_of":["US"]}"#.into())),
        created_at: at,
        expires_at: at + Duration::hours(72),
    }
}

#[tokio::test]
async fn quotes_round_trip_and_long_expired_ones_are_dropped() {
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        let t0 = Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap();
        let first = quote("pkg_a", t0);
        let second = sales_agent::core::avails::Quote { targeting: None, ..quote("pkg_b", t0) };
        db.insert_quotes(&[first.clone(), second.clone()]).await.unwrap();
        assert_eq!(db.quote("t1", "pkg_a").await.unwrap(), Some(first.clone()), "{}", db.backend_name());
        assert_eq!(db.quote("t1", "pkg_b").await.unwrap(), Some(second));
        assert_eq!(db.quote("t2", "pkg_a").await.unwrap(), None, "quotes are per tenant");
        let duplicate = db.insert_quotes(std::slice::from_ref(&first)).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "quote ids are unique");
        assert_eq!(
            db.quote("t1", "pkg_a").await.unwrap(),
            Some(first.clone()),
            "a failed insert keeps what was stored"
        );
        // Five days later the first quotes expired two days ago: the next insert drops them.
        db.insert_quotes(&[quote("pkg_c", t0 + Duration::days(5))]).await.unwrap();
        assert_eq!(db.quote("t1", "pkg_a").await.unwrap(), None);
        assert!(db.quote("t1", "pkg_c").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn sandbox_controller_state_round_trips_and_forced_arms_are_taken_once() {
    use sales_agent::core::sandbox::{Arm, ForcedArm, SimulatedDelivery};
    for test_db in support::backends().await {
        let db = &test_db.db;
        seeded(db).await;
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let name = db.backend_name();
        // Fixtures: the first write wins; later ones learn what is stored.
        assert_eq!(db.seed_fixture("t1", "product:p", "{\"a\":1}", at).await.unwrap(), None, "{name}");
        assert_eq!(db.seed_fixture("t1", "product:p", "{\"a\":2}", at).await.unwrap().as_deref(), Some("{\"a\":1}"));
        assert_eq!(db.seed_fixture("t2", "product:p", "{\"a\":2}", at).await.unwrap(), None, "per tenant");

        // Products waiting for a pricing option.
        let catalog = support::demo_config("sqlite::memory:").tenants[0].catalog.clone().expect("demo catalog");
        let mut product = catalog.products[0].clone();
        product.pricing_options.clear();
        db.save_pending_product("t1", &product).await.unwrap();
        product.name = "Renamed".into();
        db.save_pending_product("t1", &product).await.unwrap();
        assert_eq!(db.pending_product("t1", &product.product_id).await.unwrap(), Some(product.clone()));
        assert_eq!(db.pending_product("t2", &product.product_id).await.unwrap(), None);

        // A forced arm: the latest replaces the earlier; one taker gets it.
        let arm = |task: &str| ForcedArm {
            tenant_id: "t1".into(),
            principal_id: "p1".into(),
            arm: Arm::Submitted,
            task_id: Some(task.into()),
            message: Some("Awaiting IO".into()),
            created_at: at,
        };
        assert_eq!(db.take_forced_arm("t1", "p1").await.unwrap(), None);
        db.save_forced_arm(&arm("task_a")).await.unwrap();
        db.save_forced_arm(&arm("task_b")).await.unwrap();
        assert_eq!(db.take_forced_arm("t1", "p2").await.unwrap(), None, "arms are per principal");
        let (first, second) = tokio::join!(db.take_forced_arm("t1", "p1"), db.take_forced_arm("t1", "p1"));
        let taken: Vec<ForcedArm> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken, vec![arm("task_b")], "{name}: exactly one concurrent create takes the arm");

        // Simulated delivery: replaced as a whole, read per buy.
        let simulated = SimulatedDelivery {
            tenant_id: "t1".into(),
            media_buy_id: "mb_1".into(),
            impressions: 10_000.0,
            clicks: 150.0,
            conversions: 3.0,
            spend: 150.0,
            recorded_at: at,
        };
        db.save_simulated_delivery(&simulated).await.unwrap();
        let more = SimulatedDelivery { impressions: 15_000.0, spend: 225.0, ..simulated.clone() };
        db.save_simulated_delivery(&more).await.unwrap();
        let ids = vec!["mb_1".to_owned(), "mb_2".to_owned()];
        assert_eq!(db.simulated_delivery("t1", &ids).await.unwrap(), vec![more], "{name}");
        assert!(db.simulated_delivery("t2", &ids).await.unwrap().is_empty());
    }
}

fn proposal(id: &str, principal_id: &str) -> sales_agent::core::proposals::Proposal {
    use sales_agent::core::proposals::{Allocation, BudgetGuidance, Proposal, ProposalStatus};
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    Proposal {
        proposal_id: id.to_owned(),
        tenant_id: "t1".into(),
        principal_id: principal_id.to_owned(),
        name: "Balanced Reach Plan".into(),
        description: "two products".into(),
        brief_alignment: "fits".into(),
        status: ProposalStatus::Draft,
        allocations: vec![
            Allocation {
                product_id: "prod_a".into(),
                pricing_option_id: "cpm".into(),
                percentage: 60,
                rationale: "reach".into(),
                committed_price: None,
            },
            Allocation {
                product_id: "prod_b".into(),
                pricing_option_id: "cpm".into(),
                percentage: 40,
                rationale: "frequency".into(),
                committed_price: Some(12.5),
            },
        ],
        currency: "USD".into(),
        budget: BudgetGuidance { min: Some(1000.0), recommended: Some(5000.0), max: None },
        expires_at: at + Duration::days(7),
        media_buy_id: None,
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn proposals_round_trip_per_buyer_and_are_bought_once() {
    use sales_agent::core::media_buy::MediaBuyStatus as S;
    use sales_agent::core::ports::ProposalAcceptance;
    use sales_agent::core::proposals::ProposalStatus;
    for test_db in support::backends().await {
        let db = &test_db.db;
        let backend = db.backend_name();
        seeded(db).await;
        db.save_accounts(&[account("acc_0", "p1", "b0.example")]).await.unwrap();
        let draft = proposal("balanced_reach_q2", "p1");
        db.save_proposal(&draft).await.unwrap();
        db.save_proposal(&proposal("balanced_reach_q2", "p2")).await.unwrap();
        assert_eq!(db.proposal("t1", "p1", "balanced_reach_q2").await.unwrap(), Some(draft.clone()), "{backend}");
        assert_eq!(db.proposal("t1", "p1", "other").await.unwrap(), None);
        assert_eq!(db.proposal("t2", "p1", "balanced_reach_q2").await.unwrap(), None, "proposals are per tenant");

        let committed = sales_agent::core::proposals::Proposal { status: ProposalStatus::Committed, ..draft.clone() };
        db.save_proposal(&committed).await.unwrap();
        assert_eq!(db.proposal("t1", "p1", "balanced_reach_q2").await.unwrap(), Some(committed.clone()));

        let accept = |media_buy_id: &str| Also {
            accept_proposal: Some(ProposalAcceptance {
                tenant_id: "t1".into(),
                principal_id: "p1".into(),
                proposal_id: "balanced_reach_q2".into(),
                media_buy_id: media_buy_id.into(),
            }),
            ..Also::default()
        };
        db.insert_media_buy(&buy("mb_p1", S::PendingCreatives), &[created(1, "created")], &accept("mb_p1"))
            .await
            .unwrap();
        let bought = db.proposal("t1", "p1", "balanced_reach_q2").await.unwrap().unwrap();
        assert_eq!(bought.media_buy_id.as_deref(), Some("mb_p1"), "{backend}");
        let second =
            db.insert_media_buy(&buy("mb_p2", S::PendingCreatives), &[created(1, "created")], &accept("mb_p2")).await;
        assert!(matches!(second, Err(StoreError::ProposalTaken)), "{backend}: {second:?}");
        assert_eq!(db.media_buy("t1", "mb_p2").await.unwrap(), None, "{backend}: the refused buy was not stored");
        // a bought proposal keeps its plan: later saves do not replace it
        db.save_proposal(&draft).await.unwrap();
        let kept = db.proposal("t1", "p1", "balanced_reach_q2").await.unwrap().unwrap();
        assert_eq!((kept.status, kept.media_buy_id.as_deref()), (ProposalStatus::Committed, Some("mb_p1")));
        // the other buyer's proposal of the same name is untouched
        assert_eq!(db.proposal("t1", "p2", "balanced_reach_q2").await.unwrap().unwrap().media_buy_id, None);
    }
}
