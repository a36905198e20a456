//! Booking on the ad server: every media buy is mirrored as an order with one line per package
//! (GAM Order/LineItems, Kevel and Triton Campaign/Flights).
//!
//! The database holds the buy as the buyer wants it (its `revision`) and, beside it, what the ad
//! server has applied (a [`Booking`] and its `synced_revision`). Every buy write raises the wanted
//! revision in the same transaction (the outbox). [`sync_due`] then plans the operations that
//! take the ad server from the applied state to the wanted one ([`plan_ops`], pure), applies them
//! one by one with no transaction open, and records each result as soon as it arrives, so a
//! crash or a failing ad server leaves a record of exactly what was applied and what is still
//! owed. Operations set state (they never add deltas) and creates are find-or-create on
//! deterministic keys, so a retry after an ambiguous failure repeats nothing. Transient failures
//! are retried with exponential backoff; a refusal of the initial booking rejects the buy; a
//! refusal of a later change is recorded on the booking (`failed`, with the ad server's reason)
//! and retried when the buy changes again.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::approval::Wire;
use super::catalog::{AssetType, Catalog, FormatId, PricingModel};
use super::creative::{AssetInput, Creative, CreativeStatus};
use super::error::Error;
use super::media_buy::{Event, MediaBuy, MediaBuyStatus, Pacing, Package, transition};
use super::ports::Store;
use super::reconcile::PlatformStatus;
use super::schedule::seller_move;
use super::tenancy::Tenant;

/// Whether an order or line may deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Eligible to deliver inside its dates.
    Running,
    Paused,
    /// Stopped for good (archived on platforms that cannot delete).
    Canceled,
}

/// The order as the ad server should have it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSpec {
    pub media_buy_id: String,
    pub brand_domain: String,
    pub po_number: Option<String>,
    pub currency: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One line as the ad server should have it: the full wanted state, never a change.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSpec {
    pub package_id: String,
    pub product_id: String,
    pub pricing_model: PricingModel,
    pub rate: f64,
    pub budget: f64,
    /// Impression goal.
    pub impressions: f64,
    pub pacing: Pacing,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The buyer's targeting overlay, verbatim.
    pub targeting: Option<String>,
    pub creative_ids: Vec<String>,
    /// The assigned creatives that may serve (approved, with something to serve), in the
    /// package's order.
    pub creatives: Vec<CreativeSpec>,
    pub state: RunState,
    /// Daily caps (spend, impressions), when the buyer set them.
    pub daily_budget: Option<f64>,
    pub daily_impressions: Option<f64>,
    /// The formats the line serves (creative placeholders on ad servers that size them).
    pub formats: Vec<FormatId>,
    /// Priced by auction (the buyer bids): a non-guaranteed line.
    pub auction: bool,
}

/// A creative as an ad server gets it: what serves, its size, where a click goes.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeSpec {
    pub creative_id: String,
    pub name: String,
    pub format_id: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub serving: Serving,
    pub click_url: Option<String>,
}

/// What a creative serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Serving {
    Image {
        url: String,
    },
    /// Markup (HTML or JavaScript) served as it is.
    Html {
        snippet: String,
    },
    VastUrl {
        url: String,
    },
    VastXml {
        xml: String,
    },
    Video {
        url: String,
    },
    Audio {
        url: String,
    },
}

impl CreativeSpec {
    /// What the ad server needs of an approved creative, read from its assets by the asset
    /// types of its format; `None` for creatives not approved, of unknown formats, or with
    /// nothing to serve.
    pub fn of(creative: &Creative, catalog: &Catalog, assets: &[(String, AssetInput)]) -> Option<CreativeSpec> {
        if creative.status != CreativeStatus::Approved {
            return None;
        }
        let format = catalog.format(&creative.format_id)?;
        let rendered = format.renders.iter().find_map(|r| r.dimensions.as_ref()).map(|d| (d.width, d.height));
        let mut width = creative.format_id.width.or(rendered.map(|s| s.0));
        let mut height = creative.format_id.height.or(rendered.map(|s| s.1));
        let mut duration_ms = creative.format_id.duration_ms;
        let (mut serving, mut click_url) = (None, None);
        for asset_spec in &format.assets {
            let Some((_, asset)) = assets.iter().find(|(id, _)| *id == asset_spec.asset_id) else { continue };
            let found = match (asset_spec.asset_type, asset.url.clone()) {
                (AssetType::Url, Some(url)) => {
                    // The landing page; trackers and other URLs are not where a click goes.
                    let role = asset_spec.asset_role.as_deref().unwrap_or("clickthrough");
                    if role.contains("click") || role.contains("landing") {
                        click_url.get_or_insert(url);
                    }
                    None
                }
                (AssetType::Image, Some(url)) => Some(Serving::Image { url }),
                (AssetType::Video, Some(url)) => Some(Serving::Video { url }),
                (AssetType::Audio, Some(url)) => Some(Serving::Audio { url }),
                (AssetType::Vast | AssetType::Daast, Some(url)) => Some(Serving::VastUrl { url }),
                (AssetType::Vast | AssetType::Daast, None) => asset.content.clone().map(|xml| Serving::VastXml { xml }),
                (AssetType::Html, _) => asset.content.clone().map(|snippet| Serving::Html { snippet }),
                _ => None,
            };
            // The first servable asset is the creative; its own size and length win.
            if let (Some(found), None) = (found, &serving) {
                width = asset.width.and_then(|w| u32::try_from(w).ok()).or(width);
                height = asset.height.and_then(|h| u32::try_from(h).ok()).or(height);
                duration_ms = asset.duration_ms.or(duration_ms);
                serving = Some(found);
            }
        }
        Some(CreativeSpec {
            creative_id: creative.creative_id.clone(),
            name: creative.name.clone(),
            format_id: creative.format_id.id.clone(),
            width,
            height,
            duration_ms,
            serving: serving?,
            click_url,
        })
    }
}

/// The servable creatives assigned to `buy`'s packages (see [`CreativeSpec::of`]; `wire` reads
/// their assets).
///
/// # Errors
/// Storage.
pub async fn creatives_of<S: Store>(
    store: &S,
    catalog: &Catalog,
    wire: &dyn Wire,
    buy: &MediaBuy,
) -> Result<HashMap<String, CreativeSpec>, Error> {
    let mut ids: Vec<&String> = buy.packages.iter().flat_map(|p| &p.creative_ids).collect();
    ids.sort();
    ids.dedup();
    let mut specs = HashMap::new();
    for id in ids {
        for creative in store.find_creatives(&buy.tenant_id, Some(id), Some(CreativeStatus::Approved), 10).await? {
            if creative.principal_id != buy.principal_id {
                continue;
            }
            if let Some(spec) = CreativeSpec::of(&creative, catalog, &wire.creative_assets(&creative.assets)) {
                specs.insert(creative.creative_id.clone(), spec);
            }
        }
    }
    Ok(specs)
}

impl LineSpec {
    pub fn of(package: &Package, creatives: &HashMap<String, CreativeSpec>) -> LineSpec {
        let state = line_state(package);
        LineSpec {
            package_id: package.package_id.clone(),
            product_id: package.product_id.clone(),
            pricing_model: package.pricing_model,
            rate: package.rate,
            budget: package.budget,
            impressions: package.impressions,
            pacing: package.pacing,
            start: package.start_time,
            end: package.end_time,
            targeting: package.targeting_overlay.as_ref().map(|t| t.0.clone()),
            creative_ids: package.creative_ids.clone(),
            creatives: package.creative_ids.iter().filter_map(|id| creatives.get(id).cloned()).collect(),
            state,
            daily_budget: package.daily_budget,
            daily_impressions: package.daily_impressions,
            formats: package.format_ids.clone(),
            auction: package.bid_price.is_some(),
        }
    }

    /// A short digest of the whole spec: a booked line whose fingerprint differs from the wanted
    /// spec's needs an update.
    pub fn fingerprint(&self) -> String {
        let digest = sha2::Sha256::digest(format!("{self:?}").as_bytes());
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

/// One step towards the wanted state. Creates are find-or-create on the deterministic key
/// (`media_buy_id` for the order, `package_id` for a line), so repeating one is harmless.
#[derive(Debug, Clone, PartialEq)]
pub enum AdServerOp {
    CreateOrder(OrderSpec),
    CreateLine(LineSpec),
    /// Sets every field of the line, its creatives and its state to the spec.
    UpdateLine(LineSpec),
    SetOrderState(RunState),
}

/// What the ad server has applied for one buy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Booking {
    /// The platform's order (campaign) id, once created.
    pub order_id: Option<String>,
    pub order_state: Option<RunState>,
    pub lines: Vec<BookedLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookedLine {
    pub package_id: String,
    /// The platform's line item (flight) id.
    pub line_id: String,
    /// [`LineSpec::fingerprint`] of the spec last applied.
    pub applied: String,
}

impl Booking {
    pub fn line(&self, package_id: &str) -> Option<&BookedLine> {
        self.lines.iter().find(|l| l.package_id == package_id)
    }

    /// Records a successful operation.
    pub fn record(&mut self, op: &AdServerOp, platform_id: Option<String>) {
        match op {
            AdServerOp::CreateOrder(_) => {
                self.order_id = platform_id;
                self.order_state = Some(RunState::Running);
            }
            AdServerOp::SetOrderState(state) => self.order_state = Some(*state),
            AdServerOp::CreateLine(spec) | AdServerOp::UpdateLine(spec) => {
                let applied = spec.fingerprint();
                match self.lines.iter_mut().find(|l| l.package_id == spec.package_id) {
                    Some(line) => line.applied = applied,
                    None => self.lines.push(BookedLine {
                        package_id: spec.package_id.clone(),
                        line_id: platform_id.unwrap_or_default(),
                        applied,
                    }),
                }
            }
        }
    }
}

/// The state a package calls for on its line.
pub fn line_state(package: &Package) -> RunState {
    if package.is_canceled() {
        RunState::Canceled
    } else if package.paused {
        RunState::Paused
    } else {
        RunState::Running
    }
}

/// The order state a buy calls for.
pub fn order_state(status: MediaBuyStatus) -> RunState {
    match status {
        MediaBuyStatus::Paused => RunState::Paused,
        MediaBuyStatus::Canceled | MediaBuyStatus::Rejected => RunState::Canceled,
        MediaBuyStatus::PendingCreatives
        | MediaBuyStatus::PendingStart
        | MediaBuyStatus::Active
        | MediaBuyStatus::Completed => RunState::Running,
    }
}

/// The operations that take `booking` to what `buy` calls for, in the order they must run.
/// Stopping comes first, right after a new order is made (nothing delivers while the rest is
/// done), resuming last; a buy that ends before it was ever booked books nothing.
pub fn plan_ops(buy: &MediaBuy, booking: &Booking, creatives: &HashMap<String, CreativeSpec>) -> Vec<AdServerOp> {
    let wanted = order_state(buy.status);
    let mut ops = Vec::new();
    let mut current = booking.order_state;
    if booking.order_id.is_none() {
        if wanted == RunState::Canceled {
            return ops;
        }
        current = Some(RunState::Running);
        ops.push(AdServerOp::CreateOrder(OrderSpec {
            media_buy_id: buy.media_buy_id.clone(),
            brand_domain: buy.brand_domain.clone(),
            po_number: buy.po_number.clone(),
            currency: buy.currency.clone(),
            start: buy.start_time,
            end: buy.end_time,
        }));
    }
    if wanted != RunState::Running && current != Some(wanted) {
        ops.push(AdServerOp::SetOrderState(wanted));
        current = Some(wanted);
    }
    for package in &buy.packages {
        let spec = LineSpec::of(package, creatives);
        match booking.line(&package.package_id) {
            None if package.is_canceled() => {}
            None => ops.push(AdServerOp::CreateLine(spec)),
            Some(line) if line.applied != spec.fingerprint() => ops.push(AdServerOp::UpdateLine(spec)),
            Some(_) => {}
        }
    }
    if current != Some(wanted) {
        ops.push(AdServerOp::SetOrderState(wanted));
    }
    ops
}

/// Applies the operations that would take the booking from `from` (nothing, for a new buy) to
/// what `buy` calls for, on an ad server that only pretends (a dry-run adapter): what one
/// request's `X-Dry-Run` shows of the platform calls.
///
/// # Errors
/// As the ad server's `apply`.
pub async fn rehearse(
    ad_server: &dyn Booker,
    buy: &MediaBuy,
    from: Booking,
    creatives: &HashMap<String, CreativeSpec>,
) -> Result<Booking, AdServerError> {
    let mut booking = from;
    for op in plan_ops(buy, &booking, creatives) {
        let applied = ad_server.apply(buy, &booking, &op).await?;
        booking.record(&op, applied.platform_id);
    }
    Ok(booking)
}

/// What an ad server returns for one applied operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// The platform id of the object a create found or made.
    pub platform_id: Option<String>,
}

/// An ad-server failure, classified for retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum AdServerError {
    /// Worth retrying: network, 5xx, rate limit, or a call whose outcome is unknown.
    #[error("ad server temporarily unavailable: {0}")]
    Retryable(String),
    /// The platform refused the operation; retrying the same thing will not help.
    #[error("ad server refused: {0}")]
    Permanent(String),
}

/// Booking operations of an ad server. Delivery reporting is [`super::delivery::AdServer`].
pub trait Booker: Send + Sync {
    /// Applies one operation to the buy's booking. Must be idempotent: creates look the object
    /// up by its deterministic key before making it.
    fn apply<'a>(
        &'a self,
        buy: &'a MediaBuy,
        booking: &'a Booking,
        op: &'a AdServerOp,
    ) -> Pin<Box<dyn Future<Output = Result<Applied, AdServerError>> + Send + 'a>>;
}

/// Where the outbox stands for one buy.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingRecord {
    pub tenant_id: String,
    pub media_buy_id: String,
    /// The buy revision the ad server should reflect.
    pub wanted_revision: i64,
    /// The buy revision it reflects.
    pub synced_revision: i64,
    pub booking: Booking,
    /// Failed attempts since the last success or change.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// The ad server refused the wanted state; waits for the buy to change.
    pub failed: bool,
    /// A worker syncing the buy holds it until then.
    pub leased_until: Option<DateTime<Utc>>,
    /// What the platform said of the order last (see `reconcile`).
    pub platform: Option<PlatformStatus>,
    /// When reconciliation last stored the platform's delivery report of the buy.
    pub delivery_as_of: Option<DateTime<Utc>>,
}

impl BookingRecord {
    pub fn in_sync(&self) -> bool {
        self.synced_revision >= self.wanted_revision
    }
}

/// What one sync did for a buy.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    Synced { media_buy_id: String, revision: i64, ops: usize },
    Retrying { media_buy_id: String, attempts: i64, next_attempt_at: DateTime<Utc>, error: String },
    Refused { media_buy_id: String, error: String },
}

/// How many buys one pass syncs.
const BATCH: usize = 100;
/// How long a worker holds a buy while it talks to the ad server.
pub const LEASE_SECONDS: i64 = 120;
const MAX_BACKOFF_SECONDS: i64 = 3_600;

/// Delay before retry number `attempts` (1-based): 2, 4, 8 … seconds, at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 12) as u32;
    Duration::seconds((1_i64 << exponent).min(MAX_BACKOFF_SECONDS))
}

/// One pass: syncs the tenant's buys whose booking is behind and due.
///
/// # Errors
/// Storage failures; ad-server failures are recorded per buy, not returned.
pub async fn sync_due<S: Store>(
    store: &S,
    ad_server: &dyn Booker,
    wire: &dyn Wire,
    tenant: &Tenant,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<SyncOutcome>, Error> {
    let mut outcomes = Vec::new();
    let until = now + Duration::seconds(LEASE_SECONDS);
    for record in store.claim_bookings(&tenant.tenant_id, now, until, BATCH).await? {
        outcomes.push(sync_one(store, ad_server, wire, catalog, record, now).await?);
    }
    Ok(outcomes)
}

async fn sync_one<S: Store>(
    store: &S,
    ad_server: &dyn Booker,
    wire: &dyn Wire,
    catalog: &Catalog,
    mut record: BookingRecord,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, Error> {
    let media_buy_id = record.media_buy_id.clone();
    let Some(buy) = store.media_buy(&record.tenant_id, &media_buy_id).await? else {
        return Err(Error::MediaBuyNotFound);
    };
    let creatives = creatives_of(store, catalog, wire, &buy).await?;
    let ops = plan_ops(&buy, &record.booking, &creatives);
    for (index, op) in ops.iter().enumerate() {
        match ad_server.apply(&buy, &record.booking, op).await {
            Ok(applied) => {
                record.booking.record(op, applied.platform_id);
                // A created object's id is kept at once (the last one with the final save), so
                // that nothing is left unaccounted for after a crash; other operations set
                // state, and repeating them is harmless.
                let last = index + 1 == ops.len();
                if !last && matches!(op, AdServerOp::CreateOrder(_) | AdServerOp::CreateLine(_)) {
                    store.save_booking(&record).await?;
                }
            }
            Err(AdServerError::Retryable(error)) => {
                record.leased_until = None;
                record.attempts += 1;
                record.next_attempt_at = now + backoff(record.attempts);
                record.last_error = Some(error.clone());
                store.save_booking(&record).await?;
                return Ok(SyncOutcome::Retrying {
                    media_buy_id,
                    attempts: record.attempts,
                    next_attempt_at: record.next_attempt_at,
                    error,
                });
            }
            Err(AdServerError::Permanent(error)) => return refuse(store, wire, record, &buy, error, now).await,
        }
    }
    record.synced_revision = buy.revision;
    record.leased_until = None;
    record.attempts = 0;
    record.last_error = None;
    record.failed = false;
    store.save_booking(&record).await?;
    Ok(SyncOutcome::Synced { media_buy_id, revision: buy.revision, ops: ops.len() })
}

/// The ad server refused. Nothing booked yet: the seller rejects the buy (its order never
/// existed). Otherwise the refusal is recorded on the booking and the buy keeps the buyer's
/// wanted state; the next change of the buy tries again.
async fn refuse<S: Store>(
    store: &S,
    wire: &dyn Wire,
    mut record: BookingRecord,
    buy: &MediaBuy,
    error: String,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, Error> {
    let media_buy_id = record.media_buy_id.clone();
    record.last_error = Some(error.clone());
    record.failed = true;
    record.leased_until = None;
    store.save_booking(&record).await?;
    if record.booking.order_id.is_none() {
        // Rejected while pending; an active buy (which never delivered) is canceled by the
        // seller. A concurrent change of the buy wins; its sync meets the same refusal.
        let (event, action) = if transition(buy.status, Event::Reject).is_ok() {
            (Event::Reject, "rejected")
        } else {
            (Event::Cancel, "canceled")
        };
        let summary = format!("The ad server refused the booking: {error}");
        seller_move(store, wire, buy.clone(), event, action, &summary, now).await?;
    }
    Ok(SyncOutcome::Refused { media_buy_id, error })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::core::media_buy::fixtures;

    fn buy(status: MediaBuyStatus) -> MediaBuy {
        fixtures::buy(status, 10, vec![fixtures::package("pkg_1", 1000.0, 10)])
    }

    fn kinds(ops: &[AdServerOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                AdServerOp::CreateOrder(_) => "create_order".to_owned(),
                AdServerOp::CreateLine(spec) => format!("create_line {:?}", spec.state),
                AdServerOp::UpdateLine(spec) => format!("update_line {:?}", spec.state),
                AdServerOp::SetOrderState(state) => format!("order {state:?}"),
            })
            .collect()
    }

    fn booked(plan_for: &MediaBuy) -> Booking {
        let mut booking = Booking::default();
        for op in plan_ops(plan_for, &Booking::default(), &HashMap::new()) {
            booking.record(&op, Some("id".into()));
        }
        booking
    }

    #[test]
    fn a_new_buy_books_an_order_and_its_lines() {
        assert_eq!(
            kinds(&plan_ops(&buy(MediaBuyStatus::Active), &Booking::default(), &HashMap::new())),
            ["create_order", "create_line Running"]
        );
        assert!(
            plan_ops(&buy(MediaBuyStatus::Canceled), &Booking::default(), &HashMap::new()).is_empty(),
            "nothing to book"
        );
        let paused = plan_ops(&buy(MediaBuyStatus::Paused), &Booking::default(), &HashMap::new());
        assert_eq!(
            kinds(&paused),
            ["create_order", "order Paused", "create_line Running"],
            "paused before lines exist"
        );
    }

    #[test]
    fn changes_become_set_state_operations_in_a_safe_order() {
        let active = buy(MediaBuyStatus::Active);
        let booking = booked(&active);
        assert!(plan_ops(&active, &booking, &HashMap::new()).is_empty(), "in sync");

        let mut paused = active.clone();
        paused.status = MediaBuyStatus::Paused;
        paused.packages[0].budget = 2000.0;
        assert_eq!(
            kinds(&plan_ops(&paused, &booking, &HashMap::new())),
            ["order Paused", "update_line Running"],
            "stop first"
        );

        let paused_booking = booked(&paused);
        assert_eq!(
            kinds(&plan_ops(&active, &paused_booking, &HashMap::new())),
            ["update_line Running", "order Running"],
            "resume last"
        );

        let mut canceled_package = active.clone();
        canceled_package.packages[0].cancellation = Some(crate::core::media_buy::Cancellation {
            canceled_at: active.start_time,
            canceled_by: crate::core::media_buy::Party::Buyer,
            reason: None,
        });
        assert_eq!(kinds(&plan_ops(&canceled_package, &booking, &HashMap::new())), ["update_line Canceled"]);
    }
}
