//! Buyer accounts under the implicit model (AdCP accounts protocol, `require_operator_auth:
//! false`): a buying agent declares brand + operator + billing through `sync_accounts` and this
//! seller accepts or rejects each one; it never silently changes requested terms.

use chrono::{DateTime, Utc};

use super::error::{Error, StoreError};
use super::pagination::{KeysetPage, Page, PageParams};
use super::ports::{AccountFilter, PageRequest, Store};
use super::tenancy::{Account, AccountKey, AccountStatus, Billing, Principal, Tenant};

/// One account as the buyer declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRequest {
    pub key: AccountKey,
    pub billing: String,
    pub payment_terms: Option<String>,
    pub billing_entity_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncAccounts {
    pub accounts: Vec<AccountRequest>,
    pub delete_missing: bool,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    Created,
    Updated,
    Unchanged,
    Failed,
}

impl SyncAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::Created => "created",
            SyncAction::Updated => "updated",
            SyncAction::Unchanged => "unchanged",
            SyncAction::Failed => "failed",
        }
    }
}

/// The per-account answer of `sync_accounts`.
#[derive(Debug)]
pub struct AccountOutcome {
    pub key: AccountKey,
    pub action: SyncAction,
    /// The account as it now is (or would be, in a dry run); absent when the item failed.
    pub account: Option<Account>,
    pub error: Option<Error>,
}

/// Accepts or rejects each declared account, saving all accepted changes in one transaction.
///
/// # Errors
/// Only whole-request failures (storage); per-account refusals are in the outcomes.
pub async fn sync_accounts<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    request: SyncAccounts,
    now: DateTime<Utc>,
) -> Result<Vec<AccountOutcome>, Error> {
    let mut outcomes: Vec<AccountOutcome> = Vec::with_capacity(request.accounts.len());
    let mut to_save: Vec<Account> = Vec::new();
    for (index, wanted) in request.accounts.into_iter().enumerate() {
        if let Err(error) = check_terms(tenant, &wanted, index) {
            outcomes.push(AccountOutcome {
                key: wanted.key,
                action: SyncAction::Failed,
                account: None,
                error: Some(error),
            });
            continue;
        }
        let billing = Billing::parse(&wanted.billing).unwrap_or(Billing::Operator);
        let pending = to_save.iter().find(|a| a.key == wanted.key).cloned();
        let existing = match pending {
            Some(account) => Some(account),
            None => store.account_by_key(&tenant.tenant_id, &principal.principal_id, &wanted.key).await?,
        };
        let (action, account) = match existing {
            None => {
                let status = if tenant.account_policy.require_approval && !wanted.key.sandbox {
                    AccountStatus::PendingApproval
                } else {
                    AccountStatus::Active
                };
                let account = Account {
                    account_id: format!("acc_{}", uuid::Uuid::new_v4().simple()),
                    tenant_id: tenant.tenant_id.clone(),
                    owner_principal_id: principal.principal_id.clone(),
                    name: account_name(&wanted.key),
                    key: wanted.key.clone(),
                    status,
                    billing,
                    payment_terms: wanted.payment_terms.clone(),
                    billing_entity_name: wanted.billing_entity_name.clone(),
                    created_at: now,
                    updated_at: now,
                };
                (SyncAction::Created, account)
            }
            Some(mut account) => {
                let changed = account.billing != billing
                    || account.payment_terms != wanted.payment_terms
                    || account.billing_entity_name != wanted.billing_entity_name;
                if changed && !account.status.is_terminal() {
                    account.billing = billing;
                    account.payment_terms = wanted.payment_terms.clone();
                    account.billing_entity_name = wanted.billing_entity_name.clone();
                    account.updated_at = now;
                    (SyncAction::Updated, account)
                } else {
                    (SyncAction::Unchanged, account)
                }
            }
        };
        if action != SyncAction::Unchanged {
            to_save.retain(|a| a.account_id != account.account_id);
            to_save.push(account.clone());
        }
        outcomes.push(AccountOutcome { key: wanted.key, action, account: Some(account), error: None });
    }

    if request.delete_missing {
        let filter = AccountFilter {
            tenant_id: tenant.tenant_id.clone(),
            owner_principal_id: Some(principal.principal_id.clone()),
            status: None,
            sandbox: None,
        };
        let mut after = None;
        loop {
            let batch = store.list_accounts(&filter, &PageRequest { after: after.clone(), limit: 500 }).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.account_id.clone());
            for mut account in batch {
                let mentioned = outcomes.iter().any(|o| o.key == account.key);
                if mentioned || account.status.is_terminal() {
                    continue;
                }
                account.status = AccountStatus::Closed;
                account.updated_at = now;
                to_save.push(account.clone());
                outcomes.push(AccountOutcome {
                    key: account.key.clone(),
                    action: SyncAction::Updated,
                    account: Some(account),
                    error: None,
                });
            }
        }
    }

    if !request.dry_run && !to_save.is_empty() {
        store.save_accounts(&to_save).await?;
    }
    Ok(outcomes)
}

fn check_terms(tenant: &Tenant, wanted: &AccountRequest, index: usize) -> Result<(), Error> {
    let policy = &tenant.account_policy;
    let supported = || policy.supported_billing.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ");
    match Billing::parse(&wanted.billing) {
        Some(billing) if policy.supported_billing.contains(&billing) => {}
        _ => {
            return Err(Error::Unsupported {
                message: format!("billing {:?} is not offered by this publisher", wanted.billing),
                field: format!("accounts[{index}].billing"),
                suggestion: format!("use one of: {}", supported()),
            });
        }
    }
    if let Some(terms) = &wanted.payment_terms
        && !policy.payment_terms.contains(terms)
    {
        return Err(Error::Unsupported {
            message: format!("payment terms {terms:?} are not offered by this publisher"),
            field: format!("accounts[{index}].payment_terms"),
            suggestion: format!("use one of: {}", policy.payment_terms.join(", ")),
        });
    }
    if wanted.key.brand_domain.trim().is_empty() || wanted.key.operator.trim().is_empty() {
        return Err(Error::invalid(format!("accounts[{index}]"), "brand.domain and operator must not be empty"));
    }
    Ok(())
}

fn account_name(key: &AccountKey) -> String {
    let brand = match &key.brand_id {
        Some(id) => format!("{} ({id})", key.brand_domain),
        None => key.brand_domain.clone(),
    };
    if key.operator == key.brand_domain { brand } else { format!("{brand} via {}", key.operator) }
}

/// Which accounts a caller asks to see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountQuery {
    pub status: Option<AccountStatus>,
    pub sandbox: Option<bool>,
    pub page: PageParams,
}

/// Lists the caller's accounts (every account of the tenant for an admin), ordered by id.
///
/// # Errors
/// `InvalidRequest` for a bad cursor; storage failures.
pub async fn list_accounts<S: Store>(
    store: &S,
    principal: &Principal,
    query: &AccountQuery,
) -> Result<Page<Account>, Error> {
    let page = KeysetPage::parse(&query.page)?;
    let filter = AccountFilter {
        tenant_id: principal.tenant_id.clone(),
        owner_principal_id: (!principal.admin).then(|| principal.principal_id.clone()),
        status: query.status,
        sandbox: query.sandbox,
    };
    let rows = store.list_accounts(&filter, &PageRequest { after: page.after.clone(), limit: page.limit + 1 }).await?;
    let total = store.count_accounts(&filter).await?;
    Ok(page.finish(rows, |account| account.account_id.clone(), Some(total)))
}

/// How a request names its account (AdCP `core/account-ref.json`).
#[derive(Debug, Clone, PartialEq)]
pub enum AccountRef {
    Id(String),
    Key(AccountKey),
}

/// What the caller wants to do with the account, for status gating (DIGEST §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// New spend: create a buy or add packages.
    Spend,
    /// Change or read existing buys.
    Manage,
    Read,
}

/// Resolves an account reference to an account the principal may use.
///
/// A foreign account answers exactly like a missing one. In a sandbox tenant an unknown
/// natural key provisions an active account on the spot, as the compliance suite expects;
/// elsewhere the buyer must declare it with `sync_accounts` first.
///
/// # Errors
/// `AccountNotFound`, the status gates (`AccountSetupRequired`, `AccountPaymentRequired`,
/// `AccountSuspended`), storage failures.
pub async fn resolve_account<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    reference: &AccountRef,
    usage: Use,
    now: DateTime<Utc>,
) -> Result<Account, Error> {
    let not_found = || Error::AccountNotFound { field: Some("account".to_owned()) };
    let account = match reference {
        AccountRef::Id(id) => {
            let account = store.account_by_id(&tenant.tenant_id, id).await?.ok_or_else(not_found)?;
            if account.owner_principal_id != principal.principal_id && !principal.admin {
                return Err(not_found());
            }
            account
        }
        AccountRef::Key(key) => match store.account_by_key(&tenant.tenant_id, &principal.principal_id, key).await? {
            Some(account) => account,
            None if tenant.sandbox => {
                let account = Account {
                    account_id: format!("acc_{}", uuid::Uuid::new_v4().simple()),
                    tenant_id: tenant.tenant_id.clone(),
                    owner_principal_id: principal.principal_id.clone(),
                    name: account_name(key),
                    key: key.clone(),
                    status: AccountStatus::Active,
                    billing: tenant.account_policy.supported_billing.first().copied().unwrap_or(Billing::Operator),
                    payment_terms: None,
                    billing_entity_name: None,
                    created_at: now,
                    updated_at: now,
                };
                match store.save_accounts(std::slice::from_ref(&account)).await {
                    Ok(()) => account,
                    // A concurrent first use provisioned the same key: use that account.
                    Err(StoreError::Conflict(_)) => store
                        .account_by_key(&tenant.tenant_id, &principal.principal_id, key)
                        .await?
                        .ok_or_else(not_found)?,
                    Err(error) => return Err(error.into()),
                }
            }
            None => return Err(not_found()),
        },
    };
    match (account.status, usage) {
        (AccountStatus::Rejected | AccountStatus::Closed, _) => Err(not_found()),
        (_, Use::Read) => Ok(account),
        (AccountStatus::Suspended, _) => Err(Error::AccountSuspended),
        (AccountStatus::PendingApproval, _) => {
            Err(Error::AccountSetupRequired("the publisher has not approved this account yet".to_owned()))
        }
        (AccountStatus::PaymentRequired, Use::Spend) => Err(Error::AccountPaymentRequired),
        (AccountStatus::PaymentRequired | AccountStatus::Active, _) => Ok(account),
    }
}
