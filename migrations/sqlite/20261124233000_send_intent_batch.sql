-- Send intents are written a batch at a time (the records of a page about to be sent), as one
-- row holding the batch's records, instead of one row per record written and deleted again.
-- An intent is answered when its run has an activity row for its `seq` from the same claim;
-- a batch is deleted once all of its intents are answered.
create table send_intent_batch (
    tenant_id text not null default 'default',
    flow_id text not null,
    target text not null,
    run_id integer not null,
    attempt integer not null,
    first_seq integer not null,
    -- JSON array of [seq, business key, payload hash].
    intents text not null,
    created_at text not null,
    primary key (tenant_id, flow_id, target, run_id, attempt, first_seq)
);
-- Intents left open before this change keep their key and hash; their `seq` is unknown (-1,
-- which no activity row has), so the next run asks the target about them as before.
insert into send_intent_batch (tenant_id, flow_id, target, run_id, attempt, first_seq, intents, created_at)
    select tenant_id, flow_id, target, run_id, attempt, -rowid,
           json_array(json_array(-1, business_key, payload_hash)), created_at
    from send_intent;
drop table send_intent;
