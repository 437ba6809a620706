//! Throughput of the compiled mapper on the benchmark mapping (`flows/examples/bench-orders.json`)
//! over parsed orders from `../shared/bench/gen_orders.py`: records per second on one core.
//!
//! `cargo bench -p ferry-engine --bench mapper`

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry_engine::flow::parse_flow;
use ferry_engine::plan::{CompiledFlow, Processed};
use serde_json::Value;

const ORDERS: usize = 1_000;

/// The allocator the `ferry` binary ships (src/main.rs), so the figure is the one the binary gets.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `gen_orders.py`: `FERRY_BENCH_GENERATOR` when set, else `shared/bench/gen_orders.py` in the
/// nearest ancestor of the checkout that has one (a git worktree may sit deeper than `main`).
fn generator() -> PathBuf {
    if let Some(path) = std::env::var_os("FERRY_BENCH_GENERATOR") {
        return PathBuf::from(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("shared/bench/gen_orders.py"))
        .find(|candidate| candidate.is_file())
        .expect("no shared/bench/gen_orders.py above the checkout; set FERRY_BENCH_GENERATOR")
}

fn orders() -> Vec<Value> {
    let generator = generator();
    let out = std::process::Command::new("python3")
        .arg(&generator)
        .arg(ORDERS.to_string())
        .output()
        .expect("the benchmark needs python3 and ../shared/bench/gen_orders.py");
    serde_json::from_slice(&out.stdout).expect("gen_orders.py prints a JSON array")
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text =
        std::fs::read_to_string(root.join("flows/examples/bench-orders.json")).expect("bench flow");
    let flow = parse_flow(&text, "bench-orders.json").expect("bench flow parses");
    let compiled = CompiledFlow::compile(&flow).expect("bench flow compiles");
    let orders = orders();

    let mut group = c.benchmark_group("mapper");
    group.throughput(Throughput::Elements(orders.len() as u64));
    group.bench_function("bench_orders_mapping", |b| {
        b.iter(|| {
            for order in &orders {
                match compiled.process(order) {
                    Ok(Processed::Output(v)) => {
                        std::hint::black_box(v);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
