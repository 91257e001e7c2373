#!/usr/bin/env bash
# Builds a COSMOS box image: Debian (bookworm, the Pi's release) with the cosmosd
# package, SSH for the technician, a persistent size-capped journal, the first-boot
# set-up (per-box PINs, HTTPS CA and SSH host keys; a config dropped on the boot
# partition), avahi announcing HOSTNAME.local and the COSMOS services, and Debian's
# security updates by unattended-upgrades (reboots only in a night window; README,
# "Security updates").
#
#   image-build/build.sh --arch arm64 --deb cosmosd_*_arm64.deb --authorized-keys KEYS
#       → cosmos-arm64.img: an SD-card image for the Raspberry Pi 3/4 (Debian's
#         raspi-firmware boot partition + linux-image-arm64). Write it with
#         `dd if=cosmos-arm64.img of=/dev/sdX bs=4M conv=fsync`.
#   image-build/build.sh --arch amd64 --authorized-keys KEYS
#       → cosmos-amd64.img plus cosmos-amd64.vmlinuz / .initrd: the same system for a
#         PC, booted by QEMU's direct kernel boot (image-build/test-qemu.sh does).
#
# Options: --out DIR (default target/image), --deb PATH (default: build with cargo deb,
# amd64 only), --authorized-keys FILE (the technician's SSH public keys; may also be
# dropped on the boot partition later), --sources FILE (apt sources, default: this
# machine's Debian sources), --size SIZE (default 3G).
#
# Needs root (mmdebstrap's root mode), and: mmdebstrap, dosfstools, mtools, fdisk,
# e2fsprogs. A foreign architecture (arm64 on a PC) also needs qemu-user-static with
# binfmt_misc, as every Debian cross-bootstrap does.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD

arch=amd64 out=target/image deb="" keys="" sources="" size=3G suite=bookworm
while [[ $# -gt 0 ]]; do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --deb) deb=$2; shift 2 ;;
    --authorized-keys) keys=$2; shift 2 ;;
    --sources) sources=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
case $arch in amd64|arm64) ;; *) echo "--arch must be amd64 or arm64" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "run as root (mmdebstrap's root mode, partition images)" >&2; exit 1; }

need=()
for t in mmdebstrap:mmdebstrap mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk mke2fs:e2fsprogs; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

if [[ $arch != "$(dpkg --print-architecture)" ]]; then
  # The target's maintainer scripts run under qemu-user through binfmt_misc.
  { command -v qemu-aarch64-static && command -v arch-test; } >/dev/null || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user-static binfmt-support arch-test
  [[ -e /proc/sys/fs/binfmt_misc/status ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || {
    echo "building an $arch image here needs binfmt_misc with qemu-aarch64 registered (qemu-user-static)" >&2; exit 1; }
fi

mkdir -p "$out"
out=$(realpath "$out")
if [[ -z $deb ]]; then
  [[ $arch == amd64 ]] || { echo "--deb is required for arm64: build it with cross (see README)" >&2; exit 1; }
  command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
  cargo deb --locked --output "$out/cosmosd_amd64.deb" >&2
  deb=$out/cosmosd_amd64.deb
fi
deb=$(realpath "$deb")

# The apt sources: this machine's Debian entries unless told otherwise, with the
# components the image needs (the Pi's boot firmware is in non-free-firmware).
[[ $arch == arm64 ]] && components="main contrib non-free-firmware" || components=main
if [[ -z $sources ]]; then
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sources=$out/apt.sources
    sed "s/^Components:.*/Components: $components/" /etc/apt/sources.list.d/debian.sources >"$sources"
  else
    sources=$out/apt.list
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk -v c="$components" '{ print $1, $2, $3, c }' >"$sources"
  fi
fi

# cosmosd's own dependencies are fetched with the rest (the package itself is then
# installed with dpkg: the chroot has no name resolution of its own), so every name in
# the .deb's Depends must be here (checked below): rsync and openssh-client are the
# scheduled backup's. avahi announces HOSTNAME.local and the COSMOS services;
# unattended-upgrades installs Debian's security updates (its reboot window is in local
# time: tzdata, so the venue's time zone can be set).
packages=(systemd-sysv udev dbus openssh-server sudo ca-certificates systemd-timesyncd
  systemd-resolved iproute2 netbase less curl kmod e2fsprogs dosfstools
  adduser libgphoto2-6 libgphoto2-port12 gphoto2 rsync openssh-client
  avahi-daemon libnss-mdns avahi-utils unattended-upgrades tzdata)
case $arch in
  amd64) packages+=(linux-image-amd64 initramfs-tools) ;;
  arm64) packages+=(linux-image-arm64 raspi-firmware firmware-brcm80211 wireless-regdb) ;;
esac

# The .deb is installed with plain dpkg (no network in the chroot): each of its
# dependencies must come with the packages above. Fail now rather than after the
# bootstrap; libc6 and libgcc-s1 are in every Debian base system.
missing=()
while read -r alternatives; do
  found=""
  IFS='|' read -ra alts <<<"$alternatives"
  for alt in "${alts[@]}"; do
    name=$(awk '{ sub(/:.*/, "", $1); print $1 }' <<<"$alt")
    if [[ " ${packages[*]} libc6 libgcc-s1 " == *" $name "* ]]; then found=1; fi
  done
  [[ -n $found ]] || missing+=("$alternatives")
done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/([^)]*)//g; s/^ *//; s/ *$//' | grep -v '^$')
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "$(basename "$deb") depends on $(printf '"%s" ' "${missing[@]}")not in the packages list of $0: add it" >&2
  exit 1
fi

rootfs=$out/rootfs-$arch
# A build that died may have left the chroot's /proc, /sys or /dev mounted: never
# descend into those.
unmount_under() {
  findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}
unmount_under "$rootfs"
rm -rf --one-file-system "$rootfs"
trap 'unmount_under "$rootfs"' EXIT
files=$root_dir/image-build/files
echo "building the $arch root filesystem in $rootfs" >&2
mmdebstrap --mode=root --variant=apt --architectures="$arch" \
  --dpkgopt=force-confold --dpkgopt=force-confdef \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --essential-hook='mkdir -p "$1/boot/firmware" "$1/etc/default"' \
  --essential-hook='printf "ROOTPART=LABEL=cosmos-root\nCONSOLES=\"ttyS1,115200 tty0\"\n" > "$1/etc/default/raspi-firmware"' \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" sh -c 'dpkg -i /tmp/$(basename "$deb") && rm /tmp/$(basename "$deb")'" \
  --customize-hook='rm -f "$1/etc/cosmos/cosmosd.toml" "$1/etc/cosmos/ca.crt" "$1/etc/cosmos/ca.key"' \
  --customize-hook="upload $files/cosmos-firstboot /usr/local/sbin/cosmos-firstboot" \
  --customize-hook='chmod 755 "$1/usr/local/sbin/cosmos-firstboot"' \
  --customize-hook="upload $files/cosmos-firstboot.service /etc/systemd/system/cosmos-firstboot.service" \
  --customize-hook='chroot "$1" systemctl enable cosmos-firstboot.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service ssh.service' \
  --customize-hook='mkdir -p "$1/etc/systemd/journald.conf.d" "$1/var/log/journal" "$1/etc/systemd/network" "$1/etc/ssh/sshd_config.d"' \
  --customize-hook='mkdir -p "$1/etc/avahi/services" "$1/etc/systemd/resolved.conf.d" "$1/etc/systemd/system/apt-daily-upgrade.timer.d"' \
  --customize-hook="upload $files/cosmos.service /etc/avahi/services/cosmos.service" \
  --customize-hook="upload $files/resolved-cosmos.conf /etc/systemd/resolved.conf.d/cosmos.conf" \
  --customize-hook="upload $files/20auto-upgrades /etc/apt/apt.conf.d/20auto-upgrades" \
  --customize-hook="upload $files/52cosmos-unattended /etc/apt/apt.conf.d/52cosmos-unattended" \
  --customize-hook="upload $files/apt-daily-upgrade-cosmos.conf /etc/systemd/system/apt-daily-upgrade.timer.d/cosmos.conf" \
  --customize-hook='chroot "$1" systemctl enable avahi-daemon.service apt-daily.timer apt-daily-upgrade.timer' \
  --customize-hook="upload $files/journald-cosmos.conf /etc/systemd/journald.conf.d/cosmos.conf" \
  --customize-hook="upload $files/20-wired.network /etc/systemd/network/20-wired.network" \
  --customize-hook="upload $files/sshd-cosmos.conf /etc/ssh/sshd_config.d/cosmos.conf" \
  --customize-hook='echo cosmos > "$1/etc/hostname"; printf "127.0.0.1 localhost\n127.0.1.1 cosmos\n" > "$1/etc/hosts"' \
  --customize-hook='printf "LABEL=cosmos-root / ext4 defaults,noatime,commit=30 0 1\nLABEL=COSMOS-BOOT /boot/firmware vfat defaults,umask=0077,nofail 0 2\n" > "$1/etc/fstab"' \
  --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo,systemd-journal,cosmos technician' \
  --customize-hook='chroot "$1" passwd --lock root' \
  --customize-hook='echo "technician ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/technician"; chmod 0440 "$1/etc/sudoers.d/technician"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*; : > "$1/etc/machine-id"' \
  "$suite" "$rootfs" "$sources"

if [[ -n $keys ]]; then
  install -d -m 0700 "$rootfs/home/technician/.ssh"
  install -m 0600 "$keys" "$rootfs/home/technician/.ssh/authorized_keys"
  chroot "$rootfs" chown -R technician:technician /home/technician/.ssh
fi

# The boot partition's content comes out of the root filesystem.
bootdir=$out/boot-$arch
rm -rf "$bootdir"; mkdir -p "$bootdir"
# The kernel and initrd also go beside the image, for QEMU's direct kernel boot.
cp "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)" "$out/cosmos-$arch.vmlinuz"
cp "$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -1)" "$out/cosmos-$arch.initrd"
if [[ $arch == amd64 ]]; then
  echo "This box boots through QEMU's direct kernel boot: see image-build/test-qemu.sh." >"$bootdir/README.txt"
else
  cp -a "$rootfs/boot/firmware/." "$bootdir/"
fi
cat >>"$bootdir/README.txt" <<'EOF'
COSMOS box. Before the first boot you may put here:
  cosmosd.toml     - the venue's config (checked, moved to /etc/cosmos, removed from here)
  authorized_keys  - SSH public keys for the user "technician"
Without cosmosd.toml the box writes one with new PINs: ssh in and
  sudo cat /etc/cosmos/cosmosd.toml
EOF
find "$rootfs/boot/firmware" -mindepth 1 -delete

# Partitions as files (no loop devices): FAT32 boot (256 MiB) + ext4 root.
boot_mib=256
total_mib=$(numfmt --from=iec "$size" | awk '{print int($1/1048576)}')
root_mib=$((total_mib - boot_mib - 2))
img=$out/cosmos-$arch.img
rm -f "$img" "$out/boot.part" "$out/root.part"
mkfs.vfat -F 32 -n COSMOS-BOOT -C "$out/boot.part" $((boot_mib * 1024)) >/dev/null
mcopy -s -i "$out/boot.part" "$bootdir"/* ::
mke2fs -q -t ext4 -L cosmos-root -d "$rootfs" "$out/root.part" "${root_mib}M"
truncate -s "${total_mib}M" "$img"
sfdisk -q "$img" <<EOF
label: dos
start=1MiB, size=${boot_mib}MiB, type=c, bootable
start=$((1 + boot_mib))MiB, size=${root_mib}MiB, type=83
EOF
dd if="$out/boot.part" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$out/root.part" of="$img" bs=1M seek=$((1 + boot_mib)) conv=notrunc,sparse status=none
rm -f "$out/boot.part" "$out/root.part"
unmount_under "$rootfs"
rm -rf --one-file-system "$rootfs" "$bootdir"
echo "$img"
