//! The seed-era buying tools over the AdCP 3.0 core: `get_avails` and the seed form of
//! `create_media_buy` (packages named by the package ids `get_avails` returned, `total_budget`,
//! one targeting overlay in the seed's keys), which is translated into an AdCP 3.0 request and
//! run by the ordinary create path — the same rules, approvals, idempotency and webhooks.

use serde_json::{Map, Value, json};

use super::args::Args;
use super::wire_buying::time;
use super::wire_delivery::date;
use super::{Call, SalesAgent, required};
use crate::core::Error;
use crate::core::accounts::AccountRef;
use crate::core::avails::{self, Avails, AvailsRequest, QuotedPackage};
use crate::core::delivery::ForecastTargeting;
use crate::core::media_buy::Verbatim;
use crate::core::seed;
use crate::core::tenancy::Tenant;

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::wire::Envelope;

    /// Seed 001 `get_avails`: availability and pricing of products for a flight, budget and
    /// targeting. Each answer is a package (quote) that a seed-form create_media_buy can buy for
    /// 72 hours.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct GetAvailsRequest {
        /// Product ids from list_products or discover_products.
        pub product_ids: Vec<String>,
        /// First day of the flight (YYYY-MM-DD, UTC); today or later.
        pub start_date: String,
        /// Last day of the flight (YYYY-MM-DD, UTC), inclusive.
        pub end_date: String,
        /// Budget to spread evenly across the products.
        pub budget: Option<f64>,
        /// Targeting in the seed's keys (geo_country_any_of, geo_region_any_of, device_type_any_of,
        /// os_any_of, language_any_of, audience_segment_any_of, frequency_cap, ...).
        pub targeting_overlay: Option<Map<String, Value>>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// One package's changes (seed 001 PackageUpdate); omitted fields stay as they are.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SeedPackageUpdate {
        pub package_id: String,
        /// false pauses the package, true resumes it.
        pub active: Option<bool>,
        /// New budget.
        pub budget: Option<f64>,
        /// New impression goal.
        pub impressions: Option<f64>,
        /// New bid (auction packages; fixed-price packages keep their price).
        pub cpm: Option<f64>,
        /// Daily spend cap; null removes it.
        #[serde(default, deserialize_with = "super::super::args::patch")]
        #[schemars(with = "Option<f64>")]
        pub daily_budget: Option<Option<f64>>,
        /// Daily impression cap; null removes it.
        #[serde(default, deserialize_with = "super::super::args::patch")]
        #[schemars(with = "Option<f64>")]
        pub daily_impressions: Option<Option<f64>>,
        /// even, asap or front_loaded.
        pub pacing: Option<String>,
        /// Replaces the package's creatives.
        pub creative_ids: Option<Vec<String>>,
        /// Replaces the package's targeting, in the seed's keys; null removes it.
        #[serde(default, deserialize_with = "super::super::args::patch")]
        #[schemars(with = "Option<Map<String, Value>>")]
        pub targeting_overlay: Option<Option<Map<String, Value>>>,
    }

    /// Seed 001 `update_media_buy` (PATCH): pause or resume the campaign, move its flight, set a
    /// new total budget (shared among the packages not given a budget), change packages.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SeedUpdateMediaBuyRequest {
        pub media_buy_id: String,
        /// false pauses the whole buy, true resumes it.
        pub active: Option<bool>,
        /// New first day (YYYY-MM-DD, UTC).
        pub flight_start_date: Option<String>,
        /// New last day (YYYY-MM-DD, UTC), inclusive.
        pub flight_end_date: Option<String>,
        /// New total budget.
        pub total_budget: Option<f64>,
        pub packages: Option<Vec<SeedPackageUpdate>>,
        pub idempotency_key: Option<String>,
        pub account: Option<Value>,
        pub push_notification_config: Option<Value>,
        pub context: Option<Value>,
        pub adcp_major_version: Option<Value>,
    }

    /// Seed 001 `update_package`: change packages of a media buy (PATCH semantics).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct UpdatePackageRequest {
        pub media_buy_id: String,
        pub packages: Vec<SeedPackageUpdate>,
        /// Optional: makes a retry safe (the same key and request replays the first answer).
        pub idempotency_key: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

/// The seed Targeting keys (seed 001, "Targeting Schema").
const SEED_LIST_KEYS: &[&str] = &[
    "geo_country",
    "geo_region",
    "geo_metro",
    "geo_city",
    "geo_zip",
    "device_type",
    "os",
    "browser",
    "connection_type",
    "content_category",
    "content_genre",
    "content_rating",
    "language",
    "audience_segment",
    "media_type",
];
const SEED_OBJECT_KEYS: &[&str] = &["dayparting", "frequency_cap", "custom"];
const DEVICE_TYPES: &[&str] = &["desktop", "mobile", "tablet", "ctv", "dooh"];
const PLATFORMS: &[&str] =
    &["ios", "android", "windows", "macos", "linux", "chromeos", "tvos", "tizen", "webos", "fire_os", "roku_os"];

/// A seed targeting overlay read: what a forecast narrows by, and the AdCP 3.0 overlay a buy
/// stores (3.0 dimensions where the seed key has one; the others under `ext.seed_targeting`,
/// passed to the ad server as they are).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedTargeting {
    pub forecast: ForecastTargeting,
    pub adcp: Map<String, Value>,
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, Error> {
    let list = value.as_array().ok_or_else(|| Error::invalid_with(field, "a list of strings", "e.g. [\"US\"]"))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().filter(|s| !s.trim().is_empty()).map(|s| s.trim().to_owned()).ok_or_else(|| {
                Error::invalid_with(format!("{field}[{i}]"), "a non-empty string", "remove empty values")
            })
        })
        .collect()
}

/// Reads a seed targeting overlay (field name `at`).
///
/// # Errors
/// `InvalidRequest` for malformed values, `Unsupported` for keys outside the seed's Targeting
/// schema.
pub fn seed_targeting(overlay: &Map<String, Value>, at: &str, tenant: &Tenant) -> Result<SeedTargeting, Error> {
    let mut out = SeedTargeting::default();
    let mut extra = Map::new();
    let field = |key: &str| format!("{at}.{key}");
    let list_of = |key: &str| -> Result<Vec<String>, Error> {
        match overlay.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(value) => strings(value, &field(key)),
        }
    };
    for key in overlay.keys() {
        let known = SEED_OBJECT_KEYS.contains(&key.as_str())
            || key
                .strip_suffix("_any_of")
                .or_else(|| key.strip_suffix("_none_of"))
                .is_some_and(|base| SEED_LIST_KEYS.contains(&base));
        if !known {
            return Err(Error::Unsupported {
                message: format!("{key} is not a targeting key of the seed API"),
                field: field(key),
                suggestion: "use geo_country_any_of, geo_region_any_of, geo_metro_any_of, device_type_any_of, \
                             os_any_of, language_any_of, audience_segment_any_of, content_category_any_of, \
                             dayparting, frequency_cap (and their _none_of forms)"
                    .to_owned(),
            });
        }
        if key.ends_with("_none_of") && overlay[key].as_array().is_some_and(|l| !l.is_empty()) {
            out.forecast.exclusions += 1;
        }
    }
    let countries: Vec<String> = list_of("geo_country_any_of")?.iter().map(|c| c.to_uppercase()).collect();
    for (key, adcp) in [("geo_country_any_of", "geo_countries"), ("geo_country_none_of", "geo_countries_exclude")] {
        let codes: Vec<String> = list_of(key)?.iter().map(|c| c.to_uppercase()).collect();
        if let Some(i) = codes.iter().position(|c| c.len() != 2 || !c.chars().all(|x| x.is_ascii_uppercase())) {
            return Err(Error::invalid_with(
                format!("{}[{i}]", field(key)),
                "countries are ISO 3166-1 alpha-2 codes",
                "e.g. US, CA, GB",
            ));
        }
        if !codes.is_empty() {
            out.adcp.insert(adcp.into(), json!(codes));
        }
    }
    out.forecast.countries = countries.clone();
    let home = match (countries.as_slice(), tenant.primary_countries.as_slice()) {
        ([only], _) => Some(only.clone()),
        ([], [only]) => Some(only.clone()),
        _ => None,
    };
    for (key, adcp) in [("geo_region_any_of", "geo_regions"), ("geo_region_none_of", "geo_regions_exclude")] {
        let mut codes = Vec::new();
        for (i, region) in list_of(key)?.iter().enumerate() {
            let region = region.to_uppercase();
            let code = if region.contains('-') {
                region
            } else if let Some(country) = &home {
                format!("{country}-{region}")
            } else {
                return Err(Error::invalid_with(
                    format!("{}[{i}]", field(key)),
                    format!("region {region} is ambiguous across countries"),
                    "give one geo_country_any_of country, or ISO 3166-2 codes such as US-CA",
                ));
            };
            codes.push(code);
        }
        if key.ends_with("_any_of") {
            out.forecast.regions = codes.clone();
        }
        if !codes.is_empty() {
            out.adcp.insert(adcp.into(), json!(codes));
        }
    }
    for (key, adcp) in [("device_type_any_of", "device_type"), ("device_type_none_of", "device_type_exclude")] {
        let devices: Vec<String> = list_of(key)?.iter().map(|d| d.to_lowercase()).collect();
        if let Some(i) = devices.iter().position(|d| !DEVICE_TYPES.contains(&d.as_str())) {
            return Err(Error::invalid_with(
                format!("{}[{i}]", field(key)),
                format!("{} is not a device type", devices[i]),
                "use desktop, mobile, tablet, ctv or dooh (audio inventory is chosen by product)",
            ));
        }
        if key.ends_with("_any_of") {
            out.forecast.device_types = devices.clone();
        }
        if !devices.is_empty() {
            out.adcp.insert(adcp.into(), json!(devices));
        }
    }
    let platforms: Vec<String> = list_of("os_any_of")?.iter().map(|o| o.to_lowercase().replace(' ', "_")).collect();
    if let Some(i) = platforms.iter().position(|p| !PLATFORMS.contains(&p.as_str())) {
        return Err(Error::invalid_with(
            format!("{}[{i}]", field("os_any_of")),
            format!("{} is not an operating system this seller targets", platforms[i]),
            format!("use {}", PLATFORMS.join(", ")),
        ));
    }
    if !platforms.is_empty() {
        out.forecast.operating_systems = platforms.clone();
        out.adcp.insert("device_platform".into(), json!(platforms));
    }
    let languages: Vec<String> = list_of("language_any_of")?.iter().map(|l| l.to_lowercase()).collect();
    if let Some(i) = languages.iter().position(|l| l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase())) {
        return Err(Error::invalid_with(
            format!("{}[{i}]", field("language_any_of")),
            "languages are ISO 639-1 codes",
            "e.g. en, es, fr",
        ));
    }
    if !languages.is_empty() {
        out.forecast.languages = languages.clone();
        out.adcp.insert("language".into(), json!(languages));
    }
    if let Some(cap) = overlay.get("frequency_cap").filter(|v| !v.is_null()) {
        let minutes =
            cap.get("suppress_minutes").and_then(Value::as_f64).filter(|m| m.is_finite() && *m > 0.0).ok_or_else(
                || {
                    Error::invalid_with(
                        format!("{}.suppress_minutes", field("frequency_cap")),
                        "frequency_cap needs suppress_minutes, a positive number of minutes",
                        "e.g. {\"suppress_minutes\": 30, \"scope\": \"media_buy\"}",
                    )
                },
            )?;
        out.adcp.insert("frequency_cap".into(), json!({ "suppress_minutes": minutes }));
        if let Some(scope) = cap.get("scope") {
            extra.insert("frequency_cap_scope".into(), scope.clone());
        }
    }
    out.forecast.metros = list_of("geo_metro_any_of")?;
    out.forecast.cities = list_of("geo_city_any_of")?;
    out.forecast.postal_codes = list_of("geo_zip_any_of")?;
    out.forecast.audience_segments = list_of("audience_segment_any_of")?;
    const TRANSLATED: &[&str] = &[
        "geo_country_any_of",
        "geo_country_none_of",
        "geo_region_any_of",
        "geo_region_none_of",
        "device_type_any_of",
        "device_type_none_of",
        "os_any_of",
        "language_any_of",
        "frequency_cap",
    ];
    for (key, value) in overlay {
        if !TRANSLATED.contains(&key.as_str()) && !value.is_null() {
            if !SEED_OBJECT_KEYS.contains(&key.as_str()) {
                strings(value, &field(key))?;
            }
            extra.insert(key.clone(), value.clone());
        }
    }
    if !extra.is_empty() {
        out.adcp.insert("ext".into(), json!({ "seed_targeting": extra }));
    }
    Ok(out)
}

fn avails_response(avails: &Avails, currency: &str) -> Map<String, Value> {
    let mut body = Map::new();
    let packages: Vec<Value> = avails
        .quotes
        .iter()
        .map(|q| {
            let mut value = json!({
                "package_id": q.quote_id,
                "product_id": q.product_id,
                "name": q.name,
                "impressions": q.impressions,
                "cpm": q.cpm,
                "total_cost": q.total_cost,
                "availability": q.availability,
                "start_date": q.start_time.date_naive().to_string(),
                "end_date": (q.end_time - chrono::Duration::seconds(1)).date_naive().to_string(),
                "expires_at": time(q.expires_at),
            });
            if let Some(targeting) = &q.targeting {
                value["targeting_applied"] = serde_json::from_str(&targeting.0).unwrap_or(Value::Null);
            }
            value
        })
        .collect();
    body.insert("packages".into(), packages.into());
    if !avails.unavailable.is_empty() {
        body.insert(
            "unavailable_products".into(),
            avails
                .unavailable
                .iter()
                .map(|u| json!({"product_id": u.product_id, "reason": u.reason}))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    body.insert("total_budget".into(), json!(avails.total_cost));
    body.insert("total_impressions".into(), json!(avails.total_impressions));
    if let Some(utilization) = avails.budget_utilization {
        body.insert("budget_utilization".into(), json!(utilization));
    }
    body.insert("currency".into(), currency.into());
    body
}

/// The start of the AdCP 3.0 request a seed-era request means: its `idempotency_key` (a fresh
/// one when the seed request has none: seed clients send none, so a retry is a new request), and
/// what carries over as it is (`context`, `adcp_major_version`, `push_notification_config` and
/// `extra`).
pub(super) fn adcp_request_from(seed: &Map<String, Value>, extra: &[&str]) -> Map<String, Value> {
    let mut request = Map::new();
    let key = seed
        .get("idempotency_key")
        .filter(|k| !k.is_null())
        .cloned()
        .unwrap_or_else(|| format!("seed-{}", uuid::Uuid::new_v4().simple()).into());
    request.insert("idempotency_key".into(), key);
    for key in ["context", "adcp_major_version", "push_notification_config"].iter().chain(extra) {
        if let Some(value) = seed.get(*key) {
            request.insert((*key).into(), value.clone());
        }
    }
    request
}

/// Whether an `update_media_buy` request is in the seed's form: seed 001's top-level keys
/// (`active`, `flight_start_date`, `flight_end_date`, a numeric `total_budget`) or package keys
/// (`active`, `cpm`, `daily_budget`, `daily_impressions`, `creative_ids`).
pub fn is_seed_update(args: &Args) -> bool {
    let map = &args.0;
    ["active", "flight_start_date", "flight_end_date"].iter().any(|k| map.contains_key(*k))
        || map.get("total_budget").is_some_and(Value::is_number)
        || map.get("packages").and_then(Value::as_array).is_some_and(|list| {
            list.iter().any(|p| {
                ["active", "cpm", "daily_budget", "daily_impressions", "creative_ids"]
                    .iter()
                    .any(|k| p.get(*k).is_some())
            })
        })
}

/// Whether a `create_media_buy` request is in the seed's form: packages given as package ids.
pub fn is_seed_create(args: &Args) -> bool {
    args.0.get("packages").and_then(Value::as_array).is_some_and(|list| list.iter().any(Value::is_string))
}

/// The AdCP 3.0 `create_media_buy` request a seed-form one means.
fn adcp_create_request(
    args: &Map<String, Value>,
    packages: &[QuotedPackage],
    account: Value,
    brand: Option<Value>,
    targeting: Option<&SeedTargeting>,
    daily_budget: Option<f64>,
) -> Result<Map<String, Value>, Error> {
    let pacing = match args.get("pacing") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if matches!(p.as_str(), "even" | "asap" | "front_loaded") => Some(p.clone()),
        Some(_) => return Err(Error::invalid_with("pacing", "unknown pacing", "use even, asap or front_loaded")),
    };
    let start = packages.iter().map(|p| p.start_time).min().flatten();
    let end = packages.iter().map(|p| p.quote.end_time).max().unwrap_or_default();
    let mut request = adcp_request_from(args, &["reporting_webhook"]);
    let brand = match (&account, brand) {
        (_, Some(brand)) if !brand.is_null() => Some(brand),
        (Value::Object(a), _) if a.contains_key("brand") => Some(a["brand"].clone()),
        _ => None,
    };
    request.insert("account".into(), account);
    if let Some(brand) = brand {
        request.insert("brand".into(), brand);
    }
    request.insert("start_time".into(), start.map_or_else(|| "asap".into(), time));
    request.insert("end_time".into(), time(end));
    if let Some(po) = args.get("po_number").filter(|v| !v.is_null()) {
        request.insert("po_number".into(), po.clone());
    }
    let total = packages.iter().fold(0.0, |sum, p| sum + p.budget);
    let packages: Vec<Value> = packages
        .iter()
        .map(|p| {
            let mut package = json!({
                "product_id": p.quote.product_id,
                "pricing_option_id": p.quote.pricing_option_id,
                "budget": p.budget,
                "ext": { "seed_quote_id": p.quote.quote_id },
            });
            // A buy-level daily cap is shared by the packages in proportion to their budgets.
            if let Some(daily) = daily_budget
                && total > 0.0
            {
                package["ext"]["seed_daily_budget"] = json!((daily * p.budget / total * 100.0).round() / 100.0);
            }
            if let Some(start) = p.start_time {
                package["start_time"] = time(start);
            }
            package["end_time"] = time(p.quote.end_time);
            if let Some(pacing) = &pacing {
                package["pacing"] = json!(pacing);
            }
            if let Some(targeting) = targeting.filter(|t| !t.adcp.is_empty()) {
                package["targeting_overlay"] = Value::Object(targeting.adcp.clone());
            }
            package
        })
        .collect();
    request.insert("packages".into(), packages.into());
    Ok(request)
}

/// The AdCP 3.0 `update_media_buy` request a seed `update_package` means: each package's
/// changes in 3.0 names (`active` is `paused` inverted, `cpm` a bid, daily caps and null-clears
/// under `ext`, targeting translated).
fn adcp_update_request(
    request: &schemas::UpdatePackageRequest,
    tenant: &Tenant,
    args: &Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    if request.packages.is_empty() {
        return Err(Error::invalid_with("packages", "no package changes given", "send at least one package"));
    }
    let packages = request
        .packages
        .iter()
        .enumerate()
        .map(|(index, change)| adcp_package_change(change, &format!("packages[{index}]"), tenant))
        .collect::<Result<Vec<_>, _>>()?;
    let mut adcp = adcp_request_from(args, &[]);
    adcp.insert("media_buy_id".into(), request.media_buy_id.clone().into());
    adcp.insert("packages".into(), packages.into());
    Ok(adcp)
}

/// One seed package change in AdCP 3.0 names.
fn adcp_package_change(change: &schemas::SeedPackageUpdate, at: &str, tenant: &Tenant) -> Result<Value, Error> {
    let mut package = json!({ "package_id": change.package_id });
    if let Some(active) = change.active {
        package["paused"] = json!(!active);
    }
    if let Some(budget) = change.budget {
        package["budget"] = json!(budget);
    }
    if let Some(impressions) = change.impressions {
        package["impressions"] = json!(impressions);
    }
    if let Some(cpm) = change.cpm {
        package["bid_price"] = json!(cpm);
    }
    if let Some(pacing) = &change.pacing {
        if !matches!(pacing.as_str(), "even" | "asap" | "front_loaded") {
            return Err(Error::invalid_with(
                format!("{at}.pacing"),
                "unknown pacing",
                "use even, asap or front_loaded",
            ));
        }
        package["pacing"] = json!(pacing);
    }
    if let Some(creatives) = &change.creative_ids {
        package["creative_assignments"] =
            creatives.iter().map(|id| json!({ "creative_id": id })).collect::<Vec<_>>().into();
    }
    match &change.targeting_overlay {
        None => {}
        Some(None) => package["targeting_overlay"] = json!({}),
        Some(Some(overlay)) => {
            let targeting = seed_targeting(overlay, &format!("{at}.targeting_overlay"), tenant)?;
            package["targeting_overlay"] = Value::Object(targeting.adcp);
        }
    }
    let mut ext = Map::new();
    if let Some(cap) = change.daily_budget {
        ext.insert("seed_daily_budget".into(), json!(cap));
    }
    if let Some(cap) = change.daily_impressions {
        ext.insert("seed_daily_impressions".into(), json!(cap));
    }
    if !ext.is_empty() {
        package["ext"] = Value::Object(ext);
    }
    Ok(package)
}

/// Seed 001's answer to an update (`update_package`), from the AdCP 3.0 one.
fn seed_updated_response(adcp: Map<String, Value>) -> Map<String, Value> {
    let mut body = Map::new();
    if adcp.get("status").and_then(Value::as_str) == Some("submitted") {
        body.insert("status".into(), "pending_manual".into());
        body.insert("task_id".into(), adcp.get("task_id").cloned().unwrap_or(Value::Null));
        body.insert(
            "detail".into(),
            "The change waits for publisher approval; poll update_media_buy_status with the task_id".into(),
        );
        return body;
    }
    let affected: Vec<Value> = adcp
        .get("affected_packages")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|p| p.get("package_id").cloned()).collect())
        .unwrap_or_default();
    body.insert("status".into(), "accepted".into());
    for key in ["media_buy_id", "implementation_date", "revision"] {
        if let Some(value) = adcp.get(key) {
            body.insert(key.into(), value.clone());
        }
    }
    body.insert("detail".into(), format!("{} package(s) updated", affected.len()).into());
    body.insert("affected_packages".into(), affected.into());
    if adcp.get("dry_run") == Some(&Value::Bool(true)) {
        body.insert("dry_run".into(), true.into());
    }
    body
}

impl SalesAgent {
    /// The seed form of `update_media_buy`: the AdCP 3.0 update it means (a new total budget is
    /// shared among the packages given no budget of their own, in proportion to their budgets),
    /// answered in the seed's shape.
    pub(super) async fn update_media_buy_seed(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::SeedUpdateMediaBuyRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let changes = request.packages.clone().unwrap_or_default();
        let mut packages = changes
            .iter()
            .enumerate()
            .map(|(index, change)| adcp_package_change(change, &format!("packages[{index}]"), tenant))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pinned_revision = None;
        if let Some(total) = request.total_budget {
            let named: Vec<(String, f64)> =
                changes.iter().filter_map(|c| c.budget.map(|b| (c.package_id.clone(), b))).collect();
            let (revision, shares) =
                seed::spread_total_budget(self.app.db(), principal, &request.media_buy_id, total, &named).await?;
            // The shares were computed from this revision: a change in between is refused with
            // CONFLICT rather than spread over stale budgets.
            pinned_revision = Some(revision);
            for (package_id, budget) in shares {
                match packages.iter_mut().find(|p| p["package_id"] == json!(package_id)) {
                    Some(package) => package["budget"] = json!(budget),
                    None => packages.push(json!({ "package_id": package_id, "budget": budget })),
                }
            }
        }
        let mut adcp = adcp_request_from(&call.args.0, &["account"]);
        adcp.insert("media_buy_id".into(), request.media_buy_id.clone().into());
        if let Some(active) = request.active {
            adcp.insert("paused".into(), (!active).into());
        }
        if let Some(day) = &request.flight_start_date {
            let start = date(day, "flight_start_date")?;
            adcp.insert("start_time".into(), format!("{start}T00:00:00Z").into());
        }
        if let Some(day) = &request.flight_end_date {
            let end = date(day, "flight_end_date")?;
            let after = end.succ_opt().unwrap_or(end);
            adcp.insert("end_time".into(), format!("{after}T00:00:00Z").into());
        }
        if !packages.is_empty() {
            adcp.insert("packages".into(), packages.into());
        }
        if let Some(revision) = pinned_revision {
            adcp.insert("revision".into(), revision.into());
        }
        let update = Call { args: Args(adcp), principal: call.principal.clone(), hooks: call.hooks };
        let mut answer = seed_updated_response(self.update_media_buy(update).await?);
        answer.insert("request_form".into(), "seed_001".into());
        Ok(answer)
    }

    /// Seed `update_package`: the AdCP 3.0 `update_media_buy` it means, answered in the seed's
    /// shape.
    pub(super) async fn update_package(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::UpdatePackageRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let adcp = adcp_update_request(&request, tenant, &call.args.0)?;
        let update = Call { args: Args(adcp), principal: call.principal.clone(), hooks: call.hooks };
        Ok(seed_updated_response(self.update_media_buy(update).await?))
    }

    pub(super) async fn get_avails(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::GetAvailsRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let targeting = request
            .targeting_overlay
            .as_ref()
            .map(|o| seed_targeting(o, "targeting_overlay", tenant))
            .transpose()?
            .unwrap_or_default();
        let query = AvailsRequest {
            product_ids: request.product_ids,
            start_date: date(&request.start_date, "start_date")?,
            end_date: date(&request.end_date, "end_date")?,
            budget: request.budget,
            targeting: targeting.forecast,
            overlay: request.targeting_overlay.map(|o| Verbatim(Value::Object(o).to_string())),
            line_overlay: (!targeting.adcp.is_empty()).then(|| Verbatim(Value::Object(targeting.adcp).to_string())),
        };
        let catalog = self.app.catalog(tenant).await?;
        let now = self.app.clock().now();
        let avails = avails::get_avails(
            self.app.db(),
            self.app.ad_server(&tenant.tenant_id),
            &catalog,
            tenant,
            principal,
            &query,
            now,
        )
        .await?;
        let currency = avails
            .quotes
            .first()
            .and_then(|q| catalog.product(&q.product_id))
            .and_then(|p| p.pricing_options.first())
            .map_or_else(|| "USD".to_owned(), |o| o.currency.clone());
        Ok(avails_response(&avails, &currency))
    }

    /// The seed form of `create_media_buy`: resolves the quotes and the account, then runs the
    /// AdCP 3.0 create with the request they mean, and answers in the seed's shape.
    pub(super) async fn create_media_buy_seed(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let args = &call.args.0;
        let quote_ids = strings(&args["packages"], "packages")?;
        let total_budget = match args.get("total_budget") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::Object(o)) => o.get("amount").and_then(Value::as_f64),
            Some(_) => {
                return Err(Error::invalid_with(
                    "total_budget",
                    "total_budget is an amount",
                    "give a number, e.g. 50000",
                ));
            }
        };
        let daily_budget = match args.get("daily_budget") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_f64().filter(|d| d.is_finite() && *d > 0.0).ok_or_else(|| {
                Error::invalid_with(
                    "daily_budget",
                    "daily_budget is a positive amount",
                    "e.g. 2000, or null for no cap",
                )
            })?),
        };
        let targeting = match args.get("targeting_overlay") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(seed_targeting(o, "targeting_overlay", tenant)?),
            Some(_) => {
                return Err(Error::invalid_with(
                    "targeting_overlay",
                    "targeting_overlay is an object",
                    "e.g. {\"geo_country_any_of\": [\"US\"]}",
                ));
            }
        };
        let now = self.app.clock().now();
        let packages = avails::quoted_packages(self.app.db(), tenant, principal, &quote_ids, total_budget, now).await?;
        let (account, brand) = match args.get("account") {
            Some(account) if !account.is_null() => (account.clone(), args.get("brand").cloned()),
            _ => match avails::default_account(self.app.db(), tenant, principal).await? {
                (AccountRef::Id(id), brand) => (json!({ "account_id": id }), Some(json!({ "domain": brand }))),
                (AccountRef::Key(key), brand) => (
                    json!({ "brand": {"domain": key.brand_domain}, "operator": key.operator }),
                    Some(json!({ "domain": brand })),
                ),
            },
        };
        let request = adcp_create_request(args, &packages, account, brand, targeting.as_ref(), daily_budget)?;
        let adcp = Call { args: Args(request), principal: call.principal.clone(), hooks: call.hooks };
        let created = self.create_media_buy(adcp).await?;
        Ok(seed_created_response(created, &packages))
    }
}

/// Seed 001's answer to `create_media_buy`, from the AdCP 3.0 one.
fn seed_created_response(adcp: Map<String, Value>, packages: &[QuotedPackage]) -> Map<String, Value> {
    let mut body = Map::new();
    let status = adcp.get("status").and_then(Value::as_str).unwrap_or_default();
    let package_ids: Vec<&str> = packages.iter().map(|p| p.quote.quote_id.as_str()).collect();
    if status == "submitted" {
        body.insert("status".into(), "pending_manual".into());
        body.insert("task_id".into(), adcp.get("task_id").cloned().unwrap_or(Value::Null));
        body.insert("detail".into(), "The media buy waits for publisher approval; it is created when approved".into());
        body.insert(
            "next_steps".into(),
            json!([
                "Poll update_media_buy_status with the task_id (or tasks/get)",
                "Once approved, upload creative assets with add_creative_assets",
            ]),
        );
    } else {
        let seed_status = match status {
            "pending_creatives" => "pending_activation",
            "pending_start" => "scheduled",
            other => other,
        };
        for key in ["media_buy_id", "creative_deadline"] {
            if let Some(value) = adcp.get(key) {
                body.insert(key.into(), value.clone());
            }
        }
        body.insert("status".into(), seed_status.into());
        body.insert("adcp_status".into(), status.into());
        body.insert("detail".into(), format!("Media buy created with {} package(s)", packages.len()).into());
        body.insert(
            "next_steps".into(),
            json!([
                "Upload creative assets with add_creative_assets before the creative deadline",
                "Assets are reviewed before they run",
                "The campaign activates once its creatives are approved and its flight starts",
            ]),
        );
        if adcp.get("dry_run") == Some(&Value::Bool(true)) {
            body.insert("dry_run".into(), true.into());
        }
    }
    body.insert("packages".into(), json!(package_ids));
    body.insert(
        "total_budget".into(),
        json!((packages.iter().fold(0.0, |sum, p| sum + p.budget) * 100.0).round() / 100.0),
    );
    body.insert("request_form".into(), "seed_001".into());
    body
}
