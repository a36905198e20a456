-- Reporting-webhook schedules (core::reporting): per buy that asked for delivery reports, the
-- reports sent so far, where the next period starts, when it is due, and whether the final
-- report went out. Advanced by compare-and-set on `sequence`, with the report's outbox event.
create table delivery_reports (
    media_buy_id text primary key references media_buys (media_buy_id),
    tenant_id    text not null,
    sequence     bigint not null default 0,
    period_start text not null,
    next_at      text not null,
    done         boolean not null default false
);
create index delivery_reports_due on delivery_reports (tenant_id, next_at) where not done;
