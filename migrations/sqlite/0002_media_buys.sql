-- Media buys. Packages live in the buy's `document` (JSON) so that a buy and its packages change
-- together under one optimistic-concurrency `revision`; the columns are what listings filter on.
create table media_buys (
    media_buy_id  text primary key,
    tenant_id     text not null references tenants (tenant_id),
    principal_id  text not null references principals (principal_id),
    account_id    text not null references accounts (account_id),
    status        text not null,
    revision      bigint not null,
    start_time    text not null,
    end_time      text not null,
    created_at    text not null,
    updated_at    text not null,
    document      text not null
);
create index media_buys_account on media_buys (tenant_id, account_id, media_buy_id);
create index media_buys_status on media_buys (tenant_id, status, media_buy_id);

-- One row per change, written in the same transaction as the change.
create table media_buy_history (
    media_buy_id text not null references media_buys (media_buy_id),
    revision     bigint not null,
    -- Order of the entry within its revision (one update can record several changes).
    seq          bigint not null,
    changed_at   text not null,
    actor        text not null,
    action       text not null,
    summary      text not null,
    package_id   text,
    primary key (media_buy_id, revision, seq)
);
