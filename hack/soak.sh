#!/usr/bin/env bash
# Soak and crash loop for an OCI runtime (tong by default, any runc-compatible
# one through RUNTIME=path). Three parts, then a table and `N passed, M failed, 0 skipped`:
#  1. lifecycle soak: N x create/start/state/kill/delete with memory and pids
#     limits; mounts, cgroup dirs, state entries, this script's fds, zombies,
#     ptys and container processes counted before and after; per-step median,
#     p99 and drift (median of the last 10% over the first 10%).
#  2. crash loop: the runtime SIGKILLed when each of its `--debug` stage lines
#     appears (create, exec, run) and after random 0-30 ms delays (create,
#     start, exec, kill, delete, update, pause, run); after each kill a bounded
#     `state` and `delete --force`, then leftovers (state entry, cgroup dirs,
#     processes, mounts) and hangs (a command that hit its timeout).
#  3. concurrency: parallel creates of one id (exactly one wins), parallel
#     delete/kill/state/exec on one container, 50 containers at once, `list`
#     under churn.
# Env: RUNTIME (default: the static tong from hack/build-static.sh),
#      SOAK_SHORT=1 (CI size), SOAK_N, SOAK_STAGE_KILLS, SOAK_RANDOM_KILLS,
#      SOAK_ROUNDS (overrides of the sizes).
# Everything lives under a temp dir and a dedicated parent cgroup
# (tong-soak-PID in every hierarchy); both are removed at exit. Only processes
# this script started are killed: the runtimes by the PID it launched them
# with, container processes by a marker in their environment.
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/deps.sh
for p in jq runc; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null; }
done
RT=${RUNTIME:-$(bash hack/build-static.sh)}
RT=$(readlink -f "$(command -v "$RT")")
if [ -n "${SOAK_SHORT:-}" ]; then
  N=${SOAK_N:-200}; KS=${SOAK_STAGE_KILLS:-5}; KR=${SOAK_RANDOM_KILLS:-10}; ROUNDS=${SOAK_ROUNDS:-3}
else
  N=${SOAK_N:-1000}; KS=${SOAK_STAGE_KILLS:-50}; KR=${SOAK_RANDOM_KILLS:-100}; ROUNDS=${SOAK_ROUNDS:-10}
fi
T_LIMIT=30                      # seconds before a command counts as hung
W=$(mktemp -d /tmp/tong-soak.XXXXXX)
ROOT=$W/root
CG=tong-soak-$$
MARK=TONG_SOAK_MARK=$$.$RANDOM
shopt -s nullglob

# --- set-up and the last clean-up -------------------------------------------
cgroup_dirs() { local d; for d in /sys/fs/cgroup/*/"$CG"/ /sys/fs/cgroup/"$CG"/; do echo "$d"; done; }
# The container processes: those with the marker in their environment (the
# config's env, or inherited from the runtime before the exec) and those in
# the soak's cgroups (runc's `runc init` gets a fresh environment).
marked_pids() {
  { grep -lsaF "$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
    cat /sys/fs/cgroup/*/"$CG"/*/cgroup.procs /sys/fs/cgroup/*/"$CG"/*/*/cgroup.procs \
      /sys/fs/cgroup/"$CG"/*/cgroup.procs /sys/fs/cgroup/"$CG"/*/*/cgroup.procs 2>/dev/null
  } | sort -u || true
}
# Removes what a failed step left, so that the next one starts clean: thaws,
# kills the container processes (found by the marker), removes state entries,
# cgroup dirs (deepest first) and mounts under the work dir.
scrub() {
  local f p d m
  for f in /sys/fs/cgroup/freezer/"$CG"/*/freezer.state; do echo THAWED > "$f" 2>/dev/null || true; done
  for f in /sys/fs/cgroup/unified/"$CG"/*/cgroup.freeze /sys/fs/cgroup/"$CG"/*/cgroup.freeze; do echo 0 > "$f" 2>/dev/null || true; done
  for p in $(marked_pids); do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(marked_pids); do while [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; do :; done; done
  for d in "$ROOT"/*; do [ "${d##*/}" = @seccomp-cache ] || rm -rf "$d"; done
  for d in $(cgroup_dirs); do
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v w="$W" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}
cleanup() {
  set +e
  [ -n "${CHURN_PIDS:-}" ] && { touch "$W/stop"; for p in $CHURN_PIDS; do kill "$p" 2>/dev/null; done; wait $CHURN_PIDS 2>/dev/null; }
  local id
  for id in $("$RT" --root "$ROOT" list -q 2>/dev/null); do timeout -k 5 "$T_LIMIT" "$RT" --root "$ROOT" delete --force "$id" >/dev/null 2>&1; done
  scrub
  for d in $(cgroup_dirs); do rmdir "$d" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

# Every cgroup hierarchy, from the mount table (a directory on the tmpfs at
# /sys/fs/cgroup may be an engine's leftover, not a hierarchy).
mapfile -t HIER < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5 }' /proc/self/mountinfo)
for h in "${HIER[@]}"; do
  mkdir -p "$h/$CG"
  if [ -e "$h/cpuset.cpus" ]; then   # cgroup v1 cpuset: a child needs cpus and mems
    cat "$h/cpuset.cpus" > "$h/$CG/cpuset.cpus"; cat "$h/cpuset.mems" > "$h/$CG/cpuset.mems"
  fi
done
[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && { echo "+memory +pids" > /sys/fs/cgroup/"$CG"/cgroup.subtree_control 2>/dev/null || true; }

bash hack/mkbundle.sh "$W/image" "$RT" >/dev/null   # `RUNTIME spec` makes the config
# Config templates: @ID@ is replaced per container (its cgroup path).
mktemplate() { # ARGS_JSON
  jq -c --arg root "$W/image/rootfs" --arg cg "/$CG/@ID@" --arg mark "$MARK" --argjson args "$1" '
    .process.args = $args | .process.terminal = false | .root.path = $root
    | .process.env += [$mark] | .linux.cgroupsPath = $cg
    | .linux.resources.memory = {limit: 134217728} | .linux.resources.pids = {limit: 64}
    | .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{names: ["kexec_load", "open_by_handle_at"], action: "SCMP_ACT_ERRNO"}]}' "$W/image/config.json"
}
TPL_SLEEP=$(mktemplate '["sleep","100000"]')
TPL_TRUE=$(mktemplate '["true"]')
# bundle ID [true]: makes $W/b/ID with the config for ID; sets B.
bundle() {
  B=$W/b/$1; mkdir -p "$B"
  local t=$TPL_SLEEP; [ "${2:-}" = true ] && t=$TPL_TRUE
  printf '%s' "${t//@ID@/$1}" > "$B/config.json"
}
rt() { "$RT" --root "$ROOT" "$@"; }
# A command that may not hang: rc 124/137 from timeout counts as a hang.
# Hangs go to a file: bounded commands also run in background subshells.
bounded() {
  local rc=0
  timeout -k 5 "$T_LIMIT" "$RT" --root "$ROOT" "$@" >/dev/null 2>>"$W/errors" || rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "hung: $*" >> "$W/hangs"; fi
  return $rc
}
hangs() { [ -e "$W/hangs" ] && wc -l < "$W/hangs" || echo 0; }
mkfifo "$W/never"; exec {NEVER}<>"$W/never"      # read -t on it is a sleep without a fork
mkdir -p "$ROOT"

# --- counters ---------------------------------------------------------------
n_mounts() { awk -v w="$W" 'index($5, w) == 1 || index($4, w) == 1' /proc/self/mountinfo | wc -l; }
n_cgroups() { local a=(/sys/fs/cgroup/*/"$CG"/*/ /sys/fs/cgroup/*/"$CG"/*/*/ /sys/fs/cgroup/"$CG"/*/ /sys/fs/cgroup/"$CG"/*/*/); echo ${#a[@]}; }
n_state() { local n=0 d; for d in "$ROOT"/* "$ROOT"/.[!.]*; do [ "${d##*/}" = @seccomp-cache ] || n=$((n + 1)); done; echo $n; }
n_fds() { local a=(/proc/$$/fd/*); echo ${#a[@]}; }
# Zombies of this script or orphaned to PID 1. Containers' inits are
# reparented to PID 1 when their runtime exits, and some PID 1s (a VM's
# agent here) reap late: a non-zero count is looked at again for up to 10 s.
n_zombies() {
  local n i
  for i in $(seq 100); do
    n=$(ps -eo stat=,ppid= | awk -v me=$$ '$1 ~ /^Z/ && ($2 == me || $2 == 1)' | wc -l)
    [ "$n" = 0 ] && break
    read -r -t 0.1 -u "$NEVER" _ || true
  done
  echo "$n"
}
n_ptys() { local a=(/dev/pts/[0-9]*); echo ${#a[@]}; }
n_procs() { marked_pids | wc -l; }
COUNTERS=(mounts cgroups state fds zombies ptys procs)
snapshot() { local c; for c in "${COUNTERS[@]}"; do printf '%s ' "$("n_$c")"; done; }

PASS=0; FAIL=0
verdict() { if [ "$1" = ok ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); fi; }
OUT=$W/table; : > "$OUT"
say() { printf '%s\n' "$*" | tee -a "$OUT"; }
# Median (or p99) in ms of µs values on stdin.
pct() { sort -n | awk -v q="$1" '{v[NR]=$1} END {if (NR==0) {print "-"; exit}
  if (q==50) m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; else {i=int(q/100*NR+0.999); if (i<1) i=1; m=v[i]}
  printf "%.2f", m/1000}'; }
stats() { # FILE: median p99 first-10%-median last-10%-median
  local n k; n=$(wc -l < "$1"); k=$((n / 10)); [ $k -ge 1 ] || k=1
  echo "$(pct 50 < "$1") $(pct 99 < "$1") $(head -n $k "$1" | pct 50) $(tail -n $k "$1" | pct 50)"
}

say "== soak: $RT ($("$RT" --version 2>/dev/null | head -1))"
say "lifecycles $N, kills per stage $KS, random kills per command $KR, concurrency rounds $ROUNDS"
T0=$SECONDS

# --- 1. lifecycle soak --------------------------------------------------------
# Two warm-up lifecycles so that caches (seccomp, page cache) are the same.
lifecycle() { # ID: create/start/state/kill/wait/delete, times in µs to $W/t.STEP
  local id=$1 a b polls=0 st
  bundle "$id"
  a=${EPOCHREALTIME/./}; rt create --bundle "$B" "$id" >/dev/null 2>>"$W/errors" || return 1
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.create"
  a=$b; rt start "$id" 2>>"$W/errors" || return 1
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.start"
  a=$b; st=$(rt state "$id" 2>>"$W/errors") || return 1
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.state"
  [[ $st == *'"running"'* ]] || { echo "lifecycle $id: not running: $st" >> "$W/errors"; return 1; }
  a=$b; rt kill "$id" KILL 2>>"$W/errors" || return 1
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.kill"
  a=$b
  until [[ $(rt state "$id" 2>/dev/null) == *'"stopped"'* ]]; do
    polls=$((polls + 1)); [ $polls -lt 100000 ] || { echo "lifecycle $id: never stopped" >> "$W/errors"; return 1; }
  done
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.wait"
  a=$b; rt delete "$id" 2>>"$W/errors" || return 1
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.delete"
  rm -rf "$W/b/$id"
}
lifecycle warm1 && lifecycle warm2 || true
rm -f "$W"/t.*
before=($(snapshot))
lfail=0
for i in $(seq "$N"); do
  a=${EPOCHREALTIME/./}
  lifecycle "l$i" || { lfail=$((lfail + 1)); bounded delete --force "l$i" || true; }
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/t.total"
done
after=($(snapshot))
say ""
say "## lifecycle soak: $N lifecycles, $lfail failed ($((SECONDS - T0)) s)"
say "| step | median ms | p99 ms | first 10% median | last 10% median | drift |"
say "|---|---|---|---|---|---|"
for s in create start state kill wait delete total; do
  read -r med p99 fm lm < <(stats "$W/t.$s")
  say "| $s | $med | $p99 | $fm | $lm | $(awk -v f="$fm" -v l="$lm" 'BEGIN {if (f+0 > 0) printf "%+.0f%%", (l/f-1)*100; else print "-"}') |"
done
verdict "$([ $lfail -eq 0 ] && echo ok || echo bad)"
say ""
say "| counter | before | after | delta |"
say "|---|---|---|---|"
for j in "${!COUNTERS[@]}"; do
  d=$((after[j] - before[j]))
  say "| ${COUNTERS[j]} | ${before[j]} | ${after[j]} | $d |"
  verdict "$([ $d -le 0 ] && echo ok || echo bad)"
done

# --- 2. crash loop ------------------------------------------------------------
# prepare CMD ID: the state CMD needs (created for start, running for the rest).
prepare() {
  case $1 in
    create) bundle "$2" ;;
    run) bundle "$2" true ;;
    start) bundle "$2"; bounded create --bundle "$B" "$2" ;;
    *) bundle "$2"; bounded create --bundle "$B" "$2" && bounded start "$2" ;;
  esac
}
# argv CMD ID: the command line that gets killed.
argv() {
  case $1 in
    create) A=(create --bundle "$W/b/$2" "$2") ;;
    run) A=(run --bundle "$W/b/$2" "$2") ;;
    start) A=(start "$2") ;;
    exec) A=(exec -e "$MARK" "$2" true) ;;
    kill) A=(kill "$2" KILL) ;;
    delete) A=(delete --force "$2") ;;
    update) A=(update --memory 100m --pids-limit 40 "$2") ;;
    pause) A=(pause "$2") ;;
  esac
}
# A debug line's stage: tong's "stage NAME: ...", or (any other runtime)
# the message without pids and parenthesised details.
stage_of() {
  local l=$1 m
  [[ $l =~ msg=\"(.*)\"($| ) ]] || return 1
  m=${BASH_REMATCH[1]}
  if [[ $RT == *tong* ]]; then
    [[ $m =~ ^stage\ (.*):\ [^\ ]+\ \(at\ [^\)]*\)$ ]] || return 1
    S=${BASH_REMATCH[1]}; return 0
  fi
  while [[ $m =~ ^(.*)\[[^]]*\](.*)$ ]]; do m=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; done
  while [[ $m =~ ^(.*)\([^\)]*\)(.*)$ ]]; do m=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; done
  S=${m//\\/}; S=${S//  / }
}
# stages CMD: the stage names of a --debug run of CMD, in order.
stages() {
  local id=probe-$1 l seen=()
  prepare "$1" "$id" >/dev/null 2>&1 || true
  argv "$1" "$id"
  rm -f "$W/probe.log"
  env "$MARK" "$RT" --root "$ROOT" --debug --log "$W/probe.log" "${A[@]}" >/dev/null 2>&1 || true
  bounded delete --force "$id" || true
  scrub
  while IFS= read -r l; do
    stage_of "$l" || continue
    [[ " ${seen[*]-} " == *" ${S// /_} "* ]] && continue
    seen+=("${S// /_}"); echo "$S"
  done < "$W/probe.log"
}

# One kill: CMD ID MODE(stage|delay) ARG. Sets LANDED (the runtime died of
# our SIGKILL) and counts leftovers and hangs into the row's totals.
kill_one() {
  local cmd=$1 id=$2 mode=$3 arg=$4 pid rc=0 rrc l ro h0
  h0=$(hangs)
  LANDED=0
  prepare "$cmd" "$id" >/dev/null 2>&1 || { R_PREP=$((R_PREP + 1)); }
  argv "$cmd" "$id"
  if [ "$mode" = stage ]; then
    # The log is a fifo we hold open read-write (so the runtime's open never
    # blocks); once the first line shows the runtime holds it, a read-only fd
    # replaces ours and the loop sees EOF when the runtime and its children
    # have closed it.
    local f=$W/log.fifo; rm -f "$f"; mkfifo "$f"
    exec {rw}<>"$f"
    env "$MARK" "$RT" --root "$ROOT" --debug --log "$f" "${A[@]}" >/dev/null 2>&1 &
    pid=$!
    local first=1 fd=$rw
    while :; do
      rrc=0; IFS= read -r -t "$T_LIMIT" -u "$fd" l || rrc=$?
      [ $rrc -eq 0 ] || break
      if [ $first = 1 ]; then exec {ro}<"$f"; exec {rw}<&-; fd=$ro; first=0; fi
      if [ $LANDED = 0 ] && stage_of "$l" && [ "$S" = "$arg" ]; then kill -KILL "$pid" 2>/dev/null || true; LANDED=1; fi
    done
    if [ $rrc -gt 128 ]; then
      echo "hung: $cmd killed at $arg: the log stayed open and silent for ${T_LIMIT}s" >> "$W/hangs"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    [ $first = 1 ] && exec {rw}<&- || exec {ro}<&-
    rm -f "$f"
  else
    env "$MARK" "$RT" --root "$ROOT" "${A[@]}" >/dev/null 2>&1 &
    pid=$!
    read -r -t "$arg" -u "$NEVER" l || true
    kill -KILL "$pid" 2>/dev/null && LANDED=1 || true
  fi
  { wait "$pid"; } 2>/dev/null || rc=$?
  [ $rc -eq 137 ] || LANDED=0
  # Nothing may hang; delete --force must leave nothing.
  bounded state "$id" || true
  bounded delete --force "$id" || true
  local s c p m
  s=$(n_state); c=$(n_cgroups); p=$(n_procs); m=$(n_mounts)
  R_STATE=$((R_STATE + s)); R_CG=$((R_CG + (c > 0))); R_PROC=$((R_PROC + p)); R_MNT=$((R_MNT + m))
  R_HANG=$((R_HANG + $(hangs) - h0))
  if [ $((s + c + p + m)) -gt 0 ]; then
    { echo "crash $cmd at $mode $arg ($id, killed=$LANDED): state $s, cgroup dirs $c, processes $p, mounts $m"
      for e in $(ls -A "$ROOT" | grep -v '^@seccomp-cache$'); do echo "  state: $e: $(ls -A "$ROOT/$e" | tr '\n' ' ')"; done
      for p in $(marked_pids); do echo "  process $p: $(tr '\0' ' ' < "/proc/$p/cmdline") ($(grep ^State: "/proc/$p/status"))"; done
    } >> "$W/leftovers" 2>/dev/null
    scrub
  fi
  rm -rf "$W/b/$id"
}
crash_row() { # CMD MODE(stage|delay) STAGE TRIES
  local i a label="stage $3"
  [ "$2" = delay ] && label="random 0-30 ms"
  R_LANDED=0 R_STATE=0 R_CG=0 R_PROC=0 R_MNT=0 R_HANG=0 R_PREP=0
  for i in $(seq "$4"); do
    a=$3
    if [ "$2" = delay ]; then printf -v a '0.%03d' $((RANDOM % 31)); fi
    # (stderr: bash's "Killed" notices of the runtimes it launched)
    kill_one "$1" "k-$1-$i" "$2" "$a" 2>>"$W/shell-notices"
    R_LANDED=$((R_LANDED + LANDED))
  done
  say "| $1 | $label | $4 | $R_LANDED | $R_STATE | $R_CG | $R_PROC | $R_MNT | $R_HANG |"
  verdict "$([ $((R_STATE + R_CG + R_PROC + R_MNT + R_HANG)) -eq 0 ] && echo ok || echo bad)"
}
T1=$SECONDS
say ""
say "## crash loop (SIGKILL, then state + delete --force; leftovers after delete --force)"
say "| command | killed at | tries | kills landed | state entries | cgroup sets | processes | mounts | hangs |"
say "|---|---|---|---|---|---|---|---|---|"
for cmd in create exec run; do
  mapfile -t st < <(stages "$cmd")
  for s in "${st[@]}"; do crash_row "$cmd" stage "$s" "$KS"; done
done
for cmd in create start exec kill delete update pause run; do
  crash_row "$cmd" delay - "$KR"
done
say "(crash loop: $((SECONDS - T1)) s)"

# --- 3. concurrency -------------------------------------------------------------
T2=$SECONDS
say ""
say "## concurrency"
say "| check | rounds | result | leftovers | hangs |"
say "|---|---|---|---|---|"
leftovers() { echo $(( $(n_state) + $(n_cgroups) + $(n_procs) + $(n_mounts) )); }
conc_row() { # NAME BAD LEFT HANGS DETAIL
  say "| $1 | $ROUNDS | $5 | $3 | $4 |"
  verdict "$([ $(($2 + $3 + $4)) -eq 0 ] && echo ok || echo bad)"
}
# Parallel creates of one id: exactly one wins, the losers leave nothing.
bad=0 left=0; h0=$(hangs) detail=""
for r in $(seq "$ROUNDS"); do
  id=same-$r; bundle "$id"
  for j in $(seq 8); do ( rc=0; bounded create --bundle "$B" "$id" || rc=$?; echo $rc > "$W/rc.$j" ) & done
  wait
  wins=0; for j in $(seq 8); do [ "$(cat "$W/rc.$j")" = 0 ] && wins=$((wins + 1)); done
  [ $wins -eq 1 ] || { bad=$((bad + 1)); detail+="round $r: $wins winners; "; }
  [[ $(timeout -k 5 "$T_LIMIT" "$RT" --root "$ROOT" state "$id" 2>/dev/null) == *'"created"'* ]] || { bad=$((bad + 1)); detail+="round $r: not created; "; }
  bounded delete --force "$id" || true
  l=$(leftovers); left=$((left + l)); [ "$l" = 0 ] || scrub
done
conc_row "8 parallel creates of one id" $bad $left $(($(hangs) - h0)) "${detail:-exactly one winner every round}"
# delete/kill/state/exec at once on one running container.
bad=0 left=0; h0=$(hangs)
for r in $(seq "$ROUNDS"); do
  id=ops-$r; bundle "$id"
  bounded create --bundle "$B" "$id" && bounded start "$id" || bad=$((bad + 1))
  for j in 1 2 3 4; do
    bounded delete --force "$id" &
    bounded kill "$id" KILL &
    bounded state "$id" &
    bounded exec -e "$MARK" "$id" true &
  done
  wait
  bounded delete --force "$id" || true
  if bounded state "$id"; then bad=$((bad + 1)); fi
  l=$(leftovers); left=$((left + l)); [ "$l" = 0 ] || scrub
done
conc_row "4 x (delete -f, kill, state, exec) at once" $bad $left $(($(hangs) - h0)) "container gone after every round: $([ $bad = 0 ] && echo yes || echo "no ($bad)")"
# 50 distinct containers in parallel.
bad=0 left=0; h0=$(hangs) detail=""
for r in $(seq $(( (ROUNDS + 2) / 3 ))); do
  for j in $(seq 50); do bundle "m$j"; done
  for j in $(seq 50); do bounded run -d --bundle "$W/b/m$j" "m$j" & done
  wait
  running=$(rt list -f json 2>/dev/null | jq '[.[]? | select(.status == "running")] | length')
  [ "$running" = 50 ] || { bad=$((bad + 1)); detail+="round $r: $running of 50 running; "; }
  for j in $(seq 50); do bounded delete --force "m$j" & done
  wait
  l=$(leftovers); left=$((left + l)); [ "$l" = 0 ] || scrub
done
conc_row "50 run -d at once, then 50 delete -f" $bad $left $(($(hangs) - h0)) "${detail:-50 of 50 running every round}"
# list under churn: two loops create/start/delete while list runs.
bad=0 left=0; h0=$(hangs)
churn() { local k=0; while [ ! -e "$W/stop" ]; do k=$((k + 1)); local id=churn$1-$k; bundle "$id"; bounded run -d --bundle "$B" "$id" || true; bounded delete --force "$id" || true; rm -rf "$W/b/$id"; done; }
rm -f "$W/stop"
churn 1 & CHURN_PIDS=$!
churn 2 & CHURN_PIDS+=" $!"
for i in $(seq $((ROUNDS * 20))); do
  out=$(timeout -k 5 "$T_LIMIT" "$RT" --root "$ROOT" list -f json 2>>"$W/errors") || { bad=$((bad + 1)); continue; }
  jq -e 'type == "array" or . == null' <<<"$out" >/dev/null 2>&1 || bad=$((bad + 1))
done
touch "$W/stop"; wait $CHURN_PIDS || true; CHURN_PIDS=
for id in $(rt list -q 2>/dev/null); do bounded delete --force "$id" || true; done
l=$(leftovers); left=$((left + l)); [ "$l" = 0 ] || scrub
hg=$(($(hangs) - h0))
say "| list -f json under churn (x$((ROUNDS * 20))) | $ROUNDS | $bad failed or unparsable | $left | $hg |"
verdict "$([ $((bad + left + hg)) -eq 0 ] && echo ok || echo bad)"
say "(concurrency: $((SECONDS - T2)) s)"

# --- report ---------------------------------------------------------------------
if [ -s "$W/leftovers" ]; then
  echo; echo "## leftovers (first 20)"; head -60 "$W/leftovers"
fi
if [ -s "$W/hangs" ]; then
  echo; echo "## hangs"; sort "$W/hangs" | uniq -c
fi
if [ -s "$W/errors" ]; then
  echo; echo "## distinct error messages (runtime stderr, pids and ids masked)"
  sed -E 's/[0-9]+/N/g' "$W/errors" | sort | uniq -c | sort -rn | head -25
fi
if [ -n "${SOAK_TABLE:-}" ]; then cp "$OUT" "$SOAK_TABLE"; fi
echo
echo "total time: $((SECONDS - T0)) s"
echo "$PASS passed, $FAIL failed, 0 skipped"
[ "$FAIL" -eq 0 ]
