//! Tenants (publishers), principals (buyers and publisher ops) and buyer accounts.
//!
//! A tenant is resolved from the authenticated principal, never from a request payload. Accounts
//! belong to one tenant and are owned by the principal that created them; an admin principal of
//! the tenant sees every account.

use chrono::{DateTime, Utc};

/// A publisher running this sales agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    /// Sandbox tenants are for development and compliance runs: no real spend, test hooks on.
    pub sandbox: bool,
    /// The agent's own MCP URL; formats this publisher defines carry it as `agent_url`.
    pub agent_url: String,
    pub publisher_domains: Vec<String>,
    pub portfolio_description: Option<String>,
    pub primary_countries: Vec<String>,
    pub account_policy: AccountPolicy,
    /// How new and changed creatives are reviewed.
    pub creative_review: super::creative::ReviewPolicy,
    /// Which webhook destinations buyers may give.
    pub webhook_urls: super::webhook::UrlPolicy,
    /// Which operations wait for a person.
    pub approvals: super::approval::ApprovalPolicy,
}

/// How a tenant treats accounts that buyers declare through `sync_accounts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPolicy {
    /// Billing parties this publisher can invoice (`operator`, `agent`, `advertiser`).
    pub supported_billing: Vec<Billing>,
    /// Payment terms the publisher accepts; empty means it accepts none but its default.
    pub payment_terms: Vec<String>,
    /// New accounts need publisher approval before they can buy.
    pub require_approval: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    Operator,
    Agent,
    Advertiser,
}

impl Billing {
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Operator => "operator",
            Billing::Agent => "agent",
            Billing::Advertiser => "advertiser",
        }
    }

    pub fn parse(text: &str) -> Option<Billing> {
        match text {
            "operator" => Some(Billing::Operator),
            "agent" => Some(Billing::Agent),
            "advertiser" => Some(Billing::Advertiser),
            _ => None,
        }
    }
}

/// An authenticated caller: a buying agent (advertiser, agency) or publisher ops (`admin`).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub principal_id: String,
    pub tenant_id: String,
    pub name: String,
    pub admin: bool,
    pub created_at: DateTime<Utc>,
}

/// AdCP `enums/account-status.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    PendingApproval,
    Rejected,
    PaymentRequired,
    Suspended,
    Closed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::PendingApproval => "pending_approval",
            AccountStatus::Rejected => "rejected",
            AccountStatus::PaymentRequired => "payment_required",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<AccountStatus> {
        match text {
            "active" => Some(AccountStatus::Active),
            "pending_approval" => Some(AccountStatus::PendingApproval),
            "rejected" => Some(AccountStatus::Rejected),
            "payment_required" => Some(AccountStatus::PaymentRequired),
            "suspended" => Some(AccountStatus::Suspended),
            "closed" => Some(AccountStatus::Closed),
            _ => None,
        }
    }

    /// Terminal states: the account can never buy again.
    pub fn is_terminal(self) -> bool {
        matches!(self, AccountStatus::Rejected | AccountStatus::Closed)
    }
}

/// The natural key of an implicit account: brand, operator and whether it is a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    pub brand_domain: String,
    pub brand_id: Option<String>,
    pub operator: String,
    pub sandbox: bool,
}

/// A buyer account: who is advertised, who operates the buying, who is invoiced.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub account_id: String,
    pub tenant_id: String,
    pub owner_principal_id: String,
    pub key: AccountKey,
    pub name: String,
    pub status: AccountStatus,
    pub billing: Billing,
    pub payment_terms: Option<String>,
    pub billing_entity_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
