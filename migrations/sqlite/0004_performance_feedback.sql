-- Buyer performance feedback (provide_performance_feedback, update_performance_index). The
-- product is resolved from the buy's package when the feedback names one, so that ranking can
-- read a product's record across buys.
create table performance_feedback (
    feedback_id       text primary key,
    tenant_id         text not null references tenants (tenant_id),
    principal_id      text not null,
    media_buy_id      text not null references media_buys (media_buy_id),
    package_id        text,
    creative_id       text,
    product_id        text,
    period_start      text not null,
    period_end        text not null,
    performance_index double precision not null,
    metric_type       text not null,
    feedback_source   text not null,
    notes             text,
    received_at       text not null
);
create index performance_feedback_product on performance_feedback (tenant_id, product_id);
