//! The mock ad server: deterministic delivery computed from the clock, so that demos, tests and
//! the compliance suite see numbers that behave like a real ad server's.
//!
//! A package delivers only inside its live intervals. The share of its impression goal delivered
//! after `live` of its `planned` flight seconds follows its pacing (even, asap, front-loaded);
//! clicks and completions follow channel-typical rates; spend follows the pricing model and
//! never exceeds the budget.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::core::catalog::PricingModel;
use crate::core::delivery::{AdServer, AdServerError, Cumulative, Metrics, PackageLine, paced_fraction, spend_for};
use crate::core::media_buy::channel_rates;

#[derive(Debug, Clone, Copy, Default)]
pub struct MockAdServer;

impl AdServer for MockAdServer {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn delivered<'a>(
        &'a self,
        line: &'a PackageLine,
        instants: &'a [DateTime<Utc>],
    ) -> Pin<Box<dyn Future<Output = Result<Cumulative, AdServerError>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(instants.iter().map(|at| cumulative(line, *at)).collect())))
    }
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
    // A CPM-type buy cannot deliver more than its budget pays for.
    if matches!(package.pricing_model, PricingModel::Cpm | PricingModel::Vcpm) && package.rate > 0.0 {
        impressions = impressions.min((package.budget / package.rate * 1000.0).floor());
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
}
