#!/usr/bin/env bash
# containerd drives tong through the io.containerd.runc.v2 shim.
# A private containerd (own config, root, state and socket in a temp dir),
# a busybox image built locally (hack/mkimage.py), ctr as the client.
#   RUNTIME=/usr/sbin/runc hack/containerd-e2e.sh   proves the script on runc.
#   SYSTEMD_CGROUP=1 hack/containerd-e2e.sh   the systemd cgroup driver: the
#     shim gets SystemdCgroup (ctr --runc-systemd-cgroup) and passes
#     --systemd-cgroup with a ctr-style cgroupsPath system.slice:tonge2e:<id>;
#     only the steps about cgroups run, plus the scope's checks (needs
#     systemd as PID 1, cgroup v2: the VM test bed).
# Prints PASS/FAIL/SKIP per step and "N passed, M failed, K skipped"; exits
# non-zero on failure. /sys/fs/cgroup is left as it was (e2e-common.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
e2e_prepare containerd
# ctr's cgroups path is /<namespace>/<id>: the "default" namespace here.
e2e_cgroups_snapshot default
work=$(mktemp -d /tmp/tong-ctrd.XXXXXX)
sock=$work/containerd.sock
cleanup() {
  for t in $(ctr -a "$sock" task ls -q 2>/dev/null); do ctr -a "$sock" task kill -s SIGKILL "$t" >/dev/null 2>&1; ctr -a "$sock" task delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$sock" container ls -q 2>/dev/null); do ctr -a "$sock" container delete "$c" >/dev/null 2>&1; done
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work"
  true
}
e2e_on_exit cleanup
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
sd=${SYSTEMD_CGROUP:-}
# The cgroup flags of container $1.
cg() { if [ -n "$sd" ]; then echo "--runc-systemd-cgroup --cgroup system.slice:tonge2e:$1"; fi; }
if [ -n "$sd" ] && host_lacks_systemd_v2; then
  skip "systemd cgroup driver" "$why"
  summary; exit
fi

check "run to exit, status propagated" bash -c "$C run --rm $R $(cg e1) $img e1 sh -c 'exit 7'; [ \$? -eq 7 ]"
if [ -z "$sd" ]; then
  # ctr 1.6 has no --user flag: env and cwd only.
  check "env and cwd" bash -c "[ \"\$($C run --rm $R --env FOO=bar --cwd /tmp $img e2 sh -c 'echo \$FOO \$(pwd)')\" = 'bar /tmp' ]"
  check "read-only rootfs" bash -c "$C run --rm $R --read-only $img e3 sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
fi
# ctr's default spec mounts no cgroupfs inside, so the limit is read where the
# shim reads it: the container's cgroup, through `task metrics`.
# (ctr 1.6 names it memory.limit_in_bytes on cgroup v1, memory.usage_limit on v2)
check "detached task with a memory limit" $C run -d $R $(cg d1) --memory-limit 67108864 $img d1 sleep 1000
check "memory limit in the container's cgroup" bash -c "$C task metrics d1 | grep -E 'memory.limit_in_bytes|memory.max|memory.usage_limit' | grep -q 67108864"
check "task exec" bash -c "[ \"\$($C task exec --exec-id x1 d1 sh -c 'echo in-exec; exit 0')\" = in-exec ]"
check "task exec status" bash -c "$C task exec --exec-id x2 d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
if [ -n "$sd" ]; then
  # The init and an exec'd process (seen from the host: inside, a cgroup
  # namespace may show its root) are in the scope; systemd runs it with
  # Delegate=yes and the limit as MemoryMax; the limit is in its cgroup.
  unit=tonge2e-d1.scope
  check "init in the scope" bash -c "pid=\$($C task ls | awk '\$1 == \"d1\" {print \$2}'); grep -qx '0::/system.slice/$unit' /proc/\$pid/cgroup"
  check "exec in the scope" bash -c "$C task exec --exec-id x3 d1 cat /proc/self/cgroup | grep -Eqx '0::/(system.slice/$unit)?' && $C task exec -d --exec-id x4 d1 sleep 999 && ps=\$(pgrep -x -f 'sleep 999') && for p in \$ps; do grep -qx '0::/system.slice/$unit' /proc/\$p/cgroup || exit 1; done"
  check "systemctl: the scope is active, delegated, with MemoryMax" bash -c "[ \"\$(systemctl show -p ActiveState -p Delegate -p MemoryMax $unit | sort | tr '\n' ' ')\" = 'ActiveState=active Delegate=yes MemoryMax=67108864 ' ]"
  check "memory.max in the scope's cgroup" grep -qx 67108864 /sys/fs/cgroup/system.slice/$unit/memory.max
fi
check "task ps" bash -c "$C task ps d1 | awk 'NR>1' | grep -q ."
check "pause" bash -c "$C task pause d1 && $C task ls | grep -q 'd1.*PAUSED'"
check "resume" bash -c "$C task resume d1 && $C task ls | grep -q 'd1.*RUNNING'"
check "metrics from the shim" bash -c "$C task metrics d1 | grep -q memory"
check "kill" bash -c "$C task kill -s SIGKILL d1 && for i in \$(seq 50); do $C task ls | grep -q 'd1.*STOPPED' && exit 0; sleep 0.1; done; exit 1"
check "delete" bash -c "$C task delete d1 && $C container delete d1"
if [ -n "$sd" ]; then
  check "no unit and no cgroup left after delete" bash -c "[ -z \"\$(systemctl list-units --all --no-legend --plain $unit)\" ] && [ ! -e /sys/fs/cgroup/system.slice/$unit ]"
  check "no unit left by the --rm run" bash -c "[ -z \"\$(systemctl list-units --all --no-legend --plain tonge2e-e1.scope)\" ]"
  summary; exit
fi
# ctr 1.6 can lose a tty's output when the process exits before its console
# copy starts (runc and tong alike): up to three tries.
check "tty" bash -c "for i in 1 2 3; do script -qec \"$C run --rm -t $R $img t1 sh -c 'tty'\" /dev/null | grep -q /dev/pts/ && exit 0; done; exit 1"
# containerd 1.6's shim has no -info; what it would read is the features JSON.
check "features JSON" bash -c "$RUNTIME features | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"ociVersionMax\"]'"

summary
