#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and integration tests against the
# real daemon over real HTTP, the real libgphoto2 with its virtual camera, and the
# simulated GPIO. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --test
bash scripts/vcamera.sh
# playwright-core (no bundled browser: the tests use /usr/bin/chromium), as locked.
[[ -d tests/browser/node_modules/playwright-core ]] || npm ci --prefix tests/browser --no-audit --no-fund
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary, the last of
# which may be a binary without tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "cosmosd: %d passed, %d failed\n", p, f }' "$log"
