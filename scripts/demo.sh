#!/usr/bin/env bash
# Runs cosmosd with its embedded default: simulated camera and lights, mail written to
# files, data in ./cosmosd-demo. Prints the URL and the PINs it made up.
# Extra arguments go to `cosmosd demo` (e.g. --listen 0.0.0.0:8080 to let tablets in).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec cargo run --release --locked -- demo "$@"
