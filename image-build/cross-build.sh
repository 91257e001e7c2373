#!/usr/bin/env bash
# Cross-compiles cosmosd and its .deb for the Pi on a Debian bookworm PC without
# containers — the same settings as image-build/cross/Dockerfile, which `cross` uses.
#
#   bash image-build/cross-build.sh [aarch64|armv7]
#
# Needs (installed when missing, through apt-get): the target's libgphoto2-dev and
# crossbuild-essential, libclang-dev; and the Rust target (`rustup target add`).
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-aarch64} in
  aarch64) debarch=arm64 gnu=aarch64-linux-gnu target=aarch64-unknown-linux-gnu ;;
  armv7) debarch=armhf gnu=arm-linux-gnueabihf target=armv7-unknown-linux-gnueabihf ;;
  *) echo "usage: $0 [aarch64|armv7]" >&2; exit 2 ;;
esac
sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
if ! dpkg -s "libgphoto2-dev:$debarch" "crossbuild-essential-$debarch" libclang-dev >/dev/null 2>&1; then
  $sudo dpkg --add-architecture "$debarch"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "crossbuild-essential-$debarch" "libgphoto2-dev:$debarch" libclang-dev cmake nasm pkg-config
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
t=${target//-/_}
T=${t^^}
export "CARGO_TARGET_${T}_LINKER=${gnu}-gcc" "CC_${t}=${gnu}-gcc" "CXX_${t}=${gnu}-g++" "AR_${t}=${gnu}-ar"
export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_LIBDIR="/usr/lib/${gnu}/pkgconfig:/usr/share/pkgconfig"
export "BINDGEN_EXTRA_CLANG_ARGS_${t}=-I/usr/include/${gnu}"
cargo build --locked --release --target "$target"
cargo deb --locked --no-build --target "$target"
