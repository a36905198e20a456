-- Publisher ops find creatives waiting for review across buyers, and a creative by id.
create index creatives_by_status on creatives (tenant_id, status, created_at);
create index creatives_by_id on creatives (tenant_id, creative_id);
