#!/usr/bin/env bash
# Builds what the test VM boots, once: Debian's 6.1 kernel (unpacked, not
# installed on the host), a static busybox initramfs that loads the virtio,
# ext4 and 9p modules, and an ext4 root image made by mmdebstrap with
# systemd, AppArmor and the container tools. Everything lands in
# target/vm/cache/KEY, KEY being a hash of this script and hack/vm/guest/, so
# a second run boots straight away and a changed recipe rebuilds.
# Prints the cache directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
key=$(cat "$here/build.sh" "$here"/guest/* | sha256sum | cut -c1-12)
out=$repo/target/vm/cache/$key
if [ -f "$out/done" ]; then echo "$out"; exit 0; fi
log() { echo "vm-build: $*" >&2; }

need=()
for p in mmdebstrap qemu-system-x86 busybox-static e2fsprogs cpio jq; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

rm -rf "$out"
tmp=$repo/target/vm/build.$$
rm -rf "$tmp"; mkdir -p "$tmp" "$out"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# Kernel: the version linux-image-amd64 points at today.
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { log "no linux-image-6.1 package found"; exit 1; }
kver=${kpkg#linux-image-}
log "kernel $kver"
(cd "$tmp" && apt-get download -q "$kpkg" 2>/dev/null >&2)
dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k"
cp "$tmp/k/boot/vmlinuz-$kver" "$out/vmlinuz"

# Initramfs: static busybox, the modules flat, and their load order.
ird=$tmp/initrd
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$here/guest/init" "$ird/init"
order="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4"
echo "$order" > "$ird/modules.order"
for m in $order; do
  f=$(find "$tmp/k/lib/modules/$kver" -name "$m.ko" | head -1)
  if [ -n "$f" ]; then cp "$f" "$ird/modules/"; fi
done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img"
log "kernel + initramfs: $((SECONDS - start)) s"

# Root filesystem. mmdebstrap minbase: Debian's own packages, the versions a
# Debian 12 host runs, no network needed in the guest afterwards.
pkgs=systemd-sysv,udev,dbus,kmod,apparmor,apparmor-utils,runc,crun,containerd,podman,criu
pkgs+=,jq,iproute2,procps,busybox-static,libseccomp2,libseccomp-dev,pkg-config,python3
pkgs+=,conmon,netavark,aardvark-dns,uidmap,bsdutils,util-linux,ca-certificates,iptables
# docker.io: hack/docker-e2e.sh (its systemd cgroup driver mode); the CNI
# plugins: hack/cri-e2e.sh's pods.
pkgs+=,docker.io,containernetworking-plugins
# Rootless podman (hack/rootless-e2e.sh): slirp4netns networking, a user's
# systemd instance (logind linger) with its session bus, ACLs; rootlesskit
# for tong's own rootless tests. Kernel 6.1 mounts overlay in a user
# namespace, so no fuse-overlayfs.
pkgs+=,slirp4netns,rootlesskit,acl,dbus-user-session,libpam-systemd
root=$tmp/root
mmdebstrap --quiet --variant=minbase --include="$pkgs" \
  --aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
  bookworm "$root" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" >&2
log "mmdebstrap: $((SECONDS - start)) s"

# The kernel's modules (overlay, veth, netfilter, 9p, …), minus hardware the VM
# does not have.
mkdir -p "$root/lib/modules"
cp -a "$tmp/k/lib/modules/$kver" "$root/lib/modules/"
for d in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging \
  drivers/net/ethernet drivers/scsi drivers/usb drivers/hid drivers/bluetooth sound net/wireless \
  net/bluetooth net/mac80211; do
  rm -rf "$root/lib/modules/$kver/kernel/$d"
done
chroot "$root" depmod "$kver"
printf '9p\n9pnet_virtio\noverlay\n' > "$root/etc/modules-load.d/vm.conf"

# Guest set-up: the job runner, a hostname, no daemons the tests start
# privately themselves (containerd) and no timers that would compete for CPU.
install -m 0755 "$here/guest/vm-jobd" "$root/usr/local/sbin/vm-jobd"
install -m 0644 "$here/guest/vm-jobd.service" "$root/etc/systemd/system/vm-jobd.service"
ln -sf /etc/systemd/system/vm-jobd.service "$root/etc/systemd/system/multi-user.target.wants/vm-jobd.service"
echo tong-vm > "$root/etc/hostname"
: > "$root/etc/fstab"
for u in containerd.service docker.service docker.socket apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer podman-auto-update.timer podman-restart.service systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"

# The image: mkfs.ext4 -d copies the tree in; no loop device, no mount.
truncate -s 3G "$tmp/root.img"
mkfs.ext4 -q -F -L root -d "$root" "$tmp/root.img"
mv "$tmp/root.img" "$out/root.img"
echo "$kver" > "$out/kernel-version"
touch "$out/done"
# Images of older recipes are 1 GB each: keep only this one.
find "$repo/target/vm/cache" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
log "image ready in $((SECONDS - start)) s: $out"
echo "$out"
