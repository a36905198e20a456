-- Delivery read back from real ad servers (core::reconcile pulls one report per booked order;
-- get_media_buy_delivery and the budget check read it): per package and reporting day, the day
-- beginning at day_start in the platform's reporting time zone. A pull replaces the days from
-- the first one its report covers; the booking remembers when (delivery_as_of).
create table platform_delivery (
    tenant_id       text not null,
    media_buy_id    text not null references media_buys (media_buy_id),
    package_id      text not null,
    day_start       timestamptz not null,
    impressions     double precision not null,
    spend           double precision not null,
    clicks          double precision not null,
    completed_views double precision not null,
    primary key (media_buy_id, package_id, day_start)
);
alter table bookings add column delivery_as_of timestamptz;
