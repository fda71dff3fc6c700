#!/usr/bin/env bash
# containerd drives tong through the io.containerd.runc.v2 shim.
# A private containerd (own config, root, state and socket in a temp dir),
# a busybox image built locally (hack/mkimage.py), ctr as the client.
#   RUNTIME=/usr/sbin/runc hack/containerd-e2e.sh   proves the script on runc.
# Prints PASS/FAIL per step and "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
e2e_prepare containerd
work=$(mktemp -d /tmp/tong-ctrd.XXXXXX)
sock=$work/containerd.sock
cleanup() {
  for t in $(ctr -a "$sock" task ls -q 2>/dev/null); do ctr -a "$sock" task kill -s KILL "$t" >/dev/null 2>&1; ctr -a "$sock" task delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$sock" container ls -q 2>/dev/null); do ctr -a "$sock" container delete "$c" >/dev/null 2>&1; done
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work"
  # The "default" namespace's parent cgroups, if nothing else uses them.
  for d in /sys/fs/cgroup/*/default /sys/fs/cgroup/default; do rmdir "$d" 2>/dev/null; done
  true
}
trap cleanup EXIT
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
TOML
containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
C="ctr -a $sock"
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
check "import a locally built image" $C image import --base-name localhost/tong-busybox "$work/busybox.tar"
R="--runc-binary $RUNTIME"

check "run to exit, status propagated" bash -c "$C run --rm $R $img e1 sh -c 'exit 7'; [ \$? -eq 7 ]"
# ctr 1.6 has no --user flag: env and cwd only.
check "env and cwd" bash -c "[ \"\$($C run --rm $R --env FOO=bar --cwd /tmp $img e2 sh -c 'echo \$FOO \$(pwd)')\" = 'bar /tmp' ]"
check "read-only rootfs" bash -c "$C run --rm $R --read-only $img e3 sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
# ctr's default spec mounts no cgroupfs inside, so the limit is read where the
# shim reads it: the container's cgroup, through `task metrics`.
# (ctr 1.6 names it memory.limit_in_bytes on cgroup v1, memory.usage_limit on v2)
check "detached task with a memory limit" $C run -d $R --memory-limit 67108864 $img d1 sleep 1000
check "memory limit in the container's cgroup" bash -c "$C task metrics d1 | grep -E 'memory.limit_in_bytes|memory.max|memory.usage_limit' | grep -q 67108864"
check "task exec" bash -c "[ \"\$($C task exec --exec-id x1 d1 sh -c 'echo in-exec; exit 0')\" = in-exec ]"
check "task exec status" bash -c "$C task exec --exec-id x2 d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
check "task ps" bash -c "$C task ps d1 | awk 'NR>1' | grep -q ."
check "pause" bash -c "$C task pause d1 && $C task ls | grep -q 'd1.*PAUSED'"
check "resume" bash -c "$C task resume d1 && $C task ls | grep -q 'd1.*RUNNING'"
check "metrics from the shim" bash -c "$C task metrics d1 | grep -q memory"
check "kill" bash -c "$C task kill -s KILL d1 && for i in \$(seq 50); do $C task ls | grep -q 'd1.*STOPPED' && exit 0; sleep 0.1; done; exit 1"
check "delete" bash -c "$C task delete d1 && $C container delete d1"
# ctr 1.6 can lose a tty's output when the process exits before its console
# copy starts (runc and tong alike): up to three tries.
check "tty" bash -c "for i in 1 2 3; do script -qec \"$C run --rm -t $R $img t1 sh -c 'tty'\" /dev/null | grep -q /dev/pts/ && exit 0; done; exit 1"
# containerd 1.6's shim has no -info; what it would read is the features JSON.
check "features JSON" bash -c "$RUNTIME features | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"ociVersionMax\"]'"

summary
