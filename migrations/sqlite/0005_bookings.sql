-- The booking outbox (core::booking): beside each media buy, the revision the ad server should
-- reflect (raised by every buy write, in the same transaction), the revision it reflects, and
-- what it has applied (order and line ids with the fingerprint of each line's applied spec).
create table bookings (
    media_buy_id    text primary key references media_buys (media_buy_id),
    tenant_id       text not null,
    wanted_revision bigint not null,
    synced_revision bigint not null default 0,
    attempts        bigint not null default 0,
    next_attempt_at text not null,
    leased_until    text,
    last_error      text,
    failed          boolean not null default false,
    document        text not null default '{}'
);
create index bookings_due on bookings (tenant_id, next_attempt_at) where synced_revision < wanted_revision;

-- Buys stored before bookings existed are booked from scratch.
insert into bookings (media_buy_id, tenant_id, wanted_revision, next_attempt_at)
select media_buy_id, tenant_id, revision, updated_at from media_buys;
