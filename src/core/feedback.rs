//! Performance feedback from buyers (AdCP `provide_performance_feedback`, and the seed-era
//! `update_performance_index` in both of its shapes). Feedback is stored per buy, package and
//! product; product discovery ranks products with a good record higher.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::error::Error;
use super::media_buy::MediaBuy;
use super::ports::Store;
use super::tenancy::{Principal, Tenant};

/// One piece of feedback as the buyer gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackInput {
    pub package_id: Option<String>,
    /// Seed 001 names products rather than packages.
    pub product_id: Option<String>,
    pub creative_id: Option<String>,
    /// The measurement period; `None` (seed-era feedback) means from the buy's start until now.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// 1.0 is as expected, above is better, 0 means no value.
    pub performance_index: f64,
    pub metric_type: String,
    pub feedback_source: String,
    pub notes: Option<String>,
}

/// Feedback as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub feedback_id: String,
    pub tenant_id: String,
    pub principal_id: String,
    pub media_buy_id: String,
    pub package_id: Option<String>,
    pub creative_id: Option<String>,
    pub product_id: Option<String>,
    pub input: FeedbackInput,
    pub received_at: DateTime<Utc>,
}

/// A product's record: mean performance index and how many reports it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductRecord {
    pub mean_index: f64,
    pub reports: u64,
}

/// What the seller suggests after feedback on a package.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub package_id: String,
    pub action: &'static str,
    pub reason: String,
}

/// Stores feedback on one of the principal's buys, every item in one write.
///
/// # Errors
/// `MediaBuyNotFound` (also for others' buys), `PackageNotFound`, `InvalidRequest` for periods,
/// indexes or products the buy does not have; storage.
pub async fn record<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
    items: &[FeedbackInput],
    now: DateTime<Utc>,
) -> Result<(Vec<Feedback>, Vec<Suggestion>), Error> {
    let buy: MediaBuy = match store.media_buy(&tenant.tenant_id, media_buy_id).await? {
        Some(buy) if buy.principal_id == principal.principal_id || principal.admin => buy,
        _ => return Err(Error::MediaBuyNotFound),
    };
    if items.is_empty() {
        return Err(Error::invalid("performance_index", "no feedback given"));
    }
    let mut stored = Vec::with_capacity(items.len());
    let mut suggestions = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = |field: &str| {
            if items.len() == 1 { field.to_owned() } else { format!("performance_data[{index}].{field}") }
        };
        if !item.performance_index.is_finite() || item.performance_index < 0.0 {
            return Err(Error::invalid(at("performance_index"), "performance_index must be a number >= 0"));
        }
        let period = item.period.unwrap_or((buy.start_time.min(now - chrono::Duration::seconds(1)), now));
        if period.1 <= period.0 {
            return Err(Error::invalid("measurement_period", "measurement_period.end must be after its start"));
        }
        let packages: Vec<&super::media_buy::Package> = match (&item.package_id, &item.product_id) {
            (Some(package_id), _) => {
                vec![buy.package(package_id).ok_or_else(|| Error::PackageNotFound {
                    package_id: package_id.clone(),
                    field: at("package_id"),
                })?]
            }
            (None, Some(product_id)) => {
                let matching: Vec<_> = buy.packages.iter().filter(|p| &p.product_id == product_id).collect();
                if matching.is_empty() {
                    return Err(Error::invalid_with(
                        at("product_id"),
                        format!("media buy {media_buy_id} has no package for product {product_id}"),
                        "name a product this buy bought",
                    ));
                }
                matching
            }
            (None, None) => Vec::new(),
        };
        let product_id = packages.first().map(|p| p.product_id.clone());
        for package in &packages {
            let (action, reason) = if item.performance_index >= 1.1 {
                ("increase_budget_allocation", "High performance index")
            } else if item.performance_index <= 0.9 {
                ("review_targeting", "Below baseline performance")
            } else {
                ("maintain", "Performing as expected")
            };
            suggestions.push(Suggestion { package_id: package.package_id.clone(), action, reason: reason.to_owned() });
        }
        stored.push(Feedback {
            feedback_id: format!("fb_{}", uuid::Uuid::new_v4().simple()),
            tenant_id: tenant.tenant_id.clone(),
            principal_id: principal.principal_id.clone(),
            media_buy_id: buy.media_buy_id.clone(),
            package_id: item.package_id.clone(),
            creative_id: item.creative_id.clone(),
            product_id,
            input: FeedbackInput { period: Some(period), ..item.clone() },
            received_at: now,
        });
    }
    store.insert_feedback(&stored).await?;
    Ok((stored, suggestions))
}

/// Every product's record in a tenant.
///
/// # Errors
/// Storage.
pub async fn records<S: Store>(store: &S, tenant_id: &str) -> Result<HashMap<String, ProductRecord>, Error> {
    Ok(store.product_records(tenant_id).await?)
}
