#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and integration tests against the
# real daemon over real HTTP. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --test
bash scripts/vcamera.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
