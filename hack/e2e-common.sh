# Shared by the hack/*-e2e.sh scripts (sourced, from the repository root):
# the engine's package and tong's build, PASS/FAIL/SKIP per step, the final
# "N passed, M failed, K skipped" line with the exit status to match, and
# /sys/fs/cgroup left as the script found it.
e2e_prepare() { # the engine's Debian package; sets RUNTIME (tong, unless given)
  dpkg -s "$1" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
  bash hack/deps.sh
  if [ -z "${RUNTIME:-}" ]; then RUNTIME=$(bash hack/build-static.sh); fi
}
pass=0; fail=0; skipped=0
check() { # name, then a command whose success means PASS
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass + 1)); else echo "FAIL $name: $(echo "$out" | tail -3 | tr '\n' ' ')"; fail=$((fail + 1)); fi
}
# The one way a script reports a step this host cannot run: "SKIP name:
# reason", counted as skipped, never as passed (hack/vm/test.sh and
# hack/test.sh count these lines).
skip() { # name, reason
  echo "SKIP $1: $2"; skipped=$((skipped + 1))
}

# What this host lacks comes from `tong check --format json`, the one report
# every suite of the repository skips by: a step's SKIP reason is the
# sentence a user reads in `tong check`. The tong asked is TONG_CHECK, else
# RUNTIME when it is tong, else (RUNTIME is runc, the oracle) the guest's
# target/release/tong in the VM (TONG_VM=1) or tong's static build.
host_json=
host_tong() { # prints the path of the tong to ask
  if [ -n "${TONG_CHECK:-}" ]; then echo "$TONG_CHECK"
  elif "$RUNTIME" check --format json 2>/dev/null | jq -e .checks >/dev/null 2>&1; then echo "$RUNTIME"
  elif [ -n "${TONG_VM:-}" ]; then echo "$PWD/target/release/tong"
  else bash hack/build-static.sh
  fi
}
# Reads the report, through RUNNER when given (a function called with the
# tong's path, that runs `PATH check --format json` as someone else). Its
# exit status only says whether tong can run containers: ignored here.
host_report() { # [RUNNER]
  local tong err
  tong=$(host_tong); err=$(mktemp)
  if [ $# -gt 0 ]; then host_json=$("$1" "$tong" 2>"$err") || true; else host_json=$("$tong" check --format json 2>"$err") || true; fi
  if ! jq -e .checks >/dev/null 2>&1 <<<"$host_json"; then
    echo "FAIL tong check --format json ($tong) gave no report: $(tail -3 "$err" | tr '\n' ' ')"
    rm -f "$err"; fail=$((fail + 1)); summary; exit 1
  fi
  rm -f "$err"
}
host_c=
host_check() { # ID: the check's JSON in $host_c; a script asking for one the report lacks is a bug
  [ -n "$host_json" ] || host_report
  host_c=$(jq -c --arg id "$1" '.checks[] | select(.id == $id)' <<<"$host_json")
  if [ -z "$host_c" ]; then
    echo "FAIL tong check does not report $1 (add it to src/linux/host)"
    fail=$((fail + 1)); summary; exit 1
  fi
}
why=
host_lacks() { # ID: succeeds, with tong check's sentence in $why, when this host lacks it (missing or limited)
  host_check "$1"
  why=$(jq -r .sentence <<<"$host_c")
  [ "$(jq -r .status <<<"$host_c")" != present ]
}
host_needs() { # NEED ID: sets $why for a step this host's layout does not fit: what it needs, then the sentence of ID
  host_check "$2"
  why="$1; tong check: $(jq -r .sentence <<<"$host_c")"
}
host_fact() { # ID KEY: sets $fact to a fact of the check (`mode` of cgroups: v1, hybrid, v2)
  host_check "$1"
  fact=$(jq -r --arg k "$2" '.facts[$k] // empty' <<<"$host_c")
}
# The systemd cgroup driver's steps: systemd as PID 1 with its bus, and
# cgroup v2 alone (sets $why when the host lacks them).
host_lacks_systemd_v2() { host_lacks systemd || host_lacks cgroups; }

# The host's cgroup layout for paths (not for skips: those come from the
# report above), read from the mount table (statfs), never from a file or
# directory existing: /sys/fs/cgroup may be a tmpfs holding leftovers.
cgroup_v2_only() { [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; }

# /sys/fs/cgroup as the script found it. Engines leave cgroups behind, and on
# a hybrid host (a tmpfs at /sys/fs/cgroup) plain directories and files too:
# conmon makes {net_cls,net_prio,perf_event,hugetlb}/libpod_parent/conmon/tasks
# there for controllers with no v1 hierarchy, which tests and runtimes could
# then take for mounted hierarchies. The scope of the snapshot is what the
# script's engines may make: every entry on the tmpfs itself, and the cgroups
# whose first or second path component is one of the engine's cgroup names
# (its parents: libpod_parent, docker, ...). Cgroups elsewhere belong to
# others (systemd, the machine's own services, other test runs) and are
# neither removed nor compared.
e2e_cleanup=:
cg_names=
cg_before=
e2e_on_exit() { # the script's clean-up function: run once, by summary or on exit
  e2e_cleanup=$1
  trap e2e_finish EXIT
}
# Every directory under /sys/fs/cgroup and every entry on its tmpfs, as
# "fstype path", sorted by path (C order: a path sorts before its children).
cg_tree() {
  { find /sys/fs/cgroup -mindepth 1 \( -type d -o -fstype tmpfs \) -printf '%F %p\n' 2>/dev/null || true; } | LC_ALL=C sort -k2
}
cg_scope() { # filters cg_tree lines to the script's scope (see above)
  awk -v names="$cg_names" 'BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) own[a[i]] = 1 }
    { split(substr($2, length("/sys/fs/cgroup/") + 1), c, "/") }
    $1 == "tmpfs" || (c[1] in own) || (c[2] in own)'
}
e2e_cgroups_snapshot() { # the engine's cgroup names; at the start, before any engine runs
  cg_names="$*"
  cg_before=$(mktemp /tmp/tong-e2e-cgroups.XXXXXX)
  cg_tree | cg_scope > "$cg_before"
}
# Removes what appeared in the scope since the snapshot, deepest first:
# rmdir for cgroups (the kernel takes their files with them), rm for plain
# files only where the filesystem is the tmpfs. Then compares; prints what
# differs and fails when the scope is not as it was.
e2e_cgroups_restore() {
  local p diffs
  while read -r p; do
    [ -e "$p" ] || continue
    case $(stat -f -c %T "$p" 2>/dev/null) in
      tmpfs) if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p"; else rm -f "$p"; fi ;;
      cgroupfs | cgroup2fs) [ -d "$p" ] && rmdir "$p" ;;
    esac 2>/dev/null
  done < <(LC_ALL=C comm -13 <(cg_paths < "$cg_before") <(cg_tree | cg_scope | cg_paths) | LC_ALL=C sort -r)
  diffs=$(LC_ALL=C comm -3 <(cg_paths < "$cg_before") <(cg_tree | cg_scope | cg_paths))
  if [ -n "$diffs" ]; then
    echo "/sys/fs/cgroup differs from the start (at the left: gone; indented: new):"
    echo "$diffs" | head -20
    return 1
  fi
}
cg_paths() { cut -d' ' -f2-; }
e2e_finish() { # the script's clean-up, then /sys/fs/cgroup put back and checked
  local f=$e2e_cleanup
  e2e_cleanup=:
  "$f"
  if [ -n "$cg_before" ]; then
    check "/sys/fs/cgroup as the script found it" e2e_cgroups_restore
    rm -f "$cg_before"
    cg_before=
  fi
}
summary() { # cleans up first (e2e_finish), so that its checks count
  e2e_finish
  echo "$pass passed, $fail failed, $skipped skipped"
  [ "$fail" -eq 0 ]
}
