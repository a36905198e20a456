//! Delivery through core with the mock ad server and controlled time, on both backends: numbers
//! follow the budget, the CPM, the pacing and the pauses.

use chrono::{Duration, TimeZone, Utc};
use sales_agent::adapters::mock::MockAdServer;
use sales_agent::core::accounts::AccountRef;
use sales_agent::core::buying::{self, Mutation, UpdateMediaBuy};
use sales_agent::core::catalog::Catalog;
use sales_agent::core::delivery::{DeliveryQuery, get_media_buy_delivery};
use sales_agent::core::media_buy::{CreateMediaBuy, PackageRequest, StartTime};
use sales_agent::core::ports::Store;
use sales_agent::core::tenancy::{AccountKey, Principal, Tenant};

use sales_agent::mcp::wire_tasks::Deferred;

use crate::support;

/// The demo tenant bootstrapped on a test database, its demo buyer and TechCorp's account.
pub(crate) struct Demo {
    pub tenant: Tenant,
    pub catalog: Catalog,
    pub principal: Principal,
    pub account: AccountRef,
}

pub(crate) async fn demo(test_db: &support::TestDb) -> Demo {
    let config = support::demo_config(&test_db.url);
    sales_agent::app::bootstrap(&test_db.db, &config).await.unwrap();
    let demo_token = sales_agent::core::auth::hash_token("test-token");
    let (principal, _) = test_db.db.principal_by_token_hash(&demo_token).await.unwrap().expect("demo principal");
    Demo {
        tenant: config.tenants[0].tenant.clone(),
        catalog: config.tenants[0].catalog.clone().unwrap(),
        principal,
        account: AccountRef::Key(AccountKey {
            brand_domain: "techcorp.example".into(),
            brand_id: None,
            operator: "techcorp.example".into(),
            sandbox: false,
        }),
    }
}

/// TechCorp's buy of `packages` from `start` to `end`.
pub(crate) fn techcorp_buy(
    account: &AccountRef,
    start: StartTime,
    end: chrono::DateTime<Utc>,
    packages: Vec<PackageRequest>,
) -> CreateMediaBuy {
    CreateMediaBuy {
        account: account.clone(),
        brand_domain: "techcorp.example".into(),
        brand_industries: vec![],
        start_time: start,
        end_time: end,
        packages,
        total_budget: None,
        proposal_id: None,
        po_number: None,
        push_notification: None,
        reporting_webhook: None,
    }
}

/// A package of the demo's guaranteed tech display product at $12.50 CPM, with creative `cr_1`.
pub(crate) fn display_package(budget: f64) -> PackageRequest {
    PackageRequest {
        creative_ids: vec!["cr_1".into()],
        ..PackageRequest::new("prod-tech-display-001", "cpm_guaranteed", budget)
    }
}

#[tokio::test]
async fn delivery_follows_budget_pacing_and_pauses() {
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let Demo { tenant, catalog, principal, account } = demo(test_db).await;
        let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let request = techcorp_buy(&account, StartTime::Asap, t0 + Duration::days(30), vec![display_package(5000.0)]);
        let buy = buying::create_media_buy(db, &catalog, &tenant, &principal, &request, &Mutation::at(t0, &Deferred))
            .await
            .unwrap()
            .into_buy()
            .unwrap();
        assert_eq!(buy.packages[0].impressions, 400_000.0, "$5,000 at $12.50 CPM");
        let report = |at| {
            let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
            let (catalog, tenant, principal) = (catalog.clone(), tenant.clone(), principal.clone());
            async move {
                get_media_buy_delivery(db, &MockAdServer::new(), &catalog, &tenant, &principal, &query, at)
                    .await
                    .unwrap()
            }
        };
        let halfway = report(t0 + Duration::days(15)).await;
        let package = &halfway.buys[0].packages[0];
        assert_eq!(package.totals.impressions, 200_000.0, "{}", db.backend_name());
        assert_eq!(package.totals.spend, 2500.0);
        assert_eq!(package.pacing_index, Some(1.0));
        assert_eq!(halfway.buys[0].daily.len(), 15, "one entry per delivered day");

        let pause =
            UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(true), ..UpdateMediaBuy::default() };
        buying::update_media_buy(
            db,
            &catalog,
            &tenant,
            &principal,
            &pause,
            &Mutation::at(t0 + Duration::days(15), &Deferred),
        )
        .await
        .unwrap();
        let resume =
            UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(false), ..UpdateMediaBuy::default() };
        buying::update_media_buy(
            db,
            &catalog,
            &tenant,
            &principal,
            &resume,
            &Mutation::at(t0 + Duration::days(20), &Deferred),
        )
        .await
        .unwrap();
        let after_pause = report(t0 + Duration::days(20)).await;
        assert_eq!(after_pause.buys[0].packages[0].totals.impressions, 200_000.0, "nothing delivers while paused");
        assert!(after_pause.buys[0].packages[0].pacing_index.unwrap() < 1.0, "behind after a pause");

        let end = report(t0 + Duration::days(40)).await;
        let package = &end.buys[0].packages[0];
        assert!(package.totals.spend <= 5000.0, "spend never exceeds budget");
        assert_eq!(package.totals.impressions, (400_000.0_f64 * 25.0 / 30.0).floor(), "25 of 30 days live");
        assert_eq!(package.delivery_status, "flight_ended");
    }
}

#[tokio::test]
async fn the_scheduler_starts_completes_and_expires_buys() {
    use sales_agent::core::media_buy::{MediaBuyStatus as S, Pacing};
    use sales_agent::core::schedule::advance;
    for test_db in &support::backends().await {
        let db = &test_db.db;
        let Demo { tenant, catalog, principal, account } = demo(test_db).await;
        let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let new_buy = |start: StartTime, days: i64, creatives: bool, pacing: Pacing, budget: f64| {
            let package = PackageRequest {
                impressions: Some(1_000_000.0),
                pacing: Some(pacing),
                creative_ids: if creatives { vec!["cr_1".into()] } else { vec![] },
                ..display_package(budget)
            };
            techcorp_buy(&account, start, t0 + Duration::days(days), vec![package])
        };
        let create = |request: CreateMediaBuy| {
            let (catalog, tenant, principal) = (catalog.clone(), tenant.clone(), principal.clone());
            async move {
                buying::create_media_buy(db, &catalog, &tenant, &principal, &request, &Mutation::at(t0, &Deferred))
                    .await
                    .unwrap()
                    .into_buy()
                    .unwrap()
            }
        };
        let later = create(new_buy(StartTime::At(t0 + Duration::days(1)), 10, true, Pacing::Even, 5000.0)).await;
        let orphan = create(new_buy(StartTime::Asap, 5, false, Pacing::Even, 5000.0)).await;
        let greedy = create(new_buy(StartTime::Asap, 30, true, Pacing::Asap, 2000.0)).await;
        assert_eq!((later.status, orphan.status, greedy.status), (S::PendingStart, S::PendingCreatives, S::Active));

        assert!(
            advance(db, &MockAdServer::new(), &Deferred, &catalog, &tenant, t0, None).await.unwrap().0.is_empty(),
            "nothing due yet"
        );
        advance(db, &MockAdServer::new(), &Deferred, &catalog, &tenant, t0 + Duration::days(2), None).await.unwrap();
        assert_eq!(stored(db, &later.media_buy_id).await.status, S::Active, "{}", db.backend_name());

        // $2,000 at $12.50 buys 160,000 of the 1,000,000 goal; asap pacing spends it long before day 30.
        advance(db, &MockAdServer::new(), &Deferred, &catalog, &tenant, t0 + Duration::days(6), None).await.unwrap();
        let expired = stored(db, &orphan.media_buy_id).await;
        assert_eq!(expired.status, S::Canceled);
        let cancellation = expired.cancellation.expect("seller cancellation");
        assert_eq!(cancellation.canceled_by, sales_agent::core::media_buy::Party::Seller);
        assert_eq!(stored(db, &greedy.media_buy_id).await.status, S::Completed, "budget spent");

        advance(db, &MockAdServer::new(), &Deferred, &catalog, &tenant, t0 + Duration::days(11), None).await.unwrap();
        let done = stored(db, &later.media_buy_id).await;
        assert_eq!(done.status, S::Completed, "flight ended");
        let history = db.media_buy_history(&done.media_buy_id, 10).await.unwrap();
        assert_eq!(history[0].actor, "seller");
        assert!(
            advance(db, &MockAdServer::new(), &Deferred, &catalog, &tenant, t0 + Duration::days(12), None)
                .await
                .unwrap()
                .0
                .is_empty()
        );
    }
}

async fn stored(db: &sales_agent::store::Db, media_buy_id: &str) -> sales_agent::core::media_buy::MediaBuy {
    db.media_buy("demo", media_buy_id).await.unwrap().expect("stored buy")
}

/// Stores a 300x250 image creative of the demo buyer in `status`, for `buy`'s account.
pub(crate) async fn image_creative(
    db: &sales_agent::store::Db,
    demo: &Demo,
    buy: &sales_agent::core::media_buy::MediaBuy,
    creative_id: &str,
    status: sales_agent::core::creative::CreativeStatus,
) {
    use sales_agent::core::catalog::FormatId;
    use sales_agent::core::creative::Creative;
    use sales_agent::core::media_buy::Verbatim;
    let assets = serde_json::json!({
        "image": {"url": format!("https://cdn.techcorp.example/{creative_id}.png"), "width": 300, "height": 250},
        "click_url": {"url": "https://techcorp.example/landing"},
        "impression_tracker": {"url": "https://track.techcorp.example/imp"},
    });
    let creative = Creative {
        creative_id: creative_id.to_owned(),
        tenant_id: demo.tenant.tenant_id.clone(),
        principal_id: demo.principal.principal_id.clone(),
        account_id: buy.account_id.clone(),
        name: format!("TechCorp {creative_id}"),
        format_id: FormatId {
            agent_url: demo.catalog.products[0].format_ids[0].agent_url.clone(),
            id: "display_300x250".into(),
            width: None,
            height: None,
            duration_ms: None,
        },
        assets: Verbatim(assets.to_string()),
        tags: vec![],
        status,
        rejection_reason: None,
        created_at: buy.created_at,
        updated_at: buy.created_at,
    };
    db.save_creatives(&[creative], &sales_agent::core::ports::Also::default()).await.unwrap();
}

/// Applies a change of the demo buyer at `at` (approved at once).
pub(crate) async fn update(
    db: &sales_agent::store::Db,
    demo: &Demo,
    request: sales_agent::core::buying::UpdateMediaBuy,
    at: chrono::DateTime<Utc>,
) {
    buying::update_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(at, &Deferred))
        .await
        .unwrap();
}
