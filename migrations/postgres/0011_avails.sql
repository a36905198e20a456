-- Seed-era get_avails quotes (core::avails): a product's forecast availability and price for a
-- flight and targeting, bought by a seed-form create_media_buy (the package keeps the quote's id).
create table avails (
    quote_id          text primary key,
    tenant_id         text not null,
    principal_id      text not null,
    product_id        text not null,
    pricing_option_id text not null,
    name              text not null,
    start_time        timestamptz not null,
    end_time          timestamptz not null,
    impressions       bigint not null,
    cpm               double precision not null,
    total_cost        double precision not null,
    availability      double precision not null,
    targeting         text,
    created_at        timestamptz not null,
    expires_at        timestamptz not null
);
create index avails_expiry on avails (tenant_id, expires_at);
