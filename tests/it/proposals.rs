//! Proposals through core with controlled time, on both backends: a brief's drafts, finalizing,
//! the hold running out, a publisher's price change lapsing a hold, and buying.

use chrono::{Duration, TimeZone, Utc};
use sales_agent::core::Error;
use sales_agent::core::discovery::{BuyingMode, ProductQuery, ProposalAction, Refinement};
use sales_agent::core::pagination::PageParams;
use sales_agent::core::proposals::{self, COMMIT_HOLD, DRAFT_TTL, ProposalProblem, ProposalStatus};
use sales_agent::core::ranking::KeywordRanker;

use crate::delivery::demo;
use crate::support;

const BRIEF: &str = "Premium video and display across outdoor lifestyle and sports. Q3 flight, $50K budget.";

fn query(mode: BuyingMode) -> ProductQuery {
    ProductQuery {
        mode,
        filters: Default::default(),
        preferred_delivery_types: vec![],
        page: PageParams::default(),
        records: Default::default(),
    }
}

fn finalize(proposal_id: &str) -> BuyingMode {
    BuyingMode::Refine(vec![Refinement::Proposal {
        proposal_id: proposal_id.into(),
        action: ProposalAction::Finalize,
        ask: None,
    }])
}

fn problem(result: Result<impl std::fmt::Debug, Error>) -> ProposalProblem {
    match result {
        Err(Error::ProposalNotUsable { problem, .. }) => problem,
        other => panic!("expected ProposalNotUsable, got {other:?}"),
    }
}

#[tokio::test]
async fn holds_run_out_and_price_changes_lapse_them() {
    for test_db in support::backends().await {
        let db = &test_db.db;
        let demo = demo(&test_db).await;
        let (tenant, catalog, principal) = (&demo.tenant, &demo.catalog, &demo.principal);
        let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let get = |mode, now| {
            let q = query(mode);
            async move { proposals::get_products(db, catalog, &KeywordRanker, tenant, Some(principal), &q, now).await }
        };

        let (_, drafts) = get(BuyingMode::Brief(BRIEF.into()), t0).await.unwrap();
        let id = drafts[0].proposal_id.clone();
        assert_eq!(id, "balanced_reach_q3");
        assert_eq!(drafts[0].expires_at, t0 + DRAFT_TTL);
        let buy = |now| proposals::packages_for(db, catalog, tenant, principal, &id, (10_000.0, "USD"), now);
        assert_eq!(problem(buy(t0).await), ProposalProblem::NotCommitted);

        // a draft past its time cannot be finalized
        assert!(matches!(problem(get(finalize(&id), t0 + DRAFT_TTL).await), ProposalProblem::Expired(_)));

        let t1 = t0 + Duration::days(1);
        let (_, committed) = get(finalize(&id), t1).await.unwrap();
        assert_eq!((committed[0].status, committed[0].expires_at), (ProposalStatus::Committed, t1 + COMMIT_HOLD));
        let packages = buy(t1 + COMMIT_HOLD - Duration::minutes(1)).await.unwrap();
        assert_eq!(packages.len(), committed[0].allocations.len());
        assert!((packages.iter().map(|p| p.budget).sum::<f64>() - 10_000.0).abs() < 1e-9);
        assert!(matches!(problem(buy(t1 + COMMIT_HOLD).await), ProposalProblem::Expired(_)), "the hold ran out");

        // the publisher reprices a product of a committed proposal: its hold lapses
        let (_, second) = get(finalize("focused_olv_q3"), t1).await.unwrap();
        let allocation = &second[0].allocations[0];
        let mut repriced = catalog.clone();
        let product = repriced.products.iter_mut().find(|p| p.product_id == allocation.product_id).unwrap();
        let option =
            product.pricing_options.iter_mut().find(|o| o.pricing_option_id == allocation.pricing_option_id).unwrap();
        match (option.fixed_price.as_mut(), option.price_guidance.as_mut().and_then(|g| g.p50.as_mut())) {
            (Some(price), _) | (None, Some(price)) => *price += 1.0,
            (None, None) => option.floor_price = Some(option.floor_price.unwrap_or(0.0) + 1.0),
        }
        let lapsed =
            proposals::packages_for(db, &repriced, tenant, principal, "focused_olv_q3", (5_000.0, "USD"), t1).await;
        assert_eq!(problem(lapsed), ProposalProblem::Repriced { product_id: allocation.product_id.clone() });
        assert!(
            proposals::packages_for(db, catalog, tenant, principal, "focused_olv_q3", (5_000.0, "USD"), t1)
                .await
                .is_ok()
        );
    }
}
