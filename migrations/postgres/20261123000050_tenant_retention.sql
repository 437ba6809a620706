-- Days a tenant's record payloads are kept; null means the installation's default
-- (`--retention-days`, 14).
alter table tenant add column retention_days bigint;
