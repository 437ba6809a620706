-- Records parked after a retryable failure (a long Retry-After, or attempts used up): the error
-- queue keeps when a retry run picks them up again, and how many times they were parked.
alter table failed_record add column retry_at text;
alter table failed_record add column parked_count integer not null default 0;
create index failed_record_retry_idx on failed_record (retry_at);
