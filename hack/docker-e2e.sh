#!/usr/bin/env bash
# dockerd drives tong (--add-runtime) end to end.
# A private dockerd from Debian's docker.io: its own data-root, exec-root,
# socket and containerd namespace in a temp dir; no iptables, no bridge, no
# ip_forward change; containers use --network none. The image is loaded from
# the archive hack/mkimage.py builds from busybox-static (no registry).
# /usr/bin/docker is the client (it matches dockerd 20.10).
#   RUNTIME=/usr/sbin/runc hack/docker-e2e.sh   proves the script on runc.
#   SYSTEMD_CGROUP=1 hack/docker-e2e.sh   the systemd cgroup driver
#     (exec-opts native.cgroupdriver=systemd): the shim passes --systemd-cgroup
#     and cgroupsPath system.slice:docker:<id>; only the steps about cgroups
#     and the container's life cycle run, plus the scope's checks (needs
#     systemd as PID 1, cgroup v2: the VM test bed).
# Prints PASS/FAIL/SKIP per step and "N passed, M failed, K skipped"; exits
# non-zero on failure. /sys/fs/cgroup is left as it was (e2e-common.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
e2e_prepare docker.io
# dockerd's cgroupfs driver puts its containers under docker.
e2e_cgroups_snapshot docker
work=$(mktemp -d /tmp/tong-docker.XXXXXX)
D="/usr/bin/docker -H unix://$work/docker.sock"
cleanup() {
  $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1
  if [ -n "${dpid:-}" ]; then kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; fi
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work"
  true
}
e2e_on_exit cleanup
sd=${SYSTEMD_CGROUP:-}
if [ -n "$sd" ] && host_lacks_systemd_v2; then
  skip "systemd cgroup driver" "$why"
  summary; exit
fi
# Root here lacks CAP_SYS_RESOURCE: keep nofile within the host's hard limit.
cat > "$work/daemon.json" <<JSON
{"runtimes": {"e2e": {"path": "$RUNTIME"}},$([ -n "$sd" ] && echo '
 "exec-opts": ["native.cgroupdriver=systemd"],')
 "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}}}
JSON
dockerd --config-file "$work/daemon.json" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" --iptables=false --ip-masq=false \
  --ip-forward=false --bridge=none --containerd-namespace tong-e2e \
  --containerd-plugins-namespace tong-e2e-plugins > "$work/dockerd.log" 2>&1 &
dpid=$!
up=0
for _ in $(seq 150); do $D version >/dev/null 2>&1 && { up=1; break; }; kill -0 $dpid 2>/dev/null || break; sleep 0.2; done
if [ $up -eq 0 ]; then
  echo "FAIL dockerd did not start on this machine: $(tail -3 "$work/dockerd.log" | tr '\n' ' ')"
  fail=$((fail + 1)); summary; exit 1
fi
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
check "load a locally built image" $D load -i "$work/busybox.tar"
R="--runtime e2e --network none"

check "run to exit" bash -c "[ \"\$($D run --rm $R $img echo hello)\" = hello ]"
if [ -z "$sd" ]; then
  check "exit status propagated" bash -c "$D run --rm $R $img sh -c 'exit 7'; [ \$? -eq 7 ]"
  # dockerd maps the runtime's error words to these codes.
  check "missing binary is 127" bash -c "$D run --rm $R $img /no/such/binary; [ \$? -eq 127 ]"
  check "not executable is 126" bash -c "$D run --rm $R $img /etc/passwd; [ \$? -eq 126 ]"
  check "env, cwd and user" bash -c "[ \"\$($D run --rm $R -e FOO=bar -w /tmp -u 1000:1000 $img sh -c 'echo \$FOO \$(pwd) \$(id -u):\$(id -g)')\" = 'bar /tmp 1000:1000' ]"
  check "network none: only lo" bash -c "[ \"\$($D run --rm $R $img ls /sys/class/net)\" = lo ]"
  check "read-only rootfs" bash -c "$D run --rm $R --read-only $img sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
  check "tty" bash -c "script -qec \"$D run --rm -t $R $img tty\" /dev/null | grep -q /dev/pts/"
fi
check "detached container with a memory limit" $D run -d --name d1 $R --memory 64m $img sleep 1000
if [ -n "$sd" ]; then
  cid=$($D container inspect -f '{{.Id}}' d1 2>/dev/null)
  unit=docker-$cid.scope
  # The init and an exec'd process (seen from the host: inside, a cgroup
  # namespace may show its root) are in the scope.
  check "init in the scope" bash -c "pid=\$($D container inspect -f '{{.State.Pid}}' d1); grep -qx '0::/system.slice/$unit' /proc/\$pid/cgroup"
  check "exec in the scope" bash -c "$D exec d1 sh -c 'cat /proc/\$\$/cgroup' | grep -Eqx '0::/(system.slice/$unit)?' && $D exec -d d1 sleep 999 && ps=\$(pgrep -x -f 'sleep 999') && for p in \$ps; do grep -qx '0::/system.slice/$unit' /proc/\$p/cgroup || exit 1; done"
  check "systemctl: the scope is active, delegated, with MemoryMax" bash -c "[ \"\$(systemctl show -p ActiveState -p Delegate -p MemoryMax $unit | sort | tr '\n' ' ')\" = 'ActiveState=active Delegate=yes MemoryMax=67108864 ' ]"
  check "memory limit in the scope's cgroup" grep -qx 67108864 /sys/fs/cgroup/system.slice/$unit/memory.max
else
  # Found through the init's own cgroup: where docker puts it differs by
  # version (docker 26 on cgroup v2 does not use /docker/<id>).
  check "memory limit in the container's cgroup" bash -c "pid=\$($D container inspect -f '{{.State.Pid}}' d1); v2=\$(sed -n 's/^0:://p' /proc/\$pid/cgroup); v1=\$(sed -n 's/^[0-9]*:\\(.*,\\)*memory\\(,.*\\)*://p' /proc/\$pid/cgroup); grep -qsx 67108864 /sys/fs/cgroup\$v2/memory.max /sys/fs/cgroup/memory\$v1/memory.limit_in_bytes"
fi
check "ps shows it running" bash -c "$D ps --format '{{.Names}} {{.Status}}' | grep -q '^d1 Up'"
check "top lists its processes" bash -c "$D top d1 | grep -q 'sleep 1000'"
check "exec" bash -c "[ \"\$($D exec d1 sh -c 'echo in-exec')\" = in-exec ]"
check "exec status" bash -c "$D exec d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
[ -z "$sd" ] && check "exec -t" bash -c "script -qec \"$D exec -t d1 tty\" /dev/null | grep -q /dev/pts/"
[ -z "$sd" ] && check "exec of a missing binary fails" bash -c "! $D exec d1 /no/such/binary"
check "pause" bash -c "$D pause d1 && [ \"\$($D container inspect -f '{{.State.Status}}' d1)\" = paused ]"
check "unpause" bash -c "$D unpause d1 && [ \"\$($D container inspect -f '{{.State.Status}}' d1)\" = running ]"
check "stats from the container's cgroup" bash -c "$D stats --no-stream --format '{{.MemUsage}}' d1 | grep -q '64MiB'"
check "stop" bash -c "$D stop -t 1 d1 && [ \"\$($D container inspect -f '{{.State.Status}}' d1)\" = exited ]"
check "restart" bash -c "$D start d1 && [ \"\$($D container inspect -f '{{.State.Status}}' d1)\" = running ]"
check "rm -f" bash -c "$D rm -f d1 && ! $D container inspect -f '{{.State.Status}} {{.State.Error}}' d1"
if [ -n "$sd" ]; then
  check "no unit and no cgroup left after rm" bash -c "[ -z \"\$(systemctl list-units --all --no-legend --plain $unit)\" ] && [ ! -e /sys/fs/cgroup/system.slice/$unit ]"
fi

summary
