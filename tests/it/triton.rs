//! The Triton adapter (experimental) against a local fake of TAP and Triton's Login API that
//! checks every request: the login's credentials, the bearer JWT, JSON bodies with the fields a
//! campaign and a flight need, and the configured paths (here under `/tap`). Covers booking a
//! buy through the outbox, approval, pause, resume, budget change and cancel, a failure in the
//! middle of a create, rate limits, a revoked token, refused credentials, refusals, 5xx and
//! malformed answers, delivery from the flights' daily metrics, and dry-run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use sales_agent::adapters::http::RateLimitRetry;
use sales_agent::adapters::triton::{Triton, TritonPaths, TritonProduct, TritonSettings};
use sales_agent::core::booking::{SyncOutcome, sync_due};
use sales_agent::core::buying::{self, Mutation, PackageUpdate, UpdateMediaBuy};
use sales_agent::core::delivery::{DeliveryQuery, get_media_buy_delivery};
use sales_agent::core::media_buy::{MediaBuy, MediaBuyStatus, StartTime};
use sales_agent::core::ports::Store;
use sales_agent::mcp::wire_tasks::Deferred;
use sales_agent::store::Db;
use serde_json::{Value, json};

use crate::delivery::{Demo, demo, techcorp_buy, update};
use crate::support;

const USER: &str = "ops@publisher.example";
const PASSWORD: &str = "triton-test-password";
const PRODUCT: &str = "prod-audio-001";

#[derive(Debug, Clone)]
struct Fault {
    method: Method,
    prefix: &'static str,
    skip: usize,
    status: u16,
    body: &'static str,
}

#[derive(Debug, Default)]
struct Fake {
    next_id: i64,
    advertisers: Vec<Value>,
    campaigns: Vec<Value>,
    flights: Vec<Value>,
    creatives: Vec<Value>,
    logins: usize,
    token: Option<String>,
    revoke_next: bool,
    calls: Vec<String>,
    violations: Vec<String>,
    faults: VecDeque<Fault>,
    metrics: HashMap<String, Value>,
    /// The metrics asked for: `<flight> <query>`.
    metrics_asked: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn jwt(exp: i64, n: usize) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.signature-{n}", part(json!({"alg": "RS256", "typ": "JWT"})), part(json!({"sub": USER, "exp": exp})))
}

async fn login(State(shared): State<Shared>, body: Bytes) -> Response {
    let mut fake = shared.lock().unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if body != json!({"username": USER, "password": PASSWORD}) {
        return answer(401, json!({"error": "invalid credentials"}));
    }
    fake.logins += 1;
    let token = jwt(t0().timestamp() + 86_400, fake.logins);
    fake.token = Some(token.clone());
    answer(200, json!({"access_token": token}))
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

fn decoded(text: &str) -> String {
    text.replace("%3A", ":")
}

fn require(fake: &mut Fake, what: &str, body: &Value, fields: &[&str]) -> bool {
    let missing: Vec<&str> = fields.iter().copied().filter(|f| body.get(*f).is_none_or(Value::is_null)).collect();
    if !missing.is_empty() {
        fake.violations.push(format!("{what}: missing {missing:?} in {body}"));
    }
    missing.is_empty()
}

async fn tap(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = shared.lock().unwrap();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    fake.calls.push(format!("{method} {path}"));
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if fake.token.as_ref().is_none_or(|t| bearer != format!("Bearer {t}")) {
        return answer(401, json!({"error": "invalid token"}));
    }
    if fake.revoke_next {
        fake.revoke_next = false;
        fake.token = None;
        return answer(401, json!({"error": "token expired"}));
    }
    let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or_default() };
    if let Some(index) = fake.faults.iter().position(|f| f.method == method && path.starts_with(f.prefix)) {
        if fake.faults[index].skip == 0 {
            let fault = fake.faults.remove(index).unwrap();
            return (StatusCode::from_u16(fault.status).unwrap(), fault.body.to_owned()).into_response();
        }
        fake.faults[index].skip -= 1;
    }
    let segments: Vec<String> = path.trim_start_matches('/').split('/').map(str::to_owned).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let code = param(&query, "externalCode").map(decoded);
    let with_code = |items: &[Value]| -> Value {
        json!({"items": items.iter().filter(|i| code.is_none() || i["externalCode"].as_str() == code.as_deref()).cloned().collect::<Vec<_>>()})
    };
    let made = |fake: &mut Fake, mut object: Value| {
        fake.next_id += 1;
        object["id"] = format!("T{}", fake.next_id).into();
        object
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["tap", "advertisers"]) => answer(200, with_code(&fake.advertisers)),
        ("POST", ["tap", "advertisers"]) => {
            let object = made(&mut fake, body);
            if require(&mut fake, "advertiser", &object, &["name", "externalCode"]) {
                fake.advertisers.push(object.clone());
            }
            answer(201, object)
        }
        ("GET", ["tap", "advertisers", advertiser, "campaigns"]) => {
            let mine: Vec<Value> =
                fake.campaigns.iter().filter(|c| c["advertiserId"] == *advertiser).cloned().collect();
            answer(200, with_code(&mine))
        }
        ("POST", ["tap", "advertisers", advertiser, "campaigns"]) => {
            if !fake.advertisers.iter().any(|a| a["id"] == *advertiser) {
                return answer(404, json!({"message": "no such advertiser"}));
            }
            let mut object = made(&mut fake, body);
            object["advertiserId"] = (*advertiser).into();
            require(&mut fake, "campaign", &object, &["name", "externalCode", "startDate", "endDate", "status"]);
            if object["status"] != "Draft" {
                fake.violations.push("a campaign is made Draft".into());
            }
            fake.campaigns.push(object.clone());
            answer(201, object)
        }
        ("PATCH", ["tap", "campaigns", id]) => {
            let Some(slot) = fake.campaigns.iter_mut().find(|c| c["id"] == *id) else {
                return answer(404, json!({"message": "no such campaign"}));
            };
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                slot[k] = v;
            }
            answer(200, slot.clone())
        }
        ("GET", ["tap", "campaigns", id]) => match fake.campaigns.iter().find(|c| c["id"] == *id) {
            Some(campaign) => answer(200, campaign.clone()),
            None => answer(404, json!({"message": "no such campaign"})),
        },
        ("GET", ["tap", "campaigns", campaign, "flights"]) => {
            let mine: Vec<Value> = fake.flights.iter().filter(|f| f["campaignId"] == *campaign).cloned().collect();
            answer(200, with_code(&mine))
        }
        ("POST", ["tap", "campaigns", campaign, "flights"]) => {
            if !fake.campaigns.iter().any(|c| c["id"] == *campaign) {
                return answer(404, json!({"message": "no such campaign"}));
            }
            let fields =
                ["name", "externalCode", "startDate", "endDate", "rateType", "rate", "goal", "status", "budget"];
            if !require(&mut fake, "flight", &body, &fields) {
                return answer(400, json!({"message": "required flight fields missing"}));
            }
            let mut object = made(&mut fake, body);
            object["campaignId"] = (*campaign).into();
            fake.flights.push(object.clone());
            answer(201, object)
        }
        ("PATCH", ["tap", "flights", id]) => {
            let Some(slot) = fake.flights.iter_mut().find(|f| f["id"] == *id) else {
                return answer(404, json!({"message": "no such flight"}));
            };
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                slot[k] = v;
            }
            answer(200, slot.clone())
        }
        ("GET", ["tap", "flights", flight, "creatives"]) => {
            let mine: Vec<Value> = fake.creatives.iter().filter(|c| c["flightId"] == *flight).cloned().collect();
            answer(200, json!({"items": mine}))
        }
        ("POST", ["tap", "flights", flight, "creatives"]) => {
            if !require(&mut fake, "creative", &body, &["name", "externalCode", "type", "url", "status"]) {
                return answer(400, json!({"message": "required creative fields missing"}));
            }
            let mut object = made(&mut fake, body);
            object["flightId"] = (*flight).into();
            fake.creatives.push(object.clone());
            answer(201, object)
        }
        ("PATCH", ["tap", "flights", flight, "creatives", id]) => {
            let Some(slot) = fake.creatives.iter_mut().find(|c| c["id"] == *id && c["flightId"] == *flight) else {
                return answer(404, json!({"message": "no such creative"}));
            };
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                slot[k] = v;
            }
            answer(200, slot.clone())
        }
        ("GET", ["tap", "flights", id, "metrics"]) => {
            let (Some(start), Some(end)) = (param(&query, "startDate"), param(&query, "endDate")) else {
                fake.violations.push("metrics without dates".into());
                return answer(400, json!({"message": "startDate and endDate are required"}));
            };
            fake.metrics_asked.push(format!("{id} {query}"));
            if !fake.flights.iter().any(|f| f["id"] == *id) {
                fake.violations.push(format!("metrics of unknown flight {id}"));
                return answer(404, json!({"message": "no such flight"}));
            }
            // The days from startDate to endDate.
            let items: Vec<Value> = fake
                .metrics
                .get(*id)
                .and_then(|m| m["items"].as_array())
                .into_iter()
                .flatten()
                .filter(|row| row["date"].as_str().is_some_and(|d| start <= d && d <= end))
                .cloned()
                .collect();
            answer(200, json!({"items": items}))
        }
        _ => {
            fake.violations.push(format!("unknown call {method} {path}"));
            answer(404, json!({"message": "not found"}))
        }
    }
}

struct Server {
    url: String,
    fake: Shared,
}

impl Server {
    async fn start() -> Server {
        let fake: Shared = Arc::default();
        let app = Router::new().route("/login", axum::routing::post(login)).fallback(tap).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, fake }
    }

    fn fake(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap()
    }

    fn triton(&self, password: &str, dry_run: bool) -> Triton {
        Triton::new(self.settings(password, dry_run), Arc::new(support::FixedClock(t0() - chrono::Duration::days(1))))
            .unwrap()
    }

    fn settings(&self, password: &str, dry_run: bool) -> TritonSettings {
        let defaults = TritonPaths::default();
        let under = |p: String| format!("/tap{p}");
        let mut products = HashMap::new();
        products.insert(PRODUCT.to_owned(), TritonProduct { station_ids: vec!["WXYZ-FM".into(), "KABC-AM".into()] });
        TritonSettings {
            base_url: self.url.clone(),
            login_url: format!("{}/login", self.url),
            username: USER.into(),
            password: password.into(),
            paths: TritonPaths {
                advertisers: under(defaults.advertisers),
                advertiser_campaigns: under(defaults.advertiser_campaigns),
                campaign: under(defaults.campaign),
                campaign_flights: under(defaults.campaign_flights),
                flight: under(defaults.flight),
                flight_metrics: under(defaults.flight_metrics),
                flight_creatives: under(defaults.flight_creatives),
                flight_creative: under(defaults.flight_creative),
            },
            products,
            dry_run,
            retry: RateLimitRetry { attempts: 4, base: Duration::from_millis(1), cap: Duration::from_millis(5) },
        }
    }

    fn no_violations(&self) {
        let fake = self.fake();
        assert!(fake.violations.is_empty(), "requests the fake refused: {:#?}", fake.violations);
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

fn audio_package(budget: f64) -> sales_agent::core::media_buy::PackageRequest {
    sales_agent::core::media_buy::PackageRequest::new(PRODUCT, "cpm_guaranteed", budget)
}

async fn create(db: &Db, demo: &Demo, budgets: &[f64]) -> MediaBuy {
    let packages = budgets.iter().map(|b| audio_package(*b)).collect();
    let request = techcorp_buy(&demo.account, StartTime::At(t0()), t0() + chrono::Duration::days(30), packages);
    let at = t0() - chrono::Duration::days(1);
    buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(at, &Deferred))
        .await
        .unwrap()
        .into_buy()
        .unwrap()
}

fn flights_of(fake: &Fake, buy: &MediaBuy) -> Vec<Value> {
    buy.packages
        .iter()
        .map(|p| {
            let code = format!("adcp:{}:{}", buy.media_buy_id, p.package_id);
            let found: Vec<&Value> = fake.flights.iter().filter(|f| f["externalCode"] == code.as_str()).collect();
            assert_eq!(found.len(), 1, "one flight {code}");
            found[0].clone()
        })
        .collect()
}

fn campaign_of(fake: &Fake, buy: &MediaBuy) -> Value {
    let code = format!("adcp:{}", buy.media_buy_id);
    let found: Vec<&Value> = fake.campaigns.iter().filter(|c| c["externalCode"] == code.as_str()).collect();
    assert_eq!(found.len(), 1, "one campaign {code}");
    found[0].clone()
}

#[tokio::test]
async fn a_buy_is_booked_approved_paused_resumed_changed_and_canceled_in_triton() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let triton = server.triton(PASSWORD, false);
    let buy = create(db, &demo, &[3000.0, 2000.0]).await;
    let at = t0() - chrono::Duration::days(1);

    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert_eq!(outcomes, vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: 1, ops: 3 }]);
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(fake.logins, 1, "one login for every call");
        assert_eq!(fake.advertisers[0]["externalCode"], "techcorp.example");
        assert_eq!(campaign_of(&fake, &buy)["status"], "Approved");
        let flights = flights_of(&fake, &buy);
        assert!(flights.iter().all(|f| f["status"] == "Active"), "{flights:?}");
        assert_eq!(flights[0]["rateType"], "CPM");
        assert_eq!(flights[0]["budget"], 3000.0);
        assert_eq!(flights[0]["startDate"], "2026-04-01T00:00:00Z");
        assert_eq!(
            flights[0]["targetingRules"],
            json!({"type": "in", "dimension": "station", "values": ["WXYZ-FM", "KABC-AM"]})
        );
    }

    // Pause and raise a budget: the flights' fields and status PATCHed.
    let change = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        paused: Some(true),
        packages: vec![PackageUpdate {
            package_id: buy.packages[0].package_id.clone(),
            budget: Some(4500.0),
            ..PackageUpdate::default()
        }],
        ..UpdateMediaBuy::default()
    };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, change, at).await;
    sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        let flights = flights_of(&fake, &buy);
        assert!(flights.iter().all(|f| f["status"] == "Paused"), "{flights:?}");
        assert_eq!(flights[0]["budget"], 4500.0);
    }

    // Resume after the token was revoked (one fresh login), then cancel: flights back to Draft.
    server.fake().revoke_next = true;
    let resume =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(false), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, resume, at).await;
    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{outcomes:?}");
    assert_eq!(server.fake().logins, 2);
    assert!(flights_of(&server.fake(), &buy).iter().all(|f| f["status"] == "Active"));
    let cancel =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), cancel: Some(None), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, cancel, at).await;
    sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    assert!(flights_of(&server.fake(), &buy).iter().all(|f| f["status"] == "Draft"));
    assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Canceled);
}

#[tokio::test]
async fn failures_are_retried_without_duplicates_and_refusals_classified() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let triton = server.triton(PASSWORD, false);
    let at = t0() - chrono::Duration::days(1);

    // The second flight fails (503) after the first was made; a rate limit is retried in the call.
    let buy = create(db, &demo, &[3000.0, 2000.0]).await;
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/tap/advertisers",
        skip: 0,
        status: 429,
        body: "",
    });
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/tap/campaigns/",
        skip: 1,
        status: 503,
        body: "down",
    });
    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let [SyncOutcome::Retrying { next_attempt_at, .. }] = &outcomes[..] else { panic!("{outcomes:?}") };
    assert_eq!(db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap().booking.lines.len(), 1);
    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, *next_attempt_at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{outcomes:?}");
    {
        let fake = server.fake();
        assert_eq!((fake.advertisers.len(), fake.campaigns.len(), fake.flights.len()), (1, 1, 2), "nothing twice");
    }
    server.no_violations();

    // A malformed answer is transient.
    let buy = create(db, &demo, &[2000.0]).await;
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/tap/advertisers/",
        skip: 0,
        status: 200,
        body: "<html>",
    });
    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(
        matches!(&outcomes[..], [SyncOutcome::Retrying { media_buy_id, .. }] if *media_buy_id == buy.media_buy_id),
        "{outcomes:?}"
    );

    // A refusal names TAP's message; wrong credentials say so.
    let refused_buy = create(db, &demo, &[2000.0]).await;
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/tap/advertisers/",
        skip: 0,
        status: 422,
        body: r#"{"message":"endDate is before startDate"}"#,
    });
    let retried = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap().next_attempt_at;
    let outcomes = sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, retried).await.unwrap();
    let error = outcomes
        .iter()
        .find_map(|o| match o {
            SyncOutcome::Refused { media_buy_id, error }
                if *media_buy_id == buy.media_buy_id || *media_buy_id == refused_buy.media_buy_id =>
            {
                Some(error.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{outcomes:?}"));
    assert!(error.contains("endDate is before startDate"), "{error}");

    let wrong = server.triton("not-the-password", false);
    let buy = create(db, &demo, &[2000.0]).await;
    let outcomes = sync_due(db, &wrong, &Deferred, &demo.tenant, &demo.catalog, retried).await.unwrap();
    let error = outcomes
        .iter()
        .find_map(|o| match o {
            SyncOutcome::Refused { media_buy_id, error } if *media_buy_id == buy.media_buy_id => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{outcomes:?}"));
    assert!(error.contains("authentication failed") && !error.contains("not-the-password"), "{error}");
}

#[tokio::test]
async fn delivery_comes_from_the_flights_daily_metrics_and_dry_run_sends_nothing() {
    use sales_agent::core::reconcile::reconcile_due;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let triton = server.triton(PASSWORD, false);
    let buy = create(db, &demo, &[3000.0]).await;
    sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, t0() - chrono::Duration::days(1)).await.unwrap();
    let flight = flights_of(&server.fake(), &buy)[0]["id"].as_str().unwrap().to_owned();
    server.fake().metrics.insert(
        flight,
        json!({"items": [
            {"date": "2026-04-01", "impressions": 10000, "spend": 250.0, "completes": 9000},
            {"date": "2026-04-02", "impressions": 8000, "spend": 200.0, "completes": 7000},
        ]}),
    );
    let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
    let at = t0() + chrono::Duration::days(2) + chrono::Duration::hours(1);
    let recheck = chrono::Duration::minutes(5);
    reconcile_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, recheck, at).await.unwrap();
    server.no_violations();
    let platform = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap().platform.unwrap();
    assert_eq!((platform.platform.as_str(), platform.lines.len()), ("triton", 1), "{platform:?}");
    let asked = server.fake().metrics_asked.clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].ends_with("startDate=2026-04-01&endDate=2026-04-03"), "{asked:?}");
    let calls_before = server.fake().calls.len();
    let report =
        get_media_buy_delivery(db, &triton, &demo.catalog, &demo.tenant, &demo.principal, &query, at).await.unwrap();
    assert_eq!(server.fake().calls.len(), calls_before, "read from what reconciliation stored");
    let totals = &report.buys[0].packages[0].totals;
    assert_eq!((totals.impressions, totals.spend, totals.completed_views), (18000.0, 450.0, 16000.0));

    let dry = server.triton("no password needed", true);
    let calls_before = server.fake().calls.len();
    let buy = create(db, &demo, &[2000.0]).await;
    let outcomes = sync_due(db, &dry, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, SyncOutcome::Synced { media_buy_id, .. } if *media_buy_id == buy.media_buy_id))
    );
    reconcile_due(db, &dry, &Deferred, &demo.tenant, &demo.catalog, recheck, at + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(server.fake().calls.len(), calls_before, "a dry-run sends nothing");
    let rehearsal = sales_agent::adapters::Rehearsal::triton(&triton);
    sales_agent::core::booking::rehearse(rehearsal.ad_server.as_ref(), &buy, Default::default(), &Default::default())
        .await
        .unwrap();
    let calls = rehearsal.calls();
    assert!(
        calls[0].starts_with(&format!("GET {}/tap/advertisers?externalCode=techcorp.example", server.url)),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c.starts_with(&format!("POST {}/tap/campaigns/", server.url))), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains(PASSWORD)), "credentials never show");
}

#[tokio::test]
async fn approved_audio_creatives_play_on_the_flights() {
    use sales_agent::core::catalog::FormatId;
    use sales_agent::core::creative::{Creative, CreativeStatus};
    use sales_agent::core::media_buy::Verbatim;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let triton = server.triton(PASSWORD, false);
    let buy = create(db, &demo, &[3000.0]).await;
    let assign = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        packages: vec![PackageUpdate {
            package_id: buy.packages[0].package_id.clone(),
            creative_ids: Some(vec!["spot_1".into()]),
            ..PackageUpdate::default()
        }],
        ..UpdateMediaBuy::default()
    };
    let at = t0() - chrono::Duration::days(1);
    update(db, &demo, assign, at).await;
    let audio = demo.catalog.products.iter().find(|p| p.product_id.as_str() == PRODUCT).unwrap().format_ids[0].clone();
    let spot = Creative {
        creative_id: "spot_1".into(),
        tenant_id: "demo".into(),
        principal_id: demo.principal.principal_id.clone(),
        account_id: buy.account_id.clone(),
        name: "TechCorp spot".into(),
        format_id: FormatId { width: None, height: None, duration_ms: None, ..audio },
        assets: Verbatim(
            json!({"audio_file": {"url": "https://cdn.techcorp.example/spot.mp3", "duration_ms": 30000}}).to_string(),
        ),
        tags: vec![],
        status: CreativeStatus::Approved,
        rejection_reason: None,
        created_at: at,
        updated_at: at,
    };
    db.save_creatives(&[spot], &sales_agent::core::ports::Also::default()).await.unwrap();
    sync_due(db, &triton, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    let fake = server.fake();
    let flight = &flights_of(&fake, &buy)[0];
    assert_eq!(fake.creatives.len(), 1, "{:#?}", fake.creatives);
    let creative = &fake.creatives[0];
    assert_eq!(creative["flightId"], flight["id"]);
    assert_eq!(
        (&creative["externalCode"], &creative["type"], &creative["url"], &creative["durationMs"]),
        (&json!("adcp:spot_1"), &json!("AUDIO"), &json!("https://cdn.techcorp.example/spot.mp3"), &json!(30000))
    );
}

#[tokio::test]
async fn the_seed_004_lifecycle_runs_on_triton_with_audio() {
    use crate::lifecycle::{Agent, Campaign, audio_plan};
    use sales_agent::config::AdServerConfig;
    let server = Server::start().await;
    let agent = Agent::start(AdServerConfig::Triton(server.settings(PASSWORD, false))).await;
    let plan = audio_plan();
    let campaign = Campaign::create(&agent, &plan).await;
    campaign.booked(&agent).await;
    campaign.sync_creatives(&agent, &plan).await;
    campaign.booked(&agent).await;
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!((fake.campaigns.len(), fake.flights.len(), fake.creatives.len()), (1, 1, 1));
        assert_eq!(fake.creatives[0]["type"], "AUDIO");
    }
    // Delivery: the flight's daily metrics, read back by reconciliation.
    {
        let mut fake = server.fake();
        let flight = fake.flights[0]["id"].as_str().unwrap().to_owned();
        let today = chrono::Utc::now().date_naive().to_string();
        fake.metrics.insert(
            flight,
            json!({"items": [{"date": today, "impressions": 6000, "spend": 150.0, "completes": 5400}]}),
        );
    }
    let delivery = campaign.delivered(&agent, 6000.0).await;
    assert_eq!(delivery["media_buy_deliveries"][0]["totals"]["spend"].as_f64(), Some(150.0), "{delivery}");
    server.no_violations();
    let flight_status = |fake: &Fake| fake.flights[0]["status"].clone();
    campaign.update(&agent, json!({"paused": true})).await;
    campaign.booked(&agent).await;
    assert_eq!(flight_status(&server.fake()), "Paused");
    campaign.update(&agent, json!({"paused": false})).await;
    campaign.booked(&agent).await;
    assert_eq!(flight_status(&server.fake()), "Active");
    campaign.update(&agent, json!({"canceled": true, "cancellation_reason": "campaign ended early"})).await;
    campaign.booked(&agent).await;
    server.no_violations();
    assert_eq!(flight_status(&server.fake()), "Draft");
    agent.stop().await;
}
