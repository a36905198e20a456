//! AdCP 3.0 shapes of `get_media_buy_delivery`.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::wire_buying::{status_filter, time};
use crate::core::Error;
use crate::core::catalog::PricingModel;
use crate::core::delivery::{DeliveryQuery, DeliveryReport, Metrics};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::Value;

    use super::super::wire::Envelope;
    use super::super::wire_buying::schemas::AccountRefWire;

    /// Delivery of your media buys: totals, per package, per day, with pacing.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetMediaBuyDeliveryRequest {
        pub account: Option<AccountRefWire>,
        /// Buys to report on; omitted: every buy with the status filter.
        pub media_buy_ids: Option<Vec<String>>,
        /// A status or list of statuses (default: active, paused and completed).
        pub status_filter: Option<Value>,
        /// First day reported (YYYY-MM-DD, UTC).
        pub start_date: Option<String>,
        /// Last day reported (YYYY-MM-DD, UTC).
        pub end_date: Option<String>,
        /// Add a daily breakdown to each package.
        pub include_package_daily_breakdown: Option<bool>,
        /// Attribution settings (conversions are not tracked by this seller).
        pub attribution_window: Option<Value>,
        /// Breakdown dimensions (not offered by this seller).
        pub reporting_dimensions: Option<Value>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

use schemas::GetMediaBuyDeliveryRequest;

pub fn date(text: &str, field: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::invalid_with(field, format!("{field} {text:?} is not a date"), "use YYYY-MM-DD"))
}

impl GetMediaBuyDeliveryRequest {
    /// # Errors
    /// `InvalidRequest` for malformed dates or statuses.
    pub fn to_core(&self) -> Result<DeliveryQuery, Error> {
        let statuses = status_filter(self.status_filter.as_ref())?;
        Ok(DeliveryQuery {
            account: self.account.as_ref().map(|a| a.to_core()).transpose()?,
            media_buy_ids: self.media_buy_ids.clone().unwrap_or_default(),
            statuses,
            start_date: self.start_date.as_deref().map(|d| date(d, "start_date")).transpose()?,
            end_date: self.end_date.as_deref().map(|d| date(d, "end_date")).transpose()?,
        })
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn metrics_value(metrics: &Metrics, model: Option<PricingModel>) -> Value {
    let mut value = json!({
        "impressions": metrics.impressions,
        "spend": round(metrics.spend),
        "clicks": metrics.clicks,
    });
    if metrics.impressions > 0.0 {
        value["ctr"] = json!(((metrics.clicks / metrics.impressions) * 10_000.0).round() / 10_000.0);
    }
    if metrics.completed_views > 0.0 {
        value["completed_views"] = json!(metrics.completed_views);
        value["completion_rate"] =
            json!(((metrics.completed_views / metrics.impressions) * 10_000.0).round() / 10_000.0);
    }
    let effective = match model {
        Some(PricingModel::Cpc) if metrics.clicks > 0.0 => Some(metrics.spend / metrics.clicks),
        Some(PricingModel::Cpcv) if metrics.completed_views > 0.0 => Some(metrics.spend / metrics.completed_views),
        _ if metrics.impressions > 0.0 => Some(metrics.spend / metrics.impressions * 1000.0),
        _ => None,
    };
    if let Some(rate) = effective {
        value["effective_rate"] = json!(round(rate));
    }
    value
}

fn daily_value(daily: &[(NaiveDate, Metrics)]) -> Value {
    daily
        .iter()
        .map(|(date, m)| json!({"date": date.format("%Y-%m-%d").to_string(), "impressions": m.impressions, "spend": round(m.spend)}))
        .collect::<Vec<_>>()
        .into()
}

pub fn delivery_response(report: &DeliveryReport, package_daily: bool) -> Map<String, Value> {
    let mut totals = Metrics::default();
    let deliveries: Vec<Value> = report
        .buys
        .iter()
        .map(|buy| {
            totals = totals.plus(&buy.totals);
            let model = buy.media_buy.packages.first().map(|p| p.pricing_model);
            let packages: Vec<Value> = buy
                .packages
                .iter()
                .map(|p| {
                    let mut value = metrics_value(&p.totals, Some(p.package.pricing_model));
                    value["package_id"] = json!(p.package.package_id);
                    value["pricing_model"] = json!(p.package.pricing_model.as_str());
                    value["rate"] = json!(p.package.rate);
                    value["currency"] = json!(p.package.currency);
                    value["delivery_status"] = json!(p.delivery_status);
                    value["paused"] = json!(p.package.paused);
                    if let Some(index) = p.pacing_index {
                        value["pacing_index"] = json!(index);
                    }
                    if package_daily {
                        value["daily_breakdown"] = daily_value(&p.daily);
                    }
                    value
                })
                .collect();
            let projected: f64 = buy.packages.iter().map(|p| p.projected_spend).sum();
            let mut value = json!({
                "media_buy_id": buy.media_buy.media_buy_id,
                "status": buy.media_buy.status.as_str(),
                "totals": metrics_value(&buy.totals, model),
                "by_package": packages,
                "daily_breakdown": daily_value(&buy.daily),
                "ext": { "projected_end_spend": round(projected) },
            });
            if let Some(model) = model {
                value["pricing_model"] = json!(model.as_str());
            }
            // Read back from a real ad server: as of its last report.
            if let Some(platform) = report.ad_server {
                value["ext"]["ad_server"] =
                    json!({ "platform": platform, "reported_as_of": buy.reported_as_of.map(time) });
            }
            value
        })
        .collect();
    let mut aggregated = metrics_value(&totals, None);
    if let Value::Object(object) = &mut aggregated {
        object.remove("ctr");
        object.remove("effective_rate");
    }
    aggregated["media_buy_count"] = json!(report.buys.len());
    let mut body = Map::new();
    body.insert("reporting_period".into(), json!({ "start": time(report.period.0), "end": time(report.period.1) }));
    body.insert("currency".into(), report.currency.clone().into());
    body.insert("aggregated_totals".into(), aggregated);
    body.insert("media_buy_deliveries".into(), deliveries.into());
    body
}
