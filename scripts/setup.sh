#!/usr/bin/env bash
# Installs what building and testing cosmosd needs on a Debian-family machine, and
# nothing that is already there. Sourced by demo.sh and test.sh; safe to run alone.
set -euo pipefail

# gcc builds the bundled SQLite; cmake and nasm build libjpeg-turbo (vendored by the
# turbojpeg crate); libgphoto2-dev and libclang-dev (bindgen) are the camera library.
want=(gcc g++ libc6-dev pkg-config cmake nasm libgphoto2-dev libclang-dev)
# The tests also build the virtual camera from source (dpkg-dev for `apt-get source`),
# compare against libvips, use the gphoto2 CLI in the camera selftest docs, and run a
# real SMTP server (aiosmtpd, under Debian's /usr/bin/python3) for the mail tests, and
# drive the tablets' pages in Debian's chromium; systemd-analyze checks the unit;
# promtool (Debian's prometheus package; its server is not started) checks /metrics.
# The ssh backup tests start a real sshd on a loopback port and copy with rsync; the
# encrypted backup tests make a throwaway key with age-keygen and open a set with age.
if [[ "${1:-}" == "--test" ]]; then
  want+=(dpkg-dev libltdl-dev libexif-dev libvips-tools gphoto2 python3-aiosmtpd chromium systemd prometheus)
  want+=(rsync openssh-server openssh-client age)
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Only promtool is wanted: a booted machine would start the Prometheus server.
  if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [[ -x "$d/cargo" ]] && export PATH="$d:$PATH" && break
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: no Rust toolchain found. Install Rust 1.88 or newer (https://rustup.rs) and run again." >&2
  exit 1
fi

# The supply-chain test (tests/it/supply_chain.rs) runs cargo-deny: built once with
# cargo install at a fixed version (about six minutes on two cores), then found on PATH.
if [[ "${1:-}" == "--test" ]]; then
  have=$(cargo deny --version 2>/dev/null || true)
  if [[ $have != "cargo-deny 0.20.2" ]]; then
    echo "setup: installing cargo-deny 0.20.2" >&2
    cargo install --locked --quiet cargo-deny --version 0.20.2
  fi
fi
