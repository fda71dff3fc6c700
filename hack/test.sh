#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests
# (real containers, so run as root), the OCI conformance suite on runc (the
# oracle) and on tong, then the real engines (containerd, podman, dockerd)
# driving a static tong, rootful and rootless, then containerd's CRI as
# kubelet drives it, the short soak and crash loop (hack/soak.sh), the Debian
# package built, installed, used and removed (hack/package-test.sh); then the
# whole VM suite in a systemd + cgroup v2 + AppArmor Debian 13 guest and
# its core in Debian 12 and Debian 11 (hack/vm/test.sh; TONG_VM_DISTROS
# names others).
# Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
# The host's /dev as the suite found it: a test that binds it into a
# container must leave it as it was (a ptmx symlink there once cost every
# non-root user their terminals).
dev_before=$(ls -A /dev)
bash hack/deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every part ends with "N passed, M failed, K skipped"; the totals of the
# parts on tong (not the oracle runs on runc) are the last line. A skip is
# counted as skipped, never as passed.
total_p=0 total_f=0 total_s=0
tally() { # a part's log: adds its last "N passed, M failed, K skipped" (none: 1 failed)
  local p f s
  read -r p f s < <(awk '/^[0-9]+ passed, [0-9]+ failed/ { p = $1; f = $3; s = ($5 ~ /^[0-9]+$/) ? $5 : 0; seen = 1 }
    END { if (seen) print p, f, s; else print 0, 1, 0 }' "$1")
  total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
}
# libtest counts a test that reported "SKIP name: reason" (tests/common's
# skip) as passed: here it is counted as skipped.
log=$(mktemp)
rc=0; cargo test --workspace --locked 2>&1 | tee "$log" || rc=$?
awk '/^test result:/ { p += $4; f += $6 } /SKIP [A-Za-z0-9_:]+: / { k++ }
  END { printf "%d passed, %d failed, %d skipped\n", p - k, f, k }' "$log" > "$log.n"
echo "cargo test: $(cat "$log.n")"
tally "$log.n"
rm -f "$log" "$log.n"
[ "$rc" -eq 0 ] || exit "$rc"

# The guests' images (below) are built in the background while the host's
# engines run (mmdebstrap is mostly downloads and dpkg, ~90 s a guest):
# hack/vm/build.sh takes a lock a distro, so a guest's test.sh waits for
# its image, and builds it itself if the background build failed. Its tools
# are installed first, in the foreground, beside this script's own apt runs.
read -r -a guests <<< "${TONG_VM_DISTROS:-trixie bookworm bullseye}"
images=
if [ -z "${TONG_SKIP_VM:-}" ]; then
  bash hack/vm/build.sh --tools
  (for d in "${guests[@]}"; do VM_DISTRO=$d bash hack/vm/build.sh > /dev/null 2>&1 || true; done) &
  images=$!
fi
RUNTIME=$(bash hack/build-static.sh)
export RUNTIME
failed=()
dpkg -s runc >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
cargo build --locked -q -p conformance
for rt in /usr/sbin/runc "$RUNTIME"; do
  echo "== conformance: $rt"
  log=$(mktemp)
  if target/debug/conformance --runtime "$rt" --tong "$RUNTIME" > "$log"; then :; else failed+=("conformance on $rt"); fi
  grep -A1 '^not ok' "$log" || true
  tail -1 "$log"
  [ "$rt" = /usr/sbin/runc ] || tally "$log"
  rm -f "$log"
done
log=$(mktemp)
for engine in containerd podman docker; do
  echo "== $engine drives tong"
  bash "hack/$engine-e2e.sh" | tee "$log" || failed+=("$engine")
  tally "$log"
done
echo "== containerd's CRI (kubelet's path) drives tong, and runc alongside"
bash hack/cri-e2e.sh | tee "$log" || failed+=("cri")
tally "$log"
# Rootless podman and containerd (rootlesskit) as a test user: on runc
# first (the oracle proves the script), then on tong.
for rt in /usr/sbin/runc "$RUNTIME"; do
  echo "== rootless engines drive $rt"
  RUNTIME=$rt bash hack/rootless-e2e.sh | tee "$log" || failed+=("rootless on $rt")
  [ "$rt" = /usr/sbin/runc ] || tally "$log"
done
echo "== soak (short): lifecycles, SIGKILL at every stage, concurrency"
SOAK_SHORT=1 bash hack/soak.sh | tee "$log" || failed+=("soak")
tally "$log"
echo "== the Debian package: build, install with dpkg, man, completions, demo, remove"
bash hack/package-test.sh | tee "$log" || failed+=("package")
tally "$log"
# The same on modern hosts: VMs with systemd, cgroup v2 only and AppArmor
# (hack/vm/test.sh installs qemu and mmdebstrap and builds each image
# once). CI runs the full VM suite in Debian 13, today's Debian stable
# (its 6.12 guest once died under TCG on a live-patched jump in __schedule:
# the guest now holds perf_sched_events on, and a guest kernel that oopses
# panics and fails its part in seconds, never the part's whole timeout),
# then the core in Debian 12 and in Debian 11, the oldest kernel tong
# supports (5.10: no mount_setattr, no cpu.idle, no WAIT_KILLABLE_RECV):
# every integration file, the conformance suite, the engines with both
# cgroup drivers, checkpoint/restore where the guest has criu, rootless
# podman. TONG_VM_DISTROS names other guests ("trixie bullseye"), each
# with its own default suite (full in 13, core in 12 and 11).
# docs/hosts.md is regenerated from the guests' logs
# (hack/vm/hosts-table.sh). TONG_SKIP_VM=1 leaves them out.
if [ -z "${TONG_SKIP_VM:-}" ]; then
  for d in "${guests[@]}"; do
    echo "== VM $d: systemd + cgroup v2 + AppArmor"
    VM_DISTRO=$d bash hack/vm/test.sh | tee "$log" || failed+=("vm $d")
    tally "$log"
  done
  [ -z "$images" ] || wait "$images" || true
  bash hack/vm/hosts-table.sh
fi
echo "== the host's /dev is as the suite found it"
if [ -L /dev/ptmx ] || [ ! -c /dev/ptmx ]; then
  echo "host /dev/ptmx is no longer a character device: $(ls -l /dev/ptmx)"; failed+=("host /dev")
fi
if [ "$(ls -A /dev)" != "$dev_before" ]; then
  echo "host /dev changed:"; diff <(echo "$dev_before") <(ls -A /dev) || true; failed+=("host /dev")
fi
rm -f "$log"
echo "hack/test.sh (tong's parts; the runc oracle runs not counted): $total_p passed, $total_f failed, $total_s skipped"
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; exit 1; fi
