//! The GAM adapter against a local fake of Ad Manager's SOAP API and Google's token endpoint
//! that checks every request: the service-account JWT (signature, issuer, scope, audience), the
//! bearer token, `SOAPAction`, the envelope's `RequestHeader` and namespace, the elements of
//! orders, line items and report queries in schema order, required and read-only fields, whole
//! line items on update. Covers booking a buy through the outbox, approval, pause, resume,
//! budget change and cancel, a failure in the middle of a create, quota faults, refused
//! credentials, refusals, 5xx and malformed answers, delivery from a gzipped `CSV_DUMP` report,
//! and dry-run.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeZone, Utc};
use sales_agent::adapters::gam::{Gam, GamProduct, GamSettings};
use sales_agent::adapters::google_auth::ServiceAccount;
use sales_agent::adapters::http::RateLimitRetry;
use sales_agent::adapters::soap::El;
use sales_agent::core::booking::{SyncOutcome, sync_due};
use sales_agent::core::buying::{self, Mutation, PackageUpdate, UpdateMediaBuy};
use sales_agent::core::delivery::{DeliveryQuery, get_media_buy_delivery};
use sales_agent::core::media_buy::{MediaBuy, MediaBuyStatus, StartTime};
use sales_agent::core::ports::Store;
use sales_agent::mcp::wire_tasks::Deferred;
use sales_agent::store::Db;
use serde_json::{Value, json};

use crate::delivery::{Demo, demo, display_package, image_creative, techcorp_buy, update};
use crate::support;

const VERSION: &str = "v202608";
const NS: &str = "https://www.google.com/apis/ads/publisher/v202608";
const NETWORK: &str = "12345678";
const KEY_FILE: &str = include_str!("../fixtures/gam-service-account.json");
const CLIENT_EMAIL: &str = "sales-agent@adcp-test.iam.gserviceaccount.com";
const AD_UNIT: &str = "21700000001";
const PLACEMENT: i64 = 2880001;

// Element orders of the API's types (xsd:sequence), as the fake checks them.
const ORDER: &[&str] = &[
    "id",
    "name",
    "startDateTime",
    "endDateTime",
    "unlimitedEndDateTime",
    "status",
    "isArchived",
    "notes",
    "externalOrderId",
    "poNumber",
    "currencyCode",
    "advertiserId",
    "advertiserContactIds",
    "agencyId",
    "agencyContactIds",
    "creatorId",
    "traffickerId",
];
const LINE_ITEM: &[&str] = &[
    "orderId",
    "id",
    "name",
    "externalId",
    "orderName",
    "startDateTime",
    "startDateTimeType",
    "endDateTime",
    "autoExtensionDays",
    "unlimitedEndDateTime",
    "creativeRotationType",
    "deliveryRateType",
    "deliveryForecastSource",
    "customPacingCurve",
    "roadblockingType",
    "skippableAdType",
    "frequencyCaps",
    "lineItemType",
    "priority",
    "costPerUnit",
    "valueCostPerUnit",
    "costType",
    "discountType",
    "discount",
    "contractedUnitsBought",
    "creativePlaceholders",
    "activityAssociations",
    "environmentType",
    "allowedFormats",
    "companionDeliveryOption",
    "allowOverbook",
    "skipInventoryCheck",
    "skipCrossSellingRuleWarningChecks",
    "reserveAtCreation",
    "stats",
    "deliveryIndicator",
    "deliveryData",
    "budget",
    "status",
    "reservationStatus",
    "isArchived",
    "webPropertyCode",
    "appliedLabels",
    "effectiveAppliedLabels",
    "disableSameAdvertiserCompetitiveExclusion",
    "lastModifiedByApp",
    "notes",
    "competitiveConstraintScope",
    "lastModifiedDateTime",
    "creationDateTime",
    "customFieldValues",
    "isMissingCreatives",
    "programmaticCreativeSource",
    "thirdPartyMeasurementSettings",
    "youtubeKidsRestricted",
    "videoMaxDuration",
    "primaryGoal",
    "secondaryGoals",
    "grpSettings",
    "dealInfo",
    "viewabilityProviderCompanyIds",
    "childContentEligibility",
    "customVastExtension",
    "repeatedCreativeServingEnabled",
    "deliveryAllocationProfileId",
    "targeting",
    "creativeTargetings",
];
const COMPANY: &[&str] = &["id", "name", "type", "address", "email", "faxPhone", "primaryPhone", "externalId"];
const REPORT_QUERY: &[&str] = &[
    "dimensions",
    "adUnitView",
    "columns",
    "dimensionAttributes",
    "customFieldIds",
    "cmsMetadataKeyIds",
    "customDimensionKeyIds",
    "startDate",
    "endDate",
    "dateRangeType",
    "statement",
    "reportCurrency",
    "timeZoneType",
];
const CREATIVE_BASE: &[&str] = &["advertiserId", "id", "name", "size", "previewUrl"];
const LICA: &[&str] = &["lineItemId", "creativeId", "creativeSetId", "manualCreativeRotationWeight", "status"];
const DOWNLOAD_OPTIONS: &[&str] =
    &["exportFormat", "includeReportProperties", "includeTotalsRow", "useGzipCompression"];

/// The element order of a nested type, by the element's name.
fn nested_order(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "startDateTime" | "endDateTime" => &["date", "hour", "minute", "second", "timeZoneId"],
        "date" | "startDate" | "endDate" => &["year", "month", "day"],
        "costPerUnit" => &["currencyCode", "microAmount"],
        "primaryGoal" => &["goalType", "unitType", "units"],
        "creativePlaceholders" => &[
            "size",
            "creativeTemplateId",
            "companions",
            "appliedLabels",
            "effectiveAppliedLabels",
            "expectedCreativeCount",
            "creativeSizeType",
            "targetingName",
            "isAmpOnly",
        ],
        "size" => &["width", "height", "isAspectRatio"],
        "frequencyCaps" => &["maxImpressions", "numTimeUnits", "timeUnit"],
        "targeting" => &[
            "geoTargeting",
            "inventoryTargeting",
            "dayPartTargeting",
            "dateTimeRangeTargeting",
            "technologyTargeting",
            "customTargeting",
        ],
        "geoTargeting" => &["targetedLocations", "excludedLocations"],
        "inventoryTargeting" => &["targetedAdUnits", "excludedAdUnits", "targetedPlacementIds"],
        "targetedAdUnits" => &["adUnitId", "includeDescendants"],
        "statement" | "filterStatement" => &["query", "values"],
        _ => return None,
    })
}

/// A scripted failure: the `skip`+1-th call of `operation` gets `status` and `body`.
#[derive(Debug, Clone)]
struct Fault {
    operation: &'static str,
    skip: usize,
    status: u16,
    body: String,
}

#[derive(Default)]
struct Fake {
    url: String,
    next_id: i64,
    companies: Vec<El>,
    orders: Vec<El>,
    line_items: Vec<El>,
    creatives: Vec<El>,
    licas: Vec<El>,
    /// `Service.operation` (with the action type for perform...Action), in order.
    calls: Vec<String>,
    /// The operation elements received, by operation name.
    bodies: Vec<El>,
    violations: Vec<String>,
    faults: VecDeque<Fault>,
    tokens: Vec<String>,
    refuse_tokens: bool,
    /// Answer the next SOAP call with HTTP 401 (and forget its token).
    expire_next_token: bool,
    /// What Ad Manager delivered, by day (in the network's time zone) and line item; a report
    /// job answers with the rows of its query's order and dates.
    delivered: Vec<DeliveredDay>,
    /// The last report job's `CSV_DUMP`.
    report_csv: String,
    /// Impressions the network's ad units see over any forecast window.
    inventory: u64,
    report_polls: usize,
}

struct DeliveredDay {
    day: String,
    line_id: String,
    impressions: u64,
    clicks: u64,
    revenue_micros: u64,
}

fn delivered(day: &str, line_id: &str, impressions: u64, clicks: u64, revenue_micros: u64) -> DeliveredDay {
    DeliveredDay { day: day.to_owned(), line_id: line_id.to_owned(), impressions, clicks, revenue_micros }
}

/// A report job: the query must select one existing order (`WHERE ORDER_ID = :orderId`) by
/// date and line item over a custom date range; its CSV holds that order's line items' days
/// within the range.
fn run_report(fake: &mut Fake, query: &El) -> Result<String, String> {
    let dimensions: Vec<&str> = query.children_named("dimensions").filter_map(|d| d.text.as_deref()).collect();
    if dimensions != ["DATE", "LINE_ITEM_ID"] {
        return Err(format!("report dimensions {dimensions:?}"));
    }
    if query.text_at("dateRangeType") != Some("CUSTOM_DATE") || query.text_at("timeZoneType") != Some("PUBLISHER") {
        return Err("report: not a custom date range in the publisher's time zone".into());
    }
    let statement = query.first("statement").ok_or("report: no statement")?;
    if statement.text_at("query") != Some("WHERE ORDER_ID = :orderId") {
        return Err(format!("report filter {:?}", statement.text_at("query")));
    }
    let order = statement.text_at("values/value/value").ok_or("report: no orderId")?.to_owned();
    if !fake.orders.iter().any(|o| o.text_at("id") == Some(order.as_str())) {
        return Err(format!("report of unknown order {order}"));
    }
    let day = |name: &str| -> Result<chrono::NaiveDate, String> {
        let part = |p: &str| query.text_at(&format!("{name}/{p}")).and_then(|v| v.parse::<u32>().ok());
        match (part("year"), part("month"), part("day")) {
            (Some(y), Some(m), Some(d)) => {
                chrono::NaiveDate::from_ymd_opt(y as i32, m, d).ok_or(format!("report: {name} is not a date"))
            }
            _ => Err(format!("report: no {name}")),
        }
    };
    let (start, end) = (day("startDate")?, day("endDate")?);
    if end < start {
        return Err("report: endDate before startDate".into());
    }
    let lines: Vec<&str> = fake
        .line_items
        .iter()
        .filter(|l| l.text_at("orderId") == Some(order.as_str()))
        .filter_map(|l| l.text_at("id"))
        .collect();
    let mut csv = "Dimension.DATE,Dimension.LINE_ITEM_ID,Column.AD_SERVER_IMPRESSIONS,Column.AD_SERVER_CLICKS,\
                   Column.AD_SERVER_CPM_AND_CPC_REVENUE\n"
        .to_owned();
    for row in &fake.delivered {
        let date: chrono::NaiveDate = row.day.parse().unwrap();
        if lines.contains(&row.line_id.as_str()) && (start..=end).contains(&date) {
            csv += &format!("{},{},{},{},{}\n", row.day, row.line_id, row.impressions, row.clicks, row.revenue_micros);
        }
    }
    Ok(csv)
}

type Shared = Arc<Mutex<Fake>>;

fn fault_xml(error_string: &str, field_path: &str) -> String {
    let (kind, reason) = error_string.split_once('.').unwrap_or((error_string, ""));
    format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode>
        <faultstring>[{error_string} @ {field_path}]</faultstring><detail><ApiExceptionFault xmlns="{NS}">
        <message>[{error_string} @ {field_path}]</message><errors xsi:type="{kind}"><fieldPath>{field_path}</fieldPath>
        <trigger></trigger><errorString>{error_string}</errorString><reason>{reason}</reason></errors>
        </ApiExceptionFault></detail></soap:Fault></soap:Body></soap:Envelope>"#
    )
}

fn xml(status: u16, text: String) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
    response.headers_mut().insert("content-type", "text/xml; charset=utf-8".parse().unwrap());
    response
}

fn answer(operation: &str, rvals: Vec<El>) -> Response {
    let mut body = String::new();
    for rval in rvals {
        rval.write(&mut body, "ns");
    }
    xml(
        200,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:ns="{NS}"><soap:Header><ResponseHeader xmlns="{NS}">
            <requestId>req-1</requestId><responseTime>12</responseTime></ResponseHeader></soap:Header><soap:Body>
            <{operation}Response xmlns="{NS}">{body}</{operation}Response></soap:Body></soap:Envelope>"#
        ),
    )
}

fn refusal(fake: &mut Fake, what: String) -> Response {
    fake.violations.push(what.clone());
    xml(500, fault_xml("RequiredError.REQUIRED", &what))
}

/// Records a violation for every child out of the schema's order, recursively.
fn check_order(fake: &mut Fake, what: &str, element: &El, order: &[&str]) {
    let mut last = 0;
    for child in &element.children {
        match order.iter().position(|o| *o == child.name) {
            None => fake.violations.push(format!("{what}: unknown element {}", child.name)),
            Some(at) if at < last => {
                fake.violations.push(format!("{what}: {} is out of order (after {})", child.name, order[last]));
            }
            Some(at) => last = at,
        }
        if let Some(inner) = nested_order(&child.name) {
            check_order(fake, &format!("{what}/{}", child.name), child, inner);
        }
    }
}

/// Evaluates a PQL filter of the forms the adapter sends against an object.
fn selects(object: &El, statement: &El) -> bool {
    let query = statement.text_at("query").unwrap_or_default();
    let query = query.split(" LIMIT").next().unwrap().trim().trim_start_matches("WHERE ").to_owned();
    let binds: HashMap<String, String> = statement
        .children_named("values")
        .map(|v| (v.text_at("key").unwrap().to_owned(), v.text_at("value/value").unwrap().to_owned()))
        .collect();
    query.split(" AND ").all(|condition| {
        if let Some((field, list)) = condition.split_once(" IN (") {
            let ids: Vec<&str> = list.trim_end_matches(')').split(',').map(str::trim).collect();
            return object.text_at(field.trim()).is_some_and(|v| ids.contains(&v));
        }
        let (field, value) = condition.split_once(" = ").expect("field = value");
        let value = value.trim().strip_prefix(':').map_or(value.trim(), |bind| binds[bind].as_str());
        object.text_at(field.trim()) == Some(value)
    })
}

fn page(objects: Vec<El>) -> El {
    let mut rval =
        El::new("rval").child(El::leaf("totalResultSetSize", objects.len())).child(El::leaf("startIndex", 0));
    for mut object in objects {
        object.name = "results".into();
        rval = rval.child(object);
    }
    rval
}

fn set_text(object: &mut El, order: &[&str], name: &str, value: &str) {
    object.set(order, El::leaf(name, value));
}

fn made(fake: &mut Fake, mut object: El, order: &[&str]) -> El {
    fake.next_id += 1;
    let id = 1_000_000 + fake.next_id;
    set_text(&mut object, order, "id", &id.to_string());
    object
}

async fn token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = shared.lock().unwrap();
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        fake.violations.push("token: not a form".into());
    }
    let form = String::from_utf8(body.to_vec()).unwrap();
    let fields: HashMap<&str, &str> = form.split('&').filter_map(|pair| pair.split_once('=')).collect();
    if fields.get("grant_type") != Some(&"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
        fake.violations.push(format!("token: grant_type {:?}", fields.get("grant_type")));
    }
    let assertion = fields.get("assertion").copied().unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    let decode = |part: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap() };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let verified = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key())
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .is_ok();
    let expected_claims = (
        claims["iss"] == CLIENT_EMAIL,
        claims["scope"] == "https://www.googleapis.com/auth/dfp",
        claims["aud"] == format!("{}/token", fake.url).as_str(),
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) <= 3600,
    );
    if !verified
        || header["alg"] != "RS256"
        || header["kid"] != "test-key-1"
        || expected_claims != (true, true, true, true)
    {
        fake.violations.push(format!("token: a bad assertion {header} {claims} (signature verified: {verified})"));
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    if fake.refuse_tokens {
        let refused = json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
        return (StatusCode::BAD_REQUEST, axum::Json(refused)).into_response();
    }
    let issued = format!("ya29.token-{}", fake.tokens.len() + 1);
    fake.tokens.push(issued.clone());
    axum::Json(json!({"access_token": issued, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

fn public_key() -> Vec<u8> {
    let key: Value = serde_json::from_str(KEY_FILE).unwrap();
    let pem = key["private_key"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    ring::signature::KeyPair::public_key(&pair).as_ref().to_vec()
}

async fn download(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut fake = shared.lock().unwrap();
    if headers.contains_key("authorization") {
        fake.violations.push("the report download carries the bearer token".into());
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(fake.report_csv.as_bytes()).unwrap();
    gzip.finish().unwrap().into_response()
}

async fn soap(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = shared.lock().unwrap();
    let fake = &mut *fake;
    let service = uri.path().rsplit('/').next().unwrap().to_owned();
    if method != Method::POST || uri.path() != format!("/apis/ads/publisher/{VERSION}/{service}") {
        return refusal(fake, format!("unknown endpoint {method} {uri}"));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if header("soapaction") != "\"\"" || header("content-type") != "text/xml; charset=utf-8" {
        fake.violations.push(format!(
            "{service}: SOAPAction {:?}, Content-Type {:?}",
            header("soapaction"),
            header("content-type")
        ));
    }
    let bearer = header("authorization");
    let token = bearer.strip_prefix("Bearer ").unwrap_or_default().to_owned();
    if !fake.tokens.contains(&token) {
        return xml(401, fault_xml("AuthenticationError.GOOGLE_ACCOUNT_ACCESS_TOKEN_INVALID", ""));
    }
    if fake.expire_next_token {
        fake.expire_next_token = false;
        fake.tokens.retain(|t| *t != token);
        return xml(401, fault_xml("AuthenticationError.GOOGLE_ACCOUNT_ACCESS_TOKEN_INVALID", ""));
    }
    let text = String::from_utf8(body.to_vec()).unwrap();
    // Namespaces: the envelope, the header in the API namespace, the operation in it too.
    let document = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = document.root_element();
    let body_el = root.children().find(|n| n.has_tag_name(("http://schemas.xmlsoap.org/soap/envelope/", "Body")));
    let header_el = root
        .children()
        .find(|n| n.has_tag_name(("http://schemas.xmlsoap.org/soap/envelope/", "Header")))
        .and_then(|h| h.children().find(|n| n.has_tag_name((NS, "RequestHeader"))));
    let header_fields: Vec<(String, String)> = header_el
        .map(|h| {
            h.children()
                .filter(|n| n.is_element())
                .map(|n| (n.tag_name().name().to_owned(), n.text().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if header_fields.len() != 2
        || header_fields[0] != ("networkCode".into(), NETWORK.into())
        || header_fields[1].0 != "applicationName"
    {
        fake.violations.push(format!("{service}: RequestHeader {header_fields:?}"));
    }
    let operation_node = body_el.and_then(|b| b.children().find(|n| n.is_element())).expect("an operation");
    if operation_node.tag_name().namespace() != Some(NS) {
        fake.violations.push(format!("{service}: the operation is not in the API namespace"));
    }
    let envelope = El::parse(&text).unwrap();
    let operation = envelope.first("Body").unwrap().children[0].clone();
    let name = operation.name.clone();
    let action = operation.children.first().and_then(|c| c.xsi_type.clone());
    fake.calls.push(match &action {
        Some(action) if name.starts_with("perform") => format!("{service}.{name}({action})"),
        _ => format!("{service}.{name}"),
    });
    fake.bodies.push(operation.clone());
    if let Some(index) = fake.faults.iter().position(|f| f.operation == name) {
        if fake.faults[index].skip == 0 {
            let fault = fake.faults.remove(index).unwrap();
            return xml(fault.status, fault.body);
        }
        fake.faults[index].skip -= 1;
    }
    if let Some(statement) = operation.first("filterStatement") {
        check_order(fake, &format!("{name}/filterStatement"), statement, &["query", "values"]);
        let query = statement.text_at("query").unwrap_or_default();
        if name.starts_with("perform") && query.contains("LIMIT") {
            fake.violations.push(format!("{name}: an action statement with LIMIT"));
        }
    }
    match (service.as_str(), name.as_str()) {
        ("UserService", "getCurrentUser") => {
            answer(&name, vec![El::new("rval").child(El::leaf("id", 777)).child(El::leaf("name", "API user"))])
        }
        ("CompanyService", "getCompaniesByStatement") => {
            let statement = operation.first("filterStatement").unwrap();
            let found = fake.companies.iter().filter(|c| selects(c, statement)).cloned().collect();
            answer(&name, vec![page(found)])
        }
        ("CompanyService", "createCompanies") => {
            let mut made_ones = Vec::new();
            for company in operation.children_named("companies") {
                check_order(fake, "company", company, COMPANY);
                if company.text_at("name").is_none() || company.text_at("type") != Some("ADVERTISER") {
                    return refusal(fake, format!("company without name or type ADVERTISER: {company:?}"));
                }
                let object = made(fake, company.clone(), COMPANY);
                fake.companies.push(object.clone());
                made_ones.push(El { name: "rval".into(), ..object });
            }
            answer(&name, made_ones)
        }
        ("OrderService", "getOrdersByStatement") => {
            let statement = operation.first("filterStatement").unwrap();
            let found = fake.orders.iter().filter(|o| selects(o, statement)).cloned().collect();
            answer(&name, vec![page(found)])
        }
        ("OrderService", "createOrders") => {
            let mut made_ones = Vec::new();
            for order in operation.children_named("orders") {
                check_order(fake, "order", order, ORDER);
                for read_only in ["status", "totalBudget", "startDateTime", "endDateTime"] {
                    if order.first(read_only).is_some() {
                        fake.violations.push(format!("order create sends read-only {read_only}"));
                    }
                }
                let (Some(advertiser), Some(_), Some(_)) =
                    (order.text_at("advertiserId"), order.text_at("name"), order.text_at("traffickerId"))
                else {
                    return refusal(fake, "order: name, advertiserId and traffickerId are required".into());
                };
                if !fake.companies.iter().any(|c| c.text_at("id") == Some(advertiser)) {
                    return refusal(fake, format!("order: unknown advertiser {advertiser}"));
                }
                if fake.orders.iter().any(|o| o.text_at("name") == order.text_at("name")) {
                    return xml(500, fault_xml("UniqueError.NOT_UNIQUE", "orders[0].name"));
                }
                let mut object = made(fake, order.clone(), ORDER);
                set_text(&mut object, ORDER, "status", "DRAFT");
                fake.orders.push(object.clone());
                made_ones.push(El { name: "rval".into(), ..object });
            }
            answer(&name, made_ones)
        }
        ("OrderService", "performOrderAction") => {
            let statement = operation.first("filterStatement").unwrap().clone();
            let mut changes = 0;
            for index in 0..fake.orders.len() {
                if !selects(&fake.orders[index], &statement) {
                    continue;
                }
                let order_id = fake.orders[index].text_at("id").unwrap().to_owned();
                match (action.as_deref(), fake.orders[index].text_at("status")) {
                    (Some("ApproveOrders"), Some("DRAFT")) => {
                        set_text(&mut fake.orders[index], ORDER, "status", "APPROVED");
                        for line in fake.line_items.iter_mut().filter(|l| l.text_at("orderId") == Some(&order_id)) {
                            if line.text_at("status") == Some("DRAFT") {
                                set_text(line, LINE_ITEM, "status", "READY");
                            }
                        }
                        changes += 1;
                    }
                    (Some("ApproveOrders"), _) => {}
                    (Some("ArchiveOrders"), _) => {
                        set_text(&mut fake.orders[index], ORDER, "isArchived", "true");
                        changes += 1;
                    }
                    (other, _) => fake.violations.push(format!("unexpected order action {other:?}")),
                }
            }
            answer(&name, vec![El::new("rval").child(El::leaf("numChanges", changes))])
        }
        ("LineItemService", "getLineItemsByStatement") => {
            let statement = operation.first("filterStatement").unwrap();
            let found = fake.line_items.iter().filter(|l| selects(l, statement)).cloned().collect();
            answer(&name, vec![page(found)])
        }
        ("LineItemService", "createLineItems") => {
            let mut made_ones = Vec::new();
            for line in operation.children_named("lineItems") {
                check_order(fake, "line item", line, LINE_ITEM);
                let required = [
                    "orderId",
                    "name",
                    "endDateTime",
                    "lineItemType",
                    "priority",
                    "costPerUnit",
                    "costType",
                    "creativePlaceholders",
                    "primaryGoal",
                    "targeting",
                ];
                let missing: Vec<&str> = required.iter().copied().filter(|r| line.first(r).is_none()).collect();
                if !missing.is_empty() || line.first("targeting").and_then(|t| t.first("inventoryTargeting")).is_none()
                {
                    return refusal(fake, format!("line item: missing {missing:?} or inventory targeting"));
                }
                if line.first("startDateTime").is_none() && line.text_at("startDateTimeType") != Some("IMMEDIATELY") {
                    return refusal(fake, "line item: a start date or IMMEDIATELY is required".into());
                }
                for read_only in ["status", "budget", "id"] {
                    if line.first(read_only).is_some() {
                        fake.violations.push(format!("line item create sends read-only {read_only}"));
                    }
                }
                let order_id = line.text_at("orderId").unwrap();
                let Some(order_status) = fake
                    .orders
                    .iter()
                    .find(|o| o.text_at("id") == Some(order_id))
                    .map(|o| o.text_at("status").unwrap().to_owned())
                else {
                    return refusal(fake, format!("line item: unknown order {order_id}"));
                };
                let mut object = made(fake, line.clone(), LINE_ITEM);
                set_text(&mut object, LINE_ITEM, "status", if order_status == "APPROVED" { "READY" } else { "DRAFT" });
                set_text(&mut object, LINE_ITEM, "webPropertyCode", "kept by get-modify-update");
                fake.line_items.push(object.clone());
                made_ones.push(El { name: "rval".into(), ..object });
            }
            answer(&name, made_ones)
        }
        ("LineItemService", "updateLineItems") => {
            let mut updated = Vec::new();
            for line in operation.children_named("lineItems") {
                check_order(fake, "line item update", line, LINE_ITEM);
                if line.text_at("webPropertyCode") != Some("kept by get-modify-update")
                    || line.first("orderId").is_none()
                {
                    fake.violations.push("line item update: not the whole line item".into());
                }
                let id = line.text_at("id").unwrap_or_default().to_owned();
                let Some(slot) = fake.line_items.iter_mut().find(|l| l.text_at("id") == Some(id.as_str())) else {
                    return refusal(fake, format!("line item update: unknown line item {id}"));
                };
                let status = slot.text_at("status").unwrap().to_owned();
                let mut object = line.clone();
                set_text(&mut object, LINE_ITEM, "status", &status);
                *slot = object.clone();
                updated.push(El { name: "rval".into(), ..object });
            }
            answer(&name, updated)
        }
        ("LineItemService", "performLineItemAction") => {
            let statement = operation.first("filterStatement").unwrap().clone();
            let mut changes = 0;
            for line in fake.line_items.iter_mut().filter(|l| selects(l, &statement)) {
                let status = line.text_at("status").unwrap().to_owned();
                let next = match (action.as_deref(), status.as_str()) {
                    (Some("PauseLineItems"), "READY" | "DELIVERING") => Some("PAUSED"),
                    (Some("ResumeLineItems"), "PAUSED") => Some("READY"),
                    (Some("ArchiveLineItems"), _) => {
                        set_text(line, LINE_ITEM, "isArchived", "true");
                        changes += 1;
                        None
                    }
                    _ => None,
                };
                if let Some(next) = next {
                    set_text(line, LINE_ITEM, "status", next);
                    changes += 1;
                }
            }
            answer(&name, vec![El::new("rval").child(El::leaf("numChanges", changes))])
        }
        ("CreativeService", "getCreativesByStatement") => {
            let statement = operation.first("filterStatement").unwrap();
            let found = fake.creatives.iter().filter(|c| selects(c, statement)).cloned().collect();
            answer(&name, vec![page(found)])
        }
        ("CreativeService", "createCreatives" | "updateCreatives") => {
            let mut done = Vec::new();
            for creative in operation.children_named("creatives") {
                let own: &[&str] = match creative.xsi_type.as_deref() {
                    Some("ImageRedirectCreative") => &["destinationUrl", "destinationUrlType", "imageUrl"],
                    Some("ThirdPartyCreative") => &["snippet"],
                    Some("VastRedirectCreative") => &["vastXmlUrl", "vastRedirectType", "duration"],
                    other => return refusal(fake, format!("creative of type {other:?}")),
                };
                let order: Vec<&str> = CREATIVE_BASE.iter().chain(own).copied().collect();
                check_order(fake, "creative", creative, &order);
                let missing: Vec<&&str> = ["advertiserId", "name", "size"]
                    .iter()
                    .chain(own.iter().take(1))
                    .filter(|f| creative.first(f).is_none())
                    .collect();
                if !missing.is_empty() {
                    return refusal(fake, format!("creative: missing {missing:?}"));
                }
                let object = if name == "createCreatives" {
                    made(fake, creative.clone(), &order)
                } else {
                    let id = creative.text_at("id").unwrap_or_default().to_owned();
                    fake.creatives.retain(|c| c.text_at("id") != Some(id.as_str()));
                    creative.clone()
                };
                fake.creatives.push(object.clone());
                done.push(El { name: "rval".into(), ..object });
            }
            answer(&name, done)
        }
        ("LineItemCreativeAssociationService", "getLineItemCreativeAssociationsByStatement") => {
            let statement = operation.first("filterStatement").unwrap();
            let found = fake.licas.iter().filter(|l| selects(l, statement)).cloned().collect();
            answer(&name, vec![page(found)])
        }
        ("LineItemCreativeAssociationService", "createLineItemCreativeAssociations") => {
            let mut done = Vec::new();
            for lica in operation.children_named("lineItemCreativeAssociations") {
                check_order(fake, "lica", lica, LICA);
                let (Some(line), Some(creative)) = (lica.text_at("lineItemId"), lica.text_at("creativeId")) else {
                    return refusal(fake, "lica: lineItemId and creativeId are required".into());
                };
                if !fake.line_items.iter().any(|l| l.text_at("id") == Some(line))
                    || !fake.creatives.iter().any(|c| c.text_at("id") == Some(creative))
                {
                    return refusal(fake, format!("lica: unknown line item {line} or creative {creative}"));
                }
                if fake
                    .licas
                    .iter()
                    .any(|l| l.text_at("lineItemId") == Some(line) && l.text_at("creativeId") == Some(creative))
                {
                    return xml(500, fault_xml("UniqueError.NOT_UNIQUE", "lineItemCreativeAssociations[0]"));
                }
                let mut object = lica.clone();
                set_text(&mut object, LICA, "status", "ACTIVE");
                fake.licas.push(object.clone());
                done.push(El { name: "rval".into(), ..object });
            }
            answer(&name, done)
        }
        ("LineItemCreativeAssociationService", "performLineItemCreativeAssociationAction") => {
            let statement = operation.first("filterStatement").unwrap().clone();
            let status = match action.as_deref() {
                Some("DeactivateLineItemCreativeAssociations") => "INACTIVE",
                Some("ActivateLineItemCreativeAssociations") => "ACTIVE",
                other => return refusal(fake, format!("unexpected LICA action {other:?}")),
            };
            let mut changes = 0;
            for lica in fake.licas.iter_mut().filter(|l| selects(l, &statement)) {
                set_text(lica, LICA, "status", status);
                changes += 1;
            }
            answer(&name, vec![El::new("rval").child(El::leaf("numChanges", changes))])
        }
        ("ForecastService", "getAvailabilityForecast") => {
            check_order(fake, "getAvailabilityForecast", &operation, &["lineItem", "forecastOptions"]);
            let prospective = operation.first("lineItem").cloned().unwrap_or_default();
            check_order(fake, "prospective line item", &prospective, &["lineItem", "proposalLineItem", "advertiserId"]);
            let options = operation.first("forecastOptions").cloned().unwrap_or_default();
            check_order(
                fake,
                "forecast options",
                &options,
                &["includeTargetingCriteriaBreakdown", "includeContendingLineItems", "breakdown"],
            );
            let line = prospective.first("lineItem").cloned().unwrap_or_default();
            check_order(fake, "forecast line item", &line, LINE_ITEM);
            let required =
                ["endDateTime", "lineItemType", "costType", "creativePlaceholders", "primaryGoal", "targeting"];
            let missing: Vec<&str> = required.iter().copied().filter(|r| line.first(r).is_none()).collect();
            if !missing.is_empty()
                || (line.first("startDateTime").is_none() && line.text_at("startDateTimeType") != Some("IMMEDIATELY"))
            {
                return refusal(fake, format!("forecast line item: missing {missing:?} or its start"));
            }
            for read_only in ["id", "orderId", "status"] {
                if line.first(read_only).is_some() {
                    fake.violations.push(format!("a prospective line item sends {read_only}"));
                }
            }
            // The ad unit's impressions, a third of them in any one targeted country; available
            // is what the unit's booked line items' goals leave.
            let targeting = line.first("targeting").cloned().unwrap_or_default();
            let ad_units: Vec<String> = targeting
                .children_named("inventoryTargeting")
                .flat_map(|i| i.children_named("targetedAdUnits"))
                .filter_map(|u| u.text_at("adUnitId").map(str::to_owned))
                .collect();
            let countries =
                targeting.first("geoTargeting").map_or(0, |g| g.children_named("targetedLocations").count());
            let matched = if countries == 0 { fake.inventory } else { fake.inventory / 3 * countries.min(3) as u64 };
            let booked: u64 = fake
                .line_items
                .iter()
                .filter(|l| l.text_at("isArchived") != Some("true"))
                .filter(|l| {
                    l.text_at("targeting/inventoryTargeting/targetedAdUnits/adUnitId")
                        .is_some_and(|u| ad_units.iter().any(|a| a == u))
                })
                .filter_map(|l| l.text_at("primaryGoal/units").and_then(|u| u.parse::<u64>().ok()))
                .sum();
            let available = matched.saturating_sub(booked);
            answer(
                &name,
                vec![
                    El::new("rval")
                        .child(El::leaf("unitType", "IMPRESSIONS"))
                        .child(El::leaf("availableUnits", available))
                        .child(El::leaf("deliveredUnits", 0))
                        .child(El::leaf("matchedUnits", matched))
                        .child(El::leaf("possibleUnits", available))
                        .child(El::leaf("reservedUnits", booked)),
                ],
            )
        }
        ("ReportService", "runReportJob") => {
            let query = operation.first("reportJob").and_then(|j| j.first("reportQuery")).cloned().unwrap_or_default();
            check_order(fake, "report query", &query, REPORT_QUERY);
            match run_report(fake, &query) {
                Ok(csv) => fake.report_csv = csv,
                Err(violation) => return refusal(fake, violation),
            }
            fake.report_polls = 0;
            answer(&name, vec![El::new("rval").child(El::leaf("id", 9001)).child(query)])
        }
        ("ReportService", "getReportJobStatus") => {
            fake.report_polls += 1;
            let status = if fake.report_polls == 1 { "IN_PROGRESS" } else { "COMPLETED" };
            answer(&name, vec![El::leaf("rval", status)])
        }
        ("ReportService", "getReportDownloadUrlWithOptions") => {
            let options = operation.first("reportDownloadOptions").cloned().unwrap_or_default();
            check_order(fake, "download options", &options, DOWNLOAD_OPTIONS);
            if options.text_at("exportFormat") != Some("CSV_DUMP") {
                fake.violations.push("report: not CSV_DUMP".into());
            }
            answer(&name, vec![El::leaf("rval", format!("{}/download/9001", fake.url))])
        }
        _ => refusal(fake, format!("unknown operation {service}.{name}")),
    }
}

struct Server {
    url: String,
    fake: Shared,
}

impl Server {
    async fn start() -> Server {
        let fake: Shared = Arc::default();
        let app = Router::new()
            .route("/token", axum::routing::post(token))
            .route("/download/9001", axum::routing::get(download))
            .fallback(soap)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        {
            let mut fake = fake.lock().unwrap();
            fake.url = url.clone();
            fake.inventory = 1_200_000;
        }
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, fake }
    }

    fn fake(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap()
    }

    fn settings(&self, dry_run: bool) -> GamSettings {
        let mut key: Value = serde_json::from_str(KEY_FILE).unwrap();
        key["token_uri"] = format!("{}/token", self.url).into();
        let mut products = HashMap::new();
        products.insert(
            "prod-tech-display-001".to_owned(),
            GamProduct { ad_unit_ids: vec![AD_UNIT.into()], placement_ids: vec![PLACEMENT], ..GamProduct::default() },
        );
        GamSettings {
            base_url: self.url.clone(),
            api_version: VERSION.into(),
            network_code: NETWORK.into(),
            application_name: "adcp-sales-agent".into(),
            service_account: (!dry_run).then(|| ServiceAccount::from_json(&key.to_string()).unwrap()),
            trafficker_id: None,
            time_zone: "America/New_York".parse().unwrap(),
            default_ad_unit_ids: vec![],
            products,
            locations: HashMap::new(),
            dry_run,
            retry: RateLimitRetry { attempts: 4, base: Duration::from_millis(1), cap: Duration::from_millis(5) },
            report_wait: Duration::from_secs(5),
        }
    }

    fn gam(&self, dry_run: bool) -> Gam {
        Gam::new(self.settings(dry_run), Arc::new(support::FixedClock(t0() - chrono::Duration::days(1)))).unwrap()
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
    let request = techcorp_buy(&demo.account, StartTime::At(t0()), t0() + chrono::Duration::days(30), packages);
    let at = t0() - chrono::Duration::days(1);
    buying::create_media_buy(db, &demo.catalog, &demo.tenant, &demo.principal, &request, &Mutation::at(at, &Deferred))
        .await
        .unwrap()
        .into_buy()
        .unwrap()
}

fn order_of(fake: &Fake, media_buy_id: &str) -> El {
    let name = format!("adcp:{media_buy_id}");
    let found: Vec<&El> = fake.orders.iter().filter(|o| o.text_at("name") == Some(name.as_str())).collect();
    assert_eq!(found.len(), 1, "one order named {name}");
    found[0].clone()
}

fn line_of(fake: &Fake, media_buy_id: &str, package_id: &str) -> El {
    let name = format!("adcp:{media_buy_id}:{package_id}");
    let found: Vec<&El> = fake.line_items.iter().filter(|l| l.text_at("name") == Some(name.as_str())).collect();
    assert_eq!(found.len(), 1, "one line item named {name}");
    found[0].clone()
}

#[tokio::test]
async fn a_buy_is_booked_approved_paused_resumed_changed_and_canceled_in_gam() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let buy = create(db, &demo, &[5000.0, 2000.0]).await;
    let at = t0() - chrono::Duration::days(1);

    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert_eq!(outcomes, vec![SyncOutcome::Synced { media_buy_id: buy.media_buy_id.clone(), revision: 1, ops: 3 }]);
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(fake.tokens.len(), 1, "one token for every call");
        assert_eq!(fake.companies.len(), 1);
        assert_eq!(fake.companies[0].text_at("name"), Some("techcorp.example"));
        let order = order_of(&fake, &buy.media_buy_id);
        assert_eq!(order.text_at("status"), Some("APPROVED"));
        assert_eq!(order.text_at("advertiserId"), fake.companies[0].text_at("id"));
        assert_eq!(order.text_at("traffickerId"), Some("777"), "the API user traffics the order");
        assert_eq!(order.text_at("currencyCode"), Some("USD"));
        let line = line_of(&fake, &buy.media_buy_id, &buy.packages[0].package_id);
        assert_eq!(line.text_at("orderId"), order.text_at("id"));
        assert_eq!(line.text_at("status"), Some("READY"));
        for (path, value) in [
            ("externalId", buy.packages[0].package_id.as_str()),
            ("lineItemType", "STANDARD"),
            ("priority", "8"),
            ("costType", "CPM"),
            ("costPerUnit/currencyCode", "USD"),
            ("costPerUnit/microAmount", "12500000"),
            ("primaryGoal/goalType", "LIFETIME"),
            ("primaryGoal/unitType", "IMPRESSIONS"),
            ("primaryGoal/units", "400000"),
            ("startDateTimeType", "USE_START_DATE_TIME"),
            // 2026-04-01T00:00Z is the evening before in New York.
            ("startDateTime/date/day", "31"),
            ("startDateTime/hour", "20"),
            ("startDateTime/timeZoneId", "America/New_York"),
            ("deliveryRateType", "EVENLY"),
            ("environmentType", "BROWSER"),
            ("targeting/inventoryTargeting/targetedAdUnits/adUnitId", AD_UNIT),
            ("targeting/inventoryTargeting/targetedAdUnits/includeDescendants", "true"),
            ("targeting/inventoryTargeting/targetedPlacementIds", &PLACEMENT.to_string()),
        ] {
            assert_eq!(line.text_at(path), Some(value), "line item {path}: {line:#?}");
        }
        let sizes: Vec<(String, String)> = line
            .children_named("creativePlaceholders")
            .map(|p| (p.text_at("size/width").unwrap().to_owned(), p.text_at("size/height").unwrap().to_owned()))
            .collect();
        assert_eq!(sizes.len(), 3, "a placeholder per format size: {sizes:?}");
        assert!(sizes.contains(&("300".into(), "250".into())));
        assert_eq!(fake.line_items.len(), 2);
        assert_eq!(
            fake.calls[..6],
            [
                "OrderService.getOrdersByStatement",
                "CompanyService.getCompaniesByStatement",
                "CompanyService.createCompanies",
                "UserService.getCurrentUser",
                "OrderService.createOrders",
                "LineItemService.getLineItemsByStatement",
            ]
        );
        assert!(fake.calls.contains(&"OrderService.performOrderAction(ApproveOrders)".to_owned()));
    }
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    assert!(record.in_sync());

    // Pause the buy and raise the first package's budget: every line item paused through
    // performLineItemAction first, then the line item fetched, changed and sent back whole.
    let first = buy.packages[0].package_id.clone();
    let change = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        paused: Some(true),
        packages: vec![PackageUpdate { package_id: first.clone(), budget: Some(7500.0), ..PackageUpdate::default() }],
        ..UpdateMediaBuy::default()
    };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, change, at).await;
    server.fake().calls.clear();
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { revision: 2, .. }]), "{outcomes:?}");
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(
            fake.calls,
            [
                "LineItemService.performLineItemAction(PauseLineItems)",
                "LineItemService.getLineItemsByStatement",
                "LineItemService.updateLineItems",
                "LineItemCreativeAssociationService.getLineItemCreativeAssociationsByStatement",
            ],
            "stop first, then the line and the creatives it serves"
        );
        let line = line_of(&fake, &buy.media_buy_id, &first);
        assert_eq!(line.text_at("primaryGoal/units"), Some("600000"));
        assert_eq!(line.text_at("status"), Some("PAUSED"));
        assert_eq!(line.text_at("webPropertyCode"), Some("kept by get-modify-update"));
        assert!(fake.line_items.iter().all(|l| l.text_at("status") == Some("PAUSED")));
        assert_eq!(fake.tokens.len(), 1, "the token is cached");
    }

    // Resume (the token was revoked meanwhile: one fresh token and the call goes through),
    // then cancel: paused and archived.
    server.fake().expire_next_token = true;
    let resume =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(false), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, resume, at).await;
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{outcomes:?}");
    assert!(server.fake().line_items.iter().all(|l| l.text_at("status") == Some("READY")));
    assert_eq!(server.fake().tokens.len(), 1, "a fresh token replaced the revoked one");
    let cancel =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), cancel: Some(None), ..UpdateMediaBuy::default() };
    let at = at + chrono::Duration::hours(1);
    update(db, &demo, cancel, at).await;
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(order_of(&fake, &buy.media_buy_id).text_at("isArchived"), Some("true"));
        assert!(fake.line_items.iter().all(|l| l.text_at("status") == Some("PAUSED")));
    }
    assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Canceled);
}

#[tokio::test]
async fn a_failure_in_the_middle_of_a_create_is_resumed_without_duplicates() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let buy = create(db, &demo, &[3000.0, 2000.0, 1000.0]).await;
    let at = t0() - chrono::Duration::days(1);
    // The third line item's create fails on GAM's side (a 500 that is no fault: unknown outcome).
    server.fake().faults.push_back(Fault {
        operation: "createLineItems",
        skip: 2,
        status: 502,
        body: "Bad Gateway".into(),
    });
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let [SyncOutcome::Retrying { attempts: 1, next_attempt_at, error, .. }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert!(error.contains("502"), "{error}");
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    assert!(record.booking.order_id.is_some());
    assert_eq!(record.booking.lines.len(), 2, "what was made is recorded at once");

    // Approval right after the lines were made: GAM has no forecast yet, the call is retried.
    server.fake().faults.push_back(Fault {
        operation: "performOrderAction",
        skip: 0,
        status: 500,
        body: fault_xml("ForecastError.NO_FORECAST_YET", ""),
    });
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, *next_attempt_at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{outcomes:?}");
    server.no_violations();
    let fake = server.fake();
    assert_eq!((fake.orders.len(), fake.line_items.len(), fake.companies.len()), (1, 3, 1), "nothing booked twice");
    assert_eq!(order_of(&fake, &buy.media_buy_id).text_at("status"), Some("APPROVED"));
    assert!(fake.line_items.iter().all(|l| l.text_at("status") == Some("READY")));
}

#[tokio::test]
async fn quota_faults_are_retried_and_refusals_classified() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let at = t0() - chrono::Duration::days(1);

    // Two quota faults and the create goes through on the third try.
    let buy = create(db, &demo, &[5000.0]).await;
    for _ in 0..2 {
        server.fake().faults.push_back(Fault {
            operation: "createOrders",
            skip: 0,
            status: 500,
            body: fault_xml("QuotaError.EXCEEDED_QUOTA", ""),
        });
    }
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(
        matches!(&outcomes[..], [SyncOutcome::Synced { media_buy_id, .. }] if *media_buy_id == buy.media_buy_id),
        "{outcomes:?}"
    );
    assert_eq!(server.fake().calls.iter().filter(|c| *c == "OrderService.createOrders").count(), 3);
    assert_eq!(server.fake().orders.len(), 1);
    server.no_violations();

    // A 5xx without a fault and an answer that is no SOAP are transient: retried later.
    for (status, body) in [(503, "Service Unavailable"), (200, "this is not XML")] {
        let buy = create(db, &demo, &[5000.0]).await;
        server.fake().faults.push_back(Fault { operation: "createOrders", skip: 0, status, body: body.into() });
        let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
        assert!(
            matches!(&outcomes[..], [SyncOutcome::Retrying { media_buy_id, .. }] if *media_buy_id == buy.media_buy_id),
            "{status}: {outcomes:?}"
        );
        let retried = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
        let outcomes =
            sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, retried.next_attempt_at).await.unwrap();
        assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{status} then fine: {outcomes:?}");
    }

    // A refused payload names GAM's error and field; nothing was booked, so the buy is rejected.
    let buy = create(db, &demo, &[5000.0]).await;
    server.fake().faults.push_back(Fault {
        operation: "createOrders",
        skip: 0,
        status: 500,
        body: fault_xml("StringLengthError.TOO_LONG", "orders[0].name"),
    });
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let [SyncOutcome::Refused { error, .. }] = &outcomes[..] else { panic!("{outcomes:?}") };
    assert!(error.contains("StringLengthError.TOO_LONG @ orders[0].name"), "{error}");
    let status = db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status;
    assert!(matches!(status, MediaBuyStatus::Rejected | MediaBuyStatus::Canceled), "{status:?}");

    // Credentials the token endpoint refuses: a refusal that says so.
    let refused = server.gam(false);
    server.fake().refuse_tokens = true;
    let buy = create(db, &demo, &[5000.0]).await;
    let outcomes = sync_due(db, &refused, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let refusal = outcomes.iter().find_map(|outcome| match outcome {
        SyncOutcome::Refused { media_buy_id, error } if *media_buy_id == buy.media_buy_id => Some(error),
        _ => None,
    });
    let error = refusal.unwrap_or_else(|| panic!("{outcomes:?}"));
    assert!(error.contains("authentication failed") && error.contains("Invalid JWT Signature"), "{error}");
    assert!(!error.contains("PRIVATE KEY"), "the key never shows");
}

#[tokio::test]
async fn reconciliation_reads_delivery_back_in_one_report_per_order_and_delivery_reads_what_it_stored() {
    use sales_agent::core::reconcile::reconcile_due;
    use sales_agent::core::schedule;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let buy = create(db, &demo, &[5000.0, 2000.0]).await;
    let small = create(db, &demo, &[1000.0]).await;
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, t0() - chrono::Duration::days(1)).await.unwrap();
    let (first, second, other) = {
        let fake = server.fake();
        let id = |buy: &MediaBuy, package: usize| {
            line_of(&fake, &buy.media_buy_id, &buy.packages[package].package_id).text_at("id").unwrap().to_owned()
        };
        (id(&buy, 0), id(&buy, 1), id(&small, 0))
    };
    // Days in the network's time zone; revenue in micros. The small buy spent its budget.
    server.fake().delivered = vec![
        delivered("2026-04-01", &first, 40000, 40, 500_000_000),
        delivered("2026-04-02", &first, 30000, 30, 375_000_000),
        delivered("2026-04-01", &second, 5000, 5, 62_500_000),
        delivered("2026-04-05", &first, 10000, 10, 125_000_000),
        delivered("2026-04-02", &other, 80000, 0, 1_000_000_000),
    ];
    let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
    let first_pull = t0() + chrono::Duration::days(6) + chrono::Duration::hours(12);
    let recheck = chrono::Duration::minutes(5);
    let (server_ref, demo_ref, query_ref) = (&gam, &demo, &query);
    let read = move |at| async move {
        let Demo { catalog, tenant, principal, .. } = demo_ref;
        get_media_buy_delivery(db, server_ref, catalog, tenant, principal, query_ref, at).await.unwrap()
    };

    // Nothing read back yet: nothing delivered, and a delivery request asks GAM nothing.
    server.fake().calls.clear();
    let report = read(first_pull).await;
    assert_eq!((report.buys[0].totals.impressions, report.buys[0].reported_as_of), (0.0, None));
    assert_eq!(report.ad_server, Some("gam"));
    assert!(server.fake().calls.is_empty(), "{:?}", server.fake().calls);

    // One report job per order, by day and line item, from the day the flight began.
    reconcile_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, recheck, first_pull).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        let runs: Vec<&El> = fake.bodies.iter().filter(|b| b.name == "runReportJob").collect();
        assert_eq!(runs.len(), 2, "one per order");
        let query = runs[0].first("reportJob").unwrap().first("reportQuery").unwrap();
        assert_eq!(query.text_at("startDate/day"), Some("31"), "the flight began on March 31st in New York");
        assert_eq!(query.text_at("endDate/day"), Some("7"));
        assert!(fake.calls.iter().filter(|c| *c == "ReportService.getReportJobStatus").count() >= 4, "polled");
    }
    server.fake().calls.clear();
    let report = read(first_pull).await;
    assert!(server.fake().calls.is_empty(), "read from what reconciliation stored: {:?}", server.fake().calls);
    assert_eq!(report.buys[0].reported_as_of, Some(first_pull));
    let packages = &report.buys[0].packages;
    assert_eq!(
        (packages[0].totals.impressions, packages[0].totals.spend, packages[0].totals.clicks),
        (80000.0, 1000.0, 80.0)
    );
    assert_eq!(packages[1].totals.impressions, 5000.0);
    let days: Vec<(String, f64)> = packages[0].daily.iter().map(|(d, m)| (d.to_string(), m.impressions)).collect();
    assert_eq!(days[0], ("2026-04-01".to_owned(), 40000.0), "GAM's April 1st began at 04:00 UTC: {days:?}");

    // The next pull reads the last days again (GAM restates them) and keeps the older ones.
    {
        let mut fake = server.fake();
        fake.delivered[0].impressions = 99999;
        fake.delivered[3].impressions = 12000;
        fake.delivered.push(delivered("2026-04-08", &first, 1000, 1, 12_500_000));
        fake.bodies.clear();
    }
    let second_pull = first_pull + chrono::Duration::days(2);
    reconcile_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, recheck, second_pull).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        let run = fake.bodies.iter().find(|b| b.name == "runReportJob").unwrap();
        let query = run.first("reportJob").unwrap().first("reportQuery").unwrap();
        assert_eq!(query.text_at("startDate/day"), Some("4"), "three days before the last pull");
    }
    let report = read(second_pull).await;
    assert_eq!(report.buys[0].packages[0].totals.impressions, 83000.0);
    assert_eq!(report.buys[0].reported_as_of, Some(second_pull));

    // The scheduler starts both buys, and its budget check reads the stored figures too: the
    // small buy spent out, and GAM was not asked.
    server.fake().calls.clear();
    schedule::advance(db, &gam, &Deferred, &demo.catalog, &demo.tenant, second_pull, None).await.unwrap();
    assert!(server.fake().calls.is_empty(), "{:?}", server.fake().calls);
    assert_eq!(db.media_buy("demo", &small.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Completed);
    assert_eq!(db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap().status, MediaBuyStatus::Active);
}

#[tokio::test]
async fn avails_are_an_availability_forecast_of_the_line_item_the_product_would_book() {
    use sales_agent::core::avails::{AvailsRequest, get_avails};
    use sales_agent::core::delivery::ForecastTargeting;
    use sales_agent::core::media_buy::Verbatim;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let at = t0() - chrono::Duration::days(1);
    let request = AvailsRequest {
        product_ids: vec!["prod-tech-display-001".into()],
        start_date: t0().date_naive(),
        end_date: (t0() + chrono::Duration::days(13)).date_naive(),
        budget: None,
        targeting: ForecastTargeting { countries: vec!["US".into()], ..ForecastTargeting::default() },
        overlay: Some(Verbatim(r#"{"geo_country_any_of":["US"]}"#.into())),
        line_overlay: Some(Verbatim(r#"{"geo_countries":["US"]}"#.into())),
    };
    let avails = get_avails(db, &gam, &demo.catalog, &demo.tenant, &demo.principal, &request, at).await.unwrap();
    server.no_violations();
    assert_eq!(
        (avails.quotes.len(), avails.quotes[0].impressions),
        (1, 400_000),
        "a third of the unit's impressions in one country"
    );
    {
        let fake = server.fake();
        assert_eq!(fake.calls.iter().filter(|c| *c == "ForecastService.getAvailabilityForecast").count(), 1);
        let body = fake.bodies.iter().find(|b| b.name == "getAvailabilityForecast").unwrap();
        let line = body.first("lineItem").unwrap().first("lineItem").unwrap();
        assert_eq!(line.text_at("lineItemType"), Some("STANDARD"));
        assert_eq!(line.text_at("targeting/inventoryTargeting/targetedAdUnits/adUnitId"), Some(AD_UNIT));
        assert_eq!(line.text_at("targeting/geoTargeting/targetedLocations/id"), Some("2840"), "the US");
        assert_eq!(line.text_at("creativePlaceholders/size/width"), Some("300"), "the product's format");
        assert_eq!(line.text_at("startDateTime/date/day"), Some("31"), "April 1st UTC began on March 31st in New York");
        assert_eq!(line.text_at("primaryGoal/units"), Some("2100000"), "150,000 a day for 14 days");
    }

    // A booked line item takes its goal from what is available.
    create(db, &demo, &[2000.0]).await;
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let avails = get_avails(db, &gam, &demo.catalog, &demo.tenant, &demo.principal, &request, at).await.unwrap();
    server.no_violations();
    assert_eq!(avails.quotes[0].impressions, 400_000 - 160_000);
    assert!((avails.quotes[0].availability - 0.6).abs() < 1e-9, "{}", avails.quotes[0].availability);

    // A dry-run asks GAM nothing and forecasts like the in-process mock.
    let calls = server.fake().calls.len();
    let dry = server.gam(true);
    let avails = get_avails(db, &dry, &demo.catalog, &demo.tenant, &demo.principal, &request, at).await.unwrap();
    assert!(avails.quotes[0].impressions > 0);
    assert_eq!(server.fake().calls.len(), calls, "a dry-run sends nothing");
}

#[tokio::test]
async fn dry_run_sends_nothing_and_rehearsals_show_the_envelopes() {
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(true);
    let buy = create(db, &demo, &[5000.0]).await;
    let at = t0() - chrono::Duration::days(1);
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { ops: 2, .. }]), "{outcomes:?}");
    assert!(server.fake().calls.is_empty() && server.fake().tokens.is_empty(), "a dry-run sends nothing");
    let record = db.booking("demo", &buy.media_buy_id).await.unwrap().unwrap();
    assert!(record.booking.order_id.as_deref().unwrap().parse::<i64>().unwrap() > 0, "a simulated order id");
    let pause =
        UpdateMediaBuy { media_buy_id: buy.media_buy_id.clone(), paused: Some(true), ..UpdateMediaBuy::default() };
    update(db, &demo, pause, at).await;
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    let query = DeliveryQuery { media_buy_ids: vec![buy.media_buy_id.clone()], ..DeliveryQuery::default() };
    get_media_buy_delivery(db, &gam, &demo.catalog, &demo.tenant, &demo.principal, &query, at).await.unwrap();
    assert!(server.fake().calls.is_empty(), "a dry-run sends nothing");

    // One request's rehearsal on a live adapter: the envelopes it would send, in order.
    let live = server.gam(false);
    let rehearsal = sales_agent::adapters::Rehearsal::gam(&live);
    let booking = sales_agent::core::booking::rehearse(
        rehearsal.ad_server.as_ref(),
        &buy,
        Default::default(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(booking.order_id.is_some() && booking.lines.len() == 1, "simulated ids: {booking:?}");
    assert!(server.fake().calls.is_empty() && server.fake().tokens.is_empty(), "a rehearsal sends nothing");
    let calls = rehearsal.calls();
    let endpoint = format!("POST {}/apis/ads/publisher/{VERSION}/", server.url);
    assert!(calls[0].starts_with(&format!("{endpoint}OrderService ")), "{calls:?}");
    assert!(
        calls[0].contains("<networkCode>12345678</ns:networkCode>") || calls[0].contains("<ns:networkCode>12345678")
    );
    assert!(
        calls.iter().any(|c| c.starts_with(&format!("{endpoint}LineItemService ")) && c.contains("<createLineItems"))
    );
    assert!(calls.iter().any(|c| c.contains("xsi:type=\"ns:ApproveOrders\"")), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("Bearer") || c.contains("PRIVATE KEY")), "credentials never show");
}

#[tokio::test]
async fn approved_creatives_are_trafficked_and_follow_review_and_assignment() {
    use sales_agent::core::approval::{self, Verdict};
    use sales_agent::core::creative::CreativeStatus;
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let mut buy = create(db, &demo, &[5000.0, 2000.0]).await;
    let at = t0() - chrono::Duration::days(1);
    // cr_1 (assigned to both packages) is approved; cr_2 waits for review.
    image_creative(db, &demo, &buy, "cr_1", CreativeStatus::Approved).await;
    image_creative(db, &demo, &buy, "cr_2", CreativeStatus::PendingReview).await;
    let first = buy.packages[0].package_id.clone();
    let assign = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        packages: vec![PackageUpdate {
            package_id: first.clone(),
            creative_ids: Some(vec!["cr_1".into(), "cr_2".into()]),
            ..PackageUpdate::default()
        }],
        ..UpdateMediaBuy::default()
    };
    update(db, &demo, assign, at).await;
    buy = db.media_buy("demo", &buy.media_buy_id).await.unwrap().unwrap();
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    {
        let fake = server.fake();
        assert_eq!(fake.creatives.len(), 1, "one creative for both lines; cr_2 is not approved: {:#?}", fake.creatives);
        let creative = &fake.creatives[0];
        assert_eq!(creative.xsi_type.as_deref(), Some("ImageRedirectCreative"));
        assert_eq!(creative.text_at("name"), Some("adcp:cr_1"));
        assert_eq!(creative.text_at("advertiserId"), fake.companies[0].text_at("id"));
        assert_eq!(creative.text_at("imageUrl"), Some("https://cdn.techcorp.example/cr_1.png"));
        assert_eq!(
            creative.text_at("destinationUrl"),
            Some("https://techcorp.example/landing"),
            "the click-through, not the tracker"
        );
        assert_eq!((creative.text_at("size/width"), creative.text_at("size/height")), (Some("300"), Some("250")));
        assert_eq!(fake.licas.len(), 2, "cr_1 on each line item");
    }

    // The publisher approves cr_2: the buy is booked again and cr_2 joins the first line item.
    approval::review_creative(db, &Deferred, &demo.tenant, &admin(), None, "cr_2", Verdict::Approve, at).await.unwrap();
    let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "the review books the buy again: {outcomes:?}");
    server.no_violations();
    let line = line_of(&server.fake(), &buy.media_buy_id, &first).text_at("id").unwrap().to_owned();
    let creatives_on = |fake: &Fake, status: &str| -> usize {
        fake.licas
            .iter()
            .filter(|l| l.text_at("lineItemId") == Some(line.as_str()) && l.text_at("status") == Some(status))
            .count()
    };
    {
        let fake = server.fake();
        assert_eq!((fake.creatives.len(), creatives_on(&fake, "ACTIVE")), (2, 2));
    }

    // cr_1 is taken off the first package: its association is deactivated, not deleted.
    let unassign = UpdateMediaBuy {
        media_buy_id: buy.media_buy_id.clone(),
        packages: vec![PackageUpdate {
            package_id: first,
            creative_ids: Some(vec!["cr_2".into()]),
            ..PackageUpdate::default()
        }],
        ..UpdateMediaBuy::default()
    };
    update(db, &demo, unassign, at).await;
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    server.no_violations();
    let fake = server.fake();
    assert_eq!((creatives_on(&fake, "ACTIVE"), creatives_on(&fake, "INACTIVE")), (1, 1));
    assert_eq!(fake.licas.len(), 3, "nothing associated twice");
}

/// A publisher admin of the demo tenant.
fn admin() -> sales_agent::core::tenancy::Principal {
    sales_agent::core::tenancy::Principal {
        principal_id: "ops".into(),
        tenant_id: "demo".into(),
        name: "Ad ops".into(),
        admin: true,
        created_at: t0(),
    }
}

#[tokio::test]
async fn reconciliation_reads_orders_and_line_items_and_follows_a_disapproval() {
    use sales_agent::core::reconcile::{PlatformState, Reconciled, reconcile_due};
    let test_db = support::sqlite().await;
    let db = &test_db.db;
    let demo = demo(&test_db).await;
    let server = Server::start().await;
    let gam = server.gam(false);
    let kept = create(db, &demo, &[5000.0]).await;
    let declined = create(db, &demo, &[5000.0]).await;
    let at = t0() - chrono::Duration::days(1);
    sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
    {
        let mut fake = server.fake();
        let order = order_of(&fake, &declined.media_buy_id).text_at("id").unwrap().to_owned();
        for o in fake.orders.iter_mut().filter(|o| o.text_at("id") == Some(order.as_str())) {
            set_text(o, ORDER, "status", "DISAPPROVED");
        }
        let line = line_of(&fake, &kept.media_buy_id, &kept.packages[0].package_id).text_at("id").unwrap().to_owned();
        for l in fake.line_items.iter_mut().filter(|l| l.text_at("id") == Some(line.as_str())) {
            set_text(l, LINE_ITEM, "status", "DELIVERING");
        }
    }
    let done = reconcile_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, chrono::Duration::minutes(5), at)
        .await
        .unwrap();
    server.no_violations();
    assert!(
        done.iter().any(|d| matches!(d, Reconciled::Moved { media_buy_id, state: PlatformState::Rejected }
        if *media_buy_id == declined.media_buy_id)),
        "{done:?}"
    );
    assert!(
        done.contains(&Reconciled::Recorded {
            media_buy_id: kept.media_buy_id.clone(),
            state: PlatformState::Delivering
        })
    );
    let status = db.media_buy("demo", &declined.media_buy_id).await.unwrap().unwrap().status;
    assert!(matches!(status, MediaBuyStatus::Rejected | MediaBuyStatus::Canceled), "{status:?}");
    let record = db.booking("demo", &kept.media_buy_id).await.unwrap().unwrap();
    let platform = record.platform.unwrap();
    assert_eq!((platform.status.as_str(), platform.lines[0].status.as_str()), ("APPROVED", "DELIVERING"));
}

#[tokio::test]
async fn a_create_that_fails_at_any_step_is_finished_by_a_retry_without_duplicates() {
    // Every call of a booking, in order, fails once (a 503 of unknown outcome); the retry picks
    // up from what is recorded and what GAM already has, and books each object exactly once.
    let steps = [
        ("getOrdersByStatement", 0),
        ("getCompaniesByStatement", 0),
        ("createCompanies", 0),
        ("getCurrentUser", 0),
        ("createOrders", 0),
        ("getLineItemsByStatement", 0),
        ("createLineItems", 0),
        ("performOrderAction", 0),
        ("createLineItems", 1),
        ("performOrderAction", 1),
    ];
    for (operation, skip) in steps {
        let test_db = support::sqlite().await;
        let db = &test_db.db;
        let demo = demo(&test_db).await;
        let server = Server::start().await;
        let gam = server.gam(false);
        let buy = create(db, &demo, &[3000.0, 2000.0]).await;
        let at = t0() - chrono::Duration::days(1);
        server.fake().faults.push_back(Fault { operation, skip, status: 503, body: "Service Unavailable".into() });
        let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, at).await.unwrap();
        let [SyncOutcome::Retrying { next_attempt_at, .. }] = &outcomes[..] else {
            panic!("{operation}#{skip}: {outcomes:?}")
        };
        let outcomes = sync_due(db, &gam, &Deferred, &demo.tenant, &demo.catalog, *next_attempt_at).await.unwrap();
        assert!(matches!(outcomes[..], [SyncOutcome::Synced { .. }]), "{operation}#{skip}: {outcomes:?}");
        server.no_violations();
        let fake = server.fake();
        assert_eq!(
            (fake.companies.len(), fake.orders.len(), fake.line_items.len()),
            (1, 1, 2),
            "{operation}#{skip}: each object once"
        );
        assert_eq!(order_of(&fake, &buy.media_buy_id).text_at("status"), Some("APPROVED"), "{operation}#{skip}");
        assert!(fake.line_items.iter().all(|l| l.text_at("status") == Some("READY")), "{operation}#{skip}");
    }
}

#[tokio::test]
async fn the_seed_004_lifecycle_runs_on_gam() {
    use crate::lifecycle::{Agent, Campaign, display_plan};
    use sales_agent::config::AdServerConfig;
    let server = Server::start().await;
    let agent = Agent::start(AdServerConfig::Gam(Box::new(server.settings(false)))).await;
    let plan = display_plan();
    let campaign = Campaign::create(&agent, &plan).await;
    let state = campaign.booked(&agent).await;
    server.no_violations();
    let order_id = state["order_id"].as_str().unwrap().to_owned();
    {
        let fake = server.fake();
        let order = order_of(&fake, &campaign.media_buy_id);
        assert_eq!((order.text_at("id"), order.text_at("poNumber")), (Some(order_id.as_str()), Some("TC-2026-Q2-001")));
        assert_eq!(fake.line_items.len(), 2);
        let line = line_of(&fake, &campaign.media_buy_id, &campaign.package_ids[0]);
        assert_eq!(line.text_at("primaryGoal/units"), Some("240000"));
        assert_eq!(line.text_at("targeting/geoTargeting/targetedLocations/id"), Some("2840"), "the US");
        let sizes: Vec<&str> =
            line.children_named("creativePlaceholders").filter_map(|p| p.text_at("size/width")).collect();
        assert_eq!(sizes, ["300"], "the package's format only");
    }

    // Creatives: approved on upload, trafficked and associated with their line items.
    campaign.sync_creatives(&agent, &plan).await;
    campaign.booked(&agent).await;
    server.no_violations();
    let lines: Vec<String> = {
        let fake = server.fake();
        assert_eq!((fake.creatives.len(), fake.licas.len()), (2, 2));
        campaign
            .package_ids
            .iter()
            .map(|p| line_of(&fake, &campaign.media_buy_id, p).text_at("id").unwrap().to_owned())
            .collect()
    };

    // Delivery: GAM's report, read back by reconciliation.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::America::New_York).date_naive().to_string();
    server.fake().delivered =
        vec![delivered(&today, &lines[0], 8000, 12, 100_000_000), delivered(&today, &lines[1], 4000, 3, 50_000_000)];
    let delivery = campaign.delivered(&agent, 12000.0).await;
    let totals = &delivery["media_buy_deliveries"][0]["totals"];
    assert_eq!(totals["spend"].as_f64(), Some(150.0), "{delivery}");
    server.no_violations();

    // Optimize: $500 from the leaderboard to the medium rectangle; the goals follow.
    let shift = json!({"packages": [
        {"package_id": campaign.package_ids[0], "budget": 3500},
        {"package_id": campaign.package_ids[1], "budget": 1500},
    ]});
    campaign.update(&agent, shift).await;
    campaign.booked(&agent).await;
    {
        let fake = server.fake();
        let units = |p: &str| line_of(&fake, &campaign.media_buy_id, p).text_at("primaryGoal/units").map(str::to_owned);
        assert_eq!(
            (units(&campaign.package_ids[0]), units(&campaign.package_ids[1])),
            (Some("280000".into()), Some("120000".into()))
        );
    }

    // Pause, resume, cancel.
    let status =
        |fake: &Fake| fake.line_items.iter().map(|l| l.text_at("status").unwrap().to_owned()).collect::<Vec<_>>();
    campaign.update(&agent, json!({"paused": true})).await;
    campaign.booked(&agent).await;
    assert_eq!(status(&server.fake()), ["PAUSED", "PAUSED"]);
    campaign.update(&agent, json!({"paused": false})).await;
    campaign.booked(&agent).await;
    assert_eq!(status(&server.fake()), ["READY", "READY"]);
    campaign.update(&agent, json!({"canceled": true, "cancellation_reason": "campaign ended early"})).await;
    campaign.booked(&agent).await;
    server.no_violations();
    assert_eq!(order_of(&server.fake(), &campaign.media_buy_id).text_at("isArchived"), Some("true"));
    assert_eq!(campaign.buy(&agent).await["status"], "canceled");
    agent.stop().await;
}
