//! AdCP 3.0 shapes of `create_media_buy`, `update_media_buy` and `get_media_buys`.

use chrono::{DateTime, SecondsFormat, Utc};
use schemas::*;
use serde_json::{Map, Value, json};

use crate::core::Error;
use crate::core::accounts::AccountRef;
use crate::core::buying::{MediaBuyQuery, PackageUpdate, UpdateMediaBuy, Updated};
use crate::core::catalog::FormatId;
use crate::core::creative::CreativeStatus;
use crate::core::media_buy::{
    Cancellation, CreateMediaBuy, MeasurementTerms, MediaBuy, MediaBuyStatus, Pacing, Package, PackageRequest,
    StartTime, Verbatim, valid_actions,
};
use crate::core::pagination::Page;
use crate::core::ports::HistoryEntry;
use crate::core::tenancy::AccountKey;
use crate::core::webhook::{Frequency, Webhook};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::wire::{BrandRef, Envelope, FormatIdRef, PaginationRequest};

    /// The account a request acts for: `{account_id}` or `{brand, operator, sandbox}`.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct AccountRefWire {
        pub account_id: Option<String>,
        pub brand: Option<BrandRef>,
        pub operator: Option<String>,
        pub sandbox: Option<bool>,
    }

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct BrandWire {
        /// The advertiser's domain.
        pub domain: String,
        pub brand_id: Option<String>,
        /// Industries the brand advertises in; checked against the publisher's policy.
        pub industries: Option<Vec<String>>,
    }

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct MoneyWire {
        pub amount: f64,
        pub currency: String,
    }

    #[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum PacingWire {
        Even,
        Asap,
        FrontLoaded,
    }

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CreativeAssignmentWire {
        pub creative_id: String,
        pub weight: Option<f64>,
        pub placement_ids: Option<Vec<String>>,
    }

    /// One package of a new buy.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct PackageRequestWire {
        /// A product_id from get_products.
        pub product_id: String,
        /// One of the product's pricing options.
        pub pricing_option_id: String,
        /// Budget in the pricing option's currency.
        pub budget: f64,
        /// Required for auction pricing options; at least the floor.
        pub bid_price: Option<f64>,
        /// Impression goal; defaults to what the budget buys.
        pub impressions: Option<f64>,
        pub pacing: Option<PacingWire>,
        /// RFC 3339 with offset, inside the buy's flight.
        pub start_time: Option<String>,
        pub end_time: Option<String>,
        pub paused: Option<bool>,
        /// Formats to deliver; defaults to all of the product's formats.
        pub format_ids: Option<Vec<FormatIdRef>>,
        /// Targeting on top of the product's (geo, language, devices, frequency cap, property and
        /// collection lists). Stored verbatim.
        pub targeting_overlay: Option<Map<String, Value>>,
        pub measurement_terms: Option<Map<String, Value>>,
        /// Creatives (by creative_id) to run in this package.
        pub creative_assignments: Option<Vec<CreativeAssignmentWire>>,
        /// Inline creatives (not supported: use sync_creatives).
        pub creatives: Option<Vec<Value>>,
        /// Extensions. `ext.seed_quote_id`: a package_id that seed-era get_avails returned; the
        /// package is bought from that quote and keeps its id. `ext.seed_daily_budget`: a daily
        /// spend cap.
        pub ext: Option<Map<String, Value>>,
    }

    /// Buy products: one package per product and pricing option, for a brand under an account.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CreateMediaBuyRequest {
        /// Unique key for this request (16-255 chars of A-Z a-z 0-9 _ . : -); reuse only to retry it.
        pub idempotency_key: Option<String>,
        pub account: Option<AccountRefWire>,
        pub brand: Option<BrandWire>,
        /// `"asap"` or an RFC 3339 time with offset.
        pub start_time: Option<Value>,
        /// RFC 3339 time with offset; the flight is [start_time, end_time).
        pub end_time: Option<String>,
        pub packages: Option<Vec<PackageRequestWire>>,
        /// Buy a committed proposal from get_products (with total_budget, without packages).
        pub proposal_id: Option<String>,
        /// With packages: optional, and when given the sum of their budgets. With proposal_id:
        /// required, and shared among the packages as the proposal's allocations say.
        pub total_budget: Option<MoneyWire>,
        pub po_number: Option<String>,
        /// Where to push task status changes (`url`, optional `token` and `authentication`).
        pub push_notification_config: Option<Value>,
        /// Where to send scheduled delivery reports (`url`, `authentication`, `reporting_frequency`).
        pub reporting_webhook: Option<Value>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Changes to one package; omitted fields stay as they are.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct PackageUpdateWire {
        pub package_id: String,
        pub budget: Option<f64>,
        pub pacing: Option<PacingWire>,
        pub bid_price: Option<f64>,
        pub impressions: Option<f64>,
        pub start_time: Option<String>,
        pub end_time: Option<String>,
        pub paused: Option<bool>,
        /// `true` cancels the package (irreversible).
        pub canceled: Option<bool>,
        pub cancellation_reason: Option<String>,
        /// Replaces the whole overlay.
        pub targeting_overlay: Option<Map<String, Value>>,
        /// Replaces the package's creative assignments.
        pub creative_assignments: Option<Vec<CreativeAssignmentWire>>,
        pub creatives: Option<Vec<Value>>,
        /// Extensions. `ext.seed_daily_budget` and `ext.seed_daily_impressions` (seed-era
        /// update_package): daily caps on spend and impressions; null clears a cap.
        pub ext: Option<Map<String, Value>>,
    }

    /// Change a media buy (PATCH): pause or resume, cancel, dates, package changes, new packages.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct UpdateMediaBuyRequest {
        /// Unique key for this request (16-255 chars of A-Z a-z 0-9 _ . : -); reuse only to retry it.
        pub idempotency_key: Option<String>,
        pub account: Option<AccountRefWire>,
        pub media_buy_id: String,
        /// The revision you read; a stale one is refused with CONFLICT.
        pub revision: Option<i64>,
        /// true pauses, false resumes.
        pub paused: Option<bool>,
        /// `true` cancels the buy (irreversible); other changes in the request are ignored.
        pub canceled: Option<bool>,
        pub cancellation_reason: Option<String>,
        /// New flight start: RFC 3339 time with offset.
        pub start_time: Option<Value>,
        /// New flight end: RFC 3339 time with offset.
        pub end_time: Option<String>,
        pub packages: Option<Vec<PackageUpdateWire>>,
        pub new_packages: Option<Vec<PackageRequestWire>>,
        /// Where to push task status changes (`url`, optional `token` and `authentication`).
        pub push_notification_config: Option<Value>,
        /// Where to send scheduled delivery reports (`url`, `authentication`, `reporting_frequency`).
        pub reporting_webhook: Option<Value>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Read media buys: by id, or every buy with a status (default: active).
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetMediaBuysRequest {
        pub account: Option<AccountRefWire>,
        pub media_buy_ids: Option<Vec<String>>,
        /// Statuses to list; defaults to `["active"]` when media_buy_ids is omitted.
        pub status_filter: Option<Value>,
        /// Add a delivery snapshot per package, when available.
        pub include_snapshot: Option<bool>,
        /// Number of history entries to include (most recent first).
        pub include_history: Option<u32>,
        pub pagination: Option<PaginationRequest>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

impl AccountRefWire {
    /// # Errors
    /// `InvalidRequest` when neither form is complete.
    pub fn to_core(&self) -> Result<AccountRef, Error> {
        match (&self.account_id, &self.brand, &self.operator) {
            (Some(id), _, _) => Ok(AccountRef::Id(id.clone())),
            (None, Some(brand), Some(operator)) => Ok(AccountRef::Key(AccountKey {
                brand_domain: brand.domain.to_ascii_lowercase(),
                brand_id: brand.brand_id.clone(),
                operator: operator.to_ascii_lowercase(),
                sandbox: self.sandbox.unwrap_or(false),
            })),
            _ => Err(Error::invalid_with(
                "account",
                "account needs account_id, or brand and operator",
                "send {\"account_id\": …} from list_accounts, or {\"brand\": {\"domain\": …}, \"operator\": …}",
            )),
        }
    }
}

fn pacing(wire: Option<PacingWire>) -> Option<Pacing> {
    wire.map(|p| match p {
        PacingWire::Even => Pacing::Even,
        PacingWire::Asap => Pacing::Asap,
        PacingWire::FrontLoaded => Pacing::FrontLoaded,
    })
}

/// An RFC 3339 time with an explicit offset; naive times are refused.
pub fn timestamp(text: &str, field: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        Error::invalid_with(
            field,
            format!("{field} {text:?} is not an RFC 3339 time with offset"),
            "use e.g. 2026-04-01T00:00:00Z",
        )
    })
}

fn start_time(value: &Value, field: &str) -> Result<StartTime, Error> {
    match value {
        Value::String(text) if text == "asap" => Ok(StartTime::Asap),
        Value::String(text) => Ok(StartTime::At(timestamp(text, field)?)),
        _ => Err(Error::invalid(field, "start_time must be \"asap\" or an RFC 3339 time")),
    }
}

/// Targeting dimensions this seller honours; anything else is refused rather than ignored.
pub const TARGETING_DIMENSIONS: &[&str] = &[
    "geo_countries",
    "geo_countries_exclude",
    "geo_regions",
    "geo_regions_exclude",
    "language",
    "frequency_cap",
    "device_type",
    "device_type_exclude",
    "device_platform",
    "property_list",
    "collection_list",
    "collection_list_exclude",
];

fn overlay(overlay: &Map<String, Value>, at: &str) -> Result<Verbatim, Error> {
    for (key, value) in overlay {
        if key == "ext" {
            // Extensions travel with the overlay to the ad server (seed-era dimensions without
            // an AdCP 3.0 key are kept under ext.seed_targeting).
            if !value.is_object() {
                return Err(Error::invalid(format!("{at}.ext"), "ext is an object"));
            }
            continue;
        }
        if !TARGETING_DIMENSIONS.contains(&key.as_str()) {
            return Err(Error::Unsupported {
                message: format!("targeting dimension {key} is not supported by this seller"),
                field: format!("{at}.{key}"),
                suggestion: format!("use: {}", TARGETING_DIMENSIONS.join(", ")),
            });
        }
        if key.starts_with("geo_countries") {
            let codes = value.as_array().map(Vec::as_slice).unwrap_or_default();
            if let Some(position) = codes
                .iter()
                .position(|c| !c.as_str().is_some_and(|c| c.len() == 2 && c.chars().all(|x| x.is_ascii_uppercase())))
            {
                return Err(Error::invalid(
                    format!("{at}.{key}[{position}]"),
                    "countries are ISO 3166-1 alpha-2 codes in upper case",
                ));
            }
        }
    }
    Ok(Verbatim(Value::Object(overlay.clone()).to_string()))
}

fn measurement_terms(map: &Map<String, Value>) -> MeasurementTerms {
    let billing = map.get("billing_measurement");
    MeasurementTerms {
        max_variance_percent: billing.and_then(|b| b.get("max_variance_percent")).and_then(Value::as_f64),
        measurement_window: billing
            .and_then(|b| b.get("measurement_window"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        verbatim: Verbatim(Value::Object(map.clone()).to_string()),
    }
}

fn assignments(list: &Option<Vec<CreativeAssignmentWire>>) -> Option<Vec<String>> {
    list.as_ref().map(|list| list.iter().map(|a| a.creative_id.clone()).collect())
}

fn no_inline_creatives(creatives: &Option<Vec<Value>>, at: String) -> Result<(), Error> {
    match creatives {
        Some(list) if !list.is_empty() => Err(Error::Unsupported {
            message: "inline creatives are not supported".to_owned(),
            field: at,
            suggestion: "upload creatives with sync_creatives and reference them in creative_assignments".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// A daily cap from a package's `ext`: absent leaves it, null clears it, a positive number sets it.
fn daily_cap(ext: Option<&Map<String, Value>>, key: &str, at: &str) -> Result<Option<Option<f64>>, Error> {
    match ext.and_then(|ext| ext.get(key)) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => match value.as_f64() {
            Some(cap) if cap.is_finite() && cap > 0.0 => Ok(Some(Some(cap))),
            _ => Err(Error::invalid_with(
                format!("{at}.ext.{key}"),
                "a daily cap is a positive number",
                "send a positive number, or null to remove the cap",
            )),
        },
    }
}

/// # Errors
/// `InvalidRequest` or `Unsupported` naming the field.
pub fn package_request(wire: &PackageRequestWire, at: &str) -> Result<PackageRequest, Error> {
    no_inline_creatives(&wire.creatives, format!("{at}.creatives"))?;
    Ok(PackageRequest {
        product_id: wire.product_id.clone(),
        pricing_option_id: wire.pricing_option_id.clone(),
        budget: wire.budget,
        bid_price: wire.bid_price,
        impressions: wire.impressions,
        pacing: pacing(wire.pacing),
        start_time: wire.start_time.as_deref().map(|t| timestamp(t, &format!("{at}.start_time"))).transpose()?,
        end_time: wire.end_time.as_deref().map(|t| timestamp(t, &format!("{at}.end_time"))).transpose()?,
        paused: wire.paused.unwrap_or(false),
        format_ids: wire.format_ids.clone().map(|ids| ids.into_iter().map(FormatId::from).collect()),
        targeting_overlay: wire
            .targeting_overlay
            .as_ref()
            .map(|o| overlay(o, &format!("{at}.targeting_overlay")))
            .transpose()?,
        measurement_terms: wire.measurement_terms.as_ref().map(measurement_terms),
        creative_ids: assignments(&wire.creative_assignments).unwrap_or_default(),
        quote_id: match wire.ext.as_ref().and_then(|ext| ext.get("seed_quote_id")) {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return Err(Error::invalid(format!("{at}.ext.seed_quote_id"), "seed_quote_id is a string")),
        },
        daily_budget: daily_cap(wire.ext.as_ref(), "seed_daily_budget", at)?.flatten(),
    })
}

impl CreateMediaBuyRequest {
    /// # Errors
    /// `InvalidRequest` for missing or malformed fields.
    pub fn to_core(&self) -> Result<CreateMediaBuy, Error> {
        let account =
            self.account.as_ref().ok_or_else(|| Error::invalid("account", "account is required"))?.to_core()?;
        if self.proposal_id.is_some() {
            if self.total_budget.is_none() {
                return Err(Error::invalid_with(
                    "total_budget",
                    "buying a proposal needs total_budget",
                    "send total_budget {amount, currency}; the proposal's allocations share it",
                ));
            }
            if self.packages.is_some() {
                return Err(Error::invalid_with(
                    "packages",
                    "send either packages or proposal_id, not both",
                    "drop packages: a proposal's allocations become the packages",
                ));
            }
        }
        let brand = self.brand.as_ref().ok_or_else(|| Error::invalid("brand", "brand is required"))?;
        let start = start_time(
            self.start_time.as_ref().ok_or_else(|| Error::invalid("start_time", "start_time is required"))?,
            "start_time",
        )?;
        let end = timestamp(
            self.end_time.as_deref().ok_or_else(|| Error::invalid("end_time", "end_time is required"))?,
            "end_time",
        )?;
        let packages = match (&self.packages, &self.proposal_id) {
            (Some(packages), _) => packages.as_slice(),
            (None, Some(_)) => &[],
            (None, None) => {
                return Err(Error::invalid_with(
                    "packages",
                    "packages are required",
                    "send packages built from get_products, or proposal_id with total_budget",
                ));
            }
        };
        let packages = packages
            .iter()
            .enumerate()
            .map(|(index, p)| package_request(p, &format!("packages[{index}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CreateMediaBuy {
            account,
            brand_domain: brand.domain.to_ascii_lowercase(),
            brand_industries: brand.industries.clone().unwrap_or_default(),
            start_time: start,
            end_time: end,
            packages,
            total_budget: self.total_budget.as_ref().map(|m| (m.amount, m.currency.clone())),
            proposal_id: self.proposal_id.clone(),
            po_number: self.po_number.clone(),
            push_notification: webhook(self.push_notification_config.as_ref(), "push_notification_config")?,
            reporting_webhook: reporting_webhook(self.reporting_webhook.as_ref())?,
        })
    }
}

/// A webhook configuration: an object with a `url`, kept verbatim (authentication included,
/// for signing deliveries).
pub fn webhook(config: Option<&Value>, field: &str) -> Result<Option<Webhook>, Error> {
    let Some(config) = config else { return Ok(None) };
    if !config.is_object() {
        return Err(Error::invalid(field, format!("{field} must be an object")));
    }
    let url = config.get("url").and_then(Value::as_str).ok_or_else(|| {
        Error::invalid_with(
            format!("{field}.url"),
            format!("{field} needs a url"),
            "send {\"url\": \"https://...\"} with optional authentication",
        )
    })?;
    let frequency = match config.get("reporting_frequency") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_str().and_then(Frequency::parse).ok_or_else(|| {
            Error::invalid(
                format!("{field}.reporting_frequency"),
                "reporting_frequency must be hourly, daily or monthly",
            )
        })?),
    };
    Ok(Some(Webhook { url: url.to_owned(), config: Verbatim(config.to_string()), frequency }))
}

/// A reporting webhook: a webhook with its `reporting_frequency`.
fn reporting_webhook(config: Option<&Value>) -> Result<Option<Webhook>, Error> {
    let hook = webhook(config, "reporting_webhook")?;
    if hook.as_ref().is_some_and(|h| h.frequency.is_none()) {
        return Err(Error::invalid_with(
            "reporting_webhook.reporting_frequency",
            "reporting_webhook needs a reporting_frequency",
            "send reporting_frequency hourly, daily or monthly",
        ));
    }
    Ok(hook)
}

impl UpdateMediaBuyRequest {
    /// # Errors
    /// `InvalidRequest` for malformed fields.
    pub fn to_core(&self) -> Result<UpdateMediaBuy, Error> {
        let cancel = match self.canceled {
            Some(true) => Some(self.cancellation_reason.clone()),
            Some(false) => {
                return Err(Error::invalid("canceled", "canceled can only be true (cancellation is irreversible)"));
            }
            None => None,
        };
        let start_time = match &self.start_time {
            None => None,
            Some(value) => match start_time(value, "start_time")? {
                StartTime::Asap => None,
                StartTime::At(at) => Some(at),
            },
        };
        let mut packages = Vec::new();
        for (index, p) in self.packages.iter().flatten().enumerate() {
            let at = format!("packages[{index}]");
            no_inline_creatives(&p.creatives, format!("{at}.creatives"))?;
            packages.push(PackageUpdate {
                package_id: p.package_id.clone(),
                budget: p.budget,
                pacing: pacing(p.pacing),
                bid_price: p.bid_price,
                impressions: p.impressions,
                start_time: p.start_time.as_deref().map(|t| timestamp(t, &format!("{at}.start_time"))).transpose()?,
                end_time: p.end_time.as_deref().map(|t| timestamp(t, &format!("{at}.end_time"))).transpose()?,
                paused: p.paused,
                cancel: match p.canceled {
                    Some(true) => Some(p.cancellation_reason.clone()),
                    Some(false) => {
                        return Err(Error::invalid(format!("{at}.canceled"), "canceled can only be true"));
                    }
                    None => None,
                },
                targeting_overlay: p
                    .targeting_overlay
                    .as_ref()
                    .map(|o| overlay(o, &format!("{at}.targeting_overlay")))
                    .transpose()?,
                creative_ids: assignments(&p.creative_assignments),
                daily_budget: daily_cap(p.ext.as_ref(), "seed_daily_budget", &at)?,
                daily_impressions: daily_cap(p.ext.as_ref(), "seed_daily_impressions", &at)?,
            });
        }
        let new_packages = self
            .new_packages
            .iter()
            .flatten()
            .enumerate()
            .map(|(index, p)| package_request(p, &format!("new_packages[{index}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UpdateMediaBuy {
            media_buy_id: self.media_buy_id.clone(),
            account: self.account.as_ref().map(AccountRefWire::to_core).transpose()?,
            revision: self.revision,
            paused: self.paused,
            cancel,
            start_time,
            end_time: self.end_time.as_deref().map(|t| timestamp(t, "end_time")).transpose()?,
            packages,
            new_packages,
            push_notification: webhook(self.push_notification_config.as_ref(), "push_notification_config")?,
            reporting_webhook: reporting_webhook(self.reporting_webhook.as_ref())?,
        })
    }
}

impl GetMediaBuysRequest {
    /// # Errors
    /// `InvalidRequest` for unknown statuses.
    pub fn to_core(&self) -> Result<MediaBuyQuery, Error> {
        let statuses = status_filter(self.status_filter.as_ref())?;
        Ok(MediaBuyQuery {
            account: self.account.as_ref().map(AccountRefWire::to_core).transpose()?,
            media_buy_ids: self.media_buy_ids.clone().unwrap_or_default(),
            statuses,
            page: self.pagination.clone().into(),
            history: self.include_history.unwrap_or(0),
            ad_server_state: false,
        })
    }
}

/// AdCP `status_filter`: one status or a list; absent means the tool's default.
///
/// # Errors
/// `InvalidRequest` naming the bad entry.
pub fn status_filter(value: Option<&Value>) -> Result<Option<Vec<MediaBuyStatus>>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(one)) => Ok(Some(vec![status(one, "status_filter")?])),
        Some(Value::Array(many)) => many
            .iter()
            .enumerate()
            .map(|(i, s)| status(s.as_str().unwrap_or_default(), &format!("status_filter[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Error::invalid("status_filter", "status_filter is a status or a list of statuses")),
    }
}

fn status(text: &str, field: &str) -> Result<MediaBuyStatus, Error> {
    MediaBuyStatus::parse(text).ok_or_else(|| {
        Error::invalid_with(
            field,
            format!("unknown media buy status {text:?}"),
            "use pending_creatives, pending_start, active, paused, completed, rejected or canceled",
        )
    })
}

/// A time as AdCP responses carry it: RFC 3339, UTC, whole seconds.
pub fn time(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub fn cancellation_value(c: &Cancellation) -> Value {
    let mut value = json!({ "canceled_at": time(c.canceled_at), "canceled_by": c.canceled_by.as_str() });
    if let Some(reason) = &c.reason {
        value["reason"] = json!(reason);
    }
    value
}

fn raw(verbatim: &Verbatim) -> Value {
    serde_json::from_str(&verbatim.0).unwrap_or(Value::Null)
}

/// A package as create/update responses show it.
fn package_value(package: &Package) -> Value {
    let mut value = json!({
        "package_id": package.package_id,
        "product_id": package.product_id,
        "pricing_option_id": package.pricing_option_id,
        "budget": package.budget,
        "pacing": package.pacing.as_str(),
        "impressions": package.impressions,
        "format_ids": package.format_ids,
        "start_time": time(package.start_time),
        "end_time": time(package.end_time),
        "paused": package.paused,
        "creative_assignments": package.creative_ids.iter().map(|id| json!({"creative_id": id})).collect::<Vec<_>>(),
    });
    if let Some(bid) = package.bid_price {
        value["bid_price"] = json!(bid);
    }
    if let Some(overlay) = &package.targeting_overlay {
        value["targeting_overlay"] = raw(overlay);
    }
    if let Some(terms) = &package.measurement_terms {
        value["measurement_terms"] = raw(terms);
    }
    if let Some(cancellation) = &package.cancellation {
        value["canceled"] = json!(true);
        value["cancellation"] = cancellation_value(cancellation);
    }
    value
}

fn actions(status: MediaBuyStatus) -> Value {
    valid_actions(status).iter().map(|a| a.as_str()).collect::<Vec<_>>().into()
}

pub fn created_response(buy: &MediaBuy, sandbox: bool) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("media_buy_id".into(), buy.media_buy_id.clone().into());
    body.insert("status".into(), buy.status.as_str().into());
    body.insert("confirmed_at".into(), time(buy.confirmed_at));
    body.insert("creative_deadline".into(), time(buy.creative_deadline));
    body.insert("revision".into(), buy.revision.into());
    body.insert("valid_actions".into(), actions(buy.status));
    body.insert("packages".into(), buy.packages.iter().map(package_value).collect::<Vec<_>>().into());
    if sandbox {
        body.insert("sandbox".into(), true.into());
    }
    body
}

pub fn updated_response(updated: &Updated, now: DateTime<Utc>, sandbox: bool) -> Map<String, Value> {
    let buy = &updated.media_buy;
    let affected: Vec<Value> =
        updated.affected_packages.iter().filter_map(|id| buy.package(id)).map(package_value).collect();
    let mut body = Map::new();
    body.insert("media_buy_id".into(), buy.media_buy_id.clone().into());
    body.insert("status".into(), buy.status.as_str().into());
    body.insert("revision".into(), buy.revision.into());
    body.insert("implementation_date".into(), time(now));
    body.insert("affected_packages".into(), affected.into());
    body.insert("valid_actions".into(), actions(buy.status));
    if sandbox {
        body.insert("sandbox".into(), true.into());
    }
    body
}

use crate::core::buying::ReviewStates;

/// One buy as `get_media_buys` shows it.
pub fn media_buy_value(
    buy: &MediaBuy,
    history: Option<&[HistoryEntry]>,
    snapshot_requested: bool,
    reviews: &ReviewStates,
) -> Value {
    let packages: Vec<Value> = buy
        .packages
        .iter()
        .map(|package| {
            let mut value = json!({
                "package_id": package.package_id,
                "product_id": package.product_id,
                "budget": package.budget,
                "impressions": package.impressions,
                "start_time": time(package.start_time),
                "end_time": time(package.end_time),
                "paused": package.paused,
                "canceled": package.is_canceled(),
            });
            if package.currency != buy.currency {
                value["currency"] = json!(package.currency);
            }
            if let Some(bid) = package.bid_price {
                value["bid_price"] = json!(bid);
            }
            if let Some(overlay) = &package.targeting_overlay {
                value["targeting_overlay"] = raw(overlay);
            }
            if let Some(cancellation) = &package.cancellation {
                value["cancellation"] = cancellation_value(cancellation);
            }
            if !package.creative_ids.is_empty() {
                value["creative_approvals"] = package
                    .creative_ids
                    .iter()
                    .map(|id| {
                        // Assigned before upload, or still in review: pending until approved.
                        let (status, reason) = match reviews.get(id) {
                            Some((CreativeStatus::Approved, _)) => ("approved", None),
                            Some((CreativeStatus::Rejected, reason)) => ("rejected", reason.clone()),
                            _ => ("pending_review", None),
                        };
                        let mut approval = json!({"creative_id": id, "approval_status": status});
                        if let Some(reason) = reason {
                            approval["rejection_reason"] = json!(reason);
                        }
                        approval
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            if snapshot_requested {
                value["snapshot_unavailable_reason"] = json!("SNAPSHOT_UNSUPPORTED");
            }
            value
        })
        .collect();
    let mut value = json!({
        "media_buy_id": buy.media_buy_id,
        "status": buy.status.as_str(),
        "currency": buy.currency,
        "total_budget": buy.total_budget(),
        "start_time": time(buy.start_time),
        "end_time": time(buy.end_time),
        "confirmed_at": time(buy.confirmed_at),
        "creative_deadline": time(buy.creative_deadline),
        "revision": buy.revision,
        "created_at": time(buy.created_at),
        "updated_at": time(buy.updated_at),
        "valid_actions": actions(buy.status),
        "packages": packages,
    });
    if let Some(cancellation) = &buy.cancellation {
        value["cancellation"] = cancellation_value(cancellation);
    }
    if let Some(history) = history {
        value["history"] = history
            .iter()
            .map(|h| {
                let mut entry =
                    json!({"revision": h.revision, "timestamp": time(h.at), "actor": h.actor, "action": h.action});
                if !h.summary.is_empty() {
                    entry["summary"] = json!(h.summary);
                }
                if let Some(package_id) = &h.package_id {
                    entry["package_id"] = json!(package_id);
                }
                entry
            })
            .collect::<Vec<_>>()
            .into();
    }
    value
}

pub fn media_buys_response<T>(page: &Page<T>, values: Vec<Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("media_buys".into(), values.into());
    let mut pagination = json!({ "has_more": page.next_cursor.is_some() });
    if let Some(cursor) = &page.next_cursor {
        pagination["cursor"] = json!(cursor);
    }
    if let Some(total) = page.total {
        pagination["total_count"] = json!(total);
    }
    body.insert("pagination".into(), pagination);
    body
}

/// Where a buy stands on its ad server (`ext.ad_server` of `get_media_buys`): the platform's
/// ids, whether the booking is in step with the buy (and the last failure when not), and the
/// platform's own status, normalized, as last read.
pub fn ad_server_value(platform: &str, record: &crate::core::booking::BookingRecord) -> Value {
    let mut value = json!({
        "platform": platform,
        "order_id": record.booking.order_id,
        "line_ids": record.booking.lines.iter().map(|l| (l.package_id.clone(), json!(l.line_id))).collect::<Map<String, Value>>(),
        "in_sync": record.in_sync(),
    });
    if let Some(error) = &record.last_error {
        value["last_error"] = json!(error);
        value["refused"] = json!(record.failed);
    }
    if let Some(status) = &record.platform {
        value["status"] = json!({
            "platform_status": status.status,
            "state": status.state.as_str(),
            "checked_at": time(status.checked_at),
            "lines": status.lines.iter().map(|l| json!({
                "package_id": l.package_id,
                "platform_status": l.status,
                "state": l.state.as_str(),
            })).collect::<Vec<_>>(),
        });
    }
    value
}
