#!/usr/bin/env bash
# Boots the image under QEMU and proves the appliance works as a whole:
#   1. cosmosd is active (systemd got READY=1 from it);
#   2. GET /api/health answers through QEMU's port forwarding;
#   3. `journalctl -u cosmosd` carries the daemon's structured fields;
#   4. after `kill -STOP` of the daemon, the watchdog (WatchdogSec=30) has systemd kill
#      and restart it, and the API answers again.
#
#   bash image-build/test-qemu.sh [--arch amd64|arm64] [--image DIR]
#
# amd64 (default): the PC twin of the box, under KVM when it works. arm64: the Pi's own
# system and the cross-built binary, booted on QEMU's generic "virt" board (not a Pi
# model: no GPIO, so the first boot picks the simulated devices), always emulated, so
# several minutes. Without --image the image is built first into target/image (arm64:
# after image-build/cross-build.sh).
#
# Needs root (to build the image) and qemu-system-x86_64 (installed when missing); uses
# KVM when /dev/kvm is usable, software emulation otherwise (much slower).
set -euo pipefail
cd "$(dirname "$0")/.."

image_dir="" arch=amd64
while [[ $# -gt 0 ]]; do
  case $1 in
    --image) image_dir=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

case $arch in
  amd64) qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86 console=ttyS0 patience=300 ;;
  arm64) qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm console=ttyAMA0 patience=900 ;;
  *) echo "--arch must be amd64 or arm64" >&2; exit 2 ;;
esac
command -v $qemu >/dev/null || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $qemu_pkg openssh-client
work=$(mktemp -d)
qemu_pid=""
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -C cosmos-test -f "$work/key"
started=$(date +%s)
if [[ -z $image_dir ]]; then
  image_dir=target/image
  deb=()
  if [[ $arch == arm64 ]]; then
    bash image-build/cross-build.sh aarch64
    deb=(--deb "$(ls target/aarch64-unknown-linux-gnu/debian/cosmosd_*_arm64.deb | sort -V | tail -1)")
  fi
  bash image-build/build.sh --arch "$arch" "${deb[@]}" --out "$image_dir" --authorized-keys "$work/key.pub"
  keyfile=$work/key
else
  # A prebuilt image: the key must be the one it was built with.
  keyfile=${COSMOS_TEST_KEY:?set COSMOS_TEST_KEY to the private key the image was built with}
fi
built=$(date +%s)

# Boot a throwaway copy, so the image stays pristine.
cp --sparse=always "$image_dir/cosmos-$arch.img" "$work/disk.img"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(port); ssh_port=$(port)
boot() { # accel args...
  : >"$work/console.log"
  $qemu "$@" -m 1024 -smp 2 -display none -no-reboot \
    -drive "file=$work/disk.img,format=raw,if=virtio" \
    -kernel "$image_dir/cosmos-$arch.vmlinuz" -initrd "$image_dir/cosmos-$arch.initrd" \
    -append "root=LABEL=cosmos-root rw console=$console" \
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$http_port-:8080,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
    -serial "file:$work/console.log" 2>"$work/qemu.err" &
  qemu_pid=$!
}
accel=tcg
if [[ $arch == amd64 && -r /dev/kvm && -w /dev/kvm ]]; then
  boot -enable-kvm
  # Some nested-virtualisation hosts offer /dev/kvm but the guest never runs: no kernel
  # output at all after 20 s means that, and software emulation takes over.
  sleep 20
  if [[ -s $work/console.log ]]; then accel=kvm; else
    echo "   KVM gave no console output in 20 s: using software emulation" >&2
    kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true
    cp --sparse=always "$image_dir/cosmos-$arch.img" "$work/disk.img"
  fi
fi
if [[ $accel == tcg ]]; then
  if [[ $arch == arm64 ]]; then boot -machine virt,accel=tcg -cpu cortex-a72
  else boot -machine accel=tcg -cpu max; fi
fi
booting=$(date +%s)

vm() {
  ssh -q -i "$keyfile" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o BatchMode=yes technician@127.0.0.1 "$@"
}
fail() {
  echo "FAIL: $*" >&2
  echo "--- console (last 40 lines) ---" >&2; tail -40 "$work/console.log" >&2 || true
  vm sudo journalctl -b --no-pager -n 60 >&2 || true
  exit 1
}
wait_until() { # seconds, description, command...
  local secs=$1 until=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [[ $(date +%s) -lt $until ]] || fail "$what (waited ${secs} s)"
    kill -0 "$qemu_pid" 2>/dev/null || fail "QEMU exited while waiting: $what"
    sleep 2
  done
}
health() { curl -fsS --max-time 5 "http://127.0.0.1:$http_port/api/health"; }

wait_until $patience "the API answering through the forwarded port" health
booted=$(date +%s)
echo "ok 1: /api/health answers through port forwarding ($((booted - booting)) s after QEMU started, $accel)"
health | python3 -c 'import json,sys; h=json.load(sys.stdin); print("   status", h["status"], "version", h["version"], "camera", h["camera"]["backend"], "disk free", h["disk"]["free_bytes"])'

wait_until $patience "ssh into the box" vm true
state=$(vm systemctl is-active cosmosd) || true
[[ $state == active ]] || fail "cosmosd is $state"
echo "ok 2: cosmosd is active (Type=notify: READY=1 was received)"

fields=$(vm sudo journalctl -u cosmosd -o verbose --no-pager -n 400)
for f in ROUTE= STATUS= DURATION_MS= LISTEN= SYSLOG_IDENTIFIER=; do
  grep -q "^ *$f" <<<"$fields" || fail "journalctl -u cosmosd shows no $f field"
done
echo "ok 3: journalctl -u cosmosd has structured fields (ROUTE, STATUS, DURATION_MS, LISTEN)"
# A sample for the log, from what was read above: no `| head` on a live producer, whose
# SIGPIPE under pipefail ended this script silently in one of two runs.
grep -m1 -B2 -A12 'ROUTE=/api/health' <<<"$fields" | sed 's/^/   /' || true

pid=$(vm systemctl show -p MainPID --value cosmosd)
restarts=$(vm systemctl show -p NRestarts --value cosmosd)
vm sudo kill -STOP "$pid"
stopped=$(date +%s)
echo "   kill -STOP $pid at +0 s; waiting for the watchdog"
wait_until $patience "a new cosmosd process after the watchdog" \
  bash -c "[[ \$(ssh -q -i '$keyfile' -p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes technician@127.0.0.1 systemctl show -p MainPID --value cosmosd) =~ ^[1-9][0-9]*$ && \$(ssh -q -i '$keyfile' -p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes technician@127.0.0.1 systemctl show -p MainPID --value cosmosd) != $pid ]]"
wait_until $patience "the API answering after the restart" health
back=$(date +%s)
new_restarts=$(vm systemctl show -p NRestarts --value cosmosd)
[[ $new_restarts -gt $restarts ]] || fail "NRestarts did not grow ($restarts → $new_restarts)"
vm sudo journalctl -u cosmosd --no-pager -n 200 | grep -q -i 'watchdog timeout' \
  || fail "the journal does not say the watchdog fired"
echo "ok 4: the watchdog restarted the stopped daemon (NRestarts $restarts → $new_restarts; API back $((back - stopped)) s after kill -STOP)"
vm sudo journalctl -u cosmosd --no-pager -n 200 | grep -i -m3 'watchdog\|Scheduled restart' | sed 's/^/   /'

echo "image build $((built - started)) s, boot to API $((booted - booting)) s ($accel), all checks passed"
