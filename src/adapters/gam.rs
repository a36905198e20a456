//! Google Ad Manager over its SOAP API (`https://ads.google.com/apis/ads/publisher/{version}`,
//! OAuth 2.0 service account): a buy is an order of the brand's advertiser, each package a line
//! item of it.
//!
//! - Creates are find-or-create on deterministic names (GAM wants order names unique in a
//!   network): the advertiser company by name (the brand's domain, also its `externalId`), the
//!   order `adcp:<media_buy_id>`, the line item `adcp:<media_buy_id>:<package_id>` in its order.
//!   A create retried after an unknown outcome finds what the first attempt made.
//! - Line items carry the product's line item type and priority (configured, else derived from
//!   the pricing: flat rate is a sponsorship, auction bids price priority, fixed prices
//!   standard), cost type and cost per unit in micros, the primary goal, dates in the network's
//!   time zone, creative placeholders from the formats, inventory from the product's ad units and
//!   placements and geo, device and frequency targeting from the buyer's overlay. Elements are
//!   written in the schema's order.
//! - The order is approved (`ApproveOrders`) once its lines run; pause and resume are
//!   `performLineItemAction` (`PauseLineItems`, `ResumeLineItems`), cancel pauses and archives.
//! - Changes are get-modify-update of the whole line item: GAM's own fields go back as it sent
//!   them.
//! - Availability forecasts (seed `get_avails`) come from `ForecastService`: the line item the
//!   product would book, as a prospective line item.
//! - Delivery comes from `ReportService`: one report job per order (filtered by `ORDER_ID`, by
//!   day and line item), polled, downloaded as gzipped `CSV_DUMP` and parsed.
//!
//! Dry-run prints every envelope (see [`SoapApi::call`]) and simulates GAM's answers with ids
//! derived from ours.

use std::collections::HashMap;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::Value;

use super::google_auth::{ServiceAccount, ServiceAccountTokens};
use super::http::{KnownIds, RateLimitRetry, Recorder, ReportWait, TokenSource, simulated_id};
use super::soap::{El, SoapApi, Statement};
use crate::core::booking::{
    AdServerError, AdServerOp, Applied, Booking, CreativeSpec, LineSpec, OrderSpec, RunState, Serving, order_state,
};
use crate::core::catalog::{FormatId, PricingModel};
use crate::core::delivery::{AdServer, Forecast, ForecastRequest, Metrics, ReportRequest, Reported, ReportedDay};
use crate::core::media_buy::{MediaBuy, Pacing};
use crate::core::ports::Clock;
use crate::core::reconcile::{PlatformLine, PlatformState, PlatformStatus, from_lines};

pub const DEFAULT_BASE_URL: &str = "https://ads.google.com";
/// The newest SOAP version (sunset August 2027).
pub const DEFAULT_VERSION: &str = "v202608";
pub const SCOPE: &str = "https://www.googleapis.com/auth/dfp";
pub const DEFAULT_TIME_ZONE: &str = "America/New_York";

/// GAM line item types this adapter books.
pub const LINE_ITEM_TYPES: [&str; 6] = ["SPONSORSHIP", "STANDARD", "NETWORK", "BULK", "PRICE_PRIORITY", "HOUSE"];

/// How one of this seller's products maps to GAM inventory and line item settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GamProduct {
    /// Ad units the line items target (with their descendants when `include_descendants`).
    pub ad_unit_ids: Vec<String>,
    pub include_descendants: bool,
    pub placement_ids: Vec<i64>,
    /// One of [`LINE_ITEM_TYPES`]; derived from the pricing when absent.
    pub line_item_type: Option<String>,
    /// 1–16; the type's usual priority when absent.
    pub priority: Option<i64>,
    /// Creative placeholder sizes; read from the package's formats when empty.
    pub sizes: Vec<(u32, u32)>,
}

impl Default for GamProduct {
    fn default() -> Self {
        GamProduct {
            ad_unit_ids: Vec::new(),
            include_descendants: true,
            placement_ids: Vec::new(),
            line_item_type: None,
            priority: None,
            sizes: Vec::new(),
        }
    }
}

/// A tenant's GAM settings.
#[derive(Clone, PartialEq)]
pub struct GamSettings {
    pub base_url: String,
    pub api_version: String,
    pub network_code: String,
    pub application_name: String,
    /// Absent only in dry-run.
    pub service_account: Option<ServiceAccount>,
    /// The order's trafficker; the service account's own user when absent.
    pub trafficker_id: Option<i64>,
    /// The network's time zone: line item dates are written in it, reports are read in it.
    pub time_zone: chrono_tz::Tz,
    /// Inventory for products not mapped in `products`.
    pub default_ad_unit_ids: Vec<String>,
    pub products: HashMap<String, GamProduct>,
    /// GAM location ids of geo codes beyond countries (`US-NY` regions), by code.
    pub locations: HashMap<String, i64>,
    pub dry_run: bool,
    pub retry: RateLimitRetry,
    /// How long delivery waits for a report job, polling at growing intervals.
    pub report_wait: Duration,
}

impl std::fmt::Debug for GamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GamSettings")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("network_code", &self.network_code)
            .field("service_account", &self.service_account)
            .field("time_zone", &self.time_zone)
            .field("products", &self.products)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

pub struct Gam {
    api: SoapApi,
    settings: GamSettings,
    clock: Arc<dyn Clock>,
    trafficker: tokio::sync::OnceCell<i64>,
    advertisers: KnownIds,
}

/// The line item fields this seller owns that repeat: replaced as a whole on update.
const REPEATED: [&str; 2] = ["frequencyCaps", "creativePlaceholders"];

/// `LineItem` element order (`LineItemSummary`'s fields, then `LineItem`'s), from the API's
/// schema: children must be sent in this order.
const LINE_ITEM_ORDER: &[&str] = &[
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

impl Gam {
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(settings: GamSettings, clock: Arc<dyn Clock>) -> Result<Gam, AdServerError> {
        let client = super::http::client("gam", Duration::from_secs(30))?;
        let tokens = settings.service_account.clone().map(|account| {
            Arc::new(ServiceAccountTokens::new(account, SCOPE, client, clock.clone())) as Arc<dyn TokenSource>
        });
        let api = SoapApi::new(
            &settings.base_url,
            &settings.api_version,
            &settings.network_code,
            &settings.application_name,
            tokens,
            settings.dry_run,
            settings.retry,
        )?;
        Ok(Gam { api, settings, clock, trafficker: tokio::sync::OnceCell::new(), advertisers: KnownIds::default() })
    }

    /// This adapter in dry-run, writing the calls it would make to `recorder` (one request's
    /// `X-Dry-Run`).
    pub fn rehearsal(&self, recorder: Recorder) -> Gam {
        Gam {
            api: self.api.rehearsal(recorder),
            settings: GamSettings { dry_run: true, ..self.settings.clone() },
            clock: self.clock.clone(),
            trafficker: tokio::sync::OnceCell::new(),
            advertisers: KnownIds::default(),
        }
    }

    async fn book(&self, buy: &MediaBuy, booking: &Booking, op: &AdServerOp) -> Result<Applied, AdServerError> {
        match op {
            AdServerOp::CreateOrder(order) => {
                let order_id = self.order(order).await?;
                Ok(Applied { platform_id: Some(order_id.to_string()) })
            }
            AdServerOp::CreateLine(line) => {
                let order = order_id(booking)?;
                let line_id = self.line_item(buy, order, line).await?;
                self.line_creatives(buy, line_id, line, true).await?;
                // A new line in a running buy makes the order deliverable; lines that must not
                // run are held, since approval would make them ready.
                if order_state(buy.status) == RunState::Running {
                    self.order_action(order, "ApproveOrders").await?;
                }
                let mut held = held_lines(buy, booking);
                if !runs(buy, line) {
                    held.push(line_id);
                }
                self.line_action("PauseLineItems", &held).await?;
                Ok(Applied { platform_id: Some(line_id.to_string()) })
            }
            AdServerOp::UpdateLine(line) => {
                let line_id = booking
                    .line(&line.package_id)
                    .and_then(|l| l.line_id.parse::<i64>().ok())
                    .ok_or_else(|| AdServerError::Permanent(format!("no GAM line item for {}", line.package_id)))?;
                self.update_line_item(buy, line_id, line).await?;
                Ok(Applied::default())
            }
            AdServerOp::SetOrderState(state) => {
                let order = order_id(booking)?;
                self.set_order_state(buy, booking, order, *state).await?;
                Ok(Applied::default())
            }
        }
    }

    /// The brand's advertiser company: found by name, else created; remembered.
    async fn advertiser(&self, brand_domain: &str) -> Result<i64, AdServerError> {
        if let Some(id) = self.advertisers.get(brand_domain) {
            return Ok(id);
        }
        let statement = Statement::new("WHERE type = :type AND name = :name LIMIT 1")
            .text("type", "ADVERTISER")
            .text("name", brand_domain);
        let id = match self.first("CompanyService", "getCompaniesByStatement", statement).await? {
            Some(found) => id_of(&found, "company")?,
            None => {
                let company = El::new("companies")
                    .child(El::leaf("name", brand_domain))
                    .child(El::leaf("type", "ADVERTISER"))
                    .child(El::leaf("externalId", brand_domain));
                self.create("CompanyService", "createCompanies", company, brand_domain).await?
            }
        };
        Ok(self.advertisers.keep(brand_domain, id))
    }

    /// The order's trafficker: configured, else the API user itself (asked once).
    async fn trafficker(&self) -> Result<i64, AdServerError> {
        if let Some(id) = self.settings.trafficker_id {
            return Ok(id);
        }
        let id = self
            .trafficker
            .get_or_try_init(|| async {
                match self.api.call("UserService", El::new("getCurrentUser")).await? {
                    Some(answer) => {
                        answer.first("rval").map_or_else(|| Err(malformed("getCurrentUser")), |u| id_of(u, "user"))
                    }
                    None => Ok(simulated_id("trafficker")),
                }
            })
            .await?;
        Ok(*id)
    }

    async fn order(&self, order: &OrderSpec) -> Result<i64, AdServerError> {
        let name = order_name(&order.media_buy_id);
        let statement = Statement::new("WHERE name = :name LIMIT 1").text("name", &name);
        if let Some(found) = self.first("OrderService", "getOrdersByStatement", statement).await? {
            return id_of(&found, "order");
        }
        let advertiser = self.advertiser(&order.brand_domain).await?;
        let trafficker = self.trafficker().await?;
        let element = El::new("orders")
            .child(El::leaf("name", &name))
            .child(El::leaf("notes", format!("AdCP media buy {} for {}", order.media_buy_id, order.brand_domain)))
            .maybe("poNumber", order.po_number.as_deref())
            .child(El::leaf("currencyCode", &order.currency))
            .child(El::leaf("advertiserId", advertiser))
            .child(El::leaf("traffickerId", trafficker));
        self.create("OrderService", "createOrders", element, &order.media_buy_id).await
    }

    async fn line_item(&self, buy: &MediaBuy, order: i64, line: &LineSpec) -> Result<i64, AdServerError> {
        let name = line_name(&buy.media_buy_id, &line.package_id);
        let statement = Statement::new("WHERE orderId = :orderId AND name = :name LIMIT 1")
            .number("orderId", order)
            .text("name", &name);
        if let Some(found) = self.first("LineItemService", "getLineItemsByStatement", statement).await? {
            return id_of(&found, "line item");
        }
        let mut element = El::new("lineItems").child(El::leaf("orderId", order));
        // The fields come in schema order, repeated ones together.
        element.children.extend(self.line_fields(buy, line, true)?);
        self.create("LineItemService", "createLineItems", element, &line.package_id).await
    }

    /// Get-modify-update: the line item as GAM has it, with the fields this seller owns set,
    /// sent back whole; then its state.
    async fn update_line_item(&self, buy: &MediaBuy, line_id: i64, line: &LineSpec) -> Result<(), AdServerError> {
        let statement = Statement::new("WHERE id = :id LIMIT 1").number("id", line_id);
        let current = self.first("LineItemService", "getLineItemsByStatement", statement).await?;
        let mut element = match current {
            Some(found) => found,
            None if self.api.dry_run() => El::new("lineItems").child(El::leaf("id", line_id)),
            None => return Err(AdServerError::Permanent(format!("gam: line item {line_id} is gone"))),
        };
        element.name = "lineItems".into();
        let status = element.text_at("status").map(str::to_owned);
        let (repeated, single): (Vec<El>, Vec<El>) =
            self.line_fields(buy, line, false)?.into_iter().partition(|f| REPEATED.contains(&f.name.as_str()));
        for name in REPEATED {
            let group = repeated.iter().filter(|f| f.name == name).cloned().collect();
            element.set_all(LINE_ITEM_ORDER, name, group);
        }
        for field in single {
            element.set(LINE_ITEM_ORDER, field);
        }
        self.api.call("LineItemService", El::new("updateLineItems").child(element)).await?;
        self.line_creatives(buy, line_id, line, false).await?;
        let paused = status.as_deref().is_some_and(|s| s.starts_with("PAUSED"));
        match line.state {
            RunState::Canceled => {
                self.line_action("PauseLineItems", &[line_id]).await?;
                self.line_action("ArchiveLineItems", &[line_id]).await?;
            }
            _ if runs(buy, line) && (paused || status.is_none()) => {
                self.line_action("ResumeLineItems", &[line_id]).await?;
            }
            _ if !runs(buy, line) && !paused => self.line_action("PauseLineItems", &[line_id]).await?,
            _ => {}
        }
        Ok(())
    }

    async fn set_order_state(
        &self,
        buy: &MediaBuy,
        booking: &Booking,
        order: i64,
        state: RunState,
    ) -> Result<(), AdServerError> {
        match state {
            RunState::Running => {
                self.order_action(order, "ApproveOrders").await?;
                let running: Vec<i64> = buy
                    .packages
                    .iter()
                    .filter(|p| !p.paused && !p.is_canceled())
                    .filter_map(|p| booking.line(&p.package_id).and_then(|l| l.line_id.parse().ok()))
                    .collect();
                self.line_action("ResumeLineItems", &running).await?;
                self.line_action("PauseLineItems", &held_lines(buy, booking)).await
            }
            RunState::Paused => self.order_lines_action(order, "PauseLineItems").await,
            RunState::Canceled => {
                self.order_lines_action(order, "PauseLineItems").await?;
                self.order_action(order, "ArchiveOrders").await
            }
        }
    }

    /// `performOrderAction` on one order.
    async fn order_action(&self, order: i64, action: &str) -> Result<(), AdServerError> {
        let mut action_el = El::new("orderAction").typed(action);
        if action == "ApproveOrders" {
            action_el = action_el.child(El::leaf("skipInventoryCheck", false));
        }
        let statement = Statement::new("WHERE id = :id").number("id", order);
        let operation = El::new("performOrderAction").child(action_el).child(statement.element("filterStatement"));
        self.api.call("OrderService", operation).await?;
        Ok(())
    }

    /// `performLineItemAction` on the given line items (nothing to do for none).
    async fn line_action(&self, action: &str, ids: &[i64]) -> Result<(), AdServerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        self.perform_line_action(action, Statement::new(format!("WHERE id IN ({list})"))).await
    }

    /// `performLineItemAction` on every line item of an order.
    async fn order_lines_action(&self, order: i64, action: &str) -> Result<(), AdServerError> {
        self.perform_line_action(action, Statement::new("WHERE orderId = :orderId").number("orderId", order)).await
    }

    async fn perform_line_action(&self, action: &str, statement: Statement) -> Result<(), AdServerError> {
        let mut action_el = El::new("lineItemAction").typed(action);
        if action == "ResumeLineItems" {
            action_el = action_el.child(El::leaf("skipInventoryCheck", false));
        }
        let operation = El::new("performLineItemAction").child(action_el).child(statement.element("filterStatement"));
        self.api.call("LineItemService", operation).await?;
        Ok(())
    }

    /// The first result of a `get...ByStatement` (none in dry-run).
    async fn first(&self, service: &str, operation: &str, statement: Statement) -> Result<Option<El>, AdServerError> {
        Ok(self.results(service, operation, statement).await?.into_iter().next())
    }

    /// The results of a `get...ByStatement` (none in dry-run).
    async fn results(&self, service: &str, operation: &str, statement: Statement) -> Result<Vec<El>, AdServerError> {
        let operation_el = El::new(operation).child(statement.element("filterStatement"));
        let Some(answer) = self.api.call(service, operation_el).await? else { return Ok(vec![]) };
        let page = answer.first("rval").ok_or_else(|| malformed(operation))?;
        Ok(page.children_named("results").cloned().collect())
    }

    /// The line item serves the line's creatives and no others: each creative found (by name
    /// under the advertiser) or made, associated once; associations of creatives no longer
    /// wanted are deactivated, of creatives wanted again activated.
    async fn line_creatives(
        &self,
        buy: &MediaBuy,
        line_id: i64,
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
        let service = "LineItemCreativeAssociationService";
        let statement = Statement::new("WHERE lineItemId = :lineItemId LIMIT 500").number("lineItemId", line_id);
        let existing: Vec<(i64, bool)> = self
            .results(service, "getLineItemCreativeAssociationsByStatement", statement)
            .await?
            .iter()
            .filter_map(|lica| {
                let creative = lica.text_at("creativeId")?.parse().ok()?;
                Some((creative, lica.text_at("status") != Some("INACTIVE")))
            })
            .collect();
        let missing: Vec<i64> = wanted.iter().copied().filter(|c| !existing.iter().any(|(e, _)| e == c)).collect();
        if !missing.is_empty() {
            let mut create = El::new("createLineItemCreativeAssociations");
            for creative in missing {
                create = create.child(
                    El::new("lineItemCreativeAssociations")
                        .child(El::leaf("lineItemId", line_id))
                        .child(El::leaf("creativeId", creative)),
                );
            }
            self.api.call(service, create).await?;
        }
        let stale = existing.iter().filter(|(c, active)| *active && !wanted.contains(c));
        let revived = existing.iter().filter(|(c, active)| !*active && wanted.contains(c));
        for (action, creatives) in [
            ("DeactivateLineItemCreativeAssociations", stale.map(|(c, _)| *c).collect::<Vec<i64>>()),
            ("ActivateLineItemCreativeAssociations", revived.map(|(c, _)| *c).collect()),
        ] {
            if creatives.is_empty() {
                continue;
            }
            let list = creatives.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            let statement = Statement::new(format!("WHERE lineItemId = :lineItemId AND creativeId IN ({list})"))
                .number("lineItemId", line_id);
            let operation = El::new("performLineItemCreativeAssociationAction")
                .child(El::new("lineItemCreativeAssociationAction").typed(action))
                .child(statement.element("filterStatement"));
            self.api.call(service, operation).await?;
        }
        Ok(())
    }

    /// The advertiser's creative for `spec`: found by name (`adcp:<creative_id>`) and brought up
    /// to date, or made.
    async fn creative(&self, advertiser: i64, spec: &CreativeSpec) -> Result<i64, AdServerError> {
        let wanted = creative_element(advertiser, spec)?;
        let name = creative_name(&spec.creative_id);
        let statement = Statement::new("WHERE advertiserId = :advertiserId AND name = :name LIMIT 1")
            .number("advertiserId", advertiser)
            .text("name", &name);
        let Some(found) = self.first("CreativeService", "getCreativesByStatement", statement).await? else {
            return self.create("CreativeService", "createCreatives", wanted, &spec.creative_id).await;
        };
        let id = id_of(&found, "creative")?;
        // What this seller sets; GAM's own fields go back as they came.
        let mut current = El { name: "creatives".into(), ..found };
        let before = current.clone();
        let order = creative_order(wanted.xsi_type.as_deref().unwrap_or_default());
        for field in wanted.children {
            current.set(&order, field);
        }
        if current != before {
            self.api.call("CreativeService", El::new("updateCreatives").child(current)).await?;
        }
        Ok(id)
    }

    /// Creates one object and returns its id (simulated from `ours` in dry-run).
    async fn create(&self, service: &str, operation: &str, object: El, ours: &str) -> Result<i64, AdServerError> {
        match self.api.call(service, El::new(operation).child(object)).await? {
            Some(answer) => {
                answer.first("rval").map_or_else(|| Err(malformed(operation)), |made| id_of(made, operation))
            }
            None => Ok(simulated_id(ours)),
        }
    }

    fn product(&self, product_id: &str) -> GamProduct {
        self.settings.products.get(product_id).cloned().unwrap_or_else(|| GamProduct {
            ad_unit_ids: self.settings.default_ad_unit_ids.clone(),
            ..GamProduct::default()
        })
    }

    /// The line item fields this seller owns, in schema order. `create` also sets the start
    /// (GAM refuses to move the start of a line that has begun).
    fn line_fields(&self, buy: &MediaBuy, line: &LineSpec, create: bool) -> Result<Vec<El>, AdServerError> {
        let product = self.product(&line.product_id);
        let (line_type, cost_type, cost, goal) = pricing(line, &product)?;
        let mut fields = vec![
            El::leaf("name", line_name(&buy.media_buy_id, &line.package_id)),
            El::leaf("externalId", &line.package_id),
        ];
        fields.extend(self.dates(line.start, line.end, create));
        fields.push(El::leaf("creativeRotationType", "EVEN"));
        fields.push(El::leaf(
            "deliveryRateType",
            match line.pacing {
                Pacing::Even => "EVENLY",
                Pacing::Asap => "AS_FAST_AS_POSSIBLE",
                Pacing::FrontLoaded => "FRONTLOADED",
            },
        ));
        let terms = Terms {
            product_id: &line.product_id,
            product: &product,
            formats: &line.formats,
            overlay: &overlay(line.targeting.as_deref())?,
            line_type: &line_type,
            cost: Some(money("costPerUnit", &buy.currency, cost)),
            cost_type,
            goal,
        };
        fields.extend(self.terms(terms)?);
        Ok(fields)
    }

    /// The start (when in the future, or `IMMEDIATELY` for a new line) and end, in the network's
    /// time zone.
    fn dates(&self, start: DateTime<Utc>, end: DateTime<Utc>, create: bool) -> Vec<El> {
        let tz = self.settings.time_zone;
        let mut fields = Vec::with_capacity(3);
        if start > self.clock.now() {
            fields.push(date_time("startDateTime", start, tz));
            fields.push(El::leaf("startDateTimeType", "USE_START_DATE_TIME"));
        } else if create {
            fields.push(El::leaf("startDateTimeType", "IMMEDIATELY"));
        }
        fields.push(date_time("endDateTime", end, tz));
        fields
    }

    /// What a line item buys and where, from frequency caps to targeting, in schema order: the
    /// same for a booked line item and a forecast's prospective one.
    fn terms(&self, terms: Terms<'_>) -> Result<Vec<El>, AdServerError> {
        let priority = terms.product.priority.unwrap_or_else(|| default_priority(terms.line_type));
        let (caps, placeholders) =
            self.repeated_fields(terms.product_id, terms.product, terms.formats, terms.overlay)?;
        let mut fields = caps;
        fields.push(El::leaf("lineItemType", terms.line_type));
        fields.push(El::leaf("priority", priority));
        fields.extend(terms.cost);
        fields.push(El::leaf("costType", terms.cost_type));
        let environment = environment(&placeholders, terms.formats);
        fields.extend(placeholders);
        fields.push(El::leaf("environmentType", environment));
        fields.push(terms.goal);
        fields.push(self.targeting(terms.product_id, terms.product, terms.overlay)?);
        Ok(fields)
    }

    /// Frequency caps and creative placeholders: the repeated fields, replaced as a whole.
    fn repeated_fields(
        &self,
        product_id: &str,
        product: &GamProduct,
        formats: &[FormatId],
        overlay: &Value,
    ) -> Result<(Vec<El>, Vec<El>), AdServerError> {
        let caps = frequency_caps(overlay);
        let audio = formats_say(formats, AUDIO_WORDS);
        let mut sizes = product.sizes.clone();
        if sizes.is_empty() {
            sizes = format_sizes(formats);
        }
        if sizes.is_empty() && (audio || formats_say(formats, VIDEO_WORDS)) {
            sizes = vec![if audio { (1, 1) } else { (640, 480) }];
        }
        if sizes.is_empty() {
            return Err(AdServerError::Permanent(format!(
                "gam: product {product_id} has no creative sizes: its formats name none; \
                 set ad_server.gam.products.\"{product_id}\".sizes"
            )));
        }
        let placeholders = sizes
            .into_iter()
            .map(|(width, height)| {
                El::new("creativePlaceholders")
                    .child(
                        El::new("size")
                            .child(El::leaf("width", width))
                            .child(El::leaf("height", height))
                            .child(El::leaf("isAspectRatio", false)),
                    )
                    .child(El::leaf("expectedCreativeCount", 1))
                    .child(El::leaf("creativeSizeType", if audio { "AUDIO" } else { "PIXEL" }))
            })
            .collect();
        Ok((caps, placeholders))
    }

    /// Inventory from the product, geo and devices from the buyer's overlay.
    fn targeting(&self, product_id: &str, product: &GamProduct, overlay: &Value) -> Result<El, AdServerError> {
        if product.ad_unit_ids.is_empty() && product.placement_ids.is_empty() {
            return Err(AdServerError::Permanent(format!(
                "gam: product {product_id} targets no inventory; set ad_server.gam.products.\"{product_id}\".ad_unit_ids \
                 or placement_ids (or ad_server.gam.default_ad_unit_ids)"
            )));
        }
        let mut targeting = El::new("targeting");
        let included = self.locations(overlay, "geo_countries", "geo_regions")?;
        let excluded = self.locations(overlay, "geo_countries_exclude", "geo_regions_exclude")?;
        if !included.is_empty() || !excluded.is_empty() {
            let mut geo = El::new("geoTargeting");
            for id in included {
                geo = geo.child(El::new("targetedLocations").child(El::leaf("id", id)));
            }
            for id in excluded {
                geo = geo.child(El::new("excludedLocations").child(El::leaf("id", id)));
            }
            targeting = targeting.child(geo);
        }
        let mut inventory = El::new("inventoryTargeting");
        for ad_unit in &product.ad_unit_ids {
            inventory = inventory.child(
                El::new("targetedAdUnits")
                    .child(El::leaf("adUnitId", ad_unit))
                    .child(El::leaf("includeDescendants", product.include_descendants)),
            );
        }
        for placement in &product.placement_ids {
            inventory = inventory.child(El::leaf("targetedPlacementIds", placement));
        }
        targeting = targeting.child(inventory);
        let (devices, devices_excluded) =
            (device_categories(overlay, "device_type")?, device_categories(overlay, "device_type_exclude")?);
        if !devices.is_empty() || !devices_excluded.is_empty() {
            let mut categories = El::new("deviceCategoryTargeting");
            for id in devices {
                categories = categories.child(El::new("targetedDeviceCategories").child(El::leaf("id", id)));
            }
            for id in devices_excluded {
                categories = categories.child(El::new("excludedDeviceCategories").child(El::leaf("id", id)));
            }
            targeting = targeting.child(El::new("technologyTargeting").child(categories));
        }
        Ok(targeting)
    }

    /// GAM location ids of the overlay's countries (Google's geo ids: 2000 + the ISO numeric
    /// code) and regions (from the tenant's `locations`).
    fn locations(&self, overlay: &Value, countries: &str, regions: &str) -> Result<Vec<i64>, AdServerError> {
        let mut ids = Vec::new();
        for code in strings(overlay, countries) {
            let id = self.settings.locations.get(&code).copied().or_else(|| country_location(&code));
            ids.push(id.ok_or_else(|| {
                AdServerError::Permanent(format!("gam: {countries}: {code:?} is not an ISO 3166-1 alpha-2 country"))
            })?);
        }
        for code in strings(overlay, regions) {
            ids.push(self.settings.locations.get(&code).copied().ok_or_else(|| {
                AdServerError::Permanent(format!(
                    "gam: {regions}: no GAM location for {code:?}; map it in ad_server.gam.locations"
                ))
            })?);
        }
        Ok(ids)
    }

    /// An availability forecast of the line item the product would book over the window: a
    /// prospective line item with the product's inventory, type, priority and sizes and the
    /// overlay's targeting (`ForecastService.getAvailabilityForecast`); a dry-run answers with
    /// the in-process mock's forecast.
    async fn availability(&self, request: &ForecastRequest) -> Result<Forecast, AdServerError> {
        let product = self.product(&request.product_id);
        let line_type = product.line_item_type.clone().unwrap_or_else(|| "STANDARD".to_owned());
        let days = ((request.end - request.start).num_seconds() as f64 / 86_400.0).ceil().max(1.0);
        let units = request.daily_impressions.map_or(1.0, |daily| daily as f64 * days).max(1.0).round() as i64;
        let terms = Terms {
            product_id: &request.product_id,
            product: &product,
            formats: &request.formats,
            overlay: &overlay(request.overlay.as_deref())?,
            line_type: &line_type,
            cost: None,
            cost_type: "CPM",
            goal: El::new("primaryGoal")
                .child(El::leaf("goalType", "LIFETIME"))
                .child(El::leaf("unitType", "IMPRESSIONS"))
                .child(El::leaf("units", units)),
        };
        let mut line = El::new("lineItem");
        for field in self.dates(request.start, request.end, true).into_iter().chain(self.terms(terms)?) {
            line = line.child(field);
        }
        let options = El::new("forecastOptions")
            .child(El::leaf("includeTargetingCriteriaBreakdown", false))
            .child(El::leaf("includeContendingLineItems", false));
        let operation = El::new("getAvailabilityForecast").child(El::new("lineItem").child(line)).child(options);
        let Some(answer) = self.api.call("ForecastService", operation).await? else {
            return Ok(super::mock::forecast(request, &[]));
        };
        let forecast = answer.first("rval").ok_or_else(|| malformed("getAvailabilityForecast"))?;
        let units = |name: &str| forecast.text_at(name).and_then(|v| v.parse::<i64>().ok()).map(|v| v.max(0) as u64);
        match (units("matchedUnits"), units("availableUnits")) {
            (Some(matched), Some(available)) => Ok(Forecast { matched, available }),
            _ => Err(malformed("getAvailabilityForecast")),
        }
    }

    /// One order's delivery by day (in the network's time zone) and line item, from the day of
    /// `from` to the day of `until`; `None` in a dry-run.
    async fn report(
        &self,
        order_id: i64,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        video: bool,
    ) -> Result<Option<(NaiveDate, Vec<DayRow>)>, AdServerError> {
        let tz = self.settings.time_zone;
        let first = from.with_timezone(&tz).date_naive();
        let last = until.with_timezone(&tz).date_naive().max(first);
        let mut query = El::new("reportQuery")
            .child(El::leaf("dimensions", "DATE"))
            .child(El::leaf("dimensions", "LINE_ITEM_ID"))
            .child(El::leaf("columns", "AD_SERVER_IMPRESSIONS"))
            .child(El::leaf("columns", "AD_SERVER_CLICKS"))
            .child(El::leaf("columns", "AD_SERVER_CPM_AND_CPC_REVENUE"));
        if video {
            query = query.child(El::leaf("columns", "VIDEO_VIEWERSHIP_COMPLETE"));
        }
        let query = query
            .child(date("startDate", first))
            .child(date("endDate", last))
            .child(El::leaf("dateRangeType", "CUSTOM_DATE"))
            .child(Statement::new("WHERE ORDER_ID = :orderId").number("orderId", order_id).element("statement"))
            .child(El::leaf("timeZoneType", "PUBLISHER"));
        let run = El::new("runReportJob").child(El::new("reportJob").child(query));
        let Some(answer) = self.api.call("ReportService", run).await? else { return Ok(None) };
        let job = answer.first("rval").map_or_else(|| Err(malformed("runReportJob")), |r| id_of(r, "report job"))?;
        let mut wait = ReportWait::new(self.settings.report_wait);
        loop {
            let status = El::new("getReportJobStatus").child(El::leaf("reportJobId", job));
            let answer =
                self.api.call("ReportService", status).await?.ok_or_else(|| malformed("getReportJobStatus"))?;
            match answer.text_at("rval") {
                Some("COMPLETED") => break,
                Some("IN_PROGRESS") => wait.next("gam").await?,
                Some("FAILED") => return Err(AdServerError::Retryable("gam: the delivery report job failed".into())),
                _ => return Err(malformed("getReportJobStatus")),
            }
        }
        let options = El::new("reportDownloadOptions")
            .child(El::leaf("exportFormat", "CSV_DUMP"))
            .child(El::leaf("includeReportProperties", false))
            .child(El::leaf("includeTotalsRow", false))
            .child(El::leaf("useGzipCompression", true));
        let download = El::new("getReportDownloadUrlWithOptions").child(El::leaf("reportJobId", job)).child(options);
        let answer =
            self.api.call("ReportService", download).await?.ok_or_else(|| malformed("getReportDownloadUrl"))?;
        let url = answer.text_at("rval").ok_or_else(|| malformed("getReportDownloadUrlWithOptions"))?.to_owned();
        let bytes = self.download(&url).await?;
        Ok(Some((first, parse_report(&bytes, tz)?)))
    }

    /// The report file: only from Google's hosts (or the configured API host).
    async fn download(&self, url: &str) -> Result<Vec<u8>, AdServerError> {
        let host = |u: &str| reqwest::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_owned));
        let allowed = match (host(url), host(&self.settings.base_url)) {
            (Some(h), Some(base)) => {
                h == base || h == "google.com" || h.ends_with(".google.com") || h.ends_with(".googleusercontent.com")
            }
            _ => false,
        };
        if !allowed {
            return Err(AdServerError::Permanent(format!("gam: refusing to download a report from {url:?}")));
        }
        let response = self
            .api
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| AdServerError::Retryable(format!("gam: report download: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(AdServerError::Retryable(format!("gam: report download: HTTP {}", response.status().as_u16())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AdServerError::Retryable(format!("gam: report download: {}", e.without_url())))?;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut text)
                .map_err(|e| AdServerError::Retryable(format!("gam: report download: not gzip ({e})")))?;
            Ok(text)
        } else {
            Ok(bytes.to_vec())
        }
    }
}

/// What a line item buys (see [`Gam::terms`]).
struct Terms<'a> {
    product_id: &'a str,
    product: &'a GamProduct,
    formats: &'a [FormatId],
    overlay: &'a Value,
    line_type: &'a str,
    /// `costPerUnit`; a forecast's prospective line item has none.
    cost: Option<El>,
    cost_type: &'static str,
    goal: El,
}

/// Whether the line should deliver: it runs and so does its buy.
fn runs(buy: &MediaBuy, line: &LineSpec) -> bool {
    line.state == RunState::Running && order_state(buy.status) == RunState::Running
}

/// Booked lines of packages that must not deliver (paused or canceled packages).
fn held_lines(buy: &MediaBuy, booking: &Booking) -> Vec<i64> {
    buy.packages
        .iter()
        .filter(|p| p.paused || p.is_canceled())
        .filter_map(|p| booking.line(&p.package_id).and_then(|l| l.line_id.parse().ok()))
        .collect()
}

/// Line item type, cost type, cost per unit and primary goal for the line's pricing.
fn pricing(line: &LineSpec, product: &GamProduct) -> Result<(String, &'static str, f64, El), AdServerError> {
    let per = |divisor: f64| if line.rate > 0.0 { line.budget / line.rate * divisor } else { 0.0 };
    let (cost_type, cost, unit_type, units, derived_type) = match line.pricing_model {
        PricingModel::Cpm => ("CPM", line.rate, "IMPRESSIONS", line.impressions, None),
        PricingModel::Vcpm => ("VCPM", line.rate, "VIEWABLE_IMPRESSIONS", per(1000.0), Some("STANDARD")),
        PricingModel::Cpc => ("CPC", line.rate, "CLICKS", per(1.0), None),
        PricingModel::Cpcv => ("CPCV", line.rate, "COMPLETED_VIEWS", per(1.0), None),
        PricingModel::FlatRate => {
            // A sponsorship priced per day: the flat rate spread over the flight's days, and
            // a daily goal of all the impressions (100 %).
            let days = ((line.end - line.start).num_seconds() as f64 / 86_400.0).ceil().max(1.0);
            ("CPD", line.rate / days, "IMPRESSIONS", 100.0, Some("SPONSORSHIP"))
        }
    };
    let line_type = match (&product.line_item_type, derived_type) {
        (Some(configured), _) => configured.clone(),
        (None, Some(derived)) => derived.to_owned(),
        (None, None) if line.auction => "PRICE_PRIORITY".to_owned(),
        (None, None) => "STANDARD".to_owned(),
    };
    let goal_type = if line.pricing_model == PricingModel::FlatRate { "DAILY" } else { "LIFETIME" };
    let goal = El::new("primaryGoal")
        .child(El::leaf("goalType", goal_type))
        .child(El::leaf("unitType", unit_type))
        .child(El::leaf("units", units.round().max(0.0) as i64));
    Ok((line_type, cost_type, cost, goal))
}

fn default_priority(line_type: &str) -> i64 {
    match line_type {
        "SPONSORSHIP" => 4,
        "STANDARD" => 8,
        "NETWORK" | "HOUSE" => 16,
        _ => 12,
    }
}

/// The AdCP targeting overlay (JSON text) of a line or a forecast.
fn overlay(text: Option<&str>) -> Result<Value, AdServerError> {
    match text {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| AdServerError::Permanent(format!("gam: the targeting overlay is not JSON ({e})"))),
    }
}

fn strings(overlay: &Value, key: &str) -> Vec<String> {
    overlay
        .get(key)
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// GAM's device categories (the `Device_Category` table's ids) of AdCP device types.
fn device_categories(overlay: &Value, key: &str) -> Result<Vec<i64>, AdServerError> {
    let mut ids: Vec<i64> = Vec::new();
    for device in strings(overlay, key) {
        let id = match device.as_str() {
            "desktop" => 30000,
            "mobile" => 30001,
            "tablet" => 30002,
            "ctv" => 30004,
            other => {
                return Err(AdServerError::Permanent(format!("gam: {key}: GAM has no device category for {other:?}")));
            }
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The overlay's `frequency_cap` (`max_impressions` per `suppress_minutes`).
fn frequency_caps(overlay: &Value) -> Vec<El> {
    let Some(cap) = overlay.get("frequency_cap") else { return vec![] };
    let max = cap.get("max_impressions").and_then(Value::as_i64).unwrap_or(1).max(1);
    let Some(minutes) = cap.get("suppress_minutes").and_then(Value::as_i64).filter(|m| *m > 0) else {
        return vec![];
    };
    let (count, unit) = if minutes % 1440 == 0 {
        (minutes / 1440, "DAY")
    } else if minutes % 60 == 0 {
        (minutes / 60, "HOUR")
    } else {
        (minutes, "MINUTE")
    };
    vec![
        El::new("frequencyCaps")
            .child(El::leaf("maxImpressions", max))
            .child(El::leaf("numTimeUnits", count))
            .child(El::leaf("timeUnit", unit)),
    ]
}

/// Words in a format id that say it plays audio, or video.
const AUDIO_WORDS: &[&str] = &["audio", "podcast", "radio", "daast"];
const VIDEO_WORDS: &[&str] = &["video", "ctv", "olv", "vast", "preroll", "pre_roll"];

fn formats_say(formats: &[FormatId], words: &[&str]) -> bool {
    formats.iter().any(|f| {
        let id = f.id.to_ascii_lowercase();
        words.iter().any(|word| id.contains(word))
    })
}

/// Where the creatives play: a video player for audio and video, else a browser.
fn environment(placeholders: &[El], formats: &[FormatId]) -> &'static str {
    if placeholders.iter().any(|p| p.text_at("creativeSizeType") == Some("AUDIO")) || formats_say(formats, VIDEO_WORDS)
    {
        "VIDEO_PLAYER"
    } else {
        "BROWSER"
    }
}

/// Placeholder sizes from the formats: their declared width and height, else a `300x250` in
/// the format id.
fn format_sizes(formats: &[FormatId]) -> Vec<(u32, u32)> {
    let mut sizes = Vec::new();
    for format in formats {
        let size = match (format.width, format.height) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => size_in(&format.id),
        };
        if let Some(size) = size
            && !sizes.contains(&size)
        {
            sizes.push(size);
        }
    }
    sizes
}

fn size_in(id: &str) -> Option<(u32, u32)> {
    id.split(|c: char| !c.is_ascii_alphanumeric()).find_map(|part| {
        let (w, h) = part.split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?)).filter(|(w, h): &(u32, u32)| *w > 0 && *h > 0)
    })
}

/// Google's geo id of a country: 2000 + its ISO 3166-1 numeric code.
fn country_location(alpha2: &str) -> Option<i64> {
    let code = alpha2.trim().to_ascii_uppercase();
    if code.len() != 2 {
        return None;
    }
    ISO_COUNTRIES
        .as_bytes()
        .chunks(5)
        .find(|entry| entry[..2] == *code.as_bytes())
        .and_then(|entry| std::str::from_utf8(&entry[2..]).ok()?.parse::<i64>().ok())
        .map(|numeric| 2000 + numeric)
}

fn date(name: &str, day: NaiveDate) -> El {
    El::new(name)
        .child(El::leaf("year", day.year()))
        .child(El::leaf("month", day.month()))
        .child(El::leaf("day", day.day()))
}

fn date_time(name: &str, at: DateTime<Utc>, tz: chrono_tz::Tz) -> El {
    let local = at.with_timezone(&tz);
    El::new(name)
        .child(date("date", local.date_naive()))
        .child(El::leaf("hour", local.hour()))
        .child(El::leaf("minute", local.minute()))
        .child(El::leaf("second", local.second()))
        .child(El::leaf("timeZoneId", tz.name()))
}

fn money(name: &str, currency: &str, amount: f64) -> El {
    El::new(name)
        .child(El::leaf("currencyCode", currency))
        .child(El::leaf("microAmount", (amount * 1_000_000.0).round() as i64))
}

/// GAM's order statuses (`OrderStatus`), normalized.
fn order_state_of(status: &str) -> PlatformState {
    match status {
        "DRAFT" | "PENDING_APPROVAL" => PlatformState::PendingApproval,
        "APPROVED" => PlatformState::Ready,
        "PAUSED" => PlatformState::Paused,
        "DISAPPROVED" => PlatformState::Rejected,
        "CANCELED" | "DELETED" => PlatformState::Canceled,
        _ => PlatformState::Unknown,
    }
}

/// GAM's line item statuses (`ComputedStatus`), normalized.
fn line_state(status: &str) -> PlatformState {
    match status {
        "DELIVERING" | "DELIVERY_EXTENDED" => PlatformState::Delivering,
        "READY" => PlatformState::Ready,
        "PAUSED" | "PAUSED_INVENTORY_RELEASED" => PlatformState::Paused,
        "INACTIVE" => PlatformState::PendingCreatives,
        "DRAFT" | "PENDING_APPROVAL" => PlatformState::PendingApproval,
        "COMPLETED" => PlatformState::Completed,
        "DISAPPROVED" => PlatformState::Rejected,
        "CANCELED" => PlatformState::Canceled,
        _ => PlatformState::Unknown,
    }
}

/// `Creative`'s fields, in schema order; a subtype's follow them.
const CREATIVE: &[&str] = &[
    "advertiserId",
    "id",
    "name",
    "size",
    "previewUrl",
    "policyLabels",
    "appliedLabels",
    "lastModifiedDateTime",
    "customFieldValues",
    "thirdPartyDataDeclaration",
    "thirdPartyDataDeclarationStatus",
    "adBadgingEnabled",
    "selfDeclaredEuropeanUnionPoliticalContent",
];

/// A creative subtype's element order: `Creative`'s fields, then its own.
fn creative_order(kind: &str) -> Vec<&'static str> {
    let own: &[&str] = match kind {
        "ImageRedirectCreative" => {
            &["destinationUrl", "destinationUrlType", "imageUrl", "altText", "thirdPartyImpressionTrackingUrls"]
        }
        "ThirdPartyCreative" => &[
            "snippet",
            "expandedSnippet",
            "sslScanResult",
            "sslManualOverride",
            "lockedOrientation",
            "isSafeFrameCompatible",
            "thirdPartyImpressionTrackingUrls",
            "ampRedirectUrl",
        ],
        _ => &[
            "vastXmlUrl",
            "vastRedirectType",
            "duration",
            "companionCreativeIds",
            "trackingUrls",
            "vastPreviewUrl",
            "sslScanResult",
            "sslManualOverride",
            "isAudio",
        ],
    };
    CREATIVE.iter().chain(own).copied().collect()
}

/// The GAM creative of a creative: an image redirect, a third-party tag (HTML or JavaScript)
/// or a VAST redirect, with its size and landing page.
fn creative_element(advertiser: i64, spec: &CreativeSpec) -> Result<El, AdServerError> {
    let size = |default: Option<(u32, u32)>| {
        let (width, height) = spec.width.zip(spec.height).or(default).ok_or_else(|| {
            AdServerError::Permanent(format!("gam: creative {} has no size; its format names none", spec.creative_id))
        })?;
        Ok::<El, AdServerError>(
            El::new("size")
                .child(El::leaf("width", width))
                .child(El::leaf("height", height))
                .child(El::leaf("isAspectRatio", false)),
        )
    };
    let base = |kind: &str, size: El| {
        El::new("creatives")
            .typed(kind)
            .child(El::leaf("advertiserId", advertiser))
            .child(El::leaf("name", creative_name(&spec.creative_id)))
            .child(size)
    };
    Ok(match &spec.serving {
        Serving::Image { url } => {
            let landing = spec.click_url.as_deref().ok_or_else(|| {
                AdServerError::Permanent(format!("gam: image creative {} has no click-through URL", spec.creative_id))
            })?;
            base("ImageRedirectCreative", size(None)?)
                .child(El::leaf("destinationUrl", landing))
                .child(El::leaf("imageUrl", url))
        }
        Serving::Html { snippet } => base("ThirdPartyCreative", size(None)?).child(El::leaf("snippet", snippet)),
        Serving::VastUrl { url } => base("VastRedirectCreative", size(Some((640, 480)))?)
            .child(El::leaf("vastXmlUrl", url))
            .child(El::leaf("vastRedirectType", "LINEAR"))
            .child(El::leaf("duration", spec.duration_ms.unwrap_or(30_000))),
        Serving::VastXml { .. } | Serving::Video { .. } | Serving::Audio { .. } => {
            return Err(AdServerError::Permanent(format!(
                "gam: creative {} must be an image, an HTML or JavaScript tag, or a VAST tag URL to traffic in GAM",
                spec.creative_id
            )));
        }
    })
}

pub fn creative_name(creative_id: &str) -> String {
    format!("adcp:{creative_id}")
}

fn order_id(booking: &Booking) -> Result<i64, AdServerError> {
    booking
        .order_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| AdServerError::Permanent("the buy has no GAM order yet".into()))
}

pub fn order_name(media_buy_id: &str) -> String {
    format!("adcp:{media_buy_id}")
}

pub fn line_name(media_buy_id: &str, package_id: &str) -> String {
    format!("adcp:{media_buy_id}:{package_id}")
}

fn id_of(element: &El, what: &str) -> Result<i64, AdServerError> {
    element.text_at("id").and_then(|id| id.parse().ok()).ok_or_else(|| malformed(what))
}

fn malformed(what: &str) -> AdServerError {
    AdServerError::Retryable(format!("gam: {what}: unexpected answer"))
}

/// One report row: a day (in the network's time zone) of one line item.
#[derive(Debug, Clone, PartialEq)]
struct DayRow {
    line_id: i64,
    /// When the day began.
    from: DateTime<Utc>,
    metrics: Metrics,
}

/// When `day` began in `tz`.
fn day_start(day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    tz.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or_else(|| day.and_time(chrono::NaiveTime::MIN).and_utc(), |d| d.with_timezone(&Utc))
}

/// Reads a `CSV_DUMP` report (columns `Dimension.DATE`, `Dimension.LINE_ITEM_ID`,
/// `Column.AD_SERVER_IMPRESSIONS`, ...; revenue in micros).
fn parse_report(bytes: &[u8], tz: chrono_tz::Tz) -> Result<Vec<DayRow>, AdServerError> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().map_err(|e| AdServerError::Retryable(format!("gam: report: {e}")))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| {
            let h = h.trim();
            h == name || h.rsplit('.').next() == Some(name)
        })
    };
    let (Some(date_at), Some(line_at)) = (column("DATE"), column("LINE_ITEM_ID")) else {
        return Err(AdServerError::Retryable("gam: report: no DATE and LINE_ITEM_ID columns".into()));
    };
    let (impressions, clicks, revenue, completes) = (
        column("AD_SERVER_IMPRESSIONS"),
        column("AD_SERVER_CLICKS"),
        column("AD_SERVER_CPM_AND_CPC_REVENUE"),
        column("VIDEO_VIEWERSHIP_COMPLETE"),
    );
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| AdServerError::Retryable(format!("gam: report: {e}")))?;
        let number = |at: Option<usize>| at.and_then(|i| record.get(i)).and_then(|v| v.trim().parse::<f64>().ok());
        let (Some(day), Some(line_id)) = (
            record.get(date_at).and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok()),
            record.get(line_at).and_then(|l| l.trim().parse::<i64>().ok()),
        ) else {
            return Err(AdServerError::Retryable(format!("gam: report: unreadable row {record:?}")));
        };
        rows.push(DayRow {
            line_id,
            from: day_start(day, tz),
            metrics: Metrics {
                impressions: number(impressions).unwrap_or(0.0),
                clicks: number(clicks).unwrap_or(0.0),
                spend: number(revenue).unwrap_or(0.0) / 1_000_000.0,
                completed_views: number(completes).unwrap_or(0.0),
            },
        });
    }
    Ok(rows)
}

booker_by_book!(Gam);

impl AdServer for Gam {
    fn name(&self) -> &'static str {
        "gam"
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
            let Some(order) = booking.order_id.as_deref().and_then(|id| id.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let statement = Statement::new("WHERE id = :id LIMIT 1").number("id", order);
            let Some(found) = self.first("OrderService", "getOrdersByStatement", statement).await? else {
                return Ok(None);
            };
            let status = found.text_at("status").unwrap_or("UNKNOWN").to_owned();
            let archived = found.text_at("isArchived") == Some("true");
            let statement = Statement::new("WHERE orderId = :orderId LIMIT 500").number("orderId", order);
            let lines = self
                .results("LineItemService", "getLineItemsByStatement", statement)
                .await?
                .iter()
                .filter_map(|line| {
                    let id = line.text_at("id")?;
                    let package = booking.lines.iter().find(|l| l.line_id == id)?;
                    let status = line.text_at("status").unwrap_or("UNKNOWN").to_owned();
                    let state = if line.text_at("isArchived") == Some("true") {
                        PlatformState::Canceled
                    } else {
                        line_state(&status)
                    };
                    Some(PlatformLine { package_id: package.package_id.clone(), status, state })
                })
                .collect::<Vec<_>>();
            let state = if archived { PlatformState::Canceled } else { from_lines(order_state_of(&status), &lines) };
            Ok(Some(PlatformStatus { platform: "gam".into(), status, state, lines, checked_at: now }))
        })
    }

    fn forecast<'a>(
        &'a self,
        request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>> {
        Box::pin(self.availability(request))
    }

    fn reported<'a>(
        &'a self,
        request: ReportRequest<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Reported>, AdServerError>> + Send + 'a>> {
        Box::pin(async move {
            let booking = request.booking;
            let Some(order) = booking.order_id.as_deref().and_then(|id| id.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let Some((first, rows)) = self.report(order, request.from, request.until, request.video).await? else {
                return Ok(None);
            };
            let days = rows
                .into_iter()
                .filter_map(|row| {
                    let line = booking.lines.iter().find(|l| l.line_id == row.line_id.to_string())?;
                    Some(ReportedDay { package_id: line.package_id.clone(), from: row.from, metrics: row.metrics })
                })
                .collect();
            Ok(Some(Reported { since: day_start(first, self.settings.time_zone), days }))
        })
    }
}

/// ISO 3166-1 alpha-2 codes with their numeric codes, five characters each, sorted.
const ISO_COUNTRIES: &str = concat!(
    "AD020AE784AF004AG028AI660AL008AM051AO024AQ010AR032AS016AT040AU036AW533AX248AZ031BA070BB052BD050BE056",
    "BF854BG100BH048BI108BJ204BL652BM060BN096BO068BQ535BR076BS044BT064BV074BW072BY112BZ084CA124CC166CD180",
    "CF140CG178CH756CI384CK184CL152CM120CN156CO170CR188CU192CV132CW531CX162CY196CZ203DE276DJ262DK208DM212",
    "DO214DZ012EC218EE233EG818EH732ER232ES724ET231FI246FJ242FK238FM583FO234FR250GA266GB826GD308GE268GF254",
    "GG831GH288GI292GL304GM270GN324GP312GQ226GR300GS239GT320GU316GW624GY328HK344HM334HN340HR191HT332HU348",
    "ID360IE372IL376IM833IN356IO086IQ368IR364IS352IT380JE832JM388JO400JP392KE404KG417KH116KI296KM174KN659",
    "KP408KR410KW414KY136KZ398LA418LB422LC662LI438LK144LR430LS426LT440LU442LV428LY434MA504MC492MD498ME499",
    "MF663MG450MH584MK807ML466MM104MN496MO446MP580MQ474MR478MS500MT470MU480MV462MW454MX484MY458MZ508NA516",
    "NC540NE562NF574NG566NI558NL528NO578NP524NR520NU570NZ554OM512PA591PE604PF258PG598PH608PK586PL616PM666",
    "PN612PR630PS275PT620PW585PY600QA634RE638RO642RS688RU643RW646SA682SB090SC690SD729SE752SG702SH654SI705",
    "SJ744SK703SL694SM674SN686SO706SR740SS728ST678SV222SX534SY760SZ748TC796TD148TF260TG768TH764TJ762TK772",
    "TL626TM795TN788TO776TR792TT780TV798TW158TZ834UA804UG800UM581US840UY858UZ860VA336VC670VE862VG092VI850",
    "VN704VU548WF876WS882YE887YT175ZA710ZM894ZW716",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_map_to_google_geo_ids() {
        assert_eq!(country_location("US"), Some(2840));
        assert_eq!(country_location("gb"), Some(2826));
        assert_eq!(country_location("DE"), Some(2276));
        assert_eq!(country_location("XX"), None);
        assert_eq!(country_location("USA"), None);
    }

    #[test]
    fn sizes_are_read_from_format_ids() {
        assert_eq!(size_in("display_300x250"), Some((300, 250)));
        assert_eq!(size_in("banner-728x90-static"), Some((728, 90)));
        assert_eq!(size_in("video_30s"), None);
    }

    #[test]
    fn format_ids_say_whether_they_play_video_or_audio() {
        let formats = |ids: &[&str]| -> Vec<FormatId> {
            ids.iter()
                .map(|id| FormatId {
                    agent_url: "self".into(),
                    id: (*id).into(),
                    width: None,
                    height: None,
                    duration_ms: None,
                })
                .collect()
        };
        for video in ["ctv_30s", "video_15s", "olv_preroll", "VAST_tag"] {
            assert!(formats_say(&formats(&[video]), VIDEO_WORDS), "{video}");
            assert!(!formats_say(&formats(&[video]), AUDIO_WORDS), "{video}");
        }
        for audio in ["audio_30s", "podcast_midroll", "daast_spot"] {
            assert!(formats_say(&formats(&[audio]), AUDIO_WORDS), "{audio}");
        }
        assert!(!formats_say(&formats(&["display_300x250", "native_card"]), VIDEO_WORDS));
        assert_eq!(environment(&[], &formats(&["ctv_30s"])), "VIDEO_PLAYER");
        assert_eq!(environment(&[], &formats(&["display_300x250"])), "BROWSER");
    }

    #[test]
    fn report_rows_add_up_per_line_in_the_network_time_zone() {
        let csv = "Dimension.DATE,Dimension.LINE_ITEM_ID,Column.AD_SERVER_IMPRESSIONS,Column.AD_SERVER_CLICKS,\
                   Column.AD_SERVER_CPM_AND_CPC_REVENUE\n\
                   2026-12-01,7,100,2,1500000\n2026-12-01,8,999,9,9000000\n2026-12-02,7,50,1,750000\n";
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let rows = parse_report(csv.as_bytes(), tz).unwrap();
        assert_eq!(rows.len(), 3);
        // 2026-12-01 began at 05:00 UTC in New York.
        assert_eq!(rows[0].from, Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap());
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        let days: Vec<_> = rows.iter().filter(|r| r.line_id == 7).map(|r| (r.from, r.metrics)).collect();
        let totals = crate::core::delivery::cumulative_by_day(&days, at(1, 0), &[at(1, 4), at(1, 6), at(2, 6)]);
        assert_eq!(totals.iter().map(|m| m.impressions).collect::<Vec<_>>(), vec![0.0, 100.0, 150.0]);
        assert!((totals[2].spend - 2.25).abs() < 1e-9);
        assert!(parse_report(b"a,b\n1,2\n", tz).is_err());
    }
}
