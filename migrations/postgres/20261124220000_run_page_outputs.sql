-- What a page's records mapped to, stored with the page like its input (a JSON array of the
-- outputs, LZ4) instead of in each row: a row was mostly its compressed output, and the
-- outputs of a page compress several times better together. A row whose output sits there
-- has `output` null and its range in the page's `outputs` (the page of `input_page`).
alter table run_page add column outputs bytea;
alter table run_record add column output_start bigint;
alter table run_record add column output_len bigint;
