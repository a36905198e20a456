-- The creative library, scoped per principal (creative ids are chosen by the buyer).
create table creatives (
    tenant_id        text not null references tenants (tenant_id),
    principal_id     text not null references principals (principal_id),
    creative_id      text not null,
    account_id       text not null,
    name             text not null,
    format_agent_url text not null,
    format_id        text not null,
    status           text not null,
    created_at       text not null,
    updated_at       text not null,
    -- format_id details, assets (verbatim), tags, rejection reason.
    document         text not null,
    primary key (tenant_id, principal_id, creative_id)
);

-- Which buy a package belongs to, so that sync_creatives can assign by package_id.
create table packages (
    package_id   text primary key,
    tenant_id    text not null,
    media_buy_id text not null references media_buys (media_buy_id)
);

-- Creative ↔ package assignments, derived from the buys' packages in the same transaction as
-- every buy write, for list_creatives' assignment filters.
create table creative_assignments (
    tenant_id    text not null,
    principal_id text not null,
    creative_id  text not null,
    media_buy_id text not null,
    package_id   text not null,
    assigned_at  text not null,
    primary key (tenant_id, principal_id, creative_id, package_id)
);
create index creative_assignments_buy on creative_assignments (media_buy_id);
