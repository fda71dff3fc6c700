#!/usr/bin/env bash
# Side-by-side speed of OCI runtimes on the same busybox bundle.
#   hack/bench.sh [RUNTIME...]     (default: tong, Debian 12's runc and crun,
#                                  then Debian 13's from hack/peers.sh)
# Runs every runtime inside one private mount namespace whose
# /sys/fs/cgroup/unified is unmounted (crun refuses hybrid cgroups), so all
# do the same cgroup v1 work; also reports tong on the untouched hybrid host.
# Interleaved runs, medians in milliseconds, ratios to the first runtime.
# Env: N (iterations, default 30), COLD_N (default 5), OUT (markdown file),
#   BENCH_STATE=tmpfs|disk (state roots on a tmpfs, the default, as /run is),
#   BENCH_PEERS=0 (without hack/peers.sh's runc and crun of Debian 13; the
#   default when BENCH_TONG is set, as in the VM test bed).
# Columns of runc and crun are labelled with their versions ("runc 1.1.5").
#   hack/bench.sh --cri            pod start latency through containerd's CRI
#                                  (RunPodSandbox -> both containers of a pod
#                                  running), tong and runc handlers side by
#                                  side (hack/cri-e2e.sh; N pods each, default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --cri ]; then
  CRI_BENCH=${N:-15} exec bash hack/cri-e2e.sh
fi
N=${N:-30}
COLD_N=${COLD_N:-5}
work=${BENCH_DIR:-/tmp/tong-bench}

if [ -z "${TONG_BENCH_INNER:-}" ]; then
  umount "$work/state" 2>/dev/null || true
  rm -rf "$work"; mkdir -p "$work/state"
  if [ -n "${BENCH_TONG:-}" ]; then
    # Built elsewhere (hack/vm/bench.sh: the guest has no compiler).
    tong=$BENCH_TONG
    cp "$BENCH_FLOOR" "$work/floor"
  else
    bash hack/deps.sh
    for p in runc crun time strace; do
      dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc crun time strace >/dev/null; break; }
    done
    tong=$(bash hack/build-static.sh)
    gcc -O2 -static -o "$work/floor" hack/floor.c
  fi
  # State roots on a tmpfs, as /run is on the hosts runtimes serve (systemd
  # mounts it; this machine has no systemd and its /run is on ext4, where
  # creating inodes after much churn costs every runtime more than all
  # else: ext4 scans for recently deleted inodes). BENCH_STATE=disk keeps
  # them on $work's filesystem.
  if [ "${BENCH_STATE:-tmpfs}" = tmpfs ]; then
    mount -t tmpfs -o mode=0711 tong-bench-state "$work/state"
    trap 'umount "$work/state" 2>/dev/null || true' EXIT
  fi
  bash hack/mkbundle.sh "$work/bundle" "$tong" >/dev/null
  python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=2)
PY
  rts=("$@")
  if [ ${#rts[@]} -eq 0 ]; then
    rts=("$tong" /usr/sbin/runc "$(command -v crun)")
    # Today's peers (Debian 13's runc and crun, run from a trixie root):
    # hack/peers.sh prints none, with one line on stderr, when it cannot
    # make them, and the bench goes on without them.
    peers_default=1; [ -z "${BENCH_TONG:-}" ] || peers_default=0
    if [ "${BENCH_PEERS:-$peers_default}" != 0 ]; then
      mapfile -t peers < <(bash hack/peers.sh || true)
      rts+=("${peers[@]}")
    fi
  fi
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    echo "# all runtimes, cgroup v2 ($(uname -r))"
    TONG_BENCH_INNER=v2 bash "$0" "${rts[@]}"
    exit
  fi
  echo "# tong on the untouched hybrid host"
  TONG_BENCH_INNER=hybrid TONG_BENCH_ONLY_RUN=1 bash "$0" "$tong"
  echo
  echo "# all runtimes, pure cgroup v1 (private mount namespace, unified unmounted)"
  unshare -m --propagation private env TONG_BENCH_INNER=v1 bash -c 'umount /sys/fs/cgroup/unified && exec bash "$0" "$@"' "$0" "${rts[@]}"
  exit
fi

rts=("$@")
bundle=$work/bundle
cfg=$bundle/config.json
sleepcfg=$work/sleep.json
python3 - "$cfg" "$sleepcfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["args"] = ["sleep", "100000"]
json.dump(c, open(sys.argv[2], "w"))
PY
truecfg=$work/true.json; cp "$cfg" "$truecfg"
# The kernel's floor (hack/floor.c) for this config: its masked and
# read-only paths as arguments.
mapfile -t floor_args < <(python3 - "$cfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["linux"]
for p in c.get("maskedPaths", []): print("-m"); print(p)
for p in c.get("readonlyPaths", []): print("-r"); print(p)
PY
)
use_cfg() { cp "$1" "$cfg"; }

# Timestamps are read from $EPOCHREALTIME in place: a $(…) would fork.
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'; }
# A column's label: the binary's name, with the version for runc and crun
# (two of each may be benched: Debian 12's and hack/peers.sh's).
label_of() {
  local n v
  n=$(basename "$1")
  case "$n" in
    runc*|crun*)
      v=$("$1" --version 2>/dev/null | awk 'NR == 1 && $2 == "version" {print $3}')
      v=${v%%+*}
      [ -z "$v" ] || n="${n%%-*} $v" ;;
  esac
  echo "$n"
}
# Labels and state roots computed once: a $(…) inside a timed command would
# add a fork of bash (about a millisecond here) to every runtime's numbers.
declare -A ROOT LABEL
for rt in "${rts[@]}"; do
  LABEL[$rt]=$(label_of "$rt")
  ROOT[$rt]="$work/state/root-${LABEL[$rt]// /-}"
done
name() { echo "${LABEL[$1]}"; }
rt_cmd() { local rt=$1; shift; "$rt" --root "${ROOT[$rt]}" "$@"; }
declare -A R

# One measurement: time of a command in microseconds appended to a results key.
measure() { local key=$1; shift; local a b; a=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1 || echo "warn: $key failed" >&2; b=${EPOCHREALTIME/./}; R[$key]+="$((b - a)) "; }

bench_run() {
  use_cfg "$truecfg"
  for i in $(seq "$N"); do
    measure "floor" "$work/floor" "$bundle/rootfs" "${floor_args[@]}" -- /bin/true
    for rt in "${rts[@]}"; do
      measure "run|$rt" rt_cmd "$rt" run --bundle "$bundle" "b$i"
      rt_cmd "$rt" delete -f "b$i" >/dev/null 2>&1 || true
      local a b; a=${EPOCHREALTIME/./}
      rt_cmd "$rt" create --bundle "$bundle" "c$i" >/dev/null 2>&1
      rt_cmd "$rt" start "c$i" >/dev/null 2>&1
      while [ "$(rt_cmd "$rt" state "c$i" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$')" = 'running"' ]; do :; done
      rt_cmd "$rt" delete -f "c$i" >/dev/null 2>&1
      b=${EPOCHREALTIME/./}; R["lifecycle|$rt"]+="$((b - a)) "
    done
  done
}

bench_phases() {
  use_cfg "$sleepcfg"
  for i in $(seq "$N"); do
    for rt in "${rts[@]}"; do
      measure "create|$rt" rt_cmd "$rt" create --bundle "$bundle" "p$i"
      measure "start|$rt" rt_cmd "$rt" start "p$i"
      measure "exec|$rt" rt_cmd "$rt" exec "p$i" /bin/true
      measure "delete|$rt" rt_cmd "$rt" delete -f "p$i"
    done
  done
}

bench_cold() {
  use_cfg "$truecfg"
  for i in $(seq "$COLD_N"); do
    for rt in "${rts[@]}"; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      measure "run (cold)|$rt" rt_cmd "$rt" run --bundle "$bundle" "cold$i"
      rt_cmd "$rt" delete -f "cold$i" >/dev/null 2>&1 || true
    done
  done
}

bench_many() {
  use_cfg "$sleepcfg"
  for rt in "${rts[@]}"; do
    local a b; a=${EPOCHREALTIME/./}
    for i in $(seq 50); do (rt_cmd "$rt" run -d --bundle "$bundle" "m$i" >/dev/null 2>&1) & done
    wait; b=${EPOCHREALTIME/./}; R["50 concurrent run -d|$rt"]="$((b - a))"
    # Read-only, so N samples each (one was noise: list differed 1.3x to
    # 1.5x between two runs of the same binaries).
    for i in $(seq "$N"); do
      measure "state (50 present)|$rt" rt_cmd "$rt" state m1
      measure "list (50 present)|$rt" rt_cmd "$rt" list
    done
    for i in $(seq 50); do rt_cmd "$rt" delete -f "m$i" >/dev/null 2>&1 & done; wait
  done
  use_cfg "$truecfg"
  for rt in "${rts[@]}"; do
    local a b; a=${EPOCHREALTIME/./}
    for i in $(seq 100); do rt_cmd "$rt" run --bundle "$bundle" "s$i" >/dev/null 2>&1 || true; done
    b=${EPOCHREALTIME/./}; R["100 sequential run|$rt"]="$((b - a))"
  done
}

bench_rss() {
  use_cfg "$sleepcfg"
  for rt in "${rts[@]}"; do
    local kb
    # GNU time and strace may be missing (the VM test bed): rows of "-".
    rm -f "$work/rss"
    if [ -x /usr/bin/time ]; then
      /usr/bin/time -o "$work/rss" -f '%M' "$rt" --root "${ROOT[$rt]}" create --bundle "$bundle" rss >/dev/null 2>&1 || true
    else
      rt_cmd "$rt" create --bundle "$bundle" rss >/dev/null 2>&1 || true
    fi
    R["peak RSS create (KB)|$rt"]=$(tail -1 "$work/rss" 2>/dev/null || echo -)
    # The init waiting for start: what every created container costs.
    local pid
    pid=$(rt_cmd "$rt" state rss 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null || true)
    R["waiting init VmHWM (KB)|$rt"]=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -)
    rm -f "$work/rss"
    if [ -x /usr/bin/time ]; then
      /usr/bin/time -o "$work/rss" -f '%M' "$rt" --root "${ROOT[$rt]}" delete -f rss >/dev/null 2>&1 || true
    else
      rt_cmd "$rt" delete -f rss >/dev/null 2>&1 || true
    fi
    R["peak RSS delete (KB)|$rt"]=$(tail -1 "$work/rss" 2>/dev/null || echo -)
    R["binary size (KB)|$rt"]=$(( $(stat -L -c %s "$rt") / 1024 ))
    # Not the loader's own line, which has a "=>" when it is hack/peers.sh's.
    R["shared libraries|$rt"]=$(ldd "$rt" 2>/dev/null | grep '=>' | grep -vc '^[[:space:]]*/' || true)
    use_cfg "$truecfg"
    if command -v strace >/dev/null; then
      R["syscalls per run|$rt"]=$(strace -f -c -o /dev/stdout "$rt" --root "${ROOT[$rt]}" run --bundle "$bundle" sc 2>/dev/null | awk '/total/ {print $4}' | tail -1)
    fi
    rt_cmd "$rt" delete -f sc >/dev/null 2>&1 || true
    use_cfg "$sleepcfg"
  done
}

bench_run
if [ -z "${TONG_BENCH_ONLY_RUN:-}" ]; then
  bench_phases
  bench_cold
  bench_many
  bench_rss
fi

# The table: one row per measurement, one column per runtime.
keys=("run" "lifecycle" "create" "start" "exec" "delete" "run (cold)" "50 concurrent run -d" "100 sequential run" "state (50 present)" "list (50 present)" "peak RSS create (KB)" "peak RSS delete (KB)" "waiting init VmHWM (KB)" "binary size (KB)" "shared libraries" "syscalls per run")
header="| measurement (median ms unless noted) |"; sep="|---|"
for rt in "${rts[@]}"; do header+=" $(name "$rt") |"; sep+="---|"; done
[ ${#rts[@]} -gt 1 ] && for rt in "${rts[@]:1}"; do header+=" $(name "${rts[0]}")/$(name "$rt") |"; sep+="---|"; done
echo "$header"; echo "$sep"
for k in "${keys[@]}"; do
  [ -n "${R["$k|${rts[0]}"]:-}" ] || continue
  row="| $k |"; vals=()
  for rt in "${rts[@]}"; do
    raw=${R["$k|$rt"]:-}
    case "$k" in
      *KB*|shared*|syscalls*) v=${raw:-"-"} ;;
      50*|100*) v=$(echo "$raw" | median) ;;
      *) v=$(echo "$raw" | tr ' ' '\n' | grep . | median) ;;
    esac
    vals+=("$v"); row+=" $v |"
  done
  if [ ${#rts[@]} -gt 1 ]; then
    for j in $(seq 1 $((${#rts[@]} - 1))); do
      row+=" $(awk -v a="${vals[0]}" -v b="${vals[$j]}" 'BEGIN { if (b+0 > 0 && a != "-") printf "%.2f", a/b; else print "-" }') |"
    done
  fi
  echo "$row"
done
floor=$(echo "${R[floor]:-}" | tr ' ' '\n' | grep . | median)
echo "| floor: hack/floor.c run of /bin/true (clone, mounts, pivot_root, exec) | $floor |"
row="| run / floor |"
for rt in "${rts[@]}"; do
  run=$(echo "${R["run|$rt"]}" | tr ' ' '\n' | grep . | median)
  row+=" $(awk -v a="$run" -v b="$floor" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }') |"
done
echo "$row"
