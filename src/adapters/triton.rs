//! Triton Digital (experimental): TAP's media-buying API behind Triton's Login API. Triton's
//! schemas are not public, so the base URLs and every path are configuration ([`TritonPaths`])
//! and the bodies follow TAP's documented concepts: an advertiser's campaigns with flights,
//! statuses `Draft`, `Active`, `Paused` (flights) and `Draft`, `Approved` (campaigns), targeting
//! as TAP targeting rules (`{"type": "in", "dimension": ..., "values": [...]}`).
//!
//! - A buy is a campaign of the brand's advertiser (found by `externalCode`, the brand's
//!   domain, or made), each package a flight; both are found by their `externalCode`
//!   (`adcp:<media_buy_id>`, `adcp:<media_buy_id>:<package_id>`) before they are made, so a
//!   create retried after an unknown outcome finds what the first attempt made.
//! - Campaigns are made `Draft` and approved once their flights run; a flight runs `Active`,
//!   pauses `Paused` (still reserving inventory) and is canceled back to `Draft` (releasing it).
//! - Changes are `PATCH`es of the fields this seller owns.
//! - Login: `POST` username and password to the login URL for a JWT, kept until a minute before
//!   the expiry in its payload and fetched again when TAP answers 401.
//! - Delivery: the flight's daily metrics.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::http::{JsonApi, RateLimitRetry, Recorder, TokenCache, TokenSource, simulated_id};
use crate::core::booking::{
    AdServerError, AdServerOp, Applied, Booking, LineSpec, OrderSpec, RunState, Serving, line_state, order_state,
};
use crate::core::catalog::PricingModel;
use crate::core::delivery::{AdServer, Forecast, ForecastRequest, Metrics, ReportRequest, Reported, ReportedDay};
use crate::core::media_buy::MediaBuy;
use crate::core::ports::Clock;
use crate::core::reconcile::{PlatformLine, PlatformState, PlatformStatus, from_lines};

pub const DEFAULT_BASE_URL: &str = "https://mbapi.tritondigital.com";
pub const DEFAULT_LOGIN_URL: &str = "https://login.tritondigital.com/oauth2/token";

/// TAP's paths, as templates with `{advertiser_id}`, `{campaign_id}` and `{flight_id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TritonPaths {
    pub advertisers: String,
    pub advertiser_campaigns: String,
    pub campaign: String,
    pub campaign_flights: String,
    pub flight: String,
    pub flight_metrics: String,
    /// A flight's audio creatives (`{flight_id}`), and one of them (`{creative_id}`).
    pub flight_creatives: String,
    pub flight_creative: String,
}

impl Default for TritonPaths {
    fn default() -> Self {
        TritonPaths {
            advertisers: "/advertisers".into(),
            advertiser_campaigns: "/advertisers/{advertiser_id}/campaigns".into(),
            campaign: "/campaigns/{campaign_id}".into(),
            campaign_flights: "/campaigns/{campaign_id}/flights".into(),
            flight: "/flights/{flight_id}".into(),
            flight_metrics: "/flights/{flight_id}/metrics".into(),
            flight_creatives: "/flights/{flight_id}/creatives".into(),
            flight_creative: "/flights/{flight_id}/creatives/{creative_id}".into(),
        }
    }
}

/// How one of this seller's products maps to Triton inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TritonProduct {
    /// Stations the flights target.
    pub station_ids: Vec<String>,
}

/// A tenant's Triton settings.
#[derive(Clone, PartialEq)]
pub struct TritonSettings {
    pub base_url: String,
    pub login_url: String,
    pub username: String,
    pub password: String,
    pub paths: TritonPaths,
    pub products: HashMap<String, TritonProduct>,
    pub dry_run: bool,
    pub retry: RateLimitRetry,
}

impl std::fmt::Debug for TritonSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TritonSettings")
            .field("base_url", &self.base_url)
            .field("login_url", &self.login_url)
            .field("paths", &self.paths)
            .field("products", &self.products)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// Bearer tokens from Triton's Login API.
pub struct TritonLogin {
    client: reqwest::Client,
    url: String,
    username: String,
    password: String,
    cache: TokenCache,
}

impl TritonLogin {
    async fn login(&self) -> Result<(String, DateTime<Utc>), AdServerError> {
        let body = json!({"username": self.username, "password": self.password});
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| AdServerError::Retryable(format!("triton: login: {}", e.without_url())))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| AdServerError::Retryable(format!("triton: login: reading the answer: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(AdServerError::Retryable(format!("triton: login: HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(AdServerError::Permanent(format!(
                "triton: authentication failed at the Login API (HTTP {}); check the tenant's Triton username and password",
                status.as_u16()
            )));
        }
        let answer: Value = serde_json::from_str(&text)
            .map_err(|e| AdServerError::Retryable(format!("triton: login: unreadable answer ({e})")))?;
        let token = ["access_token", "token", "jwt"]
            .iter()
            .find_map(|k| answer.get(*k).and_then(Value::as_str))
            .ok_or_else(|| AdServerError::Retryable("triton: login: no token in the answer".into()))?
            .to_owned();
        let now = self.cache.now();
        // The expiry is read from the JWT's payload, as Triton asks; else `expires_in`; else an hour.
        let expires = jwt_expiry(&token)
            .or_else(|| answer.get("expires_in").and_then(Value::as_i64).map(|s| now + Duration::seconds(s)))
            .unwrap_or(now + Duration::hours(1));
        Ok((token, expires - Duration::seconds(60)))
    }
}

/// The `exp` of a JWT's payload.
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

impl TokenSource for TritonLogin {
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<String, AdServerError>> + Send + '_>> {
        Box::pin(self.cache.get(self.login()))
    }

    fn invalidate(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.cache.clear())
    }
}

pub struct Triton {
    api: JsonApi,
    settings: TritonSettings,
}

impl Triton {
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(settings: TritonSettings, clock: Arc<dyn Clock>) -> Result<Triton, AdServerError> {
        let api = JsonApi::new("triton", &settings.base_url, vec![], settings.dry_run, settings.retry)?;
        let login = TritonLogin {
            client: api.client().clone(),
            url: settings.login_url.clone(),
            username: settings.username.clone(),
            password: settings.password.clone(),
            cache: TokenCache::new(clock),
        };
        Ok(Triton { api: api.with_tokens(Arc::new(login)), settings })
    }

    /// This adapter in dry-run, writing the calls it would make to `recorder`.
    pub fn rehearsal(&self, recorder: Recorder) -> Triton {
        Triton {
            api: self.api.rehearsal(recorder),
            settings: TritonSettings { dry_run: true, ..self.settings.clone() },
        }
    }

    fn path(&self, template: &str, ids: &[(&str, &str)]) -> String {
        ids.iter().fold(template.to_owned(), |path, (name, id)| path.replace(&format!("{{{name}}}"), id))
    }

    async fn book(&self, buy: &MediaBuy, booking: &Booking, op: &AdServerOp) -> Result<Applied, AdServerError> {
        match op {
            AdServerOp::CreateOrder(order) => {
                let advertiser = self.advertiser(&order.brand_domain).await?;
                let campaign = self.campaign(&advertiser, order).await?;
                Ok(Applied { platform_id: Some(campaign) })
            }
            AdServerOp::CreateLine(line) => {
                let campaign = campaign_id(booking)?;
                let flight = self.flight(buy, &campaign, line).await?;
                self.flight_creatives(&flight, line, true).await?;
                if order_state(buy.status) == RunState::Running {
                    self.patch_campaign(&campaign, "Approved").await?;
                }
                Ok(Applied { platform_id: Some(flight) })
            }
            AdServerOp::UpdateLine(line) => {
                let flight = booking
                    .line(&line.package_id)
                    .map(|l| l.line_id.clone())
                    .ok_or_else(|| AdServerError::Permanent(format!("no Triton flight for {}", line.package_id)))?;
                let fields = self.flight_fields(buy, line)?;
                self.api
                    .call(
                        Method::PATCH,
                        &self.path(&self.settings.paths.flight, &[("flight_id", &flight)]),
                        Some(&Value::Object(fields)),
                    )
                    .await?;
                self.flight_creatives(&flight, line, false).await?;
                Ok(Applied::default())
            }
            AdServerOp::SetOrderState(state) => {
                let campaign = campaign_id(booking)?;
                if *state == RunState::Running {
                    self.patch_campaign(&campaign, "Approved").await?;
                }
                for package in &buy.packages {
                    let Some(flight) = booking.line(&package.package_id) else { continue };
                    let status = flight_status(buy, line_state(package));
                    let path = self.path(&self.settings.paths.flight, &[("flight_id", &flight.line_id)]);
                    self.api.call(Method::PATCH, &path, Some(&json!({"status": status}))).await?;
                }
                Ok(Applied::default())
            }
        }
    }

    /// The flight plays the line's audio creatives (audio files or VAST/DAAST tags), each found
    /// by its `externalCode` (`adcp:<creative_id>`) or added; others of this seller are made
    /// `Inactive`.
    async fn flight_creatives(&self, flight: &str, line: &LineSpec, new: bool) -> Result<(), AdServerError> {
        if new && line.creatives.is_empty() {
            return Ok(());
        }
        let path = self.path(&self.settings.paths.flight_creatives, &[("flight_id", flight)]);
        let listed = self.api.call(Method::GET, &path, None).await?;
        let existing: Vec<Value> = if self.api.dry_run() { Vec::new() } else { items(&listed, &path)?.to_vec() };
        let mut wanted = Vec::new();
        for creative in &line.creatives {
            let code = creative_code(&creative.creative_id);
            let (kind, url) = match &creative.serving {
                Serving::Audio { url } => ("AUDIO", url),
                Serving::VastUrl { url } => ("VAST", url),
                _ => {
                    return Err(AdServerError::Permanent(format!(
                        "triton: creative {} must be an audio file or a VAST/DAAST tag URL",
                        creative.creative_id
                    )));
                }
            };
            let body = json!({
                "name": creative.name,
                "externalCode": code,
                "type": kind,
                "url": url,
                "durationMs": creative.duration_ms,
                "clickUrl": creative.click_url,
                "status": "Active",
            });
            match existing.iter().find(|c| c.get("externalCode").and_then(Value::as_str) == Some(code.as_str())) {
                None => {
                    self.api.call(Method::POST, &path, Some(&body)).await?;
                }
                Some(found) if ["url", "type", "status"].iter().any(|k| found.get(*k) != body.get(*k)) => {
                    let id = id_of(found, &path)?;
                    let one =
                        self.path(&self.settings.paths.flight_creative, &[("flight_id", flight), ("creative_id", &id)]);
                    self.api.call(Method::PATCH, &one, Some(&body)).await?;
                }
                Some(_) => {}
            }
            wanted.push(code);
        }
        for stale in existing.iter().filter(|c| {
            let code = c.get("externalCode").and_then(Value::as_str).unwrap_or_default();
            code.starts_with("adcp:")
                && !wanted.iter().any(|w| w == code)
                && c.get("status") != Some(&json!("Inactive"))
        }) {
            let id = id_of(stale, &path)?;
            let one = self.path(&self.settings.paths.flight_creative, &[("flight_id", flight), ("creative_id", &id)]);
            self.api.call(Method::PATCH, &one, Some(&json!({"status": "Inactive"}))).await?;
        }
        Ok(())
    }

    async fn patch_campaign(&self, campaign: &str, status: &str) -> Result<(), AdServerError> {
        let path = self.path(&self.settings.paths.campaign, &[("campaign_id", campaign)]);
        self.api.call(Method::PATCH, &path, Some(&json!({"status": status}))).await?;
        Ok(())
    }

    async fn advertiser(&self, brand_domain: &str) -> Result<String, AdServerError> {
        let body = json!({"name": brand_domain, "externalCode": brand_domain, "status": "Active"});
        self.find_or_create(&self.settings.paths.advertisers.clone(), brand_domain, body, brand_domain).await
    }

    async fn campaign(&self, advertiser: &str, order: &OrderSpec) -> Result<String, AdServerError> {
        let code = campaign_code(&order.media_buy_id);
        let path = self.path(&self.settings.paths.advertiser_campaigns, &[("advertiser_id", advertiser)]);
        let body = json!({
            "name": code,
            "externalCode": code,
            "startDate": iso(order.start),
            "endDate": iso(order.end),
            "currency": order.currency,
            "status": "Draft",
        });
        self.find_or_create(&path, &code, body, &order.media_buy_id).await
    }

    async fn flight(&self, buy: &MediaBuy, campaign: &str, line: &LineSpec) -> Result<String, AdServerError> {
        let code = flight_code(&buy.media_buy_id, &line.package_id);
        let path = self.path(&self.settings.paths.campaign_flights, &[("campaign_id", campaign)]);
        let mut body = self.flight_fields(buy, line)?;
        body.insert("externalCode".into(), code.clone().into());
        self.find_or_create(&path, &code, Value::Object(body), &line.package_id).await
    }

    /// The flight fields this seller owns.
    fn flight_fields(&self, buy: &MediaBuy, line: &LineSpec) -> Result<Map<String, Value>, AdServerError> {
        let (rate_type, goal) = match line.pricing_model {
            PricingModel::Cpm => ("CPM", json!({"type": "IMPRESSIONS", "value": line.impressions.round() as i64})),
            PricingModel::FlatRate => {
                ("FLAT", json!({"type": "IMPRESSIONS", "value": line.impressions.round() as i64}))
            }
            other => {
                return Err(AdServerError::Permanent(format!(
                    "Triton flights are priced by CPM or flat rate, not {}",
                    other.as_str()
                )));
            }
        };
        let mut fields = Map::new();
        fields.insert("name".into(), flight_code(&buy.media_buy_id, &line.package_id).into());
        fields.insert("startDate".into(), iso(line.start).into());
        fields.insert("endDate".into(), iso(line.end).into());
        fields.insert("rateType".into(), rate_type.into());
        fields.insert("rate".into(), line.rate.into());
        fields.insert("budget".into(), line.budget.into());
        fields.insert("goal".into(), goal);
        fields.insert("targetingRules".into(), self.targeting(line)?);
        fields.insert("status".into(), flight_status(buy, line.state).into());
        Ok(fields)
    }

    /// TAP targeting rules: the product's stations and the buyer's countries and regions.
    fn targeting(&self, line: &LineSpec) -> Result<Value, AdServerError> {
        let overlay: Value = match &line.targeting {
            None => Value::Null,
            Some(text) => serde_json::from_str(text)
                .map_err(|e| AdServerError::Permanent(format!("triton: the targeting overlay is not JSON ({e})")))?,
        };
        let mut rules = Vec::new();
        if let Some(product) = self.settings.products.get(&line.product_id)
            && !product.station_ids.is_empty()
        {
            rules.push(json!({"type": "in", "dimension": "station", "values": product.station_ids}));
        }
        for (key, dimension, exclude) in [
            ("geo_countries", "country", false),
            ("geo_countries_exclude", "country", true),
            ("geo_regions", "region", false),
            ("geo_regions_exclude", "region", true),
        ] {
            let values: Vec<&str> =
                overlay.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            if values.is_empty() {
                continue;
            }
            let rule = json!({"type": "in", "dimension": dimension, "values": values});
            rules.push(if exclude { json!({"type": "not", "field": rule}) } else { rule });
        }
        Ok(match rules.len() {
            0 => Value::Null,
            1 => rules.remove(0),
            _ => json!({"type": "and", "fields": rules}),
        })
    }

    /// The id of the listed item whose `externalCode` is `code`; else of the object POSTed.
    /// Lists may come as an array or as `{"items": [...]}`. In dry-run nothing is found and the
    /// new id is derived from `ours`.
    async fn find_or_create(&self, path: &str, code: &str, body: Value, ours: &str) -> Result<String, AdServerError> {
        let listed = self.api.call(Method::GET, &format!("{path}?externalCode={}", encode(code)), None).await?;
        if !self.api.dry_run() {
            let items = items(&listed, path)?;
            if let Some(found) =
                items.iter().find(|item| item.get("externalCode").and_then(Value::as_str) == Some(code))
            {
                return id_of(found, path);
            }
        }
        let made = self.api.call(Method::POST, path, Some(&body)).await?;
        if self.api.dry_run() {
            return Ok(simulated_id(ours).to_string());
        }
        id_of(&made, path)
    }

    /// One flight's daily metrics from the day of `from` to that of `until`, each with the
    /// instant its (UTC) day began; `None` in a dry-run.
    async fn metrics(
        &self,
        flight: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Vec<(DateTime<Utc>, Metrics)>>, AdServerError> {
        let path = self.path(&self.settings.paths.flight_metrics, &[("flight_id", flight)]);
        let (first, last) = (from.date_naive(), until.date_naive().max(from.date_naive()));
        let query = format!("{path}?startDate={first}&endDate={last}");
        let answer = self.api.call(Method::GET, &query, None).await?;
        if self.api.dry_run() {
            return Ok(None);
        }
        let rows = items(&answer, &path)?;
        let mut days = Vec::new();
        for row in rows {
            let date = row
                .get("date")
                .and_then(Value::as_str)
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| malformed(&path, "a row without a date"))?;
            let number = |keys: &[&str]| keys.iter().find_map(|k| row.get(*k).and_then(Value::as_f64)).unwrap_or(0.0);
            days.push((
                date.and_time(chrono::NaiveTime::MIN).and_utc(),
                Metrics {
                    impressions: number(&["impressions"]),
                    spend: number(&["spend", "revenue"]),
                    clicks: number(&["clicks"]),
                    completed_views: number(&["completes", "completedImpressions"]),
                },
            ));
        }
        Ok(Some(days))
    }
}

/// A flight's status: `Active` when it and its buy run, `Paused` when either is paused,
/// `Draft` (no inventory held) when canceled.
fn flight_status(buy: &MediaBuy, line: RunState) -> &'static str {
    match (line, order_state(buy.status)) {
        (RunState::Canceled, _) | (_, RunState::Canceled) => "Draft",
        (RunState::Running, RunState::Running) => "Active",
        _ => "Paused",
    }
}

fn campaign_id(booking: &Booking) -> Result<String, AdServerError> {
    booking.order_id.clone().ok_or_else(|| AdServerError::Permanent("the buy has no Triton campaign yet".into()))
}

pub fn campaign_code(media_buy_id: &str) -> String {
    format!("adcp:{media_buy_id}")
}

pub fn creative_code(creative_id: &str) -> String {
    format!("adcp:{creative_id}")
}

pub fn flight_code(media_buy_id: &str, package_id: &str) -> String {
    format!("adcp:{media_buy_id}:{package_id}")
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The items of a TAP list: an array, or `{"items": [...]}`.
fn items<'a>(listed: &'a Value, path: &str) -> Result<&'a [Value], AdServerError> {
    listed
        .as_array()
        .or_else(|| listed.get("items").and_then(Value::as_array))
        .map(Vec::as_slice)
        .ok_or_else(|| malformed(path, "no list"))
}

fn id_of(value: &Value, path: &str) -> Result<String, AdServerError> {
    match value.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(malformed(path, "no id")),
    }
}

fn malformed(path: &str, what: &str) -> AdServerError {
    AdServerError::Retryable(format!("triton: {path}: unexpected answer ({what})"))
}

booker_by_book!(Triton);

impl AdServer for Triton {
    fn name(&self) -> &'static str {
        "triton"
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
            let Some(campaign) = booking.order_id.as_deref() else { return Ok(None) };
            let path = self.path(&self.settings.paths.campaign, &[("campaign_id", campaign)]);
            let found = self.api.call(Method::GET, &path, None).await?;
            if self.api.dry_run() {
                return Ok(None);
            }
            let flights_path = self.path(&self.settings.paths.campaign_flights, &[("campaign_id", campaign)]);
            let listed = self.api.call(Method::GET, &flights_path, None).await?;
            let flights = items(&listed, &flights_path)?;
            let word = |v: &Value| v.get("status").and_then(Value::as_str).unwrap_or("Unknown").to_owned();
            let lines = flights
                .iter()
                .filter_map(|flight| {
                    let id = id_of(flight, &flights_path).ok()?;
                    let package = booking.lines.iter().find(|l| l.line_id == id)?;
                    let status = word(flight);
                    let state = match status.as_str() {
                        "Active" => PlatformState::Delivering,
                        "Paused" => PlatformState::Paused,
                        "Draft" => PlatformState::PendingApproval,
                        "Done" => PlatformState::Completed,
                        _ => PlatformState::Unknown,
                    };
                    Some(PlatformLine { package_id: package.package_id.clone(), status, state })
                })
                .collect::<Vec<_>>();
            let status = word(&found);
            let state = match status.as_str() {
                "Draft" => PlatformState::PendingApproval,
                "Approved" => from_lines(PlatformState::Ready, &lines),
                "Declined" => PlatformState::Rejected,
                "Done" => PlatformState::Completed,
                _ => PlatformState::Unknown,
            };
            Ok(Some(PlatformStatus { platform: "triton".into(), status, state, lines, checked_at: now }))
        })
    }

    fn forecast<'a>(
        &'a self,
        _request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Err(AdServerError::Permanent(
            "this publisher's Triton inventory forecasts are not available through the sales agent".into(),
        ))))
    }

    fn reported<'a>(
        &'a self,
        request: ReportRequest<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Reported>, AdServerError>> + Send + 'a>> {
        Box::pin(async move {
            if request.booking.order_id.is_none() || request.booking.lines.is_empty() {
                return Ok(None);
            }
            // TAP reports per flight: one read per booked line.
            let mut days = Vec::new();
            for line in &request.booking.lines {
                let Some(metrics) = self.metrics(&line.line_id, request.from, request.until).await? else {
                    return Ok(None);
                };
                days.extend(metrics.into_iter().map(|(from, metrics)| ReportedDay {
                    package_id: line.package_id.clone(),
                    from,
                    metrics,
                }));
            }
            let since = request.from.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
            Ok(Some(Reported { since, days }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_read_from_the_jwt_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u","exp":1790000000}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_expiry(&token), DateTime::from_timestamp(1_790_000_000, 0));
        assert_eq!(jwt_expiry("opaque-token"), None);
    }

    #[test]
    fn codes_are_url_encoded_in_queries() {
        assert_eq!(encode("adcp:mb_1:pkg-2"), "adcp%3Amb_1%3Apkg-2");
    }
}
