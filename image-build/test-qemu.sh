#!/usr/bin/env bash
# Boots the image under QEMU and proves the appliance works as a whole:
#   1. GET /api/health answers through QEMU's port forwarding;
#   2. cosmosd is active (systemd got READY=1 from it);
#   3. `journalctl -u cosmosd` carries the daemon's structured fields;
#   4. after `kill -STOP` of the daemon, the watchdog (WatchdogSec=30) has systemd kill
#      and restart it, and the API answers again;
#   5. HTTPS (the guest's 8443, forwarded) as a tablet sees it: with the CA fetched from
#      the box over plain HTTP (GET /ca.crt) `https://cosmos.local/api/health` is
#      trusted; without it, or under a name the certificate does not carry, curl refuses
#      the certificate;
#   6. inside the box `cosmos.local` resolves through nss-mdns (avahi) alone, and
#      avahi-browse lists the "COSMOS cosmos" _http._tcp (8080) and _https._tcp (8443)
#      services (QEMU's user network carries no multicast out: a tablet's view of the
#      announcement is not tested);
#   7. unattended-upgrades is on (APT::Periodic::Unattended-Upgrade "1", the timer
#      enabled at 04:00, reboots at 04:30) for the security suite only, and
#      `unattended-upgrade --dry-run --debug` runs cleanly and names that origin alone.
#      It cannot prove an update gets installed: the image carries no package lists and
#      the guest may have no network, so the dry run has nothing to upgrade.
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
http_port=$(port); https_port=$(port); ssh_port=$(port)
boot() { # accel args...
  : >"$work/console.log"
  $qemu "$@" -m 1024 -smp 2 -display none -no-reboot \
    -drive "file=$work/disk.img,format=raw,if=virtio" \
    -kernel "$image_dir/cosmos-$arch.vmlinuz" -initrd "$image_dir/cosmos-$arch.initrd" \
    -append "root=LABEL=cosmos-root rw console=$console" \
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$http_port-:8080,hostfwd=tcp:127.0.0.1:$https_port-:8443,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
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
new_main_pid() { # the daemon runs again, as another process than the stopped one
  local now
  now=$(vm systemctl show -p MainPID --value cosmosd) || return 1
  [[ $now =~ ^[1-9][0-9]*$ && $now != "$pid" ]]
}
wait_until $patience "a new cosmosd process after the watchdog" new_main_pid
wait_until $patience "the API answering after the restart" health
back=$(date +%s)
new_restarts=$(vm systemctl show -p NRestarts --value cosmosd)
[[ $new_restarts -gt $restarts ]] || fail "NRestarts did not grow ($restarts → $new_restarts)"
# Read whole, then searched: `grep -q` on the live ssh would end it early (SIGPIPE).
journal=$(vm sudo journalctl -u cosmosd --no-pager -n 200) || fail "journalctl -u cosmosd"
grep -q -i 'watchdog timeout' <<<"$journal" || fail "the journal does not say the watchdog fired"
echo "ok 4: the watchdog restarted the stopped daemon (NRestarts $restarts → $new_restarts; API back $((back - stopped)) s after kill -STOP)"
grep -i -m3 'watchdog\|Scheduled restart' <<<"$journal" | sed 's/^/   /' || true

# 5. HTTPS as a tablet meets it. The first boot's `cosmosd init-config` writes
# tls = "self-signed" and the box CA (/etc/cosmos/ca.crt); the daemon's server
# certificate names the hostname, HOSTNAME.local, localhost and the box's addresses.
curl -fsS --max-time 10 -o "$work/ca.crt" "http://127.0.0.1:$http_port/ca.crt" \
  || fail "GET /ca.crt over plain HTTP"
grep -q 'BEGIN CERTIFICATE' "$work/ca.crt" || fail "GET /ca.crt gave no PEM certificate"
https_as() { # name, curl args...: GET /api/health over HTTPS, NAME sent as the host
  local name=$1; shift
  curl -fsS --max-time 10 --resolve "$name:$https_port:127.0.0.1" "$@" \
    "https://$name:$https_port/api/health"
}
wait_until 60 "HTTPS trusted with the box's CA as https://cosmos.local" \
  https_as cosmos.local --cacert "$work/ca.crt"
body=$(https_as cosmos.local --cacert "$work/ca.crt") || fail "HTTPS /api/health with the box's CA"
grep -q '"status"' <<<"$body" || fail "HTTPS /api/health gave no status: $body"
rc=0; https_as cosmos.local >/dev/null 2>"$work/untrusted.err" || rc=$?
[[ $rc == 60 ]] || fail "HTTPS without the box's CA: curl exit $rc, not 60 (certificate not trusted): $(cat "$work/untrusted.err")"
rc=0; https_as not-the-box.example --cacert "$work/ca.crt" >/dev/null 2>"$work/wrongname.err" || rc=$?
[[ $rc == 60 ]] || fail "HTTPS under a name the certificate lacks: curl exit $rc, not 60: $(cat "$work/wrongname.err")"
echo "ok 5: HTTPS on 8443 is trusted with the CA from GET /ca.crt as cosmos.local; refused without it ($(tr -d '\n' <"$work/untrusted.err" | cut -c1-70)) and under another name"
if command -v openssl >/dev/null; then
  openssl s_client -connect "127.0.0.1:$https_port" -servername cosmos.local </dev/null 2>/dev/null \
    | openssl x509 -noout -ext subjectAltName 2>/dev/null | sed 's/^/   /' || true
fi

# 6. The box by name, inside the guest (QEMU's user network carries no multicast to
# this host, so the name is resolved where avahi runs).
nss=$(vm grep '^hosts:' /etc/nsswitch.conf) || fail "no hosts line in /etc/nsswitch.conf"
[[ $nss == *mdns* ]] || fail "nss-mdns is not in /etc/nsswitch.conf: $nss"
vm grep -q 'cosmos\.local' /etc/hosts && fail "/etc/hosts names cosmos.local: the check would not prove mDNS"
# nss-mdns alone (getent -s): systemd-resolved, after it in the chain, also synthesises
# the box's own HOSTNAME.local, so a plain `getent hosts` would pass without avahi.
resolves() {
  vm getent -s hosts:mdns4_minimal hosts cosmos.local >"$work/getent" 2>&1 && [[ -s $work/getent ]]
}
wait_until 90 "cosmos.local resolving inside the box through nss-mdns (avahi)" resolves
announced() { # type, port
  vm avahi-browse -rtp "$1" >"$work/browse" 2>&1 || return 1
  grep -q "^=;.*;COSMOS.\{1,4\}cosmos;.*;$2;" "$work/browse" # the space is \032 in -p output
}
wait_until 90 "avahi announcing COSMOS cosmos as _https._tcp on 8443" announced _https._tcp 8443
wait_until 30 "avahi announcing COSMOS cosmos as _http._tcp on 8080" announced _http._tcp 8080
echo "ok 6: cosmos.local resolves inside the box through nss-mdns ($(awk '{ print $1 }' "$work/getent" | paste -sd ' ')) and avahi announces COSMOS cosmos (_https._tcp 8443, _http._tcp 8080)"
echo "   $nss"
grep '^=;' "$work/browse" | sed 's/^/   /' || true

# 7. Security updates.
dump=$(vm apt-config dump) || fail "apt-config dump"
grep -qx 'APT::Periodic::Unattended-Upgrade "1";' <<<"$dump" \
  || fail "apt-config dump has no APT::Periodic::Unattended-Upgrade \"1\""
patterns=$(grep '^Unattended-Upgrade::Origins-Pattern:: ' <<<"$dump" || true)
[[ -n $patterns ]] || fail "no Unattended-Upgrade::Origins-Pattern"
# apt-config shows the pattern as written (${distro_codename}); the dry run below, expanded.
grep -q -- '-security,label=Debian-Security' <<<"$patterns" \
  || fail "the origins pattern has no security suite: $patterns"
others=$(grep -v -- '-security,label=Debian-Security' <<<"$patterns" || true)
[[ -z $others ]] || fail "unattended-upgrades would also take: $others"
grep -q '^Unattended-Upgrade::Automatic-Reboot "true";' <<<"$dump" || fail "Automatic-Reboot is not true"
grep -q '^Unattended-Upgrade::Automatic-Reboot-Time "04:30";' <<<"$dump" || fail "Automatic-Reboot-Time is not 04:30"
enabled=$(vm systemctl is-enabled apt-daily-upgrade.timer) || true
[[ $enabled == enabled ]] || fail "apt-daily-upgrade.timer is $enabled"
calendar=$(vm systemctl show -p TimersCalendar --value apt-daily-upgrade.timer) || true
[[ $calendar == *"04:00:00"* ]] || fail "apt-daily-upgrade.timer does not run at 04:00: $calendar"
dry_run() { # apt may hold its lock a while after boot: polled
  vm sudo unattended-upgrade --dry-run --debug >"$work/uu.log" 2>&1
}
wait_until 300 "unattended-upgrade --dry-run --debug succeeding" dry_run
grep -q 'Allowed origins are: origin=Debian,codename=bookworm-security,label=Debian-Security$' "$work/uu.log" \
  || fail "the dry run does not allow the security suite alone: $(grep -i 'allowed origins' "$work/uu.log" || cat "$work/uu.log")"
lists=$(vm "find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*'") || true
echo "ok 7: unattended-upgrades on (APT::Periodic::Unattended-Upgrade \"1\", apt-daily-upgrade.timer $enabled at 04:00, reboot 04:30); security suite only; the dry run exits 0 ($(grep -c . <<<"$lists" || true) package lists on the box)"
grep -i 'allowed origins\|no packages found\|packages that will be upgraded' "$work/uu.log" | sed 's/^/   /' || true

echo "image build $((built - started)) s, boot to API $((booted - booting)) s ($accel), whole run $(($(date +%s) - started)) s, all checks passed"
