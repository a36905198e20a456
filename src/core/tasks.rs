//! Human tasks: the durable queue where work that needs a person waits (seed 000 "HITL", seed
//! 001's task tools), and the AdCP task view buyers poll (`tasks/get`, `tasks/list`).
//!
//! A task has the seed's workflow state (pending → assigned → in_progress → completed | failed,
//! escalated when overdue) and, when it defers a buyer's operation, that operation's request as
//! the transport received it. Resolving it `approved` runs the operation and records its
//! response in the same transaction (see `approval`); `rejected` runs nothing. Buyers see their
//! own deferred tasks only, as AdCP task statuses; a foreign id answers like an unknown one.

use chrono::{DateTime, Duration, Utc};

use super::error::Error;
use super::webhook::Webhook;

/// The seed's workflow states (seed 000 "HITL Task States").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Pending,
    Assigned,
    InProgress,
    Completed,
    Failed,
    Escalated,
}

pub const ALL_TASK_STATES: [TaskState; 6] = [
    TaskState::Pending,
    TaskState::Assigned,
    TaskState::InProgress,
    TaskState::Completed,
    TaskState::Failed,
    TaskState::Escalated,
];

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::InProgress => "in_progress",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Escalated => "escalated",
        }
    }

    pub fn parse(text: &str) -> Option<TaskState> {
        ALL_TASK_STATES.into_iter().find(|s| s.as_str() == text)
    }

    /// Still waiting for a person.
    pub fn is_open(self) -> bool {
        !matches!(self, TaskState::Completed | TaskState::Failed)
    }
}

/// How a person resolved a task (seed 001 `complete_task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Run the deferred operation.
    Approved,
    /// Do not run it.
    Rejected,
    /// Generic completion of a task that defers nothing.
    Completed,
    /// The task cannot be resolved; a deferred operation does not run.
    CannotComplete,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Approved => "approved",
            Resolution::Rejected => "rejected",
            Resolution::Completed => "completed",
            Resolution::CannotComplete => "cannot_complete",
        }
    }

    /// Also reads the seed's `approve` / `reject` actions.
    pub fn parse(text: &str) -> Option<Resolution> {
        match text {
            "approved" | "approve" => Some(Resolution::Approved),
            "rejected" | "reject" => Some(Resolution::Rejected),
            "completed" | "complete" => Some(Resolution::Completed),
            "cannot_complete" => Some(Resolution::CannotComplete),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

pub const ALL_PRIORITIES: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent];

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        ALL_PRIORITIES.into_iter().find(|p| p.as_str() == text)
    }

    /// One step up, for an overdue task.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Medium,
            Priority::Medium => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

/// A buyer operation a task can defer; its name is the AdCP `task_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateMediaBuy,
    UpdateMediaBuy,
    SyncCreatives,
}

pub const ALL_OPERATIONS: [Operation; 3] =
    [Operation::CreateMediaBuy, Operation::UpdateMediaBuy, Operation::SyncCreatives];

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateMediaBuy => "create_media_buy",
            Operation::UpdateMediaBuy => "update_media_buy",
            Operation::SyncCreatives => "sync_creatives",
        }
    }

    pub fn parse(text: &str) -> Option<Operation> {
        ALL_OPERATIONS.into_iter().find(|o| o.as_str() == text)
    }
}

/// AdCP `enums/task-status.json`, as far as this seller uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Submitted,
    Working,
    Completed,
    Failed,
    Rejected,
    Canceled,
}

pub const ALL_TASK_STATUSES: [TaskStatus; 6] = [
    TaskStatus::Submitted,
    TaskStatus::Working,
    TaskStatus::Completed,
    TaskStatus::Failed,
    TaskStatus::Rejected,
    TaskStatus::Canceled,
];

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Submitted => "submitted",
            TaskStatus::Working => "working",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskStatus> {
        ALL_TASK_STATUSES.into_iter().find(|s| s.as_str() == text)
    }
}

/// Why a deferred operation failed when it ran: the AdCP error code and message, and the error
/// response the buyer would have had, as the transport rendered it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailure {
    pub code: String,
    pub message: String,
    pub response: String,
}

/// One task of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub task_id: String,
    pub tenant_id: String,
    /// The seed's type: `media_buy_approval`, `budget_increase_approval`, `manual_approval`, ...
    pub task_type: String,
    /// The buyer operation this task defers, if any.
    pub operation: Option<Operation>,
    /// The buyer the task is about (its owner for `tasks/get`); `None` for ops-only tasks.
    pub principal_id: Option<String>,
    pub media_buy_id: Option<String>,
    /// The creatives a review task is about.
    pub creative_ids: Vec<String>,
    pub state: TaskState,
    pub resolution: Option<Resolution>,
    pub priority: Priority,
    /// What the person is asked to decide.
    pub description: String,
    /// Why a person is needed (the seed's `error_detail`).
    pub detail: Option<String>,
    pub due_at: DateTime<Utc>,
    pub assigned_to: Option<String>,
    /// The deferred request, verbatim as the transport received it.
    pub request: Option<String>,
    /// Where the buyer wants status changes pushed.
    pub push_notification: Option<Webhook>,
    /// The deferred operation's response once it ran, as the transport rendered it.
    pub result: Option<String>,
    pub failure: Option<TaskFailure>,
    pub resolved_by: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Bumped by every change; writes are compare-and-set on it.
    pub revision: i64,
}

impl Task {
    /// The AdCP status a buyer sees.
    pub fn status(&self) -> TaskStatus {
        match (self.state, self.resolution) {
            (TaskState::Pending | TaskState::Assigned | TaskState::Escalated, _) => TaskStatus::Submitted,
            (TaskState::InProgress, _) => TaskStatus::Working,
            (TaskState::Failed, _) | (TaskState::Completed, Some(Resolution::CannotComplete)) => TaskStatus::Failed,
            (TaskState::Completed, Some(Resolution::Rejected)) => TaskStatus::Rejected,
            (TaskState::Completed, _) => TaskStatus::Completed,
        }
    }

    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.state.is_open() && self.due_at <= now
    }

    fn changed(&self, now: DateTime<Utc>) -> Task {
        Task { updated_at: now, revision: self.revision + 1, ..self.clone() }
    }
}

/// What a new task is about; `open` fills in the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub task_type: String,
    pub operation: Option<Operation>,
    pub principal_id: Option<String>,
    pub media_buy_id: Option<String>,
    pub creative_ids: Vec<String>,
    pub priority: Priority,
    pub description: String,
    pub detail: Option<String>,
    pub due_in: Duration,
    pub request: Option<String>,
    pub push_notification: Option<Webhook>,
}

/// A pending task for `new` in `tenant_id`.
pub fn open(tenant_id: &str, new: NewTask, now: DateTime<Utc>) -> Task {
    Task {
        task_id: format!("task_{}", uuid::Uuid::now_v7().simple()),
        tenant_id: tenant_id.to_owned(),
        task_type: new.task_type,
        operation: new.operation,
        principal_id: new.principal_id,
        media_buy_id: new.media_buy_id,
        creative_ids: new.creative_ids,
        state: TaskState::Pending,
        resolution: None,
        priority: new.priority,
        description: new.description,
        detail: new.detail,
        due_at: now + new.due_in,
        assigned_to: None,
        request: new.request,
        push_notification: new.push_notification,
        result: None,
        failure: None,
        resolved_by: None,
        notes: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
        revision: 1,
    }
}

fn closed(task: &Task) -> Error {
    Error::InvalidState {
        message: format!(
            "task {} is already {}{}",
            task.task_id,
            task.state.as_str(),
            task.resolution.map(|r| format!(" ({})", r.as_str())).unwrap_or_default()
        ),
    }
}

/// The task assigned to `assignee` (reassigning is allowed while it is open).
///
/// # Errors
/// `InvalidState` when the task is completed or failed; `InvalidRequest` for an empty assignee.
pub fn assign(task: &Task, assignee: &str, now: DateTime<Utc>) -> Result<Task, Error> {
    if !task.state.is_open() {
        return Err(closed(task));
    }
    let assignee = assignee.trim();
    if assignee.is_empty() {
        return Err(Error::invalid("assigned_to", "assigned_to must name the person taking the task"));
    }
    let mut next = task.changed(now);
    next.assigned_to = Some(assignee.to_owned());
    // An escalated task stays escalated until someone resolves it.
    if task.state != TaskState::Escalated {
        next.state = TaskState::Assigned;
    }
    Ok(next)
}

/// The task in progress: its assignee started on it (buyers see `working`).
///
/// # Errors
/// `InvalidState` when the task is completed or failed, or has nobody assigned.
pub fn start(task: &Task, now: DateTime<Utc>) -> Result<Task, Error> {
    if !task.state.is_open() {
        return Err(closed(task));
    }
    if task.assigned_to.is_none() {
        return Err(Error::InvalidState { message: format!("task {} has nobody assigned to start it", task.task_id) });
    }
    let mut next = task.changed(now);
    next.state = TaskState::InProgress;
    Ok(next)
}

/// The task marked escalated with its priority raised, when it is open, overdue and not yet
/// escalated; `None` otherwise.
pub fn escalate(task: &Task, now: DateTime<Utc>) -> Option<Task> {
    if !task.is_overdue(now) || task.state == TaskState::Escalated {
        return None;
    }
    let mut next = task.changed(now);
    next.state = TaskState::Escalated;
    next.priority = task.priority.raised();
    Some(next)
}

/// The task resolved by a person. A deferred operation's result (or failure) is added by the
/// caller that runs it.
///
/// # Errors
/// `InvalidState` when the task is already resolved; `InvalidRequest` when the resolution does
/// not fit the task (`completed` on a deferred operation, `approved` on one that defers nothing).
pub fn resolve(
    task: &Task,
    resolution: Resolution,
    actor: &str,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Task, Error> {
    if !task.state.is_open() {
        return Err(closed(task));
    }
    match (task.operation, resolution) {
        // A creative review completes once every creative in it was decided.
        (Some(operation), Resolution::Completed) if operation != Operation::SyncCreatives => {
            return Err(Error::invalid_with(
                "resolution",
                format!("task {} defers {}; resolve it approved or rejected", task.task_id, operation.as_str()),
                "use approved to run the operation, rejected to refuse it",
            ));
        }
        (None, Resolution::Approved) => {
            return Err(Error::invalid_with(
                "resolution",
                format!("task {} defers no operation; there is nothing to approve", task.task_id),
                "use completed, rejected or cannot_complete",
            ));
        }
        _ => {}
    }
    let mut next = task.changed(now);
    next.state = TaskState::Completed;
    next.resolution = Some(resolution);
    next.resolved_by = Some(actor.to_owned());
    next.notes = notes.map(str::to_owned);
    next.completed_at = Some(now);
    Ok(next)
}

/// The task failed: its deferred operation was approved but refused when it ran.
pub fn fail(task: &Task, failure: TaskFailure, now: DateTime<Utc>) -> Task {
    let mut next = task.clone();
    next.state = TaskState::Failed;
    next.failure = Some(failure);
    next.completed_at = Some(now);
    next.updated_at = now;
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 22, hour, 0, 0).unwrap()
    }

    fn pending(operation: Option<Operation>) -> Task {
        let new = NewTask {
            task_type: "media_buy_approval".into(),
            operation,
            principal_id: Some("buyer".into()),
            media_buy_id: None,
            creative_ids: vec![],
            priority: Priority::Medium,
            description: "Approve".into(),
            detail: None,
            due_in: Duration::hours(4),
            request: Some("{}".into()),
            push_notification: None,
        };
        open("t", new, at(8))
    }

    #[test]
    fn buyers_see_adcp_statuses() {
        let task = pending(Some(Operation::CreateMediaBuy));
        assert_eq!(task.status(), TaskStatus::Submitted);
        let assigned = assign(&task, "ops@example.com", at(9)).unwrap();
        assert_eq!((assigned.state, assigned.status()), (TaskState::Assigned, TaskStatus::Submitted));
        let approved = resolve(&assigned, Resolution::Approved, "ops", Some("ok"), at(10)).unwrap();
        assert_eq!(approved.status(), TaskStatus::Completed);
        assert_eq!(approved.revision, 3);
        let rejected = resolve(&task, Resolution::Rejected, "ops", None, at(10)).unwrap();
        assert_eq!(rejected.status(), TaskStatus::Rejected);
        let failed =
            fail(&approved, TaskFailure { code: "X".into(), message: "m".into(), response: "{}".into() }, at(10));
        assert_eq!(failed.status(), TaskStatus::Failed);
        let manual = pending(None);
        let gave_up = resolve(&manual, Resolution::CannotComplete, "ops", None, at(10)).unwrap();
        assert_eq!(gave_up.status(), TaskStatus::Failed);
    }

    #[test]
    fn a_resolved_task_cannot_be_resolved_or_assigned_again() {
        let task = pending(Some(Operation::CreateMediaBuy));
        let done = resolve(&task, Resolution::Rejected, "ops", None, at(9)).unwrap();
        assert!(matches!(resolve(&done, Resolution::Approved, "ops", None, at(10)), Err(Error::InvalidState { .. })));
        assert!(matches!(assign(&done, "someone", at(10)), Err(Error::InvalidState { .. })));
    }

    #[test]
    fn resolutions_must_fit_the_task() {
        let deferred = pending(Some(Operation::UpdateMediaBuy));
        assert!(matches!(
            resolve(&deferred, Resolution::Completed, "ops", None, at(9)),
            Err(Error::InvalidRequest { .. })
        ));
        let manual = pending(None);
        assert!(matches!(
            resolve(&manual, Resolution::Approved, "ops", None, at(9)),
            Err(Error::InvalidRequest { .. })
        ));
        assert!(resolve(&manual, Resolution::Completed, "ops", None, at(9)).is_ok());
    }

    #[test]
    fn overdue_open_tasks_escalate_once_with_a_raised_priority() {
        let task = pending(None);
        assert_eq!(escalate(&task, at(11)), None, "not due until 12:00");
        let escalated = escalate(&task, at(12)).unwrap();
        assert_eq!((escalated.state, escalated.priority), (TaskState::Escalated, Priority::High));
        assert_eq!(escalated.status(), TaskStatus::Submitted);
        assert_eq!(escalate(&escalated, at(13)), None);
        let started = start(&assign(&task, "ops", at(9)).unwrap(), at(10)).unwrap();
        assert_eq!((started.state, started.status()), (TaskState::InProgress, TaskStatus::Working));
        assert!(matches!(start(&task, at(10)), Err(Error::InvalidState { .. })), "nobody assigned");
        // Assigning keeps it escalated; resolving closes it.
        let assigned = assign(&escalated, "lead", at(13)).unwrap();
        assert_eq!(assigned.state, TaskState::Escalated);
        let done = resolve(&assigned, Resolution::Completed, "lead", None, at(14)).unwrap();
        assert_eq!(escalate(&done, at(15)), None);
    }
}
