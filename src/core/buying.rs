//! Buying: create, update and read media buys for a principal, through the store port.
//!
//! Each operation loads what it needs, decides with the pure rules of `media_buy`, and writes
//! once: a new buy with its history in one transaction, an update as a compare-and-set on the
//! buy's `revision` so that concurrent changes never overwrite each other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::accounts::{AccountRef, Use, resolve_account};
use super::approval::{self, Submission, Wire};
use super::booking::{self, AdServerError, Booker, Booking, BookingRecord};
use super::catalog::{Catalog, DeliveryType, PLACEHOLDER_PRODUCT};
use super::creative::CreativeStatus;
use super::creatives::review_states;
use super::error::{Error, StoreError};
use super::idempotency::Seal;
use super::media_buy::{
    Buyer, Cancellation, CreateMediaBuy, Event, MediaBuy, MediaBuyStatus, Pacing, PackageRequest, Party, Verbatim,
    check_budget, estimate_impressions, plan_media_buy, plan_package, transition,
};
use super::notify;
use super::pagination::{KeysetPage, Page, PageParams};
use super::ports::{Also, AuditEntry, HistoryEntry, MediaBuyFilter, PageRequest, ProposalAcceptance, Store};
use super::proposals::{self, ProposalProblem};
use super::reporting;
use super::sandbox::{self, Arm, ForcedArm};
use super::tasks::{Operation, Resolution, Task};
use super::tenancy::{Principal, Tenant};
use super::webhook::{Webhook, check_url};

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// How a mutation runs: when, with what idempotency seal, the request as received (kept by a
/// task if the operation waits for a person), and the sandbox testing hooks.
pub struct Mutation<'a, T> {
    pub now: DateTime<Utc>,
    pub seal: Option<&'a Seal<'a, T>>,
    pub request: &'a str,
    /// How the transport reads the request back and renders outcomes and notifications.
    pub wire: &'a dyn Wire,
    /// Validate and plan only; write nothing (X-Dry-Run).
    pub dry_run: bool,
    /// Approve at once what would wait for a person (X-Auto-Advance).
    pub auto_advance: bool,
    /// With `dry_run`: an ad server that only pretends, to rehearse the booking on (the calls it
    /// records are what the platform would have been sent).
    pub rehearse: Option<&'a dyn Booker>,
}

impl<'a, T> Mutation<'a, T> {
    /// A plain mutation at `now`: no seal, no hooks.
    pub fn at(now: DateTime<Utc>, wire: &'a dyn Wire) -> Self {
        Mutation { now, seal: None, request: "{}", wire, dry_run: false, auto_advance: false, rehearse: None }
    }

    /// The testing hooks are for sandbox tenants only.
    fn check_hooks(&self, tenant: &Tenant) -> Result<(), Error> {
        let hooks = [(self.dry_run, "X-Dry-Run"), (self.auto_advance, "X-Auto-Advance")];
        match hooks.iter().find(|(on, _)| *on) {
            Some((_, name)) if !tenant.sandbox => Err(Error::PermissionDenied(format!(
                "{name} is a testing hook of sandbox tenants; this tenant is not a sandbox"
            ))),
            _ => Ok(()),
        }
    }
}

/// What `create_media_buy` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The buy exists.
    Buy(MediaBuy),
    /// The buy waits for a person; the task tells what happens.
    Submitted(Task),
    /// Nothing was written: the buy as it would be, and why it would wait, if it would.
    DryRun { media_buy: MediaBuy, approval: Option<String> },
}

impl Created {
    /// The created buy, when it was created.
    pub fn into_buy(self) -> Option<MediaBuy> {
        match self {
            Created::Buy(buy) => Some(buy),
            _ => None,
        }
    }
}

/// Creates a buy for the principal under the referenced account, or submits it for approval
/// when the tenant's policy says a person must decide (see `approval`).
///
/// # Errors
/// Account resolution and gating, catalog validation (see `plan_media_buy`), storage.
pub async fn create_media_buy<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &CreateMediaBuy,
    mutation: &Mutation<'_, Created>,
) -> Result<Created, Error> {
    let now = mutation.now;
    mutation.check_hooks(tenant)?;
    let (buy, history) = plan_create(store, catalog, tenant, principal, request, now).await?;
    let guaranteed = buy.packages.iter().any(|p| {
        catalog.product(&p.product_id).is_some_and(|product| product.delivery_type == DeliveryType::Guaranteed)
    });
    let waits = approval::for_create(&tenant.approvals, principal, &buy, guaranteed);
    if mutation.dry_run {
        if let Some(ad_server) = mutation.rehearse {
            let creatives = booking::creatives_of(store, catalog, mutation.wire, &buy).await?;
            booking::rehearse(ad_server, &buy, Booking::default(), &creatives).await.map_err(rehearsal_refused)?;
        }
        return Ok(Created::DryRun { media_buy: buy, approval: waits.map(|hold| hold.reason) });
    }
    // A sandbox principal's forced arm (comply_test_controller) shapes this one create.
    let (waits, task_id) = match sandbox::forced_arm(store, tenant, principal).await? {
        Some(ForcedArm { arm: Arm::InputRequired, message, .. }) => {
            return Err(Error::InputRequired {
                message: message.unwrap_or_else(|| "the seller needs more input before it can book".to_owned()),
            });
        }
        Some(ForcedArm { arm: Arm::Submitted, task_id, message, .. }) => (
            Some(approval::Hold {
                reason: message
                    .unwrap_or_else(|| "held by comply_test_controller's force_create_media_buy_arm".to_owned()),
                io_only: false,
            }),
            task_id,
        ),
        None => (waits, None),
    };
    let mut sandbox_approval = None;
    if let Some(approval::Hold { reason, io_only }) = waits {
        let countersigned = tenant.sandbox && io_only && task_id.is_none() && !mutation.auto_advance;
        let submission = Submission {
            operation: Operation::CreateMediaBuy,
            task_type: "media_buy_approval",
            description: format!(
                "Approve media buy for {}: {} package(s), {:.2} {}, {} to {}",
                buy.brand_domain,
                buy.packages.len(),
                buy.total_budget(),
                buy.currency,
                buy.start_time.format("%Y-%m-%d"),
                buy.end_time.format("%Y-%m-%d")
            ),
            reason,
            media_buy_id: None,
            task_id,
            request: mutation.request,
            push_notification: request.push_notification.clone(),
        };
        // A sandbox countersigns an insertion order at once, standing in for the publisher: the
        // approved task is stored with the buy, and the buyer gets the buy, not a task to wait
        // for. Any other hold waits (or is approved through the task, see `submitted`).
        if !countersigned {
            return submitted(store, catalog, tenant, principal, submission, mutation, Created::Submitted).await;
        }
        let submission = Submission { media_buy_id: Some(buy.media_buy_id.clone()), ..submission };
        let result = mutation.wire.created(tenant, &buy, mutation.request);
        sandbox_approval = Some(approval::approved_by_sandbox(tenant, principal, submission, result, now)?);
    }
    let mut audit = vec![created_audit(&buy, &principal.principal_id, now)];
    let new_task = sandbox_approval.map(|(task, entries)| {
        audit.extend(entries);
        task
    });
    let wire = mutation.wire;
    let told = request.push_notification.as_ref().and_then(|hook| {
        let result = wire.created(tenant, &buy, mutation.request);
        notify::completed(
            &tenant.tenant_id,
            Some(hook),
            wire,
            Operation::CreateMediaBuy,
            result,
            Some(mutation.request),
            now,
        )
    });
    let created = Created::Buy(buy);
    let Created::Buy(buy) = &created else { unreachable!("built above") };
    let reports = reporting::schedule_for(buy, now);
    let also = Also {
        seal: mutation.seal.map(|seal| seal.response(&created, now)),
        task: None,
        new_task,
        audit,
        events: told.into_iter().collect(),
        reports,
        ..Also::default()
    };
    let also = Also { accept_proposal: proposal_acceptance(request, buy), ..also };
    insert(store, buy, &history, &also).await?;
    Ok(created)
}

/// The proposal a new buy is made from, to record with it.
pub fn proposal_acceptance(request: &CreateMediaBuy, buy: &MediaBuy) -> Option<ProposalAcceptance> {
    request.proposal_id.as_ref().map(|proposal_id| ProposalAcceptance {
        tenant_id: buy.tenant_id.clone(),
        principal_id: buy.principal_id.clone(),
        proposal_id: proposal_id.clone(),
        media_buy_id: buy.media_buy_id.clone(),
    })
}

/// Stores a new buy; a proposal bought meanwhile (by a concurrent request with another key)
/// refuses it.
///
/// # Errors
/// `ProposalNotUsable` when the proposal was bought meanwhile; storage.
pub async fn insert<S: Store>(store: &S, buy: &MediaBuy, history: &[HistoryEntry], also: &Also) -> Result<(), Error> {
    match store.insert_media_buy(buy, history, also).await {
        Err(StoreError::ProposalTaken) => {
            let proposal_id = also.accept_proposal.as_ref().map(|a| a.proposal_id.clone()).unwrap_or_default();
            let bought = store.proposal(&buy.tenant_id, &buy.principal_id, &proposal_id).await?;
            Err(Error::ProposalNotUsable {
                proposal_id,
                problem: ProposalProblem::Bought(bought.and_then(|p| p.media_buy_id).unwrap_or_default()),
            })
        }
        other => Ok(other?),
    }
}

/// Stores the submission's task (sealed with the answer `arm` gives), and approves it at once
/// when the sandbox hook asks for that.
async fn submitted<S: Store, T>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    submission: Submission<'_>,
    mutation: &Mutation<'_, T>,
    arm: fn(Task) -> T,
) -> Result<T, Error> {
    let now = mutation.now;
    let seal = |task: &Task| mutation.seal.map(|seal| seal.response(&arm(task.clone()), now));
    let task = approval::submit(store, mutation.wire, tenant, principal, submission, seal, now).await?;
    let sandbox_approves = tenant.sandbox && tenant.approvals.sandbox_auto_approve;
    if mutation.auto_advance || sandbox_approves {
        let actor = format!("auto-advance:{}", principal.principal_id);
        let notes = Some(if mutation.auto_advance {
            "approved by the X-Auto-Advance testing hook"
        } else {
            "approved by the sandbox, standing in for the publisher"
        });
        approval::decide(store, catalog, mutation.wire, tenant, &actor, &task, Resolution::Approved, notes, now)
            .await?;
    }
    Ok(arm(task))
}

/// Validates a new buy against the account, catalog and webhook rules and plans it, with its
/// first history entries; writes nothing.
///
/// # Errors
/// As [`create_media_buy`].
pub async fn plan_create<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &CreateMediaBuy,
    now: DateTime<Utc>,
) -> Result<(MediaBuy, Vec<HistoryEntry>), Error> {
    check_webhooks(tenant, request.push_notification.as_ref(), request.reporting_webhook.as_ref())?;
    // Sandbox leniency for the compliance suite's universal storyboards, which buy a placeholder
    // product they never discovered. Production catalogs never see it.
    let with_placeholder;
    let catalog = if tenant.sandbox
        && catalog.product(PLACEHOLDER_PRODUCT).is_none()
        && request.packages.iter().any(|p| p.product_id == PLACEHOLDER_PRODUCT)
        && let Some(extended) = catalog.with_placeholder_product()
    {
        with_placeholder = extended;
        &with_placeholder
    } else {
        catalog
    };
    let account = resolve_account(store, tenant, principal, &request.account, Use::Spend, now).await?;
    let from_proposal;
    let request = match (&request.proposal_id, &request.total_budget) {
        (Some(proposal_id), Some((amount, currency))) => {
            let packages =
                proposals::packages_for(store, catalog, tenant, principal, proposal_id, (*amount, currency), now)
                    .await?;
            from_proposal = CreateMediaBuy { packages, ..request.clone() };
            &from_proposal
        }
        (Some(_), None) => return Err(Error::invalid("total_budget", "buying a proposal needs total_budget")),
        (None, _) => request,
    };
    for (index, package) in request.packages.iter().enumerate() {
        let Some(quote_id) = &package.quote_id else { continue };
        let field = format!("packages[{index}].ext.seed_quote_id");
        let quote = super::avails::usable_quote(store, tenant, principal, quote_id, &field).await?;
        if quote.product_id != package.product_id || quote.pricing_option_id != package.pricing_option_id {
            return Err(Error::QuoteNotUsable {
                quote_id: quote_id.clone(),
                field,
                reason: format!("it quotes {} under {}", quote.product_id, quote.pricing_option_id),
            });
        }
        if request.packages[..index].iter().any(|p| p.quote_id.as_ref() == Some(quote_id)) {
            return Err(Error::invalid_with(
                field,
                format!("package {quote_id} is named twice"),
                "name each quote once",
            ));
        }
    }
    let buyer =
        Buyer { tenant_id: &tenant.tenant_id, principal_id: &principal.principal_id, account_id: &account.account_id };
    let buy = plan_media_buy(catalog, &buyer, request, now, &mut new_id)?;
    let history = HistoryEntry {
        revision: buy.revision,
        at: now,
        actor: principal.principal_id.clone(),
        action: "created".to_owned(),
        summary: format!(
            "Created with {} package(s), budget {:.2} {}",
            buy.packages.len(),
            buy.total_budget(),
            buy.currency
        ),
        package_id: None,
    };
    let mut entries = vec![history];
    if buy.has_creatives() {
        entries.push(HistoryEntry {
            action: "creatives_assigned".to_owned(),
            summary: "Created with creatives".to_owned(),
            ..entries[0].clone()
        });
    }
    Ok((buy, entries))
}

/// The audit entry of a new buy.
pub fn created_audit(buy: &MediaBuy, actor: &str, now: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        tenant_id: buy.tenant_id.clone(),
        at: now,
        actor: actor.to_owned(),
        object_type: "media_buy".to_owned(),
        object_id: buy.media_buy_id.clone(),
        action: "created".to_owned(),
        before: None,
        after: Some(buy.status.as_str().to_owned()),
        detail: Some(format!("{:.2} {}", buy.total_budget(), buy.currency)),
    }
}

/// The audit entry of a status change, if the status changed.
pub fn status_audit(
    buy: &MediaBuy,
    from: MediaBuyStatus,
    actor: &str,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> Option<AuditEntry> {
    (buy.status != from).then(|| AuditEntry {
        tenant_id: buy.tenant_id.clone(),
        at: now,
        actor: actor.to_owned(),
        object_type: "media_buy".to_owned(),
        object_id: buy.media_buy_id.clone(),
        action: "status_changed".to_owned(),
        before: Some(from.as_str().to_owned()),
        after: Some(buy.status.as_str().to_owned()),
        detail,
    })
}

/// A buy the principal may see, or `MediaBuyNotFound` (also for other principals' buys).
pub(crate) async fn owned_buy<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    media_buy_id: &str,
) -> Result<MediaBuy, Error> {
    match store.media_buy(&tenant.tenant_id, media_buy_id).await? {
        Some(buy) if buy.principal_id == principal.principal_id || principal.admin => Ok(buy),
        _ => Err(Error::MediaBuyNotFound),
    }
}

/// Changes to one package (AdCP `PackageUpdate`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageUpdate {
    pub package_id: String,
    pub budget: Option<f64>,
    pub pacing: Option<Pacing>,
    pub bid_price: Option<f64>,
    pub impressions: Option<f64>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub paused: Option<bool>,
    pub cancel: Option<Option<String>>,
    /// Replaces the whole overlay.
    pub targeting_overlay: Option<Verbatim>,
    /// Replaces the package's creative assignments.
    pub creative_ids: Option<Vec<String>>,
    /// Seed-era daily caps: `Some(None)` removes the cap.
    pub daily_budget: Option<Option<f64>>,
    pub daily_impressions: Option<Option<f64>>,
}

/// A PATCH of a buy (AdCP `update_media_buy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateMediaBuy {
    pub media_buy_id: String,
    pub account: Option<AccountRef>,
    pub revision: Option<i64>,
    pub paused: Option<bool>,
    /// `Some(reason)` cancels the buy; nothing else in the request is applied.
    pub cancel: Option<Option<String>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub packages: Vec<PackageUpdate>,
    pub new_packages: Vec<PackageRequest>,
    /// Replaces where status changes are pushed.
    pub push_notification: Option<Webhook>,
    /// Replaces where delivery reports are sent.
    pub reporting_webhook: Option<Webhook>,
}

/// The buy after an update, and the packages the update touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub media_buy: MediaBuy,
    pub affected_packages: Vec<String>,
}

/// What `update_media_buy` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    Buy(Updated),
    /// The change waits for a person; the task tells what happens.
    Submitted(Task),
    /// Nothing was written: the buy as it would be, and why it would wait, if it would.
    DryRun {
        updated: Updated,
        approval: Option<String>,
    },
}

impl Changed {
    /// The updated buy, when the update was applied.
    pub fn into_updated(self) -> Option<Updated> {
        match self {
            Changed::Buy(updated) => Some(updated),
            _ => None,
        }
    }
}

/// A rehearsal's failure as the buyer sees it: the ad server would refuse, or cannot be asked.
fn rehearsal_refused(error: AdServerError) -> Error {
    match error {
        AdServerError::Retryable(message) => Error::AdServerUnavailable(message),
        AdServerError::Permanent(message) => Error::invalid_with(
            "packages",
            format!("the ad server would refuse this: {message}"),
            "change what the ad server refuses, or ask the publisher",
        ),
    }
}

/// Applies a PATCH to a buy, or submits it for approval when it raises the budget more than the
/// tenant's policy lets through without a person.
///
/// # Errors
/// `MediaBuyNotFound`, `PackageNotFound`, `InvalidState`, `NotCancellable`, `Conflict`
/// (stale `revision` or a concurrent change), validation errors naming the field, storage.
pub async fn update_media_buy<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &UpdateMediaBuy,
    mutation: &Mutation<'_, Changed>,
) -> Result<Changed, Error> {
    let now = mutation.now;
    mutation.check_hooks(tenant)?;
    let plan = plan_update(store, catalog, tenant, principal, request, now).await?;
    let waits = approval::for_update(&tenant.approvals, principal, plan.budget_before, &plan.updated.media_buy);
    if mutation.dry_run {
        if let Some(ad_server) = mutation.rehearse {
            // From what the ad server has now: the calls the change would make.
            let buy = &plan.updated.media_buy;
            let booked = store.booking(&tenant.tenant_id, &buy.media_buy_id).await?.map(|r| r.booking);
            let creatives = booking::creatives_of(store, catalog, mutation.wire, buy).await?;
            booking::rehearse(ad_server, buy, booked.unwrap_or_default(), &creatives)
                .await
                .map_err(rehearsal_refused)?;
        }
        return Ok(Changed::DryRun { updated: plan.updated, approval: waits });
    }
    if let Some(reason) = waits {
        let buy = &plan.updated.media_buy;
        let submission = Submission {
            operation: Operation::UpdateMediaBuy,
            task_type: "budget_increase_approval",
            description: format!(
                "Approve budget increase of media buy {} from {:.2} to {:.2} {}",
                buy.media_buy_id,
                plan.budget_before,
                buy.total_budget(),
                buy.currency
            ),
            reason,
            media_buy_id: Some(buy.media_buy_id.clone()),
            task_id: None,
            request: mutation.request,
            push_notification: request.push_notification.clone().or_else(|| buy.push_notification.clone()),
        };
        return submitted(store, catalog, tenant, principal, submission, mutation, Changed::Submitted).await;
    }
    let wire = mutation.wire;
    let hook = request.push_notification.as_ref().or(plan.updated.media_buy.push_notification.as_ref());
    let told = hook.and_then(|hook| {
        let result = wire.updated(tenant, &plan.updated, mutation.request, now);
        notify::completed(
            &tenant.tenant_id,
            Some(hook),
            wire,
            Operation::UpdateMediaBuy,
            result,
            Some(mutation.request),
            now,
        )
    });
    // A new reporting webhook restarts the report schedule from now (keeping its sequence).
    let reports =
        request.reporting_webhook.as_ref().and_then(|_| reporting::schedule_for(&plan.updated.media_buy, now));
    let changed = Changed::Buy(plan.updated);
    let also = Also {
        seal: mutation.seal.map(|seal| seal.response(&changed, now)),
        task: None,
        audit: plan.audit,
        events: told.into_iter().collect(),
        reports,
        ..Also::default()
    };
    let Changed::Buy(updated) = &changed else { unreachable!("built above") };
    if plan.history.is_empty() {
        // Nothing to change: the answer is the buy as it is, without a new revision.
        if let Some(sealed) = &also.seal {
            store.seal_idempotency_key(sealed).await?;
        }
    } else if !store.update_media_buy(&updated.media_buy, plan.expected, &plan.history, &also).await? {
        return Err(Error::Conflict {
            message: "the media buy changed concurrently; read it again and retry".to_owned(),
        });
    }
    Ok(changed)
}

/// A validated update, not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    pub updated: Updated,
    /// The revision the write must find.
    pub expected: i64,
    /// Empty when the request changes nothing.
    pub history: Vec<HistoryEntry>,
    pub audit: Vec<AuditEntry>,
    pub budget_before: f64,
}

/// Validates a PATCH against the buy as stored now and plans the result; writes nothing.
///
/// # Errors
/// As [`update_media_buy`].
pub async fn plan_update<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &UpdateMediaBuy,
    now: DateTime<Utc>,
) -> Result<UpdatePlan, Error> {
    let mut buy = owned_buy(store, tenant, principal, &request.media_buy_id).await?;
    let (from, budget_before) = (buy.status, buy.total_budget());
    check_webhooks(tenant, request.push_notification.as_ref(), request.reporting_webhook.as_ref())?;
    let usage = if request.new_packages.is_empty() { Use::Manage } else { Use::Spend };
    // The buy's own account gates the change. Outside sandbox the request must name that same
    // account; sandbox tenants accept the inconsistent account references of test harnesses
    // (DIGEST §11.3), the buy being found within the principal's own buys either way.
    if let (Some(reference), false) = (&request.account, tenant.sandbox) {
        let account = resolve_account(store, tenant, principal, reference, usage, now).await?;
        if account.account_id != buy.account_id {
            return Err(Error::MediaBuyNotFound);
        }
    } else {
        let reference = AccountRef::Id(buy.account_id.clone());
        resolve_account(store, tenant, principal, &reference, usage, now).await?;
    }
    if let Some(revision) = request.revision
        && revision != buy.revision
    {
        return Err(Error::Conflict {
            message: format!("revision {revision} is stale; the media buy is at revision {}", buy.revision),
        });
    }
    let expected = buy.revision;
    let mut history: Vec<HistoryEntry> = Vec::new();
    let mut affected: Vec<String> = Vec::new();
    let entry = |action: &str, summary: String, package_id: Option<String>| HistoryEntry {
        revision: expected + 1,
        at: now,
        actor: principal.principal_id.clone(),
        action: action.to_owned(),
        summary,
        package_id,
    };

    if let Some(reason) = &request.cancel {
        buy.status = transition(buy.status, Event::Cancel)?;
        buy.cancellation = Some(Cancellation { canceled_at: now, canceled_by: Party::Buyer, reason: reason.clone() });
        // Assignments are released; the creatives stay in the library untouched.
        for package in &mut buy.packages {
            package.creative_ids.clear();
        }
        history.push(entry("canceled", reason.clone().unwrap_or_else(|| "Canceled by the buyer".to_owned()), None));
    } else {
        let touches_anything = request.paused.is_some()
            || request.start_time.is_some()
            || request.end_time.is_some()
            || !request.packages.is_empty()
            || !request.new_packages.is_empty();
        if buy.status.is_terminal() && touches_anything {
            return Err(Error::InvalidState {
                message: format!("media buy is {}; it can no longer change", buy.status.as_str()),
            });
        }
        update_dates(&mut buy, request, &mut history, &entry)?;
        for (index, change) in request.packages.iter().enumerate() {
            update_package(catalog, &mut buy, change, index, now, &mut history, &entry)?;
            affected.push(change.package_id.clone());
        }
        for (index, wanted) in request.new_packages.iter().enumerate() {
            if wanted.quote_id.is_some() {
                return Err(Error::Unsupported {
                    message: "a get_avails quote buys a new media buy; it cannot be added to one".to_owned(),
                    field: format!("new_packages[{index}].ext.seed_quote_id"),
                    suggestion: "add the package by product_id and pricing_option_id".to_owned(),
                });
            }
            let mut new_id = new_id;
            let package = plan_package(catalog, wanted, index, buy.start_time, buy.end_time, &mut new_id)
                .map_err(|e| rename_field(e, "packages", "new_packages"))?;
            if package.currency != buy.currency {
                return Err(Error::invalid(
                    format!("new_packages[{index}].pricing_option_id"),
                    format!("packages must be priced in the buy's currency ({})", buy.currency),
                ));
            }
            history.push(entry(
                "updated_packages",
                format!("Added package for {}", package.product_id),
                Some(package.package_id.clone()),
            ));
            affected.push(package.package_id.clone());
            buy.packages.push(package);
        }
        if buy.has_creatives() {
            buy.status = transition(buy.status, Event::CreativesReady { flight_started: now >= buy.start_time })?;
        }
        match request.paused {
            Some(true) => {
                buy.status = transition(buy.status, Event::Pause)?;
                history.push(entry("paused", "Paused by the buyer".to_owned(), None));
            }
            Some(false) => {
                buy.status = transition(buy.status, Event::Resume)?;
                history.push(entry("resumed", "Resumed by the buyer".to_owned(), None));
            }
            None => {}
        }
    }
    // Where notifications go may change in any state, also alongside a cancellation.
    let push = request.push_notification.as_ref().filter(|w| buy.push_notification.as_ref() != Some(*w));
    let reporting = request.reporting_webhook.as_ref().filter(|w| buy.reporting_webhook.as_ref() != Some(*w));
    if push.is_some() || reporting.is_some() {
        let what: Vec<&str> =
            [push.map(|_| "push notifications"), reporting.map(|_| "delivery reports")].into_iter().flatten().collect();
        history.push(entry("notifications_updated", format!("New destination for {}", what.join(" and ")), None));
        if let Some(push) = push {
            buy.push_notification = Some(push.clone());
        }
        if let Some(reporting) = reporting {
            buy.reporting_webhook = Some(reporting.clone());
        }
    }
    if !history.is_empty() {
        buy.revision = expected + 1;
        buy.updated_at = now;
    }
    let audit = status_audit(&buy, from, &principal.principal_id, None, now).into_iter().collect();
    Ok(UpdatePlan {
        updated: Updated { media_buy: buy, affected_packages: affected },
        expected,
        history,
        audit,
        budget_before,
    })
}

/// Refuses webhook destinations the tenant does not accept (see `core::webhook`).
fn check_webhooks(tenant: &Tenant, push: Option<&Webhook>, reporting: Option<&Webhook>) -> Result<(), Error> {
    if let Some(push) = push {
        check_url(&push.url, "push_notification_config.url", tenant.webhook_urls)?;
    }
    if let Some(reporting) = reporting {
        check_url(&reporting.url, "reporting_webhook.url", tenant.webhook_urls)?;
    }
    Ok(())
}

fn rename_field(error: Error, from: &str, to: &str) -> Error {
    let rename = |field: String| field.replacen(from, to, 1);
    match error {
        Error::InvalidRequest { message, field, suggestion } => {
            Error::InvalidRequest { message, field: field.map(rename), suggestion }
        }
        Error::ProductNotFound { product_id, field } => Error::ProductNotFound { product_id, field: rename(field) },
        Error::BudgetTooLow { message, field, minimum, currency } => {
            Error::BudgetTooLow { message, field: rename(field), minimum, currency }
        }
        other => other,
    }
}

type Entry<'a> = dyn Fn(&str, String, Option<String>) -> HistoryEntry + 'a;

fn update_dates(
    buy: &mut MediaBuy,
    request: &UpdateMediaBuy,
    history: &mut Vec<HistoryEntry>,
    entry: &Entry<'_>,
) -> Result<(), Error> {
    if request.start_time.is_none() && request.end_time.is_none() {
        return Ok(());
    }
    let start = request.start_time.unwrap_or(buy.start_time);
    let end = request.end_time.unwrap_or(buy.end_time);
    if end <= start {
        return Err(Error::invalid("end_time", "end_time must be after start_time"));
    }
    for (index, package) in buy.packages.iter_mut().enumerate() {
        // Packages that followed the buy's flight follow it again; others must still fit.
        if package.start_time == buy.start_time {
            package.start_time = start;
        }
        if package.end_time == buy.end_time {
            package.end_time = end;
        }
        if package.start_time < start || package.end_time > end {
            return Err(Error::invalid_with(
                format!("packages[{index}]"),
                format!("package {} would fall outside the new flight", package.package_id),
                "change that package's dates in the same request",
            ));
        }
    }
    buy.start_time = start;
    buy.end_time = end;
    history.push(entry("updated_dates", format!("Flight now {} to {}", start.to_rfc3339(), end.to_rfc3339()), None));
    Ok(())
}

fn update_package(
    catalog: &Catalog,
    buy: &mut MediaBuy,
    change: &PackageUpdate,
    index: usize,
    now: DateTime<Utc>,
    history: &mut Vec<HistoryEntry>,
    entry: &Entry<'_>,
) -> Result<(), Error> {
    let at = |field: &str| format!("packages[{index}].{field}");
    let (buy_start, buy_end) = (buy.start_time, buy.end_time);
    let package = buy
        .packages
        .iter_mut()
        .find(|p| p.package_id == change.package_id)
        .ok_or_else(|| Error::PackageNotFound { package_id: change.package_id.clone(), field: at("package_id") })?;
    if package.is_canceled() {
        return Err(Error::InvalidState { message: format!("package {} is canceled", package.package_id) });
    }
    let id = Some(package.package_id.clone());
    if let Some(reason) = &change.cancel {
        package.cancellation =
            Some(Cancellation { canceled_at: now, canceled_by: Party::Buyer, reason: reason.clone() });
        package.creative_ids.clear();
        history.push(entry("package_canceled", reason.clone().unwrap_or_else(|| "Package canceled".to_owned()), id));
        return Ok(());
    }
    let product = catalog.product(&package.product_id);
    let option =
        product.and_then(|p| p.pricing_options.iter().find(|o| o.pricing_option_id == package.pricing_option_id));
    if let Some(bid) = change.bid_price {
        match option {
            Some(option) if option.fixed_price.is_some() => {
                return Err(Error::invalid(at("bid_price"), "this package has a fixed price; it takes no bid"));
            }
            Some(option) if !bid.is_finite() || option.floor_price.is_some_and(|floor| bid < floor) => {
                return Err(Error::invalid_with(
                    at("bid_price"),
                    format!("bid_price {bid} is below the floor"),
                    format!("bid at least {}", option.floor_price.unwrap_or(0.0)),
                ));
            }
            _ => {}
        }
        package.bid_price = Some(bid);
        package.rate = bid;
        history.push(entry("updated_packages", format!("Bid now {bid}"), id.clone()));
    }
    if let Some(budget) = change.budget {
        match option {
            Some(option) => check_budget(option, budget, &at("budget"))?,
            None if !budget.is_finite() || budget <= 0.0 => {
                return Err(Error::invalid(at("budget"), "budget must be a positive amount"));
            }
            None => {}
        }
        history.push(entry("updated_budget", format!("Budget {} -> {budget}", package.budget), id.clone()));
        package.budget = budget;
    }
    if (change.budget.is_some() || change.bid_price.is_some())
        && let (Some(product), None) = (product, change.impressions)
    {
        package.impressions = estimate_impressions(
            product,
            package.pricing_model,
            package.rate,
            package.budget,
            package.start_time,
            package.end_time,
        );
    }
    if let Some(goal) = change.impressions {
        if !goal.is_finite() || goal < 0.0 {
            return Err(Error::invalid(at("impressions"), "impressions must be a non-negative number"));
        }
        package.impressions = goal;
        history.push(entry("updated_packages", format!("Impression goal {goal}"), id.clone()));
    }
    if let Some(pacing) = change.pacing {
        package.pacing = pacing;
        history.push(entry("updated_packages", format!("Pacing {}", pacing.as_str()), id.clone()));
    }
    if change.start_time.is_some() || change.end_time.is_some() {
        let start = change.start_time.unwrap_or(package.start_time);
        let end = change.end_time.unwrap_or(package.end_time);
        if start < buy_start || end > buy_end || end <= start {
            return Err(Error::invalid(at("start_time"), "package dates must lie inside the media buy's flight"));
        }
        package.start_time = start;
        package.end_time = end;
        history.push(entry("updated_packages", format!("Package flight {start} to {end}"), id.clone()));
    }
    if let Some(paused) = change.paused {
        package.paused = paused;
        history.push(entry(if paused { "package_paused" } else { "package_resumed" }, String::new(), id.clone()));
    }
    if let Some(overlay) = &change.targeting_overlay {
        package.targeting_overlay = Some(overlay.clone());
        history.push(entry("updated_packages", "Targeting overlay replaced".to_owned(), id.clone()));
    }
    for (cap, wanted, what) in [
        (&mut package.daily_budget, change.daily_budget, "Daily budget cap"),
        (&mut package.daily_impressions, change.daily_impressions, "Daily impression cap"),
    ] {
        if let Some(wanted) = wanted {
            *cap = wanted;
            let summary = wanted.map_or_else(|| format!("{what} removed"), |value| format!("{what} {value}"));
            history.push(entry("updated_packages", summary, id.clone()));
        }
    }
    if let Some(creative_ids) = &change.creative_ids {
        let mut seen = HashSet::new();
        package.creative_ids = creative_ids.iter().filter(|c| seen.insert(c.as_str())).cloned().collect();
        let action = if package.creative_ids.is_empty() { "creatives_unassigned" } else { "creatives_assigned" };
        history.push(entry(action, format!("{} creative(s) assigned", package.creative_ids.len()), id));
    }
    Ok(())
}

/// Which buys a caller asks to see (AdCP `get_media_buys`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaBuyQuery {
    pub account: Option<AccountRef>,
    pub media_buy_ids: Vec<String>,
    pub statuses: Option<Vec<MediaBuyStatus>>,
    pub page: PageParams,
    /// How many history entries to include per buy (0: none).
    pub history: u32,
    /// Include each buy's booking on the ad server (real ad servers; see `reconcile`).
    pub ad_server_state: bool,
}

/// The review state of each creative in a buyer's library (status, rejection reason).
pub type ReviewStates = HashMap<String, (CreativeStatus, Option<String>)>;

/// A buy as `get_media_buys` shows it: with its recent history when asked for, and the review
/// state of its owner's creatives for per-package approvals.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaBuyView {
    pub media_buy: MediaBuy,
    /// Where the buy stands on the ad server, when asked for.
    pub booking: Option<BookingRecord>,
    pub history: Option<Vec<HistoryEntry>>,
    pub reviews: Arc<ReviewStates>,
}

/// Lists the principal's buys (every buy of the tenant for an admin). Without ids and without a
/// status filter only active buys are listed, as AdCP specifies.
///
/// # Errors
/// A bad cursor, account resolution, storage.
pub async fn get_media_buys<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    query: &MediaBuyQuery,
    now: DateTime<Utc>,
) -> Result<Page<MediaBuyView>, Error> {
    let page = KeysetPage::parse(&query.page)?;
    let filter = buy_filter(
        store,
        tenant,
        principal,
        query.account.as_ref(),
        &query.media_buy_ids,
        query.statuses.as_deref(),
        &[MediaBuyStatus::Active],
        now,
    )
    .await?;
    let rows =
        store.list_media_buys(&filter, &PageRequest { after: page.after.clone(), limit: page.limit + 1 }).await?;
    // A first page that holds every match (the usual lookup by ids) is its own count.
    let total = if page.after.is_none() && rows.len() <= page.limit {
        rows.len() as u64
    } else {
        store.count_media_buys(&filter).await?
    };
    let page = page.finish(rows, |buy| buy.media_buy_id.clone(), Some(total));
    let mut bookings = if query.ad_server_state && !page.items.is_empty() {
        let ids: Vec<String> = page.items.iter().map(|b| b.media_buy_id.clone()).collect();
        store.bookings(&tenant.tenant_id, &ids).await?
    } else {
        Vec::new()
    };
    let mut reviews: HashMap<String, Arc<ReviewStates>> = HashMap::new();
    let mut items = Vec::with_capacity(page.items.len());
    for buy in page.items {
        let states = match reviews.get(&buy.principal_id) {
            Some(states) => states.clone(),
            None => {
                let states = Arc::new(review_states(store, &tenant.tenant_id, &buy.principal_id).await?);
                reviews.insert(buy.principal_id.clone(), states.clone());
                states
            }
        };
        let history = match query.history {
            0 => None,
            limit => Some(store.media_buy_history(&buy.media_buy_id, limit).await?),
        };
        let booking =
            bookings.iter().position(|r| r.media_buy_id == buy.media_buy_id).map(|at| bookings.swap_remove(at));
        items.push(MediaBuyView { media_buy: buy, booking, history, reviews: states });
    }
    Ok(Page { items, next_cursor: page.next_cursor, total: page.total })
}

/// Which of the tenant's buys a principal asks about: its own (all, for an admin), under the
/// referenced account, by id in any status, or else by status (`default_statuses` when the
/// caller names none).
///
/// # Errors
/// Account resolution; storage.
#[allow(clippy::too_many_arguments)]
pub async fn buy_filter<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    account: Option<&AccountRef>,
    media_buy_ids: &[String],
    statuses: Option<&[MediaBuyStatus]>,
    default_statuses: &[MediaBuyStatus],
    now: DateTime<Utc>,
) -> Result<MediaBuyFilter, Error> {
    let account_id = match account {
        None => None,
        Some(reference) => Some(resolve_account(store, tenant, principal, reference, Use::Read, now).await?.account_id),
    };
    let statuses = match (statuses, media_buy_ids.is_empty()) {
        (Some(statuses), _) => statuses.to_vec(),
        (None, true) => default_statuses.to_vec(),
        (None, false) => Vec::new(),
    };
    Ok(MediaBuyFilter {
        tenant_id: tenant.tenant_id.clone(),
        principal_id: (!principal.admin).then(|| principal.principal_id.clone()),
        account_id,
        statuses,
        media_buy_ids: media_buy_ids.to_vec(),
    })
}
