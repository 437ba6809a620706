#!/usr/bin/env bash
# Runs every test of Ferry: formatting, lints, and the whole test suite (unit, connector,
# store conformance on SQLite and Postgres, end-to-end flows over real HTTP), then the web UI's
# checks: svelte-check, vitest, the production build, and the end-to-end test in Chromium
# against the `ferry` binary `cargo test` built.
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

echo "== ui: npm ci, svelte-check, vitest, build"
(
  cd ui
  npm ci --no-audit --no-fund
  npm run check
  npx vitest run --reporter=default --reporter=json --outputFile=../target/ui-vitest.json
  npm run build
)

echo "== ui: end-to-end in Chromium"
FERRY_BIN="${FERRY_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/ferry}" \
  npm --prefix ui run --silent e2e 2>&1 | tee target/ui-e2e-output.txt

# One closing line with the totals of every test binary, vitest and the UI end-to-end steps.
node -e '
  const fs = require("fs");
  let p = 0, f = 0, i = 0;
  for (const line of fs.readFileSync("target/test-output.txt", "utf8").split("\n")) {
    const m = line.match(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/);
    if (m) { p += +m[1]; f += +m[2]; i += +m[3]; }
  }
  const v = JSON.parse(fs.readFileSync("target/ui-vitest.json", "utf8"));
  const e = fs.readFileSync("target/ui-e2e-output.txt", "utf8").match(/ui e2e: (\d+) passed, (\d+) failed/);
  console.log(`cargo: ${p} passed, ${f} failed, ${i} skipped; vitest: ${v.numPassedTests} passed, ${v.numFailedTests} failed; ui e2e: ${e ? e[1] : 0} passed, ${e ? e[2] : 1} failed`);
  console.log(`${p + v.numPassedTests + (e ? +e[1] : 0)} passed, ${f + v.numFailedTests + (e ? +e[2] : 1)} failed, ${i + v.numPendingTests} skipped`);
'
