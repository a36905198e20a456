//! What this seller can do, derived from the tenant and its catalog, so that the answer to
//! `get_adcp_capabilities` never promises more than the catalog and code deliver.

use std::collections::BTreeSet;

use super::catalog::{Catalog, Channel, DeliveryType, PricingModel};
use super::idempotency::REPLAY_TTL_SECONDS;
use super::tenancy::{Billing, Tenant};

/// AdCP major versions this agent speaks.
pub const MAJOR_VERSIONS: &[u32] = &[3];

#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities {
    pub major_versions: Vec<u32>,
    pub replay_ttl_seconds: i64,
    pub supported_billing: Vec<Billing>,
    pub requires_account_approval: bool,
    pub sandbox: bool,
    pub pricing_models: Vec<PricingModel>,
    pub publisher_domains: Vec<String>,
    pub primary_channels: Vec<Channel>,
    pub primary_countries: Vec<String>,
    pub portfolio_description: Option<String>,
    pub advertising_policies: Option<String>,
    /// The sandbox test controller's scenarios (sandbox tenants only; empty elsewhere).
    pub compliance_scenarios: Vec<&'static str>,
    /// AdCP specialisms claimed: `sales-guaranteed` and `sales-non-guaranteed` when the catalog
    /// sells that kind of product, and `sales-proposal-mode` when it sells anything (briefs get
    /// proposals, see `core::proposals`).
    pub specialisms: Vec<&'static str>,
}

pub fn describe(tenant: &Tenant, catalog: &Catalog) -> Capabilities {
    let pricing_models: BTreeSet<&str> =
        catalog.products.iter().flat_map(|p| p.pricing_options.iter().map(|o| o.pricing_model.as_str())).collect();
    let pricing_models =
        [PricingModel::Cpm, PricingModel::Vcpm, PricingModel::Cpc, PricingModel::Cpcv, PricingModel::FlatRate]
            .into_iter()
            .filter(|m| pricing_models.contains(m.as_str()))
            .collect();
    let channels: BTreeSet<Channel> = catalog.products.iter().flat_map(|p| p.channels.iter().copied()).collect();
    let mut publisher_domains = tenant.publisher_domains.clone();
    for property in &catalog.properties {
        if !publisher_domains.contains(&property.publisher_domain) {
            publisher_domains.push(property.publisher_domain.clone());
        }
    }
    let policy = &catalog.policy;
    let mut policy_text = Vec::new();
    if !policy.prohibited_categories.is_empty() {
        policy_text.push(format!("Prohibited categories: {}.", policy.prohibited_categories.join(", ")));
    }
    if let Some(requirements) = &policy.creative_requirements {
        policy_text.push(requirements.clone());
    }
    if let Some(hours) = policy.approval_sla_hours {
        policy_text.push(format!("Creative review within {hours} hours."));
    }
    Capabilities {
        major_versions: MAJOR_VERSIONS.to_vec(),
        replay_ttl_seconds: REPLAY_TTL_SECONDS,
        supported_billing: tenant.account_policy.supported_billing.clone(),
        requires_account_approval: tenant.account_policy.require_approval,
        sandbox: tenant.sandbox,
        pricing_models,
        publisher_domains,
        primary_channels: channels.into_iter().collect(),
        primary_countries: tenant.primary_countries.clone(),
        portfolio_description: tenant.portfolio_description.clone(),
        advertising_policies: (!policy_text.is_empty()).then(|| policy_text.join(" ")),
        compliance_scenarios: if tenant.sandbox { super::sandbox::ADVERTISED_SCENARIOS.to_vec() } else { vec![] },
        specialisms: [
            (DeliveryType::Guaranteed, "sales-guaranteed"),
            (DeliveryType::NonGuaranteed, "sales-non-guaranteed"),
        ]
        .into_iter()
        .filter(|(kind, _)| catalog.products.iter().any(|p| p.delivery_type == *kind))
        .map(|(_, name)| name)
        .chain((!catalog.products.is_empty()).then_some("sales-proposal-mode"))
        .collect(),
    }
}

/// Checks a requested `adcp_major_version`.
///
/// # Errors
/// `VersionUnsupported` when it is not one of [`MAJOR_VERSIONS`].
pub fn check_version(requested: Option<i64>) -> Result<(), super::Error> {
    match requested {
        Some(version) if !MAJOR_VERSIONS.iter().any(|v| i64::from(*v) == version) => {
            Err(super::Error::VersionUnsupported { requested: version, supported: MAJOR_VERSIONS.to_vec() })
        }
        _ => Ok(()),
    }
}
