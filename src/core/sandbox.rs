//! The sandbox test controller behind `comply_test_controller`: seeds fixtures (products,
//! pricing options, formats, creatives, buys) and forces states (accounts, buys, creatives,
//! tasks, the next create's arm, delivery) so that a buyer's test suite reaches every state
//! without waiting for time or people. Every function refuses tenants that are not sandboxes;
//! the transport does not even list the tool to them.
//!
//! Forced moves follow the spec's lifecycle graphs (a move to the current state is a no-op);
//! anything else is `InvalidTransition`. Seeds are idempotent: a replay with an equivalent
//! fixture succeeds again, a diverging one is refused.

use chrono::{DateTime, Duration, Utc};

use super::accounts::{AccountRef, Use, resolve_account};
use super::approval::{self, Wire};
use super::catalog::{Catalog, Channel, DeliveryType, Format, FormatId, PricingOption, Product};
use super::creative::{Creative, CreativeStatus, creative_transition_allowed};
use super::delivery::{self, AdServer};
use super::error::{Error, StoreError};
use super::media_buy::{MediaBuy, MediaBuyStatus, Verbatim};
use super::ports::{Also, HistoryEntry, MediaBuyFilter, PageRequest, Store};
use super::tenancy::{Account, AccountKey, AccountStatus, Principal, Tenant};
use super::{buying, schedule};

/// Every scenario the controller runs (`list_scenarios`).
pub const SCENARIOS: [&str; 12] = [
    "force_creative_status",
    "force_account_status",
    "force_media_buy_status",
    "force_create_media_buy_arm",
    "force_task_completion",
    "simulate_delivery",
    "simulate_budget_spend",
    "seed_product",
    "seed_pricing_option",
    "seed_creative",
    "seed_media_buy",
    "seed_creative_format",
];

/// The scenarios `get_adcp_capabilities` may name (`compliance_testing.scenarios` is a closed
/// list in the 3.0 schema).
pub const ADVERTISED_SCENARIOS: [&str; 5] = [
    "force_creative_status",
    "force_account_status",
    "force_media_buy_status",
    "simulate_delivery",
    "simulate_budget_spend",
];

/// Who the controller records as the actor of what it changes.
const ACTOR: &str = "comply_test_controller";

/// The response arm a forced create takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// Held as a task with the forced task id.
    Submitted,
    /// Refused: the seller needs more input.
    InputRequired,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Submitted => "submitted",
            Arm::InputRequired => "input-required",
        }
    }

    pub fn parse(text: &str) -> Option<Arm> {
        [Arm::Submitted, Arm::InputRequired].into_iter().find(|a| a.as_str() == text)
    }
}

/// A principal's next `create_media_buy`, shaped in advance (consumed by that create).
#[derive(Debug, Clone, PartialEq)]
pub struct ForcedArm {
    pub tenant_id: String,
    pub principal_id: String,
    pub arm: Arm,
    pub task_id: Option<String>,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Delivery a sandbox buy reports on top of what the ad server delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimulatedDelivery {
    pub tenant_id: String,
    pub media_buy_id: String,
    pub impressions: f64,
    pub clicks: f64,
    pub conversions: f64,
    pub spend: f64,
    pub recorded_at: DateTime<Utc>,
}

/// A forced move: where the entity was and where it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub previous: String,
    pub current: String,
}

/// Whether a seed stored something new or replayed an equivalent fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    First,
    Again,
}

fn sandbox_only(tenant: &Tenant) -> Result<(), Error> {
    if tenant.sandbox {
        Ok(())
    } else {
        Err(Error::PermissionDenied("comply_test_controller works in sandbox tenants only".to_owned()))
    }
}

/// The account the controller works in when the request names none: the one the compliance
/// suite's seeds use.
pub fn default_account() -> AccountRef {
    AccountRef::Key(AccountKey {
        brand_domain: "test.example".to_owned(),
        brand_id: None,
        operator: "test.example".to_owned(),
        sandbox: true,
    })
}

/// The principal's forced create arm, taken (so that it shapes one create only). Always `None`
/// outside sandbox tenants.
///
/// # Errors
/// Storage.
pub async fn forced_arm<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
) -> Result<Option<ForcedArm>, Error> {
    if !tenant.sandbox {
        return Ok(None);
    }
    Ok(store.take_forced_arm(&tenant.tenant_id, &principal.principal_id).await?)
}

/// Records a fixture under `key`, or recognises an equivalent replay.
async fn register<S: Store>(
    store: &S,
    tenant: &Tenant,
    key: &str,
    fixture: &Verbatim,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    match store.seed_fixture(&tenant.tenant_id, key, &fixture.0, now).await? {
        None => Ok(Seeded::First),
        Some(stored) if stored == fixture.0 => Ok(Seeded::Again),
        Some(_) => Err(Error::invalid_with(
            "params.fixture",
            format!("the fixture for {key} diverges from the one seeded before"),
            "replay with an equivalent fixture, or seed a new id",
        )),
    }
}

/// Loads the catalog, applies `edit`, checks the catalog's invariants and stores it if no one
/// changed it meanwhile (else starts over).
async fn edit_catalog<S: Store>(
    store: &S,
    tenant: &Tenant,
    now: DateTime<Utc>,
    mut edit: impl FnMut(&mut Catalog) -> Result<(), Error>,
) -> Result<(), Error> {
    for _ in 0..5 {
        let (version, mut catalog) = store.load_catalog(&tenant.tenant_id).await?;
        edit(&mut catalog)?;
        catalog.validate().map_err(|problems| {
            Error::invalid_with(
                "params.fixture",
                format!("the seeded catalog would be invalid: {}", problems.join("; ")),
                "give the fixture the fields a product needs",
            )
        })?;
        match store.replace_catalog(&tenant.tenant_id, &catalog, Some(version), now).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(Error::Conflict { message: "the catalog kept changing while seeding; retry".to_owned() })
}

/// The catalog's format with this id, or a new format for it (added to the catalog) made for
/// `channel`, with no asset requirements.
fn format_for(catalog: &mut Catalog, id: &str, name: Option<&str>, channel: Channel) -> FormatId {
    if let Some(format) = catalog.formats.iter().find(|f| f.format_id.id == id) {
        return format.format_id.clone();
    }
    let agent_url = catalog.formats.first().map_or_else(|| "self".to_owned(), |f| f.format_id.agent_url.clone());
    let format_id = FormatId { agent_url, id: id.to_owned(), width: None, height: None, duration_ms: None };
    catalog.formats.push(Format {
        format_id: format_id.clone(),
        name: name.unwrap_or(id).to_owned(),
        description: Some("Seeded by comply_test_controller".to_owned()),
        channel,
        renders: vec![],
        assets: vec![],
        supported_macros: vec![],
    });
    format_id
}

/// A product as `seed_product` describes it; what it leaves out is taken from the catalog's
/// product most like it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSeed {
    pub product_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub delivery_type: Option<DeliveryType>,
    pub channels: Vec<Channel>,
    pub format_ids: Vec<String>,
    pub pricing_options: Vec<PricingOption>,
    /// The fixture as sent, canonical, for replay checks.
    pub fixture: Verbatim,
}

fn product_from(catalog: &mut Catalog, seed: &ProductSeed, existing: Option<&Product>) -> Result<Product, Error> {
    let model = existing.cloned().or_else(|| {
        catalog
            .products
            .iter()
            .find(|p| seed.channels.iter().any(|c| p.channels.contains(c)))
            .or_else(|| catalog.products.first())
            .cloned()
    });
    let Some(model) = model else {
        return Err(Error::invalid_with(
            "params.product_id",
            "this sandbox catalog has no product to take publisher properties and reporting from",
            "import a catalog with at least one product first",
        ));
    };
    let channels = if seed.channels.is_empty() { model.channels.clone() } else { seed.channels.clone() };
    let channel = channels.first().copied().unwrap_or(Channel::Display);
    let format_ids = if seed.format_ids.is_empty() {
        model.format_ids.clone()
    } else {
        seed.format_ids.iter().map(|id| format_for(catalog, id, None, channel)).collect()
    };
    let pricing_options =
        if seed.pricing_options.is_empty() { existing.map(|p| p.pricing_options.clone()) } else { None }
            .unwrap_or_else(|| seed.pricing_options.clone());
    Ok(Product {
        product_id: seed.product_id.clone(),
        name: seed.name.clone().unwrap_or_else(|| seed.product_id.replace('_', " ")),
        description: seed.description.clone().unwrap_or_else(|| format!("Sandbox product {}", seed.product_id)),
        channels,
        format_ids,
        delivery_type: seed.delivery_type.unwrap_or(model.delivery_type),
        pricing_options,
        ..model
    })
}

/// `seed_product`: the product joins the catalog once it has a pricing option (a catalog
/// product needs one); until then it waits for `seed_pricing_option`.
///
/// # Errors
/// Not a sandbox; a diverging replay; an invalid product; storage.
pub async fn seed_product<S: Store>(
    store: &S,
    tenant: &Tenant,
    seed: &ProductSeed,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    sandbox_only(tenant)?;
    let seeded = register(store, tenant, &format!("product:{}", seed.product_id), &seed.fixture, now).await?;
    let mut pending = None;
    edit_catalog(store, tenant, now, |catalog| {
        let existing = catalog.product(&seed.product_id).cloned();
        let product = product_from(catalog, seed, existing.as_ref())?;
        catalog.products.retain(|p| p.product_id != seed.product_id);
        if product.pricing_options.is_empty() {
            pending = Some(product);
        } else {
            pending = None;
            catalog.products.push(product);
        }
        Ok(())
    })
    .await?;
    if let Some(product) = pending {
        store.save_pending_product(&tenant.tenant_id, &product).await?;
    }
    Ok(seeded)
}

/// `seed_pricing_option`: adds the option to a seeded or catalog product (replacing one with
/// the same id).
///
/// # Errors
/// Not a sandbox; no such product; a diverging replay; an invalid option; storage.
pub async fn seed_pricing_option<S: Store>(
    store: &S,
    tenant: &Tenant,
    product_id: &str,
    option: &PricingOption,
    fixture: &Verbatim,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    sandbox_only(tenant)?;
    let pending = store.pending_product(&tenant.tenant_id, product_id).await?;
    let (_, catalog) = store.load_catalog(&tenant.tenant_id).await?;
    if catalog.product(product_id).is_none() && pending.is_none() {
        return Err(Error::invalid_with(
            "params.product_id",
            format!("no product {product_id} was seeded"),
            "seed the product with seed_product first",
        ));
    }
    let key = format!("pricing_option:{product_id}:{}", option.pricing_option_id);
    let seeded = register(store, tenant, &key, fixture, now).await?;
    edit_catalog(store, tenant, now, |catalog| {
        let mut product = match catalog.products.iter().position(|p| p.product_id == product_id) {
            Some(index) => catalog.products.remove(index),
            None => pending.clone().ok_or_else(|| Error::NotFound { entity: "product", id: product_id.to_owned() })?,
        };
        product.pricing_options.retain(|o| o.pricing_option_id != option.pricing_option_id);
        product.pricing_options.push(option.clone());
        catalog.products.push(product);
        Ok(())
    })
    .await?;
    Ok(seeded)
}

/// `seed_creative_format`: a format of the catalog (an existing one with the id is kept).
///
/// # Errors
/// Not a sandbox; a diverging replay; storage.
pub async fn seed_creative_format<S: Store>(
    store: &S,
    tenant: &Tenant,
    format_id: &str,
    name: Option<&str>,
    channel: Channel,
    fixture: &Verbatim,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    sandbox_only(tenant)?;
    let seeded = register(store, tenant, &format!("creative_format:{format_id}"), fixture, now).await?;
    edit_catalog(store, tenant, now, |catalog| {
        format_for(catalog, format_id, name, channel);
        Ok(())
    })
    .await?;
    Ok(seeded)
}

/// A creative as `seed_creative` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeSeed {
    pub creative_id: String,
    pub name: Option<String>,
    pub format_id: Option<String>,
    pub status: Option<CreativeStatus>,
    pub fixture: Verbatim,
}

/// `seed_creative`: a creative in the caller's library under `account` (the suite's sandbox
/// account when none is named).
///
/// # Errors
/// Not a sandbox; account resolution; a diverging replay; storage.
pub async fn seed_creative<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    account: &AccountRef,
    seed: &CreativeSeed,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    sandbox_only(tenant)?;
    let account = resolve_account(store, tenant, principal, account, Use::Read, now).await?;
    let seeded = register(store, tenant, &format!("creative:{}", seed.creative_id), &seed.fixture, now).await?;
    let mut format_id = None;
    edit_catalog(store, tenant, now, |catalog| {
        format_id = Some(match &seed.format_id {
            Some(id) => format_for(catalog, id, None, Channel::Display),
            None => catalog.formats.first().map(|f| f.format_id.clone()).ok_or_else(|| {
                Error::invalid_with("params.fixture.format_id", "the catalog has no formats", "name a format_id")
            })?,
        });
        Ok(())
    })
    .await?;
    let Some(format_id) = format_id else { return Err(Error::invalid("params.fixture.format_id", "no format")) };
    let creative = Creative {
        creative_id: seed.creative_id.clone(),
        tenant_id: tenant.tenant_id.clone(),
        principal_id: principal.principal_id.clone(),
        account_id: account.account_id,
        name: seed.name.clone().unwrap_or_else(|| seed.creative_id.replace('_', " ")),
        format_id,
        assets: Verbatim("{}".to_owned()),
        tags: vec![],
        status: seed.status.unwrap_or(CreativeStatus::Approved),
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    };
    store.save_creatives(&[creative], &Also::default()).await?;
    Ok(seeded)
}

/// A buy as `seed_media_buy` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaBuySeed {
    pub media_buy_id: String,
    pub status: Option<MediaBuyStatus>,
    pub currency: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub fixture: Verbatim,
}

/// `seed_media_buy`: a buy of the caller with no packages, in the given status.
///
/// # Errors
/// Not a sandbox; the id belongs to another buyer's buy; a diverging replay; storage.
pub async fn seed_media_buy<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    account: &AccountRef,
    seed: &MediaBuySeed,
    now: DateTime<Utc>,
) -> Result<Seeded, Error> {
    sandbox_only(tenant)?;
    let account = resolve_account(store, tenant, principal, account, Use::Read, now).await?;
    if let Some(existing) = store.media_buy(&tenant.tenant_id, &seed.media_buy_id).await?
        && existing.principal_id != principal.principal_id
    {
        return Err(Error::invalid_with(
            "params.media_buy_id",
            format!("media buy {} belongs to another buyer", seed.media_buy_id),
            "seed a new id",
        ));
    }
    let seeded = register(store, tenant, &format!("media_buy:{}", seed.media_buy_id), &seed.fixture, now).await?;
    if store.media_buy(&tenant.tenant_id, &seed.media_buy_id).await?.is_some() {
        return Ok(seeded);
    }
    let start_time = seed.start_time.unwrap_or(now);
    let end_time = seed.end_time.unwrap_or(start_time + Duration::days(30));
    if end_time <= start_time {
        return Err(Error::invalid_with("params.fixture.flight", "the flight ends before it starts", "fix the dates"));
    }
    let status = seed.status.unwrap_or(MediaBuyStatus::Active);
    let buy = MediaBuy {
        media_buy_id: seed.media_buy_id.clone(),
        tenant_id: tenant.tenant_id.clone(),
        principal_id: principal.principal_id.clone(),
        account_id: account.account_id,
        brand_domain: account.key.brand_domain,
        status,
        currency: seed.currency.clone().unwrap_or_else(|| "USD".to_owned()),
        start_time,
        end_time,
        confirmed_at: now,
        creative_deadline: start_time,
        revision: 1,
        po_number: None,
        cancellation: None,
        packages: vec![],
        push_notification: None,
        reporting_webhook: None,
        created_at: now,
        updated_at: now,
    };
    let history = [HistoryEntry {
        revision: 1,
        at: now,
        actor: ACTOR.to_owned(),
        action: "seeded".to_owned(),
        summary: format!("Seeded in status {}", status.as_str()),
        package_id: None,
    }];
    match store.insert_media_buy(&buy, &history, &Also::default()).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(seeded),
        Err(other) => Err(other.into()),
    }
}

fn account_move_allowed(from: AccountStatus, to: AccountStatus) -> bool {
    use AccountStatus as A;
    matches!(
        (from, to),
        (A::PendingApproval, A::Active | A::Rejected)
            | (A::Active, A::Suspended | A::PaymentRequired | A::Closed)
            | (A::Suspended, A::Active | A::PaymentRequired | A::Closed)
            | (A::PaymentRequired, A::Active | A::Suspended | A::Closed)
    )
}

fn media_buy_move_allowed(from: MediaBuyStatus, to: MediaBuyStatus) -> bool {
    use MediaBuyStatus as M;
    matches!(
        (from, to),
        (M::PendingCreatives, M::PendingStart | M::Active | M::Paused | M::Canceled | M::Rejected)
            | (M::PendingStart, M::Active | M::Paused | M::Canceled | M::Rejected)
            | (M::Active, M::Paused | M::Completed | M::Canceled)
            | (M::Paused, M::Active | M::Completed | M::Canceled)
    )
}

/// `force_account_status`.
///
/// # Errors
/// Not a sandbox; `NotFound` for unknown and foreign accounts; `InvalidTransition`; storage.
pub async fn force_account_status<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    account_id: &str,
    to: AccountStatus,
    now: DateTime<Utc>,
) -> Result<Transition, Error> {
    sandbox_only(tenant)?;
    let mut account = owned_account(store, tenant, principal, account_id).await?;
    let from = account.status;
    let (moved, stays) = forced_move("account", from.as_str(), to.as_str(), account_move_allowed(from, to))?;
    if stays {
        return Ok(moved);
    }
    account.status = to;
    account.updated_at = now;
    store.save_accounts(&[account]).await?;
    Ok(moved)
}

/// `force_media_buy_status`: the move is recorded, audited and told like a seller's.
///
/// # Errors
/// Not a sandbox; `NotFound` for unknown and foreign buys; `InvalidTransition`; `Conflict`
/// when the buy changed meanwhile; storage.
#[allow(clippy::too_many_arguments)]
pub async fn force_media_buy_status<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
    to: MediaBuyStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Transition, Error> {
    sandbox_only(tenant)?;
    let buy = owned_buy(store, tenant, principal, media_buy_id).await?;
    let from = buy.status;
    let (moved, stays) = forced_move("media buy", from.as_str(), to.as_str(), media_buy_move_allowed(from, to))?;
    if stays {
        return Ok(moved);
    }
    let summary =
        reason.map_or_else(|| format!("Forced to {} by the sandbox test controller", to.as_str()), str::to_owned);
    let actor = format!("sandbox:{}", principal.principal_id);
    match schedule::move_to(store, wire, buy, to, (ACTOR, &actor), "forced", &summary, now).await? {
        Some(_) => Ok(moved),
        None => Err(Error::Conflict { message: format!("media buy {media_buy_id} changed meanwhile; retry") }),
    }
}

/// `force_creative_status`.
///
/// # Errors
/// Not a sandbox; `NotFound` for unknown and foreign creatives; `InvalidTransition`; storage.
pub async fn force_creative_status<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    creative_id: &str,
    to: CreativeStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Transition, Error> {
    sandbox_only(tenant)?;
    let mut creative = store
        .find_creatives(&tenant.tenant_id, Some(creative_id), None, 100)
        .await?
        .into_iter()
        .find(|c| principal.admin || c.principal_id == principal.principal_id)
        .ok_or_else(|| Error::NotFound { entity: "creative", id: creative_id.to_owned() })?;
    let from = creative.status;
    let (moved, stays) = forced_move("creative", from.as_str(), to.as_str(), creative_transition_allowed(from, to))?;
    if stays {
        return Ok(moved);
    }
    creative.status = to;
    creative.rejection_reason = (to == CreativeStatus::Rejected)
        .then(|| reason.unwrap_or("rejected by the sandbox test controller").to_owned());
    creative.updated_at = now;
    store.save_creatives(&[creative], &Also::default()).await?;
    Ok(moved)
}

/// `force_create_media_buy_arm`: the caller's next create takes `arm`.
///
/// # Errors
/// Not a sandbox; a submitted arm without a task id, or with one already in use; storage.
pub async fn force_create_arm<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    arm: Arm,
    task_id: Option<&str>,
    message: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ForcedArm, Error> {
    sandbox_only(tenant)?;
    match (arm, task_id) {
        (Arm::Submitted, None) => {
            return Err(Error::invalid_with("params.task_id", "the submitted arm needs a task_id", "add task_id"));
        }
        (Arm::InputRequired, Some(_)) => {
            return Err(Error::invalid_with(
                "params.task_id",
                "the input-required arm takes no task_id",
                "drop task_id",
            ));
        }
        (Arm::Submitted, Some(id)) if store.task(&tenant.tenant_id, id).await?.is_some() => {
            return Err(Error::invalid_with(
                "params.task_id",
                format!("task {id} already exists"),
                "choose a task_id not used before",
            ));
        }
        _ => {}
    }
    let forced = ForcedArm {
        tenant_id: tenant.tenant_id.clone(),
        principal_id: principal.principal_id.clone(),
        arm,
        task_id: task_id.map(str::to_owned),
        message: message.map(str::to_owned),
        created_at: now,
    };
    store.save_forced_arm(&forced).await?;
    Ok(forced)
}

/// `force_task_completion`: completes an open task of the caller with `result` (a rendered
/// response), without running what it defers.
///
/// # Errors
/// Not a sandbox; `NotFound` for unknown and foreign tasks; `InvalidTransition` for closed
/// ones; storage.
pub async fn force_task_completion<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    principal: &Principal,
    task_id: &str,
    result: String,
    now: DateTime<Utc>,
) -> Result<Transition, Error> {
    sandbox_only(tenant)?;
    let task = store
        .task(&tenant.tenant_id, task_id)
        .await?
        .filter(|t| principal.admin || t.principal_id.as_deref() == Some(principal.principal_id.as_str()))
        .ok_or_else(|| Error::NotFound { entity: "task", id: task_id.to_owned() })?;
    let previous = task.status().as_str().to_owned();
    if !task.state.is_open() {
        return Err(Error::InvalidTransition { entity: "task", from: previous, to: "completed".to_owned() });
    }
    let actor = format!("sandbox:{}", principal.principal_id);
    let done = approval::complete_with_result(store, wire, tenant, &actor, &task, result, now).await?;
    Ok(Transition { previous, current: done.status().as_str().to_owned() })
}

/// Delivery to add to a buy (`simulate_delivery`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryDelta {
    pub impressions: f64,
    pub clicks: f64,
    pub conversions: f64,
    /// Amount and currency.
    pub spend: Option<(f64, String)>,
}

/// The caller's buy (any buy for an admin); an unknown or foreign one is not found.
async fn owned_buy<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
) -> Result<MediaBuy, Error> {
    buying::owned_buy(store, tenant, principal, media_buy_id).await.map_err(|error| match error {
        Error::MediaBuyNotFound => Error::NotFound { entity: "media buy", id: media_buy_id.to_owned() },
        other => other,
    })
}

/// The caller's account (any account for an admin); an unknown or foreign one is not found.
async fn owned_account<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    account_id: &str,
) -> Result<Account, Error> {
    store
        .account_by_id(&tenant.tenant_id, account_id)
        .await?
        .filter(|a| principal.admin || a.owner_principal_id == principal.principal_id)
        .ok_or_else(|| Error::NotFound { entity: "account", id: account_id.to_owned() })
}

/// A forced move from `from` to `to`, and whether the entity already is there (nothing to
/// write); `InvalidTransition` when the lifecycle graph has no such edge.
fn forced_move(entity: &'static str, from: &str, to: &str, allowed: bool) -> Result<(Transition, bool), Error> {
    let moved = Transition { previous: from.to_owned(), current: to.to_owned() };
    if from == to {
        return Ok((moved, true));
    }
    if !allowed {
        return Err(Error::InvalidTransition { entity, from: moved.previous, to: moved.current });
    }
    Ok((moved, false))
}

async fn simulated_of<S: Store>(store: &S, buy: &MediaBuy, now: DateTime<Utc>) -> Result<SimulatedDelivery, Error> {
    Ok(store.simulated_delivery(&buy.tenant_id, std::slice::from_ref(&buy.media_buy_id)).await?.pop().unwrap_or(
        SimulatedDelivery {
            tenant_id: buy.tenant_id.clone(),
            media_buy_id: buy.media_buy_id.clone(),
            recorded_at: now,
            ..SimulatedDelivery::default()
        },
    ))
}

/// `simulate_delivery`: adds delivery to the buy's reports; returns the running totals.
///
/// # Errors
/// Not a sandbox; `NotFound`; negative amounts or a foreign currency; storage.
pub async fn simulate_delivery<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
    delta: &DeliveryDelta,
    now: DateTime<Utc>,
) -> Result<(MediaBuy, SimulatedDelivery), Error> {
    sandbox_only(tenant)?;
    let buy = owned_buy(store, tenant, principal, media_buy_id).await?;
    let spend = match &delta.spend {
        Some((_, currency)) if *currency != buy.currency => {
            return Err(Error::invalid_with(
                "params.reported_spend.currency",
                format!("media buy {media_buy_id} is in {}, not {currency}", buy.currency),
                format!("report spend in {}", buy.currency),
            ));
        }
        Some((amount, _)) => *amount,
        None => 0.0,
    };
    let amounts = [delta.impressions, delta.clicks, delta.conversions, spend];
    if amounts.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::invalid_with("params", "simulated amounts must be zero or more", "send counts >= 0"));
    }
    let mut simulated = simulated_of(store, &buy, now).await?;
    simulated.impressions += delta.impressions;
    simulated.clicks += delta.clicks;
    simulated.conversions += delta.conversions;
    simulated.spend = ((simulated.spend + spend) * 100.0).round() / 100.0;
    simulated.recorded_at = now;
    store.save_simulated_delivery(&simulated).await?;
    Ok((buy, simulated))
}

/// What `simulate_budget_spend` did: the spend it reached and the budget it is a share of.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSpend {
    pub spend: f64,
    pub budget: f64,
    pub currency: String,
}

/// Whose budget `simulate_budget_spend` spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendTarget {
    MediaBuy(String),
    Account(String),
}

/// `simulate_budget_spend`: brings the reported spend of a buy (or of every buy of an account)
/// to `percentage` of its budget, adding simulated spend to what the ad server delivered.
///
/// # Errors
/// Not a sandbox; `NotFound`; a percentage outside 0–100; storage and ad-server failures.
#[allow(clippy::too_many_arguments)]
pub async fn simulate_budget_spend<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    target: &SpendTarget,
    percentage: f64,
    now: DateTime<Utc>,
) -> Result<BudgetSpend, Error> {
    sandbox_only(tenant)?;
    if !(0.0..=100.0).contains(&percentage) {
        return Err(Error::invalid_with("params.spend_percentage", "spend_percentage is 0 to 100", "e.g. 95"));
    }
    let buys = match target {
        SpendTarget::MediaBuy(id) => vec![owned_buy(store, tenant, principal, id).await?],
        SpendTarget::Account(id) => {
            owned_account(store, tenant, principal, id).await?;
            let filter = MediaBuyFilter {
                tenant_id: tenant.tenant_id.clone(),
                principal_id: (!principal.admin).then(|| principal.principal_id.clone()),
                account_id: Some(id.clone()),
                statuses: vec![],
                media_buy_ids: vec![],
            };
            store.list_media_buys(&filter, &PageRequest { after: None, limit: delivery::MAX_BUYS_PER_REPORT }).await?
        }
    };
    let mut spent = BudgetSpend {
        spend: 0.0,
        budget: 0.0,
        currency: buys.first().map_or_else(|| "USD".to_owned(), |b| b.currency.clone()),
    };
    for buy in buys {
        let budget = buy.total_budget();
        let wanted = (budget * percentage / 100.0 * 100.0).round() / 100.0;
        let mut simulated = simulated_of(store, &buy, now).await?;
        let start = buy.start_time.min(now);
        let report = delivery::report_buys(store, ad_server, catalog, tenant, vec![buy], start, now, now).await?;
        let reported = report.buys.first().map_or(0.0, |b| b.totals.spend);
        let delivered = reported - simulated.spend;
        simulated.spend = ((wanted - delivered).max(0.0) * 100.0).round() / 100.0;
        simulated.recorded_at = now;
        store.save_simulated_delivery(&simulated).await?;
        spent.spend += wanted;
        spent.budget += budget;
    }
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_moves_follow_the_lifecycle_graphs() {
        use MediaBuyStatus as M;
        assert!(media_buy_move_allowed(M::PendingCreatives, M::Active));
        assert!(media_buy_move_allowed(M::Active, M::Completed));
        assert!(!media_buy_move_allowed(M::Completed, M::Active), "terminal states have no exits");
        assert!(!media_buy_move_allowed(M::Canceled, M::Paused));
        assert!(!media_buy_move_allowed(M::PendingStart, M::Completed), "a buy that never ran cannot complete");
        use AccountStatus as A;
        assert!(account_move_allowed(A::Active, A::Suspended));
        assert!(account_move_allowed(A::Suspended, A::Active));
        assert!(account_move_allowed(A::PaymentRequired, A::Active));
        assert!(!account_move_allowed(A::Closed, A::Active));
        assert!(!account_move_allowed(A::Rejected, A::PendingApproval));
        assert_eq!(Arm::parse("input-required"), Some(Arm::InputRequired));
        assert_eq!(Arm::parse("completed"), None);
    }

    #[test]
    fn every_advertised_scenario_is_one_the_controller_runs() {
        assert!(ADVERTISED_SCENARIOS.iter().all(|s| SCENARIOS.contains(s)));
    }
}
