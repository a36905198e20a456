-- Reconciliation (core::reconcile): what the ad server said of each booked buy last, and when
-- to ask it again.
alter table bookings add column platform_status text;
alter table bookings add column platform_due_at text;
create index bookings_reconcile on bookings (tenant_id, platform_due_at);
