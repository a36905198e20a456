//! The seed-era tools (the user's documents, seed 001 to 004) as thin tools over the AdCP 3.0
//! core: their request and response shapes, and their error format
//! (`{"error": {code, message, field, suggestion}}`, [`Dialect::Seed`]). `[server] seed_tools =
//! false` leaves the buyer-facing ones out of tools/list.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::wire_buying::time;
use super::wire_delivery::date;
use super::{Call, SalesAgent, required};
use crate::core::Error;
use crate::core::buying::ReviewStates;
use crate::core::creative::CreativeStatus;
use crate::core::discovery::ProductMatch;
use crate::core::media_buy::{MediaBuy, MediaBuyStatus};
use crate::core::seed::{self, AllDelivery, BuyState, ChannelCapabilities, Dimension, SeedFilters, SignalCheck};
use crate::core::tasks::{Task, TaskStatus};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use super::super::wire::Envelope;

    /// Seed 001 `discover_products`: products for a natural-language campaign brief.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct DiscoverProductsRequest {
        /// What the campaign wants: audience, channel, geography, budget.
        pub campaign_brief: String,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `list_products` filters.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct SeedProductFilters {
        /// `guaranteed` or `non_guaranteed`.
        pub delivery_type: Option<crate::core::catalog::DeliveryType>,
        /// Creative kinds (`video`, `display`, `audio`, `native`) or format ids.
        pub formats: Option<Vec<String>>,
        /// Fixed price (true) or auction (false).
        pub is_fixed_price: Option<bool>,
        /// Creative kinds (`video`, `display`, `audio`, `native`).
        pub creative_types: Option<Vec<String>>,
    }

    /// Seed 001 `list_products`: the catalog, or the products for a brief, filtered.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct ListProductsRequest {
        /// Optional natural-language brief; products are then ranked and explained.
        pub brief: Option<String>,
        pub filters: Option<SeedProductFilters>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `get_targeting_capabilities`.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetTargetingCapabilitiesRequest {
        /// Channels (`web`, `mobile_app`, `ctv`, `audio`, or AdCP channels); all sold when omitted.
        pub channels: Option<Vec<String>>,
        /// Include the impression signals (AEE dimensions) of each channel.
        pub include_aee_dimensions: Option<bool>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `check_aee_requirements`.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CheckAeeRequirementsRequest {
        pub channel: String,
        /// Signal names (`page_url`, `content_rating`, ...) or context paths (`geo.city`).
        pub required_dimensions: Vec<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `get_creatives`.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetCreativesRequest {
        /// Only creatives assigned to this buy.
        pub media_buy_id: Option<String>,
        /// `processing`, `pending_review`, `approved`, `rejected` or `archived`.
        pub status: Option<String>,
        /// A creative kind (`video`, `display`, `audio`) or a format id.
        pub format: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `check_media_buy_status`.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CheckMediaBuyStatusRequest {
        pub media_buy_id: String,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `get_all_media_buy_delivery`.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetAllMediaBuyDeliveryRequest {
        /// Summary date (YYYY-MM-DD, UTC); delivery up to its end. Defaults to today.
        pub today: Option<String>,
        /// Buys to include; all of yours (every buyer's, for an admin) when omitted.
        pub media_buy_ids: Option<Vec<String>>,
        /// Only buys in this AdCP status (`active`, `paused`, `completed`, ...).
        pub status: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 003 `update_media_buy_status`: poll an update (or create) that waited.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct UpdateMediaBuyStatusRequest {
        /// The task_id a submitted response gave.
        pub task_id: String,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

use schemas::*;

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn money(amount: f64) -> Value {
    json!((amount * 100.0).round() / 100.0)
}

fn recommended_value(catalog: &crate::core::catalog::Catalog, found: &ProductMatch) -> Value {
    let product = &found.product;
    let mut value = json!({
        "product_id": product.product_id,
        "name": product.name,
        "description": product.description,
        "delivery_type": product.delivery_type,
        "targeting_available": seed::targeting_available(product),
        "formats": seed::product_kinds(catalog, product),
        "match_reasons": found
            .relevance
            .as_ref()
            .map(|r| r.reasons.iter().map(|reason| capitalized(reason)).collect::<Vec<_>>())
            .unwrap_or_default(),
    });
    if let Some(minimum) = seed::min_spend(product) {
        value["min_spend"] = money(minimum);
    }
    if let Some((min, max)) = seed::cpm_range(product) {
        value["cpm_range"] = json!({ "min": min, "max": max });
    }
    if let Some(relevance) = &found.relevance {
        value["brief_relevance"] = relevance.text.clone().into();
    }
    value
}

fn listed_value(catalog: &crate::core::catalog::Catalog, found: &ProductMatch) -> Value {
    let product = &found.product;
    let mut value = json!({
        "product_id": product.product_id,
        "name": product.name,
        "description": product.description,
        "formats": product.format_ids.iter().map(|id| json!({"format_id": id.id})).collect::<Vec<_>>(),
        "creative_types": seed::product_kinds(catalog, product),
        "channels": product.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "delivery_type": product.delivery_type,
        "is_fixed_price": product.pricing_options.iter().any(|o| o.is_fixed()),
    });
    if let Some((min, _)) = seed::cpm_range(product) {
        value["cpm"] = json!(min);
    }
    if let Some(minimum) = seed::min_spend(product) {
        value["min_spend"] = money(minimum);
    }
    if let Some(relevance) = &found.relevance {
        value["brief_relevance"] = relevance.text.clone().into();
    }
    value
}

fn dimension_value(dimension: &Dimension) -> Value {
    json!({
        "key": dimension.key,
        "display_name": dimension.display_name,
        "description": dimension.description,
        "data_type": dimension.data_type,
        "required": dimension.required,
        "values": dimension.values,
    })
}

fn capabilities_value(name: &str, capabilities: &ChannelCapabilities) -> Value {
    let mut value = json!({
        "channel": name,
        "adcp_channel": capabilities.channel.as_str(),
        "overlay_dimensions": capabilities.overlay_dimensions.iter().map(dimension_value).collect::<Vec<_>>(),
    });
    if let Some(signals) = &capabilities.aee_dimensions {
        value["aee_dimensions"] = signals.iter().map(dimension_value).collect::<Vec<_>>().into();
    }
    value
}

fn signal_check_response(check: SignalCheck) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("supported".into(), check.supported.into());
    body.insert("missing_dimensions".into(), check.missing_dimensions.into());
    body.insert("available_dimensions".into(), check.available_dimensions.into());
    body
}

fn buy_state_response(state: &BuyState) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("media_buy_id".into(), state.media_buy.media_buy_id.clone().into());
    body.insert("status".into(), state.status.as_str().into());
    body.insert("adcp_status".into(), state.media_buy.status.as_str().into());
    body.insert("last_updated".into(), time(state.media_buy.updated_at));
    body.insert(
        "package_statuses".into(),
        state
            .packages
            .iter()
            .map(|p| {
                json!({
                    "package_id": p.package_id,
                    "status": p.status,
                    "pacing": p.pacing,
                    "delivery_percentage": p.delivery_percentage,
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    body
}

fn all_delivery_response(all: &AllDelivery, admin: bool) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(
        "deliveries".into(),
        all.deliveries
            .iter()
            .map(|d| {
                let mut value = json!({
                    "media_buy_id": d.media_buy_id,
                    "status": d.status,
                    "spend": d.spend,
                    "impressions": d.impressions,
                    "pacing": d.pacing,
                    "days_elapsed": d.days_elapsed,
                    "total_days": d.total_days,
                });
                if admin {
                    value["principal_id"] = d.principal_id.clone().into();
                }
                value
            })
            .collect::<Vec<_>>()
            .into(),
    );
    body.insert("total_spend".into(), money(all.total_spend));
    body.insert("total_impressions".into(), json!(all.total_impressions));
    body.insert("active_count".into(), all.active_count.into());
    body.insert("summary_date".into(), all.summary_date.to_string().into());
    body.insert("currency".into(), all.currency.clone().into());
    body
}

/// Seed 003's answer to `update_media_buy_status`, from the task and the response its
/// operation gave once run.
fn update_status_response(task: &Task, buy_status: Option<seed::SeedStatus>) -> Map<String, Value> {
    let mut body = super::wire_tasks::task_value(task, false, false);
    let result: Option<Value> = task.result.as_deref().and_then(|r| serde_json::from_str(r).ok());
    let status = task.status();
    let party = match status {
        TaskStatus::Submitted => Some("publisher"),
        TaskStatus::Working => Some("system"),
        _ => None,
    };
    if let Some(party) = party {
        body.insert("responsible_party".into(), party.into());
    }
    if let Some(seed_status) = buy_status {
        body.insert("media_buy_status".into(), seed_status.as_str().into());
    }
    if let Some(result) = &result {
        if let Some(id) = result.get("media_buy_id") {
            body.insert("media_buy_id".into(), id.clone());
        }
        let packages = result
            .get("affected_packages")
            .or_else(|| result.get("packages"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|p| p.get("package_id"))
                    .map(|id| json!({ "package_id": id }))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        body.insert("affected_packages".into(), packages.into());
    }
    if status == TaskStatus::Completed
        && let Some(at) = task.completed_at
    {
        body.insert("implementation_date".into(), at.to_rfc3339_opts(SecondsFormat::Secs, true).into());
    }
    if let Some(failure) = &task.failure {
        body.insert("reason".into(), failure.message.clone().into());
    } else if status == TaskStatus::Rejected {
        body.insert("reason".into(), body["message"].clone());
    }
    body.remove("error");
    body
}

fn creative_status(text: &str) -> Result<CreativeStatus, Error> {
    CreativeStatus::parse(text).ok_or_else(|| {
        Error::invalid_with(
            "status",
            format!("unknown creative status {text:?}"),
            "use processing, pending_review, approved, rejected or archived",
        )
    })
}

impl SalesAgent {
    pub(super) async fn discover_products(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: DiscoverProductsRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let (catalog, records) = self.app.catalog_and_records(tenant).await?;
        let found = seed::discover_products(&catalog, self.app.ranker(), records, &request.campaign_brief).await?;
        let mut body = Map::new();
        body.insert(
            "recommended_products".into(),
            found.iter().map(|m| recommended_value(&catalog, m)).collect::<Vec<_>>().into(),
        );
        Ok(body)
    }

    pub(super) async fn list_products(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: ListProductsRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let (catalog, records) = self.app.catalog_and_records(tenant).await?;
        let wire = request.filters.unwrap_or_default();
        let filters = SeedFilters {
            delivery_type: wire.delivery_type,
            is_fixed_price: wire.is_fixed_price,
            formats: wire.formats.unwrap_or_default(),
            creative_types: wire.creative_types.unwrap_or_default(),
        };
        let brief = request.brief.as_deref().filter(|b| !b.trim().is_empty());
        let found = seed::find_products(&catalog, self.app.ranker(), records, brief, &filters).await?;
        let mut body = Map::new();
        body.insert("products".into(), found.iter().map(|m| listed_value(&catalog, m)).collect::<Vec<_>>().into());
        Ok(body)
    }

    pub(super) async fn get_targeting_capabilities(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: GetTargetingCapabilitiesRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let names = request.channels.unwrap_or_default();
        let channels = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                seed::parse_channel(name).ok_or_else(|| {
                    Error::invalid_with(
                        format!("channels[{index}]"),
                        format!("unknown channel {name:?}"),
                        "use web, mobile_app, video, ctv, audio or an AdCP channel (display, olv, streaming_audio, ...)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let found = seed::targeting_capabilities(&catalog, &channels, request.include_aee_dimensions.unwrap_or(false))?;
        let values: Vec<Value> = found
            .iter()
            .enumerate()
            .map(|(index, c)| capabilities_value(names.get(index).map_or(c.channel.as_str(), String::as_str), c))
            .collect();
        let mut body = Map::new();
        body.insert("capabilities".into(), values.into());
        Ok(body)
    }

    pub(super) async fn check_aee_requirements(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: CheckAeeRequirementsRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let channel = seed::parse_channel(&request.channel).ok_or_else(|| {
            Error::invalid_with(
                "channel",
                format!("unknown channel {:?}", request.channel),
                "use web, mobile_app, video, ctv, audio or an AdCP channel",
            )
        })?;
        Ok(signal_check_response(seed::check_signals(&catalog, channel, &request.required_dimensions)?))
    }

    pub(super) async fn get_creatives(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: GetCreativesRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let catalog = self.app.catalog(tenant).await?;
        let status = request.status.as_deref().map(creative_status).transpose()?;
        let found = seed::get_creatives(
            self.app.db(),
            &catalog,
            tenant,
            principal,
            request.media_buy_id.as_deref(),
            status,
            request.format.as_deref(),
        )
        .await?;
        let creatives: Vec<Value> = found
            .iter()
            .map(|listed| {
                let creative = &listed.creative;
                let mut value = json!({
                    "creative_id": creative.creative_id,
                    "name": creative.name,
                    "format": catalog.format(&creative.format_id).map_or("display", seed::media_kind),
                    "format_id": creative.format_id.id,
                    "status": creative.status.as_str(),
                    "created_at": time(creative.created_at),
                    "associations": listed
                        .assignments
                        .iter()
                        .map(|a| json!({"media_buy_id": a.media_buy_id, "package_id": a.package_id}))
                        .collect::<Vec<_>>(),
                });
                if let Some(reason) = &creative.rejection_reason {
                    value["review_feedback"] = reason.clone().into();
                }
                value
            })
            .collect();
        let mut body = Map::new();
        body.insert("creatives".into(), creatives.into());
        Ok(body)
    }

    pub(super) async fn check_media_buy_status(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: CheckMediaBuyStatusRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let catalog = self.app.catalog(tenant).await?;
        let now = self.app.clock().now();
        let state = seed::check_media_buy_status(
            self.app.db(),
            self.app.ad_server(&tenant.tenant_id),
            &catalog,
            tenant,
            principal,
            &request.media_buy_id,
            now,
        )
        .await?;
        Ok(buy_state_response(&state))
    }

    pub(super) async fn get_all_media_buy_delivery(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: GetAllMediaBuyDeliveryRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let query = seed::AllDeliveryQuery {
            today: request.today.as_deref().map(|d| date(d, "today")).transpose()?,
            media_buy_ids: request.media_buy_ids.unwrap_or_default(),
            statuses: request
                .status
                .as_deref()
                .map(|s| {
                    MediaBuyStatus::parse(s).map(|s| vec![s]).ok_or_else(|| {
                        Error::invalid_with(
                            "status",
                            format!("unknown media buy status {s:?}"),
                            "use pending_creatives, pending_start, active, paused, completed, rejected or canceled",
                        )
                    })
                })
                .transpose()?,
        };
        let catalog = self.app.catalog(tenant).await?;
        let now = self.app.clock().now();
        let all = seed::all_media_buy_delivery(
            self.app.db(),
            self.app.ad_server(&tenant.tenant_id),
            &catalog,
            tenant,
            principal,
            &query,
            now,
        )
        .await?;
        Ok(all_delivery_response(&all, principal.admin))
    }

    pub(super) async fn update_media_buy_status(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: UpdateMediaBuyStatusRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let (task, buy_status) = seed::operation_status(self.app.db(), tenant, principal, &request.task_id).await?;
        Ok(update_status_response(&task, buy_status))
    }
}

/// Seed 004's names beside the AdCP 3.0 fields of a `get_media_buys` entry (both schemas allow
/// extra properties): `id`, `creatives[{id, status}]`, and per package `id`, `name` (the
/// product's), `status` (the seed's package status), `start_date`, `end_date` and the daily caps
/// `update_package` set.
pub(super) fn add_seed_004_fields(
    value: &mut Value,
    buy: &MediaBuy,
    reviews: &ReviewStates,
    catalog: &crate::core::catalog::Catalog,
    now: DateTime<Utc>,
) {
    value["id"] = json!(buy.media_buy_id);
    let mut creatives: Vec<Value> = Vec::new();
    for package in &buy.packages {
        for id in &package.creative_ids {
            if creatives.iter().any(|c| c["id"] == json!(id)) {
                continue;
            }
            let status = match reviews.get(id) {
                Some((CreativeStatus::Approved, _)) => "approved",
                Some((CreativeStatus::Rejected, _)) => "rejected",
                _ => "pending_review",
            };
            creatives.push(json!({"id": id, "status": status}));
        }
    }
    value["creatives"] = creatives.into();
    let Some(packages) = value.get_mut("packages").and_then(Value::as_array_mut) else { return };
    for (entry, package) in packages.iter_mut().zip(&buy.packages) {
        entry["id"] = json!(package.package_id);
        if let Some(product) = catalog.product(&package.product_id) {
            entry["name"] = json!(product.name);
        }
        entry["status"] = json!(seed::package_status(buy, package, now));
        if let Some(cap) = package.daily_budget {
            entry["daily_budget"] = json!(cap);
        }
        if let Some(cap) = package.daily_impressions {
            entry["daily_impressions"] = json!(cap);
        }
        entry["start_date"] = json!(package.start_time.date_naive().to_string());
        entry["end_date"] = json!(package.end_time.date_naive().to_string());
    }
}
