//! AdCP 3.0 request and response shapes for the tools, and their conversion to and from core.
//!
//! Request types derive `JsonSchema`: their doc comments become the tool input schemas buyers
//! read in `tools/list` (golden copy under `schemas/`). They stay permissive (unknown fields are
//! accepted, as AdCP requests evolve) and are converted to core types with precise errors.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::core::Error;
use crate::core::accounts::{AccountOutcome, AccountQuery, AccountRequest, SyncAccounts};
use crate::core::capabilities::Capabilities;
use crate::core::catalog::{AssetType, Catalog, Channel, DeliveryType, Exclusivity, Format, FormatId, Property};
use crate::core::discovery::{
    BudgetRange, BuyingMode, FormatQuery, ProductAction, ProductAnswer, ProductFilters, ProductQuery, ProposalAction,
    Refinement, RefinementScope, RefinementStatus,
};
use crate::core::pagination::{Page, PageParams};
use crate::core::proposals::Proposal;
use crate::core::tenancy::{Account, AccountKey, AccountStatus, Tenant};

/// Cursor pagination request.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PaginationRequest {
    /// Items per page, 1 to 100 (default 50).
    pub max_results: Option<u32>,
    /// Opaque cursor from the previous page's `pagination.cursor`.
    pub cursor: Option<String>,
}

impl From<Option<PaginationRequest>> for PageParams {
    fn from(request: Option<PaginationRequest>) -> PageParams {
        let request = request.unwrap_or_default();
        PageParams { cursor: request.cursor, max_results: request.max_results }
    }
}

/// A creative format reference.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct FormatIdRef {
    /// URL of the agent that defines the format.
    pub agent_url: String,
    /// Format identifier within that agent.
    pub id: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
}

impl From<FormatIdRef> for FormatId {
    fn from(r: FormatIdRef) -> FormatId {
        FormatId { agent_url: r.agent_url, id: r.id, width: r.width, height: r.height, duration_ms: r.duration_ms }
    }
}

/// Common envelope fields every request may carry.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Envelope {
    /// AdCP major version the caller speaks; this agent supports 3.
    pub adcp_major_version: Option<i64>,
    /// Opaque caller data, echoed unchanged on the response.
    pub context: Option<Map<String, Value>>,
    /// Extension data.
    pub ext: Option<Map<String, Value>>,
}

// ---------------------------------------------------------------------------------------------
// get_adcp_capabilities

/// Discover what this sales agent supports.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct GetCapabilitiesRequest {
    /// Restrict the answer to these protocols (e.g. `media_buy`).
    pub protocols: Option<Vec<String>>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// `request_signing`: whether signed requests are verified (the compliance suite's test
/// counterparty, at the signed grading endpoint).
pub fn capabilities_response(
    capabilities: &Capabilities,
    protocols: Option<&[String]>,
    request_signing: bool,
) -> Map<String, Value> {
    let wants = |protocol: &str| protocols.is_none_or(|p| p.iter().any(|x| x == protocol));
    let mut body = Map::new();
    body.insert(
        "adcp".into(),
        json!({
            "major_versions": capabilities.major_versions,
            "idempotency": { "supported": true, "replay_ttl_seconds": capabilities.replay_ttl_seconds },
        }),
    );
    body.insert("supported_protocols".into(), json!(["media_buy"]));
    if !capabilities.specialisms.is_empty() {
        body.insert("specialisms".into(), json!(capabilities.specialisms));
    }
    // Every webhook is signed under the RFC 9421 AdCP profile unless the buyer registered
    // legacy credentials (HMAC-SHA256 or Bearer) in push_notification_config.authentication.
    body.insert(
        "webhook_signing".into(),
        json!({
            "supported": true,
            "profile": "adcp/webhook-signing/v1",
            "algorithms": ["ed25519"],
            "legacy_hmac_fallback": true,
        }),
    );
    if request_signing {
        body.insert(
            "request_signing".into(),
            json!({ "supported": true, "covers_content_digest": "either", "required_for": [] }),
        );
    }
    body.insert(
        "account".into(),
        json!({
            "require_operator_auth": false,
            "supported_billing": capabilities.supported_billing.iter().map(|b| b.as_str()).collect::<Vec<_>>(),
            "required_for_products": false,
            "sandbox": capabilities.sandbox,
        }),
    );
    if wants("media_buy") {
        let mut portfolio = json!({
            "publisher_domains": capabilities.publisher_domains,
            "primary_channels": capabilities.primary_channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        });
        if !capabilities.primary_countries.is_empty() {
            portfolio["primary_countries"] = json!(capabilities.primary_countries);
        }
        if let Some(description) = &capabilities.portfolio_description {
            portfolio["description"] = json!(description);
        }
        if let Some(policies) = &capabilities.advertising_policies {
            portfolio["advertising_policies"] = json!(policies);
        }
        body.insert(
            "media_buy".into(),
            json!({
                "supported_pricing_models": capabilities.pricing_models.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "portfolio": portfolio,
                "features": {
                    "inline_creative_management": false,
                    "property_list_filtering": false,
                    "catalog_management": false,
                },
                "execution": {
                    "targeting": { "geo_countries": true, "geo_regions": true, "language": true },
                },
            }),
        );
    }
    // Declares comply_test_controller (which exists in sandbox tenants only).
    if !capabilities.compliance_scenarios.is_empty() {
        body.insert("compliance_testing".into(), json!({ "scenarios": capabilities.compliance_scenarios }));
    }
    body
}

// ---------------------------------------------------------------------------------------------
// get_products

/// Discover advertising products: rank by a brief, browse the catalog, or refine an earlier answer.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct GetProductsRequest {
    /// `brief` (rank by the brief), `wholesale` (the catalog as is) or `refine` (adjust with `refine`).
    /// Omitted: `brief` when a brief is given, otherwise `wholesale`.
    pub buying_mode: Option<BuyingModeWire>,
    /// Natural-language description of the campaign (brief mode).
    pub brief: Option<String>,
    /// Changes to an earlier answer, applied in order (refine mode).
    pub refine: Option<Vec<RefineEntry>>,
    /// The advertiser's brand.
    pub brand: Option<Value>,
    /// The account the buyer acts for.
    pub account: Option<Value>,
    /// Delivery types in order of preference.
    pub preferred_delivery_types: Option<Vec<DeliveryType>>,
    /// Filters every returned product satisfies.
    pub filters: Option<ProductFiltersWire>,
    /// Restrict each product to these fields (`product_id` is always included).
    pub fields: Option<Vec<String>>,
    /// External property list to restrict inventory to (not fetched by this seller).
    pub property_list: Option<Value>,
    pub pagination: Option<PaginationRequest>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuyingModeWire {
    Brief,
    Wholesale,
    Refine,
}

/// One refinement: `scope` is `request`, `product` or `proposal`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum RefineEntry {
    Request {
        ask: String,
    },
    Product {
        product_id: String,
        /// `include` (default), `omit` or `more_like_this`.
        action: Option<ProductActionWire>,
        ask: Option<String>,
    },
    Proposal {
        proposal_id: String,
        /// `include` (default; apply the ask), `omit` or `finalize` (commit a draft: firm
        /// prices, held for 72 hours).
        action: Option<ProposalActionWire>,
        ask: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalActionWire {
    Include,
    Omit,
    Finalize,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductActionWire {
    Include,
    Omit,
    MoreLikeThis,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ProductFiltersWire {
    pub delivery_type: Option<DeliveryType>,
    pub exclusivity: Option<Exclusivity>,
    /// true: products with a fixed-price option; false: products with an auction option.
    pub is_fixed_price: Option<bool>,
    /// Products supporting any of these formats.
    pub format_ids: Option<Vec<FormatIdRef>>,
    pub standard_formats_only: Option<bool>,
    /// Minimum impressions the product must be able to deliver over the flight.
    pub min_exposures: Option<u64>,
    /// Flight start (YYYY-MM-DD).
    pub start_date: Option<chrono::NaiveDate>,
    /// Flight end (YYYY-MM-DD).
    pub end_date: Option<chrono::NaiveDate>,
    pub budget_range: Option<BudgetRangeWire>,
    /// ISO 3166-1 alpha-2 countries.
    pub countries: Option<Vec<String>>,
    pub channels: Option<Vec<Channel>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct BudgetRangeWire {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub currency: String,
}

impl GetProductsRequest {
    /// # Errors
    /// `InvalidRequest` for a mode without its required input.
    pub fn into_query(self) -> Result<ProductQuery, Error> {
        let mode = match (self.buying_mode, self.brief) {
            (Some(BuyingModeWire::Brief), Some(brief)) => BuyingMode::Brief(brief),
            (Some(BuyingModeWire::Brief), None) => {
                return Err(Error::invalid_with(
                    "brief",
                    "buying_mode \"brief\" needs a brief",
                    "describe the campaign in brief, or use buying_mode \"wholesale\"",
                ));
            }
            (Some(BuyingModeWire::Wholesale), _) => BuyingMode::Wholesale,
            (Some(BuyingModeWire::Refine), _) => {
                let entries = self
                    .refine
                    .ok_or_else(|| Error::invalid("refine", "buying_mode \"refine\" needs a refine array"))?;
                BuyingMode::Refine(entries.into_iter().map(Refinement::from).collect())
            }
            (None, Some(brief)) => BuyingMode::Brief(brief),
            (None, None) => BuyingMode::Wholesale,
        };
        let filters = self.filters.unwrap_or_default();
        if let Some(countries) = &filters.countries
            && let Some((index, _)) =
                countries.iter().enumerate().find(|(_, c)| c.len() != 2 || !c.chars().all(|x| x.is_ascii_alphabetic()))
        {
            return Err(Error::invalid(
                format!("filters.countries[{index}]"),
                "countries must be ISO 3166-1 alpha-2 codes",
            ));
        }
        Ok(ProductQuery {
            mode,
            filters: ProductFilters {
                delivery_type: filters.delivery_type,
                exclusivity: filters.exclusivity,
                is_fixed_price: filters.is_fixed_price,
                format_ids: filters.format_ids.unwrap_or_default().into_iter().map(FormatId::from).collect(),
                standard_formats_only: filters.standard_formats_only.unwrap_or(false),
                channels: filters.channels.unwrap_or_default(),
                countries: filters.countries.unwrap_or_default().into_iter().map(|c| c.to_ascii_uppercase()).collect(),
                budget_range: filters.budget_range.map(|b| BudgetRange {
                    min: b.min,
                    max: b.max,
                    currency: b.currency,
                }),
                min_exposures: filters.min_exposures,
                start_date: filters.start_date,
                end_date: filters.end_date,
            },
            preferred_delivery_types: self.preferred_delivery_types.unwrap_or_default(),
            page: self.pagination.into(),
            records: Default::default(),
        })
    }
}

impl From<RefineEntry> for Refinement {
    fn from(entry: RefineEntry) -> Refinement {
        match entry {
            RefineEntry::Request { ask } => Refinement::Request { ask },
            RefineEntry::Product { product_id, action, ask } => Refinement::Product {
                product_id,
                action: match action.unwrap_or(ProductActionWire::Include) {
                    ProductActionWire::Include => ProductAction::Include,
                    ProductActionWire::Omit => ProductAction::Omit,
                    ProductActionWire::MoreLikeThis => ProductAction::MoreLikeThis,
                },
                ask,
            },
            RefineEntry::Proposal { proposal_id, action, ask } => Refinement::Proposal {
                proposal_id,
                action: match action.unwrap_or(ProposalActionWire::Include) {
                    ProposalActionWire::Include => ProposalAction::Include,
                    ProposalActionWire::Omit => ProposalAction::Omit,
                    ProposalActionWire::Finalize => ProposalAction::Finalize,
                },
                ask,
            },
        }
    }
}

pub fn products_response(
    answer: &ProductAnswer,
    proposals: &[Proposal],
    fields: Option<&[String]>,
    property_list: bool,
) -> Map<String, Value> {
    let products: Vec<Value> = answer
        .products
        .items
        .iter()
        .map(|matched| {
            let mut product = to_object(&matched.product);
            product.remove("audience");
            product.remove("daily_impressions");
            if let Some(relevance) = &matched.relevance {
                product.insert("brief_relevance".into(), relevance.text.clone().into());
            }
            if let Some(fields) = fields {
                product.retain(|key, _| key == "product_id" || fields.iter().any(|f| f == key));
            }
            Value::Object(product)
        })
        .collect();
    let mut body = Map::new();
    body.insert("products".into(), products.into());
    if !proposals.is_empty() {
        body.insert("proposals".into(), proposals.iter().map(proposal_value).collect::<Vec<_>>().into());
    }
    if let Some(outcomes) = &answer.refinements {
        let entries: Vec<Value> = outcomes
            .iter()
            .map(|outcome| {
                let status = match outcome.status {
                    RefinementStatus::Applied => "applied",
                    RefinementStatus::Partial => "partial",
                    RefinementStatus::Unable => "unable",
                };
                match &outcome.scope {
                    RefinementScope::Request => json!({"scope": "request", "status": status, "notes": outcome.notes}),
                    RefinementScope::Product(id) => {
                        json!({"scope": "product", "product_id": id, "status": status, "notes": outcome.notes})
                    }
                    RefinementScope::Proposal(id) => {
                        json!({"scope": "proposal", "proposal_id": id, "status": status, "notes": outcome.notes})
                    }
                }
            })
            .collect();
        body.insert("refinement_applied".into(), entries.into());
    }
    if property_list {
        body.insert("property_list_applied".into(), false.into());
    }
    body.insert("pagination".into(), pagination(&answer.products));
    body
}

/// A proposal as AdCP `core/proposal.json` has it.
pub fn proposal_value(proposal: &Proposal) -> Value {
    let allocations: Vec<Value> = proposal
        .allocations
        .iter()
        .enumerate()
        .map(|(index, a)| {
            json!({
                "product_id": a.product_id,
                "allocation_percentage": a.percentage,
                "pricing_option_id": a.pricing_option_id,
                "rationale": a.rationale,
                "sequence": index + 1,
            })
        })
        .collect();
    let mut value = json!({
        "proposal_id": proposal.proposal_id,
        "name": proposal.name,
        "description": proposal.description,
        "proposal_status": proposal.status.as_str(),
        "expires_at": proposal.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "allocations": allocations,
        "brief_alignment": proposal.brief_alignment,
    });
    let budget = &proposal.budget;
    if budget.min.is_some() || budget.recommended.is_some() || budget.max.is_some() {
        let mut guidance = Map::new();
        for (key, amount) in [("min", budget.min), ("recommended", budget.recommended), ("max", budget.max)] {
            if let Some(amount) = amount {
                guidance.insert(key.into(), amount.into());
            }
        }
        guidance.insert("currency".into(), proposal.currency.clone().into());
        value["total_budget_guidance"] = Value::Object(guidance);
    }
    if let Some(media_buy_id) = &proposal.media_buy_id {
        value["ext"] = json!({"media_buy_id": media_buy_id});
    }
    value
}

// ---------------------------------------------------------------------------------------------
// list_creative_formats

/// List the creative formats this publisher accepts, with their asset requirements.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ListFormatsRequest {
    /// Return only these formats.
    pub format_ids: Option<Vec<FormatIdRef>>,
    /// Formats with at least one asset of these types.
    pub asset_types: Option<Vec<AssetType>>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub is_responsive: Option<bool>,
    /// Case-insensitive search in name and description.
    pub name_search: Option<String>,
    pub pagination: Option<PaginationRequest>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

impl ListFormatsRequest {
    pub fn into_query(self) -> FormatQuery {
        FormatQuery {
            format_ids: self.format_ids.unwrap_or_default().into_iter().map(FormatId::from).collect(),
            asset_types: self.asset_types.unwrap_or_default(),
            max_width: self.max_width,
            max_height: self.max_height,
            min_width: self.min_width,
            min_height: self.min_height,
            is_responsive: self.is_responsive,
            name_search: self.name_search,
            page: self.pagination.into(),
        }
    }
}

/// A format as AdCP `core/format.json` has it.
///
/// `supported_macros` stays in the catalog (the macro tools use it) but is not sent: in 3.0.6
/// its items are a `oneOf` of the universal-macro enum and any string, so every standard macro
/// matches both branches and fails validation (fixed upstream as `anyOf` in adcp#5101).
pub fn format_value(format: &Format) -> Value {
    let mut object = to_object(format);
    object.remove("channel");
    object.remove("supported_macros");
    if let Some(Value::Array(assets)) = object.get_mut("assets") {
        for asset in assets {
            if let Value::Object(asset) = asset {
                asset.insert("item_type".into(), "individual".into());
            }
        }
    }
    Value::Object(object)
}

pub fn formats_response(page: &Page<Format>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("formats".into(), page.items.iter().map(format_value).collect::<Vec<_>>().into());
    body.insert("pagination".into(), pagination(page));
    body
}

// ---------------------------------------------------------------------------------------------
// list_authorized_properties (seed-era; AdCP 3.0 moved this into capabilities.portfolio)

/// List the publisher's properties (sites, apps, streams) and advertising policies.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ListPropertiesRequest {
    /// Only properties with any of these tags.
    pub tags: Option<Vec<String>>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

pub fn properties_response(tenant: &Tenant, catalog: &Catalog, tags: Option<&[String]>) -> Map<String, Value> {
    let properties: Vec<&Property> =
        catalog.properties.iter().filter(|p| tags.is_none_or(|tags| tags.iter().any(|t| p.tags.contains(t)))).collect();
    let mut domains: Vec<String> = tenant.publisher_domains.clone();
    for property in &catalog.properties {
        if !domains.contains(&property.publisher_domain) {
            domains.push(property.publisher_domain.clone());
        }
    }
    let mut body = Map::new();
    body.insert("properties".into(), properties.iter().map(|p| Value::Object(to_object(p))).collect::<Vec<_>>().into());
    body.insert("publisher_domains".into(), domains.into());
    if let Some(description) = &tenant.portfolio_description {
        body.insert("portfolio_description".into(), description.clone().into());
    }
    body.insert("advertising_policies".into(), Value::Object(to_object(&catalog.policy)));
    body
}

// ---------------------------------------------------------------------------------------------
// sync_accounts / list_accounts

/// Declare the accounts this agent buys for (brand + operator + billing); each is accepted or refused.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SyncAccountsRequest {
    /// Unique key for this request (16-255 chars of A-Z a-z 0-9 _ . : -); reuse only to retry it.
    pub idempotency_key: Option<String>,
    pub accounts: Vec<AccountWire>,
    /// Close this agent's accounts that are not listed.
    pub delete_missing: Option<bool>,
    /// Report what would happen without changing anything.
    pub dry_run: Option<bool>,
    /// Where to push async updates (accounts are answered synchronously by this seller).
    pub push_notification_config: Option<Value>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AccountWire {
    pub brand: BrandRef,
    /// Domain of the party operating the buying (agency or the brand itself).
    pub operator: String,
    /// Who is invoiced: `operator`, `agent` or `advertiser`.
    pub billing: String,
    pub billing_entity: Option<BillingEntity>,
    /// e.g. `net_30`, `prepay`.
    pub payment_terms: Option<String>,
    /// Sandbox accounts never spend real money.
    pub sandbox: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct BrandRef {
    pub domain: String,
    pub brand_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct BillingEntity {
    pub legal_name: String,
}

impl SyncAccountsRequest {
    pub fn into_command(self) -> SyncAccounts {
        SyncAccounts {
            accounts: self
                .accounts
                .into_iter()
                .map(|a| AccountRequest {
                    key: AccountKey {
                        brand_domain: a.brand.domain.to_ascii_lowercase(),
                        brand_id: a.brand.brand_id,
                        operator: a.operator.to_ascii_lowercase(),
                        sandbox: a.sandbox.unwrap_or(false),
                    },
                    billing: a.billing,
                    payment_terms: a.payment_terms,
                    billing_entity_name: a.billing_entity.map(|b| b.legal_name),
                })
                .collect(),
            delete_missing: self.delete_missing.unwrap_or(false),
            dry_run: self.dry_run.unwrap_or(false),
        }
    }
}

fn brand_value(key: &AccountKey) -> Value {
    let mut brand = json!({ "domain": key.brand_domain });
    if let Some(id) = &key.brand_id {
        brand["brand_id"] = json!(id);
    }
    brand
}

/// An account as AdCP `core/account.json` has it.
pub fn account_value(account: &Account) -> Value {
    let mut value = json!({
        "account_id": account.account_id,
        "name": account.name,
        "status": account.status.as_str(),
        "brand": brand_value(&account.key),
        "operator": account.key.operator,
        "billing": account.billing.as_str(),
        "account_scope": "operator_brand",
    });
    if let Some(terms) = &account.payment_terms {
        value["payment_terms"] = json!(terms);
    }
    if let Some(name) = &account.billing_entity_name {
        value["billing_entity"] = json!({ "legal_name": name });
    }
    if account.key.sandbox {
        value["sandbox"] = json!(true);
    }
    if account.status == AccountStatus::PendingApproval {
        value["setup"] = json!({ "message": "The publisher reviews new accounts; you can buy once it is active." });
    }
    value
}

pub fn sync_accounts_response(outcomes: &[AccountOutcome], dry_run: bool) -> Map<String, Value> {
    let accounts: Vec<Value> = outcomes
        .iter()
        .map(|outcome| match (&outcome.account, &outcome.error) {
            (Some(account), _) => {
                let mut value = account_value(account);
                value["action"] = json!(outcome.action.as_str());
                value
            }
            (None, error) => {
                let mut value = json!({
                    "brand": brand_value(&outcome.key),
                    "operator": outcome.key.operator,
                    "action": outcome.action.as_str(),
                    "status": "rejected",
                });
                if let Some(error) = error {
                    value["errors"] = json!([super::error::adcp_error(error)]);
                }
                value
            }
        })
        .collect();
    let mut body = Map::new();
    if dry_run {
        body.insert("dry_run".into(), true.into());
    }
    body.insert("accounts".into(), accounts.into());
    body
}

/// List the accounts this agent may buy for.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ListAccountsRequest {
    pub status: Option<String>,
    pub sandbox: Option<bool>,
    pub pagination: Option<PaginationRequest>,
    #[serde(flatten)]
    pub envelope: Envelope,
}

impl ListAccountsRequest {
    /// # Errors
    /// `InvalidRequest` for an unknown status.
    pub fn into_query(self) -> Result<AccountQuery, Error> {
        let status = match self.status {
            None => None,
            Some(text) => Some(AccountStatus::parse(&text).ok_or_else(|| {
                Error::invalid_with(
                    "status",
                    format!("unknown account status {text:?}"),
                    "use active, pending_approval, rejected, payment_required, suspended or closed",
                )
            })?),
        };
        Ok(AccountQuery { status, sandbox: self.sandbox, page: self.pagination.into() })
    }
}

pub fn accounts_response(page: &Page<Account>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("accounts".into(), page.items.iter().map(account_value).collect::<Vec<_>>().into());
    body.insert("pagination".into(), pagination(page));
    body
}

// ---------------------------------------------------------------------------------------------

fn pagination<T>(page: &Page<T>) -> Value {
    let mut value = json!({ "has_more": page.next_cursor.is_some() });
    if let Some(cursor) = &page.next_cursor {
        value["cursor"] = json!(cursor);
    }
    if let Some(total) = page.total {
        value["total_count"] = json!(total);
    }
    value
}

fn to_object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => object,
        // Catalog types are structs of plain data; serialization to an object cannot fail.
        _ => Map::new(),
    }
}
