#!/usr/bin/env bash
# Builds what a test VM boots, once: a Debian root made by mmdebstrap from the
# suite VM_DISTRO names (trixie, the default, is Debian 13; bookworm 12;
# bullseye 11) with systemd, AppArmor, that suite's container engines and its
# own kernel (linux-image-amd64 of that suite), a static busybox initramfs
# that loads the kernel's virtio, ext4 and 9p modules in dependency order
# (read from the kernel's modules.dep: the modules and their names differ
# between 5.10, 6.1 and 6.12, and 6.12 compresses them), and an ext4 image of
# the root. Everything lands in target/vm/DISTRO/cache/KEY, KEY being a hash
# of this script, hack/vm/guest/ and hack/vm/distros/DISTRO (the packages
# that suite adds), so a second run boots
# straight away, a changed recipe rebuilds, and the three guests never share
# a file. Prints the cache directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
distro=${VM_DISTRO:-trixie}
# The packages every suite has; hack/vm/distros/DISTRO adds what that suite
# has besides (and says why).
pkgs=systemd-sysv,udev,dbus,kmod,apparmor,apparmor-utils,runc,crun,containerd,podman,linux-image-amd64
pkgs+=,jq,iproute2,procps,busybox-static,libseccomp2,libseccomp-dev,pkg-config,python3
pkgs+=,conmon,uidmap,bsdutils,util-linux,ca-certificates,iptables
# docker.io: hack/docker-e2e.sh (its systemd cgroup driver mode); the CNI
# plugins: hack/cri-e2e.sh's pods.
pkgs+=,docker.io,containernetworking-plugins
# Rootless podman (hack/rootless-e2e.sh): slirp4netns networking, a user's
# systemd instance (logind linger) with its session bus, ACLs; rootlesskit
# for tong's own rootless tests.
pkgs+=,slirp4netns,rootlesskit,acl,dbus-user-session,libpam-systemd
list=$here/distros/$distro
[ -f "$list" ] || { echo "vm-build: VM_DISTRO=$distro: not one of $(ls "$here/distros" | tr '\n' ' ')" >&2; exit 2; }
pkgs+=,$(grep -v '^#' "$list" | tr -d ' \n')
key=$(cat "$here/build.sh" "$here"/guest/* "$list" | sha256sum | cut -c1-12)
base=$repo/target/vm/$distro
out=$base/cache/$key
log() { echo "vm-build[$distro]: $*" >&2; }
need=()
for p in mmdebstrap qemu-system-x86 busybox-static e2fsprogs cpio jq xz-utils zstd debian-archive-keyring; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# --tools: only the host's tools (hack/test.sh installs them before it
# builds images in the background, beside apt runs of its own).
[ "${1:-}" != --tools ] || exit 0
# One build a distro at a time: hack/test.sh builds the guests' images while
# the host's suite runs, and a guest's test.sh waits here for its image.
mkdir -p "$base"
exec 8> "$base/build.lock"
flock 8
if [ -f "$out/done" ]; then echo "$out"; exit 0; fi

rm -rf "$out"
tmp=$base/build.$$
rm -rf "$tmp"; mkdir -p "$tmp" "$out"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# Root filesystem. mmdebstrap minbase: Debian's own packages, the versions a
# host of that release runs, no network needed in the guest afterwards.
root=$tmp/root
kr=/usr/share/keyrings/debian-archive-keyring.gpg
sec="$distro-security"
mmdebstrap --quiet --variant=minbase --include="$pkgs" \
  --aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
  "$distro" "$root" \
  "deb [signed-by=$kr] http://deb.debian.org/debian $distro main" \
  "deb [signed-by=$kr] http://deb.debian.org/debian $distro-updates main" \
  "deb [signed-by=$kr] http://deb.debian.org/debian-security $sec main" >&2
log "mmdebstrap: $((SECONDS - start)) s"

# The suite's kernel, as installed in the root.
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
[ -n "$kver" ] && [ -f "$root/boot/vmlinuz-$kver" ] || { log "no kernel in the root"; exit 1; }
log "kernel $kver"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
rm -f "$root"/boot/initrd.img* # Debian's own initramfs: unused (ours is below)
# Modules (overlay, veth, netfilter, 9p, …) minus hardware the VM does not have.
for d in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging \
  drivers/net/ethernet drivers/scsi drivers/usb drivers/hid drivers/bluetooth sound net/wireless \
  net/bluetooth net/mac80211; do
  rm -rf "$root/lib/modules/$kver/kernel/$d"
done
chroot "$root" depmod "$kver"
printf '9p\n9pnet_virtio\noverlay\n' > "$root/etc/modules-load.d/vm.conf"

# Initramfs: static busybox, the modules flat (uncompressed: busybox insmod
# reads plain .ko), and their load order: each module after what it depends
# on (modules.dep), e.g. virtio_ring before virtio, or /dev/vda never appears.
mdir=$root/lib/modules/$kver
ird=$tmp/initrd
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$here/guest/init" "$ird/init"
declare -A seen=()
order=()
add_mod() { # a module path relative to $mdir, after its dependencies
  local p=$1 line d
  [ -n "${seen[$p]:-}" ] && return 0
  seen[$p]=1
  line=$(grep -m1 "^$p:" "$mdir/modules.dep" || true)
  for d in ${line#*:}; do add_mod "$d"; done
  order+=("$p")
}
# crc32c_generic: jbd2 and ext4 ask for crc32c through the crypto API (a
# soft dependency modules.dep does not list).
for m in virtio_pci virtio_blk crc32c_generic ext4; do
  p=$(grep -m1 -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | cut -d: -f1 || true)
  if [ -n "$p" ]; then add_mod "$p"
  elif grep -qE "(^|/)$m\.ko" "$mdir/modules.builtin"; then log "$m is built in"
  else log "no module $m in $kver"; exit 1; fi
done
: > "$ird/modules.order"
for p in "${order[@]}"; do
  n=$(basename "$p"); n=${n%.xz}; n=${n%.zst}; n=${n%.gz}
  case $p in
    *.xz) xz -dc "$mdir/$p" > "$ird/modules/$n" ;;
    *.zst) zstd -qdc "$mdir/$p" > "$ird/modules/$n" ;;
    *.gz) gzip -dc "$mdir/$p" > "$ird/modules/$n" ;;
    *) cp "$mdir/$p" "$ird/modules/$n" ;;
  esac
  echo "${n%.ko}" >> "$ird/modules.order"
done
log "initramfs modules: $(tr '\n' ' ' < "$ird/modules.order")"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img"

# Guest set-up: the job runner, a hostname, no daemons the tests start
# privately themselves (containerd) and no timers that would compete for CPU.
install -m 0755 "$here/guest/vm-jobd" "$root/usr/local/sbin/vm-jobd"
install -m 0644 "$here/guest/vm-jobd.service" "$root/etc/systemd/system/vm-jobd.service"
ln -sf /etc/systemd/system/vm-jobd.service "$root/etc/systemd/system/multi-user.target.wants/vm-jobd.service"
echo tong-vm > "$root/etc/hostname"
: > "$root/etc/fstab"
for u in containerd.service docker.service docker.socket apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer podman-auto-update.timer podman-restart.service systemd-networkd-wait-online.service \
  podman-clean-transient.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
# What the guest runs, for docs/hosts.md (hack/vm/hosts-table.sh).
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' systemd containerd podman docker.io runc crun \
  criu buildah apparmor 2>/dev/null > "$out/versions" || true
echo "kernel $kver" >> "$out/versions"
echo "debian $(cat "$root/etc/debian_version")" >> "$out/versions"

# The image: mkfs.ext4 -d copies the tree in; no loop device, no mount.
truncate -s 3G "$tmp/root.img"
mkfs.ext4 -q -F -L root -d "$root" "$tmp/root.img"
mv "$tmp/root.img" "$out/root.img"
echo "$kver" > "$out/kernel-version"
touch "$out/done"
# Images of older recipes are 1 GB each: keep only this one (of this distro).
find "$base/cache" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
log "image ready in $((SECONDS - start)) s: $out"
echo "$out"
