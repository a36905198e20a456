-- The webhook outbox (core::notify): buyer notifications written in the same transaction as
-- the change they tell of, delivered at least once by a worker. `body` is the exact payload
-- every attempt sends; `event_id` is its idempotency_key.
create table webhook_outbox (
    event_id        text primary key,
    tenant_id       text not null,
    url             text not null,
    config          text not null,
    body            text not null,
    created_at      text not null,
    attempts        bigint not null default 0,
    next_attempt_at text not null,
    leased_until    text,
    delivered_at    text,
    failed          boolean not null default false,
    last_error      text
);
create index webhook_outbox_due on webhook_outbox (tenant_id, next_attempt_at)
    where delivered_at is null and not failed;
create index webhook_outbox_by_tenant on webhook_outbox (tenant_id, created_at, event_id);

-- The seller's webhook-signing keys (RFC 9421, Ed25519), made on first start; the public half
-- is published at /.well-known/jwks.json.
create table signing_keys (
    kid         text primary key,
    private_key text not null,
    created_at  text not null
);
