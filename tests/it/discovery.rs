//! Discovery over the demo catalog, through core: ranking, filters, refine, pagination, formats.

use sales_agent::core::catalog::{Catalog, Channel, DeliveryType};
use sales_agent::core::discovery::{
    BuyingMode, FormatQuery, ProductAction, ProductFilters, ProductQuery, ProposalAction, Refinement, RefinementStatus,
    find_formats, find_products, same_format,
};
use sales_agent::core::pagination::PageParams;
use sales_agent::core::ranking::KeywordRanker;

use crate::support;

fn demo_catalog() -> Catalog {
    let mut catalog = support::demo_config("sqlite::memory:").tenants[0].catalog.clone().expect("demo catalog");
    for format in &mut catalog.formats {
        format.format_id.agent_url = "http://agent.example/mcp".into();
    }
    for product in &mut catalog.products {
        for id in &mut product.format_ids {
            id.agent_url = "http://agent.example/mcp".into();
        }
    }
    catalog
}

fn query(mode: BuyingMode) -> ProductQuery {
    ProductQuery {
        mode,
        filters: ProductFilters::default(),
        preferred_delivery_types: vec![],
        page: PageParams::default(),
        records: Default::default(),
    }
}

#[tokio::test]
async fn the_seed_brief_ranks_tech_display_first_and_says_why() {
    let catalog = demo_catalog();
    let brief = "display ads targeting US tech enthusiasts, developers, $5000 budget";
    let answer = find_products(&catalog, &KeywordRanker, &query(BuyingMode::Brief(brief.into()))).await.unwrap();
    let first = &answer.products.items[0];
    assert_eq!(first.product.product_id, "prod-tech-display-001");
    let why = first.relevance.as_ref().map(|r| r.text.as_str()).unwrap();
    assert!(why.contains("display") && why.contains("US") && why.contains("$5,000"), "{why}");
    assert_eq!(answer.products.items.len(), catalog.products.len(), "a brief ranks, it does not hide products");
    let again = find_products(&catalog, &KeywordRanker, &query(BuyingMode::Brief(brief.into()))).await.unwrap();
    assert_eq!(again, answer, "ranking is deterministic");
}

#[tokio::test]
async fn briefs_for_other_channels_rank_those_channels_first() {
    let catalog = demo_catalog();
    for (brief, channel) in [
        ("30 second audio spots for a podcast and music audience", Channel::StreamingAudio),
        ("connected tv campaign for cord cutters", Channel::Ctv),
        ("pre-roll video for gadget reviews", Channel::Olv),
    ] {
        let answer = find_products(&catalog, &KeywordRanker, &query(BuyingMode::Brief(brief.into()))).await.unwrap();
        let top = &answer.products.items[0].product;
        assert!(top.channels.contains(&channel), "{brief}: got {}", top.product_id);
    }
}

#[tokio::test]
async fn filters_hold_for_every_product_returned() {
    let catalog = demo_catalog();
    let mut q = query(BuyingMode::Wholesale);
    q.filters.delivery_type = Some(DeliveryType::NonGuaranteed);
    q.filters.channels = vec![Channel::Display];
    let answer = find_products(&catalog, &KeywordRanker, &q).await.unwrap();
    assert!(!answer.products.items.is_empty());
    for m in &answer.products.items {
        assert_eq!(m.product.delivery_type, DeliveryType::NonGuaranteed);
        assert!(m.product.channels.contains(&Channel::Display));
        assert!(m.relevance.is_none(), "wholesale carries no relevance");
    }
    let mut fixed = query(BuyingMode::Wholesale);
    fixed.filters.is_fixed_price = Some(true);
    for m in find_products(&catalog, &KeywordRanker, &fixed).await.unwrap().products.items {
        assert!(m.product.pricing_options.iter().any(|o| o.fixed_price.is_some()));
    }
    let mut reversed = query(BuyingMode::Wholesale);
    reversed.filters.start_date = chrono::NaiveDate::from_ymd_opt(2026, 5, 1);
    reversed.filters.end_date = chrono::NaiveDate::from_ymd_opt(2026, 4, 1);
    assert!(find_products(&catalog, &KeywordRanker, &reversed).await.is_err());
}

#[tokio::test]
async fn refine_answers_each_entry_in_order() {
    let catalog = demo_catalog();
    let refinements = vec![
        Refinement::Product { product_id: "prod-tech-display-001".into(), action: ProductAction::Include, ask: None },
        Refinement::Product { product_id: "prod-ron-display-001".into(), action: ProductAction::Omit, ask: None },
        Refinement::Product { product_id: "no-such-product".into(), action: ProductAction::Include, ask: None },
        Refinement::Proposal { proposal_id: "prop-1".into(), action: ProposalAction::Include, ask: None },
        Refinement::Request { ask: "more developer reach".into() },
    ];
    let answer = find_products(&catalog, &KeywordRanker, &query(BuyingMode::Refine(refinements))).await.unwrap();
    let outcomes = answer.refinements.unwrap();
    let statuses: Vec<RefinementStatus> = outcomes.iter().map(|o| o.status).collect();
    use RefinementStatus::*;
    assert_eq!(statuses, vec![Applied, Applied, Unable, Unable, Applied]);
    let ids: Vec<&str> = answer.products.items.iter().map(|m| m.product.product_id.as_str()).collect();
    assert_eq!(ids, vec!["prod-tech-display-001"], "include narrows, omit removes");
}

#[tokio::test]
async fn product_pages_cover_the_catalog_exactly_once() {
    let catalog = demo_catalog();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let mut q = query(BuyingMode::Wholesale);
        q.page = PageParams { cursor: cursor.clone(), max_results: Some(3) };
        let page = find_products(&catalog, &KeywordRanker, &q).await.unwrap().products;
        assert_eq!(page.total, Some(catalog.products.len() as u64));
        seen.extend(page.items.into_iter().map(|m| m.product.product_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let all: Vec<String> = catalog.products.iter().map(|p| p.product_id.clone()).collect();
    assert_eq!(seen, all);
}

#[test]
fn every_product_format_is_listed_and_round_trips() {
    let catalog = demo_catalog();
    for product in &catalog.products {
        for id in &product.format_ids {
            let page = find_formats(&catalog, &FormatQuery { format_ids: vec![id.clone()], ..FormatQuery::default() })
                .unwrap();
            assert_eq!(page.items.len(), 1, "{} of {}", id.id, product.product_id);
            assert!(same_format(&page.items[0].format_id, id));
        }
    }
    let images =
        find_formats(&catalog, &FormatQuery { max_width: Some(300), max_height: Some(250), ..FormatQuery::default() })
            .unwrap();
    assert!(images.items.iter().any(|f| f.format_id.id.contains("300x250")));
    assert!(images.items.iter().all(|f| {
        f.renders.iter().any(|r| r.dimensions.as_ref().is_some_and(|d| d.width <= 300 && d.height <= 250))
    }));
}

#[tokio::test]
async fn buyer_feedback_moves_products_in_the_ranking() {
    use sales_agent::core::feedback::ProductRecord;
    let catalog = demo_catalog();
    let brief = "display ads targeting US tech enthusiasts, developers, $5000 budget";
    let plain = find_products(&catalog, &KeywordRanker, &query(BuyingMode::Brief(brief.into()))).await.unwrap();
    let second = plain.products.items[1].product.product_id.clone();
    let third = plain.products.items[2].product.product_id.clone();
    let mut with_feedback = query(BuyingMode::Brief(brief.into()));
    with_feedback.records = std::sync::Arc::new(
        [
            (second.clone(), ProductRecord { mean_index: 0.4, reports: 4 }),
            (third.clone(), ProductRecord { mean_index: 1.6, reports: 4 }),
        ]
        .into(),
    );
    let ranked = find_products(&catalog, &KeywordRanker, &with_feedback).await.unwrap();
    let position = |id: &str| ranked.products.items.iter().position(|m| m.product.product_id == id).unwrap();
    assert!(position(&third) < position(&second), "good feedback lifts, poor feedback sinks");
    assert_eq!(position("prod-tech-display-001"), 0, "feedback informs relevance, it does not replace it");
    let why = ranked.products.items[position(&third)].relevance.clone().unwrap().text;
    assert!(why.contains("above expectations"), "{why}");
}
