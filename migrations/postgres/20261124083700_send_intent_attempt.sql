-- Which claim of its run wrote a send intent: two executions of one run (a stalled worker's and
-- the next owner's) share the run id, and an answer must clear only its own execution's intent.
-- Runs in the foreground and intents written before this column existed have 0.
alter table send_intent add column attempt bigint not null default 0;
