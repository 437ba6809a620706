#!/usr/bin/env python3
"""Queue throughput: how many runs per second go from queued to finished.

A trivial flow (a file source with one record that a filter step drops, so the target is never
written) is queued N times with `ferry trigger --count N`, then `ferry worker` processes drain
the queue. Measured on SQLite, on Postgres with one worker process, and with two. Each worker
runs up to 4 runs at once. Figures are runs/s; ratios are against SQLite in the same run.

    python3 scripts/bench-queue.py [--runs 400] [--bin target/release/ferry]
"""
import argparse, json, os, random, subprocess, sys, tempfile, time

PG = os.environ.get("FERRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")

def flow(dir):
    data = os.path.join(dir, "one.json")
    with open(data, "w") as f:
        json.dump([{"id": 1}], f)
    doc = {
        "version": 1, "id": "trivial", "name": "Queue benchmark: one record, filtered out",
        "connections": {
            "in": {"connector": "file", "config": {"path": data}},
            "out": {"connector": "file", "config": {"path": os.path.join(dir, "never.ndjson")}},
        },
        "source": {"connection": "in", "operation": "read", "key": "$.id"},
        "steps": [{"id": "drop", "type": "filter", "condition": "false"}],
        "target": {"connection": "out", "operation": "write"},
    }
    path = os.path.join(dir, "trivial.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path

def finished(db):
    if db.startswith("postgres"):
        out = subprocess.run(["psql", db.split("?")[0], "-tAc",
                              f"set search_path={db.split('%3D')[1].split('%2C')[0]}; "
                              "select count(*) from run where status not in ('queued','running')"],
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[-1])
    import sqlite3
    con = sqlite3.connect(db[len("sqlite://"):])
    try:
        return con.execute("select count(*) from run where status not in ('queued','running')").fetchone()[0]
    finally:
        con.close()

def measure(bin, db, workers, runs, dir):
    env = dict(os.environ, FERRY_DATABASE_URL=db, FERRY_LOG="error")
    subprocess.run([bin, "flows", "import", flow(dir)], env=env, check=True, capture_output=True)
    out = subprocess.run([bin, "trigger", "trivial", "--count", str(runs)], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    start = time.monotonic()
    procs = [subprocess.Popen([bin, "worker", "--concurrency", "4"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    try:
        while finished(db) < runs:
            if time.monotonic() - start > 600:
                sys.exit(f"{db}: not drained after 600 s")
            time.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    return runs / elapsed, out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--bin", default="target/release/ferry")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_dir = os.path.join(tmp, "sqlite"); os.mkdir(sqlite_dir)
        rate, enq = measure(a.bin, f"sqlite://{sqlite_dir}/ferry.db", 1, a.runs, sqlite_dir)
        results.append(("SQLite, 1 worker process", rate, enq))
        for workers in (1, 2):
            schema = f"bench_queue_{random.getrandbits(40):x}"
            subprocess.run(["psql", PG, "-qc", f"create schema {schema}"], check=True)
            try:
                d = os.path.join(tmp, schema); os.mkdir(d)
                db = f"{PG}?options=-csearch_path%3D{schema}%2Cpublic"
                rate, enq = measure(a.bin, db, workers, a.runs, d)
                results.append((f"Postgres, {workers} worker process(es)", rate, enq))
            finally:
                subprocess.run(["psql", PG, "-qc", f"drop schema {schema} cascade"], check=True,
                           env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"))
    base = results[0][1]
    print(f"Queue throughput, trivial flow, {a.runs} runs each (enqueue -> finished):")
    for name, rate, enq in results:
        print(f"  {name:<34} {rate:8.1f} runs/s   {rate / base:5.2f} x SQLite   ({enq})")

if __name__ == "__main__":
    main()
