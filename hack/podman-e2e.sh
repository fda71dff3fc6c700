#!/usr/bin/env bash
# podman drives tong (--runtime) end to end.
# A private podman: its own --root/--runroot/--tmpdir and containers.conf in a
# temp dir, the cgroupfs manager, an image loaded from the archive that
# hack/mkimage.py builds from busybox-static (no registry).
#   RUNTIME=/usr/sbin/runc hack/podman-e2e.sh   proves the script on runc.
#   SYSTEMD_CGROUP=1 hack/podman-e2e.sh   the systemd cgroup manager: podman
#     passes --systemd-cgroup and cgroupsPath machine.slice:libpod:<id>; only
#     the steps about cgroups and the container's life cycle run, plus the
#     scope's checks (needs systemd as PID 1, cgroup v2: the VM test bed).
# Prints PASS/FAIL/SKIP per step and "N passed, M failed, K skipped"; exits
# non-zero on failure. /sys/fs/cgroup is left as it was (e2e-common.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
e2e_prepare podman
# podman's cgroupfs manager puts its containers and conmon under libpod_parent.
e2e_cgroups_snapshot libpod_parent
work=$(mktemp -d /tmp/tong-podman.XXXXXX)
# podman also keeps a blob cache and netavark a run dir in fixed places, and
# calls a custom runtime without --root (so tong keeps its state, and its
# seccomp cache, in its default /run/tong): removed at the end when this
# script created them.
ours=(); for p in /var/lib/containers /run/containers /run/tong; do [ -e "$p" ] || ours+=("$p"); done
# Root here lacks CAP_SYS_RESOURCE: podman's default nofile/nproc limits for
# root (1048576) exceed the host's hard limits, so both are set lower.
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
events_logger = "file"
cgroup_manager = "$([ -n "${SYSTEMD_CGROUP:-}" ] && echo systemd || echo cgroupfs)"
[network]
network_config_dir = "$work/networks"
CONF
export CONTAINERS_CONF=$work/containers.conf
P="podman --root $work/root --runroot $work/runroot --tmpdir $work/tmp --storage-driver overlay --runtime $RUNTIME"
cleanup() {
  $P rm -af -t 0 >/dev/null 2>&1
  $P system reset -f >/dev/null 2>&1
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work" "${ours[@]}"
  true
}
e2e_on_exit cleanup
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
check "load a locally built image" $P load -i "$work/busybox.tar"
R="--network none"
sd=${SYSTEMD_CGROUP:-}
if [ -n "$sd" ] && host_lacks_systemd_v2; then
  skip "systemd cgroup manager" "$why"
  summary; exit
fi

check "run to exit" bash -c "[ \"\$($P run --rm $R $img echo hello)\" = hello ]"
if [ -z "$sd" ]; then
  check "exit status propagated" bash -c "$P run --rm $R $img sh -c 'exit 7'; [ \$? -eq 7 ]"
  check "missing binary is 127" bash -c "$P run --rm $R $img /no/such/binary; [ \$? -eq 127 ]"
  check "env, cwd and user" bash -c "[ \"\$($P run --rm $R -e FOO=bar -w /tmp -u 1000:1000 $img sh -c 'echo \$FOO \$(pwd) \$(id -u):\$(id -g)')\" = 'bar /tmp 1000:1000' ]"
  check "network none: only lo" bash -c "[ \"\$($P run --rm $R $img ls /sys/class/net)\" = lo ]"
  # On an AppArmor host podman loads its default profile and passes it in
  # process.apparmorProfile: tong must apply it.
  if host_lacks apparmor; then
    skip "podman's default AppArmor profile" "$why"
  else
    check "podman's default AppArmor profile confines the process" bash -c "$P run --rm $R $img cat /proc/self/attr/current | grep -q '^containers-default-.* (enforce)'"
  fi
  check "read-only rootfs" bash -c "$P run --rm $R --read-only $img sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
  check "tty" bash -c "script -qec \"$P run --rm -t $R $img tty\" /dev/null | grep -q /dev/pts/"
fi
check "detached container with a memory limit" $P run -d --name d1 $R --memory 64m $img sleep 1000
if [ -n "$sd" ]; then
  cid=$($P container inspect -f '{{.Id}}' d1 2>/dev/null)
  unit=libpod-$cid.scope
  # The init, an exec'd process (from the host's view: inside it may be
  # a cgroup namespace's root) are in the scope.
  check "init in the scope" bash -c "pid=\$($P container inspect -f '{{.State.Pid}}' d1); grep -qx '0::/machine.slice/$unit' /proc/\$pid/cgroup"
  check "exec in the scope" bash -c "$P exec d1 sh -c 'cat /proc/\$\$/cgroup' | grep -Eqx '0::/(machine.slice/$unit)?' && $P exec -d d1 sleep 999 && ps=\$(pgrep -x -f 'sleep 999') && for p in \$ps; do grep -qx '0::/machine.slice/$unit' /proc/\$p/cgroup || exit 1; done"
  check "systemctl: the scope is active, delegated, with MemoryMax" bash -c "[ \"\$(systemctl show -p ActiveState -p Delegate -p MemoryMax $unit | sort | tr '\n' ' ')\" = 'ActiveState=active Delegate=yes MemoryMax=67108864 ' ]"
  check "memory limit in the scope's cgroup" grep -qx 67108864 /sys/fs/cgroup/machine.slice/$unit/memory.max
fi
[ -z "$sd" ] && check "memory limit in the container's cgroup" bash -c "cid=\$($P container inspect -f '{{.Id}}' d1); grep -rqx 67108864 /sys/fs/cgroup/memory/libpod_parent/libpod-\$cid/memory.limit_in_bytes /sys/fs/cgroup/libpod_parent/libpod-\$cid/memory.max"
check "memory limit visible inside" bash -c "$P exec d1 sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null' | grep -qx 67108864"
check "ps shows it running" bash -c "$P ps --format '{{.Names}} {{.Status}}' | grep -q '^d1 Up'"
check "exec" bash -c "[ \"\$($P exec d1 sh -c 'echo in-exec')\" = in-exec ]"
check "exec status" bash -c "$P exec d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
[ -z "$sd" ] && check "exec -t" bash -c "script -qec \"$P exec -t d1 tty\" /dev/null | grep -q /dev/pts/"
check "exec sees init's pid namespace" bash -c "$P exec d1 ps -o pid,args | grep -q '^ *1 sleep 1000'"
check "pause" bash -c "$P pause d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = paused ]"
check "unpause" bash -c "$P unpause d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = running ]"
check "stop" bash -c "$P stop -t 1 d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = exited ]"
check "start again" bash -c "$P start d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = running ]"
# podman before 4 (Debian 11's 3.0) has no rm --time.
rm_t=; $P rm --help 2>/dev/null | grep -q -- '--time' && rm_t="-t 0"
check "rm -f" bash -c "$P rm -f $rm_t d1 && ! $P container exists d1"
if [ -n "$sd" ]; then
  check "no unit and no cgroup left after rm" bash -c "[ -z \"\$(systemctl list-units --all --no-legend --plain $unit libpod-conmon-$cid.scope)\" ] && [ ! -e /sys/fs/cgroup/machine.slice/$unit ]"
fi

summary
