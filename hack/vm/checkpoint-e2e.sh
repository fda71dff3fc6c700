#!/usr/bin/env bash
# podman and containerd checkpoint and restore a container through tong, in
# the VM test bed (criu must work there: `tong check --probe` runs `criu check`):
#   bash hack/vm/run.sh bash hack/vm/checkpoint-e2e.sh
#   bash hack/vm/run.sh env RUNTIME=/usr/sbin/runc bash hack/vm/checkpoint-e2e.sh
# The container counts into /tmp/n; a restore must go on from where the
# checkpoint stopped it. Private podman and containerd instances (own roots,
# sockets and config in a temp dir), an image built from busybox-static.
# ONLY=podman or ONLY=containerd runs one half.
# Prints PASS/FAIL per step with its time and "N passed, M failed, 0 skipped".
set -uo pipefail
cd "$(dirname "$0")/../.."
RUNTIME=${RUNTIME:-$PWD/target/release/tong}
pass=0; fail=0
check() { # name, then a command whose success means PASS; prints its time
  local name=$1; shift
  local out t0=$(date +%s%N) rc=0
  out=$("$@" 2>&1) || rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$rc" -eq 0 ]; then echo "PASS $name (${ms} ms)"; pass=$((pass + 1))
  else echo "FAIL $name (${ms} ms): $(echo "$out" | tail -4 | tr '\n' ' ')"; fail=$((fail + 1)); fi
}
# criu must work here, as `tong check --probe` (which runs `criu check`)
# says; where it does not, its sentence is the failure's reason.
crit=$("${TONG_CHECK:-$PWD/target/release/tong}" check --probe --format json 2>/dev/null | jq -c '.checks[] | select(.id == "criu")')
if [ "$(jq -r .status <<<"${crit:-null}")" != present ]; then
  echo "FAIL criu: $(jq -r '.sentence // "tong check --probe gave no criu line"' <<<"${crit:-null}")"
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
echo "runtime: $RUNTIME ($("$RUNTIME" --version | head -1))"
work=$(mktemp -d /tmp/ck-e2e.XXXXXX)
ours=(); for p in /var/lib/containers /run/containers /run/tong; do [ -e "$p" ] || ours+=("$p"); done
counter='i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done'
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
# Waits until `$@` (a reader of the counter) prints at least $want.
at_least() { local want=$1; shift; for _ in $(seq 100); do v=$("$@" 2>/dev/null); [ "${v:-0}" -ge "$want" ] 2>/dev/null && return 0; sleep 0.2; done; echo "counter at ${v:-none}, want >= $want"; return 1; }

# --- podman --------------------------------------------------------------
if [ "${ONLY:-podman}" = podman ]; then
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
[network]
network_config_dir = "$work/networks"
CONF
export CONTAINERS_CONF=$work/containers.conf
P="podman --root $work/root --runroot $work/runroot --tmpdir $work/tmp --storage-driver overlay --runtime $RUNTIME"
pn() { $P exec "$1" cat /tmp/n; }
check "podman: load image" $P load -i "$work/busybox.tar"
check "podman: run a counter" $P run -d --name c1 --network none "$img" sh -c "$counter"
check "podman: counting" at_least 5 pn c1
n0=$(pn c1)
check "podman: container checkpoint" $P container checkpoint c1
check "podman: checkpointed container is exited" bash -c "[ \"\$($P inspect -f '{{.State.Status}}' c1)\" = exited ]"
check "podman: container restore" $P container restore c1
check "podman: restored container is running" bash -c "[ \"\$($P inspect -f '{{.State.Status}}' c1)\" = running ]"
check "podman: counter went on from the checkpoint" at_least "$((n0 + 3))" pn c1
check "podman: checkpoint --export" $P container checkpoint --export "$work/c1.tar.gz" c1
check "podman: restore --import under a new name" $P container restore --import "$work/c1.tar.gz" --name c2
check "podman: imported copy counts on" at_least "$((n0 + 3))" pn c2
check "podman: exec in the restored copy" bash -c "[ \"\$($P exec c2 echo hi)\" = hi ]"
check "podman: stop and rm" $P rm -f -t 0 c1 c2
$P system reset -f >/dev/null 2>&1
mount | awk -v w="$work/root" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
unset CONTAINERS_CONF
fi

# --- containerd ----------------------------------------------------------
if [ "${ONLY:-containerd}" = containerd ]; then
sock=$work/containerd.sock
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/croot"
state = "$work/cstate"
[grpc]
  address = "$sock"
TOML
containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
C="ctr -a $sock"
R="--runc-binary $RUNTIME"
cn() { $C task exec --exec-id "r$RANDOM" "$1" cat /tmp/n; }
check "containerd: import image" $C image import --base-name localhost/tong-busybox "$work/busybox.tar"
check "containerd: run a counter" $C run -d $R "$img" k1 sh -c "$counter"
check "containerd: counting" at_least 5 cn k1
check "containerd: task checkpoint --exit to a directory" bash -c "$C task checkpoint --exit --image-path $work/k1-img k1 && test -f $work/k1-img/inventory.img"
check "containerd: task stopped by the checkpoint" bash -c "for i in \$(seq 50); do $C task ls | grep -q 'k1.*STOPPED' && exit 0; sleep 0.1; done; $C task ls; exit 1"
$C task delete k1 >/dev/null 2>&1; $C container delete k1 >/dev/null 2>&1
check "containerd: run another counter" $C run -d $R "$img" k2 sh -c "$counter"
check "containerd: counting" at_least 5 cn k2
k0=$(cn k2)
check "containerd: container checkpoint --task" $C container checkpoint --task --rw k2 localhost/k2-checkpoint:1
check "containerd: remove the original" bash -c "$C task kill -s KILL k2; for i in \$(seq 50); do $C task delete k2 2>/dev/null && break; sleep 0.1; done; $C container delete k2"
check "containerd: container restore --live" $C container restore --live --rw k2 localhost/k2-checkpoint:1
check "containerd: restored task is running" bash -c "$C task ls | grep -q 'k2.*RUNNING'"
check "containerd: counter went on from the checkpoint" at_least "$((k0 + 3))" cn k2
check "containerd: kill and delete the restored task" bash -c "$C task kill -s KILL k2; for i in \$(seq 50); do $C task delete k2 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
$C container delete k2 >/dev/null 2>&1
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
fi
mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
rm -rf "$work" "${ours[@]}"
for d in /sys/fs/cgroup/default /sys/fs/cgroup/libpod_parent/conmon /sys/fs/cgroup/libpod_parent; do rmdir "$d" 2>/dev/null; done
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
