#!/usr/bin/env bash
# Runs every test of Ferry: formatting, lints, and the whole test suite (unit, connector,
# store conformance on SQLite and Postgres, end-to-end flows over real HTTP).
# Postgres tests use FERRY_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
mkdir -p target
cargo test --workspace --locked 2>&1 | tee target/test-output.txt
# One closing line with the totals of every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
