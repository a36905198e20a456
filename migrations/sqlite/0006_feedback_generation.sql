-- Bumped with every batch of performance feedback a tenant receives, so that servers can keep
-- the per-product feedback records that ranking reads, and know when to read them again.
alter table tenants add column feedback_generation bigint not null default 0;
