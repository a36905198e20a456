-- Proposals (core::proposals): media plans offered with a brief's products, refined and
-- finalized through get_products and bought once through create_media_buy. One row per
-- proposal of a buyer: filter columns plus the proposal as a JSON document.
create table proposals (
    tenant_id     text not null,
    principal_id  text not null,
    proposal_id   text not null,
    status        text not null,
    expires_at    text not null,
    media_buy_id  text,
    updated_at    text not null,
    document      text not null,
    primary key (tenant_id, principal_id, proposal_id)
);
