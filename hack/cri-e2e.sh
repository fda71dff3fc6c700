#!/usr/bin/env bash
# Kubernetes' path to tong: a CRI client (cri-e2e/, doing what kubelet does)
# -> containerd's CRI plugin -> the io.containerd.runc.v2 shim -> the runtime
# of a RuntimeClass handler. A private containerd (Debian's 1.6; own config,
# root, state, socket and runtime roots in a temp dir) with two handlers:
# `tong` (BinaryName = a wrapper logging every call, then exec'ing $RUNTIME)
# and `runc` (/usr/sbin/runc, through the same kind of wrapper). The pause
# image is built here from hack/pause/pause.c, busybox from busybox-static.
#
# containerd runs in a network namespace of its own (the "node"): the CNI
# bridge, its veths and host-local IPAM live there, so nothing changes in the
# host's network namespace (no links, no iptables, no ip_forward); host-network
# pods join that node namespace. Its processes (shims included) and the pods'
# cgroups live under one parent cgroup, tong-cri-e2e-$$, removed at the end.
#
#   hack/cri-e2e.sh                          tong and runc handlers
#   RUNTIME=/usr/sbin/runc hack/cri-e2e.sh   proves the script: both on runc
#   CRI_BENCH=N hack/cri-e2e.sh              pod start latency only, N pods
#   HANDLERS="tong" hack/cri-e2e.sh          one handler
#   SYSTEMD_CGROUP=1 hack/cri-e2e.sh         the systemd cgroup driver:
#     SystemdCgroup = true in the handlers' runtime options, pods in
#     kubelet-style slices (kubepods-besteffort-pod<uid>.slice); only the
#     client's systemd checks run, and the `systemctl show` of tong's app
#     scope is compared with runc's (needs systemd as PID 1, cgroup v2: the
#     VM test bed).
#   CRI_CLIENT=path CRI_PAUSE=path           a prebuilt client and static pause
#     (where there is no cargo or gcc: the VM); RUNTIME must be given then.
# Prints PASS/FAIL/SKIP per check and "N passed, M failed, K skipped"; exits
# non-zero on failure. The runtime calls the shim made are listed at the end.
# /sys/fs/cgroup is left as it was (e2e-common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
need=()
for p in containerd containernetworking-plugins runc iproute2; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
[ -n "${CRI_CLIENT:-}" ] || dpkg -s protobuf-compiler >/dev/null 2>&1 || need+=(protobuf-compiler)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -n "${CRI_CLIENT:-}" ]; then
  client=$CRI_CLIENT
else
  bash hack/deps.sh
  if [ -z "${RUNTIME:-}" ]; then RUNTIME=$(bash hack/build-static.sh); fi
  cargo build --locked -q -p cri-e2e
  client=$PWD/target/debug/cri-e2e
fi
HANDLERS=${HANDLERS:-tong runc}
sd=${SYSTEMD_CGROUP:-}
if [ -n "$sd" ] && host_lacks_systemd_v2; then
  skip "systemd cgroup driver" "$why"
  summary; exit
fi
# The daemon's cgroups: one per v1 controller, or the one of cgroup v2.
if cgroup_v2_only; then ctl_dirs=(/sys/fs/cgroup); else ctl_dirs=(/sys/fs/cgroup/{pids,memory,cpu}); fi

work=$(mktemp -d /tmp/tong-cri.XXXXXX)
# Searchable, as /run/containerd is: a user-namespaced pod's root (the
# pod's first host id) walks this path to its rootfs.
chmod 0711 "$work"
sock=$work/containerd.sock
cg=tong-cri-e2e-$$
# The daemon, its shims and the pods are all below $cg.
e2e_cgroups_snapshot "$cg"
netns_before=$(ls /var/run/netns 2>/dev/null || true)
# systemd mode: the kubelet-level parent slices systemd makes for the pod
# slices, stopped at the end unless they were there before.
made_slices=()
if [ -n "${SYSTEMD_CGROUP:-}" ]; then
  for u in kubepods-besteffort.slice kubepods.slice; do
    systemctl -q is-active "$u" || made_slices+=("$u")
  done
fi
# Directories containerd's CRI (netns mounts) and libcni (its result cache)
# make on the host: removed again if they did not exist and are left empty.
made_dirs=()
for d in /var/run/netns /var/lib/cni/results /var/lib/cni; do [ -e "$d" ] || made_dirs+=("$d"); done
cpid=
cleanup() {
  set +e
  if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
    for h in $HANDLERS; do
      "$client" --socket "$sock" --handler "$h" --cgroup-parent "/$cg/pods" --runtime-root "$work/runtime/$h/k8s.io" \
        --node-netns - --logs "$work/logs" --cleanup 1 2>/dev/null
      break
    done
    kill "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
  fi
  # Whatever is left in our cgroups (shims, containers of an interrupted run)
  # was started by this script.
  for _ in 1 2 3; do
    pids=$(find "${ctl_dirs[0]}/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null
    sleep 0.2
  done
  for n in $(ls /var/run/netns 2>/dev/null); do
    case "$n" in cni-*) ;; *) continue ;; esac
    echo "$netns_before" | grep -qx "$n" && continue
    umount "/var/run/netns/$n" 2>/dev/null && rm -f "/var/run/netns/$n"
  done
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work"
  for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null; done
  for u in "${made_slices[@]}"; do systemctl stop "$u" 2>/dev/null; done
  true
}
e2e_on_exit cleanup

mkdir -p "$work/cni" "$work/logs" "$work/runtime"
for h in $HANDLERS; do
  bin=$RUNTIME
  [ "$h" = runc ] && bin=/usr/sbin/runc
  printf '#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' "$work/calls-$h.log" "$bin" > "$work/$h-logged"
  chmod +x "$work/$h-logged"
done
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/tong-pause:latest"
  # root here lacks CAP_SYS_RESOURCE: no oom_score_adj below our own
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "${HANDLERS%% *}"
$(for h in $HANDLERS; do cat <<H
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$h]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$h.options]
        BinaryName = "$work/$h-logged"
        Root = "$work/runtime/$h"
        SystemdCgroup = $([ -n "$sd" ] && echo true || echo false)
H
done)
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/cni"
TOML
# A bridge with host-local IPAM, inside the node namespace; no gateway, no
# masquerade (so no ip_forward, no iptables even there).
cat > "$work/cni/10-tong-cri.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "tong-cri-e2e", "plugins": [
  {"type": "bridge", "bridge": "tongcri0", "isGateway": false, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$work/ipam", "ranges": [[{"subnet": "10.244.77.0/24"}]]}}]}
JSON

for d in "${ctl_dirs[@]}"; do mkdir -p "$d/$cg/daemon"; done
(
  for d in "${ctl_dirs[@]}"; do echo "$BASHPID" > "$d/$cg/daemon/cgroup.procs"; done
  exec unshare --net sh -c 'ip link set lo up && exec containerd --config "$1"' sh "$work/config.toml"
) > "$work/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
node_netns=$(readlink "/proc/$cpid/ns/net")

check "containerd with the CRI plugin is up" test -S "$sock"
if [ -n "${CRI_PAUSE:-}" ]; then cp "$CRI_PAUSE" "$work/pause"; else gcc -static -Os -s -o "$work/pause" hack/pause/pause.c; fi
python3 hack/mkimage.py --pause "$work/pause" "$work/pause.tar" localhost/tong-pause:latest >/dev/null
python3 hack/mkimage.py "$work/busybox.tar" localhost/tong-busybox:latest >/dev/null
C="ctr -a $sock -n k8s.io"
check "pause image (our static pause) imported into k8s.io" $C image import --base-name localhost/tong-pause "$work/pause.tar"
check "busybox image imported into k8s.io" $C image import --base-name localhost/tong-busybox "$work/busybox.tar"

run_client() { # handler, extra args
  local h=$1; shift
  "$client" --socket "$sock" --handler "$h" --cgroup-parent "/$cg/pods" --runtime-root "$work/runtime/$h/k8s.io" \
    --node-netns "$node_netns" --logs "$work/logs" "$@"
}

if [ -n "${CRI_BENCH:-}" ]; then
  # Interleaved rounds so that both handlers see the same machine load.
  for _ in $(seq "$CRI_BENCH"); do
    for h in $HANDLERS; do run_client "$h" --bench 1 | sed -n 's/^pod-start \([^:]*\): .* min \([0-9.]*\) ms.*/\1 \2/p'; done
  done > "$work/bench"
  for h in $HANDLERS; do
    awk -v h="$h" '$1 == h {print $2}' "$work/bench" | sort -n | awk -v h="$h" '{a[NR] = $1}
      END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
           printf "pod start (RunPodSandbox -> 2 containers running), %s: median %.1f ms, min %.1f, max %.1f (n=%d)\n", h, m, a[1], a[NR], NR}'
  done
  exit 0
fi

for h in $HANDLERS; do
  echo "== CRI handler $h ($( [ "$h" = runc ] && echo /usr/sbin/runc || echo "$RUNTIME"))"
  out=$(run_client "$h" ${sd:+--systemd 1} || true)
  echo "$out" | grep -v '^[0-9]* passed, [0-9]* failed, [0-9]* skipped$'
  pass=$((pass + $(echo "$out" | grep -c '^PASS' || true)))
  fail=$((fail + $(echo "$out" | grep -c '^FAIL' || true)))
  skipped=$((skipped + $(echo "$out" | grep -c '^SKIP' || true)))
  echo "$out" | grep -q '^[0-9]* passed, [0-9]* failed, [0-9]* skipped$' || { echo "FAIL $h: the CRI client did not finish"; fail=$((fail + 1)); }
done

# Side by side: what an app container's init and an ExecSync in it see
# (capabilities, seccomp, limits, mounts, devices, env, cgroups) with tong
# and with runc, ids and numbers that differ by nature normalized away.
# Known, deliberate differences are normalized too: tong makes the tmpfs at
# /sys/fs/cgroup read-only as the spec's options say (runc leaves it rw),
# binds the container's own cgroup2 directory at /sys/fs/cgroup/unified on a
# hybrid host (runc leaves it out), and masks files with the host's /dev/null
# opened by the runtime (runc binds the container's): mount order and those
# mounts' sources differ, not what the container can reach.
normalize() {
  sed -E -e 's/[0-9a-f]{64}/ID/g' -e 's/probe-(tong|runc)-[0-9]+/POD/g' \
    -e 's|/snapshots/[0-9]+/|/snapshots/N/|g' -e 's#runtime/(tong|runc)/#runtime/H/#g' \
    -e 's#^/sys/fs/cgroup (ro|rw),#/sys/fs/cgroup r?,#' -e '\#^/sys/fs/cgroup/unified #d' \
    -e 's#^(/proc/[a-z_]+) rw,[a-z,]+ (tmpfs tmpfs|devtmpfs devtmpfs) rw,size=.*#\1 masked with /dev/null#' |
    awk '/^## mounts/ {m = 1; print; next} /^##/ {if (m) {close("sort"); m = 0}} m {print | "sort"; next} {print}'
}
# systemd mode: the app container's scope as systemd shows it, tong's next
# to runc's, with what differs by nature (ids, times, pids, counters) left
# out, and two known differences: the Description (runc: "libcontainer
# container <id>"), and runc's DropInPaths with NeedDaemonReload=yes (runc
# sets the same properties again with SetUnitProperties right after starting
# the unit, which writes drop-ins; tong starts the unit with them once).
# DeviceAllow is compared too: it found tong missing runc's default tun/tap
# rule (runc adds it, not containerd), visible once the module is loaded.
show_norm() {
  grep -vE '^(InvocationID|MainPID|ControlPID|ControlGroupId|[A-Za-z]*Timestamp(Monotonic)?|(Memory|Tasks|IO|IP|CPUUsage|Effective)[A-Za-z]*(Current|Bytes|Operations|Packets|NSec|Peak|Available|CPUs|MemoryNodes)|Description|DropInPaths|NeedDaemonReload)=' "$1" |
    sed -E 's/[0-9a-f]{64}/ID/g; s/pod[0-9a-z_]+_[0-9]+/podUID/g' | sort
}
if [ -n "$sd" ] && [ "$HANDLERS" = "tong runc" ]; then
  same_show() {
    [ -s "$work/logs/systemd-show-tong" ] && [ -s "$work/logs/systemd-show-runc" ] &&
      diff <(show_norm "$work/logs/systemd-show-runc") <(show_norm "$work/logs/systemd-show-tong")
  }
  check "tong's scope has runc's unit properties (systemctl show)" same_show
  [ -n "${CRI_KEEP_PROBES:-}" ] && cp "$work/logs/systemd-show-tong" "$work/logs/systemd-show-runc" "$CRI_KEEP_PROBES"
  [ "$fail" -eq 0 ] || diff <(show_norm "$work/logs/systemd-show-runc") <(show_norm "$work/logs/systemd-show-tong") | head -20
fi
if [ -z "$sd" ] && [ "$HANDLERS" = "tong runc" ]; then
  for h in tong runc; do
    run_client "$h" --probe 1 2>&1 | normalize > "$work/probe-$h" || true
  done
  same() { [ "$(grep -c '^## hostname' "$work/probe-tong")" = 2 ] && diff "$work/probe-runc" "$work/probe-tong"; }
  check "tong and runc containers see the same (init and exec)" same
  [ -n "${CRI_KEEP_PROBES:-}" ] && cp "$work/probe-tong" "$work/probe-runc" "$CRI_KEEP_PROBES"
  [ "$fail" -eq 0 ] || diff "$work/probe-runc" "$work/probe-tong" | head -40 || true
fi

for h in $HANDLERS; do
  echo "== runtime calls by the shim, handler $h (subcommand: flags, count)"
  awk '{
    sub_ = ""; flags = ""
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^-/) { f = $i; sub(/=.*/, "", f); flags = flags " " f }
      else if (sub_ == "" && $i ~ /^(create|start|state|kill|delete|exec|update|pause|resume|ps|events|features|checkpoint|restore|run|list|spec)$/) { sub_ = $i; pre = flags; flags = "" }
    }
    if (sub_ == "kill") flags = flags " SIG" $NF
    print sub_ ":" flags "   [global:" pre "]"
  }' "$work/calls-$h.log" | sort | uniq -c | sort -rn
done

summary
