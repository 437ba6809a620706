//! Latency of `POST /api/v1/preview` over real HTTP for the benchmark flow
//! (`flows/examples/bench-orders.json`) and orders from `../shared/bench/gen_orders.py`:
//! p50 and p99, beside a trivial endpoint on the same server as the baseline.
//!
//! - `warm`: the editor posts the same flow with changing sample records (compiled once);
//! - `edited`: every request changes the flow (a keystroke in the mapping editor), so every
//!   request compiles it.
//!
//! `cargo bench -p ferry-engine --bench preview`

use std::path::Path;
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::{Value, json};

const REQUESTS: usize = 2_000;

fn orders() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("python3")
        .arg(root.join("../shared/bench/gen_orders.py"))
        .arg("200")
        .output()
        .expect("the benchmark needs python3 and ../shared/bench/gen_orders.py");
    serde_json::from_slice(&out.stdout).expect("gen_orders.py prints a JSON array")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    bodies: impl Iterator<Item = Option<String>>,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(REQUESTS);
    for body in bodies.take(REQUESTS) {
        let started = Instant::now();
        let response = match body {
            Some(body) => {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
            }
            None => client.get(url).send().await,
        }
        .expect("request");
        assert!(response.status().is_success(), "{}", response.status());
        let answer: Value = response.json().await.expect("JSON answer");
        std::hint::black_box(answer);
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.50), percentile(&times, 0.99))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let flow: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("flows/examples/bench-orders.json"))
            .expect("bench flow"),
    )
    .expect("bench flow is JSON");
    let orders = orders();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let app = ferry_engine::http::preview_routes().route(
            "/ping",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::new();
        let preview = format!("{base}/api/v1/preview");

        // Warm-up: connections, allocator, first compile.
        let warm_body =
            |i: usize| Some(json!({"flow": flow, "record": orders[i % orders.len()]}).to_string());
        measure(&client, &preview, (0..200).map(warm_body)).await;

        let baseline = measure(&client, &format!("{base}/ping"), std::iter::repeat(None)).await;
        let warm = measure(&client, &preview, (0..).map(warm_body)).await;
        let edited = measure(
            &client,
            &preview,
            (0..).map(|i: usize| {
                let mut flow = flow.clone();
                flow["settings"] = json!({"edit": i});
                Some(json!({"flow": flow, "record": orders[i % orders.len()]}).to_string())
            }),
        )
        .await;

        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("preview latency over HTTP, {REQUESTS} sequential requests each (bench flow):");
        println!(
            "  baseline GET /ping      p50 {:>7.3} ms  p99 {:>7.3} ms",
            ms(baseline.0),
            ms(baseline.1)
        );
        for (name, (p50, p99)) in [
            ("warm (same flow)", warm),
            ("edited (compile each)", edited),
        ] {
            println!(
                "  {name:<23} p50 {:>7.3} ms  p99 {:>7.3} ms  ({:.1}x / {:.1}x baseline)",
                ms(p50),
                ms(p99),
                ms(p50) / ms(baseline.0),
                ms(p99) / ms(baseline.1)
            );
        }
    });
}
