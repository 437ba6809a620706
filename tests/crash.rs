//! Crash safety: a worker killed with `kill -9` at any moment loses nothing and sends nothing
//! twice. A 10,000-record flow runs against a mock target that counts committed effects per
//! business key; the worker is killed at least 20 times (half of them right after the target
//! answered a request) and restarted each time.

mod support;

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

const RECORDS: usize = 10_000;
const KILLS: usize = 20;
/// Answers a worker gets at most between its start and a kill at a random moment (kills right
/// after an answer come within 250): 20 kills stay well within the 10,000 records.
const MAX_BETWEEN_KILLS: u64 = 350;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_lose_nothing_and_send_nothing_twice() {
    let (mock, url) = support::start(RECORDS).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let flow = support::write_flow(dir.path(), "crash", &url, json!({"type": "manual"}));
    let (code, out) = support::ferry(&db, &["flows", "import", flow.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = support::ferry(&db, &["trigger", "crash"]);
    assert_eq!(code, 0, "{out}");

    let log = dir.path().join("workers.log");
    let worker_args = ["worker", "--lease-secs", "2", "--concurrency", "1"];
    let mut rng = rand::rng();
    let mut recoveries = Vec::new();
    let mut kills_after_answer = 0;
    let mut killed_at: Option<Instant> = None;
    for kill in 0..KILLS {
        let mut worker = support::spawn_ferry(&db, &worker_args, &log);
        let before = mock.answered();
        // Progress after the previous kill: the first answer of the new worker.
        if let Some(at) = killed_at {
            wait_for_answers(&mock, before + 1, Duration::from_secs(60), &log).await;
            recoveries.push(at.elapsed());
        }
        if kill % 2 == 0 {
            // Right after the target answered the n-th request of this worker.
            let n = rng.random_range(10..250);
            wait_for_answers(&mock, before + n, Duration::from_secs(60), &log).await;
            kills_after_answer += 1;
        } else {
            // At a random moment once it is sending (mid-request, mid-commit, anywhere), but
            // before it sent MAX_BETWEEN_KILLS more: a faster build must not finish the run
            // before the last kill.
            wait_for_answers(&mock, before + 1, Duration::from_secs(60), &log).await;
            let moment = Duration::from_millis(rng.random_range(0..150));
            tokio::select! {
                _ = tokio::time::sleep(moment) => {}
                _ = wait_for_answers(&mock, before + MAX_BETWEEN_KILLS, Duration::from_secs(60), &log) => {}
            }
        }
        worker.kill().unwrap();
        worker.wait().unwrap();
        killed_at = Some(Instant::now());
        assert!(
            mock.answered() < RECORDS as u64,
            "the run finished before kill {kill}; the test kills too late"
        );
    }

    let mut worker = support::spawn_ferry(&db, &worker_args, &log);
    let run = support::wait_finished(&db, 1, Duration::from_secs(300)).await;
    worker.kill().unwrap();
    worker.wait().unwrap();

    let effects = mock.effects();
    let lost = (1..=RECORDS)
        .filter(|i| !effects.contains_key(&i.to_string()))
        .count();
    let duplicated = effects.values().filter(|n| **n > 1).count();
    let recovery_max = recoveries.iter().max().copied().unwrap_or_default();
    let recovery_mean = recoveries.iter().sum::<Duration>() / recoveries.len().max(1) as u32;
    println!(
        "crash test: {KILLS} kills ({kills_after_answer} right after an answer), {RECORDS} records, \
         lost {lost}, keys committed twice {duplicated}, requests answered {}, \
         recovery after a kill: mean {:.1} s, max {:.1} s (lease 2 s)",
        mock.answered(),
        recovery_mean.as_secs_f64(),
        recovery_max.as_secs_f64()
    );
    if lost + duplicated > 0 {
        let mut twice: Vec<_> = effects.iter().filter(|(_, n)| **n > 1).collect();
        twice.sort();
        println!(
            "keys committed more than once (first 10): {:?}",
            &twice[..twice.len().min(10)]
        );
        println!("database kept at {}", dir.keep().display());
    }
    assert_eq!(lost, 0, "records lost");
    assert_eq!(duplicated, 0, "keys committed twice");
    assert_eq!(
        run.status.as_str(),
        "succeeded",
        "run ended {:?}: {:?}",
        run.status,
        run.error
    );
    assert!(
        recovery_max < Duration::from_secs(30),
        "recovery took {recovery_max:?}"
    );
}

async fn wait_for_answers(mock: &support::Mock, n: u64, limit: Duration, log: &std::path::Path) {
    let mut rx = mock.answered.subscribe();
    tokio::time::timeout(limit, rx.wait_for(|a| *a >= n))
        .await
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "the target did not reach {n} answers in {limit:?}; workers' log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .unwrap();
}
