#!/usr/bin/env bash
# Fuzzes the real daemon (demo configuration: simulated devices) against the OpenAPI
# document it serves, with every schemathesis check and a fixed seed. Installs schemathesis
# into target/schemathesis-venv (a Python venv on Debian's python3) the first time.
#
#   bash scripts/schemathesis.sh [max-examples per operation, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-20}"
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi
cargo build --quiet
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/debug/cosmosd demo --dir "$dir/demo" --listen "127.0.0.1:$port" > "$dir/daemon.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/api/health" > /dev/null && break
    sleep 0.1
done
pin=$(sed -n 's/^host_pin = "\(.*\)"/\1/p' "$dir/demo/cosmosd.toml")
token=$(curl -sf -X POST "http://127.0.0.1:$port/api/session" -H 'content-type: application/json' \
    -d "{\"role\":\"host\",\"pin\":\"$pin\"}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# The session routes are left out: fuzzing them would revoke the token the run uses.
"$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml run \
    "http://127.0.0.1:$port/api/openapi.json" \
    --checks all --max-examples "$examples" --seed 20261123 \
    -H "Authorization: Bearer $token" --exclude-path /api/session --no-color
