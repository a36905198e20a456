//! The seed-era view of the AdCP 3.0 core (the user's documents, seed 001 to 004): the statuses
//! a seed-era client reads, derived from the 3.0 state and never stored, the status and
//! delivery summaries of `check_media_buy_status` and `get_all_media_buy_delivery`, and the
//! targeting and impression-signal (AEE) dimensions per channel.
//!
//! Nothing here is a second implementation of a rule: every answer is computed from what the
//! 3.0 core already holds (buys, bookings, accounts, tasks, delivery reports, the catalog).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use std::collections::HashMap;
use std::sync::Arc;

use super::booking::BookingRecord;
use super::catalog::{AssetType, Catalog, Channel, DeliveryType, Format, PricingModel, PricingOption, Product};
use super::creative::CreativeStatus;
use super::creatives::{CreativeQuery, CreativeSort, ListedCreative};
use super::delivery::{AdServer, BuyReport, PackageReport, report_buys};
use super::discovery::{self, BuyingMode, ProductFilters, ProductMatch, ProductQuery};
use super::error::Error;
use super::feedback::ProductRecord;
use super::macros::{self, Filled};
use super::media_buy::{MediaBuy, MediaBuyStatus, Package};
use super::pagination::{MAX_PAGE_SIZE, PageParams};
use super::ports::{PageRequest, Store};
use super::ranking::{BriefSignals, Ranker};
use super::tasks::{Operation, Task, TaskStatus};
use super::tenancy::{AccountStatus, Principal, Tenant};

/// Seed 001's media buy statuses ("Status Normalization"), plus `canceled`, which seed 004's
/// client reads and 3.0 distinguishes from a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedStatus {
    /// Awaiting creatives.
    PendingActivation,
    /// Awaiting a person at the publisher (the create is a task).
    PendingManual,
    /// Blocked by permissions: the buyer's account may not spend.
    PendingPermission,
    /// Not yet booked in the ad server.
    PendingApproval,
    /// Booked, waiting for its start.
    Scheduled,
    Active,
    Paused,
    Completed,
    /// Rejected by the publisher or refused by the ad server.
    Failed,
    Canceled,
}

impl SeedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeedStatus::PendingActivation => "pending_activation",
            SeedStatus::PendingManual => "pending_manual",
            SeedStatus::PendingPermission => "pending_permission",
            SeedStatus::PendingApproval => "pending_approval",
            SeedStatus::Scheduled => "scheduled",
            SeedStatus::Active => "active",
            SeedStatus::Paused => "paused",
            SeedStatus::Completed => "completed",
            SeedStatus::Failed => "failed",
            SeedStatus::Canceled => "canceled",
        }
    }
}

/// The seed status of a buy, from its 3.0 status, its account's status and its booking.
///
/// | 3.0 state | seed status |
/// |---|---|
/// | rejected | failed |
/// | canceled | canceled |
/// | completed | completed |
/// | not terminal, account suspended or awaiting payment | pending_permission |
/// | paused | paused |
/// | pending_creatives | pending_activation |
/// | the ad server refused the booking | failed |
/// | never booked yet | pending_approval |
/// | pending_start | scheduled |
/// | active | active |
pub fn buy_status(buy: &MediaBuy, account: Option<AccountStatus>, booking: Option<&BookingRecord>) -> SeedStatus {
    match buy.status {
        MediaBuyStatus::Rejected => return SeedStatus::Failed,
        MediaBuyStatus::Canceled => return SeedStatus::Canceled,
        MediaBuyStatus::Completed => return SeedStatus::Completed,
        _ => {}
    }
    if matches!(account, Some(AccountStatus::Suspended | AccountStatus::PaymentRequired)) {
        return SeedStatus::PendingPermission;
    }
    match buy.status {
        MediaBuyStatus::Paused => SeedStatus::Paused,
        MediaBuyStatus::PendingCreatives => SeedStatus::PendingActivation,
        _ if booking.is_some_and(|b| b.failed) => SeedStatus::Failed,
        _ if booking.is_some_and(|b| b.booking.order_id.is_none()) => SeedStatus::PendingApproval,
        MediaBuyStatus::PendingStart => SeedStatus::Scheduled,
        _ => SeedStatus::Active,
    }
}

/// The seed status of a buy that exists only as a task (a create waiting for a person), or of
/// a task's outcome when it did not produce a buy.
pub fn task_buy_status(task: &Task) -> Option<SeedStatus> {
    if task.operation != Some(Operation::CreateMediaBuy) {
        return None;
    }
    match task.status() {
        TaskStatus::Submitted | TaskStatus::Working => Some(SeedStatus::PendingManual),
        TaskStatus::Rejected | TaskStatus::Failed => Some(SeedStatus::Failed),
        TaskStatus::Canceled => Some(SeedStatus::Canceled),
        TaskStatus::Completed => None,
    }
}

/// `update_media_buy_status`: the principal's task, with the seed status of its operation: while
/// it waits or when it did not produce a buy, [`task_buy_status`]; once done, the current status
/// of the buy it made or changed.
///
/// # Errors
/// `TaskNotFound` for an unknown or foreign task; storage.
pub async fn operation_status<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    task_id: &str,
) -> Result<(Task, Option<SeedStatus>), Error> {
    let task = super::approval::get_task(store, tenant, principal, task_id).await?;
    if let Some(status) = task_buy_status(&task) {
        return Ok((task, Some(status)));
    }
    let buy = match (&task.media_buy_id, task.status()) {
        (Some(media_buy_id), TaskStatus::Completed) => store.media_buy(&task.tenant_id, media_buy_id).await?,
        _ => None,
    };
    let status = match buy {
        Some(buy) => Some(seed_status_of(store, &buy).await?),
        None => None,
    };
    Ok((task, status))
}

/// Seed `update_media_buy`'s `total_budget`: the new budgets of the buy's live packages that the
/// request gives no budget of its own (`named`), sharing what the total leaves in proportion to
/// their current budgets; with the revision they were read at.
///
/// # Errors
/// `MediaBuyNotFound`; `InvalidRequest` naming `total_budget` when it leaves nothing for those
/// packages, or differs from the named budgets when every package is named; storage.
pub async fn spread_total_budget<S: Store>(
    store: &S,
    principal: &Principal,
    media_buy_id: &str,
    total: f64,
    named: &[(String, f64)],
) -> Result<(i64, Vec<(String, f64)>), Error> {
    let buy = store
        .media_buy(&principal.tenant_id, media_buy_id)
        .await?
        .filter(|b| principal.admin || b.principal_id == principal.principal_id)
        .ok_or(Error::MediaBuyNotFound)?;
    Ok((buy.revision, spread(&buy, total, named)?))
}

fn spread(buy: &MediaBuy, total: f64, named: &[(String, f64)]) -> Result<Vec<(String, f64)>, Error> {
    let cents = |amount: f64| (amount * 100.0).round() / 100.0;
    if !(total.is_finite() && total > 0.0) {
        return Err(Error::invalid_with("total_budget", "total_budget must be a positive amount", "e.g. 75000"));
    }
    let named_sum = named.iter().fold(0.0, |sum, (_, b)| sum + b);
    let others: Vec<&Package> =
        buy.packages.iter().filter(|p| !p.is_canceled() && !named.iter().any(|(id, _)| *id == p.package_id)).collect();
    if others.is_empty() {
        if (total - named_sum).abs() > 0.005 {
            return Err(Error::invalid_with(
                "total_budget",
                format!("every package has a budget in this request; they add up to {named_sum:.2}, not {total:.2}"),
                "omit total_budget, or make the package budgets add up to it",
            ));
        }
        return Ok(Vec::new());
    }
    let remaining = total - named_sum;
    let current = others.iter().fold(0.0, |sum, p| sum + p.budget);
    if remaining <= 0.0 || current <= 0.0 {
        return Err(Error::invalid_with(
            "total_budget",
            format!("total_budget {total:.2} leaves nothing for the packages given no budget"),
            format!("raise total_budget above {named_sum:.2}, or give those packages budgets"),
        ));
    }
    let mut shares: Vec<(String, f64)> =
        others.iter().map(|p| (p.package_id.clone(), cents(remaining * p.budget / current))).collect();
    let assigned = shares.iter().rev().skip(1).fold(0.0, |sum, (_, b)| sum + b);
    if let Some(last) = shares.last_mut() {
        last.1 = cents(remaining - assigned);
    }
    Ok(shares)
}

/// A package's seed status: `delivering` while it can deliver, else why not.
pub fn package_status(buy: &MediaBuy, package: &Package, now: DateTime<Utc>) -> &'static str {
    if package.is_canceled() || buy.status == MediaBuyStatus::Canceled {
        "canceled"
    } else if buy.status == MediaBuyStatus::Rejected {
        "failed"
    } else if buy.status == MediaBuyStatus::Completed || now >= package.end_time {
        "completed"
    } else if buy.status == MediaBuyStatus::Paused || package.paused {
        "paused"
    } else if package.creative_ids.is_empty() {
        "pending_activation"
    } else if now < package.start_time {
        "scheduled"
    } else {
        "delivering"
    }
}

/// Seed pacing words for a pacing index (delivered over what even delivery would have reached).
pub fn pacing_label(index: Option<f64>) -> &'static str {
    match index {
        None => "not_started",
        Some(i) if i >= 1.1 => "ahead",
        Some(i) if i >= 0.95 => "on_track",
        Some(i) if i >= 0.8 => "slightly_behind",
        Some(_) => "behind",
    }
}

/// Share of the package's impression goal delivered, in percent with one decimal.
pub fn delivery_percentage(report: &PackageReport, delivered: f64) -> f64 {
    let goal = report.package.impressions;
    if goal <= 0.0 { 0.0 } else { ((delivered / goal * 100.0).min(100.0) * 10.0).round() / 10.0 }
}

/// One package in `check_media_buy_status`.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageState {
    pub package_id: String,
    pub status: &'static str,
    pub pacing: &'static str,
    pub delivery_percentage: f64,
}

/// `check_media_buy_status`: the buy's seed status and each package's delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct BuyState {
    pub media_buy: MediaBuy,
    pub status: SeedStatus,
    pub packages: Vec<PackageState>,
}

/// Reads one of the principal's buys (any buy for an admin) with its delivery so far.
///
/// # Errors
/// `MediaBuyNotFound` for an unknown or foreign buy; storage and ad-server failures.
pub async fn check_media_buy_status<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
    now: DateTime<Utc>,
) -> Result<BuyState, Error> {
    let buy = store
        .media_buy(&principal.tenant_id, media_buy_id)
        .await?
        .filter(|b| principal.admin || b.principal_id == principal.principal_id)
        .ok_or(Error::MediaBuyNotFound)?;
    let status = seed_status_of(store, &buy).await?;
    let start = buy.start_time.min(now);
    let report = report_buys(store, ad_server, catalog, tenant, vec![buy], start, now.max(start), now).await?;
    let Some(BuyReport { media_buy, packages, .. }) = report.buys.into_iter().next() else {
        return Err(Error::MediaBuyNotFound);
    };
    let packages = packages
        .iter()
        .map(|p| {
            let status = package_status(&media_buy, &p.package, now);
            // A package that has not begun (no creatives yet, or before its start) has no pace.
            let started = !matches!(status, "pending_activation" | "scheduled") || p.totals.impressions > 0.0;
            PackageState {
                package_id: p.package.package_id.clone(),
                status,
                pacing: if started { pacing_label(p.pacing_index) } else { pacing_label(None) },
                delivery_percentage: delivery_percentage(p, p.totals.impressions),
            }
        })
        .collect();
    Ok(BuyState { media_buy, status, packages })
}

async fn seed_status_of<S: Store>(store: &S, buy: &MediaBuy) -> Result<SeedStatus, Error> {
    let account = store.account_by_id(&buy.tenant_id, &buy.account_id).await?.map(|a| a.status);
    let booking = store.booking(&buy.tenant_id, &buy.media_buy_id).await?;
    Ok(buy_status(buy, account, booking.as_ref()))
}

/// One buy in `get_all_media_buy_delivery`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySummary {
    pub media_buy_id: String,
    pub principal_id: String,
    /// `delivering`, `scheduled`, `paused`, `pending_activation`, `completed`, `canceled`, `failed`.
    pub status: &'static str,
    pub spend: f64,
    pub impressions: u64,
    pub pacing: &'static str,
    pub days_elapsed: i64,
    pub total_days: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AllDelivery {
    pub deliveries: Vec<DeliverySummary>,
    pub total_spend: f64,
    pub total_impressions: u64,
    /// Buys delivering on the summary date.
    pub active_count: usize,
    pub summary_date: NaiveDate,
    pub currency: String,
}

/// What `get_all_media_buy_delivery` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllDeliveryQuery {
    /// The day to summarize up to (its end); defaults to today. Never after today.
    pub today: Option<NaiveDate>,
    pub media_buy_ids: Vec<String>,
    /// 3.0 statuses to include; default: every buy that can have delivery (active, paused,
    /// completed).
    pub statuses: Option<Vec<MediaBuyStatus>>,
}

/// Delivery to date of the principal's buys (every principal's, for an admin).
///
/// # Errors
/// `InvalidRequest` for a summary date in the future; storage and ad-server failures.
pub async fn all_media_buy_delivery<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    query: &AllDeliveryQuery,
    now: DateTime<Utc>,
) -> Result<AllDelivery, Error> {
    let today = now.date_naive();
    let summary_date = query.today.unwrap_or(today);
    if summary_date > today {
        return Err(Error::invalid_with(
            "today",
            format!("today {summary_date} is in the future"),
            format!("use {today} or an earlier date"),
        ));
    }
    let as_of = if summary_date == today {
        now
    } else {
        Utc.from_utc_datetime(&summary_date.succ_opt().unwrap_or(summary_date).and_hms_opt(0, 0, 0).unwrap_or_default())
    };
    let filter = super::buying::buy_filter(
        store,
        tenant,
        principal,
        None,
        &query.media_buy_ids,
        query.statuses.as_deref(),
        &[MediaBuyStatus::Active, MediaBuyStatus::Paused, MediaBuyStatus::Completed],
        now,
    )
    .await?;
    let buys = store
        .list_media_buys(&filter, &PageRequest { after: None, limit: super::delivery::MAX_BUYS_PER_REPORT })
        .await?;
    let start = buys.iter().map(|b| b.start_time).min().unwrap_or(as_of).min(as_of);
    let report = report_buys(store, ad_server, catalog, tenant, buys, start, as_of, as_of).await?;
    let mut deliveries = Vec::with_capacity(report.buys.len());
    for buy in &report.buys {
        let media_buy = &buy.media_buy;
        let seed = seed_status_of(store, media_buy).await?;
        let live = media_buy.packages.iter().any(|p| package_status(media_buy, p, as_of) == "delivering");
        let status = match seed {
            SeedStatus::Active | SeedStatus::Scheduled if live => "delivering",
            SeedStatus::Active | SeedStatus::Scheduled => "scheduled",
            other => other.as_str(),
        };
        let planned: f64 = buy.packages.iter().map(|p| p.package.impressions).sum();
        let expected: f64 = buy
            .packages
            .iter()
            .map(|p| p.package.impressions / p.pacing_index.filter(|i| *i > 0.0).unwrap_or(1.0))
            .sum();
        let started = !matches!(status, "pending_activation" | "scheduled") || buy.totals.impressions > 0.0;
        let pacing = if !started || as_of < media_buy.start_time || planned <= 0.0 {
            pacing_label(None)
        } else {
            pacing_label(Some(if expected > 0.0 { planned / expected } else { 1.0 }))
        };
        let days =
            |from: DateTime<Utc>, to: DateTime<Utc>| ((to - from).num_seconds().max(0) as f64 / 86_400.0).ceil() as i64;
        deliveries.push(DeliverySummary {
            media_buy_id: media_buy.media_buy_id.clone(),
            principal_id: media_buy.principal_id.clone(),
            status,
            spend: (buy.totals.spend * 100.0).round() / 100.0,
            impressions: buy.totals.impressions.round().max(0.0) as u64,
            pacing,
            days_elapsed: days(media_buy.start_time, as_of.min(media_buy.end_time)),
            total_days: days(media_buy.start_time, media_buy.end_time),
        });
    }
    // A fold from +0.0: an empty f64 sum is -0.0.
    let total_spend = (deliveries.iter().fold(0.0, |sum, d| sum + d.spend) * 100.0).round() / 100.0;
    let total_impressions = deliveries.iter().map(|d| d.impressions).sum();
    let active_count = deliveries.iter().filter(|d| d.status == "delivering").count();
    Ok(AllDelivery {
        deliveries,
        total_spend,
        total_impressions,
        active_count,
        summary_date,
        currency: report.currency,
    })
}

/// What kind of creative a format takes, in the seed's words (`video`, `audio`, `display`).
pub fn media_kind(format: &Format) -> &'static str {
    if format.assets.iter().any(|a| matches!(a.asset_type, AssetType::Video | AssetType::Vast)) {
        "video"
    } else if format.assets.iter().any(|a| matches!(a.asset_type, AssetType::Audio | AssetType::Daast)) {
        "audio"
    } else if format.assets.iter().all(|a| matches!(a.asset_type, AssetType::Text | AssetType::Url))
        && !format.assets.is_empty()
    {
        "native"
    } else {
        "display"
    }
}

/// The kinds of creative a product takes, in the order of its formats.
pub fn product_kinds(catalog: &Catalog, product: &Product) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for kind in product.format_ids.iter().filter_map(|id| catalog.format(id)).map(media_kind) {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}

/// The targeting families a product's buyer can use (seed `targeting_available`).
pub fn targeting_available(product: &Product) -> Vec<&'static str> {
    let mut families =
        vec!["geography", "language", "frequency", "device_types", "operating_systems", "property_lists"];
    if product.channels.iter().any(|c| has_collections(*c)) {
        families.push("content_collections");
    }
    families
}

/// The CPM a fixed-price product sells at, or the range an auction product clears in.
pub fn cpm_range(product: &Product) -> Option<(f64, f64)> {
    let cpm: Vec<&PricingOption> =
        product.pricing_options.iter().filter(|o| o.pricing_model == PricingModel::Cpm).collect();
    let low = cpm.iter().filter_map(|o| o.fixed_price.or(o.floor_price)).fold(f64::INFINITY, f64::min);
    let high = cpm
        .iter()
        .filter_map(|o| {
            o.fixed_price
                .or_else(|| o.price_guidance.as_ref().and_then(|g| g.p90.or(g.p75).or(g.p50)))
                .or(o.floor_price)
        })
        .fold(f64::NEG_INFINITY, f64::max);
    (low.is_finite() && high.is_finite()).then_some((low, high.max(low)))
}

/// The lowest minimum spend of a product's pricing options.
pub fn min_spend(product: &Product) -> Option<f64> {
    product.pricing_options.iter().filter_map(|o| o.min_spend_per_package).reduce(f64::min)
}

/// Seed 001 `list_products` filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedFilters {
    pub delivery_type: Option<DeliveryType>,
    pub is_fixed_price: Option<bool>,
    /// Creative kinds (`video`, `display`, ...) or format ids; a product matches with any.
    pub formats: Vec<String>,
    /// Creative kinds; a product matches with any.
    pub creative_types: Vec<String>,
}

/// Products for a brief (ranked, with reasons) or the whole catalog, through 3.0 discovery.
///
/// # Errors
/// `InvalidRequest` for an empty brief.
pub async fn find_products(
    catalog: &Catalog,
    ranker: &dyn Ranker,
    records: Arc<HashMap<String, ProductRecord>>,
    brief: Option<&str>,
    filters: &SeedFilters,
) -> Result<Vec<ProductMatch>, Error> {
    let mode = match brief {
        Some(brief) => BuyingMode::Brief(brief.to_owned()),
        None => BuyingMode::Wholesale,
    };
    let mut query = ProductQuery {
        mode,
        filters: ProductFilters {
            delivery_type: filters.delivery_type,
            is_fixed_price: filters.is_fixed_price,
            ..ProductFilters::default()
        },
        preferred_delivery_types: Vec::new(),
        page: PageParams { cursor: None, max_results: Some(MAX_PAGE_SIZE) },
        records,
    };
    let mut found = Vec::new();
    loop {
        let answer = discovery::find_products(catalog, ranker, &query).await?;
        found.extend(answer.products.items);
        match answer.products.next_cursor {
            Some(cursor) => query.page.cursor = Some(cursor),
            None => break,
        }
    }
    let wants = |list: &[String], product: &Product| {
        list.is_empty()
            || product_kinds(catalog, product).iter().any(|kind| list.iter().any(|w| w.eq_ignore_ascii_case(kind)))
            || product.format_ids.iter().any(|id| list.contains(&id.id))
    };
    found.retain(|m| wants(&filters.formats, &m.product) && wants(&filters.creative_types, &m.product));
    Ok(found)
}

/// Most products `discover_products` recommends.
pub const MAX_RECOMMENDATIONS: usize = 10;

/// `discover_products`: the products that fit a campaign brief, best first, each with the
/// brief's signals it matches. A brief too short to read is refused.
///
/// # Errors
/// `InvalidRequest` on `campaign_brief` when it is too vague to rank by.
pub async fn discover_products(
    catalog: &Catalog,
    ranker: &dyn Ranker,
    records: Arc<HashMap<String, ProductRecord>>,
    brief: &str,
) -> Result<Vec<ProductMatch>, Error> {
    let signals = BriefSignals::parse(brief);
    if brief.split_whitespace().count() < 3 || signals.terms.len() + signals.channels.len() < 2 {
        return Err(Error::invalid_with(
            "campaign_brief",
            "the brief is too vague to recommend products",
            "describe the audience, channel, geography and budget, e.g. \"video ads reaching pet owners in California, $50,000\"",
        ));
    }
    let mut found = find_products(catalog, ranker, records, Some(brief), &SeedFilters::default()).await?;
    found.retain(|m| m.relevance.as_ref().is_some_and(|r| r.score > 0.0 && !r.reasons.is_empty()));
    found.truncate(MAX_RECOMMENDATIONS);
    Ok(found)
}

/// `get_creatives`: the principal's creatives, optionally those assigned to one buy, with one
/// status, or of one kind (`video`, `display`, ...) or format id.
///
/// # Errors
/// Storage.
pub async fn get_creatives<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: Option<&str>,
    status: Option<CreativeStatus>,
    format: Option<&str>,
) -> Result<Vec<ListedCreative>, Error> {
    let mut query = CreativeQuery {
        statuses: status.into_iter().collect(),
        creative_ids: Vec::new(),
        name_contains: None,
        tags: Vec::new(),
        tags_any: Vec::new(),
        format_ids: Vec::new(),
        media_buy_ids: media_buy_id.map(str::to_owned).into_iter().collect(),
        assigned_to_packages: Vec::new(),
        unassigned: None,
        sort: CreativeSort::CreatedDate,
        descending: false,
        page: PageParams { cursor: None, max_results: Some(MAX_PAGE_SIZE) },
    };
    let mut found = Vec::new();
    loop {
        let page = super::creatives::list_creatives(store, tenant, principal, &query).await?;
        found.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.page.cursor = Some(cursor),
            None => break,
        }
    }
    if let Some(format) = format {
        found.retain(|c| {
            c.creative.format_id.id == format
                || catalog.format(&c.creative.format_id).is_some_and(|f| media_kind(f).eq_ignore_ascii_case(format))
        });
    }
    Ok(found)
}

/// A seed channel name (`web`, `mobile_app`, `video`, `audio`) or an AdCP 3.0 channel.
pub fn parse_channel(name: &str) -> Option<Channel> {
    const SEED_CHANNELS: &[(&str, Channel)] = &[
        ("web", Channel::Display),
        ("mobile_app", Channel::Display),
        ("mobile_web", Channel::Display),
        ("mobile", Channel::Display),
        ("video", Channel::Olv),
        ("audio", Channel::StreamingAudio),
    ];
    let name = name.trim().to_ascii_lowercase();
    SEED_CHANNELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .or_else(|| super::catalog::ALL_CHANNELS.iter().copied().find(|c| c.as_str() == name))
}

/// One targeting or signal dimension (seed 001 `get_targeting_capabilities`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub key: String,
    pub display_name: String,
    pub description: String,
    /// `array`, `string`, `object`, `number`.
    pub data_type: &'static str,
    pub required: bool,
    /// The accepted values, when the set is closed.
    pub values: Option<Vec<&'static str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelCapabilities {
    pub channel: Channel,
    /// What a buyer may put in a package's targeting overlay.
    pub overlay_dimensions: Vec<Dimension>,
    /// What the publisher knows at each impression on this channel (the context its formats'
    /// macros are filled from).
    pub aee_dimensions: Option<Vec<Dimension>>,
}

/// Targeting overlay dimensions this seller honours (AdCP 3.0 `targeting_overlay` keys):
/// (key, display name, description, data type).
pub const OVERLAY_DIMENSIONS: &[(&str, &str, &str, &str)] = &[
    ("geo_countries", "Countries", "ISO 3166-1 alpha-2 countries to deliver in", "array"),
    ("geo_countries_exclude", "Excluded countries", "ISO 3166-1 alpha-2 countries to avoid", "array"),
    ("geo_regions", "Regions", "ISO 3166-2 regions (US-CA) to deliver in", "array"),
    ("geo_regions_exclude", "Excluded regions", "ISO 3166-2 regions to avoid", "array"),
    ("language", "Languages", "ISO 639-1 content languages", "array"),
    ("frequency_cap", "Frequency cap", "Impressions per user per period (suppress_minutes, max_impressions)", "object"),
    ("device_type", "Device types", "Devices to deliver on", "array"),
    ("device_type_exclude", "Excluded device types", "Devices to avoid", "array"),
    ("device_platform", "Operating systems", "Device platforms (ios, android, windows, macos, ...)", "array"),
    ("property_list", "Property list", "A buyer property list to restrict delivery to", "object"),
    ("collection_list", "Collection list", "Content collections (shows, series) to deliver in", "object"),
    ("collection_list_exclude", "Excluded collections", "Content collections to avoid", "object"),
];

/// Device types a channel delivers on (AdCP `enums/device-type.json`).
fn device_types(channel: Channel) -> Vec<&'static str> {
    match channel {
        Channel::Ctv | Channel::LinearTv => vec!["ctv"],
        Channel::Dooh => vec!["dooh"],
        Channel::Radio | Channel::StreamingAudio | Channel::Podcast => vec!["mobile", "desktop", "tablet"],
        _ => vec!["desktop", "mobile", "tablet"],
    }
}

/// Collections (shows, programs) exist on video and audio channels only.
fn has_collections(channel: Channel) -> bool {
    channel.plays()
}

/// The signals the publisher has at impression time on a channel: the context paths of the
/// macros that the channel's formats support, in path order.
pub fn signal_paths(catalog: &Catalog, channel: Channel) -> BTreeSet<&'static str> {
    let mut paths = BTreeSet::new();
    for product in catalog.products.iter().filter(|p| p.channels.contains(&channel)) {
        for format in product.format_ids.iter().filter_map(|id| catalog.format(id)) {
            for name in &format.supported_macros {
                if let Some(Filled::Context(path)) = macros::universal(name).map(|m| m.filled) {
                    paths.insert(path);
                }
            }
        }
    }
    paths
}

/// Seed 001's dimension names for impression signals, as the context paths they mean.
const SEED_SIGNAL_NAMES: &[(&str, &[&str])] = &[
    ("page_url", &["site.page"]),
    ("referrer", &["site.referrer"]),
    ("domain", &["site.domain"]),
    ("keywords", &["site.keywords"]),
    ("app_bundle", &["app.bundle"]),
    ("country", &["geo.country"]),
    ("region", &["geo.region"]),
    ("metro", &["geo.metro"]),
    ("city", &["geo.city"]),
    ("postal_code", &["geo.postal_code"]),
    ("lat_long", &["geo.lat", "geo.long"]),
    ("device_type", &["device.type"]),
    ("os", &["device.os"]),
    ("browser", &["device.user_agent"]),
    ("user_ids", &["device.ifa"]),
    ("genre", &["content.genre"]),
    ("content_rating", &["content.rating"]),
    ("content_duration", &["content.duration"]),
    ("content_ids", &["content.id"]),
    ("show_name", &["content.title"]),
    ("show_metadata", &["content.title", "content.genre", "content.rating"]),
    ("channel_network", &["content.station_id"]),
    ("content_categories", &["content.category"]),
    ("player_size", &["player.width", "player.height"]),
    ("pod_position", &["pod.position"]),
];

/// The context paths a seed signal name (or a path itself) stands for.
fn signal_meaning(name: &str) -> Option<Vec<&'static str>> {
    if let Some((_, paths)) = SEED_SIGNAL_NAMES.iter().find(|(n, _)| *n == name) {
        return Some(paths.to_vec());
    }
    macros::UNIVERSAL.iter().find_map(|m| match m.filled {
        Filled::Context(path) if path == name => Some(vec![path]),
        _ => None,
    })
}

/// The seed names and context paths available on a channel.
pub fn available_signals(catalog: &Catalog, channel: Channel) -> Vec<String> {
    let paths = signal_paths(catalog, channel);
    let mut names: Vec<String> = SEED_SIGNAL_NAMES
        .iter()
        .filter(|(_, needs)| needs.iter().all(|p| paths.contains(p)))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    names.extend(paths.iter().map(|p| (*p).to_owned()));
    names
}

/// Targeting and signal dimensions for the given channels (all the catalog sells when empty).
///
/// # Errors
/// `InvalidRequest` for a channel this publisher does not sell.
pub fn targeting_capabilities(
    catalog: &Catalog,
    channels: &[Channel],
    include_signals: bool,
) -> Result<Vec<ChannelCapabilities>, Error> {
    let sold: BTreeSet<Channel> = catalog.products.iter().flat_map(|p| p.channels.iter().copied()).collect();
    for (index, channel) in channels.iter().enumerate() {
        if !sold.contains(channel) {
            return Err(Error::invalid_with(
                format!("channels[{index}]"),
                format!("this publisher sells no {} inventory", channel.as_str()),
                format!("use one of {}", sold.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")),
            ));
        }
    }
    let wanted: Vec<Channel> = if channels.is_empty() { sold.into_iter().collect() } else { channels.to_vec() };
    Ok(wanted
        .into_iter()
        .map(|channel| {
            let overlay_dimensions = OVERLAY_DIMENSIONS
                .iter()
                .filter(|(key, ..)| has_collections(channel) || !key.starts_with("collection_list"))
                .map(|&(key, name, description, data_type)| Dimension {
                    key: key.to_owned(),
                    display_name: name.to_owned(),
                    description: description.to_owned(),
                    data_type,
                    required: false,
                    values: key.starts_with("device_type").then(|| device_types(channel)),
                })
                .collect();
            let aee_dimensions = include_signals.then(|| {
                signal_paths(catalog, channel)
                    .into_iter()
                    .map(|path| Dimension {
                        key: path.to_owned(),
                        display_name: path.replace(['.', '_'], " "),
                        description: signal_description(path),
                        data_type: "string",
                        required: false,
                        values: None,
                    })
                    .collect()
            });
            ChannelCapabilities { channel, overlay_dimensions, aee_dimensions }
        })
        .collect())
}

fn signal_description(path: &str) -> String {
    macros::UNIVERSAL
        .iter()
        .find(|m| matches!(m.filled, Filled::Context(p) if p == path))
        .map_or_else(|| format!("impression context {path}"), |m| m.description.to_owned())
}

/// `check_aee_requirements`: whether the publisher can provide every required signal.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalCheck {
    pub supported: bool,
    pub missing_dimensions: Vec<String>,
    pub available_dimensions: Vec<String>,
}

/// # Errors
/// `InvalidRequest` for a channel this publisher does not sell or an empty requirement.
pub fn check_signals(catalog: &Catalog, channel: Channel, required: &[String]) -> Result<SignalCheck, Error> {
    if !catalog.products.iter().any(|p| p.channels.contains(&channel)) {
        return Err(Error::invalid_with(
            "channel",
            format!("this publisher sells no {} inventory", channel.as_str()),
            "call get_targeting_capabilities for the channels it sells",
        ));
    }
    let paths = signal_paths(catalog, channel);
    let missing_dimensions: Vec<String> = required
        .iter()
        .filter(|name| match signal_meaning(name) {
            Some(needs) => !needs.iter().all(|p| paths.contains(p)),
            None => true,
        })
        .cloned()
        .collect();
    Ok(SignalCheck {
        supported: missing_dimensions.is_empty(),
        missing_dimensions,
        available_dimensions: available_signals(catalog, channel),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::booking::Booking;
    use crate::core::media_buy::fixtures;

    fn buy(status: MediaBuyStatus) -> MediaBuy {
        fixtures::buy(status, 30, vec![])
    }

    #[test]
    fn a_new_total_budget_is_shared_by_the_packages_given_none() {
        let mut seed = buy(MediaBuyStatus::Active);
        seed.packages = vec![
            fixtures::package("ctv", 34_615.35, 30),
            fixtures::package("audio", 15_625.0, 30),
            fixtures::package("display", 5_000.0, 30),
        ];
        // Seed 001's example: the total is 75,000 and the CTV package is given 45,000.
        let shares = spread(&seed, 75_000.0, &[("ctv".into(), 45_000.0)]).unwrap();
        assert_eq!(shares, vec![("audio".to_owned(), 22_727.27), ("display".to_owned(), 7_272.73)]);
        assert_eq!(shares.iter().map(|(_, b)| b).sum::<f64>() + 45_000.0, 75_000.0);
        let all: Vec<(String, f64)> = vec![("ctv".into(), 1.0), ("audio".into(), 1.0), ("display".into(), 1.0)];
        assert!(spread(&seed, 3.0, &all).unwrap().is_empty());
        assert!(matches!(spread(&seed, 4.0, &all), Err(Error::InvalidRequest { .. })));
        assert!(matches!(spread(&seed, 40_000.0, &[("ctv".into(), 45_000.0)]), Err(Error::InvalidRequest { .. })));
    }

    fn booking(order: Option<&str>, failed: bool) -> BookingRecord {
        BookingRecord {
            tenant_id: "t".into(),
            media_buy_id: "mb_1".into(),
            wanted_revision: 1,
            synced_revision: 0,
            booking: Booking { order_id: order.map(str::to_owned), ..Booking::default() },
            attempts: 0,
            next_attempt_at: Utc::now(),
            last_error: None,
            failed,
            leased_until: None,
            platform: None,
            delivery_as_of: None,
        }
    }

    #[test]
    fn seed_statuses_follow_the_table() {
        use MediaBuyStatus::*;
        let booked = booking(Some("o1"), false);
        let cases = [
            (Rejected, None, Some(&booked), SeedStatus::Failed),
            (Canceled, None, None, SeedStatus::Canceled),
            (Completed, Some(AccountStatus::Suspended), None, SeedStatus::Completed),
            (Active, Some(AccountStatus::Suspended), Some(&booked), SeedStatus::PendingPermission),
            (PendingStart, Some(AccountStatus::PaymentRequired), None, SeedStatus::PendingPermission),
            (Paused, Some(AccountStatus::Active), Some(&booked), SeedStatus::Paused),
            (PendingCreatives, None, None, SeedStatus::PendingActivation),
            (PendingStart, None, Some(&booked), SeedStatus::Scheduled),
            (Active, None, Some(&booked), SeedStatus::Active),
            (Active, None, None, SeedStatus::Active),
        ];
        for (status, account, booking, want) in cases {
            assert_eq!(buy_status(&buy(status), account, booking), want, "{status:?} {account:?}");
        }
        let unbooked = booking(None, false);
        assert_eq!(buy_status(&buy(PendingStart), None, Some(&unbooked)), SeedStatus::PendingApproval);
        let refused = booking(Some("o1"), true);
        assert_eq!(buy_status(&buy(Active), None, Some(&refused)), SeedStatus::Failed);
    }

    #[test]
    fn pacing_words() {
        assert_eq!(pacing_label(None), "not_started");
        assert_eq!(pacing_label(Some(1.0)), "on_track");
        assert_eq!(pacing_label(Some(0.9)), "slightly_behind");
        assert_eq!(pacing_label(Some(0.5)), "behind");
        assert_eq!(pacing_label(Some(1.3)), "ahead");
    }

    #[test]
    fn seed_signal_names_mean_paths() {
        assert_eq!(signal_meaning("page_url"), Some(vec!["site.page"]));
        assert_eq!(signal_meaning("geo.city"), Some(vec!["geo.city"]));
        assert_eq!(signal_meaning("iris_id"), None);
    }
}
