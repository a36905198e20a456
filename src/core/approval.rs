//! Approval: when a buyer's operation must wait for a person, how it waits, and what happens
//! when the person decides.
//!
//! A tenant's [`ApprovalPolicy`] (configuration, no code) says which media buys and budget
//! increases need a person. An operation that does is validated in full first, then stored as a
//! task with its request ([`submit`]); the buyer gets the AdCP submitted arm. [`decide`] resolves
//! the task: `approved` runs the operation against the state of that moment and commits its
//! effect together with the task's completion (one transaction, compare-and-set on the task's
//! revision), so it runs exactly once; any other resolution runs nothing. An operation that is
//! refused when it runs fails the task with the refusal. Every decision goes to the audit log.

use chrono::{DateTime, Duration, Utc};

use super::buying::{self, UpdateMediaBuy};
use super::catalog::Catalog;
use super::creative::{AssetInput, Creative, CreativeStatus, creative_transition_allowed};
use super::creatives;
use super::error::{Error, StoreError};
use super::media_buy::{CreateMediaBuy, MediaBuy, Verbatim};
use super::notify::{self, TaskEvent};
use super::pagination::{KeysetPage, Page, PageParams};
use super::ports::{Also, AuditEntry, AuditFilter, PageRequest, SealedResponse, Store, TaskFilter, TaskWrite};
use super::reporting::{self, Report};
use super::tasks::{self, NewTask, Operation, Priority, Resolution, Task, TaskFailure, TaskStatus};
use super::tenancy::{Principal, Tenant};
use super::webhook::Webhook;

/// Which media buys need a person before they are booked.
#[derive(Debug, Clone, PartialEq)]
pub enum BuyApproval {
    Never,
    Always,
    /// Buys whose total budget is above this amount (in the buy's currency).
    AboveBudget(f64),
    /// Buys of principals not in this list.
    UntrustedPrincipals(Vec<String>),
}

/// A tenant's approval rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPolicy {
    pub media_buys: BuyApproval,
    /// An update that raises a buy's total budget by more than this share (0.2 = 20 %) needs a
    /// person; `None` never (seed 003).
    pub budget_increase_share: Option<f64>,
    /// How long a task may wait before it is overdue and escalated.
    pub due_in: Duration,
    /// Where publisher ops hear of new and overdue tasks (Slack-compatible JSON), if anywhere.
    pub ops_webhook: Option<Webhook>,
    /// Buys of guaranteed inventory wait for the publisher to countersign an insertion order; a
    /// sandbox tenant countersigns at once (the buyer gets the buy, the task is stored approved).
    pub guaranteed_io: bool,
    /// Sandbox tenants only: the system approves held operations at once, through the same task
    /// (the buyer still sees the submitted arm, then the task completed).
    pub sandbox_auto_approve: bool,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            media_buys: BuyApproval::Never,
            budget_increase_share: None,
            due_in: Duration::hours(24),
            ops_webhook: None,
            guaranteed_io: false,
            sandbox_auto_approve: false,
        }
    }
}

/// Why a new buy waits, if it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub reason: String,
    /// Only for an insertion order to countersign (no other review): a sandbox tenant
    /// countersigns it at once (see [`approved_by_sandbox`]).
    pub io_only: bool,
}

/// Why a new buy needs a person, if it does (`guaranteed`: it buys guaranteed inventory).
/// Publisher admins are never held.
pub fn for_create(policy: &ApprovalPolicy, principal: &Principal, buy: &MediaBuy, guaranteed: bool) -> Option<Hold> {
    if principal.admin {
        return None;
    }
    let io = (policy.guaranteed_io && guaranteed)
        .then(|| "guaranteed inventory is booked against an insertion order the publisher countersigns".to_owned());
    let review = match &policy.media_buys {
        BuyApproval::Never => None,
        BuyApproval::Always => Some("the publisher approves every media buy".to_owned()),
        BuyApproval::AboveBudget(limit) => (buy.total_budget() > *limit).then(|| {
            format!(
                "budget {:.2} {} is above the {:.2} {} that is booked without review",
                buy.total_budget(),
                buy.currency,
                limit,
                buy.currency
            )
        }),
        BuyApproval::UntrustedPrincipals(trusted) => (!trusted.contains(&principal.principal_id))
            .then(|| format!("buyer {} is not yet trusted for automatic booking", principal.principal_id)),
    };
    match (io, review) {
        (None, None) => None,
        (Some(io), None) => Some(Hold { reason: io, io_only: true }),
        (None, Some(review)) => Some(Hold { reason: review, io_only: false }),
        (Some(io), Some(review)) => Some(Hold { reason: format!("{review}; {io}"), io_only: false }),
    }
}

/// Why an update needs a person, if it does: a budget increase above the policy's share.
pub fn for_update(policy: &ApprovalPolicy, principal: &Principal, old: f64, after: &MediaBuy) -> Option<String> {
    let share = policy.budget_increase_share?;
    if principal.admin {
        return None;
    }
    let new = after.total_budget();
    (new > old * (1.0 + share) + 0.005).then(|| {
        format!(
            "the budget rises from {old:.2} to {new:.2} {}, more than the {:.0} % booked without review",
            after.currency,
            share * 100.0
        )
    })
}

/// How the transport that deferred a request reads it back and renders what running it gave.
/// Core never parses or renders a wire format itself.
pub trait Wire: Send + Sync {
    fn create_request(&self, request: &str) -> Result<CreateMediaBuy, Error>;
    fn update_request(&self, request: &str) -> Result<UpdateMediaBuy, Error>;
    /// The response the buyer would have had for the buy, had it not waited.
    fn created(&self, tenant: &Tenant, buy: &MediaBuy, request: &str) -> String;
    fn updated(&self, tenant: &Tenant, updated: &buying::Updated, request: &str, now: DateTime<Utc>) -> String;
    /// The refusal, as an AdCP error code, message and error response.
    fn failure(&self, error: &Error, request: &str) -> TaskFailure;
    /// The webhook body of `event` for `webhook` (compact JSON; its bytes are signed and sent).
    fn webhook_payload(&self, event: &TaskEvent<'_>, webhook: &Webhook) -> String;
    /// A buy the seller moved (activated, completed, canceled, rejected), as a webhook result.
    fn buy_changed(&self, buy: &MediaBuy, reason: &str) -> String;
    /// The outcome of a creative review: each creative's final status.
    fn creatives_reviewed(&self, creatives: &[Creative], request: &str) -> String;
    /// The response of a `sync_creatives` as far as the library goes (assignments follow).
    fn synced(&self, tenant: &Tenant, outcomes: &[creatives::CreativeOutcome], request: &str) -> String;
    /// A message for publisher ops' chat webhook (Slack-compatible).
    fn ops_message(&self, text: &str) -> String;
    /// A delivery report for a reporting webhook.
    fn delivery_report(&self, report: &Report<'_>, webhook: &Webhook) -> String;
    /// A stored creative's assets (its `assets` object as the buyer sent it), by asset id.
    fn creative_assets(&self, assets: &Verbatim) -> Vec<(String, AssetInput)>;
}

/// Publisher ops' notice of a task (created, escalated) for the tenant's ops webhook, if it
/// has one.
pub fn ops_notice(
    tenant: &Tenant,
    wire: &dyn Wire,
    task: &Task,
    headline: &str,
    now: DateTime<Utc>,
) -> Option<notify::Notification> {
    let hook = tenant.approvals.ops_webhook.as_ref()?;
    let mut text = format!(
        "{headline}: {} [{} priority] {} (task {}, due {})",
        task.task_type,
        task.priority.as_str(),
        task.description,
        task.task_id,
        task.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    if let Some(detail) = &task.detail {
        text.push_str(&format!(". Why: {detail}"));
    }
    Some(notify::Notification {
        event_id: notify::event_id(),
        tenant_id: tenant.tenant_id.clone(),
        url: hook.url.clone(),
        config: hook.config.clone(),
        body: wire.ops_message(&text),
        created_at: now,
    })
}

/// What a waiting operation is.
pub struct Submission<'a> {
    pub operation: Operation,
    pub task_type: &'a str,
    pub description: String,
    pub reason: String,
    pub media_buy_id: Option<String>,
    /// The task's id when the caller chose it (a sandbox's forced arm); else a new one.
    pub task_id: Option<String>,
    pub request: &'a str,
    pub push_notification: Option<super::webhook::Webhook>,
}

/// The task that holds `submission` (under the id it names, if any), and its audit entry.
fn opened(
    tenant: &Tenant,
    principal: &Principal,
    submission: Submission<'_>,
    now: DateTime<Utc>,
) -> (Task, AuditEntry) {
    let new = NewTask {
        task_type: submission.task_type.to_owned(),
        operation: Some(submission.operation),
        principal_id: Some(principal.principal_id.clone()),
        media_buy_id: submission.media_buy_id,
        creative_ids: vec![],
        priority: Priority::Medium,
        description: submission.description,
        detail: Some(submission.reason),
        due_in: tenant.approvals.due_in,
        request: Some(submission.request.to_owned()),
        push_notification: submission.push_notification,
    };
    let mut task = tasks::open(&tenant.tenant_id, new, now);
    if let Some(task_id) = submission.task_id {
        task.task_id = task_id;
    }
    let created = task_audit(&task, &principal.principal_id, "created", None, task.detail.clone(), now);
    (task, created)
}

/// The actor that approves in a sandbox tenant with `approvals.sandbox_auto_approve`.
pub const SANDBOX_APPROVER: &str = "sandbox";

/// The task that would hold `submission`, opened and approved at once by the sandbox standing
/// in for the publisher (it countersigns insertion orders), with the operation's `result` and
/// the audit entries of both steps. The caller stores it in the operation's own transaction
/// (`Also.new_task`), so the buyer gets the operation's answer at once and the task records
/// who approved what.
///
/// # Errors
/// `PermissionDenied` outside sandbox tenants.
pub fn approved_by_sandbox(
    tenant: &Tenant,
    principal: &Principal,
    submission: Submission<'_>,
    result: String,
    now: DateTime<Utc>,
) -> Result<(Task, Vec<AuditEntry>), Error> {
    if !tenant.sandbox {
        return Err(Error::PermissionDenied("only a sandbox tenant approves by itself".into()));
    }
    let media_buy_id = submission.media_buy_id.clone();
    let (task, created) = opened(tenant, principal, submission, now);
    let notes = "countersigned by the sandbox, standing in for the publisher";
    let (mut approved, decision) = resolve_audited(&task, Resolution::Approved, SANDBOX_APPROVER, Some(notes), now)?;
    approved.media_buy_id = media_buy_id;
    approved.result = Some(result);
    Ok((approved, vec![created, decision]))
}

/// Stores the task that holds `submission` for a person, with `seal` (the submitted answer
/// under the buyer's idempotency key) and an audit entry, in one transaction.
///
/// # Errors
/// `KeyTaken` when a concurrent identical request won the key, storage.
pub async fn submit<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    principal: &Principal,
    submission: Submission<'_>,
    seal: impl FnOnce(&Task) -> Option<SealedResponse>,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let (task, audit) = opened(tenant, principal, submission, now);
    let events = ops_notice(tenant, wire, &task, "New task", now).into_iter().collect();
    let also = Also { seal: seal(&task), audit: vec![audit], events, ..Also::default() };
    store.insert_task(&task, &also).await?;
    Ok(task)
}

/// A task of the tenant, as `principal` may see it: publisher admins see every task, buyers
/// only the operations they submitted themselves.
///
/// # Errors
/// `TaskNotFound` for unknown and foreign ids alike; storage.
pub async fn get_task<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    task_id: &str,
) -> Result<Task, Error> {
    match store.task(&tenant.tenant_id, task_id).await? {
        Some(task) if visible(&task, principal) => Ok(task),
        _ => Err(Error::TaskNotFound { task_id: task_id.to_owned() }),
    }
}

fn visible(task: &Task, principal: &Principal) -> bool {
    principal.admin || (task.operation.is_some() && task.principal_id.as_deref() == Some(&principal.principal_id))
}

/// Lists tasks: every task for publisher admins, a buyer's own deferred operations otherwise.
///
/// # Errors
/// A foreign cursor or bad page size; storage.
pub async fn list_tasks<S: Store>(
    store: &S,
    principal: &Principal,
    mut filter: TaskFilter,
    params: &PageParams,
) -> Result<Page<Task>, Error> {
    if !principal.admin {
        filter.principal_id = Some(principal.principal_id.clone());
        filter.deferred_only = true;
    }
    let page = KeysetPage::parse(params)?;
    let rows = store.list_tasks(&filter, &PageRequest { after: page.after.clone(), limit: page.limit + 1 }).await?;
    let total = if page.after.is_none() && rows.len() <= page.limit {
        rows.len() as u64
    } else {
        store.count_tasks(&filter).await?
    };
    Ok(page.finish(rows, |task| task.task_id.clone(), Some(total)))
}

/// The tenant's audit log, newest first (publisher admins).
///
/// # Errors
/// A foreign cursor or bad page size; storage.
pub async fn audit_log<S: Store>(
    store: &S,
    filter: &AuditFilter,
    params: &PageParams,
) -> Result<Page<AuditEntry>, Error> {
    let page = KeysetPage::parse(params)?;
    if page.after.as_deref().is_some_and(|after| after.parse::<i64>().is_err()) {
        return Err(Error::invalid("pagination.cursor", "cursor was not issued by this agent for this listing"));
    }
    let rows = store.audit_log(filter, &PageRequest { after: page.after.clone(), limit: page.limit + 1 }).await?;
    let page = page.finish(rows, |(seq, _)| seq.to_string(), None);
    Ok(Page {
        items: page.items.into_iter().map(|(_, entry)| entry).collect(),
        next_cursor: page.next_cursor,
        total: None,
    })
}

/// A task publisher ops create by hand (seed 001 `create_human_task`).
///
/// # Errors
/// `InvalidRequest` for an empty type or a due time that is not in the future; storage.
pub async fn create_human_task<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    actor: &Principal,
    new: NewTask,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    if new.task_type.trim().is_empty() {
        return Err(Error::invalid("task_type", "task_type must not be empty"));
    }
    if new.due_in <= Duration::zero() {
        return Err(Error::invalid("due_in_hours", "due_in_hours must be positive"));
    }
    if new.operation.is_some() {
        return Err(Error::invalid_with(
            "operation",
            "tasks that defer a buyer operation are created by that operation",
            "leave operation out, or describe the work in error_detail",
        ));
    }
    let task = tasks::open(&tenant.tenant_id, new, now);
    let audit = task_audit(&task, &actor.principal_id, "created", None, Some(task.description.clone()), now);
    let events = ops_notice(tenant, wire, &task, "New task", now).into_iter().collect();
    store.insert_task(&task, &Also { audit: vec![audit], events, ..Also::default() }).await?;
    Ok(task)
}

/// Assigns a task to a person (seed 001 `assign_task`); `start` marks it in progress too.
///
/// # Errors
/// `TaskNotFound`, `InvalidState` for a closed task, `Conflict` when it changed meanwhile.
pub async fn assign_task<S: Store>(
    store: &S,
    tenant: &Tenant,
    actor: &Principal,
    task_id: &str,
    assignee: &str,
    start: bool,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let task = get_task(store, tenant, actor, task_id).await?;
    let mut assigned = tasks::assign(&task, assignee, now)?;
    if start {
        assigned = tasks::start(&assigned, now)?;
    }
    let audit = task_audit(
        &assigned,
        &actor.principal_id,
        if start { "started" } else { "assigned" },
        task.assigned_to.clone(),
        assigned.assigned_to.clone(),
        now,
    );
    save(store, &assigned, task.revision, vec![audit], vec![]).await?;
    Ok(assigned)
}

/// [`decide`] on the task with this id, as publisher admin `admin` (`actor` names who decided,
/// for the record).
///
/// # Errors
/// As [`decide`]; `PermissionDenied` for a principal that is not an admin.
#[allow(clippy::too_many_arguments)]
pub async fn decide_by_id<S: Store>(
    store: &S,
    catalog: &Catalog,
    wire: &dyn Wire,
    tenant: &Tenant,
    admin: &Principal,
    actor: &str,
    task_id: &str,
    resolution: Resolution,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    if !admin.admin {
        return Err(Error::PermissionDenied("only publisher admins decide tasks".to_owned()));
    }
    let task = get_task(store, tenant, admin, task_id).await?;
    decide(store, catalog, wire, tenant, actor, &task, resolution, notes, now).await
}

/// Resolves a task (seed 001 `complete_task` / `complete_human_task`). `approved` runs the
/// deferred operation as its buyer, against the catalog and state of now; its effect and the
/// task's completion commit together. A refusal of the operation fails the task with it.
///
/// # Errors
/// `TaskNotFound`, `InvalidState` when already resolved, `InvalidRequest` when the resolution
/// does not fit the task, `Conflict` when someone else resolved it meanwhile, storage.
#[allow(clippy::too_many_arguments)]
pub async fn decide<S: Store>(
    store: &S,
    catalog: &Catalog,
    wire: &dyn Wire,
    tenant: &Tenant,
    actor: &str,
    task: &Task,
    resolution: Resolution,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let (resolved, decision) = resolve_audited(task, resolution, actor, notes, now)?;
    // Approval runs the deferred operation; rejecting a creative review rejects its creatives.
    let runs = match (task.operation, resolution) {
        (Some(operation), Resolution::Approved) => Some(operation),
        (Some(Operation::SyncCreatives), Resolution::Rejected) => Some(Operation::SyncCreatives),
        _ => None,
    };
    let Some(operation) = runs else {
        let events = told(tenant, wire, &resolved, now).into_iter().collect();
        save(store, &resolved, task.revision, vec![decision], events).await?;
        return Ok(resolved);
    };
    let request = task.request.as_deref().unwrap_or("{}");
    let owner = match &task.principal_id {
        Some(id) => store.principal(&tenant.tenant_id, id).await?,
        None => None,
    };
    let Some(owner) = owner else {
        let error = Error::PermissionDenied("the buyer that submitted this operation no longer exists".to_owned());
        return finish_failed(store, tenant, wire, &resolved, task.revision, decision, &error, request, now).await;
    };
    let outcome = match operation {
        Operation::CreateMediaBuy => {
            run_create(store, catalog, wire, tenant, &owner, &resolved, task.revision, &decision, request, now).await
        }
        Operation::UpdateMediaBuy => {
            run_update(store, catalog, wire, tenant, &owner, &resolved, task.revision, &decision, request, now).await
        }
        Operation::SyncCreatives => {
            run_review(store, wire, tenant, &owner, &resolved, task.revision, &decision, notes, now).await
        }
    };
    match outcome {
        Ok(done) => Ok(done),
        Err(Error::Store(StoreError::TaskChanged)) => Err(changed(task)),
        // The operation was refused as it ran: the task fails with the refusal.
        Err(error @ (Error::Store(_) | Error::AdServerUnavailable(_))) => Err(error),
        Err(error) => {
            finish_failed(store, tenant, wire, &resolved, task.revision, decision, &error, request, now).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_create<S: Store>(
    store: &S,
    catalog: &Catalog,
    wire: &dyn Wire,
    tenant: &Tenant,
    owner: &Principal,
    resolved: &Task,
    expected: i64,
    decision: &AuditEntry,
    request: &str,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let command = wire.create_request(request)?;
    let (buy, history) = buying::plan_create(store, catalog, tenant, owner, &command, now).await?;
    let mut created = buying::created_audit(&buy, &decision.actor, now);
    created.detail = Some(format!(
        "{}; submitted by {} in task {}",
        created.detail.unwrap_or_default(),
        owner.principal_id,
        resolved.task_id
    ));
    let mut done = resolved.clone();
    done.media_buy_id = Some(buy.media_buy_id.clone());
    done.result = Some(wire.created(tenant, &buy, request));
    let also = Also {
        task: Some(TaskWrite { task: done.clone(), expected_revision: expected }),
        audit: vec![decision.clone(), created],
        events: told(tenant, wire, &done, now).into_iter().collect(),
        reports: reporting::schedule_for(&buy, now),
        accept_proposal: buying::proposal_acceptance(&command, &buy),
        ..Also::default()
    };
    buying::insert(store, &buy, &history, &also).await?;
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
async fn run_update<S: Store>(
    store: &S,
    catalog: &Catalog,
    wire: &dyn Wire,
    tenant: &Tenant,
    owner: &Principal,
    resolved: &Task,
    expected: i64,
    decision: &AuditEntry,
    request: &str,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let command = wire.update_request(request)?;
    // The buy may change between reading and writing it; plan again on the fresh state.
    for _ in 0..3 {
        let plan = buying::plan_update(store, catalog, tenant, owner, &command, now).await?;
        let mut done = resolved.clone();
        done.result = Some(wire.updated(tenant, &plan.updated, request, now));
        let mut audit = vec![decision.clone()];
        audit.extend(plan.audit.iter().cloned());
        let events: Vec<_> = told(tenant, wire, &done, now).into_iter().collect();
        if plan.history.is_empty() {
            // Nothing left to change (the buyer did it meanwhile): the task completes alone.
            save(store, &done, expected, audit, events).await?;
            return Ok(done);
        }
        let reports =
            command.reporting_webhook.as_ref().and_then(|_| reporting::schedule_for(&plan.updated.media_buy, now));
        let also = Also {
            task: Some(TaskWrite { task: done.clone(), expected_revision: expected }),
            audit,
            events,
            reports,
            ..Also::default()
        };
        if store.update_media_buy(&plan.updated.media_buy, plan.expected, &plan.history, &also).await? {
            return Ok(done);
        }
    }
    Err(Error::Conflict { message: "the media buy keeps changing; approve the task again".to_owned() })
}

/// Approves (or, for a rejected task, rejects) every creative of a review task that still
/// waits, and completes the task with their final statuses, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn run_review<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    owner: &Principal,
    resolved: &Task,
    expected: i64,
    decision: &AuditEntry,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let verdict = match resolved.resolution {
        Some(Resolution::Rejected) => Verdict::Reject(notes.unwrap_or("rejected in review").to_owned()),
        _ => Verdict::Approve,
    };
    let library = store.creatives(&tenant.tenant_id, &owner.principal_id).await?;
    let mut changed = Vec::new();
    let mut audit = vec![decision.clone()];
    for creative in library.iter().filter(|c| resolved.creative_ids.contains(&c.creative_id)) {
        if creative.status == CreativeStatus::PendingReview {
            let decided = judged(creative, &verdict, now);
            audit.push(creatives::creative_audit(
                &decided,
                &decision.actor,
                Some(creative.status),
                verdict.reason(),
                now,
            ));
            changed.push(decided);
        }
    }
    let finals: Vec<Creative> = library
        .iter()
        .filter(|c| resolved.creative_ids.contains(&c.creative_id))
        .map(|c| changed.iter().find(|d| d.creative_id == c.creative_id).unwrap_or(c).clone())
        .collect();
    let mut done = resolved.clone();
    done.result = Some(wire.creatives_reviewed(&finals, resolved.request.as_deref().unwrap_or("{}")));
    let also = Also {
        task: Some(TaskWrite { task: done.clone(), expected_revision: expected }),
        audit,
        events: told(tenant, wire, &done, now).into_iter().collect(),
        ..Also::default()
    };
    store.save_creatives(&changed, &also).await?;
    Ok(done)
}

/// A publisher's decision on one creative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject(String),
}

impl Verdict {
    fn status(&self) -> CreativeStatus {
        match self {
            Verdict::Approve => CreativeStatus::Approved,
            Verdict::Reject(_) => CreativeStatus::Rejected,
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Verdict::Approve => None,
            Verdict::Reject(reason) => Some(reason.clone()),
        }
    }
}

fn judged(creative: &Creative, verdict: &Verdict, now: DateTime<Utc>) -> Creative {
    Creative { status: verdict.status(), rejection_reason: verdict.reason(), updated_at: now, ..creative.clone() }
}

/// Creatives waiting for publisher review, of every buyer, oldest first.
///
/// # Errors
/// Storage.
pub async fn pending_creatives<S: Store>(store: &S, tenant: &Tenant, limit: usize) -> Result<Vec<Creative>, Error> {
    Ok(store.find_creatives(&tenant.tenant_id, None, Some(CreativeStatus::PendingReview), limit).await?)
}

/// A publisher's review of one creative (seed 001 `review_pending_creatives`): approve, or
/// reject with a reason. When it was the last undecided creative of a review task, the task
/// completes with every creative's final status, and the buyer is told.
///
/// # Errors
/// `CreativeNotFound`; `InvalidRequest` when the id is ambiguous across buyers (name the
/// principal) or a rejection has no reason; `InvalidState` when the creative cannot move so;
/// `Conflict` when its review task changed meanwhile; storage.
#[allow(clippy::too_many_arguments)]
pub async fn review_creative<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    admin: &Principal,
    principal_id: Option<&str>,
    creative_id: &str,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Result<(Creative, Option<Task>), Error> {
    if !admin.admin {
        return Err(Error::PermissionDenied("only publisher admins review creatives".to_owned()));
    }
    if matches!(&verdict, Verdict::Reject(reason) if reason.trim().is_empty()) {
        return Err(Error::invalid_with("reason", "a rejection needs a reason", "say what the buyer must fix"));
    }
    let mut found = store.find_creatives(&tenant.tenant_id, Some(creative_id), None, 10).await?;
    found.retain(|c| principal_id.is_none_or(|p| c.principal_id == p));
    let creative = match found.len() {
        0 => return Err(Error::CreativeNotFound { creative_id: creative_id.to_owned() }),
        1 => found.remove(0),
        _ => {
            return Err(Error::invalid_with(
                "principal_id",
                format!("several buyers have a creative {creative_id}"),
                "name the buyer with principal_id",
            ));
        }
    };
    let target = verdict.status();
    if creative.status == target || !creative_transition_allowed(creative.status, target) {
        return Err(Error::InvalidState {
            message: format!(
                "creative {creative_id} is {}; it cannot become {}",
                creative.status.as_str(),
                target.as_str()
            ),
        });
    }
    let decided = judged(&creative, &verdict, now);
    let audit = creatives::creative_audit(&decided, &admin.principal_id, Some(creative.status), verdict.reason(), now);
    // The open review tasks this creative belongs to; the first one this decision completes is
    // completed in the same transaction.
    let filter = TaskFilter {
        tenant_id: tenant.tenant_id.clone(),
        principal_id: Some(creative.principal_id.clone()),
        states: tasks::ALL_TASK_STATES.into_iter().filter(|s| s.is_open()).collect(),
        statuses: vec![],
        task_types: vec![Operation::SyncCreatives.as_str().to_owned()],
        priority: None,
        overdue_at: None,
        due_after: None,
        task_ids: vec![],
        deferred_only: true,
        newest_first: false,
    };
    let open = store.list_tasks(&filter, &PageRequest { after: None, limit: 100 }).await?;
    let library = store.creatives(&tenant.tenant_id, &creative.principal_id).await?;
    let mut completed = None;
    for task in open.iter().filter(|t| t.creative_ids.contains(&decided.creative_id)) {
        let finals: Vec<Creative> = library
            .iter()
            .filter(|c| task.creative_ids.contains(&c.creative_id))
            .map(|c| if c.creative_id == decided.creative_id { decided.clone() } else { c.clone() })
            .collect();
        if finals.iter().any(|c| matches!(c.status, CreativeStatus::PendingReview | CreativeStatus::Processing)) {
            continue;
        }
        let mut done = tasks::resolve(task, Resolution::Completed, &admin.principal_id, None, now)?;
        done.result = Some(wire.creatives_reviewed(&finals, task.request.as_deref().unwrap_or("{}")));
        completed = Some((done, task.revision));
        break;
    }
    // The buys the creative is assigned to book it on the ad server (or stop) now.
    let rebook = creatives::buys_serving(store, tenant, &creative.principal_id, &[&decided.creative_id]).await?;
    let mut also = Also { audit: vec![audit], rebook, ..Also::default() };
    if let Some((done, expected)) = &completed {
        let resolved = task_audit(done, &admin.principal_id, "resolved", None, Some("completed".to_owned()), now);
        also.audit.push(resolved);
        also.events = told(tenant, wire, done, now).into_iter().collect();
        also.task = Some(TaskWrite { task: done.clone(), expected_revision: *expected });
    }
    match store.save_creatives(std::slice::from_ref(&decided), &also).await {
        Ok(()) => Ok((decided, completed.map(|(done, _)| done))),
        Err(StoreError::TaskChanged) => {
            Err(Error::Conflict { message: "the creative's review task changed meanwhile; review again".to_owned() })
        }
        Err(error) => Err(error.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish_failed<S: Store>(
    store: &S,
    tenant: &Tenant,
    wire: &dyn Wire,
    resolved: &Task,
    expected: i64,
    decision: AuditEntry,
    error: &Error,
    request: &str,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let failed = tasks::fail(resolved, wire.failure(error, request), now);
    let failure = failed.failure.as_ref().map(|f| format!("{}: {}", f.code, f.message));
    let audit = task_audit(&failed, "system", "failed", Some("approved".to_owned()), failure, now);
    let events = told(tenant, wire, &failed, now).into_iter().collect();
    save(store, &failed, expected, vec![decision, audit], events).await?;
    Ok(failed)
}

/// Escalates the tenant's overdue open tasks; returns the escalated ones.
///
/// # Errors
/// Storage. Tasks changed concurrently are left for the next pass.
pub async fn escalate_overdue<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<Vec<Task>, Error> {
    let filter = TaskFilter {
        tenant_id: tenant.tenant_id.clone(),
        principal_id: None,
        states: vec![tasks::TaskState::Pending, tasks::TaskState::Assigned, tasks::TaskState::InProgress],
        statuses: vec![],
        task_types: vec![],
        priority: None,
        overdue_at: Some(now),
        due_after: None,
        task_ids: vec![],
        deferred_only: false,
        newest_first: false,
    };
    let mut escalated = Vec::new();
    for task in store.list_tasks(&filter, &PageRequest { after: None, limit: 200 }).await? {
        let Some(next) = tasks::escalate(&task, now) else { continue };
        let audit = task_audit(
            &next,
            "system:scheduler",
            "escalated",
            Some(task.state.as_str().to_owned()),
            Some(format!("escalated, priority {}", next.priority.as_str())),
            now,
        );
        let events = ops_notice(tenant, wire, &next, "Overdue task escalated", now).into_iter().collect();
        if store.save_task(&next, task.revision, &Also { audit: vec![audit], events, ..Also::default() }).await? {
            escalated.push(next);
        }
    }
    Ok(escalated)
}

/// The buyer's notification of where `task` now stands, when it defers an operation and the
/// buyer gave a webhook.
/// Completes an open task with `result` (a rendered response) as its outcome, without running
/// what it defers: the sandbox controller's `force_task_completion`. Audited and told to the
/// buyer like any completion.
///
/// # Errors
/// `InvalidState` when the task is closed, `Conflict` when it changed meanwhile, storage.
pub async fn complete_with_result<S: Store>(
    store: &S,
    wire: &dyn Wire,
    tenant: &Tenant,
    actor: &str,
    task: &Task,
    result: String,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    let resolution = match task.operation {
        Some(Operation::CreateMediaBuy | Operation::UpdateMediaBuy) => Resolution::Approved,
        _ => Resolution::Completed,
    };
    let (mut resolved, audit) =
        resolve_audited(task, resolution, actor, Some("completed by the sandbox test controller"), now)?;
    resolved.result = Some(result);
    let events = told(tenant, wire, &resolved, now).into_iter().collect();
    save(store, &resolved, task.revision, vec![audit], events).await?;
    Ok(resolved)
}

/// The task resolved by `actor`, with the audit entry of the decision.
fn resolve_audited(
    task: &Task,
    resolution: Resolution,
    actor: &str,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Task, AuditEntry), Error> {
    let resolved = tasks::resolve(task, resolution, actor, notes, now)?;
    let decision = task_audit(
        &resolved,
        actor,
        "resolved",
        Some(task.state.as_str().to_owned()),
        Some(resolution.as_str().to_owned()),
        now,
    );
    Ok((resolved, AuditEntry { detail: notes.map(str::to_owned), ..decision }))
}

fn told(tenant: &Tenant, wire: &dyn Wire, task: &Task, now: DateTime<Utc>) -> Option<notify::Notification> {
    let (webhook, operation) = (task.push_notification.as_ref()?, task.operation?);
    let status = task.status();
    let message = match status {
        TaskStatus::Rejected => Some(format!(
            "Rejected by the publisher{}",
            task.notes.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
        )),
        TaskStatus::Failed => task.failure.as_ref().map(|f| f.message.clone()),
        _ => None,
    };
    let event = TaskEvent {
        event_id: notify::event_id(),
        task_id: task.task_id.clone(),
        operation,
        status,
        at: now,
        message,
        result: task.result.clone().or_else(|| task.failure.as_ref().map(|f| f.response.clone())),
        request: task.request.as_deref(),
    };
    Some(notify::notification(&tenant.tenant_id, webhook, wire, &event))
}

async fn save<S: Store>(
    store: &S,
    task: &Task,
    expected: i64,
    audit: Vec<AuditEntry>,
    events: Vec<notify::Notification>,
) -> Result<(), Error> {
    let also = Also { audit, events, ..Also::default() };
    if store.save_task(task, expected, &also).await? { Ok(()) } else { Err(changed(task)) }
}

fn changed(task: &Task) -> Error {
    Error::Conflict { message: format!("task {} changed meanwhile; read it again", task.task_id) }
}

fn task_audit(
    task: &Task,
    actor: &str,
    action: &str,
    before: Option<String>,
    after: Option<String>,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        tenant_id: task.tenant_id.clone(),
        at: now,
        actor: actor.to_owned(),
        object_type: "task".to_owned(),
        object_id: task.task_id.clone(),
        action: action.to_owned(),
        before,
        after,
        detail: None,
    }
}
