#!/usr/bin/env python3
"""End-to-end benchmark: Ferry against the hand-written Rust baseline, same data, same run.

    python3 scripts/bench_e2e.py [--orders 10000] [--repeats 3] [--batch 1] [--batch 100]
                                 [--ferry BIN --ferry OTHER_BIN]

Uses ../shared/bench (order generator, mock source/sink server, `rustflow` baseline). For each
batch size, runs the baseline and Ferry one after the other `--repeats` times on the same orders,
checks what the sink received against the reference mapping (check_sink.py), and prints the
median records/s, the peak RSS of each process, and Ferry's ratio to the baseline.
Ferry runs with the activity log and the ledger on, on a fresh SQLite file per repetition.
`--ferry BIN` (repeatable) measures given binaries instead of building this checkout, each
against the same baseline runs: build an older commit elsewhere to compare it with this one.
Besides records/s, it prints each process's CPU seconds (user + system), which a busy machine
disturbs less than wall time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PORT = 8088
BASE = f"http://127.0.0.1:{PORT}"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def post(path):
    urllib.request.urlopen(urllib.request.Request(BASE + path, method="POST"), timeout=10).read()


def timed(cmd):
    """Runs cmd; returns (seconds, peak RSS in MiB, CPU seconds)."""
    start = time.perf_counter()
    # The mock listens on loopback, which Ferry's outbound guard refuses unless allowed.
    env = dict(os.environ, FERRY_ALLOW_NET="127.0.0.1/32")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed ({status}): {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def check(ref):
    out = subprocess.run([sys.executable, os.path.join(BENCH, "check_sink.py"), BASE, ref], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("sink check failed:\n" + out.stdout + out.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--ferry", action="append", help="a ferry binary to measure (repeatable)")
    args = ap.parse_args()
    batches = args.batch or [1, 100]

    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    sh("cargo", "build", "--release", "-q", "--manifest-path", os.path.join(BENCH, "Cargo.toml"), env=env)
    if args.ferry:
        ferries = [os.path.abspath(f) for f in args.ferry]
    else:
        sh("cargo", "build", "--release", "-q", "-p", "ferry", cwd=ROOT, env=env)
        ferries = [os.path.join(TARGET, "release", "ferry")]
    rustflow = os.path.join(TARGET, "release", "rustflow")

    work = tempfile.mkdtemp(prefix="ferry-bench-")
    orders = os.path.join(work, "orders.json")
    ref = os.path.join(work, "ref.jsonl")
    with open(orders, "w") as f:
        sh(sys.executable, os.path.join(BENCH, "gen_orders.py"), str(args.orders), stdout=f)
    with open(ref, "w") as f:
        sh(rustflow, "map", orders, stdout=f, stderr=subprocess.DEVNULL)

    server = subprocess.Popen([os.path.join(TARGET, "release", "mockserver"), orders, str(PORT)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(BASE + "/count", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        with open(os.path.join(ROOT, "flows", "examples", "bench-orders.json")) as f:
            flow = json.load(f)
        results = []
        for batch in batches:
            flow["target"]["batch_size"] = batch
            flow_path = os.path.join(work, f"bench-orders-b{batch}.json")
            with open(flow_path, "w") as f:
                json.dump(flow, f)
            runs = {name: [] for name in ["rustflow", *ferries]}
            for rep in range(args.repeats):
                post("/reset")
                runs["rustflow"].append(timed([rustflow, "run", BASE, "--concurrency", "16", "--batch", str(batch)]))
                check(ref)
                for i, ferry in enumerate(ferries):
                    post("/reset")
                    db = os.path.join(work, f"ferry{i}-b{batch}-{rep}.db")
                    runs[ferry].append(timed([ferry, "run", flow_path, "--quiet", "--database-url", f"sqlite://{db}"]))
                    check(ref)
            results.append((batch, runs))
        print(f"\n{args.orders} orders, median of {args.repeats}, activity log + ledger on (SQLite)")
        print(f"{'batch':>5} {'program':<40} {'records/s':>10} {'CPU s':>6} {'RSS MiB':>8} {'ratio':>6}")
        for batch, runs in results:
            base = statistics.median(args.orders / secs for secs, _, _ in runs["rustflow"])
            for name, measured in runs.items():
                rate = statistics.median(args.orders / secs for secs, _, _ in measured)
                cpu = statistics.median(c for _, _, c in measured)
                rss = max(m for _, m, _ in measured)
                print(f"{batch:>5} {name[-40:]:<40} {rate:>10,.0f} {cpu:>6.2f} {rss:>8.1f} {rate / base:>6.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
