-- A page's records as read, stored once for the page (JSON array text, LZ4) instead of once per
-- record: 250 similar records compress about three times better together than one by one, and
-- are one row instead of 250. An activity row points into its page's text by byte range;
-- rows logged without a page (recovered sends, rows written before this table) keep `input`.
create table run_page (
    run_id bigint not null references run (id) on delete cascade,
    first_seq bigint not null,
    body bytea not null,
    created_at text not null,
    primary key (run_id, first_seq)
);
alter table run_record add column input_page bigint;
alter table run_record add column input_start bigint;
alter table run_record add column input_len bigint;
