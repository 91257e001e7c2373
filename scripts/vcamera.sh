#!/usr/bin/env bash
# Builds libgphoto2's virtual PTP camera ("vusb" port driver) for the tests, from the
# Debian source of the *installed* libgphoto2, so it matches the library we link.
#
# Result, in target/vcamera/:
#   iolibs/vusb.so   run with IOLIBS=target/vcamera/iolibs to see the virtual camera
#                    (model "USB PTP Class Camera", port "usb:001,001")
#   shots/           the JPEGs the camera "shoots" (its path is compiled into vusb.so)
# Idempotent: does nothing when vusb.so for this libgphoto2 version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/target/vcamera"
shots="$out/shots"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"

# The native architecture's package (a cross-build box may also have libgphoto2-dev:arm64).
ver=$(dpkg-query -W -f='${source:Version}' "libgphoto2-dev:$(dpkg --print-architecture)")
if [[ -f "$out/iolibs/vusb.so" && -f "$shots/DCIM/100COSMO/pattern.jpg" \
      && "$(cat "$out/version" 2>/dev/null)" == "$ver" ]]; then
  exit 0
fi
echo "vcamera: building the virtual camera from libgphoto2 $ver source" >&2

# A deb-src entry mirroring the configured deb entries (whatever mirror this box uses).
if ! apt-cache showsrc libgphoto2 2>/dev/null | grep -q "^Version: $ver\$"; then
  src=/etc/apt/sources.list.d/cosmosd-deb-src.sources
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo tee "$src" >/dev/null
  else
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed 's/^deb /deb-src /' | $sudo tee /etc/apt/sources.list.d/cosmosd-deb-src.list >/dev/null
  fi
  $sudo apt-get update -qq
fi

rm -rf "$out/src" && mkdir -p "$out/src" "$out/iolibs" "$shots"
(cd "$out/src" && apt-get source -qq "libgphoto2=$ver" >/dev/null 2>&1 || apt-get source "libgphoto2=$ver")
port=$(ls -d "$out"/src/libgphoto2-*/libgphoto2_port)
(
  cd "$port"
  ./configure -q --enable-vusb --without-libusb-1.0 --without-libusb \
    --disable-serial --disable-ptpip --disable-disk >/dev/null
  make -s -j"$(nproc)" vcameradir="$shots" >/dev/null 2>&1 || make vcameradir="$shots"
)
cp "$port/.libs/vusb.so" "$out/iolibs/vusb.so"
echo "$ver" > "$out/version"
rm -rf "$out/src"

# Something to shoot: the photo-like test pattern, 3000x2000, EXIF orientation 6. It must
# sit in a DCIM folder: the virtual camera's capture dereferences it (and crashes without).
mkdir -p "$shots/DCIM/100COSMO"
cargo run -q --example test_pattern -- "$shots/DCIM/100COSMO/pattern.jpg" 3000 2000 6
echo "vcamera: ready in $out" >&2
