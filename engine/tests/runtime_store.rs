//! The runtime's store on both databases: run claims and leases, schedule claims, webhook
//! delivery ids, send intents, the error queue and payload pruning. Same body, SQLite file and
//! real Postgres (`FERRY_TEST_POSTGRES_URL`), each Postgres test in its own schema.

use std::sync::Arc;

use ferry_engine::store::{
    Claim, FlowRecord, LedgerUpdate, NewRun, Outcome, PageSlice, PruneScope, RecordEntry,
    RecordFilter, RunCounts, RunPage, RunRow, RunStatus, SendIntent, ServiceStore, StoreError,
    TextRange, compress_page,
};
#[path = "support/pg_schema.rs"]
mod pg_schema;
#[path = "support/both_databases.rs"]
#[macro_use]
mod both_databases;

const T0: &str = "2026-11-23T10:00:00.000Z";
const T1: &str = "2026-11-23T10:00:10.000Z";
const T2: &str = "2026-11-23T10:00:20.000Z";

fn new_run() -> NewRun {
    NewRun {
        flow_id: "orders".into(),
        flow_version: "v1".into(),
        trigger: "webhook".into(),
    }
}

fn entry(run_id: i64, seq: i64, key: &str, outcome: Outcome) -> RecordEntry {
    RecordEntry {
        run_id,
        seq,
        flow_id: "orders".into(),
        source_key: Some(key.into()),
        outcome,
        step_id: None,
        input: Some(format!("{{\"id\":\"{key}\"}}")),
        in_page: None,
        output: Some("{}".into()),
        response_status: Some(if outcome == Outcome::Failed { 422 } else { 201 }),
        response_body: Some("{}".into()),
        target_id: (outcome != Outcome::Failed).then(|| format!("T-{key}")),
        error: (outcome == Outcome::Failed).then(|| "rejected: HTTP 422".into()),
        attempts: 1,
        retry_at: None,
    }
}

fn ledger(key: &str, run_id: i64) -> LedgerUpdate {
    LedgerUpdate {
        flow_id: "orders".into(),
        target: "erp/write".into(),
        business_key: key.into(),
        target_id: Some(format!("T-{key}")),
        payload_hash: "h".into(),
        outcome: Outcome::Created,
        run_id,
    }
}

/// `entry`, logged by claim `attempt` of its run (a page it read).
fn in_claim(attempt: i64, entry: RecordEntry) -> RecordEntry {
    let nowhere = TextRange { start: 0, len: 0 };
    RecordEntry {
        in_page: Some(PageSlice {
            page: 0,
            attempt,
            input: nowhere,
            output: None,
        }),
        ..entry
    }
}

fn intents(list: &[(i64, &str, &str)]) -> Vec<(i64, String, String)> {
    list.iter()
        .map(|&(seq, key, hash)| (seq, key.to_string(), hash.to_string()))
        .collect()
}

fn open_keys(open: &[SendIntent]) -> Vec<(&str, i64, i64, &str)> {
    open.iter()
        .map(|i| {
            (
                i.business_key.as_str(),
                i.attempt,
                i.seq,
                i.payload_hash.as_str(),
            )
        })
        .collect()
}

both_databases! {
    dyn ServiceStore;
    a_run_is_claimed_by_one_worker_until_its_lease_expires => |store: Arc<dyn ServiceStore>| async move {
        let id = store.create_queued_run(&new_run(), &["{\"id\":1}".into(), "{\"id\":2}".into()]).await.unwrap();
        assert_eq!(store.get_run(id).await.unwrap().unwrap().status, RunStatus::Queued);
        assert_eq!(store.run_inputs(id).await.unwrap(), vec!["{\"id\":1}", "{\"id\":2}"]);
        let run = store.claim_run(id, "a", T1, T0).await.unwrap().expect("a claims");
        assert_eq!(run.status, RunStatus::Running);
        assert!(store.claim_run(id, "b", T1, T0).await.unwrap().is_none(), "b cannot while a holds it");
        assert!(!store.renew_lease(id, "b", T2).await.unwrap());
        assert!(store.renew_lease(id, "a", T1).await.unwrap());
        // a stops renewing: at T2 its lease is over, the reaper re-queues, b claims.
        assert_eq!(store.requeue_expired(T2).await.unwrap(), vec![id]);
        assert!(store.claim_run(id, "b", "2026-11-23T10:00:40.000Z", T2).await.unwrap().is_some());
        assert!(!store.release_run(id, "a").await.unwrap(), "a no longer holds it");
        assert!(store.release_run(id, "b").await.unwrap());
        assert_eq!(store.get_run(id).await.unwrap().unwrap().status, RunStatus::Queued);
        // A finished run is never claimed again (a job delivered twice).
        store.claim_run(id, "b", T2, T1).await.unwrap().unwrap();
        store.finish_run(id, RunStatus::Succeeded, &RunCounts::default(), None).await.unwrap();
        assert!(store.claim_run(id, "c", T2, T1).await.unwrap().is_none());
        assert!(store.requeue_expired("2030-01-01T00:00:00.000Z").await.unwrap().is_empty());
    };

    only_the_claim_holding_the_lease_closes_a_run => |store: Arc<dyn ServiceStore>| async move {
        let id = store.create_queued_run(&new_run(), &[]).await.unwrap();
        let counts = RunCounts { read: 3, created: 3, ..RunCounts::default() };
        let claim = |owner: &str, run: RunRow| Claim { owner: owner.into(), attempt: run.attempt };
        let first = claim("a", store.claim_run(id, "a", T1, T0).await.unwrap().unwrap());
        // a stalls past its lease: the reaper re-queues the run, and a itself claims it again.
        assert_eq!(store.requeue_expired(T2).await.unwrap(), vec![id]);
        assert!(!store.finish_claimed_run(id, &first, RunStatus::Succeeded, &counts, None).await.unwrap(), "re-queued: nobody's");
        let second = claim("a", store.claim_run(id, "a", "2026-11-23T10:00:40.000Z", T2).await.unwrap().unwrap());
        assert_ne!(first, second, "a's second claim is told apart from its first");
        assert!(!store.finish_claimed_run(id, &first, RunStatus::Succeeded, &counts, None).await.unwrap());
        assert_eq!(store.requeue_expired("2026-11-23T10:00:50.000Z").await.unwrap(), vec![id]);
        let third = claim("b", store.claim_run(id, "b", "2026-11-23T10:01:40.000Z", "2026-11-23T10:00:50.000Z").await.unwrap().unwrap());
        assert!(!store.finish_claimed_run(id, &second, RunStatus::Error, &counts, Some("late")).await.unwrap(), "b's now");
        let run = store.get_run(id).await.unwrap().unwrap();
        assert_eq!((run.status, run.error), (RunStatus::Running, None), "untouched by a");
        assert!(store.finish_claimed_run(id, &third, RunStatus::Succeeded, &counts, None).await.unwrap());
        let run = store.get_run(id).await.unwrap().unwrap();
        assert_eq!((run.status, &run.counts), (RunStatus::Succeeded, &counts));
        assert!(!store.finish_claimed_run(id, &third, RunStatus::Error, &counts, Some("twice")).await.unwrap(), "closed once");
    };

    a_schedule_firing_is_claimed_once => |store: Arc<dyn ServiceStore>| async move {
        store.upsert_flow(&FlowRecord {
            id: "orders".into(), name: "Orders".into(), definition: "{}".into(), version: "v1".into(),
            base_dir: String::new(), enabled: true, webhook_token: "t".into(), tenant: "default".into(),
        }).await.unwrap();
        store.set_schedule("orders", "{\"type\":\"schedule\",\"interval\":\"5m\"}", T0).await.unwrap();
        let due = store.due_schedules(T1).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(store.due_schedules("2026-11-23T09:59:00.000Z").await.unwrap().is_empty());
        assert!(store.claim_schedule("orders", T0, T2, T1).await.unwrap());
        assert!(!store.claim_schedule("orders", T0, T2, T1).await.unwrap(), "the second node loses");
        // Re-importing the same spec keeps the next fire time.
        store.set_schedule("orders", "{\"type\":\"schedule\",\"interval\":\"5m\"}", T0).await.unwrap();
        assert_eq!(store.list_schedules().await.unwrap()[0].next_run_at, T2);
    };

    webhook_delivery_ids_are_seen_once_per_flow => |store: Arc<dyn ServiceStore>| async move {
        assert!(store.record_webhook_delivery("orders", "d-1").await.unwrap());
        assert!(!store.record_webhook_delivery("orders", "d-1").await.unwrap());
        assert!(store.record_webhook_delivery("stock", "d-1").await.unwrap());
    };

    answered_sends_clear_intents_and_a_later_success_resolves_the_error_queue => |store: Arc<dyn ServiceStore>| async move {
        let run = store.create_run(&new_run()).await.unwrap();
        store.record_intents("orders", "erp/write", run, 0, &intents(&[(0, "k1", "h"), (1, "k2", "h"), (2, "k3", "h")]), &[]).await.unwrap();
        assert_eq!(store.pending_intents("orders", "erp/write").await.unwrap().len(), 3);
        store.record_outcomes(
            &[entry(run, 0, "k1", Outcome::Created), entry(run, 1, "k2", Outcome::Failed)],
            &[ledger("k1", run), LedgerUpdate { outcome: Outcome::Failed, target_id: None, ..ledger("k2", run) }],
        ).await.unwrap();
        let open = store.pending_intents("orders", "erp/write").await.unwrap();
        assert_eq!(open_keys(&open), [("k3", 0, 2, "h")], "k3 was sent but never answered; k2 was refused");
        let failed = store.failed_records("orders", 10).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].business_key.as_str(), failed[0].error.as_deref()), ("k2", Some("rejected: HTTP 422")));
        assert_eq!(store.failed_inputs("orders", None).await.unwrap(), vec![("k2".to_string(), "{\"id\":\"k2\"}".to_string())]);
        assert!(store.failed_inputs("orders", Some(&["k9".to_string()])).await.unwrap().is_empty());
        // A replay run succeeds for k2: the error queue is empty.
        let replay = store.create_run(&new_run()).await.unwrap();
        store.record_outcomes(&[entry(replay, 0, "k2", Outcome::Created)], &[ledger("k2", replay)]).await.unwrap();
        assert!(store.failed_records("orders", 10).await.unwrap().is_empty());
        let k3 = SendIntent { business_key: "k3".into(), payload_hash: "h".into(), run_id: run, attempt: 0, seq: 2 };
        store.clear_intents("orders", "erp/write", &[k3]).await.unwrap();
        assert!(store.pending_intents("orders", "erp/write").await.unwrap().is_empty());
        // The log writer deletes a batch once all of its records are answered, with the next
        // batch it writes or on its own.
        store.record_intents("orders", "erp/write", replay, 0, &intents(&[(5, "k5", "h"), (6, "k6", "h")]), &[]).await.unwrap();
        store.record_intents("orders", "erp/write", replay, 0, &intents(&[(7, "k7", "h")]), &[5]).await.unwrap();
        assert_eq!(open_keys(&store.pending_intents("orders", "erp/write").await.unwrap()), [("k7", 0, 7, "h")]);
        store.record_intents("orders", "erp/write", replay, 0, &[], &[7]).await.unwrap();
        assert!(store.pending_intents("orders", "erp/write").await.unwrap().is_empty());
    };

    an_answer_counts_only_for_the_intent_of_its_own_claim_and_record => |store: Arc<dyn ServiceStore>| async move {
        let other = store.create_run(&new_run()).await.unwrap();
        let run = store.create_run(&new_run()).await.unwrap();
        let sent = |claim, seq, key: &str, run_id| (in_claim(claim, entry(run_id, seq, key, Outcome::Created)), ledger(key, run_id));
        // Claim 2 of `run` (the next owner) sends k1, k2 and k3 as records 10-12, and k4 as
        // record 13 with another payload than the one it sent as record 3.
        store.record_intents("orders", "erp/write", run, 2, &intents(&[(10, "k1", "h"), (11, "k2", "h"), (12, "k3", "h"), (13, "k4", "h4")]), &[]).await.unwrap();
        // Answers land afterwards: claim 1's (a stalled worker's, whose records share numbers
        // with the next owner's) for k1 and k2, another run's for k3, and claim 2's own for record 3.
        let (entries, updates): (Vec<_>, Vec<_>) = [sent(1, 10, "k1", run), sent(1, 11, "k2", run), sent(2, 12, "k3", other), sent(2, 3, "k4", run)].into_iter().unzip();
        store.record_outcomes(&entries, &updates).await.unwrap();
        let open = store.pending_intents("orders", "erp/write").await.unwrap();
        let keys = |open: &[SendIntent]| open.iter().map(|i| i.business_key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&open), vec!["k1", "k2", "k3", "k4"], "claim 2 has not been answered yet");
        // Claim 2's own answers count.
        let (entries, updates): (Vec<_>, Vec<_>) = [sent(2, 10, "k1", run), sent(2, 11, "k2", run), sent(2, 12, "k3", run)].into_iter().unzip();
        store.record_outcomes(&entries, &updates).await.unwrap();
        let open = store.pending_intents("orders", "erp/write").await.unwrap();
        assert_eq!(open_keys(&open), [("k4", 2, 13, "h4")]);
        // Clearing names the intent exactly: another run's, claim's, record's or payload's stays.
        let k4 = open[0].clone();
        assert_eq!(k4.run_id, run);
        let others = [
            SendIntent { run_id: other, ..k4.clone() },
            SendIntent { attempt: 1, ..k4.clone() },
            SendIntent { seq: 3, ..k4.clone() },
            SendIntent { payload_hash: "h".into(), ..k4.clone() },
        ];
        store.clear_intents("orders", "erp/write", &others).await.unwrap();
        assert_eq!(store.pending_intents("orders", "erp/write").await.unwrap(), vec![k4.clone()]);
        // Pruning the rows' payloads keeps what they answer: claim 2's answers still count.
        store.record_intents("orders", "erp/write", run, 2, &intents(&[(20, "k5", "h")]), &[]).await.unwrap();
        let (entry, update) = sent(2, 20, "k5", run);
        store.record_outcomes(&[entry], &[update]).await.unwrap();
        store.prune_payloads("2100-01-01T00:00:00.000Z", &PruneScope::DefaultRetention).await.unwrap();
        assert_eq!(store.pending_intents("orders", "erp/write").await.unwrap(), vec![k4.clone()]);
        store.clear_intents("orders", "erp/write", &[k4]).await.unwrap();
        assert!(store.pending_intents("orders", "erp/write").await.unwrap().is_empty());
    };

    a_late_intent_of_an_earlier_claim_does_not_replace_the_next_owners => |store: Arc<dyn ServiceStore>| async move {
        let run = store.create_run(&new_run()).await.unwrap();
        let later = store.create_run(&new_run()).await.unwrap();
        let k1 = |hash: &str| intents(&[(0, "k1", hash)]);
        store.record_intents("orders", "erp/write", run, 2, &k1("next-owner"), &[]).await.unwrap();
        // The stalled worker (claim 1 of the same run) writes its intent after thawing: ignored.
        store.record_intents("orders", "erp/write", run, 1, &k1("stale"), &[]).await.unwrap();
        let open = store.pending_intents("orders", "erp/write").await.unwrap();
        assert_eq!(open_keys(&open), [("k1", 2, 0, "next-owner")]);
        // A later run's intent for the key replaces it, whatever its claim number.
        store.record_intents("orders", "erp/write", later, 1, &k1("later-run"), &[]).await.unwrap();
        let open = store.pending_intents("orders", "erp/write").await.unwrap();
        assert_eq!((open.len(), open[0].run_id, open[0].payload_hash.as_str()), (1, later, "later-run"));
        // Once that one is cleared, the ones it replaced do not come back.
        store.clear_intents("orders", "erp/write", &open).await.unwrap();
        assert!(store.pending_intents("orders", "erp/write").await.unwrap().is_empty());
    };

    parked_records_are_handed_out_once_when_due_and_only_a_few_times => |store: Arc<dyn ServiceStore>| async move {
        let parked = |run, at: &str| RecordEntry { retry_at: Some(at.to_string()), ..entry(run, 0, "k1", Outcome::Failed) };
        let run = store.create_run(&new_run()).await.unwrap();
        store.record_outcomes(&[parked(run, T1)], &[]).await.unwrap();
        let listed = store.failed_records("orders", 10).await.unwrap();
        assert_eq!((listed[0].retry_at.as_deref(), listed[0].parked_count), (Some(T1), 1));
        assert!(store.take_due_retries(T0).await.unwrap().is_empty(), "not yet");
        assert_eq!(store.take_due_retries(T2).await.unwrap(), vec![("orders".to_string(), "k1".to_string())]);
        assert!(store.take_due_retries(T2).await.unwrap().is_empty(), "handed out once");
        // Parked again and again: after 5 times it waits for a person.
        for n in 0..5 {
            let run = store.create_run(&new_run()).await.unwrap();
            store.record_outcomes(&[parked(run, T1)], &[]).await.unwrap();
            let f = &store.failed_records("orders", 10).await.unwrap()[0];
            assert_eq!(f.retry_at.is_some(), n < 4, "park {}", n + 2);
        }
        // A plain failure resets the count.
        let run = store.create_run(&new_run()).await.unwrap();
        store.record_outcomes(&[entry(run, 0, "k1", Outcome::Failed)], &[]).await.unwrap();
        assert_eq!(store.failed_records("orders", 10).await.unwrap()[0].parked_count, 0);
    };

    pruning_clears_old_payloads_and_keeps_runs => |store: Arc<dyn ServiceStore>| async move {
        let run = store.create_queued_run(&new_run(), &["{\"id\":1}".into()]).await.unwrap();
        store.record_outcomes(&[entry(run, 0, "k1", Outcome::Created)], &[ledger("k1", run)]).await.unwrap();
        let nothing = store.prune_payloads("2000-01-01T00:00:00.000Z", &PruneScope::DefaultRetention).await.unwrap();
        assert_eq!((nothing.records, nothing.inputs), (0, 0));
        let pruned = store.prune_payloads("2100-01-01T00:00:00.000Z", &PruneScope::DefaultRetention).await.unwrap();
        assert_eq!((pruned.records, pruned.inputs), (1, 1));
        let records = store.run_records(run, &Default::default()).await.unwrap();
        assert_eq!(records.len(), 1, "the outcome stays");
        assert_eq!((records[0].outcome, records[0].input.as_deref()), (Outcome::Created, None));
        assert!(store.get_run(run).await.unwrap().is_some());
        assert!(store.run_inputs(run).await.unwrap().is_empty());
    };

    texts_kept_in_their_page_read_back_per_record_replay_and_prune => |store: Arc<dyn ServiceStore>| async move {
        let run = store.create_run(&new_run()).await.unwrap();
        // Two records of one page, the second with non-ASCII text; rows point into the page's
        // input text and, for the record that has an output, into its outputs.
        let text = r#"[{"id":"k1"},{"id":"k2","name":"Chloé"}]"#;
        let outputs = r#"[{"name":"Chloé","sku":"A"}]"#;
        let range = |whole: &str, part: &str| TextRange { start: whole.find(part).unwrap() as i64, len: part.len() as i64 };
        let at = |input: &str, output: Option<&str>| {
            Some(PageSlice { page: 0, attempt: 0, input: range(text, input), output: output.map(|o| range(outputs, o)) })
        };
        let in_page = |seq, key, outcome, slice| RecordEntry { input: None, output: None, in_page: slice, ..entry(run, seq, key, outcome) };
        let page = RunPage {
            run_id: run,
            attempt: 0,
            first_seq: 0,
            body: compress_page(text.as_bytes()),
            outputs: Some(compress_page(outputs.as_bytes())),
        };
        store.record_page_outcomes(
            std::slice::from_ref(&page),
            &[
                in_page(0, "k1", Outcome::Created, at(r#"{"id":"k1"}"#, Some(r#"{"name":"Chloé","sku":"A"}"#))),
                in_page(1, "k2", Outcome::Failed, at(r#"{"id":"k2","name":"Chloé"}"#, None)),
            ],
            &[ledger("k1", run)],
        ).await.unwrap();
        let texts: Vec<(Option<String>, Option<String>)> =
            store.run_records(run, &Default::default()).await.unwrap().into_iter().map(|r| (r.input, r.output)).collect();
        assert_eq!(texts, vec![
            (Some(r#"{"id":"k1"}"#.to_string()), Some(r#"{"name":"Chloé","sku":"A"}"#.to_string())),
            (Some(r#"{"id":"k2","name":"Chloé"}"#.to_string()), None),
        ]);
        assert_eq!(store.failed_inputs("orders", None).await.unwrap(), vec![("k2".to_string(), r#"{"id":"k2","name":"Chloé"}"#.to_string())]);
        // The same claim writing its page again replaces it.
        store.record_page_outcomes(&[page], &[], &[]).await.unwrap();
        // Another claim of the run (a fenced-off execution's late outcomes, or the next owner)
        // reading a page from the same seq keeps its own: each claim's rows read its texts.
        let other_text = r#"[{"id":"k1","again":true}]"#;
        let other = RunPage { run_id: run, attempt: 1, first_seq: 0, body: compress_page(other_text.as_bytes()), outputs: None };
        let in_other = PageSlice { page: 0, attempt: 1, input: range(other_text, r#"{"id":"k1","again":true}"#), output: None };
        store.record_page_outcomes(&[other], &[in_page(3, "k1", Outcome::Created, Some(in_other))], &[]).await.unwrap();
        let inputs: Vec<Option<String>> = store.run_records(run, &Default::default()).await.unwrap().into_iter().map(|r| r.input).collect();
        assert_eq!(inputs, vec![
            Some(r#"{"id":"k1"}"#.to_string()),
            Some(r#"{"id":"k2","name":"Chloé"}"#.to_string()),
            Some(r#"{"id":"k1","again":true}"#.to_string()),
        ]);
        // A row pointing outside its page is reported, naming the run and which text.
        let outside = |start| TextRange { start, len: 40 };
        let bad_output = PageSlice { page: 0, attempt: 0, input: range(text, r#"{"id":"k1"}"#), output: Some(outside(30)) };
        store.record_page_outcomes(&[], &[in_page(2, "k3", Outcome::Created, Some(bad_output))], &[]).await.unwrap();
        match store.run_records(run, &Default::default()).await {
            Err(StoreError::Corrupt(message)) => assert!(message.contains(&format!("run {run}: output at 30+40")), "{message}"),
            other => panic!("expected a corrupt-row error, got {other:?}"),
        }
        // A list without payloads reads no page: the row pointing outside it lists too.
        let listed = store.run_records(run, &RecordFilter { payloads: false, ..Default::default() }).await.unwrap();
        assert_eq!(
            listed.iter().map(|r| (r.seq, r.input.is_none() && r.output.is_none())).collect::<Vec<_>>(),
            vec![(0, true), (1, true), (2, true), (3, true)]
        );
        // One record by its number reads its page.
        let one = store.run_records(run, &RecordFilter { seq: Some(0), ..Default::default() }).await.unwrap();
        assert_eq!(
            one.iter().map(|r| (r.input.as_deref(), r.output.as_deref())).collect::<Vec<_>>(),
            vec![(Some(r#"{"id":"k1"}"#), Some(r#"{"name":"Chloé","sku":"A"}"#))]
        );
        // Pruning takes the page with it: the rows stay, without texts, and nothing is replayable.
        let pruned = store.prune_payloads("2100-01-01T00:00:00.000Z", &PruneScope::DefaultRetention).await.unwrap();
        assert_eq!(pruned.records, 4);
        let records = store.run_records(run, &Default::default()).await.unwrap();
        assert!(records.iter().all(|r| r.input.is_none() && r.output.is_none()), "{records:?}");
        assert!(store.failed_inputs("orders", None).await.unwrap().is_empty());
    };

    a_tenant_with_its_own_retention_is_pruned_by_it_alone => |store: Arc<dyn ServiceStore>| async move {
        store.create_tenant("acme", "Acme").await.unwrap().unwrap();
        store.upsert_flow(&FlowRecord {
            id: "acme-orders".into(), name: "Orders".into(), definition: "{}".into(), version: "v1".into(),
            base_dir: String::new(), enabled: true, webhook_token: "t".into(), tenant: "acme".into(),
        }).await.unwrap();
        let acme_run = NewRun { flow_id: "acme-orders".into(), ..new_run() };
        let acme = store.create_queued_run(&acme_run, &["{\"id\":1}".into()]).await.unwrap();
        let default = store.create_queued_run(&new_run(), &["{\"id\":2}".into()]).await.unwrap();
        assert!(!store.set_tenant_retention("nobody", Some(3)).await.unwrap());
        assert!(store.set_tenant_retention("acme", Some(90)).await.unwrap());
        assert_eq!(store.tenant_retentions().await.unwrap(), vec![("acme".to_string(), 90)]);

        // The default prune leaves acme's run alone; acme's prune touches only acme.
        let later = "2100-01-01T00:00:00.000Z";
        assert_eq!(store.prune_payloads(later, &PruneScope::DefaultRetention).await.unwrap().inputs, 1);
        assert!(store.run_inputs(default).await.unwrap().is_empty());
        assert_eq!(store.run_inputs(acme).await.unwrap().len(), 1);
        assert_eq!(store.prune_payloads(later, &PruneScope::Tenant("acme".into())).await.unwrap().inputs, 1);
        assert!(store.run_inputs(acme).await.unwrap().is_empty());

        // Back to the default: the default prune covers acme again.
        store.set_tenant_retention("acme", None).await.unwrap();
        assert!(store.tenant_retentions().await.unwrap().is_empty());
    };

    cursors_are_kept_per_flow => |store: Arc<dyn ServiceStore>| async move {
        assert_eq!(store.load_cursor("orders").await.unwrap(), None);
        store.save_cursor("orders", "\"2026-11-01T00:00:00Z\"").await.unwrap();
        store.save_cursor("orders", "\"2026-11-02T00:00:00Z\"").await.unwrap();
        assert_eq!(store.load_cursor("orders").await.unwrap().as_deref(), Some("\"2026-11-02T00:00:00Z\""));
        store.delete_cursor("orders").await.unwrap();
        assert_eq!(store.load_cursor("orders").await.unwrap(), None);
    };
}
