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

# What the host has is read from the mount table (statfs), never from a file
# or directory existing: /sys/fs/cgroup may be a tmpfs holding leftovers.
cgroup_v2_only() { [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; }
# systemd as PID 1 (sd_booted(3): /run/systemd/system) on a cgroup v2 host.
systemd_on_cgroup_v2() { [ -d /run/systemd/system ] && cgroup_v2_only; }

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
