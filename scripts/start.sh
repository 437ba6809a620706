#!/usr/bin/env bash
# Starts Ferry with its web UI and the demo tenant: builds the UI when it is missing or older
# than its sources, then runs `ferry serve --demo` (release build). Extra arguments go to
# `ferry serve`, e.g. `scripts/start.sh --listen 127.0.0.1:9090`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/package-lock.json -newer ui/dist/index.html -print -quit)" ]; then
  echo "== building the web UI (ui/dist)"
  (cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build)
fi

exec cargo run --release -- serve --demo --ui-dir ui/dist "$@"
