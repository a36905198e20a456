//! Shapes of `provide_performance_feedback` (AdCP 3.0) and the seed-era `update_performance_index`
//! (seed 001: per-product `performance_data`; seed 004: satisfaction scores).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::wire_buying::timestamp;
use crate::core::Error;
use crate::core::feedback::{FeedbackInput, Suggestion};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use super::super::wire::Envelope;
    use super::super::wire_buying::schemas::AccountRefWire;

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct PeriodWire {
        /// RFC 3339 with offset.
        pub start: String,
        /// RFC 3339 with offset.
        pub end: String,
    }

    /// Tell the seller how a buy performed (1.0 = as expected, above = better, 0 = no value).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ProvideFeedbackRequest {
        /// Unique key for this request (16-255 chars of A-Z a-z 0-9 _ . : -); reuse only to retry it.
        pub idempotency_key: Option<String>,
        pub account: Option<AccountRefWire>,
        pub media_buy_id: String,
        pub measurement_period: PeriodWire,
        pub performance_index: f64,
        pub package_id: Option<String>,
        pub creative_id: Option<String>,
        /// overall_performance (default), conversion_rate, brand_lift, click_through_rate, ...
        pub metric_type: Option<String>,
        /// buyer_attribution (default), third_party_measurement, platform_analytics, ...
        pub feedback_source: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// One product's performance (seed 001).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ProductPerformance {
        pub product_id: String,
        pub performance_index: f64,
        pub confidence_score: Option<f64>,
        pub feedback: Option<String>,
    }

    /// Satisfaction scores from 1 to 5 (seed 004); 3 means as expected.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct SatisfactionScores {
        pub overall_satisfaction: f64,
        pub audience_quality: Option<f64>,
        pub delivery_consistency: Option<f64>,
        pub notes: Option<String>,
    }

    /// Seed-era performance feedback for a buy: `performance_data` per product, or `feedback`
    /// scores. Both are stored as performance feedback and inform product ranking.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct UpdatePerformanceIndexRequest {
        pub media_buy_id: String,
        pub performance_data: Option<Vec<ProductPerformance>>,
        pub feedback: Option<SatisfactionScores>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

use schemas::{ProvideFeedbackRequest, UpdatePerformanceIndexRequest};

impl ProvideFeedbackRequest {
    /// # Errors
    /// `InvalidRequest` for bad times.
    pub fn to_core(&self) -> Result<FeedbackInput, Error> {
        Ok(FeedbackInput {
            package_id: self.package_id.clone(),
            product_id: None,
            creative_id: self.creative_id.clone(),
            period: Some((
                timestamp(&self.measurement_period.start, "measurement_period.start")?,
                timestamp(&self.measurement_period.end, "measurement_period.end")?,
            )),
            performance_index: self.performance_index,
            metric_type: self.metric_type.clone().unwrap_or_else(|| "overall_performance".to_owned()),
            feedback_source: self.feedback_source.clone().unwrap_or_else(|| "buyer_attribution".to_owned()),
            notes: None,
        })
    }
}

impl UpdatePerformanceIndexRequest {
    /// The items to store, over the buy's flight so far (the seed shapes name no period).
    ///
    /// # Errors
    /// `InvalidRequest` when neither shape is given or scores are out of range.
    pub fn to_core(&self) -> Result<Vec<FeedbackInput>, Error> {
        let period = None;
        match (&self.performance_data, &self.feedback) {
            (Some(data), _) => Ok(data
                .iter()
                .map(|item| FeedbackInput {
                    package_id: None,
                    product_id: Some(item.product_id.clone()),
                    creative_id: None,
                    period,
                    performance_index: item.performance_index,
                    metric_type: "overall_performance".to_owned(),
                    feedback_source: "buyer_attribution".to_owned(),
                    notes: item.feedback.clone(),
                })
                .collect()),
            (None, Some(scores)) => {
                for (field, score) in [
                    ("feedback.overall_satisfaction", Some(scores.overall_satisfaction)),
                    ("feedback.audience_quality", scores.audience_quality),
                    ("feedback.delivery_consistency", scores.delivery_consistency),
                ] {
                    if score.is_some_and(|s| !(1.0..=5.0).contains(&s)) {
                        return Err(Error::invalid(field, "scores run from 1 to 5"));
                    }
                }
                Ok(vec![FeedbackInput {
                    package_id: None,
                    product_id: None,
                    creative_id: None,
                    period,
                    // 3 of 5 is "as expected", AdCP's 1.0.
                    performance_index: scores.overall_satisfaction / 3.0,
                    metric_type: "overall_performance".to_owned(),
                    feedback_source: "buyer_attribution".to_owned(),
                    notes: scores.notes.clone(),
                }])
            }
            (None, None) => Err(Error::invalid_with(
                "performance_data",
                "send performance_data (per product) or feedback (scores)",
                "see the tool's input schema",
            )),
        }
    }
}

/// Seed 001's answer: accepted, with what the seller suggests per package.
pub fn seed_actions_response(suggestions: &[Suggestion]) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("status".into(), "accepted".into());
    body.insert(
        "optimization_actions".into(),
        suggestions
            .iter()
            .map(|s| json!({"package_id": s.package_id, "action": s.action, "reason": s.reason}))
            .collect::<Vec<_>>()
            .into(),
    );
    body
}

/// Seed 004's answer: the scores as recorded.
pub fn seed_scores_response(request: &UpdatePerformanceIndexRequest, now: DateTime<Utc>) -> Map<String, Value> {
    let scores = request.feedback.as_ref();
    let mut index = json!({
        "media_buy_id": request.media_buy_id,
        "updated_at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if let Some(scores) = scores {
        index["overall_satisfaction"] = json!(scores.overall_satisfaction);
        if let Some(v) = scores.audience_quality {
            index["audience_quality"] = json!(v);
        }
        if let Some(v) = scores.delivery_consistency {
            index["delivery_consistency"] = json!(v);
        }
    }
    let mut body = Map::new();
    body.insert("performance_index".into(), index);
    body
}
