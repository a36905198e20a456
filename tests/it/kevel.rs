//! The Kevel adapter against a local fake of Kevel's Management API that checks every request
//! (API key, JSON body, the documented required fields, whole objects on PUT with unknown fields
//! kept): booking a buy through the outbox, pause, resume, budget change and cancel, a failure in
//! the middle of a create, rate limits, refusals, 5xx and malformed answers, delivery from the
//! queued reporting API, and dry-run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use sales_agent::adapters::http::RateLimitRetry;
use sales_agent::adapters::kevel::{Kevel, KevelProduct, KevelSettings};
use sales_agent::core::booking::{SyncOutcome, sync_due};
use sales_agent::core::buying::{self, Mutation, PackageUpdate, UpdateMediaBuy};
use sales_agent::core::delivery::{DeliveryQuery, get_media_buy_delivery};
use sales_agent::core::media_buy::{MediaBuy, MediaBuyStatus, StartTime};
use sales_agent::core::ports::Store;
use sales_agent::mcp::wire_tasks::Deferred;
use sales_agent::store::Db;
use serde_json::{Map, Value, json};

use crate::delivery::{Demo, demo, display_package, image_creative, techcorp_buy, update};
use crate::support;

const KEY: &str = "kevel-test-key";
const PRIORITY: i64 = 7;

/// A scripted failure: the `skip`+1-th request matching method and path prefix gets `status`
/// and `body` instead of its answer.
#[derive(Debug, Clone)]
struct Fault {
    method: Method,
    prefix: &'static str,
    skip: usize,
    status: u16,
    body: &'static str,
    retry_after: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Fake {
    next_id: i64,
    advertisers: Vec<Value>,
    campaigns: Vec<Value>,
    flights: Vec<Value>,
    creatives: Vec<Value>,
    ads: Vec<Value>,
    /// `METHOD /path?query`, in order.
    calls: Vec<String>,
    bodies: Vec<(String, Value)>,
    violations: Vec<String>,
    faults: VecDeque<Fault>,
    /// What Kevel delivered: report day records (`Date`, `Details` by flight).
    report_records: Vec<Value>,
    /// The last queued report's records.
    report_result: Vec<Value>,
    report_polls: usize,
}

type Shared = Arc<Mutex<Fake>>;

fn answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn paged(items: Vec<Value>, query: &str) -> Value {
    let page: usize = param(query, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = param(query, "pageSize").and_then(|p| p.parse().ok()).unwrap_or(500);
    let pages = items.len().div_ceil(size).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * size).take(size).collect();
    json!({"page": page, "pageSize": size, "totalPages": pages, "totalItems": slice.len(), "items": slice})
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

fn require(fake: &mut Fake, what: &str, body: &Value, fields: &[&str]) -> bool {
    let missing: Vec<&str> = fields.iter().copied().filter(|f| body.get(*f).is_none_or(Value::is_null)).collect();
    if missing.is_empty() {
        return true;
    }
    fake.violations.push(format!("{what}: missing {missing:?} in {body}"));
    false
}

async fn kevel(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = shared.lock().unwrap();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    fake.calls.push(format!("{method} {path}{}", if query.is_empty() { String::new() } else { format!("?{query}") }));
    if headers.get("X-Adzerk-ApiKey").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return answer(403, json!({"Error": "API key is not valid for any network"}));
    }
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
            fake.violations.push(format!("{method} {path}: body is not application/json"));
        }
        match serde_json::from_slice(&body) {
            Ok(value) => Some(value),
            Err(e) => {
                fake.violations.push(format!("{method} {path}: body is not JSON: {e}"));
                return answer(400, json!({"Error": "invalid JSON"}));
            }
        }
    };
    if let Some(body) = &body {
        fake.bodies.push((format!("{method} {path}"), body.clone()));
    }
    if let Some(index) = fake.faults.iter().position(|f| f.method == method && path.starts_with(f.prefix)) {
        if fake.faults[index].skip == 0 {
            let fault = fake.faults.remove(index).unwrap();
            let mut response = (StatusCode::from_u16(fault.status).unwrap(), fault.body.to_owned()).into_response();
            if let Some(after) = fault.retry_after {
                response.headers_mut().insert("retry-after", after.parse().unwrap());
            }
            return response;
        }
        fake.faults[index].skip -= 1;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let id_at = |i: usize| segments.get(i).and_then(|s| s.parse::<i64>().ok());
    let made = |fake: &mut Fake, mut object: Value| {
        fake.next_id += 1;
        object["Id"] = fake.next_id.into();
        object["Foo"] = "kept by GET-merge-PUT".into();
        object
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "advertiser"]) => answer(200, paged(fake.advertisers.clone(), &query)),
        ("POST", ["v1", "advertiser"]) => {
            let body = body.unwrap_or_default();
            if !require(&mut fake, "advertiser", &body, &["Title", "IsActive"]) {
                return answer(400, json!({"Error": "Title and IsActive are required"}));
            }
            let object = made(&mut fake, body);
            fake.advertisers.push(object.clone());
            answer(200, object)
        }
        ("GET", ["v1", "campaign"]) => {
            let advertiser: Option<i64> = param(&query, "advertiserId").and_then(|a| a.parse().ok());
            let mine = fake.campaigns.iter().filter(|c| c["AdvertiserId"].as_i64() == advertiser).cloned().collect();
            answer(200, paged(mine, &query))
        }
        ("POST", ["v1", "campaign"]) => {
            let body = body.unwrap_or_default();
            if !require(&mut fake, "campaign", &body, &["AdvertiserId", "Name"]) {
                return answer(400, json!({"Error": "AdvertiserId and Name are required"}));
            }
            for read_only in ["StartDateISO", "EndDateISO", "Price", "StartDate"] {
                if body.get(read_only).is_some() {
                    fake.violations.push(format!("campaign create sends read-only {read_only}"));
                }
            }
            if !fake.advertisers.iter().any(|a| a["Id"] == body["AdvertiserId"]) {
                return answer(400, json!({"Error": "unknown advertiser"}));
            }
            let object = made(&mut fake, body);
            fake.campaigns.push(object.clone());
            answer(200, object)
        }
        ("GET", ["v1", "campaign", _]) => match fake.campaigns.iter().find(|c| c["Id"].as_i64() == id_at(2)) {
            Some(campaign) => answer(200, campaign.clone()),
            None => answer(404, json!({"Error": "no such campaign"})),
        },
        ("GET", ["v1", "campaign", _, "flight"]) => {
            let mine = fake.flights.iter().filter(|f| f["CampaignId"].as_i64() == id_at(2)).cloned().collect();
            answer(200, paged(mine, &query))
        }
        ("PUT", ["v1", "campaign", _]) => {
            let body = body.unwrap_or_default();
            require(&mut fake, "campaign update", &body, &["Id", "AdvertiserId", "Name", "IsActive", "Foo"]);
            if body["Id"].as_i64() != id_at(2) {
                fake.violations.push("campaign PUT: Id differs from the path".into());
            }
            let Some(slot) = fake.campaigns.iter_mut().find(|c| c["Id"].as_i64() == id_at(2)) else {
                return answer(404, json!({"Error": "no such campaign"}));
            };
            *slot = body.clone();
            answer(200, body)
        }
        ("POST", ["v1", "flight"]) => {
            let body = body.unwrap_or_default();
            let required = [
                "Name",
                "CampaignId",
                "StartDateISO",
                "EndDateISO",
                "PriorityId",
                "GoalType",
                "Impressions",
                "IsActive",
                "RateType",
            ];
            if !require(&mut fake, "flight", &body, &required) {
                return answer(400, json!({"Error": "required flight fields missing"}));
            }
            cap_pairs(&mut fake, &body);
            if !fake.campaigns.iter().any(|c| c["Id"] == body["CampaignId"]) {
                return answer(400, json!({"Error": "unknown campaign"}));
            }
            let object = made(&mut fake, body);
            fake.flights.push(object.clone());
            answer(200, object)
        }
        ("GET", ["v1", "flight", _]) => match fake.flights.iter().find(|f| f["Id"].as_i64() == id_at(2)) {
            Some(flight) => answer(200, flight.clone()),
            None => answer(404, json!({"Error": "no such flight"})),
        },
        ("PUT", ["v1", "flight", _]) => {
            let body = body.unwrap_or_default();
            let required = [
                "Id",
                "Name",
                "StartDateISO",
                "CampaignId",
                "PriorityId",
                "GoalType",
                "Impressions",
                "IsActive",
                "Foo",
            ];
            require(&mut fake, "flight update", &body, &required);
            cap_pairs(&mut fake, &body);
            let Some(slot) = fake.flights.iter_mut().find(|f| f["Id"].as_i64() == id_at(2)) else {
                return answer(404, json!({"Error": "no such flight"}));
            };
            *slot = body.clone();
            answer(200, body)
        }
        ("GET", ["v1", "advertiser", _, "creatives"]) => {
            let mine = fake.creatives.iter().filter(|c| c["AdvertiserId"].as_i64() == id_at(2)).cloned().collect();
            answer(200, paged(mine, &query))
        }
        ("POST", ["v1", "creative"]) => {
            let body = body.unwrap_or_default();
            if !require(&mut fake, "creative", &body, &["AdvertiserId", "AdTypeId", "IsActive", "Title"]) {
                return answer(400, json!({"Error": "AdvertiserId, AdTypeId and IsActive are required"}));
            }
            let object = made(&mut fake, body);
            fake.creatives.push(object.clone());
            answer(200, object)
        }
        ("GET", ["v1", "creative", _]) => match fake.creatives.iter().find(|c| c["Id"].as_i64() == id_at(2)) {
            Some(creative) => answer(200, creative.clone()),
            None => answer(404, json!({"Error": "no such creative"})),
        },
        ("PUT", ["v1", "creative", _]) => {
            let body = body.unwrap_or_default();
            require(&mut fake, "creative update", &body, &["Id", "AdvertiserId", "AdTypeId", "Foo"]);
            let Some(slot) = fake.creatives.iter_mut().find(|c| c["Id"].as_i64() == id_at(2)) else {
                return answer(404, json!({"Error": "no such creative"}));
            };
            *slot = body.clone();
            answer(200, body)
        }
        ("GET", ["v1", "flight", _, "creatives"]) => {
            let mine = fake.ads.iter().filter(|a| a["FlightId"].as_i64() == id_at(2)).cloned().collect();
            answer(200, paged(mine, &query))
        }
        ("POST", ["v1", "flight", _, "creative"]) => {
            let body = body.unwrap_or_default();
            require(&mut fake, "ad", &body, &["Creative", "FlightId", "CampaignId", "IsActive"]);
            if body["FlightId"].as_i64() != id_at(2) {
                fake.violations.push("ad: FlightId differs from the path".into());
            }
            if !fake.creatives.iter().any(|c| c["Id"] == body["Creative"]["Id"]) {
                return answer(400, json!({"Error": "unknown creative"}));
            }
            let object = made(&mut fake, body);
            fake.ads.push(object.clone());
            answer(200, object)
        }
        ("GET", ["v1", "ad", _]) => match fake.ads.iter().find(|a| a["Id"].as_i64() == id_at(2)) {
            Some(ad) => answer(200, ad.clone()),
            None => answer(404, json!({"Error": "no such ad"})),
        },
        ("PUT", ["v1", "flight", _, "creative", _]) => {
            let body = body.unwrap_or_default();
            require(&mut fake, "ad update", &body, &["Id", "Creative", "FlightId", "IsActive", "Foo"]);
            let Some(slot) = fake.ads.iter_mut().find(|a| a["Id"].as_i64() == id_at(4)) else {
                return answer(404, json!({"Error": "no such ad"}));
            };
            *slot = body.clone();
            answer(200, body)
        }
        ("POST", ["v1", "report", "queue"]) => {
            let body = body.unwrap_or_default();
            require(&mut fake, "report", &body, &["StartDateISO", "EndDateISO", "GroupBy", "Parameters"]);
            let campaign = body.pointer("/Parameters/0/campaignId").and_then(Value::as_i64);
            if !fake.campaigns.iter().any(|c| c["Id"].as_i64().is_some_and(|id| Some(id) == campaign)) {
                fake.violations.push(format!("report of unknown campaign {campaign:?}"));
                return answer(400, json!({"Error": "no such campaign"}));
            }
            // The report holds the days from StartDateISO to EndDateISO.
            let day = |key: &str| body[key].as_str().and_then(|d| d.get(..10)).map(str::to_owned);
            let (Some(start), Some(end)) = (day("StartDateISO"), day("EndDateISO")) else {
                fake.violations.push("report dates are not ISO dates".into());
                return answer(400, json!({"Error": "bad dates"}));
            };
            let records = fake
                .report_records
                .iter()
                .filter(|r| {
                    r["Date"]
                        .as_str()
                        .and_then(|d| d.get(..10))
                        .is_some_and(|d| start.as_str() <= d && d <= end.as_str())
                })
                .cloned()
                .collect();
            fake.report_result = records;
            fake.report_polls = 0;
            answer(200, json!({"Id": "a87ece06-28cd-4267-9314-e830af7eaa12"}))
        }
        ("GET", ["v1", "report", "queue", _]) => {
            fake.report_polls += 1;
            if fake.report_polls == 1 {
                return answer(200, json!({"Id": segments[3], "Status": 1, "Message": null, "Result": null}));
            }
            let records = fake.report_result.clone();
            answer(200, json!({"Id": segments[3], "Status": 2, "Result": {"Records": records}}))
        }
        _ => {
            fake.violations.push(format!("unknown call {method} {path}"));
            answer(404, json!({"Error": "not found"}))
        }
    }
}

/// Kevel wants `XCapAmount` to be `XCapAmountDecimal` rounded up.
fn cap_pairs(fake: &mut Fake, body: &Value) {
    for cap in ["LifetimeCap", "DailyCap"] {
        let decimal = body.get(format!("{cap}AmountDecimal")).and_then(Value::as_f64);
        let whole = body.get(format!("{cap}Amount")).and_then(Value::as_i64);
        if decimal.map(|d| d.ceil() as i64) != whole {
            fake.violations.push(format!("{cap}Amount {whole:?} is not {cap}AmountDecimal {decimal:?} rounded up"));
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
        let app = Router::new().fallback(kevel).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, fake }
    }

    fn fake(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap()
    }

    fn kevel(&self, key: &str, dry_run: bool) -> Kevel {
        Kevel::new(self.settings(key, dry_run)).unwrap()
    }

    fn settings(&self, key: &str, dry_run: bool) -> KevelSettings {
        let mut products = std::collections::HashMap::new();
        products.insert(
            "prod-tech-display-001".to_owned(),
            KevelProduct { priority_id: Some(PRIORITY), site_zones: vec![(11, Some(22))] },
        );
        KevelSettings {
            base_url: self.url.clone(),
            api_key: key.to_owned(),
            default_priority_id: 1,
            products,
            ad_types: [((300, 250), 5), ((728, 90), 4), ((160, 600), 6)].into_iter().collect(),
            dry_run,
            retry: RateLimitRetry { attempts: 4, base: Duration::from_millis(1), cap: Duration::from_millis(5) },
            report_wait: Duration::from_secs(5),
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

async fn create(db: &Db, demo: &Demo, budgets: &[f64]) -> MediaBuy {
    let packages = budgets.iter().map(|b| display_package(*b)).collect();
    let request = techcorp_buy(&demo.account, StartTime::Asap, t0() + chrono::Duration::days(30), packages);
    buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(t0(), &Deferred))
        .await
        .unwrap()
        .into_buy()
        .unwrap()
}

fn campaign_of(fake: &Fake, media_buy_id: &str) -> Value {
    let name = format!("adcp:{media_buy_id}");
    let found: Vec<&Value> = fake.campaigns.iter().filter(|c| c["Name"] == name.as_str()).collect();
    assert_eq!(found.len(), 1, "one campaign named {name}: {:#?}", fake.campaigns);
    found[0].clone()
}

fn flight_of(fake: &Fake, media_buy_id: &str, package_id: &str) -> Map<String, Value> {
    let name = format!("adcp:{media_buy_id}:{package_id}");
    let found: Vec<&Value> = fake.flights.iter().filter(|f| f["Name"] == name.as_str()).collect();
    assert_eq!(found.len(), 1, "one flight named {name}");
    found[0].as_object().unwrap().clone()
}

#[tokio::test]
async fn a_buy_is_booked_paused_resumed_changed_and_canceled_in_kevel() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);
    let buy = create(db, &demo, &[5000.0, 2000.0]).await;

    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    assert_eq!(outcomes, vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: 1, ops: 3 }]);
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(fake.advertisers.len(), 1);
        assert_eq!(fake.advertisers[0]["ExternalId"], "techcorp.example");
        let campaign = campaign_of(&fake, &buy.media_buy_id);
        assert_eq!(
            (campaign["IsActive"].clone(), campaign["AdvertiserId"].clone()),
            (json!(true), fake.advertisers[0]["Id"].clone())
        );
        let flight = flight_of(&fake, &buy.media_buy_id, &buy.packages[0].package_id);
        let expected = json!({
            "CampaignId": campaign["Id"], "PriorityId": PRIORITY, "GoalType": 1, "RateType": 2, "Price": 12.5,
            "Impressions": 400000, "CapType": 4, "LifetimeCapAmount": 5000, "LifetimeCapAmountDecimal": 5000.0,
            "IsActive": true, "IsArchived": false, "IsDeleted": false,
            "StartDateISO": "2026-04-01T00:00:00Z", "EndDateISO": "2026-05-01T00:00:00Z",
            "SiteZoneTargeting": [{"SiteId": 11, "ZoneId": 22, "IsExcluded": false}],
        });
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(flight.get(field), Some(value), "flight field {field}: {flight:?}");
        }
        assert_eq!(fake.flights.len(), 2);
    }
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    assert!(record.in_sync());

    // Pause the buy and raise the first package's budget: one flight update, one campaign update,
    // each a GET then a PUT of the whole object (Kevel's own fields come back untouched).
    let first = buy.packages[0].package_id.clone();
    let change = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        paused: Some(true),
        packages: vec![PackageUpdate { package_id: first.clone(), budget: Some(7500.0), ..PackageUpdate::default() }],
        ..UpdateMediaBuy::default()
    };
    let at = t0() + chrono::Duration::hours(1);
    update(db, &demo, change, at).await;
    server.fake().calls.clear();
    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { revision: 2, .. }]), "{outcomes:?}");
    server.no_violations();
    {
        let fake = server.fake();
        let campaign = campaign_of(&fake, &buy.media_buy_id);
        let flight = flight_of(&fake, &buy.media_buy_id, &first);
        assert_eq!(campaign["IsActive"], false);
        assert_eq!(campaign["Foo"], "kept by GET-merge-PUT");
        assert_eq!(
            (flight["LifetimeCapAmountDecimal"].clone(), flight["Impressions"].clone()),
            (json!(7500.0), json!(600000))
        );
        assert_eq!(flight["Foo"], "kept by GET-merge-PUT");
        let flight_id = flight["Id"].as_i64().unwrap();
        let campaign_id = campaign["Id"].as_i64().unwrap();
        assert_eq!(
            fake.calls,
            vec![
                format!("GET /v1/campaign/{campaign_id}"),
                format!("PUT /v1/campaign/{campaign_id}"),
                format!("GET /v1/flight/{flight_id}?excludeAds=true"),
                format!("PUT /v1/flight/{flight_id}"),
                format!("GET /v1/flight/{flight_id}/creatives?page=1&pageSize=500"),
            ],
            "stop first, then the line and its ads"
        );
    }

    // Resume, then cancel: IsActive back on, then off and archived (Kevel deletes nothing).
    let resume =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(false), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, resume, at).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert_eq!(campaign_of(&server.fake(), &buy.media_buy_id)["IsActive"], true);
    let cancel =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), cancel: Some(None), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, cancel, at).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    let campaign = campaign_of(&server.fake(), &buy.media_buy_id);
    assert_eq!((campaign["IsActive"].clone(), campaign["IsArchived"].clone()), (json!(false), json!(true)));
    assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Canceled);
}

#[tokio::test]
async fn a_failure_in_the_middle_of_a_create_is_resumed_without_duplicates() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);
    let buy = create(db, &demo, &[3000.0, 2000.0, 1000.0]).await;
    // The third flight's create fails on Kevel's side.
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/v1/flight",
        skip: 2,
        status: 503,
        body: r#"{"Error":"temporarily unavailable"}"#,
        retry_after: None,
    });
    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    let [SyncOutcome::Retrying { attempts: 1, next_attempt_at, error, .. }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert!(error.contains("503"), "{error}");
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    assert!(record.booking.order_id.is_some());
    assert_eq!(record.booking.lines.len(), 2, "what was made is recorded at once");
    assert_eq!(server.fake().flights.len(), 2);

    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, *next_attempt_at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{outcomes:?}");
    let fake = server.fake();
    assert_eq!((fake.campaigns.len(), fake.flights.len(), fake.advertisers.len()), (1, 3, 1), "nothing booked twice");
    drop(fake);
    server.no_violations();
}

#[tokio::test]
async fn rate_limits_are_retried_and_errors_classified() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);

    // Two 429s (one with Retry-After) and the call goes through on the third try.
    let buy = create(db, &demo, &[5000.0]).await;
    for retry_after in [Some("0"), None] {
        server.fake().faults.push_back(Fault {
            method: Method::POST,
            prefix: "/v1/campaign",
            skip: 0,
            status: 429,
            body: "",
            retry_after,
        });
    }
    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    assert!(
        matches!(&outcomes[..], [SyncOutcome::Synced { media_buy_id, .. }] if *media_buy_id == buy.media_buy_id),
        "{outcomes:?}"
    );
    assert_eq!(server.fake().calls.iter().filter(|c| c.as_str() == "POST /v1/campaign").count(), 3);
    server.no_violations();

    // A 5xx and a malformed answer are transient; the booking retries later.
    for (status, body) in [(500, "oops"), (200, "this is not JSON")] {
        let buy = create(db, &demo, &[5000.0]).await;
        server.fake().faults.push_back(Fault {
            method: Method::POST,
            prefix: "/v1/campaign",
            skip: 0,
            status,
            body,
            retry_after: None,
        });
        let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
        assert!(
            matches!(&outcomes[..], [SyncOutcome::Retrying { media_buy_id, .. }] if *media_buy_id == buy.media_buy_id),
            "{status}: {outcomes:?}"
        );
        let retried = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        let outcomes =
            sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, retried.next_attempt_at).await.unwrap();
        assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{status} then fine: {outcomes:?}");
    }

    // A wrong API key is a refusal: nothing was booked, so the seller rejects the buy.
    let refused = server.kevel("not-the-key", false);
    let buy = create(db, &demo, &[5000.0]).await;
    let outcomes = sync_due(db, &refused, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    let [SyncOutcome::Refused { error, .. }] = &outcomes[..] else { panic!("{outcomes:?}") };
    assert!(error.contains("authentication failed") && error.contains("API key is not valid"), "{error}");
    let status = db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status;
    assert!(matches!(status, MediaBuyStatus::Rejected | MediaBuyStatus::Canceled), "{status:?}");

    // A refusal of the payload names Kevel's message.
    let buy = create(db, &demo, &[5000.0]).await;
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/v1/campaign",
        skip: 0,
        status: 400,
        body: r#"{"Error":"Name is too long"}"#,
        retry_after: None,
    });
    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    let refusal = outcomes.iter().find_map(|outcome| match outcome {
        SyncOutcome::Refused { media_buy_id, error } if *media_buy_id == buy.media_buy_id => Some(error),
        _ => None,
    });
    let error = refusal.unwrap_or_else(|| panic!("{outcomes:?}"));
    assert!(error.contains("Name is too long"), "{error}");
}

#[tokio::test]
async fn reconciliation_reads_delivery_back_from_the_queued_report() {
    use sales_agent::core::reconcile::{Reconciled, reconcile_due};
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);
    let buy = create(db, &demo, &[5000.0, 2000.0]).await;
    let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
    let at = t0() + chrono::Duration::days(5) + chrono::Duration::hours(12);
    let recheck = chrono::Duration::minutes(5);
    let (server_ref, demo_ref, query_ref) = (&kevel, &demo, &query);
    let read = move |at| async move {
        let Demo { catalog, tenant, principal, .. } = demo_ref;
        get_media_buy_delivery(db, server_ref, catalog, tenant, principal, query_ref, at).await.unwrap()
    };

    // Not booked yet: nothing delivered, and Kevel is not asked.
    assert_eq!(read(at).await.buys[0].packages[0].totals.impressions, 0.0);
    assert!(reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, at).await.unwrap().is_empty());
    assert!(server.fake().calls.is_empty());

    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    let (first, second) = {
        let fake = server.fake();
        let first = flight_of(&fake, &buy.media_buy_id, &buy.packages[0].package_id)["Id"].as_i64().unwrap();
        let second = flight_of(&fake, &buy.media_buy_id, &buy.packages[1].package_id)["Id"].as_i64().unwrap();
        (first, second)
    };
    let day = |date: &str, details: Value| json!({"Date": format!("{date}T00:00:00Z"), "Details": details});
    server.fake().report_records = vec![
        day(
            "2026-04-01",
            json!([{"Grouping": {"OptionId": first}, "Impressions": 40000, "Clicks": 40, "Revenue": 500.0},
                   {"Grouping": {"OptionId": second}, "Impressions": 5000, "Clicks": 5, "Revenue": 62.5}]),
        ),
        day(
            "2026-04-02",
            json!([{"Grouping": {"OptionId": first}, "Impressions": 30000, "Clicks": 30, "Revenue": 375.0}]),
        ),
        day(
            "2026-04-05",
            json!([{"Grouping": {"OptionId": first}, "Impressions": 1000, "Clicks": 1, "Revenue": 12.5}]),
        ),
    ];
    server.fake().calls.clear();
    reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, at).await.unwrap();
    server.no_violations();
    let calls = server.fake().calls.clone();
    assert_eq!(calls.iter().filter(|c| *c == "POST /v1/report/queue").count(), 1, "one report of the campaign");
    assert!(calls.iter().any(|c| c.starts_with("GET /v1/report/queue/")), "polled: {calls:?}");
    let (_, body) =
        server.fake().bodies.iter().rev().find(|(call, _)| call == "POST /v1/report/queue").cloned().unwrap();
    assert_eq!(body["GroupBy"], json!(["day", "optionId"]));
    assert_eq!(
        (&body["StartDateISO"], &body["EndDateISO"]),
        (&json!("2026-04-01T00:00:00Z"), &json!("2026-04-06T00:00:00Z"))
    );

    server.fake().calls.clear();
    let report = read(at).await;
    assert!(server.fake().calls.is_empty(), "read from what reconciliation stored");
    let packages = &report.buys[0].packages;
    assert_eq!(
        (packages[0].totals.impressions, packages[0].totals.spend, packages[0].totals.clicks),
        (71000.0, 887.5, 71.0)
    );
    assert_eq!(packages[1].totals.impressions, 5000.0);

    // Two days on, the report starts three days before the last pull: older days stay stored.
    {
        let mut fake = server.fake();
        fake.report_records[0]["Details"][0]["Impressions"] = 99999.into();
        fake.report_records[2]["Details"][0]["Impressions"] = 2000.into();
    }
    let later = at + chrono::Duration::days(2);
    reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, later).await.unwrap();
    let (_, body) =
        server.fake().bodies.iter().rev().find(|(call, _)| call == "POST /v1/report/queue").cloned().unwrap();
    assert_eq!(body["StartDateISO"], "2026-04-03T00:00:00Z");
    assert_eq!(read(later).await.buys[0].packages[0].totals.impressions, 72000.0);
    server.no_violations();

    // A report Kevel answers with nonsense is reported unreadable, and what was stored stays.
    server.fake().faults.push_back(Fault {
        method: Method::POST,
        prefix: "/v1/report/queue",
        skip: 0,
        status: 200,
        body: "{}",
        retry_after: None,
    });
    let next_day = later + chrono::Duration::days(1);
    let done = reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, next_day).await.unwrap();
    assert!(
        done.iter().any(|d| matches!(d, Reconciled::Unreadable { error, .. } if error.contains("delivery report"))),
        "{done:?}"
    );
    let report = read(next_day).await;
    assert_eq!((report.buys[0].packages[0].totals.impressions, report.buys[0].reported_as_of), (72000.0, Some(later)));
}

#[tokio::test]
async fn dry_run_sends_nothing_and_books_simulated_ids() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel("no key needed", true);
    let buy = create(db, &demo, &[5000.0]).await;
    let outcomes = sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { ops: 2, .. }]), "{outcomes:?}");
    assert!(server.fake().calls.is_empty(), "a dry-run sends nothing");
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    let order: i64 = record.booking.order_id.as_deref().unwrap().parse().unwrap();
    assert!(order > 0, "a simulated campaign id");
    assert!(record.booking.lines[0].line_id.parse::<i64>().unwrap() > 0);
    // Changes and delivery in dry-run send nothing either.
    let pause =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(true), ..UpdateMediaBuy::default() };
    update(db, &demo, pause, t0()).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
    get_media_buy_delivery(db, &kevel, &demo.catalog, &demo.tenant, &demo.principal, &query, t0()).await.unwrap();
    assert!(server.fake().calls.is_empty(), "a dry-run sends nothing");
}

#[tokio::test]
async fn one_request_rehearses_on_a_live_adapter_without_sending_anything() {
    let test_db = support::sqlite().await;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let live = server.kevel(KEY, false);
    let buy = create(&test_db.db, &demo, &[5000.0, 2000.0]).await;
    let rehearsal = sales_agent::adapters::Rehearsal::kevel(&live);
    let booking = sales_agent::core::booking::rehearse(
        rehearsal.ad_server.as_ref(),
        &buy,
        Default::default(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(booking.order_id.is_some() && booking.lines.len() == 2, "simulated ids: {booking:?}");
    assert!(server.fake().calls.is_empty(), "a rehearsal sends nothing");
    let calls = rehearsal.calls();
    let base = &server.url;
    assert_eq!(calls[0], format!("GET {base}/v1/advertiser?page=1&pageSize=500"));
    assert!(calls[1].starts_with(&format!("POST {base}/v1/advertiser {{")), "{calls:?}");
    assert!(calls.iter().filter(|c| c.starts_with(&format!("POST {base}/v1/flight "))).count() == 2, "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains(KEY)), "credentials never show");
}

#[tokio::test]
async fn approved_creatives_become_ads_of_the_flights() {
    use sales_agent::core::creative::CreativeStatus;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);
    let buy = create(db, &demo, &[5000.0, 2000.0]).await;
    image_creative(db, &demo, &buy, "cr_1", CreativeStatus::Approved).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(fake.creatives.len(), 1);
        let creative = &fake.creatives[0];
        assert_eq!(
            (&creative["Title"], &creative["AdTypeId"], &creative["ImageLink"], &creative["Url"]),
            (
                &json!("adcp:cr_1"),
                &json!(5),
                &json!("https://cdn.techcorp.example/cr_1.png"),
                &json!("https://techcorp.example/landing")
            )
        );
        assert_eq!(creative["AdvertiserId"], fake.advertisers[0]["Id"]);
        assert_eq!(fake.ads.len(), 2, "one ad per flight");
        assert!(fake.ads.iter().all(|ad| ad["IsActive"] == true && ad["Creative"]["Id"] == creative["Id"]));
    }

    // cr_1 off the first package: its ad is deactivated (GET-merge-PUT), the other stays.
    let first = buy.packages[0].package_id.clone();
    let unassign = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        packages: vec![PackageUpdate {
            package_id: first.clone(),
            creative_ids: Some(vec![]),
            ..PackageUpdate::default()
        }],
        ..UpdateMediaBuy::default()
    };
    update(db, &demo, unassign, t0()).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    server.no_violations();
    let fake = server.fake();
    let flight = flight_of(&fake, &buy.media_buy_id, &first)["Id"].clone();
    let ads: Vec<(bool, bool)> = fake.ads.iter().map(|ad| (ad["FlightId"] == flight, ad["IsActive"] == true)).collect();
    assert_eq!(ads.len(), 2, "nothing mapped twice");
    assert!(ads.contains(&(true, false)) && ads.contains(&(false, true)), "{ads:?}");
}

#[tokio::test]
async fn reconciliation_reads_the_campaign_back_and_follows_a_cancel_made_in_kevel() {
    use sales_agent::core::reconcile::{PlatformState, Reconciled, reconcile_due};
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let kevel = server.kevel(KEY, false);
    let kept = create(db, &demo, &[5000.0]).await;
    let ended = create(db, &demo, &[5000.0]).await;
    sync_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, t0()).await.unwrap();
    // Ad ops archive one campaign in Kevel's own UI and pause the other's flight.
    {
        let mut fake = server.fake();
        let archived = campaign_of(&fake, &ended.media_buy_id)["Id"].clone();
        for campaign in fake.campaigns.iter_mut().filter(|c| c["Id"] == archived) {
            campaign["IsArchived"] = true.into();
        }
        let paused = flight_of(&fake, &kept.media_buy_id, &kept.packages[0].package_id)["Id"].clone();
        for flight in fake.flights.iter_mut().filter(|f| f["Id"] == paused) {
            flight["IsActive"] = false.into();
        }
    }
    let at = t0() + chrono::Duration::days(1);
    let recheck = chrono::Duration::minutes(5);
    let mut done = reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, at).await.unwrap();
    done.sort_by_key(|d| format!("{d:?}"));
    server.no_violations();
    assert!(
        done.contains(&Reconciled::Moved { media_buy_id: ended.media_buy_id.clone(), state: PlatformState::Canceled })
    );
    // Every flight paused: the campaign is paused too.
    assert!(
        done.contains(&Reconciled::Recorded { media_buy_id: kept.media_buy_id.clone(), state: PlatformState::Paused })
    );
    assert_eq!(db.media_buy("demo", &ended.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Canceled);
    assert_ne!(db.media_buy("demo", &kept.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Canceled);
    let record = db.booking("demo", &kept.media_buy_id).await.unwrap().unwrap();
    let status = record.platform.unwrap();
    assert_eq!((status.status.as_str(), status.lines[0].status.as_str()), ("active", "inactive"));
    assert_eq!(status.lines[0].package_id, kept.packages[0].package_id);
    // Read again only once due.
    assert!(reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, at).await.unwrap().is_empty());
    let later = at + recheck;
    let again = reconcile_due(db, &kevel, &Deferred, &demo.tenant, &demo.catalog, recheck, later).await.unwrap();
    assert_eq!(again.len(), 1, "the live buy is due again, the ended one not yet: {again:?}");
}

#[tokio::test]
async fn the_seed_004_lifecycle_runs_on_kevel() {
    use crate::lifecycle::{Agent, Campaign, display_plan};
    use sales_agent::config::AdServerConfig;
    let server = Server::start().await;
    let agent = Agent::start(AdServerConfig::Kevel(server.settings(KEY, false))).await;
    let plan = display_plan();
    let campaign = Campaign::create(&agent, &plan).await;
    campaign.booked(&agent).await;
    campaign.sync_creatives(&agent, &plan).await;
    campaign.booked(&agent).await;
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!((fake.campaigns.len(), fake.flights.len(), fake.creatives.len(), fake.ads.len()), (1, 2, 2, 2));
        let flight = flight_of(&fake, &campaign.media_buy_id, &campaign.package_ids[0]);
        assert_eq!(flight["Impressions"], 240000);
    }
    // Delivery: Kevel's campaign report, read back by reconciliation.
    {
        let mut fake = server.fake();
        let flight =
            |package: usize| flight_of(&fake, &campaign.media_buy_id, &campaign.package_ids[package])["Id"].clone();
        let details = json!([
            {"Grouping": {"OptionId": flight(0)}, "Impressions": 8000, "Clicks": 12, "Revenue": 100.0},
            {"Grouping": {"OptionId": flight(1)}, "Impressions": 4000, "Clicks": 3, "Revenue": 50.0},
        ]);
        let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
        fake.report_records = vec![json!({"Date": today, "Details": details})];
    }
    let delivery = campaign.delivered(&agent, 12000.0).await;
    assert_eq!(delivery["media_buy_deliveries"][0]["totals"]["spend"].as_f64(), Some(150.0), "{delivery}");
    server.no_violations();
    let shift = json!({"packages": [
        {"package_id": campaign.package_ids[0], "budget": 3500},
        {"package_id": campaign.package_ids[1], "budget": 1500},
    ]});
    campaign.update(&agent, shift).await;
    campaign.booked(&agent).await;
    assert_eq!(flight_of(&server.fake(), &campaign.media_buy_id, &campaign.package_ids[0])["Impressions"], 280000);
    let active = |fake: &Fake| campaign_of(fake, &campaign.media_buy_id)["IsActive"].clone();
    campaign.update(&agent, json!({"paused": true})).await;
    campaign.booked(&agent).await;
    assert_eq!(active(&server.fake()), false);
    campaign.update(&agent, json!({"paused": false})).await;
    campaign.booked(&agent).await;
    assert_eq!(active(&server.fake()), true);
    campaign.update(&agent, json!({"canceled": true, "cancellation_reason": "campaign ended early"})).await;
    campaign.booked(&agent).await;
    server.no_violations();
    assert_eq!(campaign_of(&server.fake(), &campaign.media_buy_id)["IsArchived"], true);
    agent.stop().await;
}
