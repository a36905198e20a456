//! The tool schemas we publish in tools/list are API. `schemas/tools.json` is the reviewed copy;
//! a change to any tool's name, description or input schema fails here until the golden file is
//! regenerated (`UPDATE_GOLDEN=1 cargo test golden`) and the diff reviewed.

use std::path::Path;
use std::sync::Arc;

use sales_agent::app::App;
use sales_agent::core::ports::SystemClock;
use sales_agent::core::ranking::KeywordRanker;
use sales_agent::mcp::{SalesAgent, tools_document};

use crate::support;

#[tokio::test]
async fn published_tool_schemas_match_the_golden_copy() {
    let test_db = support::sqlite().await;
    let config = support::demo_config(&test_db.url);
    let app = App::new(
        test_db.db.clone(),
        config,
        Arc::new(SystemClock),
        Arc::new(KeywordRanker),
        sales_agent::app::AdServers::single(Arc::new(sales_agent::adapters::mock::MockAdServer::new())),
        sales_agent::adapters::webhook::WebhookKey::generate(),
    );
    let document = tools_document(&SalesAgent::new(app));
    let rendered = serde_json::to_string_pretty(&document).unwrap() + "\n";
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/tools.json");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("schemas/tools.json exists (UPDATE_GOLDEN=1 to create)");
    assert!(
        expected == rendered,
        "tools/list changed; review and regenerate with UPDATE_GOLDEN=1 cargo test golden\n--- golden\n{expected}\n--- now\n{rendered}"
    );
}

#[test]
fn every_tool_has_a_description_and_an_object_schema() {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/tools.json")).unwrap(),
    )
    .unwrap();
    let tools = golden["tools"].as_array().unwrap();
    assert!(tools.len() >= 6);
    for tool in tools {
        assert!(tool["description"].as_str().is_some_and(|d| d.len() > 20), "{tool}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
}
