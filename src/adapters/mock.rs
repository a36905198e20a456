//! The mock ad server: deterministic delivery computed from the clock, so that demos, tests and
//! the compliance suite see numbers that behave like a real ad server's, and a booking ledger
//! that behaves like a platform's order book.
//!
//! A package delivers only inside its live intervals. The share of its impression goal delivered
//! after `live` of its `planned` flight seconds follows its pacing (even, asap, front-loaded);
//! clicks and completions follow channel-typical rates; spend follows the pricing model and
//! never exceeds the budget.
//!
//! Booking: orders and lines get ids derived from our own (`mock-order-{media_buy_id}`,
//! `mock-line-{package_id}`), creates find before they make, and the ledger checks what a
//! platform checks (dates, budget, lines under an existing order, no changes to canceled lines).
//! Faults can be scripted for tests ([`MockAdServer::fail_next`]), including the ambiguous kind
//! that applies the operation and then reports a timeout.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::core::booking::{AdServerOp, Applied, Booker, Booking, LineSpec, RunState};
use crate::core::catalog::PricingModel;
use crate::core::delivery::{
    AdServer, AdServerError, Cumulative, Forecast, ForecastRequest, ForecastTargeting, Metrics, PackageLine,
    paced_fraction, spend_for,
};
use crate::core::media_buy::{MediaBuy, channel_rates};

/// A scripted failure of the next booking call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before doing anything (network error, 503).
    Unavailable,
    /// The call is applied, then its answer is lost (timeout after the platform acted).
    AppliedThenTimeout,
    /// The platform refuses the call (validation, inventory, permissions).
    Refused,
}

/// An order as the mock platform holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    pub order_id: String,
    pub state: RunState,
}

/// A line as the mock platform holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockLine {
    pub line_id: String,
    pub order_id: String,
    pub spec: LineSpec,
}

#[derive(Debug, Default)]
struct Ledger {
    orders: BTreeMap<String, MockOrder>,
    lines: BTreeMap<String, MockLine>,
    /// Every call received, as `op key`, in order.
    calls: Vec<String>,
    faults: VecDeque<Fault>,
}

/// Cheap to clone; clones share the ledger.
#[derive(Debug, Clone, Default)]
pub struct MockAdServer {
    ledger: Arc<Mutex<Ledger>>,
}

impl MockAdServer {
    pub fn new() -> MockAdServer {
        MockAdServer::default()
    }

    /// Makes the next booking call fail with `fault`; faults queue up in order.
    pub fn fail_next(&self, fault: Fault) {
        self.ledger().faults.push_back(fault);
    }

    /// The order booked for a buy.
    pub fn order(&self, media_buy_id: &str) -> Option<MockOrder> {
        self.ledger().orders.get(media_buy_id).cloned()
    }

    /// The line booked for a package.
    pub fn line(&self, package_id: &str) -> Option<MockLine> {
        self.ledger().lines.get(package_id).cloned()
    }

    /// Every booking call received, as `op key`.
    pub fn calls(&self) -> Vec<String> {
        self.ledger().calls.clone()
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn book(&self, buy: &MediaBuy, op: &AdServerOp) -> Result<Applied, AdServerError> {
        let mut ledger = self.ledger();
        let fault = ledger.faults.pop_front();
        ledger.calls.push(call_name(buy, op));
        match fault {
            Some(Fault::Unavailable) => return Err(AdServerError::Retryable("mock: 503 service unavailable".into())),
            Some(Fault::Refused) => return Err(AdServerError::Permanent("mock: the platform refused the call".into())),
            Some(Fault::AppliedThenTimeout) => {
                ledger.apply(buy, op)?;
                return Err(AdServerError::Retryable("mock: timed out waiting for the platform".into()));
            }
            None => {}
        }
        ledger.apply(buy, op)
    }
}

fn call_name(buy: &MediaBuy, op: &AdServerOp) -> String {
    match op {
        AdServerOp::CreateOrder(_) => format!("create_order {}", buy.media_buy_id),
        AdServerOp::SetOrderState(state) => format!("set_order_state {} {state:?}", buy.media_buy_id),
        AdServerOp::CreateLine(spec) => format!("create_line {}", spec.package_id),
        AdServerOp::UpdateLine(spec) => format!("update_line {}", spec.package_id),
    }
}

impl Ledger {
    fn apply(&mut self, buy: &MediaBuy, op: &AdServerOp) -> Result<Applied, AdServerError> {
        let refuse = |message: String| Err(AdServerError::Permanent(format!("mock: {message}")));
        match op {
            AdServerOp::CreateOrder(spec) => {
                if spec.end <= spec.start {
                    return refuse("order end must be after its start".into());
                }
                let order = self.orders.entry(spec.media_buy_id.clone()).or_insert_with(|| MockOrder {
                    order_id: format!("mock-order-{}", spec.media_buy_id),
                    state: RunState::Running,
                });
                Ok(Applied { platform_id: Some(order.order_id.clone()) })
            }
            AdServerOp::SetOrderState(state) => match self.orders.get_mut(&buy.media_buy_id) {
                None => refuse(format!("no order for {}", buy.media_buy_id)),
                Some(order) if order.state == RunState::Canceled && *state != RunState::Canceled => {
                    refuse("a canceled order cannot be reactivated".into())
                }
                Some(order) => {
                    order.state = *state;
                    Ok(Applied::default())
                }
            },
            AdServerOp::CreateLine(spec) => {
                let Some(order) = self.orders.get(&buy.media_buy_id) else {
                    return refuse(format!("no order for {}", buy.media_buy_id));
                };
                check_line(spec).map_err(|message| AdServerError::Permanent(format!("mock: {message}")))?;
                let order_id = order.order_id.clone();
                let line = self.lines.entry(spec.package_id.clone()).or_insert_with(|| MockLine {
                    line_id: format!("mock-line-{}", spec.package_id),
                    order_id,
                    spec: spec.clone(),
                });
                Ok(Applied { platform_id: Some(line.line_id.clone()) })
            }
            AdServerOp::UpdateLine(spec) => {
                check_line(spec).map_err(|message| AdServerError::Permanent(format!("mock: {message}")))?;
                match self.lines.get_mut(&spec.package_id) {
                    None => refuse(format!("no line for package {}", spec.package_id)),
                    Some(line) if line.spec.state == RunState::Canceled && *spec != line.spec => {
                        refuse(format!("line {} is canceled", line.line_id))
                    }
                    Some(line) => {
                        line.spec = spec.clone();
                        Ok(Applied::default())
                    }
                }
            }
        }
    }
}

/// What a platform validates on a line.
fn check_line(spec: &LineSpec) -> Result<(), String> {
    if spec.end <= spec.start {
        return Err(format!("line {}: end must be after start", spec.package_id));
    }
    if !(spec.budget.is_finite() && spec.budget > 0.0) {
        return Err(format!("line {}: budget must be positive", spec.package_id));
    }
    Ok(())
}

impl Booker for MockAdServer {
    fn apply<'a>(
        &'a self,
        buy: &'a MediaBuy,
        _booking: &'a Booking,
        op: &'a AdServerOp,
    ) -> Pin<Box<dyn Future<Output = Result<Applied, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(self.book(buy, op)))
    }
}

impl AdServer for MockAdServer {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn forecast<'a>(
        &'a self,
        request: &'a ForecastRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Forecast, AdServerError>> + Send + 'a>> {
        let booked: Vec<LineSpec> = self
            .ledger()
            .lines
            .values()
            .filter(|l| l.spec.product_id == request.product_id && l.spec.state != RunState::Canceled)
            .map(|l| l.spec.clone())
            .collect();
        Box::pin(std::future::ready(Ok(forecast(request, &booked))))
    }

    fn delivered<'a>(
        &'a self,
        line: &'a PackageLine,
        instants: &'a [DateTime<Utc>],
    ) -> Pin<Box<dyn Future<Output = Result<Cumulative, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(instants.iter().map(|at| cumulative(line, *at)).collect())))
    }
}

/// Impressions a product delivers per day when its catalog entry does not say.
const DEFAULT_DAILY_IMPRESSIONS: u64 = 100_000;

/// The mock's availability forecast: the product's daily impressions over the window, narrowed
/// by the targeting's reach, less the targeted share of what booked lines of the product take
/// in the window (a line's goal spread evenly over its flight).
pub fn forecast(request: &ForecastRequest, booked: &[LineSpec]) -> Forecast {
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_seconds().max(0) as f64;
    let days = seconds(request.start, request.end) / 86_400.0;
    let capacity = request.daily_impressions.unwrap_or(DEFAULT_DAILY_IMPRESSIONS) as f64 * days;
    let sold: f64 = booked
        .iter()
        .map(|line| {
            let flight = seconds(line.start, line.end);
            let overlap = seconds(line.start.max(request.start), line.end.min(request.end));
            if flight > 0.0 { line.impressions * overlap / flight } else { 0.0 }
        })
        .sum();
    let share = reach(&request.targeting);
    Forecast {
        matched: (capacity * share).floor() as u64,
        available: ((capacity - sold).max(0.0) * share).floor() as u64,
    }
}

/// The share of a product's impressions a targeting reaches: each dimension narrows by how much
/// of the audience its values cover, typically.
fn reach(targeting: &ForecastTargeting) -> f64 {
    let within =
        |values: &[String], each: f64| if values.is_empty() { 1.0 } else { (each * values.len() as f64).min(1.0) };
    within(&targeting.regions, 0.08)
        * within(&targeting.metros, 0.02)
        * within(&targeting.cities, 0.01)
        * within(&targeting.postal_codes, 0.001)
        * within(&targeting.device_types, 0.35)
        * within(&targeting.operating_systems, 0.3)
        * within(&targeting.languages, 0.5)
        * within(&targeting.audience_segments, 0.25)
        * 0.95_f64.powi(targeting.exclusions as i32)
}

/// Everything the package delivered up to `at`.
pub fn cumulative(line: &PackageLine, at: DateTime<Utc>) -> Metrics {
    let package = &line.package;
    let live: f64 =
        line.live.iter().map(|(start, end)| ((*end).min(at) - *start).num_milliseconds().max(0) as f64 / 1000.0).sum();
    let planned = (package.end_time - package.start_time).num_milliseconds() as f64 / 1000.0;
    let fraction = paced_fraction(package.pacing, live, planned);
    let (ctr, completion_rate) = channel_rates(line.channel);
    let mut impressions = whole(package.impressions * fraction);
    let cpm_like = matches!(package.pricing_model, PricingModel::Cpm | PricingModel::Vcpm) && package.rate > 0.0;
    // A CPM-type buy cannot deliver more than its budget pays for.
    if cpm_like {
        impressions = impressions.min((package.budget / package.rate * 1000.0).floor());
    }
    // Daily caps hold for each day the package could deliver: at most cap × days live so far.
    let live_days = live / 86_400.0;
    if let Some(cap) = package.daily_impressions {
        impressions = impressions.min(whole(cap * live_days));
    }
    if let Some(cap) = package.daily_budget
        && cpm_like
    {
        impressions = impressions.min(whole(cap * live_days / package.rate * 1000.0));
    }
    let mut metrics = Metrics {
        impressions,
        spend: 0.0,
        clicks: whole(impressions * ctr),
        completed_views: whole(impressions * completion_rate),
    };
    let flight_share = if planned > 0.0 { (live / planned).clamp(0.0, 1.0) } else { 0.0 };
    metrics.spend = spend_for(package.pricing_model, package.rate, package.budget, &metrics, flight_share);
    metrics
}

/// Whole units, ignoring binary floating-point noise (200000 × 0.0012 is 239.99999…).
fn whole(value: f64) -> f64 {
    (value + 1e-6).floor()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::core::catalog::Channel;
    use crate::core::media_buy::{Pacing, Package};

    fn line(pacing: Pacing, budget: f64) -> PackageLine {
        let start = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        PackageLine {
            media_buy_id: "mb".into(),
            package: Package {
                package_id: "pkg".into(),
                product_id: "p".into(),
                pricing_option_id: "o".into(),
                pricing_model: PricingModel::Cpm,
                rate: 12.5,
                currency: "USD".into(),
                budget,
                bid_price: None,
                impressions: 400_000.0,
                pacing,
                start_time: start,
                end_time: start + Duration::days(30),
                paused: false,
                cancellation: None,
                format_ids: vec![],
                targeting_overlay: None,
                measurement_terms: None,
                creative_ids: vec!["c".into()],
                daily_budget: None,
                daily_impressions: None,
            },
            channel: Some(Channel::Display),
            live: vec![(start, start + Duration::days(30))],
            ended: false,
        }
    }

    #[test]
    fn even_pacing_delivers_in_proportion_and_spends_by_cpm() {
        let line = line(Pacing::Even, 5000.0);
        let halfway = line.package.start_time + Duration::days(15);
        let metrics = cumulative(&line, halfway);
        assert_eq!(metrics.impressions, 200_000.0);
        assert_eq!(metrics.spend, 2500.0);
        assert_eq!(metrics.clicks, 240.0, "display CTR 0.12%");
        let end = cumulative(&line, line.package.end_time + Duration::days(1));
        assert_eq!((end.impressions, end.spend), (400_000.0, 5000.0), "the whole goal, the whole budget");
        assert_eq!(cumulative(&line, line.package.start_time - Duration::days(1)), Metrics::default());
    }

    #[test]
    fn pacing_shapes_the_curve_and_spend_never_exceeds_budget() {
        let quarter = |pacing| {
            let line = line(pacing, 5000.0);
            cumulative(&line, line.package.start_time + Duration::days(7) + Duration::hours(12)).impressions
        };
        assert!(quarter(Pacing::Asap) > quarter(Pacing::FrontLoaded));
        assert!(quarter(Pacing::FrontLoaded) > quarter(Pacing::Even));
        let tight = line(Pacing::Asap, 1000.0);
        let end = cumulative(&tight, tight.package.end_time);
        assert_eq!(end.spend, 1000.0);
        assert_eq!(end.impressions, 80_000.0, "capped by what the budget buys");
    }

    #[test]
    fn nothing_is_delivered_outside_live_intervals() {
        let mut paused = line(Pacing::Even, 5000.0);
        let start = paused.package.start_time;
        paused.live =
            vec![(start, start + Duration::days(10)), (start + Duration::days(20), start + Duration::days(30))];
        let during_pause = cumulative(&paused, start + Duration::days(15));
        let before_pause = cumulative(&paused, start + Duration::days(10));
        assert_eq!(during_pause, before_pause);
    }

    #[test]
    fn daily_caps_hold_for_each_day_live() {
        let mut capped = line(Pacing::Asap, 5000.0);
        let start = capped.package.start_time;
        let uncapped = cumulative(&capped, start + Duration::days(2)).impressions;
        capped.package.daily_impressions = Some(10_000.0);
        assert!(uncapped > 20_000.0, "asap pacing delivers fast: {uncapped}");
        assert_eq!(cumulative(&capped, start + Duration::days(2)).impressions, 20_000.0);
        capped.package.daily_impressions = None;
        capped.package.daily_budget = Some(50.0);
        let by_budget = cumulative(&capped, start + Duration::days(2));
        assert_eq!((by_budget.impressions, by_budget.spend), (8_000.0, 100.0), "50 a day at 12.50 CPM");
    }

    fn forecast_request(days: i64, targeting: ForecastTargeting) -> ForecastRequest {
        let start = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        ForecastRequest {
            product_id: "p".into(),
            channel: Some(Channel::Ctv),
            daily_impressions: Some(80_000),
            start,
            end: start + Duration::days(days),
            targeting,
            overlay: None,
            formats: vec![],
        }
    }

    fn booked(start_day: i64, days: i64, impressions: f64, state: RunState) -> LineSpec {
        let start = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap() + Duration::days(start_day);
        LineSpec {
            package_id: "pkg".into(),
            product_id: "p".into(),
            pricing_model: PricingModel::Cpm,
            rate: 35.0,
            budget: 1000.0,
            impressions,
            pacing: Pacing::Even,
            start,
            end: start + Duration::days(days),
            targeting: None,
            creative_ids: vec![],
            creatives: vec![],
            state,
            daily_budget: None,
            daily_impressions: None,
            formats: vec![],
            auction: false,
        }
    }

    #[test]
    fn forecasts_narrow_by_targeting_and_subtract_what_is_booked_in_the_window() {
        let open = forecast(&forecast_request(14, ForecastTargeting::default()), &[]);
        assert_eq!(open, Forecast { matched: 1_120_000, available: 1_120_000 });
        assert_eq!(open.availability(), 1.0);
        let two_states = ForecastTargeting { regions: vec!["US-CA".into(), "US-NY".into()], ..Default::default() };
        let narrowed = forecast(&forecast_request(14, two_states.clone()), &[]);
        assert_eq!(narrowed.matched, 179_200, "two regions reach 16%");
        // 280,000 impressions over 28 days, half of them inside the 14-day window.
        let sold = [booked(7, 28, 280_000.0, RunState::Running)];
        let after = forecast(&forecast_request(14, ForecastTargeting::default()), &sold);
        assert_eq!(after, Forecast { matched: 1_120_000, available: 1_050_000 });
        assert_eq!(forecast(&forecast_request(14, two_states), &sold).available, 168_000);
        let outside = [booked(30, 10, 280_000.0, RunState::Running)];
        assert_eq!(forecast(&forecast_request(14, ForecastTargeting::default()), &outside).available, 1_120_000);
        let oversold = [booked(0, 14, 2_000_000.0, RunState::Running)];
        let none = forecast(&forecast_request(14, ForecastTargeting::default()), &oversold);
        assert_eq!((none.available, none.availability()), (0, 0.0));
    }
}
