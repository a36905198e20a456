//! Human tasks (one row per task: filter columns + a JSON document) and the audit log, with the
//! writes that accompany other writes ([`Also`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, backend, corrupt};
use crate::core::StoreError;
use crate::core::ports::{Also, AuditEntry, AuditFilter, PageRequest, SealedResponse, TaskFilter};
use crate::core::tasks::{Operation, Priority, Resolution, Task, TaskFailure, TaskState};

/// Inside transaction `$tx`: writes what `$also` carries. The seal goes first (a taken key
/// returns `KeyTaken` before any other work), then the task, compare-and-set on its revision
/// (`TaskChanged` when someone else changed it), then the proposal bought (`ProposalTaken` when it
/// was bought before), then the audit entries, notifications and bookings to plan again.
/// Either error rolls the
/// transaction back and returns from the enclosing function.
macro_rules! also {
    ($tx:ident, $also:expr) => {{
        let also: &crate::core::ports::Also = $also;
        if let Some(sealed) = &also.seal {
            seal!($tx, sealed);
        }
        if let Some(task) = &also.new_task {
            super::tasks::insert_task!($tx, task);
        }
        if let Some(write) = &also.task {
            if !super::tasks::save_task!($tx, &write.task, write.expected_revision) {
                $tx.rollback().await.map_err(backend)?;
                return Err(StoreError::TaskChanged);
            }
        }
        super::proposals::accept_proposal!($tx, also.accept_proposal.as_ref());
        super::tasks::insert_audit!($tx, &also.audit);
        super::outbox::enqueue!($tx, &also.events);
        super::bookings::rebook!($tx, &also.rebook);
    }};
}
pub(super) use also;

/// Inside transaction `$tx`: replaces a task at its expected revision; evaluates to whether it did.
macro_rules! save_task {
    ($tx:ident, $task:expr, $expected:expr) => {{
        let task: &crate::core::tasks::Task = $task;
        let document = super::tasks::serialize(task)?;
        sqlx::query(
            "update tasks set principal_id = $1, task_type = $2, operation = $3, state = $4, status = $5,
                priority = $6, due_at = $7, updated_at = $8, revision = $9, document = $10
             where tenant_id = $11 and task_id = $12 and revision = $13",
        )
        .bind(&task.principal_id)
        .bind(&task.task_type)
        .bind(task.operation.map(|o| o.as_str()))
        .bind(task.state.as_str())
        .bind(task.status().as_str())
        .bind(task.priority.as_str())
        .bind(task.due_at)
        .bind(task.updated_at)
        .bind(task.revision)
        .bind(&document)
        .bind(&task.tenant_id)
        .bind(&task.task_id)
        .bind($expected)
        .execute(&mut *$tx)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1
    }};
}
pub(super) use save_task;

/// Inside transaction `$tx`: stores a new task.
macro_rules! insert_task {
    ($tx:ident, $task:expr) => {{
        let task: &crate::core::tasks::Task = $task;
        let document = super::tasks::serialize(task)?;
        sqlx::query(
            "insert into tasks (task_id, tenant_id, principal_id, task_type, operation, state, status, priority,
                due_at, created_at, updated_at, revision, document)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&task.task_id)
        .bind(&task.tenant_id)
        .bind(&task.principal_id)
        .bind(&task.task_type)
        .bind(task.operation.map(|o| o.as_str()))
        .bind(task.state.as_str())
        .bind(task.status().as_str())
        .bind(task.priority.as_str())
        .bind(task.due_at)
        .bind(task.created_at)
        .bind(task.updated_at)
        .bind(task.revision)
        .bind(&document)
        .execute(&mut *$tx)
        .await
        .map_err(backend)?;
    }};
}
pub(super) use insert_task;

/// Inside transaction `$tx`: appends audit entries in one statement.
macro_rules! insert_audit {
    ($tx:ident, $entries:expr) => {{
        let entries: &[crate::core::ports::AuditEntry] = $entries;
        if !entries.is_empty() {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into audit_log (tenant_id, at, actor, object_type, object_id, action, before_value,
                    after_value, detail) ",
            );
            insert.push_values(entries.iter(), |mut row, entry| {
                row.push_bind(&entry.tenant_id)
                    .push_bind(entry.at)
                    .push_bind(&entry.actor)
                    .push_bind(&entry.object_type)
                    .push_bind(&entry.object_id)
                    .push_bind(&entry.action)
                    .push_bind(&entry.before)
                    .push_bind(&entry.after)
                    .push_bind(&entry.detail);
            });
            insert.build().execute(&mut *$tx).await.map_err(backend)?;
        }
    }};
}
pub(super) use insert_audit;

#[derive(Serialize, Deserialize)]
struct TaskDoc {
    task_id: String,
    tenant_id: String,
    task_type: String,
    operation: Option<String>,
    principal_id: Option<String>,
    media_buy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    creative_ids: Vec<String>,
    state: String,
    resolution: Option<String>,
    priority: String,
    description: String,
    detail: Option<String>,
    due_at: DateTime<Utc>,
    assigned_to: Option<String>,
    request: Option<String>,
    push_notification_config: Option<String>,
    result: Option<String>,
    failure: Option<FailureDoc>,
    resolved_by: Option<String>,
    notes: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    revision: i64,
}

#[derive(Serialize, Deserialize)]
struct FailureDoc {
    code: String,
    message: String,
    response: String,
}

pub(super) fn serialize(task: &Task) -> Result<String, StoreError> {
    let doc = TaskDoc {
        task_id: task.task_id.clone(),
        tenant_id: task.tenant_id.clone(),
        task_type: task.task_type.clone(),
        operation: task.operation.map(|o| o.as_str().to_owned()),
        principal_id: task.principal_id.clone(),
        media_buy_id: task.media_buy_id.clone(),
        creative_ids: task.creative_ids.clone(),
        state: task.state.as_str().to_owned(),
        resolution: task.resolution.map(|r| r.as_str().to_owned()),
        priority: task.priority.as_str().to_owned(),
        description: task.description.clone(),
        detail: task.detail.clone(),
        due_at: task.due_at,
        assigned_to: task.assigned_to.clone(),
        request: task.request.clone(),
        push_notification_config: task.push_notification.as_ref().map(|w| w.config.0.clone()),
        result: task.result.clone(),
        failure: task.failure.as_ref().map(|f| FailureDoc {
            code: f.code.clone(),
            message: f.message.clone(),
            response: f.response.clone(),
        }),
        resolved_by: task.resolved_by.clone(),
        notes: task.notes.clone(),
        created_at: task.created_at,
        updated_at: task.updated_at,
        completed_at: task.completed_at,
        revision: task.revision,
    };
    serde_json::to_string(&doc).map_err(corrupt)
}

fn parse(document: &str) -> Result<Task, StoreError> {
    let doc: TaskDoc = serde_json::from_str(document).map_err(corrupt)?;
    let unknown = |what: &str, value: &str| corrupt(format!("task {}: {what} {value}", doc.task_id));
    Ok(Task {
        operation: match &doc.operation {
            Some(op) => Some(Operation::parse(op).ok_or_else(|| unknown("operation", op))?),
            None => None,
        },
        state: TaskState::parse(&doc.state).ok_or_else(|| unknown("state", &doc.state))?,
        resolution: match &doc.resolution {
            Some(r) => Some(Resolution::parse(r).ok_or_else(|| unknown("resolution", r))?),
            None => None,
        },
        priority: Priority::parse(&doc.priority).ok_or_else(|| unknown("priority", &doc.priority))?,
        push_notification: doc.push_notification_config.map(super::media_buys::webhook).transpose()?,
        failure: doc.failure.map(|f| TaskFailure { code: f.code, message: f.message, response: f.response }),
        task_id: doc.task_id,
        tenant_id: doc.tenant_id,
        task_type: doc.task_type,
        principal_id: doc.principal_id,
        media_buy_id: doc.media_buy_id,
        creative_ids: doc.creative_ids,
        description: doc.description,
        detail: doc.detail,
        due_at: doc.due_at,
        assigned_to: doc.assigned_to,
        request: doc.request,
        result: doc.result,
        resolved_by: doc.resolved_by,
        notes: doc.notes,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
        completed_at: doc.completed_at,
        revision: doc.revision,
    })
}

pub(super) async fn insert(db: &Db, task: &Task, also: &Also) -> Result<(), StoreError> {
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        if let Some(sealed) = &also.seal {
            seal!(tx, sealed);
        }
        insert_task!(tx, task);
        insert_audit!(tx, &also.audit);
        super::outbox::enqueue!(tx, &also.events);
        tx.commit().await.map_err(backend)
    })
}

pub(super) async fn save(db: &Db, task: &Task, expected: i64, also: &Also) -> Result<bool, StoreError> {
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        if let Some(sealed) = &also.seal {
            seal!(tx, sealed);
        }
        if !save_task!(tx, task, expected) {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        insert_audit!(tx, &also.audit);
        super::outbox::enqueue!(tx, &also.events);
        tx.commit().await.map_err(backend)?;
        Ok(true)
    })
}

pub(super) async fn get(db: &Db, tenant_id: &str, task_id: &str) -> Result<Option<Task>, StoreError> {
    let row: Option<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as("select document from tasks where tenant_id = $1 and task_id = $2")
            .bind(tenant_id)
            .bind(task_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
    });
    row.map(|(document,)| parse(&document)).transpose()
}

/// Appends the `where` clause of `$filter` to query builder `$q`.
macro_rules! push_filter {
    ($q:ident, $filter:expr) => {{
        let filter: &TaskFilter = $filter;
        $q.push(" where tenant_id = ").push_bind(filter.tenant_id.clone());
        if let Some(principal_id) = &filter.principal_id {
            $q.push(" and principal_id = ").push_bind(principal_id.clone());
        }
        if filter.deferred_only {
            $q.push(" and operation is not null");
        }
        if !filter.states.is_empty() {
            $q.push(" and state in (");
            let mut list = $q.separated(", ");
            for state in &filter.states {
                list.push_bind(state.as_str());
            }
            $q.push(")");
        }
        if !filter.statuses.is_empty() {
            $q.push(" and status in (");
            let mut list = $q.separated(", ");
            for status in &filter.statuses {
                list.push_bind(status.as_str());
            }
            $q.push(")");
        }
        if !filter.task_types.is_empty() {
            $q.push(" and (task_type in (");
            let mut list = $q.separated(", ");
            for task_type in &filter.task_types {
                list.push_bind(task_type.clone());
            }
            $q.push(") or operation in (");
            let mut list = $q.separated(", ");
            for task_type in &filter.task_types {
                list.push_bind(task_type.clone());
            }
            $q.push("))");
        }
        if let Some(priority) = filter.priority {
            $q.push(" and priority = ").push_bind(priority.as_str());
        }
        if let Some(at) = filter.due_after {
            $q.push(" and due_at > ").push_bind(at);
        }
        if let Some(at) = filter.overdue_at {
            $q.push(" and state in ('pending', 'assigned', 'in_progress', 'escalated') and due_at <= ").push_bind(at);
        }
        if !filter.task_ids.is_empty() {
            $q.push(" and task_id in (");
            let mut list = $q.separated(", ");
            for task_id in &filter.task_ids {
                list.push_bind(task_id.clone());
            }
            $q.push(")");
        }
    }};
}

pub(super) async fn list(db: &Db, filter: &TaskFilter, page: &PageRequest) -> Result<Vec<Task>, StoreError> {
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let rows: Vec<(String,)> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new("select document from tasks");
        push_filter!(query, filter);
        if let Some(after) = &page.after {
            query
                .push(if filter.newest_first { " and task_id < " } else { " and task_id > " })
                .push_bind(after.clone());
        }
        query.push(if filter.newest_first { " order by task_id desc limit " } else { " order by task_id limit " });
        query.push_bind(limit);
        query.build_query_as().fetch_all(pool).await.map_err(backend)?
    });
    rows.iter().map(|(document,)| parse(document)).collect()
}

pub(super) async fn count(db: &Db, filter: &TaskFilter) -> Result<u64, StoreError> {
    let (count,): (i64,) = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new("select count(*) from tasks");
        push_filter!(query, filter);
        query.build_query_as().fetch_one(pool).await.map_err(backend)?
    });
    Ok(u64::try_from(count).unwrap_or(0))
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    tenant_id: String,
    at: DateTime<Utc>,
    actor: String,
    object_type: String,
    object_id: String,
    action: String,
    before_value: Option<String>,
    after_value: Option<String>,
    detail: Option<String>,
}

pub(super) async fn audit_log(
    db: &Db,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
    let after = match &page.after {
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| corrupt(format!("audit cursor {cursor}")))?),
        None => None,
    };
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let rows: Vec<AuditRow> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new(
            "select seq, tenant_id, at, actor, object_type, object_id, action, before_value, after_value, detail
             from audit_log where tenant_id = ",
        );
        query.push_bind(filter.tenant_id.clone());
        if let Some(object_type) = &filter.object_type {
            query.push(" and object_type = ").push_bind(object_type.clone());
        }
        if let Some(object_id) = &filter.object_id {
            query.push(" and object_id = ").push_bind(object_id.clone());
        }
        if let Some(actor) = &filter.actor {
            query.push(" and actor = ").push_bind(actor.clone());
        }
        if let Some(after) = after {
            query.push(" and seq < ").push_bind(after);
        }
        query.push(" order by seq desc limit ").push_bind(limit);
        query.build_query_as().fetch_all(pool).await.map_err(backend)?
    });
    Ok(rows
        .into_iter()
        .map(|row| {
            let entry = AuditEntry {
                tenant_id: row.tenant_id,
                at: row.at,
                actor: row.actor,
                object_type: row.object_type,
                object_id: row.object_id,
                action: row.action,
                before: row.before_value,
                after: row.after_value,
                detail: row.detail,
            };
            (row.seq, entry)
        })
        .collect())
}
