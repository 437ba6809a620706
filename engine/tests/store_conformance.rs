//! The store conformance suite: the same tests on a SQLite file and on a real Postgres.
//!
//! Postgres: `FERRY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`). Each
//! test gets its own schema, dropped at the end, so tests run in parallel.

use std::sync::Arc;

use ferry_engine::store::{
    LedgerUpdate, NewRun, Outcome, PgStore, RecordEntry, RecordFilter, RunCounts, RunStatus,
    SqliteStore, Store,
};
#[path = "support/pg_schema.rs"]
mod pg_schema;

use pg_schema::PgSchema;

async fn pg_store() -> (Arc<dyn Store>, PgSchema) {
    let schema = PgSchema::create().await;
    (
        Arc::new(PgStore::connect(&schema.url).await.unwrap()),
        schema,
    )
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.path().join("ferry.db"))
            .await
            .unwrap(),
    )
}

/// Runs one async test body against both databases.
macro_rules! conformance {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() { let dir = tempfile::tempdir().unwrap(); let store = sqlite_store(&dir).await; ($body)(store).await; })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test] async fn $name() { let (store, _schema) = pg_store().await; ($body)(store).await; })*
        }
    };
}

fn new_run(flow: &str) -> NewRun {
    NewRun {
        flow_id: flow.into(),
        flow_version: "v1".into(),
        trigger: "manual".into(),
    }
}

fn record(run_id: i64, seq: i64, key: &str, outcome: Outcome) -> RecordEntry {
    RecordEntry {
        run_id,
        seq,
        flow_id: "orders".into(),
        source_key: Some(key.into()),
        outcome,
        step_id: (outcome == Outcome::Filtered).then(|| "paid_only".into()),
        input: Some(format!("{{\"id\":\"{key}\",\"name\":\"Chloé\"}}")),
        in_page: None,
        output: Some("{\"n\":1}".into()),
        response_status: Some(201),
        response_body: Some("{\"id\":\"SO-1\"}".into()),
        target_id: Some(format!("T-{key}")),
        error: (outcome == Outcome::Failed).then(|| "rejected: 422".into()),
        attempts: 2,
        retry_at: None,
    }
}

fn update(
    key: &str,
    hash: &str,
    target_id: Option<&str>,
    outcome: Outcome,
    run_id: i64,
) -> LedgerUpdate {
    LedgerUpdate {
        flow_id: "orders".into(),
        target: "erp/write".into(),
        business_key: key.into(),
        target_id: target_id.map(str::to_string),
        payload_hash: hash.into(),
        outcome,
        run_id,
    }
}

conformance! {
    run_lifecycle_counts_and_newest_first => |store: Arc<dyn Store>| async move {
        let a = store.create_run(&new_run("orders")).await.unwrap();
        let b = store.create_run(&new_run("products")).await.unwrap();
        assert!(b > a);
        let running = store.get_run(a).await.unwrap().unwrap();
        assert_eq!(running.status, RunStatus::Running);
        assert!(running.finished_at.is_none());
        assert!(running.started_at.ends_with('Z') && running.started_at.len() == 24, "{}", running.started_at);
        let counts = RunCounts { read: 10, created: 5, updated: 1, skipped: 2, filtered: 1, failed: 1 };
        store.finish_run(a, RunStatus::Failed, &counts, Some("boom")).await.unwrap();
        let done = store.get_run(a).await.unwrap().unwrap();
        assert_eq!((done.status, done.counts, done.error.as_deref()), (RunStatus::Failed, counts, Some("boom")));
        assert!(done.finished_at.is_some());
        let all: Vec<i64> = store.list_runs(None, 10).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(all, vec![b, a]);
        let orders: Vec<i64> = store.list_runs(Some("orders"), 10).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(orders, vec![a]);
        assert_eq!(store.list_runs(None, 1).await.unwrap().len(), 1);
        assert!(store.get_run(9_999).await.unwrap().is_none());
    };

    activity_rows_round_trip_and_filter => |store: Arc<dyn Store>| async move {
        let run = store.create_run(&new_run("orders")).await.unwrap();
        let rows: Vec<RecordEntry> = (0..1_200)
            .map(|i| record(run, i, &format!("#{i}"), [Outcome::Created, Outcome::Failed, Outcome::Filtered][i as usize % 3]))
            .collect();
        store.record_outcomes(&rows, &[]).await.unwrap();
        let all = store.run_records(run, &RecordFilter { limit: 10_000, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 1_200);
        assert_eq!(all[7], rows[7], "every field round-trips");
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "source order");
        let failed = store.run_records(run, &RecordFilter { outcome: Some(Outcome::Failed), limit: 10_000, ..Default::default() }).await.unwrap();
        assert_eq!(failed.len(), 400);
        assert!(failed.iter().all(|r| r.outcome == Outcome::Failed && r.error.is_some()));
        let one = store.run_records(run, &RecordFilter { source_key: Some("#42".into()), ..Default::default() }).await.unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].seq, 42);
        let page = store.run_records(run, &RecordFilter { limit: 5, offset: 10, ..Default::default() }).await.unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![10, 11, 12, 13, 14]);
        let by_seq = store.run_records(run, &RecordFilter { seq: Some(1_100), ..Default::default() }).await.unwrap();
        assert_eq!(by_seq, vec![rows[1_100].clone()], "one record by its number, payloads and all");
        let bare = store.run_records(run, &RecordFilter { limit: 5, payloads: false, ..Default::default() }).await.unwrap();
        assert_eq!(bare.len(), 5);
        for (got, sent) in bare.iter().zip(&rows) {
            assert!(got.input.is_none() && got.output.is_none(), "a list without payloads");
            assert_eq!((got.seq, &got.source_key, got.outcome, &got.error), (sent.seq, &sent.source_key, sent.outcome, &sent.error));
        }
    };

    ledger_insert_update_and_failed_keeps_success => |store: Arc<dyn Store>| async move {
        let run = store.create_run(&new_run("orders")).await.unwrap();
        let keys = vec!["A".to_string(), "B".to_string(), "C".to_string()];
        assert!(store.ledger_lookup("orders", "erp/write", &keys).await.unwrap().is_empty());
        store.record_outcomes(&[], &[
            update("A", "h1", Some("T-A"), Outcome::Created, run),
            update("B", "h1", None, Outcome::Failed, run),
        ]).await.unwrap();
        let found = store.ledger_lookup("orders", "erp/write", &keys).await.unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found["A"].target_id.as_deref(), found["A"].payload_hash.as_str(), found["A"].last_outcome), (Some("T-A"), "h1", Outcome::Created));
        assert_eq!(found["B"].last_outcome, Outcome::Failed);

        // An update without a new id keeps the old one; a later failure keeps the last good hash.
        store.record_outcomes(&[], &[update("A", "h2", None, Outcome::Updated, run)]).await.unwrap();
        let a = &store.ledger_lookup("orders", "erp/write", &keys).await.unwrap()["A"];
        assert_eq!((a.target_id.as_deref(), a.payload_hash.as_str(), a.last_outcome), (Some("T-A"), "h2", Outcome::Updated));
        store.record_outcomes(&[], &[update("A", "h3", None, Outcome::Failed, run)]).await.unwrap();
        let a = &store.ledger_lookup("orders", "erp/write", &keys).await.unwrap()["A"];
        assert_eq!((a.target_id.as_deref(), a.payload_hash.as_str(), a.last_outcome), (Some("T-A"), "h2", Outcome::Failed));

        // The same key twice in one batch: the last one wins.
        store.record_outcomes(&[], &[update("C", "x", Some("T-C1"), Outcome::Created, run), update("C", "y", Some("T-C2"), Outcome::Updated, run)]).await.unwrap();
        let c = &store.ledger_lookup("orders", "erp/write", &keys).await.unwrap()["C"];
        assert_eq!((c.target_id.as_deref(), c.payload_hash.as_str()), (Some("T-C2"), "y"));

        // Lookups are scoped by flow and by target.
        assert!(store.ledger_lookup("products", "erp/write", &keys).await.unwrap().is_empty());
        assert!(store.ledger_lookup("orders", "erp/other", &keys).await.unwrap().is_empty());
    };

    outcomes_and_ledger_commit_together_in_large_batches => |store: Arc<dyn Store>| async move {
        let run = store.create_run(&new_run("orders")).await.unwrap();
        let rows: Vec<RecordEntry> = (0..1_500).map(|i| record(run, i, &format!("K{i}"), Outcome::Created)).collect();
        let ledger: Vec<LedgerUpdate> = (0..1_500).map(|i| update(&format!("K{i}"), "h", Some("T"), Outcome::Created, run)).collect();
        store.record_outcomes(&rows, &ledger).await.unwrap();
        let keys: Vec<String> = (0..1_500).map(|i| format!("K{i}")).collect();
        assert_eq!(store.ledger_lookup("orders", "erp/write", &keys).await.unwrap().len(), 1_500);
    };
}

#[tokio::test]
async fn sqlite_is_wal_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/ferry.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let run = first.create_run(&new_run("orders")).await.unwrap();
    let mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    drop(first);
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(again.get_run(run).await.unwrap().unwrap().flow_id, "orders");
}

#[tokio::test]
async fn open_understands_urls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let store = ferry_engine::store::open(&url).await.unwrap();
    assert!(store.list_runs(None, 5).await.unwrap().is_empty());
    assert!(
        ferry_engine::store::open("mysql://localhost/x")
            .await
            .is_err()
    );
}
