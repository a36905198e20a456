-- Human tasks (core::tasks): the durable queue of work that waits for a person, with the
-- deferred buyer request, as a document; the columns are what listings filter on. Ids are
-- time-ordered (UUID v7), so id order is creation order.
create table tasks (
    task_id      text primary key,
    tenant_id    text not null,
    principal_id text,
    task_type    text not null,
    operation    text,
    state        text not null,
    status       text not null,
    priority     text not null,
    due_at       text not null,
    created_at   text not null,
    updated_at   text not null,
    revision     bigint not null,
    document     text not null
);
create index tasks_by_tenant on tasks (tenant_id, task_id);
create index tasks_by_principal on tasks (tenant_id, principal_id, task_id);
create index tasks_open_due on tasks (tenant_id, due_at) where state in ('pending', 'assigned', 'in_progress');

-- The audit log: every state change and human decision, append-only.
create table audit_log (
    seq          integer primary key autoincrement,
    tenant_id    text not null,
    at           text not null,
    actor        text not null,
    object_type  text not null,
    object_id    text not null,
    action       text not null,
    before_value text,
    after_value  text,
    detail       text
);
create index audit_log_by_object on audit_log (tenant_id, object_type, object_id, seq);
