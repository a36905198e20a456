//! Media buys and packages: the state machine of AdCP 3.0 (DIGEST §5.1, §5.2), the rules a new
//! buy must satisfy against the catalog, and the changes an update may make.
//!
//! The transition function is total over (state, event) with no wildcard arm, so a new state or
//! event does not compile until every combination is decided.

use chrono::{DateTime, Duration, Utc};

use super::accounts::AccountRef;
use super::catalog::{Catalog, Channel, FormatId, PricingModel, PricingOption, Product};
use super::discovery::same_format;
use super::error::Error;
use super::webhook::Webhook;

/// AdCP `enums/media-buy-status.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaBuyStatus {
    PendingCreatives,
    PendingStart,
    Active,
    Paused,
    Completed,
    Rejected,
    Canceled,
}

impl MediaBuyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaBuyStatus::PendingCreatives => "pending_creatives",
            MediaBuyStatus::PendingStart => "pending_start",
            MediaBuyStatus::Active => "active",
            MediaBuyStatus::Paused => "paused",
            MediaBuyStatus::Completed => "completed",
            MediaBuyStatus::Rejected => "rejected",
            MediaBuyStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<MediaBuyStatus> {
        ALL_STATUSES.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, MediaBuyStatus::Completed | MediaBuyStatus::Rejected | MediaBuyStatus::Canceled)
    }
}

pub const ALL_STATUSES: [MediaBuyStatus; 7] = [
    MediaBuyStatus::PendingCreatives,
    MediaBuyStatus::PendingStart,
    MediaBuyStatus::Active,
    MediaBuyStatus::Paused,
    MediaBuyStatus::Completed,
    MediaBuyStatus::Rejected,
    MediaBuyStatus::Canceled,
];

/// What can happen to a buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Creatives are now assigned to the buy; a buy whose flight already started goes live.
    CreativesReady { flight_started: bool },
    /// The flight start time has passed.
    FlightStarted,
    /// Buyer pauses.
    Pause,
    /// Buyer resumes. The spec graph has one resume edge, paused → active, whatever the
    /// flight and creatives; a resumed buy without creatives is active but delivers nothing.
    Resume,
    /// The flight end time has passed, or the goal or budget is reached.
    Finished,
    /// Buyer or seller cancels.
    Cancel,
    /// Seller declines during setup.
    Reject,
}

/// The state machine. Errors carry the AdCP code the buyer must see: re-cancel is
/// `NOT_CANCELLABLE`, anything else on a terminal buy is `INVALID_STATE`.
///
/// # Errors
/// `InvalidState` or `NotCancellable`.
pub fn transition(from: MediaBuyStatus, event: Event) -> Result<MediaBuyStatus, Error> {
    use Event as E;
    use MediaBuyStatus as S;
    let illegal = || Error::InvalidState {
        message: format!("media buy is {}; {} is not allowed", from.as_str(), describe(event)),
    };
    match (from, event) {
        (S::Canceled, E::Cancel) => Err(Error::NotCancellable { message: "media buy is already canceled".to_owned() }),
        (S::Completed | S::Rejected | S::Canceled, _) => Err(illegal()),
        (S::PendingCreatives, E::CreativesReady { flight_started: false }) => Ok(S::PendingStart),
        (S::PendingCreatives, E::CreativesReady { flight_started: true }) => Ok(S::Active),
        (S::PendingStart | S::Active | S::Paused, E::CreativesReady { .. }) => Ok(from),
        (S::PendingStart, E::FlightStarted) => Ok(S::Active),
        (S::PendingCreatives | S::Active | S::Paused, E::FlightStarted) => Ok(from),
        (S::PendingCreatives | S::PendingStart | S::Active | S::Paused, E::Pause) => Ok(S::Paused),
        (S::Paused, E::Resume) => Ok(S::Active),
        (S::PendingCreatives | S::PendingStart | S::Active, E::Resume) => Ok(from),
        (S::Active | S::Paused, E::Finished) => Ok(S::Completed),
        // A buy that never started cannot complete; the seller cancels it with a reason instead.
        (S::PendingCreatives | S::PendingStart, E::Finished) => Err(illegal()),
        (S::PendingCreatives | S::PendingStart | S::Active | S::Paused, E::Cancel) => Ok(S::Canceled),
        (S::PendingCreatives | S::PendingStart, E::Reject) => Ok(S::Rejected),
        (S::Active | S::Paused, E::Reject) => Err(illegal()),
    }
}

fn describe(event: Event) -> &'static str {
    match event {
        Event::CreativesReady { .. } => "assigning creatives",
        Event::FlightStarted => "starting the flight",
        Event::Pause => "pause",
        Event::Resume => "resume",
        Event::Finished => "completion",
        Event::Cancel => "cancel",
        Event::Reject => "reject",
    }
}

/// AdCP `valid_actions` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Cancel,
    UpdateBudget,
    UpdateDates,
    UpdatePackages,
    AddPackages,
    SyncCreatives,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
            Action::UpdateBudget => "update_budget",
            Action::UpdateDates => "update_dates",
            Action::UpdatePackages => "update_packages",
            Action::AddPackages => "add_packages",
            Action::SyncCreatives => "sync_creatives",
        }
    }
}

/// What a buyer may do next with a buy in `status`.
pub fn valid_actions(status: MediaBuyStatus) -> Vec<Action> {
    use Action as A;
    let editing = [A::Cancel, A::UpdateBudget, A::UpdateDates, A::UpdatePackages, A::AddPackages, A::SyncCreatives];
    match status {
        MediaBuyStatus::PendingCreatives | MediaBuyStatus::PendingStart | MediaBuyStatus::Active => {
            std::iter::once(A::Pause).chain(editing).collect()
        }
        MediaBuyStatus::Paused => std::iter::once(A::Resume).chain(editing).collect(),
        MediaBuyStatus::Completed | MediaBuyStatus::Rejected | MediaBuyStatus::Canceled => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    Even,
    Asap,
    FrontLoaded,
}

impl Pacing {
    pub fn as_str(self) -> &'static str {
        match self {
            Pacing::Even => "even",
            Pacing::Asap => "asap",
            Pacing::FrontLoaded => "front_loaded",
        }
    }

    pub fn parse(text: &str) -> Option<Pacing> {
        match text {
            "even" => Some(Pacing::Even),
            "asap" => Some(Pacing::Asap),
            "front_loaded" => Some(Pacing::FrontLoaded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Buyer,
    Seller,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Buyer => "buyer",
            Party::Seller => "seller",
        }
    }

    pub fn parse(text: &str) -> Option<Party> {
        match text {
            "buyer" => Some(Party::Buyer),
            "seller" => Some(Party::Seller),
            _ => None,
        }
    }
}

/// Who canceled, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    pub canceled_at: DateTime<Utc>,
    pub canceled_by: Party,
    pub reason: Option<String>,
}

/// Buyer-supplied JSON kept byte for byte (targeting overlays, measurement terms): core does not
/// interpret it beyond the checks the transport already made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verbatim(pub String);

/// One line of a buy: a product bought under one pricing option.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub package_id: String,
    pub product_id: String,
    pub pricing_option_id: String,
    pub pricing_model: PricingModel,
    /// Price per unit of the pricing model: fixed price, or the bid for auctions.
    pub rate: f64,
    pub currency: String,
    pub budget: f64,
    pub bid_price: Option<f64>,
    /// Impression goal.
    pub impressions: f64,
    pub pacing: Pacing,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub paused: bool,
    pub cancellation: Option<Cancellation>,
    pub format_ids: Vec<FormatId>,
    pub targeting_overlay: Option<Verbatim>,
    pub measurement_terms: Option<Verbatim>,
    /// Creative ids assigned to this package, in the order given.
    pub creative_ids: Vec<String>,
    /// Seed-era daily caps (`update_package`): spend and impressions per day of delivery.
    pub daily_budget: Option<f64>,
    pub daily_impressions: Option<f64>,
}

impl Package {
    pub fn is_canceled(&self) -> bool {
        self.cancellation.is_some()
    }
}

/// A media buy as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaBuy {
    pub media_buy_id: String,
    pub tenant_id: String,
    pub principal_id: String,
    pub account_id: String,
    pub brand_domain: String,
    pub status: MediaBuyStatus,
    pub currency: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub creative_deadline: DateTime<Utc>,
    pub revision: i64,
    pub po_number: Option<String>,
    pub cancellation: Option<Cancellation>,
    pub packages: Vec<Package>,
    /// Where the buyer wants task and status changes pushed.
    pub push_notification: Option<Webhook>,
    /// Where the buyer wants scheduled delivery reports.
    pub reporting_webhook: Option<Webhook>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MediaBuy {
    /// Sum of the budgets of packages that are not canceled.
    pub fn total_budget(&self) -> f64 {
        self.packages.iter().filter(|p| !p.is_canceled()).map(|p| p.budget).sum()
    }

    pub fn has_creatives(&self) -> bool {
        self.packages.iter().any(|p| !p.is_canceled() && !p.creative_ids.is_empty())
    }

    pub fn package(&self, package_id: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.package_id == package_id)
    }
}

/// When a buy's flight starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTime {
    Asap,
    At(DateTime<Utc>),
}

/// A package as the buyer asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRequest {
    pub product_id: String,
    pub pricing_option_id: String,
    pub budget: f64,
    pub bid_price: Option<f64>,
    pub impressions: Option<f64>,
    pub pacing: Option<Pacing>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub paused: bool,
    pub format_ids: Option<Vec<FormatId>>,
    pub targeting_overlay: Option<Verbatim>,
    pub measurement_terms: Option<MeasurementTerms>,
    pub creative_ids: Vec<String>,
    /// Bought from this seed-era `get_avails` quote: the package takes its id (checked against
    /// the caller's quotes by `buying::plan_create`).
    pub quote_id: Option<String>,
    /// Seed-era daily spend cap.
    pub daily_budget: Option<f64>,
}

impl PackageRequest {
    /// A package of `budget` on one product and pricing option, with nothing else set.
    pub fn new(product_id: &str, pricing_option_id: &str, budget: f64) -> PackageRequest {
        PackageRequest {
            product_id: product_id.to_owned(),
            pricing_option_id: pricing_option_id.to_owned(),
            budget,
            bid_price: None,
            impressions: None,
            pacing: None,
            start_time: None,
            end_time: None,
            paused: false,
            format_ids: None,
            targeting_overlay: None,
            measurement_terms: None,
            creative_ids: vec![],
            quote_id: None,
            daily_budget: None,
        }
    }
}

/// The buyer's proposed measurement terms: the parts this seller decides on, and the whole
/// object as sent (stored verbatim once accepted).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementTerms {
    pub max_variance_percent: Option<f64>,
    pub measurement_window: Option<String>,
    pub verbatim: Verbatim,
}

/// The smallest billing variance this seller commits to: buyer and seller counts routinely
/// diverge by a few percent, so a tighter promise cannot be kept.
pub const MIN_VARIANCE_PERCENT: f64 = 5.0;

/// Measurement windows this seller can bill against.
pub const MEASUREMENT_WINDOWS: &[&str] = &["live", "c3", "c7", "c30"];

fn check_terms(terms: &MeasurementTerms, at: &str) -> Result<(), Error> {
    if let Some(variance) = terms.max_variance_percent
        && (variance.is_nan() || variance < MIN_VARIANCE_PERCENT)
    {
        return Err(Error::TermsRejected {
            message: format!(
                "max_variance_percent {variance} is below this seller's minimum commitment of {MIN_VARIANCE_PERCENT}%"
            ),
            field: format!("{at}.measurement_terms.billing_measurement.max_variance_percent"),
            suggestion: format!("commit to at least {MIN_VARIANCE_PERCENT}% or remove the term"),
        });
    }
    if let Some(window) = &terms.measurement_window
        && !MEASUREMENT_WINDOWS.contains(&window.as_str())
    {
        return Err(Error::TermsRejected {
            message: format!("measurement window {window} is not offered"),
            field: format!("{at}.measurement_terms.billing_measurement.measurement_window"),
            suggestion: format!("use one of: {}", MEASUREMENT_WINDOWS.join(", ")),
        });
    }
    Ok(())
}

/// A new buy as the buyer asks for it (manual mode).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateMediaBuy {
    /// The account the buy is for.
    pub account: AccountRef,
    pub brand_domain: String,
    pub brand_industries: Vec<String>,
    pub start_time: StartTime,
    pub end_time: DateTime<Utc>,
    pub packages: Vec<PackageRequest>,
    pub total_budget: Option<(f64, String)>,
    /// Buy this committed proposal (with `total_budget`; `packages` is then empty and made
    /// from the proposal's allocations, see `core::proposals::packages_for`).
    pub proposal_id: Option<String>,
    pub po_number: Option<String>,
    pub push_notification: Option<Webhook>,
    pub reporting_webhook: Option<Webhook>,
}

/// Who is buying, for a new buy.
#[derive(Debug, Clone, PartialEq)]
pub struct Buyer<'a> {
    pub tenant_id: &'a str,
    pub principal_id: &'a str,
    pub account_id: &'a str,
}

/// How far in the past a start time may lie before it is refused (clock skew).
pub const START_TIME_SKEW: i64 = 300;

/// Checks a new buy against the catalog and builds it. Every problem names its field.
///
/// # Errors
/// `InvalidRequest`, `ProductNotFound`, `BudgetTooLow`, `PolicyViolation`.
pub fn plan_media_buy(
    catalog: &Catalog,
    buyer: &Buyer<'_>,
    request: &CreateMediaBuy,
    now: DateTime<Utc>,
    new_id: &mut dyn FnMut(&str) -> String,
) -> Result<MediaBuy, Error> {
    // Commercial terms first: a buyer whose terms are refused learns that before fixing dates.
    for (index, package) in request.packages.iter().enumerate() {
        if let Some(terms) = &package.measurement_terms {
            check_terms(terms, &format!("packages[{index}]"))?;
        }
    }
    let start_time = match request.start_time {
        StartTime::Asap => now,
        StartTime::At(at) if at < now - Duration::seconds(START_TIME_SKEW) => {
            return Err(Error::invalid_with(
                "start_time",
                format!("start_time {} is in the past", at.to_rfc3339()),
                "send \"asap\" to start now, or a future RFC 3339 time",
            ));
        }
        StartTime::At(at) => at.max(now),
    };
    if request.end_time <= start_time {
        return Err(Error::invalid_with(
            "end_time",
            "end_time must be after start_time",
            "flights are half-open intervals [start_time, end_time)",
        ));
    }
    if request.packages.is_empty() {
        return Err(Error::invalid_with(
            "packages",
            "a media buy needs at least one package",
            "add packages from get_products",
        ));
    }
    check_policy(catalog, request)?;

    let mut packages = Vec::with_capacity(request.packages.len());
    for (index, wanted) in request.packages.iter().enumerate() {
        packages.push(plan_package(catalog, wanted, index, start_time, request.end_time, new_id)?);
    }
    let currency = packages[0].currency.clone();
    if let Some(index) = packages.iter().position(|p| p.currency != currency) {
        return Err(Error::invalid(
            format!("packages[{index}].pricing_option_id"),
            format!("all packages must be priced in one currency ({currency})"),
        ));
    }
    if let Some((amount, total_currency)) = &request.total_budget {
        let sum: f64 = packages.iter().map(|p| p.budget).sum();
        if !total_currency.eq_ignore_ascii_case(&currency) {
            return Err(Error::invalid("total_budget.currency", format!("packages are priced in {currency}")));
        }
        if (amount - sum).abs() > 0.005 {
            return Err(Error::invalid_with(
                "total_budget.amount",
                format!("total_budget {amount} differs from the sum of package budgets {sum}"),
                "omit total_budget or make it the sum of package budgets",
            ));
        }
    }
    let has_creatives = packages.iter().any(|p| !p.creative_ids.is_empty());
    let status = if !has_creatives {
        MediaBuyStatus::PendingCreatives
    } else if start_time <= now {
        MediaBuyStatus::Active
    } else {
        MediaBuyStatus::PendingStart
    };
    Ok(MediaBuy {
        media_buy_id: new_id("mb"),
        tenant_id: buyer.tenant_id.to_owned(),
        principal_id: buyer.principal_id.to_owned(),
        account_id: buyer.account_id.to_owned(),
        brand_domain: request.brand_domain.clone(),
        status,
        currency,
        start_time,
        end_time: request.end_time,
        confirmed_at: now,
        creative_deadline: creative_deadline(start_time, request.end_time, now),
        revision: 1,
        po_number: request.po_number.clone(),
        cancellation: None,
        packages,
        push_notification: request.push_notification.clone(),
        reporting_webhook: request.reporting_webhook.clone(),
        created_at: now,
        updated_at: now,
    })
}

/// Creatives are due a day before the flight starts, but never sooner than a day from now and
/// never after the flight ends.
pub fn creative_deadline(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (start - Duration::hours(24)).max(now + Duration::hours(24)).min(end)
}

fn check_policy(catalog: &Catalog, request: &CreateMediaBuy) -> Result<(), Error> {
    let prohibited = &catalog.policy.prohibited_categories;
    let hit = request
        .brand_industries
        .iter()
        .enumerate()
        .find(|(_, industry)| prohibited.iter().any(|p| industry.to_lowercase().contains(&p.to_lowercase())));
    if let Some((index, industry)) = hit {
        return Err(Error::PolicyViolation {
            message: format!("this publisher does not accept advertising for {industry}"),
            field: format!("brand.industries[{index}]"),
        });
    }
    Ok(())
}

/// Checks one package against the catalog and builds it; fields are named `packages[index]`.
///
/// # Errors
/// `ProductNotFound`, `BudgetTooLow`, `InvalidRequest`.
pub fn plan_package(
    catalog: &Catalog,
    wanted: &PackageRequest,
    index: usize,
    buy_start: DateTime<Utc>,
    buy_end: DateTime<Utc>,
    new_id: &mut dyn FnMut(&str) -> String,
) -> Result<Package, Error> {
    let at = |field: &str| format!("packages[{index}].{field}");
    let product = catalog
        .product(&wanted.product_id)
        .ok_or_else(|| Error::ProductNotFound { product_id: wanted.product_id.clone(), field: at("product_id") })?;
    let option =
        product.pricing_options.iter().find(|o| o.pricing_option_id == wanted.pricing_option_id).ok_or_else(|| {
            let known: Vec<&str> = product.pricing_options.iter().map(|o| o.pricing_option_id.as_str()).collect();
            Error::invalid_with(
                at("pricing_option_id"),
                format!("product {} has no pricing option {}", product.product_id, wanted.pricing_option_id),
                format!("use one of: {}", known.join(", ")),
            )
        })?;
    if !wanted.budget.is_finite() || wanted.budget <= 0.0 {
        return Err(Error::invalid(at("budget"), "budget must be a positive amount"));
    }
    check_budget(option, wanted.budget, &at("budget"))?;
    let rate = price(option, wanted.bid_price, &at)?;
    let format_ids = match &wanted.format_ids {
        None => product.format_ids.clone(),
        Some(requested) => {
            for (position, format_id) in requested.iter().enumerate() {
                if !product.format_ids.iter().any(|f| same_format(f, format_id)) {
                    return Err(Error::invalid_with(
                        format!("packages[{index}].format_ids[{position}]"),
                        format!("product {} does not accept format {}", product.product_id, format_id.id),
                        "use format_ids from the product",
                    ));
                }
            }
            if requested.is_empty() { product.format_ids.clone() } else { requested.clone() }
        }
    };
    let start_time = wanted.start_time.unwrap_or(buy_start);
    let end_time = wanted.end_time.unwrap_or(buy_end);
    if start_time < buy_start || end_time > buy_end {
        return Err(Error::invalid(at("start_time"), "package dates must lie inside the media buy's flight"));
    }
    if end_time <= start_time {
        return Err(Error::invalid(at("end_time"), "package end_time must be after its start_time"));
    }
    let estimated = estimate_impressions(product, option.pricing_model, rate, wanted.budget, start_time, end_time);
    let impressions = match wanted.impressions {
        Some(goal) if !goal.is_finite() || goal < 0.0 => {
            return Err(Error::invalid(at("impressions"), "impressions must be a non-negative number"));
        }
        Some(goal) => goal,
        None => estimated,
    };
    Ok(Package {
        package_id: wanted.quote_id.clone().unwrap_or_else(|| new_id("pkg")),
        product_id: product.product_id.clone(),
        pricing_option_id: option.pricing_option_id.clone(),
        pricing_model: option.pricing_model,
        rate,
        currency: option.currency.clone(),
        budget: wanted.budget,
        bid_price: wanted.bid_price,
        impressions,
        pacing: wanted.pacing.unwrap_or(Pacing::Even),
        start_time,
        end_time,
        paused: wanted.paused,
        cancellation: None,
        format_ids,
        targeting_overlay: wanted.targeting_overlay.clone(),
        measurement_terms: wanted.measurement_terms.as_ref().map(|t| t.verbatim.clone()),
        creative_ids: wanted.creative_ids.clone(),
        daily_budget: wanted.daily_budget,
        daily_impressions: None,
    })
}

/// A package budget must be a positive amount and at least the option's minimum spend.
///
/// # Errors
/// `InvalidRequest` or `BudgetTooLow` naming `field`.
pub fn check_budget(option: &PricingOption, budget: f64, field: &str) -> Result<(), Error> {
    if !budget.is_finite() || budget <= 0.0 {
        return Err(Error::invalid(field, "budget must be a positive amount"));
    }
    match option.min_spend_per_package {
        Some(minimum) if budget < minimum => Err(Error::BudgetTooLow {
            message: format!(
                "budget {budget} is below the minimum spend of {minimum} {} for {}",
                option.currency, option.pricing_option_id
            ),
            field: field.to_owned(),
            minimum,
            currency: option.currency.clone(),
        }),
        _ => Ok(()),
    }
}

/// The unit price: the fixed price, or the buyer's bid checked against the floor.
fn price(option: &PricingOption, bid: Option<f64>, at: &dyn Fn(&str) -> String) -> Result<f64, Error> {
    match (option.fixed_price, option.floor_price, bid) {
        (Some(fixed), _, _) => Ok(fixed),
        (None, Some(_), None) => Err(Error::invalid_with(
            at("bid_price"),
            format!("pricing option {} is an auction: bid_price is required", option.pricing_option_id),
            "send bid_price at or above floor_price",
        )),
        (None, Some(floor), Some(bid)) if !bid.is_finite() || bid < floor => Err(Error::invalid_with(
            at("bid_price"),
            format!("bid_price {bid} is below the floor of {floor} {}", option.currency),
            format!("bid at least {floor}"),
        )),
        (None, _, Some(bid)) => Ok(bid),
        (None, None, None) => Err(Error::invalid(at("pricing_option_id"), "pricing option has no price")),
    }
}

/// Typical click-through and completion rates by channel, for estimates and the mock ad server.
pub fn channel_rates(channel: Option<Channel>) -> (f64, f64) {
    match channel {
        Some(Channel::Display) => (0.0012, 0.0),
        Some(Channel::Olv) => (0.0035, 0.72),
        Some(Channel::Ctv) => (0.0005, 0.95),
        Some(Channel::StreamingAudio | Channel::Podcast | Channel::Radio) => (0.0008, 0.88),
        _ => (0.001, 0.5),
    }
}

/// Impressions a budget buys under a pricing model over a flight.
pub fn estimate_impressions(
    product: &Product,
    model: PricingModel,
    rate: f64,
    budget: f64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> f64 {
    let (ctr, completion) = channel_rates(product.channels.first().copied());
    let impressions = match model {
        PricingModel::Cpm | PricingModel::Vcpm if rate > 0.0 => budget / rate * 1000.0,
        PricingModel::Cpc if rate > 0.0 && ctr > 0.0 => budget / rate / ctr,
        PricingModel::Cpcv if rate > 0.0 && completion > 0.0 => budget / rate / completion,
        PricingModel::FlatRate => {
            let days = ((end - start).num_hours() as f64 / 24.0).max(1.0);
            product.daily_impressions.unwrap_or(0) as f64 * days
        }
        _ => 0.0,
    };
    impressions.floor()
}

/// Test fixtures shared by the core's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::{MediaBuy, MediaBuyStatus, Pacing, Package, PricingModel};

    /// 2026-04-01, when every fixture's flight starts.
    pub(crate) fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
    }

    /// A live $10 CPM package over `days` days from `start()`.
    pub(crate) fn package(id: &str, budget: f64, days: i64) -> Package {
        Package {
            package_id: id.into(),
            product_id: "p".into(),
            pricing_option_id: "o".into(),
            pricing_model: PricingModel::Cpm,
            rate: 10.0,
            currency: "USD".into(),
            budget,
            bid_price: None,
            impressions: budget / 10.0 * 1000.0,
            pacing: Pacing::Even,
            start_time: start(),
            end_time: start() + Duration::days(days),
            paused: false,
            cancellation: None,
            format_ids: vec![],
            targeting_overlay: None,
            measurement_terms: None,
            creative_ids: vec![],
            daily_budget: None,
            daily_impressions: None,
        }
    }

    /// Buy `mb_1` of principal `p` over `days` days from `start()`.
    pub(crate) fn buy(status: MediaBuyStatus, days: i64, packages: Vec<Package>) -> MediaBuy {
        let at = start();
        MediaBuy {
            media_buy_id: "mb_1".into(),
            tenant_id: "t".into(),
            principal_id: "p".into(),
            account_id: "a".into(),
            brand_domain: "b.example".into(),
            status,
            currency: "USD".into(),
            start_time: at,
            end_time: at + Duration::days(days),
            confirmed_at: at,
            creative_deadline: at,
            revision: 1,
            po_number: None,
            cancellation: None,
            packages,
            push_notification: None,
            reporting_webhook: None,
            created_at: at,
            updated_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaBuyStatus as S;

    #[test]
    fn terminal_states_refuse_everything_and_recancel_is_not_cancellable() {
        for terminal in [S::Completed, S::Rejected, S::Canceled] {
            for event in [Event::Pause, Event::Resume, Event::Reject] {
                assert!(matches!(transition(terminal, event), Err(Error::InvalidState { .. })));
            }
        }
        assert!(matches!(transition(S::Canceled, Event::Cancel), Err(Error::NotCancellable { .. })));
        assert!(matches!(transition(S::Completed, Event::Cancel), Err(Error::InvalidState { .. })));
    }

    #[test]
    fn the_lifecycle_moves_forward() {
        assert_eq!(
            transition(S::PendingCreatives, Event::CreativesReady { flight_started: false }).unwrap(),
            S::PendingStart
        );
        assert_eq!(
            transition(S::PendingCreatives, Event::CreativesReady { flight_started: true }).unwrap(),
            S::Active,
            "creatives for a started flight go live"
        );
        assert_eq!(transition(S::PendingStart, Event::FlightStarted).unwrap(), S::Active);
        assert_eq!(transition(S::PendingCreatives, Event::FlightStarted).unwrap(), S::PendingCreatives);
        assert_eq!(transition(S::Active, Event::Pause).unwrap(), S::Paused);
        assert_eq!(transition(S::PendingCreatives, Event::Pause).unwrap(), S::Paused);
        assert_eq!(transition(S::Paused, Event::Resume).unwrap(), S::Active, "the only resume edge");
        assert!(transition(S::PendingCreatives, Event::Finished).is_err(), "never-started buys do not complete");
        assert_eq!(transition(S::Active, Event::Finished).unwrap(), S::Completed);
        assert_eq!(transition(S::PendingStart, Event::Reject).unwrap(), S::Rejected);
        assert!(transition(S::Active, Event::Reject).is_err(), "never reject a live buy");
        assert_eq!(transition(S::Paused, Event::Cancel).unwrap(), S::Canceled);
    }

    #[test]
    fn actions_follow_the_state() {
        assert!(valid_actions(S::Active).contains(&Action::Pause));
        assert!(valid_actions(S::Paused).contains(&Action::Resume));
        assert!(!valid_actions(S::Paused).contains(&Action::Pause));
        assert!(valid_actions(S::Canceled).is_empty());
    }

    #[test]
    fn deadlines_leave_time_for_creatives() {
        let now = DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let far = now + Duration::days(10);
        assert_eq!(creative_deadline(far, far + Duration::days(30), now), far - Duration::hours(24));
        assert_eq!(creative_deadline(now, now + Duration::days(30), now), now + Duration::hours(24));
        assert_eq!(creative_deadline(now, now + Duration::hours(2), now), now + Duration::hours(2));
    }

    #[test]
    fn unworkable_measurement_terms_are_rejected_before_anything_else() {
        let terms = |variance: f64, window: &str| MeasurementTerms {
            max_variance_percent: Some(variance),
            measurement_window: Some(window.to_owned()),
            verbatim: Verbatim("{}".to_owned()),
        };
        assert!(check_terms(&terms(10.0, "c7"), "packages[0]").is_ok());
        assert!(check_terms(&terms(5.0, "c30"), "packages[0]").is_ok());
        let Err(Error::TermsRejected { field, .. }) = check_terms(&terms(0.0, "c30"), "packages[0]") else {
            panic!("zero variance cannot be promised");
        };
        assert_eq!(field, "packages[0].measurement_terms.billing_measurement.max_variance_percent");
        assert!(matches!(check_terms(&terms(10.0, "c90"), "p"), Err(Error::TermsRejected { .. })));
        assert!(matches!(check_terms(&terms(f64::NAN, "c7"), "p"), Err(Error::TermsRejected { .. })));

        let now = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let past = now - Duration::days(180);
        let request = CreateMediaBuy {
            account: AccountRef::Id("acc".into()),
            brand_domain: "b.example".into(),
            brand_industries: vec![],
            start_time: StartTime::At(past),
            end_time: past + Duration::days(30),
            packages: vec![PackageRequest {
                measurement_terms: Some(terms(0.0, "c30")),
                ..PackageRequest::new("p", "o", 1000.0)
            }],
            total_budget: None,
            proposal_id: None,
            po_number: None,
            push_notification: None,
            reporting_webhook: None,
        };
        let buyer = Buyer { tenant_id: "t", principal_id: "p", account_id: "a" };
        let mut ids = |prefix: &str| format!("{prefix}_1");
        let outcome = plan_media_buy(&Catalog::default(), &buyer, &request, now, &mut ids);
        assert!(matches!(outcome, Err(Error::TermsRejected { .. })), "terms before dates: {outcome:?}");
    }
}
