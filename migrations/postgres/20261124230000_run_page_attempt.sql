-- Pages are keyed by the claim that read them too: a fenced-off execution whose late outcomes
-- land after the run's next owner started may have read a page from the same first `seq` as
-- the owner, and each execution's rows must keep pointing into its own page's texts.
alter table run_page add column attempt bigint not null default 0;
alter table run_page drop constraint run_page_pkey;
alter table run_page add primary key (run_id, attempt, first_seq);
-- The claim whose page `input_page` names; null (rows written before) means 0.
alter table run_record add column page_attempt bigint;
