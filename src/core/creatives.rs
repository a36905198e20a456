//! The creative library service: `sync_creatives` (validate, review, upsert, assign) and
//! `list_creatives` (filters, sort, pages). Creatives outlive the buys they run in.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::accounts::{AccountRef, Use, resolve_account};
use super::approval::{self, Wire};
use super::catalog::{Catalog, Format, FormatId};
use super::creative::{
    AssetInput, Creative, CreativeStatus, Findings, ValidationMode, creative_transition_allowed, validate_assets,
};
use super::discovery::same_format;
use super::error::Error;
use super::media_buy::{Event, MediaBuy, Verbatim, transition};
use super::notify;
use super::pagination::{OffsetPage, Page, PageParams};
use super::ports::{Also, Assignment, AuditEntry, HistoryEntry, Store};
use super::tasks::{self, NewTask, Operation, Priority, Task};
use super::tenancy::{Principal, Tenant};
use super::webhook::{Webhook, check_url};

/// One creative as the buyer uploads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeUpload {
    pub creative_id: String,
    pub name: String,
    pub format_id: FormatId,
    pub assets: Vec<(String, AssetInput)>,
    pub assets_verbatim: Verbatim,
    pub tags: Vec<String>,
    /// A status the buyer asks for: `archived` to archive, `approved` to unarchive.
    pub requested_status: Option<CreativeStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncCreatives {
    pub account: AccountRef,
    pub creatives: Vec<CreativeUpload>,
    /// Limits the sync to these creatives of the request (AdCP `creative_ids`).
    pub only: Option<Vec<String>>,
    /// (creative_id, package_id) pairs to assign.
    pub assignments: Vec<(String, String)>,
    pub delete_missing: bool,
    pub dry_run: bool,
    pub validation_mode: ValidationMode,
    /// Where the buyer wants to hear of the review's outcome.
    pub push_notification: Option<Webhook>,
}

/// What `sync_creatives` did: per-creative outcomes, and the review task when some creatives
/// wait for publisher review.
#[derive(Debug)]
pub struct Synced {
    pub outcomes: Vec<CreativeOutcome>,
    pub review: Option<Task>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreativeAction {
    Created,
    Updated,
    Unchanged,
    Failed,
    Deleted,
}

impl CreativeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CreativeAction::Created => "created",
            CreativeAction::Updated => "updated",
            CreativeAction::Unchanged => "unchanged",
            CreativeAction::Failed => "failed",
            CreativeAction::Deleted => "deleted",
        }
    }
}

/// The answer for one creative of a sync.
#[derive(Debug)]
pub struct CreativeOutcome {
    pub creative_id: String,
    pub action: CreativeAction,
    /// Absent for failed and deleted items, as AdCP requires.
    pub status: Option<CreativeStatus>,
    pub errors: Vec<Error>,
    pub warnings: Vec<String>,
    pub assigned_to: Vec<String>,
    pub assignment_errors: Vec<(String, Error)>,
}

/// The creative's format: exact match, or in sandbox tenants the same id under another agent
/// URL (test harnesses use placeholder agent URLs, DIGEST §11.3).
pub(crate) fn find_format<'a>(catalog: &'a Catalog, tenant: &Tenant, format_id: &FormatId) -> Option<&'a Format> {
    catalog
        .format(format_id)
        .or_else(|| tenant.sandbox.then(|| catalog.formats.iter().find(|f| f.format_id.id == format_id.id)).flatten())
}

/// Upserts creatives and applies assignments. Creatives the tenant's review policy holds wait
/// in `pending_review` under one review task for publisher ops, stored with them; `original`
/// is the request as received, kept by that task.
///
/// # Errors
/// Whole-request failures only (account, webhook destination, storage); per-creative and
/// per-assignment problems are in the outcomes.
#[allow(clippy::too_many_arguments)]
pub async fn sync_creatives<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &SyncCreatives,
    original: &str,
    wire: &dyn Wire,
    now: DateTime<Utc>,
) -> Result<Synced, Error> {
    if let Some(hook) = &request.push_notification {
        check_url(&hook.url, "push_notification_config.url", tenant.webhook_urls)?;
    }
    if request.only.is_some() && request.delete_missing {
        return Err(Error::invalid_with(
            "delete_missing",
            "delete_missing cannot be combined with creative_ids",
            "sync the whole library with delete_missing, or some creatives with creative_ids",
        ));
    }
    let account = resolve_account(store, tenant, principal, &request.account, Use::Manage, now).await?;
    let library: HashMap<String, Creative> = store
        .creatives(&tenant.tenant_id, &principal.principal_id)
        .await?
        .into_iter()
        .map(|c| (c.creative_id.clone(), c))
        .collect();
    let mut outcomes: Vec<CreativeOutcome> = Vec::new();
    let mut to_save: Vec<Creative> = Vec::new();
    let mut seen = HashSet::new();
    let selected =
        |upload: &&CreativeUpload| request.only.as_ref().is_none_or(|only| only.contains(&upload.creative_id));
    for (index, upload) in request.creatives.iter().enumerate().filter(|(_, upload)| selected(upload)) {
        let at = format!("creatives[{index}]");
        let failed = |errors: Vec<Error>, warnings: Vec<String>| CreativeOutcome {
            creative_id: upload.creative_id.clone(),
            action: CreativeAction::Failed,
            status: None,
            errors,
            warnings,
            assigned_to: vec![],
            assignment_errors: vec![],
        };
        if !seen.insert(upload.creative_id.clone()) {
            outcomes.push(failed(
                vec![Error::invalid(format!("{at}.creative_id"), "creative_id appears twice in this request")],
                vec![],
            ));
            continue;
        }
        let Some(format) = find_format(catalog, tenant, &upload.format_id) else {
            outcomes.push(failed(
                vec![Error::invalid_with(
                    format!("{at}.format_id"),
                    format!("format {} is not offered by this publisher", upload.format_id.id),
                    "use a format_id from list_creative_formats",
                )],
                vec![],
            ));
            continue;
        };
        let Findings { errors, warnings } = validate_assets(format, &upload.assets, request.validation_mode, &at);
        if !errors.is_empty() {
            outcomes.push(failed(errors, warnings));
            continue;
        }
        let reviewed = tenant.creative_review.initial_status(&principal.principal_id, &format.format_id);
        let existing = library.get(&upload.creative_id);
        let (action, status) = match existing {
            None => (CreativeAction::Created, reviewed),
            Some(current) => {
                let changed = current.name != upload.name
                    || current.format_id != format.format_id
                    || current.assets != upload.assets_verbatim
                    || current.tags != upload.tags;
                match (changed, upload.requested_status) {
                    // Changed content goes back through review (a rejected creative is resubmitted).
                    (true, _) => (CreativeAction::Updated, reviewed),
                    (false, Some(wanted)) if wanted != current.status => {
                        let allowed = matches!(wanted, CreativeStatus::Archived | CreativeStatus::Approved)
                            && creative_transition_allowed(current.status, wanted);
                        if !allowed {
                            outcomes.push(failed(
                                vec![Error::InvalidState {
                                    message: format!(
                                        "creative is {}; it cannot become {}",
                                        current.status.as_str(),
                                        wanted.as_str()
                                    ),
                                }],
                                warnings,
                            ));
                            continue;
                        }
                        (CreativeAction::Updated, wanted)
                    }
                    (false, _) => (CreativeAction::Unchanged, current.status),
                }
            }
        };
        if action != CreativeAction::Unchanged {
            to_save.push(Creative {
                creative_id: upload.creative_id.clone(),
                tenant_id: tenant.tenant_id.clone(),
                principal_id: principal.principal_id.clone(),
                account_id: account.account_id.clone(),
                name: upload.name.clone(),
                format_id: format.format_id.clone(),
                assets: upload.assets_verbatim.clone(),
                tags: upload.tags.clone(),
                status,
                rejection_reason: None,
                created_at: existing.map_or(now, |c| c.created_at),
                updated_at: now,
            });
        }
        outcomes.push(CreativeOutcome {
            creative_id: upload.creative_id.clone(),
            action,
            status: Some(status),
            errors: vec![],
            warnings,
            assigned_to: vec![],
            assignment_errors: vec![],
        });
    }

    if request.delete_missing {
        for creative in library.values() {
            let mentioned = request.creatives.iter().any(|u| u.creative_id == creative.creative_id);
            if mentioned || creative.status == CreativeStatus::Archived {
                continue;
            }
            if creative_transition_allowed(creative.status, CreativeStatus::Archived) {
                let mut archived = creative.clone();
                archived.status = CreativeStatus::Archived;
                archived.updated_at = now;
                to_save.push(archived);
                outcomes.push(CreativeOutcome {
                    creative_id: creative.creative_id.clone(),
                    action: CreativeAction::Deleted,
                    status: None,
                    errors: vec![],
                    warnings: vec![],
                    assigned_to: vec![],
                    assignment_errors: vec![],
                });
            }
        }
    }
    if request.dry_run {
        return Ok(Synced { outcomes, review: None });
    }
    let review = review_task(tenant, principal, request, original, &to_save, now);
    if !to_save.is_empty() {
        let mut audit: Vec<AuditEntry> = to_save
            .iter()
            .filter_map(|saved| {
                let before = library.get(&saved.creative_id).map(|c| c.status);
                (before != Some(saved.status))
                    .then(|| creative_audit(saved, &principal.principal_id, before, None, now))
            })
            .collect();
        if let Some(task) = &review {
            audit.push(AuditEntry {
                tenant_id: tenant.tenant_id.clone(),
                at: now,
                actor: principal.principal_id.clone(),
                object_type: "task".to_owned(),
                object_id: task.task_id.clone(),
                action: "created".to_owned(),
                before: None,
                after: Some(task.description.clone()),
                detail: task.detail.clone(),
            });
        }
        let events = match &review {
            // The buyer hears once the review is over; ops hear of the task now.
            Some(task) => approval::ops_notice(tenant, wire, task, "New task", now),
            None => request.push_notification.as_ref().and_then(|hook| {
                let result = wire.synced(tenant, &outcomes, original);
                notify::completed(
                    &tenant.tenant_id,
                    Some(hook),
                    wire,
                    Operation::SyncCreatives,
                    result,
                    Some(original),
                    now,
                )
            }),
        };
        // A changed creative that buys already serve is booked again on the ad server.
        let changed: Vec<&str> = to_save.iter().map(|c| c.creative_id.as_str()).collect();
        let rebook = buys_serving(store, tenant, &principal.principal_id, &changed).await?;
        let also =
            Also { new_task: review.clone(), audit, events: events.into_iter().collect(), rebook, ..Also::default() };
        store.save_creatives(&to_save, &also).await?;
    }

    let statuses: HashMap<&str, CreativeStatus> = library
        .values()
        .map(|c| (c.creative_id.as_str(), c.status))
        .chain(to_save.iter().map(|c| (c.creative_id.as_str(), c.status)))
        .collect();
    for (creative_id, package_id) in &request.assignments {
        let result = match statuses.get(creative_id.as_str()) {
            None => Err(Error::CreativeNotFound { creative_id: creative_id.clone() }),
            Some(CreativeStatus::Rejected) => Err(Error::CreativeRejected { creative_id: creative_id.clone() }),
            Some(_) => assign(store, tenant, principal, creative_id, package_id, now).await,
        };
        let outcome = outcomes.iter_mut().find(|o| &o.creative_id == creative_id && o.action != CreativeAction::Failed);
        match (outcome, result) {
            (Some(outcome), Ok(())) => outcome.assigned_to.push(package_id.clone()),
            (Some(outcome), Err(error)) => outcome.assignment_errors.push((package_id.clone(), error)),
            (None, result) => outcomes.push(CreativeOutcome {
                creative_id: creative_id.clone(),
                action: CreativeAction::Unchanged,
                status: statuses.get(creative_id.as_str()).copied(),
                errors: vec![],
                warnings: vec![],
                assigned_to: result.as_ref().map(|()| vec![package_id.clone()]).unwrap_or_default(),
                assignment_errors: result.err().map(|e| vec![(package_id.clone(), e)]).unwrap_or_default(),
            }),
        }
    }
    Ok(Synced { outcomes, review })
}

/// The review task for the saved creatives that wait for publisher review, if any.
fn review_task(
    tenant: &Tenant,
    principal: &Principal,
    request: &SyncCreatives,
    original: &str,
    saved: &[Creative],
    now: DateTime<Utc>,
) -> Option<Task> {
    let waiting: Vec<String> =
        saved.iter().filter(|c| c.status == CreativeStatus::PendingReview).map(|c| c.creative_id.clone()).collect();
    if waiting.is_empty() {
        return None;
    }
    let new = NewTask {
        task_type: "creative_review".to_owned(),
        operation: Some(Operation::SyncCreatives),
        principal_id: Some(principal.principal_id.clone()),
        media_buy_id: None,
        priority: Priority::Medium,
        description: format!(
            "Review {} creative(s) of {}: {}",
            waiting.len(),
            principal.principal_id,
            waiting.join(", ")
        ),
        detail: Some("the publisher reviews creatives before they run".to_owned()),
        creative_ids: waiting,
        due_in: tenant.approvals.due_in,
        request: Some(original.to_owned()),
        push_notification: request.push_notification.clone(),
    };
    Some(tasks::open(&tenant.tenant_id, new, now))
}

/// The buys of a principal that any of `creative_ids` is assigned to.
///
/// # Errors
/// Storage.
pub async fn buys_serving<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal_id: &str,
    creative_ids: &[&str],
) -> Result<Vec<String>, Error> {
    let mut buys: Vec<String> = store
        .assignments(&tenant.tenant_id, principal_id)
        .await?
        .into_iter()
        .filter(|a| creative_ids.contains(&a.creative_id.as_str()))
        .map(|a| a.media_buy_id)
        .collect();
    buys.sort();
    buys.dedup();
    Ok(buys)
}

/// The audit entry of a creative's status change.
pub fn creative_audit(
    creative: &Creative,
    actor: &str,
    before: Option<CreativeStatus>,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        tenant_id: creative.tenant_id.clone(),
        at: now,
        actor: actor.to_owned(),
        object_type: "creative".to_owned(),
        object_id: creative.creative_id.clone(),
        action: if before.is_none() { "created" } else { "status_changed" }.to_owned(),
        before: before.map(|s| s.as_str().to_owned()),
        after: Some(creative.status.as_str().to_owned()),
        detail,
    }
}

/// Adds a creative to a package of one of the principal's buys, moving the buy forward when
/// these are its first creatives.
async fn assign<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    creative_id: &str,
    package_id: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let not_found = || Error::PackageNotFound { package_id: package_id.to_owned(), field: "assignments".to_owned() };
    let media_buy_id = store.media_buy_id_for_package(&tenant.tenant_id, package_id).await?.ok_or_else(not_found)?;
    let mut buy: MediaBuy = match store.media_buy(&tenant.tenant_id, &media_buy_id).await? {
        Some(buy) if buy.principal_id == principal.principal_id => buy,
        _ => return Err(not_found()),
    };
    if buy.status.is_terminal() {
        return Err(Error::InvalidState {
            message: format!("media buy {} is {}", buy.media_buy_id, buy.status.as_str()),
        });
    }
    let package = buy.packages.iter_mut().find(|p| p.package_id == package_id).ok_or_else(not_found)?;
    if package.is_canceled() {
        return Err(Error::InvalidState { message: format!("package {package_id} is canceled") });
    }
    if package.creative_ids.iter().any(|c| c == creative_id) {
        return Ok(());
    }
    if now > buy.creative_deadline {
        return Err(Error::CreativeDeadlineExceeded { deadline: buy.creative_deadline });
    }
    package.creative_ids.push(creative_id.to_owned());
    let (expected, from) = (buy.revision, buy.status);
    buy.status = transition(buy.status, Event::CreativesReady { flight_started: now >= buy.start_time })?;
    buy.revision += 1;
    buy.updated_at = now;
    let history = HistoryEntry {
        revision: buy.revision,
        at: now,
        actor: principal.principal_id.clone(),
        action: "creatives_assigned".to_owned(),
        summary: format!("Creative {creative_id} assigned"),
        package_id: Some(package_id.to_owned()),
    };
    let detail = Some(format!("creative {creative_id} assigned"));
    let audit = super::buying::status_audit(&buy, from, &principal.principal_id, detail, now).into_iter().collect();
    let also = Also { audit, ..Also::default() };
    if store.update_media_buy(&buy, expected, &[history], &also).await? {
        Ok(())
    } else {
        Err(Error::Conflict { message: "the media buy changed concurrently; retry the assignment".to_owned() })
    }
}

/// Sort orders of `list_creatives`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreativeSort {
    CreatedDate,
    UpdatedDate,
    Name,
    Status,
    AssignmentCount,
}

/// Filters of `list_creatives`; empty lists match everything.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeQuery {
    pub statuses: Vec<CreativeStatus>,
    pub creative_ids: Vec<String>,
    pub name_contains: Option<String>,
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub format_ids: Vec<FormatId>,
    pub media_buy_ids: Vec<String>,
    pub assigned_to_packages: Vec<String>,
    pub unassigned: Option<bool>,
    pub sort: CreativeSort,
    pub descending: bool,
    pub page: PageParams,
}

/// A creative with the packages it is assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedCreative {
    pub creative: Creative,
    pub assignments: Vec<Assignment>,
}

/// Lists the principal's library. Archived creatives are left out unless asked for by status.
///
/// # Errors
/// A bad cursor; storage.
pub async fn list_creatives<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    query: &CreativeQuery,
) -> Result<Page<ListedCreative>, Error> {
    let page = OffsetPage::parse(&query.page)?;
    let creatives = store.creatives(&tenant.tenant_id, &principal.principal_id).await?;
    let assignments = store.assignments(&tenant.tenant_id, &principal.principal_id).await?;
    let needle = query.name_contains.as_ref().map(|n| n.to_lowercase());
    let mut listed: Vec<ListedCreative> = creatives
        .into_iter()
        .map(|creative| {
            let mine = assignments.iter().filter(|a| a.creative_id == creative.creative_id).cloned().collect();
            ListedCreative { creative, assignments: mine }
        })
        .filter(|l| {
            let c = &l.creative;
            (if query.statuses.is_empty() {
                c.status != CreativeStatus::Archived
            } else {
                query.statuses.contains(&c.status)
            }) && (query.creative_ids.is_empty() || query.creative_ids.contains(&c.creative_id))
                && needle.as_ref().is_none_or(|n| c.name.to_lowercase().contains(n))
                && query.tags.iter().all(|t| c.tags.contains(t))
                && (query.tags_any.is_empty() || query.tags_any.iter().any(|t| c.tags.contains(t)))
                && (query.format_ids.is_empty() || query.format_ids.iter().any(|f| same_format(f, &c.format_id)))
                && (query.media_buy_ids.is_empty()
                    || l.assignments.iter().any(|a| query.media_buy_ids.contains(&a.media_buy_id)))
                && (query.assigned_to_packages.is_empty()
                    || l.assignments.iter().any(|a| query.assigned_to_packages.contains(&a.package_id)))
                && query.unassigned.is_none_or(|unassigned| unassigned == l.assignments.is_empty())
        })
        .collect();
    listed.sort_by(|a, b| {
        let (x, y) = (&a.creative, &b.creative);
        let order = match query.sort {
            CreativeSort::CreatedDate => x.created_at.cmp(&y.created_at),
            CreativeSort::UpdatedDate => x.updated_at.cmp(&y.updated_at),
            CreativeSort::Name => x.name.cmp(&y.name),
            CreativeSort::Status => x.status.as_str().cmp(y.status.as_str()),
            CreativeSort::AssignmentCount => a.assignments.len().cmp(&b.assignments.len()),
        };
        let order = if query.descending { order.reverse() } else { order };
        order.then_with(|| x.creative_id.cmp(&y.creative_id))
    });
    Ok(page.slice(listed))
}

/// The review state of each of a principal's creatives, for per-package approvals.
///
/// # Errors
/// Storage.
pub async fn review_states<S: Store>(
    store: &S,
    tenant_id: &str,
    principal_id: &str,
) -> Result<HashMap<String, (CreativeStatus, Option<String>)>, Error> {
    Ok(store
        .creatives(tenant_id, principal_id)
        .await?
        .into_iter()
        .map(|c| (c.creative_id, (c.status, c.rejection_reason)))
        .collect())
}
