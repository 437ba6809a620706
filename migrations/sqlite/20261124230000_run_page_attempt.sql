-- Pages are keyed by the claim that read them too: a fenced-off execution whose late outcomes
-- land after the run's next owner started may have read a page from the same first `seq` as
-- the owner, and each execution's rows must keep pointing into its own page's texts.
-- (SQLite cannot change a primary key in place: the table is rebuilt.)
create table run_page_by_claim (
    run_id integer not null references run (id) on delete cascade,
    attempt integer not null default 0,
    first_seq integer not null,
    body blob not null,
    outputs blob,
    created_at text not null,
    primary key (run_id, attempt, first_seq)
);
insert into run_page_by_claim (run_id, attempt, first_seq, body, outputs, created_at)
    select run_id, 0, first_seq, body, outputs, created_at from run_page;
drop table run_page;
alter table run_page_by_claim rename to run_page;
-- The claim whose page `input_page` names; null (rows written before) means 0.
alter table run_record add column page_attempt integer;
