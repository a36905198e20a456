//! Seed 004's campaign lifecycle over MCP (the buyer's steps: create, creatives, delivery,
//! optimize, pause, resume, cancel) against a server booking in a real ad-server adapter; each
//! adapter's test (gam, kevel, triton) points it at its fake and checks the platform after
//! every step.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use sales_agent::config::AdServerConfig;
use serde_json::{Value, json};

use crate::support;

const TOKEN: &str = "test-token";
const ACCOUNT: &str = "techcorp.example";
/// How long a step waits for the booking or reconciliation worker (each runs every second).
const BOOKED_WITHIN: Duration = Duration::from_secs(30);

/// The sales agent running the demo tenant on an ad server.
pub(crate) struct Agent(support::Running);

impl std::ops::Deref for Agent {
    type Target = support::Running;

    fn deref(&self) -> &support::Running {
        &self.0
    }
}

impl Agent {
    pub(crate) async fn start(ad_server: AdServerConfig) -> Agent {
        Agent(
            support::Running::start(|config| {
                for tenant in &mut config.tenants {
                    tenant.ad_server = ad_server.clone();
                    // Read the ad server back every second (statuses and delivery).
                    tenant.ad_server_refresh = Duration::from_secs(1);
                }
            })
            .await,
        )
    }

    pub(crate) async fn stop(self) {
        self.0.stop().await;
    }

    /// A tool call's structured result; a tool error fails the test.
    pub(crate) async fn call(&self, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let response = reqwest::Client::new()
            .post(format!("{}/mcp", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let answer: Value = response.json().await.unwrap();
        let result = &answer["result"];
        assert_ne!(result["isError"], true, "{tool}: {result}");
        result["structuredContent"].clone()
    }
}

/// One package of the plan: its budget, format and the creative that serves in it.
pub(crate) struct Line {
    pub budget: f64,
    pub format: &'static str,
    pub creative_id: &'static str,
    pub assets: Value,
}

/// The product bought and its packages.
pub(crate) struct Plan {
    pub product_id: &'static str,
    pub pricing_option_id: &'static str,
    pub lines: Vec<Line>,
}

/// Seed 004's display plan: $3,000 of 300x250 and $2,000 of 728x90 banners at $12.50 CPM.
pub(crate) fn display_plan() -> Plan {
    let banner = |width: u32, height: u32| {
        json!({
            "image": {"url": format!("https://cdn.techcorp.example/ads/devtool-{width}x{height}.png"), "width": width, "height": height},
            "click_url": {"url": "https://techcorp.example/devtool"},
        })
    };
    Plan {
        product_id: "prod-tech-display-001",
        pricing_option_id: "cpm_guaranteed",
        lines: vec![
            Line {
                budget: 3000.0,
                format: "display_300x250",
                creative_id: "devtool-300x250",
                assets: banner(300, 250),
            },
            Line { budget: 2000.0, format: "display_728x90", creative_id: "devtool-728x90", assets: banner(728, 90) },
        ],
    }
}

/// The audio variant for audio-only ad servers: one 30 s spot on the demo's audio product.
pub(crate) fn audio_plan() -> Plan {
    Plan {
        product_id: "prod-audio-001",
        pricing_option_id: "cpm_guaranteed",
        lines: vec![Line {
            budget: 5000.0,
            format: "audio_30s",
            creative_id: "devtool-spot",
            assets: json!({"audio_file": {"url": "https://cdn.techcorp.example/ads/devtool.mp3", "duration_ms": 30000}}),
        }],
    }
}

fn account() -> Value {
    json!({"brand": {"domain": ACCOUNT}, "operator": ACCOUNT})
}

fn key() -> String {
    format!("it-{}", uuid::Uuid::new_v4().simple())
}

/// The buyer's campaign as the steps establish it.
pub(crate) struct Campaign {
    pub media_buy_id: String,
    pub package_ids: Vec<String>,
}

impl Campaign {
    /// Step 5: the buy (US only), one package per line.
    pub(crate) async fn create(agent: &Agent, plan: &Plan) -> Campaign {
        let end = chrono::Utc::now() + chrono::Duration::days(30);
        let packages: Vec<Value> = plan
            .lines
            .iter()
            .map(|line| {
                json!({
                    "product_id": plan.product_id,
                    "pricing_option_id": plan.pricing_option_id,
                    "budget": line.budget,
                    "format_ids": [{"agent_url": agent.public_url, "id": line.format}],
                    "targeting_overlay": {"geo_countries": ["US"]},
                })
            })
            .collect();
        let body = agent
            .call(
                "create_media_buy",
                json!({
                    "idempotency_key": key(),
                    "account": account(),
                    "brand": {"domain": ACCOUNT},
                    "po_number": "TC-2026-Q2-001",
                    "start_time": "asap",
                    "end_time": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "packages": packages,
                }),
            )
            .await;
        let media_buy_id = body["media_buy_id"].as_str().expect("a buy").to_owned();
        let package_ids =
            body["packages"].as_array().unwrap().iter().map(|p| p["package_id"].as_str().unwrap().to_owned()).collect();
        Campaign { media_buy_id, package_ids }
    }

    /// Step 6: the creatives, each assigned to its package.
    pub(crate) async fn sync_creatives(&self, agent: &Agent, plan: &Plan) {
        let creatives: Vec<Value> = plan
            .lines
            .iter()
            .map(|line| {
                json!({
                    "creative_id": line.creative_id,
                    "name": format!("TechCorp DevTool {}", line.format),
                    "format_id": {"agent_url": agent.public_url, "id": line.format},
                    "assets": line.assets,
                })
            })
            .collect();
        let assignments: Vec<Value> = plan
            .lines
            .iter()
            .zip(&self.package_ids)
            .map(|(line, package)| json!({"creative_id": line.creative_id, "package_id": package}))
            .collect();
        let body = agent
            .call(
                "sync_creatives",
                json!({"idempotency_key": key(), "account": account(), "creatives": creatives, "assignments": assignments}),
            )
            .await;
        for item in body["creatives"].as_array().unwrap() {
            assert_eq!(item["status"], "approved", "{item}");
        }
    }

    /// Waits until the booking worker has brought the ad server in step with the buy; the
    /// buy's `ext.ad_server` as it then stands.
    pub(crate) async fn booked(&self, agent: &Agent) -> Value {
        let deadline = tokio::time::Instant::now() + BOOKED_WITHIN;
        loop {
            let state = self.buy(agent).await["ext"]["ad_server"].clone();
            if state["in_sync"] == true {
                return state;
            }
            assert!(state.get("refused") != Some(&json!(true)), "the ad server refused: {state}");
            assert!(tokio::time::Instant::now() < deadline, "not booked within {BOOKED_WITHIN:?}: {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn buy(&self, agent: &Agent) -> Value {
        let listed =
            agent.call("get_media_buys", json!({"account": account(), "media_buy_ids": [self.media_buy_id]})).await;
        listed["media_buys"][0].clone()
    }

    /// Step 7: delivery as the ad server reports it.
    pub(crate) async fn delivery(&self, agent: &Agent) -> Value {
        agent.call("get_media_buy_delivery", json!({"account": account(), "media_buy_ids": [self.media_buy_id]})).await
    }

    /// Step 7, against a real ad server: delivery once reconciliation has read the platform's
    /// report back and it shows `impressions` in all.
    pub(crate) async fn delivered(&self, agent: &Agent, impressions: f64) -> Value {
        let deadline = tokio::time::Instant::now() + BOOKED_WITHIN;
        loop {
            let delivery = self.delivery(agent).await;
            let buy = &delivery["media_buy_deliveries"][0];
            if buy["totals"]["impressions"].as_f64() == Some(impressions) {
                assert!(buy["ext"]["ad_server"]["reported_as_of"].is_string(), "{delivery}");
                return delivery;
            }
            assert!(tokio::time::Instant::now() < deadline, "not read back within {BOOKED_WITHIN:?}: {delivery}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Step 8 and on: one change of the buy at its current revision.
    pub(crate) async fn update(&self, agent: &Agent, change: Value) -> Value {
        let revision = self.buy(agent).await["revision"].clone();
        let mut request = json!({
            "idempotency_key": key(),
            "account": account(),
            "media_buy_id": self.media_buy_id,
            "revision": revision,
        });
        request.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        agent.call("update_media_buy", request).await
    }
}
