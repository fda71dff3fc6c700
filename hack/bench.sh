#!/usr/bin/env bash
# Side-by-side speed of OCI runtimes on the same busybox bundle, for a matrix
# of configs (the ratio between runtimes depends on the config).
#   hack/bench.sh [RUNTIME...]     (default: tong, Debian 12's runc and crun,
#                                  then Debian 13's from hack/peers.sh)
# Runs every runtime inside one private mount namespace whose
# /sys/fs/cgroup/unified is unmounted (crun refuses hybrid cgroups), so all
# do the same cgroup v1 work; also reports tong on the untouched hybrid host
# (default config, run rows only).
# Interleaved runs (sample i of every config and runtime before sample i+1),
# medians in milliseconds with a spread in brackets (p25-p75 of N samples,
# min-max when there are fewer than 5), ratios of the first runtime's median
# to each other's. One table per config, then the matrix of the rows that
# matter most, then "where the time goes" per config (tong's --debug stage
# timings and every runtime's top syscalls under strace -c).
# Configs (hack/bench/README.md says how each was captured):
#   default   `tong spec` (runc spec's, plus a cgroup namespace), read-write
#             busybox root
#   seccomp   default + containers-common's seccomp profile as podman writes
#             it (hack/bench/seccomp.json)
#   cri       a pod's app container as containerd 1.6's CRI writes it, joining
#             a pod's pid/ipc/uts/net namespaces (hack/bench/cri.json)
#   podman    `podman run` as podman 4.3 writes it (hack/bench/podman.json)
# Env: N (iterations, default 30), COLD_N (default 5), OUT (markdown file),
#   BENCH_CONFIGS (default "default seccomp cri"),
#   BENCH_MANY_N (repeats of "50 concurrent" and "100 sequential", default 3;
#     the median is reported),
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
MANY_N=${BENCH_MANY_N:-3}
CONFIGS=${BENCH_CONFIGS:-default seccomp cri}
work=${BENCH_DIR:-/tmp/tong-bench}

if [ -z "${TONG_BENCH_INNER:-}" ]; then
  for c in $CONFIGS; do
    case "$c" in default|seccomp|cri|podman) ;; *) echo "bench: unknown config $c (BENCH_CONFIGS: default seccomp cri podman)" >&2; exit 2 ;; esac
  done
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
  # The cri config joins a pod's namespaces: a holder process is the pod
  # (pid 1 of its pid namespace, as the pause container is).
  pod=; holder=
  # shellcheck disable=SC2317 # (run by the trap)
  cleanup() {
    # (KILL: pid 1 of a pid namespace ignores TERM from outside it; the
    # pod gets it from --kill-child when unshare dies.)
    [ -z "$holder" ] || { kill -KILL "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; } || true
    umount "$work/state" 2>/dev/null || true
  }
  trap cleanup EXIT
  # State roots on a tmpfs, as /run is on the hosts runtimes serve (systemd
  # mounts it; this machine has no systemd and its /run is on ext4, where
  # creating inodes after much churn costs every runtime more than all
  # else: ext4 scans for recently deleted inodes). BENCH_STATE=disk keeps
  # them on $work's filesystem.
  if [ "${BENCH_STATE:-tmpfs}" = tmpfs ]; then
    mount -t tmpfs -o mode=0711 tong-bench-state "$work/state"
  fi
  bash hack/mkbundle.sh "$work/bundle" "$tong" >/dev/null
  if [[ " $CONFIGS " = *" cri "* ]]; then
    unshare --fork --kill-child --pid --ipc --uts --net sleep infinity &
    holder=$!
    for _ in $(seq 100); do
      pod=$(cat "/proc/$holder/task/$holder/children" 2>/dev/null || true); pod=${pod// /}
      [ -z "$pod" ] || break
      sleep 0.05
    done
    [ -n "$pod" ] || { echo "bench: the pod holder did not start" >&2; exit 1; }
  fi
  # The files engines bind into a container (hosts, hostname, ...): here
  # they are the bench's own.
  mkdir -p "$work/files/shm" "$work/cfg"
  printf '127.0.0.1 localhost\n' > "$work/files/hosts"
  echo bench > "$work/files/hostname"
  printf 'nameserver 127.0.0.1\n' > "$work/files/resolv.conf"
  : > "$work/files/.containerenv"
  # Each config twice: running /bin/true, and sleeping (for create/exec).
  read -r -a cl <<<"$CONFIGS"
  python3 - "$work" "${pod:+/proc/$pod}" hack/bench "${cl[@]}" <<'PY'
import json, sys
work, pod, pieces, configs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
default = json.load(open(work + "/bundle/config.json"))
def piece(name):
    return json.load(open(pieces + "/" + name))
for name in configs:
    if name == "default":
        c = default
    elif name == "seccomp":
        c = json.loads(json.dumps(default)); c["linux"]["seccomp"] = piece("seccomp.json")
    else:
        c = piece(name + ".json")
    text = json.dumps(c).replace("@FILES@", work + "/files").replace("@POD@", pod)
    for kind, args in (("true", ["/bin/true"]), ("sleep", ["sleep", "100000"])):
        c = json.loads(text); c["process"]["args"] = args; c["process"]["terminal"] = False
        json.dump(c, open("%s/cfg/%s-%s.json" % (work, name, kind), "w"), indent=2)
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
  if [[ " $CONFIGS " = *" default "* ]]; then
    echo "# tong on the untouched hybrid host"
    TONG_BENCH_INNER=hybrid TONG_BENCH_ONLY_RUN=1 BENCH_CONFIGS=default bash "$0" "$tong"
    echo
  fi
  echo "# all runtimes, pure cgroup v1 (private mount namespace, unified unmounted)"
  # shellcheck disable=SC2016 # ($0 and $@ are the inner bash's)
  unshare -m --propagation private env TONG_BENCH_INNER=v1 bash -c 'umount /sys/fs/cgroup/unified && exec bash "$0" "$@"' "$0" "${rts[@]}"
  exit
fi

rts=("$@")
read -r -a configs <<<"$CONFIGS"
bundle=$work/bundle
cfg=$bundle/config.json
# The kernel's floor (hack/floor.c) for a config: its masked and read-only
# paths as arguments, one a line in cfg/<config>-floor.
for c in "${configs[@]}"; do
  python3 - "$work/cfg/$c-true.json" > "$work/cfg/$c-floor" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["linux"]
for p in c.get("maskedPaths", []): print("-m"); print(p)
for p in c.get("readonlyPaths", []): print("-r"); print(p)
PY
done
use_cfg() { cp "$work/cfg/$1-$2.json" "$cfg"; }

# Timestamps are read from $EPOCHREALTIME in place: a $(…) would fork.
# stats: samples in µs on stdin -> "median [spread]" in ms; the spread is
# p25-p75 (nearest rank) of 5 or more samples, min-max of fewer.
stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {
  if (NR==0) {print "-"; exit}
  m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2
  if (NR>=5) {lo=a[int((NR+3)/4)]; hi=a[int((3*NR+3)/4)]} else {lo=a[1]; hi=a[NR]}
  if (NR==1) printf "%.2f", m/1000; else printf "%.2f [%.2f-%.2f]", m/1000, lo/1000, hi/1000 }'; }
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
# Results: R["config|row|runtime"] holds samples in µs, or a number.
declare -A R

# One measurement: time of a command in microseconds appended to a results key.
measure() { local key=$1; shift; local a b; a=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1 || echo "warn: $key failed" >&2; b=${EPOCHREALTIME/./}; R[$key]+="$((b - a)) "; }

bench_run() {
  local i c rt a b fa
  for i in $(seq "$N"); do
    for c in "${configs[@]}"; do
      use_cfg "$c" true
      mapfile -t fa < "$work/cfg/$c-floor"
      measure "$c|floor" "$work/floor" "$bundle/rootfs" "${fa[@]}" -- /bin/true
      measure "$c|floor+" "$work/floor" "$bundle/rootfs" -e -c tong-floor "${fa[@]}" -- /bin/true
      for rt in "${rts[@]}"; do
        measure "$c|run|$rt" rt_cmd "$rt" run --bundle "$bundle" "b$i"
        rt_cmd "$rt" delete -f "b$i" >/dev/null 2>&1 || true
        a=${EPOCHREALTIME/./}
        rt_cmd "$rt" create --bundle "$bundle" "c$i" >/dev/null 2>&1
        rt_cmd "$rt" start "c$i" >/dev/null 2>&1
        while [ "$(rt_cmd "$rt" state "c$i" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$')" = 'running"' ]; do :; done
        rt_cmd "$rt" delete -f "c$i" >/dev/null 2>&1
        b=${EPOCHREALTIME/./}; R["$c|lifecycle|$rt"]+="$((b - a)) "
      done
    done
  done
}

bench_phases() {
  local i c rt
  for i in $(seq "$N"); do
    for c in "${configs[@]}"; do
      use_cfg "$c" sleep
      for rt in "${rts[@]}"; do
        measure "$c|create|$rt" rt_cmd "$rt" create --bundle "$bundle" "p$i"
        measure "$c|start|$rt" rt_cmd "$rt" start "p$i"
        measure "$c|exec|$rt" rt_cmd "$rt" exec "p$i" /bin/true
        measure "$c|delete|$rt" rt_cmd "$rt" delete -f "p$i"
      done
    done
  done
}

# Cold caches: the first config only (each sample drops the page cache).
bench_cold() {
  local i rt
  use_cfg "${configs[0]}" true
  for i in $(seq "$COLD_N"); do
    for rt in "${rts[@]}"; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      measure "${configs[0]}|run (cold)|$rt" rt_cmd "$rt" run --bundle "$bundle" "cold$i"
      rt_cmd "$rt" delete -f "cold$i" >/dev/null 2>&1 || true
    done
  done
}

# 50 concurrent and 100 sequential: MANY_N repeats (one was noise), the
# median reported.
bench_many() {
  local rep c rt i a b
  for rep in $(seq "$MANY_N"); do
    for c in "${configs[@]}"; do
      for rt in "${rts[@]}"; do
        use_cfg "$c" sleep
        a=${EPOCHREALTIME/./}
        for i in $(seq 50); do (rt_cmd "$rt" run -d --bundle "$bundle" "m$i" >/dev/null 2>&1) & done
        wait; b=${EPOCHREALTIME/./}; R["$c|50 concurrent run -d|$rt"]+="$((b - a)) "
        # Read-only, so N samples each (one was noise: list differed 1.3x to
        # 1.5x between two runs of the same binaries).
        if [ "$rep" = 1 ]; then
          for i in $(seq "$N"); do
            measure "$c|state (50 present)|$rt" rt_cmd "$rt" state m1
            measure "$c|list (50 present)|$rt" rt_cmd "$rt" list
          done
        fi
        for i in $(seq 50); do rt_cmd "$rt" delete -f "m$i" >/dev/null 2>&1 & done; wait
        use_cfg "$c" true
        a=${EPOCHREALTIME/./}
        for i in $(seq 100); do rt_cmd "$rt" run --bundle "$bundle" "s$i" >/dev/null 2>&1 || true; done
        b=${EPOCHREALTIME/./}; R["$c|100 sequential run|$rt"]+="$((b - a)) "
      done
    done
  done
}

bench_rss() {
  local c rt pid
  for c in "${configs[@]}"; do
    for rt in "${rts[@]}"; do
      use_cfg "$c" sleep
      # GNU time and strace may be missing (the VM test bed): rows of "-".
      rm -f "$work/rss"
      if [ -x /usr/bin/time ]; then
        /usr/bin/time -o "$work/rss" -f '%M' "$rt" --root "${ROOT[$rt]}" create --bundle "$bundle" rss >/dev/null 2>&1 || true
      else
        rt_cmd "$rt" create --bundle "$bundle" rss >/dev/null 2>&1 || true
      fi
      R["$c|peak RSS create (KB)|$rt"]=$(tail -1 "$work/rss" 2>/dev/null || echo -)
      # The init waiting for start: what every created container costs.
      pid=$(rt_cmd "$rt" state rss 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null || true)
      R["$c|waiting init VmHWM (KB)|$rt"]=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -)
      rm -f "$work/rss"
      if [ -x /usr/bin/time ]; then
        /usr/bin/time -o "$work/rss" -f '%M' "$rt" --root "${ROOT[$rt]}" delete -f rss >/dev/null 2>&1 || true
      else
        rt_cmd "$rt" delete -f rss >/dev/null 2>&1 || true
      fi
      R["$c|peak RSS delete (KB)|$rt"]=$(tail -1 "$work/rss" 2>/dev/null || echo -)
      R["$c|binary size (KB)|$rt"]=$(( $(stat -L -c %s "$rt") / 1024 ))
      # Not the loader's own line, which has a "=>" when it is hack/peers.sh's.
      R["$c|shared libraries|$rt"]=$(ldd "$rt" 2>/dev/null | grep '=>' | grep -vc '^[[:space:]]*/' || true)
      use_cfg "$c" true
      if command -v strace >/dev/null; then
        strace -f -c -o "$work/strace" "$rt" --root "${ROOT[$rt]}" run --bundle "$bundle" sc >/dev/null 2>&1 || true
        R["$c|syscalls per run|$rt"]=$(awk '/total/ {print $4}' "$work/strace" | tail -1)
        # Where the time goes, by the syscalls: the top 5 by time under
        # strace, those that wait (for a child, a lock, a sleep) left out
        # (and any line of the table that is not a syscall's).
        R["$c|top syscalls|$rt"]=$(awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $NF ~ /^[a-z_0-9]+$/ && $NF !~ /^(total|wait4|waitid|futex|nanosleep|clock_nanosleep|epoll_.*|sched_yield|poll|ppoll|select|pselect6)$/ {
            printf "%s%s %s%%", sep, $NF, $1; sep = ", "; if (++n == 5) exit }' "$work/strace")
      fi
      rt_cmd "$rt" delete -f sc >/dev/null 2>&1 || true
    done
  done
}

# tong's own stage timings (`--debug` logs "stage NAME: DURATION (at
# TOTAL)"): the median of 5 runs per stage, in ms.
bench_stages() {
  local c rt i
  for rt in "${rts[@]}"; do
    [ "${LABEL[$rt]}" = tong ] || continue
    for c in "${configs[@]}"; do
      use_cfg "$c" true
      for i in 1 2 3 4 5; do
        rt_cmd "$rt" --debug run --bundle "$bundle" "st$i" 2>&1 >/dev/null | grep -o 'stage [^:]*: [0-9.]*[µmn]*s' || true
        rt_cmd "$rt" delete -f "st$i" >/dev/null 2>&1 || true
      done | awk '{
          d = $NF; u = d; sub(/[0-9.]+/, "", u); v = d + 0
          if (u == "ns") v /= 1e6; else if (u == "µs") v /= 1e3; else if (u == "s") v *= 1e3
          sub(/^stage /, ""); sub(/: [^:]*$/, ""); n[$0]++; s[$0, n[$0]] = v; if (!($0 in o)) o[$0] = ++k
        } END {
          for (name in o) order[o[name]] = name
          for (j = 1; j <= k; j++) { name = order[j]; c = n[name]
            for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (s[name, y] < s[name, x]) { t = s[name, x]; s[name, x] = s[name, y]; s[name, y] = t }
            printf "%s%s %.2f", (j > 1 ? ", " : ""), name, s[name, int((c + 1) / 2)] }
        }' > "$work/stages"
      R["$c|tong stages|$rt"]=$(cat "$work/stages")
    done
  done
}

bench_run
if [ -z "${TONG_BENCH_ONLY_RUN:-}" ]; then
  bench_phases
  bench_cold
  bench_many
  bench_rss
  bench_stages
fi

# A cell: the row's value for a runtime (stats of its samples, or the number).
cell() {
  local raw=${R["$1|$2|$3"]:-}
  case "$2" in
    *KB*|shared*|syscalls*) echo "${raw:-"-"}" ;;
    *) echo "$raw" | stats ;;
  esac
}
ratio() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { if (b+0 > 0 && a != "-") printf "%.2f", a/b; else print "-" }'; }
header() {
  local h="| $1 |" s="|---|" rt
  for rt in "${rts[@]}"; do h+=" $(name "$rt") |"; s+="---|"; done
  if [ ${#rts[@]} -gt 1 ]; then for rt in "${rts[@]:1}"; do h+=" $(name "${rts[0]}")/$(name "$rt") |"; s+="---|"; done; fi
  echo "$h"; echo "$s"
}
row() { # config, row key, label
  local c=$1 k=$2 out="| $3 |" vals=() rt v j
  for rt in "${rts[@]}"; do v=$(cell "$c" "$k" "$rt"); vals+=("$v"); out+=" $v |"; done
  if [ ${#rts[@]} -gt 1 ]; then
    for j in $(seq 1 $((${#rts[@]} - 1))); do out+=" $(ratio "${vals[0]}" "${vals[$j]}") |"; done
  fi
  echo "$out"
}

# One table per config: a row per measurement, a column per runtime.
keys=("run" "lifecycle" "create" "start" "exec" "delete" "run (cold)" "50 concurrent run -d" "100 sequential run" "state (50 present)" "list (50 present)" "peak RSS create (KB)" "peak RSS delete (KB)" "waiting init VmHWM (KB)" "binary size (KB)" "shared libraries" "syscalls per run")
for c in "${configs[@]}"; do
  echo "## config: $c"
  header "measurement (median ms [spread] unless noted)"
  for k in "${keys[@]}"; do
    [ -n "${R["$c|$k|${rts[0]}"]:-}" ] || continue
    row "$c" "$k" "$k"
  done
  floor=$(echo "${R["$c|floor"]:-}" | stats)
  echo "| floor: hack/floor.c run of /bin/true (clone, mounts, pivot_root, exec) | $floor |"
  out="| run / floor |"
  for rt in "${rts[@]}"; do out+=" $(ratio "$(cell "$c" run "$rt")" "$floor") |"; done
  echo "$out"
  # What every runtime here adds to it in the kernel: a cgroup in each
  # hierarchy, made, joined and removed, and a second start (the re-exec).
  floor2=$(echo "${R["$c|floor+"]:-}" | stats)
  echo "| floor + cgroups + a second exec (floor -e -c) | $floor2 |"
  out="| run / (floor + cgroups + second exec) |"
  for rt in "${rts[@]}"; do out+=" $(ratio "$(cell "$c" run "$rt")" "$floor2") |"; done
  echo "$out"
  echo
done

# The matrix: the rows that matter most, every config.
if [ -z "${TONG_BENCH_ONLY_RUN:-}" ]; then
  echo "## matrix (state root on ${BENCH_STATE:-tmpfs}; 50 concurrent / 100 sequential: median of $MANY_N)"
  header "config: measurement (median ms [spread] unless noted)"
  for c in "${configs[@]}"; do
    for k in run lifecycle exec "50 concurrent run -d" "100 sequential run" "waiting init VmHWM (KB)" "syscalls per run"; do
      row "$c" "$k" "$c: $k"
    done
  done
  echo
  echo "## where the time goes (tong's stages: median ms of 5 runs; top syscalls: share of all syscall time under strace -f -c, waits left out)"
  for c in "${configs[@]}"; do
    for rt in "${rts[@]}"; do
      [ -z "${R["$c|tong stages|$rt"]:-}" ] || echo "- $c, $(name "$rt") --debug stages: ${R["$c|tong stages|$rt"]}"
    done
    for rt in "${rts[@]}"; do
      [ -z "${R["$c|top syscalls|$rt"]:-}" ] || echo "- $c, $(name "$rt") top syscalls: ${R["$c|top syscalls|$rt"]}"
    done
  done
fi
