-- Tenants, principals, catalog, accounts and idempotency records (SQLite).
-- Timestamps are RFC 3339 text written by sqlx; booleans are integers; documents are JSON text.

create table tenants (
    tenant_id          text primary key,
    name               text not null,
    sandbox            boolean not null,
    -- Bumped on every catalog change so that servers can cache the catalog cheaply.
    catalog_version    bigint not null default 0,
    -- The tenant's advertising policy, a JSON document.
    advertising_policy text not null default '{}',
    updated_at         text not null
);

create table principals (
    principal_id text primary key,
    tenant_id    text not null references tenants (tenant_id),
    name         text not null,
    admin        boolean not null,
    -- SHA-256 of the bearer token, hex. The token itself is never stored.
    token_hash   text not null unique,
    created_at   text not null,
    revoked_at   text
);
create index principals_tenant on principals (tenant_id);

-- Catalog entries keep their authored order in `position`.
create table products (
    tenant_id  text not null references tenants (tenant_id),
    product_id text not null,
    position   bigint not null,
    document   text not null,
    primary key (tenant_id, product_id)
);

create table formats (
    tenant_id text not null references tenants (tenant_id),
    agent_url text not null,
    format_id text not null,
    position  bigint not null,
    document  text not null,
    primary key (tenant_id, agent_url, format_id)
);

create table properties (
    tenant_id   text not null references tenants (tenant_id),
    property_id text not null,
    position    bigint not null,
    document    text not null,
    primary key (tenant_id, property_id)
);

create table accounts (
    account_id          text primary key,
    tenant_id           text not null references tenants (tenant_id),
    owner_principal_id  text not null references principals (principal_id),
    brand_domain        text not null,
    -- '' when the brand has no brand_id, so that the natural key below is unique.
    brand_id            text not null,
    operator            text not null,
    sandbox             boolean not null,
    name                text not null,
    status              text not null,
    billing             text not null,
    payment_terms       text,
    billing_entity_name text,
    created_at          text not null,
    updated_at          text not null,
    unique (tenant_id, owner_principal_id, brand_domain, brand_id, operator, sandbox)
);
create index accounts_tenant on accounts (tenant_id, account_id);

create table idempotency_keys (
    principal_id  text not null,
    account_scope text not null,
    idem_key      text not null,
    request_hash  text not null,
    -- The serialized response; null while the first request is still executing.
    response      text,
    created_at    text not null,
    expires_at    text not null,
    primary key (principal_id, account_scope, idem_key)
);
