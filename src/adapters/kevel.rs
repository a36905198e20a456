//! Kevel over its Management API (`https://api.kevel.co/v1`, header `X-Adzerk-ApiKey`): a buy is
//! a campaign of the brand's advertiser, each package a flight of it.
//!
//! - Creates are find-or-create on deterministic names: the advertiser by `ExternalId` (the
//!   brand's domain), the campaign by `adcp:<media_buy_id>`, the flight by
//!   `adcp:<media_buy_id>:<package_id>`, so a create retried after an unknown outcome finds what
//!   the first attempt made.
//! - Updates are GET-merge-PUT of the whole object: the fields this seller owns are set, every
//!   other field goes back as Kevel sent it. Pause and resume set `IsActive`; cancel also sets
//!   `IsArchived` (Kevel deletes nothing).
//! - Delivery comes from the queued reporting API: one report of the campaign by day and flight
//!   (`optionId`), polled until done.
//! - Kevel has no availability forecast.
//!
//! Dry-run prints every call (see [`JsonApi`]) and simulates Kevel's answers with ids derived
//! from ours.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::http::{JsonApi, KnownIds, RateLimitRetry, Recorder, ReportWait, simulated_id};
use crate::core::booking::{
    AdServerError, AdServerOp, Applied, Booking, CreativeSpec, LineSpec, OrderSpec, RunState, Serving,
};
use crate::core::catalog::PricingModel;
use crate::core::delivery::{AdServer, Forecast, ForecastRequest, Metrics, ReportRequest, Reported, ReportedDay};
use crate::core::media_buy::MediaBuy;
use crate::core::reconcile::{PlatformLine, PlatformState, PlatformStatus, from_lines};

pub const DEFAULT_BASE_URL: &str = "https://api.kevel.co";

/// How this seller's products map to Kevel inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KevelProduct {
    /// The flight priority (required by Kevel); the tenant's default when absent.
    pub priority_id: Option<i64>,
    /// Site and zone pairs the flights of the product target (`SiteZoneTargeting`).
    pub site_zones: Vec<(i64, Option<i64>)>,
}

/// A tenant's Kevel settings.
#[derive(Clone, PartialEq)]
pub struct KevelSettings {
    pub base_url: String,
    pub api_key: String,
    pub default_priority_id: i64,
    pub products: HashMap<String, KevelProduct>,
    /// Kevel ad type ids by creative size (`(300, 250)`): a creative's ad type.
    pub ad_types: HashMap<(u32, u32), i64>,
    pub dry_run: bool,
    pub retry: RateLimitRetry,
    /// How long delivery waits for a queued report, polling at growing intervals.
    pub report_wait: Duration,
}

impl std::fmt::Debug for KevelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KevelSettings")
            .field("base_url", &self.base_url)
            .field("default_priority_id", &self.default_priority_id)
            .field("products", &self.products)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

pub struct Kevel {
    api: JsonApi,
    settings: KevelSettings,
    advertisers: KnownIds,
}

impl Kevel {
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(settings: KevelSettings) -> Result<Kevel, AdServerError> {
        let api = JsonApi::new(
            "kevel",
            &settings.base_url,
            vec![("X-Adzerk-ApiKey", settings.api_key.clone())],
            settings.dry_run,
            settings.retry,
        )?;
        Ok(Kevel { api, settings, advertisers: KnownIds::default() })
    }

    /// This adapter in dry-run, writing the calls it would make to `recorder` (one request's
    /// `X-Dry-Run`).
    pub fn rehearsal(&self, recorder: Recorder) -> Kevel {
        Kevel {
            api: self.api.rehearsal(recorder),
            settings: KevelSettings { dry_run: true, ..self.settings.clone() },
            advertisers: KnownIds::default(),
        }
    }

    async fn book(&self, buy: &MediaBuy, booking: &Booking, op: &AdServerOp) -> Result<Applied, AdServerError> {
        match op {
            AdServerOp::CreateOrder(order) => {
                let advertiser = self.advertiser(&order.brand_domain).await?;
                let campaign = self.campaign(advertiser, order).await?;
                Ok(Applied { platform_id: Some(campaign.to_string()) })
            }
            AdServerOp::CreateLine(line) => {
                let campaign = campaign_id(booking)?;
                let flight = self.flight(buy, campaign, line).await?;
                self.flight_creatives(buy, campaign, flight, line, true).await?;
                Ok(Applied { platform_id: Some(flight.to_string()) })
            }
            AdServerOp::UpdateLine(line) => {
                let campaign = campaign_id(booking)?;
                let flight = booking
                    .lines
                    .iter()
                    .find(|l| l.package_id == line.package_id)
                    .and_then(|l| l.line_id.parse::<i64>().ok())
                    .ok_or_else(|| AdServerError::Permanent(format!("no Kevel flight for {}", line.package_id)))?;
                let owned = self.flight_fields(buy, campaign, line)?;
                let path = format!("/v1/flight/{flight}");
                self.merge_put(&format!("{path}?excludeAds=true"), &path, owned).await?;
                self.flight_creatives(buy, campaign, flight, line, false).await?;
                Ok(Applied::default())
            }
            AdServerOp::SetOrderState(state) => {
                let campaign = campaign_id(booking)?;
                let owned = state_fields(*state);
                let path = format!("/v1/campaign/{campaign}");
                self.merge_put(&path, &path, owned).await?;
                Ok(Applied::default())
            }
        }
    }

    /// The brand's advertiser: found by `ExternalId`, else created; remembered.
    async fn advertiser(&self, brand_domain: &str) -> Result<i64, AdServerError> {
        let make =
            || Ok(json!({"Title": brand_domain, "ExternalId": brand_domain, "IsActive": true, "IsDeleted": false}));
        if let Some(id) = self.advertisers.get(brand_domain) {
            return Ok(id);
        }
        let id = self
            .find_or_create("/v1/advertiser?", ("ExternalId", brand_domain), "/v1/advertiser", make, brand_domain)
            .await?;
        Ok(self.advertisers.keep(brand_domain, id))
    }

    async fn campaign(&self, advertiser: i64, order: &OrderSpec) -> Result<i64, AdServerError> {
        let name = campaign_name(&order.media_buy_id);
        let list = format!("/v1/campaign?advertiserId={advertiser}&");
        let make = || {
            Ok(json!({
                "AdvertiserId": advertiser,
                "Name": name,
                "IsActive": true,
                "IsDeleted": false,
                "IsArchived": false,
            }))
        };
        self.find_or_create(&list, ("Name", &name), "/v1/campaign", make, &order.media_buy_id).await
    }

    async fn flight(&self, buy: &MediaBuy, campaign: i64, line: &LineSpec) -> Result<i64, AdServerError> {
        let name = flight_name(&buy.media_buy_id, &line.package_id);
        let list = format!("/v1/campaign/{campaign}/flight?");
        let make = || {
            let mut body = self.flight_fields(buy, campaign, line)?;
            body.insert("IsDeleted".into(), false.into());
            body.insert("NoEndDate".into(), false.into());
            let site_zones: Vec<Value> = self.settings.products.get(&line.product_id).map_or_else(Vec::new, |m| {
                m.site_zones
                    .iter()
                    .map(|(site, zone)| json!({"SiteId": site, "ZoneId": zone, "IsExcluded": false}))
                    .collect()
            });
            if !site_zones.is_empty() {
                body.insert("SiteZoneTargeting".into(), site_zones.into());
            }
            Ok(Value::Object(body))
        };
        self.find_or_create(&list, ("Name", &name), "/v1/flight", make, &line.package_id).await
    }

    /// The flight serves the line's creatives and no others: each creative found (by title
    /// under the advertiser) or made, mapped to the flight once as an ad; ads of creatives no
    /// longer wanted are deactivated, of creatives wanted again activated (GET-merge-PUT).
    async fn flight_creatives(
        &self,
        buy: &MediaBuy,
        campaign: i64,
        flight: i64,
        line: &LineSpec,
        new: bool,
    ) -> Result<(), AdServerError> {
        if new && line.creatives.is_empty() {
            return Ok(());
        }
        let mut wanted = Vec::new();
        if !line.creatives.is_empty() {
            let advertiser = self.advertiser(&buy.brand_domain).await?;
            for creative in &line.creatives {
                wanted.push(self.creative(advertiser, creative).await?);
            }
        }
        let ads = self.list(&format!("/v1/flight/{flight}/creatives?")).await?;
        let ad_of =
            |creative: i64| ads.iter().find(|ad| ad.pointer("/Creative/Id").and_then(Value::as_i64) == Some(creative));
        for creative in &wanted {
            match ad_of(*creative) {
                None => {
                    let ad = json!({"Creative": {"Id": creative}, "FlightId": flight, "CampaignId": campaign, "IsActive": true});
                    self.api.call(Method::POST, &format!("/v1/flight/{flight}/creative"), Some(&ad)).await?;
                }
                Some(ad) if ad.get("IsActive") == Some(&Value::Bool(false)) => {
                    self.set_ad_active(flight, ad, true).await?
                }
                Some(_) => {}
            }
        }
        for ad in &ads {
            let creative = ad.pointer("/Creative/Id").and_then(Value::as_i64);
            if ad.get("IsActive") == Some(&Value::Bool(true)) && creative.is_none_or(|c| !wanted.contains(&c)) {
                self.set_ad_active(flight, ad, false).await?;
            }
        }
        Ok(())
    }

    async fn set_ad_active(&self, flight: i64, ad: &Value, active: bool) -> Result<(), AdServerError> {
        let id = id_of(ad, "ad")?;
        let mut owned = Map::new();
        owned.insert("IsActive".into(), active.into());
        self.merge_put(&format!("/v1/ad/{id}"), &format!("/v1/flight/{flight}/creative/{id}"), owned).await
    }

    /// The advertiser's creative for `spec`, found by title (`adcp:<creative_id>`) and brought
    /// up to date (GET-merge-PUT), or made.
    async fn creative(&self, advertiser: i64, spec: &CreativeSpec) -> Result<i64, AdServerError> {
        let owned = self.creative_fields(advertiser, spec)?;
        let title = creative_title(&spec.creative_id);
        let listed = self.list(&format!("/v1/advertiser/{advertiser}/creatives?")).await?;
        if let Some(found) = listed.iter().find(|c| c.get("Title").and_then(Value::as_str) == Some(title.as_str())) {
            let id = id_of(found, "creative")?;
            if owned.iter().any(|(k, v)| found.get(k) != Some(v)) {
                let path = format!("/v1/creative/{id}");
                self.merge_put(&path, &path, owned).await?;
            }
            return Ok(id);
        }
        let made = self.api.call(Method::POST, "/v1/creative", Some(&Value::Object(owned))).await?;
        if self.api.dry_run() {
            return Ok(simulated_id(&spec.creative_id));
        }
        id_of(&made, "/v1/creative")
    }

    /// The creative fields this seller owns: an image with its click URL, or an HTML/JavaScript
    /// body, under the ad type of its size.
    fn creative_fields(&self, advertiser: i64, spec: &CreativeSpec) -> Result<Map<String, Value>, AdServerError> {
        let size = spec.width.zip(spec.height);
        let ad_type = size.and_then(|s| self.settings.ad_types.get(&s)).ok_or_else(|| {
            let (w, h) = size.unwrap_or_default();
            AdServerError::Permanent(format!(
                "kevel: creative {} ({w}x{h}) has no Kevel ad type; map its size in ad_server.kevel.ad_types",
                spec.creative_id
            ))
        })?;
        let mut fields = Map::new();
        fields.insert("AdvertiserId".into(), advertiser.into());
        fields.insert("AdTypeId".into(), (*ad_type).into());
        fields.insert("Title".into(), creative_title(&spec.creative_id).into());
        fields.insert("IsActive".into(), true.into());
        if let Some(url) = &spec.click_url {
            fields.insert("Url".into(), url.clone().into());
        }
        match &spec.serving {
            Serving::Image { url } => {
                fields.insert("ImageLink".into(), url.clone().into());
                fields.insert("IsHTMLJS".into(), false.into());
            }
            Serving::Html { snippet } => {
                fields.insert("IsHTMLJS".into(), true.into());
                fields.insert("ScriptBody".into(), snippet.clone().into());
            }
            _ => {
                return Err(AdServerError::Permanent(format!(
                    "kevel: creative {} must be an image or an HTML or JavaScript tag to serve in Kevel",
                    spec.creative_id
                )));
            }
        }
        Ok(fields)
    }

    /// Every item of a paged list (`page`, `pageSize`, `totalPages`, `items`); none in dry-run.
    async fn list(&self, list: &str) -> Result<Vec<Value>, AdServerError> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let listed = self.api.call(Method::GET, &format!("{list}page={page}&pageSize=500"), None).await?;
            if self.api.dry_run() {
                return Ok(all);
            }
            let items = listed.get("items").and_then(Value::as_array).ok_or_else(|| malformed(list, "no items"))?;
            all.extend(items.iter().cloned());
            let pages = listed.get("totalPages").and_then(Value::as_i64).unwrap_or(1);
            if page >= pages || items.is_empty() {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// The flight fields this seller owns: name, dates, goal, rate, budget caps, priority, state.
    fn flight_fields(
        &self,
        buy: &MediaBuy,
        campaign: i64,
        line: &LineSpec,
    ) -> Result<Map<String, Value>, AdServerError> {
        let (rate_type, goal_type, goal) = match line.pricing_model {
            PricingModel::Cpm => (2, 1, line.impressions),
            PricingModel::FlatRate => (1, 1, line.impressions),
            PricingModel::Cpc if line.rate > 0.0 => (3, 3, line.budget / line.rate),
            other => {
                return Err(AdServerError::Permanent(format!(
                    "Kevel flights are priced by CPM, CPC or flat rate, not {}",
                    other.as_str()
                )));
            }
        };
        let priority = self
            .settings
            .products
            .get(&line.product_id)
            .and_then(|m| m.priority_id)
            .unwrap_or(self.settings.default_priority_id);
        let mut fields = Map::new();
        fields.insert("Name".into(), flight_name(&buy.media_buy_id, &line.package_id).into());
        fields.insert("CampaignId".into(), campaign.into());
        fields.insert("PriorityId".into(), priority.into());
        fields.insert("StartDateISO".into(), iso(line.start).into());
        fields.insert("EndDateISO".into(), iso(line.end).into());
        fields.insert("GoalType".into(), goal_type.into());
        fields.insert("Impressions".into(), (goal.round().clamp(0.0, 2_147_483_647.0) as i64).into());
        fields.insert("RateType".into(), rate_type.into());
        fields.insert("Price".into(), line.rate.into());
        // Budget as a lifetime revenue cap; Kevel wants the whole amount rounded up beside the
        // decimal one.
        fields.insert("CapType".into(), 4.into());
        fields.insert("LifetimeCapAmount".into(), (line.budget.ceil() as i64).into());
        fields.insert("LifetimeCapAmountDecimal".into(), line.budget.into());
        match line.daily_budget {
            Some(daily) => {
                fields.insert("DailyCapAmount".into(), (daily.ceil() as i64).into());
                fields.insert("DailyCapAmountDecimal".into(), daily.into());
            }
            None => {
                fields.insert("DailyCapAmount".into(), Value::Null);
                fields.insert("DailyCapAmountDecimal".into(), Value::Null);
            }
        }
        fields.extend(state_fields(line.state));
        Ok(fields)
    }

    /// Find-or-create: the `Id` of the first item of the paged list at `list` (`page`,
    /// `pageSize`, `totalPages`, `items`) whose `field` is `value`; else of the object `make`
    /// describes, POSTed to `path`. In dry-run nothing is found, and the new id is derived from
    /// `ours`.
    async fn find_or_create(
        &self,
        list: &str,
        (field, value): (&str, &str),
        path: &str,
        make: impl FnOnce() -> Result<Value, AdServerError>,
        ours: &str,
    ) -> Result<i64, AdServerError> {
        let mut page = 1;
        loop {
            let listed = self.api.call(Method::GET, &format!("{list}page={page}&pageSize=500"), None).await?;
            if self.api.dry_run() {
                break;
            }
            let items = listed.get("items").and_then(Value::as_array).ok_or_else(|| malformed(list, "no items"))?;
            if let Some(item) = items.iter().find(|item| item.get(field).and_then(Value::as_str) == Some(value)) {
                return id_of(item, list);
            }
            let pages = listed.get("totalPages").and_then(Value::as_i64).unwrap_or(1);
            if page >= pages || items.is_empty() {
                break;
            }
            page += 1;
        }
        let made = self.api.call(Method::POST, path, Some(&make()?)).await?;
        if self.api.dry_run() {
            return Ok(simulated_id(ours));
        }
        id_of(&made, path)
    }

    /// GET the object (at `get`), set `owned` on it, PUT it whole (to `put`).
    async fn merge_put(&self, get: &str, put: &str, owned: Map<String, Value>) -> Result<(), AdServerError> {
        let current = self.api.call(Method::GET, get, None).await?;
        let mut object = match current {
            Value::Object(object) => object,
            Value::Null if self.api.dry_run() => Map::new(),
            _ => return Err(malformed(get, "not an object")),
        };
        object.extend(owned);
        self.api.call(Method::PUT, put, Some(&Value::Object(object))).await?;
        Ok(())
    }

    /// The campaign's report by day and flight from the (UTC) day of `from` to that of `until`;
    /// `None` in a dry-run.
    async fn report(
        &self,
        campaign: i64,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Vec<Value>>, AdServerError> {
        let body = json!({
            "StartDateISO": day(from.date_naive()),
            "EndDateISO": day(until.date_naive().max(from.date_naive())),
            "GroupBy": ["day", "optionId"],
            "Parameters": [{"campaignId": campaign}],
        });
        let queued = self.api.call(Method::POST, "/v1/report/queue", Some(&body)).await?;
        if self.api.dry_run() {
            return Ok(None);
        }
        let report = queued.get("Id").and_then(Value::as_str).ok_or_else(|| malformed("/v1/report/queue", "no Id"))?;
        let path = format!("/v1/report/queue/{report}");
        let mut wait = ReportWait::new(self.settings.report_wait);
        loop {
            let polled = self.api.call(Method::GET, &path, None).await?;
            match polled.get("Status").and_then(Value::as_i64) {
                Some(2) => {
                    let records = polled.pointer("/Result/Records").and_then(Value::as_array);
                    return Ok(Some(records.cloned().unwrap_or_default()));
                }
                Some(1) => wait.next("kevel").await?,
                Some(3) => {
                    let message = polled.get("Message").and_then(Value::as_str).unwrap_or("no message");
                    return Err(AdServerError::Retryable(format!("kevel: the delivery report failed: {message}")));
                }
                Some(4) => return Err(AdServerError::Permanent("kevel: the delivery report is too large".into())),
                _ => return Err(malformed(&path, "no Status")),
            }
        }
    }
}

fn campaign_id(booking: &Booking) -> Result<i64, AdServerError> {
    booking
        .order_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| AdServerError::Permanent("the buy has no Kevel campaign yet".into()))
}

fn state_fields(state: RunState) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("IsActive".into(), (state == RunState::Running).into());
    fields.insert("IsArchived".into(), (state == RunState::Canceled).into());
    fields
}

pub fn campaign_name(media_buy_id: &str) -> String {
    format!("adcp:{media_buy_id}")
}

pub fn creative_title(creative_id: &str) -> String {
    format!("adcp:{creative_id}")
}

pub fn flight_name(media_buy_id: &str, package_id: &str) -> String {
    format!("adcp:{media_buy_id}:{package_id}")
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn day(date: NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

fn id_of(value: &Value, path: &str) -> Result<i64, AdServerError> {
    value.get("Id").and_then(Value::as_i64).ok_or_else(|| malformed(path, "no Id"))
}

fn malformed(path: &str, what: &str) -> AdServerError {
    AdServerError::Retryable(format!("kevel: {path}: unexpected answer ({what})"))
}

/// Kevel's state flags (and a flight's dates), as a word and normalized: archived or deleted is
/// canceled, inactive is paused, active is ready before its start, completed after its end and
/// delivering between.
fn kevel_state(object: &Value, now: DateTime<Utc>) -> (String, PlatformState) {
    let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
    let date = |key: &str| {
        object.get(key).and_then(Value::as_str).and_then(|d| DateTime::parse_from_rfc3339(d).ok()).map(|d| d.to_utc())
    };
    if flag("IsArchived") || flag("IsDeleted") {
        return ("archived".into(), PlatformState::Canceled);
    }
    if !flag("IsActive") {
        return ("inactive".into(), PlatformState::Paused);
    }
    let state = match (date("StartDateISO"), date("EndDateISO")) {
        (Some(start), _) if now < start => PlatformState::Ready,
        (_, Some(end)) if end <= now => PlatformState::Completed,
        _ => PlatformState::Delivering,
    };
    ("active".into(), state)
}

/// The booked flights' daily figures in a report's day records, each with the instant its
/// (UTC) day began; flights the booking does not hold are left out.
fn report_days(records: &[Value], booking: &Booking) -> Vec<ReportedDay> {
    let mut days = Vec::new();
    for record in records {
        let Some(date) = record
            .get("Date")
            .and_then(Value::as_str)
            .and_then(|d| d.get(..10))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        for detail in record.get("Details").and_then(Value::as_array).into_iter().flatten() {
            let Some(flight) = detail.pointer("/Grouping/OptionId").and_then(Value::as_i64).map(|id| id.to_string())
            else {
                continue;
            };
            let Some(line) = booking.lines.iter().find(|l| l.line_id == flight) else { continue };
            let number = |key: &str| detail.get(key).and_then(Value::as_f64).unwrap_or(0.0);
            days.push(ReportedDay {
                package_id: line.package_id.clone(),
                from: date.and_time(chrono::NaiveTime::MIN).and_utc(),
                metrics: Metrics {
                    impressions: number("Impressions"),
                    spend: number("Revenue"),
                    clicks: number("Clicks"),
                    completed_views: 0.0,
                },
            });
        }
    }
    days
}

booker_by_book!(Kevel);

impl AdServer for Kevel {
    fn name(&self) -> &'static str {
        "kevel"
    }

    fn remote(&self) -> bool {
        true
    }

    fn status<'a>(
        &'a self,
        booking: &'a Booking,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<PlatformStatus>, AdServerError>> + Send + 'a>> {
        Box::pin(async move {
            let Some(campaign) = booking.order_id.as_deref().and_then(|id| id.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let found = self.api.call(Method::GET, &format!("/v1/campaign/{campaign}"), None).await?;
            if self.api.dry_run() {
                return Ok(None);
            }
            let flights = self.list(&format!("/v1/campaign/{campaign}/flight?")).await?;
            let lines = flights
                .iter()
                .filter_map(|flight| {
                    let id = flight.get("Id").and_then(Value::as_i64)?.to_string();
                    let package = booking.lines.iter().find(|l| l.line_id == id)?;
                    let (status, state) = kevel_state(flight, now);
                    Some(PlatformLine { package_id: package.package_id.clone(), status, state })
                })
                .collect::<Vec<_>>();
            let (status, state) = kevel_state(&found, now);
            // A campaign has no dates of its own: it runs as its flights do.
            let state = if state == PlatformState::Delivering && !lines.is_empty() {
                from_lines(PlatformState::Ready, &lines)
            } else {
                state
            };
            Ok(Some(PlatformStatus { platform: "kevel".into(), status, state, lines, checked_at: now }))
        })
    }

    fn forecast<'a>(
        &'a self,
        _request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Err(AdServerError::Permanent(
            "Kevel has no availability forecast; this publisher cannot quote avails".into(),
        ))))
    }

    fn reported<'a>(
        &'a self,
        request: ReportRequest<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Reported>, AdServerError>> + Send + 'a>> {
        Box::pin(async move {
            let Some(campaign) = request.booking.order_id.as_deref().and_then(|id| id.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let Some(records) = self.report(campaign, request.from, request.until).await? else { return Ok(None) };
            let since = request.from.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
            Ok(Some(Reported { since, days: report_days(&records, request.booking) }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn report_days_are_the_booked_flights_by_utc_day() {
        let records = vec![
            json!({"Date": "2026-12-01T00:00:00Z", "Details": [
                {"Grouping": {"OptionId": 7}, "Impressions": 100, "Clicks": 2, "Revenue": 1.5},
                {"Grouping": {"OptionId": 8}, "Impressions": 999, "Clicks": 9, "Revenue": 9.0}]}),
            json!({"Date": "2026-12-02T00:00:00Z", "Details": [
                {"Grouping": {"OptionId": 7}, "Impressions": 50, "Clicks": 1, "Revenue": 0.75}]}),
        ];
        let booking = Booking {
            order_id: Some("3".into()),
            lines: vec![crate::core::booking::BookedLine {
                package_id: "pkg_a".into(),
                line_id: "7".into(),
                applied: String::new(),
            }],
            ..Booking::default()
        };
        let days = report_days(&records, &booking);
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0).unwrap();
        let summary: Vec<(&str, DateTime<Utc>, f64, f64)> =
            days.iter().map(|d| (d.package_id.as_str(), d.from, d.metrics.impressions, d.metrics.clicks)).collect();
        assert_eq!(summary, vec![("pkg_a", at(1), 100.0, 2.0), ("pkg_a", at(2), 50.0, 1.0)], "flight 8 is not booked");
        assert!((days[1].metrics.spend - 0.75).abs() < 1e-9);
    }
}
