//! Shapes of the task tools: AdCP `tasks/get` and `tasks/list` for buyers (3.0.6
//! `core/tasks-get-*.json`, `core/tasks-list-*.json`), the seed-era publisher-ops tools
//! (`list_human_tasks`, `get_pending_tasks`, `create_human_task`, `assign_task`,
//! `complete_task`, `complete_human_task`, `get_audit_log`), the submitted arm, and the
//! [`Deferred`] reader that lets core run a request it kept.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::args::Args;
use super::error::adcp_error;
use super::wire_buying::{self, time};
use crate::core::Error;
use crate::core::approval::{Verdict, Wire};
use crate::core::buying::{Changed, Created, Updated};
use crate::core::creative::Creative;
use crate::core::creatives::CreativeOutcome;
use crate::core::media_buy::{CreateMediaBuy, MediaBuy, MediaBuyStatus};
use crate::core::notify::TaskEvent;
use crate::core::pagination::Page;
use crate::core::ports::{AuditEntry, TaskFilter};
use crate::core::reporting::Report;
use crate::core::tasks::{
    ALL_TASK_STATES, NewTask, Operation, Priority, Resolution, Task, TaskFailure, TaskState, TaskStatus,
};
use crate::core::tenancy::Tenant;
use crate::core::webhook::Webhook;

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use super::super::wire::{Envelope, PaginationRequest};

    /// Poll a task you were given in a `submitted` response.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct TasksGetRequest {
        pub task_id: String,
        /// Include the operation's response once the task completed or failed (default true).
        pub include_result: Option<bool>,
        /// Include the request and, once available, the response as history.
        pub include_history: Option<bool>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Filters of `tasks/list`.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct TaskFiltersWire {
        /// media-buy (the only protocol this agent has tasks in).
        pub protocol: Option<String>,
        pub protocols: Option<Vec<String>>,
        /// submitted, working, completed, failed, rejected, canceled.
        pub status: Option<String>,
        pub statuses: Option<Vec<String>>,
        /// create_media_buy, update_media_buy, sync_creatives.
        pub task_type: Option<String>,
        pub task_types: Option<Vec<String>>,
        pub task_ids: Option<Vec<String>>,
    }

    /// Sort of `tasks/list`: by creation time.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct TaskSortWire {
        /// created_at (the only sort field).
        pub field: Option<String>,
        /// asc or desc (default desc: newest first).
        pub direction: Option<String>,
    }

    /// List your tasks, for reconciliation after a restart or lost webhooks.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct TasksListRequest {
        pub filters: Option<TaskFiltersWire>,
        pub sort: Option<TaskSortWire>,
        pub pagination: Option<PaginationRequest>,
        pub include_history: Option<bool>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// List human tasks (publisher admins only).
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct ListHumanTasksRequest {
        /// pending, assigned, in_progress, completed, failed or escalated.
        pub status: Option<String>,
        /// media_buy_approval, budget_increase_approval, manual_approval, ... or an operation name.
        pub task_type: Option<String>,
        /// low, medium, high or urgent.
        pub priority: Option<String>,
        /// Only open tasks past their due time.
        pub overdue_only: Option<bool>,
        /// Only tasks about this buyer.
        pub principal_id: Option<String>,
        pub pagination: Option<super::super::wire::PaginationRequest>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Open human tasks waiting for a decision (publisher admins only).
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetPendingTasksRequest {
        pub task_type: Option<String>,
        /// low, medium, high or urgent.
        pub priority: Option<String>,
        /// Include tasks past their due time (default true); false lists only those still on time.
        pub include_overdue: Option<bool>,
        pub pagination: Option<super::super::wire::PaginationRequest>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Create a task for publisher ops (publisher admins only).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CreateHumanTaskRequest {
        /// manual_approval, creative_review, ... (free text).
        pub task_type: String,
        /// low, medium (default), high or urgent.
        pub priority: Option<String>,
        /// What the person is asked to do.
        pub description: Option<String>,
        /// Why a person is needed.
        pub error_detail: Option<String>,
        /// The operation the task is about, for the record (it is not run by the task).
        pub operation: Option<String>,
        pub media_buy_id: Option<String>,
        /// The buyer the task is about.
        pub principal_id: Option<String>,
        /// Hours until the task is overdue (default: the tenant's approvals.due_hours).
        pub due_in_hours: Option<f64>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Assign a task to a person (publisher admins only).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct AssignTaskRequest {
        pub task_id: String,
        /// Who takes it, e.g. an e-mail address.
        pub assigned_to: String,
        /// The assignee starts on it now: in_progress (buyers see working).
        pub start: Option<bool>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Resolve a task (publisher admins only). `approved` runs the deferred operation.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CompleteTaskRequest {
        pub task_id: String,
        /// approved, rejected, completed or cannot_complete.
        pub resolution: String,
        pub resolution_detail: Option<String>,
        /// Who decided (default: the calling admin).
        pub resolved_by: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Resolve a human approval task (publisher admins only; seed 001 names).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CompleteHumanTaskRequest {
        pub task_id: String,
        /// approve, reject, complete or cannot_complete (the past-tense forms are read too).
        pub action: String,
        pub notes: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Review creatives waiting for the publisher (publisher admins only): without creative_id,
    /// list them; with creative_id and action, decide one.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct ReviewPendingCreativesRequest {
        pub creative_id: Option<String>,
        /// The buyer owning the creative, when several buyers use the same creative_id.
        pub principal_id: Option<String>,
        /// approve or reject.
        pub action: Option<String>,
        /// Why (required to reject; shown to the buyer).
        pub reason: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Read the audit log: every state change and human decision, newest first (publisher
    /// admins only).
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct GetAuditLogRequest {
        /// media_buy, task or creative.
        pub object_type: Option<String>,
        pub object_id: Option<String>,
        /// Who made the change.
        pub actor: Option<String>,
        pub pagination: Option<super::super::wire::PaginationRequest>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

fn parse_list<T>(
    one: Option<&String>,
    many: Option<&Vec<String>>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::new();
    for text in one.into_iter().chain(many.into_iter().flatten()) {
        out.push(parse(text).ok_or_else(|| Error::invalid(field, format!("unknown {field} value {text:?}")))?);
    }
    Ok(out)
}

fn priority(text: Option<&String>) -> Result<Option<Priority>, Error> {
    text.map(|p| {
        Priority::parse(p).ok_or_else(|| Error::invalid("priority", "priority must be low, medium, high or urgent"))
    })
    .transpose()
}

/// A resolution or seed action.
///
/// # Errors
/// `InvalidRequest` naming `field` for anything else.
pub fn resolution(text: &str, field: &str) -> Result<Resolution, Error> {
    Resolution::parse(text.trim()).ok_or_else(|| {
        Error::invalid_with(
            field,
            format!("unknown {field} {text:?}"),
            "use approved, rejected, completed or cannot_complete (approve and reject are read too)",
        )
    })
}

/// A review decision from the seed's `action` (approve / reject) and `reason`.
///
/// # Errors
/// `InvalidRequest` for a missing or unknown action.
pub fn verdict(action: Option<&str>, reason: Option<&str>) -> Result<Verdict, Error> {
    match action.map(str::trim) {
        Some("approve" | "approved") => Ok(Verdict::Approve),
        Some("reject" | "rejected") => Ok(Verdict::Reject(reason.unwrap_or_default().to_owned())),
        _ => Err(Error::invalid_with("action", "action must be approve or reject", "send action with creative_id")),
    }
}

/// One line on what resolving a task did.
pub fn outcome_line(task: &Task) -> String {
    match (task.status(), &task.media_buy_id, &task.failure) {
        (_, _, Some(failure)) => format!("the operation was refused when it ran: {} {}", failure.code, failure.message),
        (TaskStatus::Completed, Some(id), None) if task.operation.is_some() => {
            format!("the buyer's operation ran on media buy {id}")
        }
        (TaskStatus::Rejected, ..) => "nothing was run".to_owned(),
        _ => "no operation to run".to_owned(),
    }
}

impl schemas::TasksListRequest {
    /// The filter and the names of the filters applied.
    ///
    /// # Errors
    /// `InvalidRequest` for unknown statuses, task types or sort.
    pub fn to_core(&self, tenant: &Tenant) -> Result<(TaskFilter, Vec<String>), Error> {
        let filters = self.filters.clone().unwrap_or_default();
        let mut applied = Vec::new();
        let statuses =
            parse_list(filters.status.as_ref(), filters.statuses.as_ref(), "filters.statuses", TaskStatus::parse)?;
        if !statuses.is_empty() {
            applied.push("statuses".to_owned());
        }
        let task_types: Vec<Operation> = parse_list(
            filters.task_type.as_ref(),
            filters.task_types.as_ref(),
            "filters.task_types",
            Operation::parse,
        )?;
        if !task_types.is_empty() {
            applied.push("task_types".to_owned());
        }
        let task_ids = filters.task_ids.clone().unwrap_or_default();
        if !task_ids.is_empty() {
            applied.push("task_ids".to_owned());
        }
        // Every task here is a media-buy task: asking only for other protocols finds nothing.
        let protocols: Vec<&String> = filters.protocol.iter().chain(filters.protocols.iter().flatten()).collect();
        let other_protocol_only = !protocols.is_empty() && protocols.iter().all(|p| p.as_str() != "media-buy");
        if !protocols.is_empty() {
            applied.push("protocols".to_owned());
        }
        let sort = self.sort.clone().unwrap_or_default();
        if sort.field.as_deref().is_some_and(|f| f != "created_at") {
            return Err(Error::invalid_with("sort.field", "tasks sort by created_at only", "omit sort.field"));
        }
        let newest_first = match sort.direction.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(Error::invalid("sort.direction", "sort.direction must be asc or desc")),
        };
        let filter = TaskFilter {
            tenant_id: tenant.tenant_id.clone(),
            principal_id: None,
            states: vec![],
            statuses,
            task_types: task_types.iter().map(|o| o.as_str().to_owned()).collect(),
            priority: None,
            overdue_at: None,
            due_after: None,
            // An id no task has: nothing matches.
            task_ids: if other_protocol_only { vec![String::new()] } else { task_ids },
            deferred_only: true,
            newest_first,
        };
        Ok((filter, applied))
    }
}

impl schemas::ListHumanTasksRequest {
    /// # Errors
    /// `InvalidRequest` for an unknown status or priority.
    pub fn to_core(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<TaskFilter, Error> {
        let states = parse_list(self.status.as_ref(), None, "status", TaskState::parse)?;
        Ok(TaskFilter {
            tenant_id: tenant.tenant_id.clone(),
            principal_id: self.principal_id.clone(),
            states,
            statuses: vec![],
            task_types: self.task_type.clone().into_iter().collect(),
            priority: priority(self.priority.as_ref())?,
            overdue_at: (self.overdue_only == Some(true)).then_some(now),
            due_after: None,
            task_ids: vec![],
            deferred_only: false,
            newest_first: false,
        })
    }
}

impl schemas::GetPendingTasksRequest {
    /// # Errors
    /// `InvalidRequest` for an unknown priority.
    pub fn to_core(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<TaskFilter, Error> {
        Ok(TaskFilter {
            tenant_id: tenant.tenant_id.clone(),
            principal_id: None,
            states: ALL_TASK_STATES.into_iter().filter(|s| s.is_open()).collect(),
            statuses: vec![],
            task_types: self.task_type.clone().into_iter().collect(),
            priority: priority(self.priority.as_ref())?,
            overdue_at: None,
            due_after: (self.include_overdue == Some(false)).then_some(now),
            task_ids: vec![],
            deferred_only: false,
            newest_first: false,
        })
    }
}

impl schemas::CreateHumanTaskRequest {
    /// # Errors
    /// `InvalidRequest` for an unknown priority or a due time that is not a positive number of hours.
    pub fn to_core(&self, tenant: &Tenant) -> Result<NewTask, Error> {
        let due_in = match self.due_in_hours {
            None => tenant.approvals.due_in,
            Some(hours) if hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0 => {
                chrono::Duration::seconds((hours * 3600.0).round() as i64)
            }
            Some(_) => return Err(Error::invalid("due_in_hours", "due_in_hours must be a positive number of hours")),
        };
        let detail = match (&self.error_detail, &self.operation) {
            (Some(detail), Some(operation)) => Some(format!("{detail} (operation: {operation})")),
            (Some(detail), None) => Some(detail.clone()),
            (None, Some(operation)) => Some(format!("operation: {operation}")),
            (None, None) => None,
        };
        Ok(NewTask {
            task_type: self.task_type.trim().to_owned(),
            operation: None,
            principal_id: self.principal_id.clone(),
            media_buy_id: self.media_buy_id.clone(),
            creative_ids: vec![],
            priority: priority(self.priority.as_ref())?.unwrap_or(Priority::Medium),
            description: self.description.clone().unwrap_or_else(|| format!("{} task", self.task_type.trim())),
            detail,
            due_in,
            request: None,
            push_notification: None,
        })
    }
}

/// Reads kept requests back and renders what running them gave, for core (`approval::Wire`).
pub struct Deferred;

fn kept(request: &str) -> Result<Args, Error> {
    match serde_json::from_str(request) {
        Ok(Value::Object(map)) => Ok(Args(map)),
        _ => Err(Error::Store(crate::core::StoreError::Corrupt("a task's kept request is not a JSON object".into()))),
    }
}

/// The last non-empty path segment of a webhook URL.
fn operation_id(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.split(['?', '#']).next()?.split_once('/')?.1;
    path.rsplit('/').find(|segment| !segment.is_empty())
}

/// The kept request's `context`, echoed on every rendering of its outcome.
fn with_context(mut body: Map<String, Value>, request: &str) -> String {
    if let Ok(args) = kept(request)
        && let Some(context) = args.context()
    {
        body.insert("context".into(), context.clone());
    }
    Value::Object(body).to_string()
}

impl Wire for Deferred {
    fn create_request(&self, request: &str) -> Result<CreateMediaBuy, Error> {
        kept(request)?.parse::<wire_buying::schemas::CreateMediaBuyRequest>()?.to_core()
    }

    fn update_request(&self, request: &str) -> Result<crate::core::buying::UpdateMediaBuy, Error> {
        kept(request)?.parse::<wire_buying::schemas::UpdateMediaBuyRequest>()?.to_core()
    }

    fn created(&self, tenant: &Tenant, buy: &MediaBuy, request: &str) -> String {
        with_context(wire_buying::created_response(buy, tenant.sandbox), request)
    }

    fn updated(&self, tenant: &Tenant, updated: &Updated, request: &str, now: DateTime<Utc>) -> String {
        with_context(wire_buying::updated_response(updated, now, tenant.sandbox), request)
    }

    fn failure(&self, error: &Error, request: &str) -> TaskFailure {
        let object = adcp_error(error);
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (code, message) = (text("code"), text("message"));
        let mut body = Map::new();
        body.insert("adcp_error".into(), object.clone());
        body.insert("errors".into(), json!([object]));
        TaskFailure { code, message, response: with_context(body, request) }
    }

    fn webhook_payload(&self, event: &TaskEvent<'_>, webhook: &Webhook) -> String {
        let mut body = Map::new();
        body.insert("idempotency_key".into(), event.event_id.clone().into());
        body.insert("task_id".into(), event.task_id.clone().into());
        body.insert("task_type".into(), event.operation.as_str().into());
        body.insert("status".into(), event.status.as_str().into());
        body.insert("timestamp".into(), time(event.at));
        body.insert("protocol".into(), "media-buy".into());
        // The buyer's own id for the operation is the last segment of the URL it registered
        // (`.../step/<step>/<operation_id>`); it is echoed so that the buyer can match the event.
        if let Some(operation_id) = operation_id(&webhook.url) {
            body.insert("operation_id".into(), operation_id.into());
        }
        if let Some(message) = &event.message {
            body.insert("message".into(), message.clone().into());
        }
        if let Some(result) = &event.result {
            let mut result = stored_json(result);
            if let Value::Object(map) = &mut result {
                // The context goes at the top of the payload; a replay marker never applies.
                map.remove("context");
                map.remove("replayed");
            }
            body.insert("result".into(), result);
        }
        if let Some(context) = event.request.and_then(|r| kept(r).ok()).and_then(|a| a.context().cloned()) {
            body.insert("context".into(), context);
        }
        if let Ok(Value::Object(config)) = serde_json::from_str::<Value>(&webhook.config.0)
            && let Some(token) = config.get("token").and_then(Value::as_str)
        {
            body.insert("token".into(), token.into());
        }
        Value::Object(body).to_string()
    }

    fn creatives_reviewed(&self, creatives: &[Creative], request: &str) -> String {
        let creatives: Vec<Value> = creatives
            .iter()
            .map(|c| {
                let mut value =
                    json!({ "creative_id": c.creative_id, "action": "updated", "status": c.status.as_str() });
                if let Some(reason) = &c.rejection_reason {
                    value["rejection_reason"] = reason.clone().into();
                }
                value
            })
            .collect();
        let mut body = Map::new();
        body.insert("creatives".into(), creatives.into());
        with_context(body, request)
    }

    fn delivery_report(&self, report: &Report<'_>, webhook: &Webhook) -> String {
        let mut body = super::wire_delivery::delivery_response(report.delivery, false);
        // A reporting webhook carries one buy's delivery; totals across buys do not apply.
        body.remove("aggregated_totals");
        body.insert("idempotency_key".into(), report.event_id.clone().into());
        body.insert("notification_type".into(), report.kind.as_str().into());
        body.insert("sequence_number".into(), report.sequence.into());
        if let Some(next) = report.next_expected_at {
            body.insert("next_expected_at".into(), time(next));
        }
        body.insert("partial_data".into(), false.into());
        body.insert("unavailable_count".into(), 0.into());
        if let Ok(Value::Object(config)) = serde_json::from_str::<Value>(&webhook.config.0)
            && let Some(token) = config.get("token").and_then(Value::as_str)
        {
            body.insert("token".into(), token.into());
        }
        Value::Object(body).to_string()
    }

    fn creative_assets(
        &self,
        assets: &crate::core::media_buy::Verbatim,
    ) -> Vec<(String, crate::core::creative::AssetInput)> {
        super::wire_creatives::assets(&assets.0)
    }

    fn synced(&self, tenant: &Tenant, outcomes: &[CreativeOutcome], request: &str) -> String {
        with_context(super::wire_creatives::sync_response(outcomes, false, tenant.sandbox), request)
    }

    fn ops_message(&self, text: &str) -> String {
        json!({ "text": text }).to_string()
    }

    fn buy_changed(&self, buy: &MediaBuy, reason: &str) -> String {
        let mut body = Map::new();
        body.insert("media_buy_id".into(), buy.media_buy_id.clone().into());
        body.insert("status".into(), buy.status.as_str().into());
        body.insert("revision".into(), buy.revision.into());
        if let Some(cancellation) = &buy.cancellation {
            body.insert("cancellation".into(), wire_buying::cancellation_value(cancellation));
        }
        if buy.status == MediaBuyStatus::Rejected {
            body.insert("rejection_reason".into(), reason.into());
        }
        Value::Object(body).to_string()
    }
}

/// The submitted arm (DIGEST §2.4): no buy yet, a task to poll.
pub fn submitted(task: &Task) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("status".into(), "submitted".into());
    body.insert("task_id".into(), task.task_id.clone().into());
    let why = task.detail.as_deref().unwrap_or("the publisher reviews it");
    body.insert(
        "message".into(),
        format!(
            "Waiting for publisher approval: {why}. Nothing is booked until a person approves; poll tasks/get with \
             task_id {} (or receive a webhook at push_notification_config.url). Due by {}.",
            task.task_id,
            task.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .into(),
    );
    body
}

fn dry_run(mut body: Map<String, Value>, approval: Option<&String>) -> Map<String, Value> {
    body.insert("dry_run".into(), true.into());
    let message = match approval {
        Some(why) => format!("Dry run: nothing was written. This request would wait for publisher approval: {why}."),
        None => "Dry run: nothing was written. This request would be applied as shown.".to_owned(),
    };
    body.insert("message".into(), message.into());
    body
}

/// The answer to `create_media_buy`, whichever way it went.
pub fn created_response(created: &Created, sandbox: bool) -> Map<String, Value> {
    match created {
        Created::Buy(buy) => wire_buying::created_response(buy, sandbox),
        Created::Submitted(task) => submitted(task),
        Created::DryRun { media_buy, approval } => {
            dry_run(wire_buying::created_response(media_buy, sandbox), approval.as_ref())
        }
    }
}

/// The answer to `update_media_buy`, whichever way it went.
pub fn changed_response(changed: &Changed, now: DateTime<Utc>, sandbox: bool) -> Map<String, Value> {
    match changed {
        Changed::Buy(updated) => wire_buying::updated_response(updated, now, sandbox),
        Changed::Submitted(task) => submitted(task),
        Changed::DryRun { updated, approval } => {
            dry_run(wire_buying::updated_response(updated, now, sandbox), approval.as_ref())
        }
    }
}

fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A task as AdCP `tasks/get` shows it.
pub fn task_value(task: &Task, include_result: bool, include_history: bool) -> Map<String, Value> {
    let status = task.status();
    let mut body = Map::new();
    body.insert("task_id".into(), task.task_id.clone().into());
    if let Some(operation) = task.operation {
        body.insert("task_type".into(), operation.as_str().into());
    }
    body.insert("protocol".into(), "media-buy".into());
    body.insert("status".into(), status.as_str().into());
    body.insert("created_at".into(), time(task.created_at));
    body.insert("updated_at".into(), time(task.updated_at));
    if let Some(at) = task.completed_at {
        body.insert("completed_at".into(), time(at));
    }
    body.insert("has_webhook".into(), task.push_notification.is_some().into());
    let message = match status {
        TaskStatus::Submitted => format!("Waiting for publisher approval: {}", task.detail.as_deref().unwrap_or("")),
        TaskStatus::Working => "Approved; the operation is running".to_owned(),
        TaskStatus::Completed => "Approved and applied".to_owned(),
        TaskStatus::Rejected => {
            format!("Rejected by the publisher{}", task.notes.as_deref().map(|n| format!(": {n}")).unwrap_or_default())
        }
        TaskStatus::Failed => match &task.failure {
            Some(failure) => format!("Approved, but the operation was refused when it ran: {}", failure.message),
            None => format!(
                "The publisher could not complete the task{}",
                task.notes.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
            ),
        },
        TaskStatus::Canceled => "Canceled".to_owned(),
    };
    body.insert("message".into(), message.into());
    if let Some(id) = &task.media_buy_id {
        body.insert("media_buy_id".into(), id.clone().into());
    }
    if let Some(failure) = &task.failure {
        body.insert(
            "error".into(),
            json!({ "code": failure.code, "message": failure.message,
                    "details": { "protocol": "media-buy", "operation": task.operation.map(|o| o.as_str()) } }),
        );
    } else if status == TaskStatus::Rejected {
        body.insert(
            "error".into(),
            json!({ "code": "POLICY_VIOLATION", "message": body["message"].clone(),
                    "details": { "protocol": "media-buy", "operation": task.operation.map(|o| o.as_str()) } }),
        );
    }
    let outcome = task.result.as_deref().or(task.failure.as_ref().map(|f| f.response.as_str()));
    if include_result && let Some(outcome) = outcome {
        body.insert("result".into(), stored_json(outcome));
    }
    if include_history {
        let mut history = Vec::new();
        if let Some(request) = &task.request {
            let mut data = stored_json(request);
            strip_credentials(&mut data);
            history.push(json!({ "timestamp": time(task.created_at), "type": "request", "data": data }));
        }
        if let (Some(outcome), Some(at)) = (outcome, task.completed_at) {
            history.push(json!({ "timestamp": time(at), "type": "response", "data": stored_json(outcome) }));
        }
        body.insert("history".into(), history.into());
    }
    body
}

/// Webhook secrets never leave the server again.
fn strip_credentials(request: &mut Value) {
    for key in ["push_notification_config", "reporting_webhook"] {
        if let Some(Value::Object(auth)) = request.get_mut(key).and_then(|c| c.get_mut("authentication")) {
            auth.remove("credentials");
        }
    }
}

/// The `tasks/list` answer.
pub fn tasks_list_response(page: &Page<Task>, filters_applied: Vec<String>, newest_first: bool) -> Map<String, Value> {
    let mut statuses: Map<String, Value> = Map::new();
    for task in &page.items {
        let count = statuses.get(task.status().as_str()).and_then(Value::as_u64).unwrap_or(0);
        statuses.insert(task.status().as_str().into(), (count + 1).into());
    }
    let tasks: Vec<Value> = page
        .items
        .iter()
        .map(|task| {
            let mut value = Value::Object(task_value(task, false, false));
            value["domain"] = "media-buy".into();
            value
        })
        .collect();
    let mut body = Map::new();
    body.insert(
        "query_summary".into(),
        json!({
            "total_matching": page.total.unwrap_or(page.items.len() as u64),
            "returned": page.items.len(),
            "domain_breakdown": { "media-buy": page.items.len() },
            "status_breakdown": statuses,
            "filters_applied": filters_applied,
            "sort_applied": { "field": "created_at", "direction": if newest_first { "desc" } else { "asc" } },
        }),
    );
    body.insert("tasks".into(), tasks.into());
    body.insert("pagination".into(), pagination(page));
    body
}

fn pagination<T>(page: &Page<T>) -> Value {
    let mut value = json!({ "has_more": page.next_cursor.is_some() });
    if let Some(cursor) = &page.next_cursor {
        value["cursor"] = json!(cursor);
    }
    if let Some(total) = page.total {
        value["total_count"] = json!(total);
    }
    value
}

/// A task as the publisher-ops tools show it (seed 001 field names).
pub fn human_task_value(task: &Task, now: DateTime<Utc>) -> Value {
    let mut value = json!({
        "task_id": task.task_id,
        "task_type": task.task_type,
        "status": task.state.as_str(),
        "adcp_status": task.status().as_str(),
        "priority": task.priority.as_str(),
        "description": task.description,
        "created_at": time(task.created_at),
        "updated_at": time(task.updated_at),
        "due_by": time(task.due_at),
        "overdue": task.is_overdue(now),
        "revision": task.revision,
    });
    let optional = [
        ("operation", task.operation.map(|o| o.as_str().to_owned())),
        ("principal_id", task.principal_id.clone()),
        ("media_buy_id", task.media_buy_id.clone()),
        ("error_detail", task.detail.clone()),
        ("assigned_to", task.assigned_to.clone()),
        ("resolution", task.resolution.map(|r| r.as_str().to_owned())),
        ("resolved_by", task.resolved_by.clone()),
        ("notes", task.notes.clone()),
    ];
    for (key, field) in optional {
        if let Some(field) = field {
            value[key] = field.into();
        }
    }
    if let Some(at) = task.completed_at {
        value["completed_at"] = time(at);
    }
    if let Some(request) = &task.request {
        let mut data = stored_json(request);
        strip_credentials(&mut data);
        value["request"] = data;
    }
    if let Some(result) = &task.result {
        value["result"] = stored_json(result);
    }
    if let Some(failure) = &task.failure {
        value["error"] = json!({ "code": failure.code, "message": failure.message });
    }
    value
}

/// `list_human_tasks` / `get_pending_tasks`.
pub fn human_tasks_response(page: &Page<Task>, now: DateTime<Utc>) -> Map<String, Value> {
    let overdue = page.items.iter().filter(|t| t.is_overdue(now)).count();
    let mut body = Map::new();
    body.insert("tasks".into(), page.items.iter().map(|t| human_task_value(t, now)).collect::<Vec<_>>().into());
    body.insert("total_count".into(), page.total.unwrap_or(page.items.len() as u64).into());
    body.insert("overdue_count".into(), overdue.into());
    body.insert("pagination".into(), pagination(page));
    body
}

/// `create_human_task`, `assign_task`, `complete_task` and `complete_human_task`: the task as it
/// is now, with the seed's `detail` line (the envelope `status` is the tool call's: completed).
pub fn task_changed_response(task: &Task, detail: String, now: DateTime<Utc>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("task_id".into(), task.task_id.clone().into());
    body.insert("detail".into(), detail.into());
    body.insert("task".into(), human_task_value(task, now));
    body
}

/// A creative as the review tool shows it.
fn review_value(creative: &Creative) -> Value {
    let mut value = json!({
        "creative_id": creative.creative_id,
        "principal_id": creative.principal_id,
        "account_id": creative.account_id,
        "name": creative.name,
        "format_id": { "agent_url": creative.format_id.agent_url, "id": creative.format_id.id },
        "status": creative.status.as_str(),
        "assets": stored_json(&creative.assets.0),
        "created_at": time(creative.created_at),
        "updated_at": time(creative.updated_at),
    });
    if let Some(reason) = &creative.rejection_reason {
        value["rejection_reason"] = reason.clone().into();
    }
    value
}

/// `review_pending_creatives` without a creative: the queue.
pub fn pending_creatives_response(creatives: &[Creative]) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("creatives".into(), creatives.iter().map(review_value).collect::<Vec<_>>().into());
    body.insert("total_count".into(), creatives.len().into());
    body
}

/// `review_pending_creatives` with a decision (seed 001 fields).
pub fn reviewed_response(creative: &Creative, reviewer: &str, task: Option<&Task>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("creative_id".into(), creative.creative_id.clone().into());
    body.insert("review_status".into(), creative.status.as_str().into());
    body.insert("reviewed_by".into(), reviewer.into());
    body.insert("reviewed_at".into(), time(creative.updated_at));
    if let Some(reason) = &creative.rejection_reason {
        body.insert("rejection_reason".into(), reason.clone().into());
    }
    if let Some(task) = task {
        body.insert("completed_task_id".into(), task.task_id.clone().into());
    }
    body
}

/// The answer to `sync_creatives` when creatives wait for review: the submitted arm, with the
/// per-creative results as they stand.
pub fn sync_submitted(task: &Task, mut results: Map<String, Value>) -> Map<String, Value> {
    for (key, value) in submitted(task) {
        results.insert(key, value);
    }
    results.insert(
        "message".into(),
        format!(
            "{} creative(s) wait for publisher review; poll tasks/get with task_id {} (or receive a webhook) for \
             the outcome. Due by {}.",
            task.creative_ids.len(),
            task.task_id,
            task.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .into(),
    );
    results
}

/// `get_audit_log`.
pub fn audit_response(page: &Page<AuditEntry>) -> Map<String, Value> {
    let entries: Vec<Value> = page
        .items
        .iter()
        .map(|entry| {
            json!({
                "at": time(entry.at),
                "actor": entry.actor,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "action": entry.action,
                "before": entry.before,
                "after": entry.after,
                "detail": entry.detail,
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("entries".into(), entries.into());
    body.insert("pagination".into(), pagination(page));
    body
}
