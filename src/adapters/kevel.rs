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

use super::http::{JsonApi, RateLimitRetry, Recorder};
use crate::core::booking::{AdServerError, AdServerOp, Applied, Booker, Booking, LineSpec, OrderSpec, RunState};
use crate::core::catalog::PricingModel;
use crate::core::delivery::{AdServer, Cumulative, Forecast, ForecastRequest, Metrics, PackageLine};
use crate::core::media_buy::MediaBuy;

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
        Ok(Kevel { api, settings })
    }

    /// This adapter in dry-run, writing the calls it would make to `recorder` (one request's
    /// `X-Dry-Run`).
    pub fn rehearsal(&self, recorder: Recorder) -> Kevel {
        Kevel { api: self.api.rehearsal(recorder), settings: KevelSettings { dry_run: true, ..self.settings.clone() } }
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
                self.merge_put(&format!("/v1/flight/{flight}"), "?excludeAds=true", owned).await?;
                Ok(Applied::default())
            }
            AdServerOp::SetOrderState(state) => {
                let campaign = campaign_id(booking)?;
                let owned = state_fields(*state);
                self.merge_put(&format!("/v1/campaign/{campaign}"), "", owned).await?;
                Ok(Applied::default())
            }
        }
    }

    /// The brand's advertiser: found by `ExternalId`, else created.
    async fn advertiser(&self, brand_domain: &str) -> Result<i64, AdServerError> {
        let make =
            || Ok(json!({"Title": brand_domain, "ExternalId": brand_domain, "IsActive": true, "IsDeleted": false}));
        self.find_or_create("/v1/advertiser?", ("ExternalId", brand_domain), "/v1/advertiser", make, brand_domain).await
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

    /// GET the object, set `owned` on it, PUT it whole.
    async fn merge_put(&self, path: &str, get_query: &str, owned: Map<String, Value>) -> Result<(), AdServerError> {
        let current = self.api.call(Method::GET, &format!("{path}{get_query}"), None).await?;
        let mut object = match current {
            Value::Object(object) => object,
            Value::Null if self.api.dry_run() => Map::new(),
            _ => return Err(malformed(path, "not an object")),
        };
        object.extend(owned);
        self.api.call(Method::PUT, path, Some(&Value::Object(object))).await?;
        Ok(())
    }

    async fn report(
        &self,
        campaign: i64,
        line: &PackageLine,
        until: DateTime<Utc>,
    ) -> Result<Vec<Value>, AdServerError> {
        let body = json!({
            "StartDateISO": day(line.package.start_time.date_naive()),
            "EndDateISO": day(until.date_naive()),
            "GroupBy": ["day", "optionId"],
            "Parameters": [{"campaignId": campaign}],
        });
        let queued = self.api.call(Method::POST, "/v1/report/queue", Some(&body)).await?;
        if self.api.dry_run() {
            return Ok(vec![]);
        }
        let report = queued.get("Id").and_then(Value::as_str).ok_or_else(|| malformed("/v1/report/queue", "no Id"))?;
        let path = format!("/v1/report/queue/{report}");
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_millis(250);
        loop {
            let polled = self.api.call(Method::GET, &path, None).await?;
            match polled.get("Status").and_then(Value::as_i64) {
                Some(2) => {
                    let records = polled.pointer("/Result/Records").and_then(Value::as_array);
                    return Ok(records.cloned().unwrap_or_default());
                }
                Some(1) if waited < self.settings.report_wait => {
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Some(1) => return Err(AdServerError::Retryable("kevel: the delivery report is still running".into())),
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

/// A stable positive id for dry-run answers.
fn simulated_id(ours: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(ours.as_bytes());
    i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff) + 1
}

/// Cumulative delivery of one flight at each instant from a report's day records: the days that
/// began before the instant (Kevel reports whole days; the current one counts as far as it went).
fn cumulative(records: &[Value], flight: i64, instants: &[DateTime<Utc>]) -> Cumulative {
    let mut days: Vec<(NaiveDate, Metrics)> = Vec::new();
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
            if detail.pointer("/Grouping/OptionId").and_then(Value::as_i64) != Some(flight) {
                continue;
            }
            let number = |key: &str| detail.get(key).and_then(Value::as_f64).unwrap_or(0.0);
            days.push((
                date,
                Metrics {
                    impressions: number("Impressions"),
                    spend: number("Revenue"),
                    clicks: number("Clicks"),
                    completed_views: 0.0,
                },
            ));
        }
    }
    instants
        .iter()
        .map(|at| {
            days.iter()
                .filter(|(date, _)| date.and_time(chrono::NaiveTime::MIN).and_utc() < *at)
                .fold(Metrics::default(), |sum, (_, m)| sum.plus(m))
        })
        .collect()
}

impl Booker for Kevel {
    fn apply<'a>(
        &'a self,
        buy: &'a MediaBuy,
        booking: &'a Booking,
        op: &'a AdServerOp,
    ) -> Pin<Box<dyn Future<Output = Result<Applied, AdServerError>> + Send + 'a>> {
        Box::pin(self.book(buy, booking, op))
    }
}

impl AdServer for Kevel {
    fn name(&self) -> &'static str {
        "kevel"
    }

    fn reports_by_booked_ids(&self) -> bool {
        true
    }

    fn forecast<'a>(
        &'a self,
        _request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Err(AdServerError::Permanent(
            "Kevel has no availability forecast; this publisher cannot quote avails".into(),
        ))))
    }

    fn delivered<'a>(
        &'a self,
        line: &'a PackageLine,
        instants: &'a [DateTime<Utc>],
    ) -> Pin<Box<dyn Future<Output = Result<Cumulative, AdServerError>> + Send + 'a>> {
        Box::pin(async move {
            let booked = line.booked.as_ref();
            let (Some(campaign), Some(flight)) = (
                booked.and_then(|b| b.order_id.as_deref()).and_then(|id| id.parse::<i64>().ok()),
                booked.and_then(|b| b.line_id.as_deref()).and_then(|id| id.parse::<i64>().ok()),
            ) else {
                // Not booked yet: nothing delivered.
                return Ok(vec![Metrics::default(); instants.len()]);
            };
            let Some(until) = instants.iter().max().copied() else { return Ok(vec![]) };
            let records = self.report(campaign, line, until).await?;
            Ok(cumulative(&records, flight, instants))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn report_days_add_up_per_flight_to_each_instant() {
        let records = vec![
            json!({"Date": "2026-12-01T00:00:00Z", "Details": [
                {"Grouping": {"OptionId": 7}, "Impressions": 100, "Clicks": 2, "Revenue": 1.5},
                {"Grouping": {"OptionId": 8}, "Impressions": 999, "Clicks": 9, "Revenue": 9.0}]}),
            json!({"Date": "2026-12-02T00:00:00Z", "Details": [
                {"Grouping": {"OptionId": 7}, "Impressions": 50, "Clicks": 1, "Revenue": 0.75}]}),
        ];
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        let totals = cumulative(&records, 7, &[at(1, 0), at(1, 12), at(2, 0), at(2, 23), at(3, 0)]);
        let impressions: Vec<f64> = totals.iter().map(|m| m.impressions).collect();
        assert_eq!(impressions, vec![0.0, 100.0, 100.0, 150.0, 150.0]);
        assert_eq!(totals[3].clicks, 3.0);
        assert!((totals[3].spend - 2.25).abs() < 1e-9);
    }

    #[test]
    fn simulated_ids_are_stable_and_positive() {
        assert_eq!(simulated_id("mb_1"), simulated_id("mb_1"));
        assert_ne!(simulated_id("mb_1"), simulated_id("mb_2"));
        assert!(simulated_id("anything") > 0);
    }
}
