-- comply_test_controller state of sandbox tenants (core::sandbox). Production tenants never
-- write these tables.

-- What each seed_* scenario stored, as canonical JSON, so that a replay is recognised as the
-- same fixture (or refused as a diverging one).
create table sandbox_fixtures (
    tenant_id   text not null,
    fixture_key text not null,
    fixture     text not null,
    created_at  text not null,
    primary key (tenant_id, fixture_key)
);

-- Products seeded before any pricing option: a catalog product needs one, so they wait here
-- until seed_pricing_option gives them one.
create table sandbox_products (
    tenant_id  text not null,
    product_id text not null,
    document   text not null,
    primary key (tenant_id, product_id)
);

-- force_create_media_buy_arm: shapes the principal's next create_media_buy, then is consumed.
create table sandbox_forced_arms (
    tenant_id    text not null,
    principal_id text not null,
    arm          text not null,
    task_id      text,
    message      text,
    created_at   text not null,
    primary key (tenant_id, principal_id)
);

-- simulate_delivery and simulate_budget_spend: delivery added to what the ad server reports.
create table sandbox_delivery (
    tenant_id    text not null,
    media_buy_id text not null,
    impressions  real not null,
    clicks       real not null,
    conversions  real not null,
    spend        real not null,
    recorded_at  text not null,
    primary key (tenant_id, media_buy_id)
);
