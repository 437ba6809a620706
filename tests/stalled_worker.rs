//! A worker that is alive but stalled is fenced off: two `ferry worker` processes share a
//! Postgres queue with a short lease; the one running a run is frozen with `SIGSTOP` mid-run
//! until the other has taken the run over, then thawed with `SIGCONT` while the new owner goes
//! on. The stalled worker still holds records it read (and requests it was about to send); it
//! must send none of them once its lease may be another's. The target counts committed effects
//! per business key: every key exactly once, over several stalls.
//!
//! Every wait is on observed state (the mock's answers, the run's row), never a fixed sleep.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const STALLS: usize = 3;
const RECORDS_PER_RUN: usize = 3_000;
const LEASE_SECS: &str = "3";

/// The worker processes; on drop (a failing assertion included) none is left frozen or running.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            signal(child.id(), "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}: {status}");
}

/// The pid in a worker id (`host-pid-random`; the host name may hold dashes itself).
fn pid_of(worker_id: &str) -> u32 {
    let mut parts = worker_id.rsplit('-');
    parts.next();
    parts
        .next()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in worker id `{worker_id}`"))
}

fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Polls `probe` every 50 ms until it returns `Some`, or fails after `limit` with the log.
async fn wait_until<T, F, Fut>(what: &str, limit: Duration, log: &Path, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}; workers' log ends:\n{}",
            log_tail(log, 80)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Not run by default: a request already handed to the HTTP client when the worker froze still
// goes out when it is thawed (docs/runtime.md, "A stalled worker is fenced off"); about one stall
// in ten on a loaded 2-core machine commits one key twice that way, so this fails now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "residual window: a request queued in the HTTP client when the worker froze goes out when thawed"]
async fn a_stalled_worker_is_fenced_off_and_nothing_is_sent_twice() {
    let (mock, mock_url) = support::start(0).await;
    let schema = support::PgSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = support::write_flow(dir.path(), "stall", &mock_url, json!({"type": "manual"}));
    let (code, out) = support::ferry(&schema.url, &["flows", "import", flow.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let log = dir.path().join("workers.log");
    let args = ["worker", "--lease-secs", LEASE_SECS, "--concurrency", "1"];
    let workers = Workers(vec![
        support::spawn_ferry(&schema.url, &args, &log),
        support::spawn_ferry(&schema.url, &args, &log),
    ]);
    let pids: Vec<u32> = workers.0.iter().map(Child::id).collect();
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();

    for stall in 0..STALLS {
        // A run of fresh keys, so the ledger skips nothing and every record is sent.
        let keys: Vec<String> = (0..RECORDS_PER_RUN)
            .map(|i| (stall * 100_000 + i).to_string())
            .collect();
        let records: Vec<Value> = keys
            .iter()
            .map(|id| json!({"id": id.parse::<u64>().unwrap(), "name": format!("#{id}"), "total_price": "1.00"}))
            .collect();
        let input = dir.path().join(format!("stall{stall}.json"));
        std::fs::write(&input, serde_json::to_string(&records).unwrap()).unwrap();
        let answered_before = mock.answered();
        let (code, out) = support::ferry(
            &schema.url,
            &["trigger", "stall", "--input", input.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{out}");
        let run_id: i64 = out
            .split_whitespace()
            .nth(1)
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no run id in `{out}`"));

        // Mid-run: the owner has sent some of the records, not all of them.
        let owner_of = |pool: sqlx::PgPool| async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "select status, lease_owner from run where id = $1",
            )
            .bind(run_id)
            .fetch_one(&pool)
            .await
            .unwrap()
        };
        let mut answers = mock.answered.subscribe();
        // `is_ok` drops the watch's guard at once: held, it would block the mock's counter.
        let sending = tokio::time::timeout(
            Duration::from_secs(120),
            answers.wait_for(|n| *n >= answered_before + 100),
        )
        .await
        .is_ok_and(|seen| seen.is_ok());
        assert!(
            sending,
            "stall {stall}: run {run_id} does not send; workers' log ends:\n{}",
            log_tail(&log, 80)
        );
        let (status, owner) = owner_of(pool.clone()).await;
        let owner = owner.unwrap_or_else(|| panic!("run {run_id} is {status} without an owner"));
        let stalled = pid_of(&owner);
        assert!(
            pids.contains(&stalled),
            "owner {owner} is not a test worker"
        );
        signal(stalled, "STOP");
        let sent_at_stall = mock.answered() - answered_before;
        assert!(
            sent_at_stall < RECORDS_PER_RUN as u64,
            "stall {stall}: the run finished before the stall; the test stalls too late"
        );

        // The other worker takes the run over once the stalled one's lease expired.
        let taken_by = wait_until(
            &format!("stall {stall}: the other worker taking run {run_id} over"),
            Duration::from_secs(90),
            &log,
            || {
                let pool = pool.clone();
                let owner = owner.clone();
                async move {
                    let (status, now) = owner_of(pool).await;
                    now.filter(|now| *now != owner && status == "running")
                }
            },
        )
        .await;
        signal(stalled, "CONT");

        let run = support::wait_finished(&schema.url, run_id, Duration::from_secs(180)).await;
        assert_eq!(
            run.status.as_str(),
            "succeeded",
            "stall {stall}: run {run_id}: {:?}; workers' log ends:\n{}",
            run.error,
            log_tail(&log, 80)
        );
        let effects = mock.effects();
        let lost: Vec<&String> = keys.iter().filter(|k| !effects.contains_key(*k)).collect();
        let twice: Vec<(&String, u32)> = keys
            .iter()
            .filter_map(|k| effects.get(k).filter(|n| **n > 1).map(|n| (k, *n)))
            .collect();
        assert!(
            lost.is_empty() && twice.is_empty(),
            "stall {stall}: {} keys lost (first: {:?}), {} committed twice (first: {:?}); \
             workers' log ends:\n{}",
            lost.len(),
            lost.first(),
            twice.len(),
            twice.first(),
            log_tail(&log, 120)
        );
        let total = mock.answered() - answered_before;
        println!(
            "stall {stall}: run {run_id} stalled in worker {stalled} after {sent_at_stall} answers, \
             taken over by {taken_by}; {total} answers in all, every key once"
        );
    }

    // Each thawed worker noticed, and said why it stopped.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let fenced = text.matches("stops reading and sending").count();
    assert!(
        fenced >= STALLS,
        "{fenced} fenced-off messages for {STALLS} stalls; workers' log ends:\n{}",
        log_tail(&log, 80)
    );
    println!(
        "stalled worker: {STALLS} stalls over {} records, 0 lost, 0 committed twice, \
         {fenced} fence messages",
        STALLS * RECORDS_PER_RUN
    );
    drop(workers);
}
