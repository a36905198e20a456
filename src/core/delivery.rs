//! Delivery reporting (AdCP `get_media_buy_delivery`): what each package delivered, as the ad
//! server reports it, with pacing and projections computed here.
//!
//! The ad server is a port ([`AdServer`]); core gives it each package with the intervals in which
//! the package could deliver (flight, creatives assigned, not paused, not canceled), derived from
//! the buy's history, and asks for cumulative totals per UTC day.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::accounts::AccountRef;
use super::booking::{Booker, Booking};
use super::catalog::{Catalog, Channel, PricingModel};
use super::error::Error;
use super::media_buy::{MediaBuy, MediaBuyStatus, Pacing, Package};
use super::ports::{HistoryEntry, PageRequest, Store};
use super::reconcile::PlatformStatus;
use super::tenancy::{Principal, Tenant};

/// Metrics of one package over some time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub impressions: f64,
    pub spend: f64,
    pub clicks: f64,
    pub completed_views: f64,
}

impl Metrics {
    pub fn minus(&self, other: &Metrics) -> Metrics {
        Metrics {
            impressions: self.impressions - other.impressions,
            spend: self.spend - other.spend,
            clicks: self.clicks - other.clicks,
            completed_views: self.completed_views - other.completed_views,
        }
    }

    pub fn plus(&self, other: &Metrics) -> Metrics {
        Metrics {
            impressions: self.impressions + other.impressions,
            spend: self.spend + other.spend,
            clicks: self.clicks + other.clicks,
            completed_views: self.completed_views + other.completed_views,
        }
    }
}

/// One package as the ad server needs it to report.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageLine {
    pub media_buy_id: String,
    pub package: Package,
    pub channel: Option<Channel>,
    /// Half-open intervals in which the package could deliver.
    pub live: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The buy reached a terminal state: nothing more will deliver.
    pub ended: bool,
}

/// One day of one booked line as the platform reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedDay {
    pub package_id: String,
    /// When the day began, in the platform's reporting time zone.
    pub from: DateTime<Utc>,
    pub metrics: Metrics,
}

/// What a platform reported for a booked order: its lines' days from `since` (when the first
/// day the report covers began) on; the days stored from `since` on are replaced by these.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    pub since: DateTime<Utc>,
    pub days: Vec<ReportedDay>,
}

/// One report of a booked order to ask a real ad server for.
#[derive(Debug, Clone, Copy)]
pub struct ReportRequest<'a> {
    pub booking: &'a Booking,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Some package is video or audio: completed views are asked for too.
    pub video: bool,
}

/// Cumulative delivery at each instant from daily figures: the days that began before it
/// (platforms report whole days; the current one counts as far as it went), and nothing at or
/// before the line's `start` (a line started mid-day delivered none of that day before it).
pub fn cumulative_by_day(
    days: &[(DateTime<Utc>, Metrics)],
    start: DateTime<Utc>,
    instants: &[DateTime<Utc>],
) -> Cumulative {
    instants
        .iter()
        .map(|at| {
            days.iter().filter(|(from, _)| from < at && start < *at).fold(Metrics::default(), |sum, (_, m)| sum.plus(m))
        })
        .collect()
}

/// Cumulative delivery of a package at each requested instant.
pub type Cumulative = Vec<Metrics>;

pub use super::booking::AdServerError;

/// The ad server behind this seller (mock, Google Ad Manager, Kevel, Triton): it books buys
/// ([`Booker`], driven by the booking outbox) and reports their delivery.
pub trait AdServer: Booker {
    fn name(&self) -> &'static str;

    /// A real platform (not the in-process mock): it keeps state of its own, which
    /// reconciliation reads back (`status`, `reported`) and stores; delivery is then read from
    /// what was stored, never from the platform on a buyer's request.
    fn remote(&self) -> bool {
        false
    }

    /// The booked order and its lines as the platform has them at `now`, normalized by the
    /// platform's table; `None` before the order exists.
    fn status<'a>(
        &'a self,
        _booking: &'a Booking,
        _now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<PlatformStatus>, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// What the platform reports the booked lines delivered each day over the request's window,
    /// in one report for the order; `None` when nothing was asked (nothing booked, dry-run).
    fn reported<'a>(
        &'a self,
        _request: ReportRequest<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Reported>, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Cumulative delivery of `line` at each of `instants` (ascending), asked of an in-process
    /// ad server; a remote one's is read from the reports reconciliation stored.
    fn delivered<'a>(
        &'a self,
        _line: &'a PackageLine,
        _instants: &'a [DateTime<Utc>],
    ) -> Pin<Box<dyn Future<Output = Result<Cumulative, AdServerError>> + Send + 'a>> {
        let name = self.name();
        Box::pin(std::future::ready(Err(AdServerError::Permanent(format!(
            "{name}: delivery is read from the reports reconciliation stores"
        )))))
    }

    /// How many impressions of a product the targeting could still buy over a window, after
    /// what is already booked (GAM's availability forecast; seed `get_avails`).
    fn forecast<'a>(
        &'a self,
        request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>>;
}

/// The targeting a forecast narrows by: the seed overlay's dimensions (`geo_country_any_of`,
/// `geo_region_any_of`, ...), as lists of values; empty means not targeted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForecastTargeting {
    pub countries: Vec<String>,
    pub regions: Vec<String>,
    pub metros: Vec<String>,
    pub cities: Vec<String>,
    pub postal_codes: Vec<String>,
    pub device_types: Vec<String>,
    pub operating_systems: Vec<String>,
    pub languages: Vec<String>,
    pub audience_segments: Vec<String>,
    /// How many exclusion lists (`..._none_of`) the targeting has.
    pub exclusions: usize,
}

/// A prospective line for an availability forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRequest {
    pub product_id: String,
    pub channel: Option<Channel>,
    /// The product's typical deliverable impressions per day, from the catalog.
    pub daily_impressions: Option<u64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub targeting: ForecastTargeting,
    /// The same targeting as the AdCP overlay a booked line would carry (JSON text), for ad
    /// servers that forecast the line they would book.
    pub overlay: Option<String>,
    /// The product's formats (creative sizes on ad servers that size lines).
    pub formats: Vec<super::catalog::FormatId>,
}

/// What a forecast answers: the impressions the targeting reaches over the window (`matched`)
/// and those of them not yet sold (`available`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    pub matched: u64,
    pub available: u64,
}

impl Forecast {
    /// The share of the matched inventory still unsold (the seed's `availability`).
    pub fn availability(&self) -> f64 {
        if self.matched == 0 { 0.0 } else { (self.available as f64 / self.matched as f64).clamp(0.0, 1.0) }
    }
}

/// When each package could deliver, from the buy's history as the store returns it (newest
/// first; the entries of one instant keep their recorded order).
pub fn live_intervals(
    buy: &MediaBuy,
    package: &Package,
    history: &[HistoryEntry],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut events: Vec<&HistoryEntry> = history.iter().rev().collect();
    events.sort_by(|a, b| a.at.cmp(&b.at).then(a.revision.cmp(&b.revision)));
    let mut intervals = Vec::new();
    let mut creatives = false;
    let mut buy_paused = false;
    let mut package_paused = false;
    let mut ended = false;
    let mut since: Option<DateTime<Utc>> = None;
    let mut apply =
        |at: DateTime<Utc>, creatives: bool, paused: bool, ended: bool, since: &mut Option<DateTime<Utc>>| {
            let live = creatives && !paused && !ended;
            match (live, *since) {
                (true, None) => *since = Some(at),
                (false, Some(start)) => {
                    intervals.push((start, at));
                    *since = None;
                }
                _ => {}
            }
        };
    for entry in events {
        let mine = entry.package_id.as_deref().is_none_or(|p| p == package.package_id);
        if !mine {
            continue;
        }
        match entry.action.as_str() {
            "creatives_assigned" => creatives = true,
            "creatives_unassigned" => creatives = false,
            "paused" => buy_paused = true,
            "resumed" => buy_paused = false,
            "package_paused" => package_paused = true,
            "package_resumed" => package_paused = false,
            "canceled" | "package_canceled" | "completed" | "rejected" => ended = true,
            _ => {}
        }
        apply(entry.at, creatives, buy_paused || package_paused, ended, &mut since);
    }
    if let Some(start) = since {
        intervals.push((start, DateTime::<Utc>::MAX_UTC));
    }
    // Clip to the package's flight.
    intervals
        .into_iter()
        .filter_map(|(a, b)| {
            let (a, b) = (a.max(package.start_time).max(buy.start_time), b.min(package.end_time).min(buy.end_time));
            (a < b).then_some((a, b))
        })
        .collect()
}

/// Fraction of the goal delivered after `live` of `planned` seconds, by pacing.
pub fn paced_fraction(pacing: Pacing, live: f64, planned: f64) -> f64 {
    if planned <= 0.0 {
        return 0.0;
    }
    let x = (live / planned).clamp(0.0, 1.0);
    match pacing {
        Pacing::Even => x,
        Pacing::Asap => (2.0 * x).min(1.0),
        Pacing::FrontLoaded => 1.0 - (1.0 - x) * (1.0 - x),
    }
}

/// Spend for delivered units under a pricing model, never above the budget.
pub fn spend_for(model: PricingModel, rate: f64, budget: f64, metrics: &Metrics, fraction_of_flight: f64) -> f64 {
    let spend = match model {
        PricingModel::Cpm | PricingModel::Vcpm => metrics.impressions / 1000.0 * rate,
        PricingModel::Cpc => metrics.clicks * rate,
        PricingModel::Cpcv => metrics.completed_views * rate,
        PricingModel::FlatRate => budget * fraction_of_flight,
    };
    (spend.min(budget) * 100.0).round() / 100.0
}

/// What a buyer asks to see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryQuery {
    pub account: Option<AccountRef>,
    pub media_buy_ids: Vec<String>,
    pub statuses: Option<Vec<MediaBuyStatus>>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// Delivery of one package over the reporting period.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageReport {
    pub package: Package,
    pub totals: Metrics,
    pub daily: Vec<(NaiveDate, Metrics)>,
    /// Delivered impressions over what even delivery would have reached by now.
    pub pacing_index: Option<f64>,
    pub delivery_status: &'static str,
    pub projected_spend: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuyReport {
    pub media_buy: MediaBuy,
    pub packages: Vec<PackageReport>,
    pub totals: Metrics,
    pub daily: Vec<(NaiveDate, Metrics)>,
    /// When reconciliation last read a real ad server's report of the buy (`None`: not yet, or
    /// an in-process ad server that reports live).
    pub reported_as_of: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub period: (DateTime<Utc>, DateTime<Utc>),
    pub currency: String,
    pub buys: Vec<BuyReport>,
    /// The real ad server the figures were read back from, if any.
    pub ad_server: Option<&'static str>,
}

/// Most buys one report covers; callers page with media_buy_ids beyond that.
pub const MAX_BUYS_PER_REPORT: usize = 100;

/// Reports delivery for the principal's buys: the given ids (any status), or every buy with the
/// requested statuses (default: active, paused and completed, the buys that have delivery), over
/// [start_date, end_date] or the flights so far.
///
/// # Errors
/// Bad dates, account resolution, storage, an ad server that cannot report.
pub async fn get_media_buy_delivery<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    query: &DeliveryQuery,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, Error> {
    if let (Some(start), Some(end)) = (query.start_date, query.end_date)
        && end < start
    {
        return Err(Error::invalid("end_date", "end_date is before start_date"));
    }
    let filter = super::buying::buy_filter(
        store,
        tenant,
        principal,
        query.account.as_ref(),
        &query.media_buy_ids,
        query.statuses.as_deref(),
        &[MediaBuyStatus::Active, MediaBuyStatus::Paused, MediaBuyStatus::Completed],
        now,
    )
    .await?;
    let buys = store.list_media_buys(&filter, &PageRequest { after: None, limit: MAX_BUYS_PER_REPORT }).await?;
    let day_start = |date: NaiveDate| Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default());
    let period_start = query
        .start_date
        .map(day_start)
        .unwrap_or_else(|| buys.iter().map(|b| b.start_time).min().unwrap_or(now).min(now));
    let period_end = query.end_date.map(|d| day_start(d) + Duration::days(1)).unwrap_or(now).min(now).max(period_start);
    report_buys(store, ad_server, catalog, tenant, buys, period_start, period_end, now).await
}

/// The delivery of `buys` over [`period_start`, `period_end`) as the ad server reports it at
/// `now` (what `get_media_buy_delivery` and reporting webhooks show).
///
/// # Errors
/// Storage or ad-server failures.
#[allow(clippy::too_many_arguments)]
pub async fn report_buys<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    buys: Vec<MediaBuy>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, Error> {
    // A sandbox's simulated delivery (comply_test_controller) counts once it was recorded.
    let simulated = if tenant.sandbox && !buys.is_empty() {
        let ids: Vec<String> = buys.iter().map(|b| b.media_buy_id.clone()).collect();
        store.simulated_delivery(&tenant.tenant_id, &ids).await?
    } else {
        Vec::new()
    };
    // Real ad servers' delivery is what reconciliation stored, as of its last read.
    let ids: Vec<String> = buys.iter().map(|b| b.media_buy_id.clone()).collect();
    let stored = stored_days(store, ad_server, &tenant.tenant_id, &ids).await?;
    let as_of =
        if ad_server.remote() && !ids.is_empty() { store.bookings(&tenant.tenant_id, &ids).await? } else { Vec::new() };
    let instants = report_instants(period_start, period_end, now);
    let mut reports = Vec::with_capacity(buys.len());
    for buy in buys {
        let history = store.media_buy_history(&buy.media_buy_id, 10_000).await?;
        let mut packages = Vec::with_capacity(buy.packages.len());
        for package in &buy.packages {
            let channel = catalog.product(&package.product_id).and_then(|p| p.channels.first().copied());
            let line = PackageLine {
                media_buy_id: buy.media_buy_id.clone(),
                package: package.clone(),
                channel,
                live: live_intervals(&buy, package, &history),
                ended: buy.status.is_terminal(),
            };
            let cumulative = cumulative(ad_server, &stored, &line, &instants).await?;
            packages.push(report_package(&line, &instants, cumulative, now));
        }
        if let Some(extra) = simulated.iter().find(|d| d.media_buy_id == buy.media_buy_id)
            && (period_start..=period_end).contains(&extra.recorded_at)
        {
            add_simulated(&mut packages, extra);
        }
        let totals = packages.iter().fold(Metrics::default(), |sum, p| sum.plus(&p.totals));
        let mut daily: Vec<(NaiveDate, Metrics)> = Vec::new();
        for package in &packages {
            for (date, metrics) in &package.daily {
                match daily.iter_mut().find(|(d, _)| d == date) {
                    Some((_, sum)) => *sum = sum.plus(metrics),
                    None => daily.push((*date, *metrics)),
                }
            }
        }
        daily.sort_by_key(|(date, _)| *date);
        let reported_as_of = as_of.iter().find(|r| r.media_buy_id == buy.media_buy_id).and_then(|r| r.delivery_as_of);
        reports.push(BuyReport { media_buy: buy, packages, totals, daily, reported_as_of });
    }
    let currency = reports.first().map_or_else(
        || {
            catalog
                .products
                .first()
                .and_then(|p| p.pricing_options.first())
                .map_or("USD".to_owned(), |o| o.currency.clone())
        },
        |r| r.media_buy.currency.clone(),
    );
    let ad_server = ad_server.remote().then(|| ad_server.name());
    Ok(DeliveryReport { period: (period_start, period_end), currency, buys: reports, ad_server })
}

/// Shares simulated delivery among the packages in proportion to their budgets (evenly when
/// they have none), as delivered on the day it was recorded.
fn add_simulated(packages: &mut [PackageReport], extra: &super::sandbox::SimulatedDelivery) {
    let total_budget: f64 = packages.iter().map(|p| p.package.budget).sum();
    let count = packages.len() as f64;
    for report in packages.iter_mut() {
        let share = if total_budget > 0.0 { report.package.budget / total_budget } else { 1.0 / count };
        let metrics = Metrics {
            impressions: (extra.impressions * share).round(),
            spend: (extra.spend * share * 100.0).round() / 100.0,
            clicks: (extra.clicks * share).round(),
            completed_views: 0.0,
        };
        report.totals = report.totals.plus(&metrics);
        let day = extra.recorded_at.date_naive();
        match report.daily.iter_mut().find(|(d, _)| *d == day) {
            Some((_, sum)) => *sum = sum.plus(&metrics),
            None => {
                report.daily.push((day, metrics));
                report.daily.sort_by_key(|(d, _)| *d);
            }
        }
    }
}

/// The instants a report reads cumulative delivery at: the period's start, each UTC midnight
/// inside it, its end, then now (for pacing and status).
fn report_instants(from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut instants = vec![from];
    let mut day =
        Utc.from_utc_datetime(&from.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default()) + Duration::days(1);
    while day < to {
        instants.push(day);
        day += Duration::days(1);
    }
    instants.push(to);
    instants.push(now);
    instants
}

/// The days reconciliation stored for `media_buy_ids` when the ad server is a real one (one
/// read); none otherwise.
///
/// # Errors
/// Storage.
pub(crate) async fn stored_days<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    tenant_id: &str,
    media_buy_ids: &[String],
) -> Result<Vec<(String, ReportedDay)>, Error> {
    if !ad_server.remote() || media_buy_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.platform_delivery(tenant_id, media_buy_ids).await?)
}

/// Cumulative delivery of `line` at each of `instants`: a real ad server's from the days
/// reconciliation stored (`stored`, see [`stored_days`]), an in-process one's asked of it.
///
/// # Errors
/// An in-process ad server that cannot report.
pub(crate) async fn cumulative(
    ad_server: &dyn AdServer,
    stored: &[(String, ReportedDay)],
    line: &PackageLine,
    instants: &[DateTime<Utc>],
) -> Result<Cumulative, Error> {
    if ad_server.remote() {
        let days: Vec<(DateTime<Utc>, Metrics)> = stored
            .iter()
            .filter(|(buy, day)| *buy == line.media_buy_id && day.package_id == line.package.package_id)
            .map(|(_, day)| (day.from, day.metrics))
            .collect();
        return Ok(cumulative_by_day(&days, line.package.start_time, instants));
    }
    ad_server.delivered(line, instants).await.map_err(|e| Error::AdServerUnavailable(e.to_string()))
}

/// A package's report from its cumulative delivery at [`report_instants`].
fn report_package(
    line: &PackageLine,
    instants: &[DateTime<Utc>],
    mut cumulative: Cumulative,
    now: DateTime<Utc>,
) -> PackageReport {
    let package = &line.package;
    let instants = &instants[..instants.len().saturating_sub(1)];
    let delivered_now = cumulative.pop().unwrap_or_default();
    let totals = cumulative.last().copied().unwrap_or_default().minus(&cumulative.first().copied().unwrap_or_default());
    let daily: Vec<(NaiveDate, Metrics)> = instants
        .windows(2)
        .zip(cumulative.windows(2))
        .map(|(at, metrics)| (at[0].date_naive(), metrics[1].minus(&metrics[0])))
        .filter(|(_, m)| m.impressions > 0.0 || m.spend > 0.0)
        .collect();
    let planned = (package.end_time - package.start_time).num_seconds() as f64;
    let elapsed = (now.min(package.end_time) - package.start_time).num_seconds().max(0) as f64;
    let expected = package.impressions * if planned > 0.0 { elapsed / planned } else { 0.0 };
    // Before anything was due the package is on track by definition.
    let pacing_index =
        Some(if expected > 0.0 { ((delivered_now.impressions / expected) * 1000.0).round() / 1000.0 } else { 1.0 });
    let delivery_status = if package.is_canceled() || line.ended {
        "completed"
    } else if delivered_now.spend >= package.budget - 0.005 {
        "budget_exhausted"
    } else if now >= package.end_time {
        "flight_ended"
    } else if package.impressions > 0.0 && delivered_now.impressions >= package.impressions {
        "goal_met"
    } else {
        "delivering"
    };
    let projected_spend = if elapsed > 0.0 && now < package.end_time && !package.is_canceled() && !line.ended {
        (delivered_now.spend * planned / elapsed).min(package.budget)
    } else {
        delivered_now.spend
    };
    PackageReport {
        package: package.clone(),
        totals,
        daily,
        pacing_index,
        delivery_status,
        projected_spend: (projected_spend * 100.0).round() / 100.0,
    }
}
