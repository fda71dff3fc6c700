#!/usr/bin/env bash
# The suite on a modern host: builds tong, the integration tests and the
# conformance suite on this machine, boots a fresh VM of VM_DISTRO (trixie,
# the default: Debian 13; bookworm; bullseye: Debian 11, kernel 5.10;
# systemd PID 1, cgroup v2 only, AppArmor; see build.sh) and runs in it
# VM_SUITE=full (trixie's default) or core (the others'):
#   core: the integration test binaries (VM_TESTS="a b": only those files,
#   each left out one skip), the conformance suite on tong (and on the
#   guest's runc, the oracle, for the cases tong failed; every case with
#   VM_ORACLE=1), containerd, podman and docker on tong with each cgroup
#   driver (cgroupfs, systemd), checkpoint/restore on tong where the guest
#   has criu, rootless podman on tong.
#   full: all of core, plus the conformance suite's cgroup cases with
#   --systemd-cgroup, containerd's CRI with the systemd cgroup driver (tong
#   and runc in one containerd) and today's engine paths on tong
#   (hack/vm/today-e2e.sh: buildah bud, kube play, healthchecks); with
#   VM_ORACLE=1 also the engines' systemd-driver checks, checkpoint/restore
#   and rootless podman on runc (the oracle that proves each script in that
#   guest).
# Streams the guest's output and ends with "N passed, M failed, K skipped";
# exits non-zero on any failure or when the VM does not come up. Each part's
# log stays in target/vm/DISTRO/run/logs/, with `summary` (one line a part:
# its counts and seconds; hack/vm/hosts-table.sh reads it) and `versions`.
#   VM_PART_TIMEOUT=S   a part running longer is a stuck guest (default 2400: the integration part alone runs ~15 min of TCG under load)
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$repo"
suite=${VM_SUITE:-$([ "$VM_DISTRO" = trixie ] && echo full || echo core)}
case $suite in full | core) ;; *) echo "vm-test: VM_SUITE=$suite: not full or core" >&2; exit 2 ;; esac
full() { [ "$suite" = full ]; }
t_start=$SECONDS
stamp() { echo "vm-test: $* (at $((SECONDS - t_start)) s)"; }

# Host side: the image (installs qemu, mmdebstrap, jq on first use), then
# the builds, since the guest has no cargo.
bash "$here/build.sh" >/dev/null
bash hack/deps.sh
VM_TONG=$(bash hack/build-static.sh)
export VM_TONG
# The guest runs the host's test binaries, conformance suite and CRI client.
dbg=${CARGO_TARGET_DIR:-$repo/target}/debug
cargo build --locked -q -p conformance -p cri-e2e
mkdir -p target/vm
# The CRI pods' pause, static: the guest has no compiler.
gcc -static -Os -s -o target/vm/pause hack/pause/pause.c
tests_sel=(--workspace)
if [ -n "${VM_TESTS:-}" ]; then tests_sel=(); for t in $VM_TESTS; do tests_sel+=(--test "$t"); done; fi
mapfile -t bins < <(cargo test "${tests_sel[@]}" --locked --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test and .target.kind == ["test"]) | .executable')
[ ${#bins[@]} -gt 0 ] || { echo "vm-test: no integration test binaries"; exit 1; }
tools=$dbg
# bullseye's glibc (2.31) is older than the host's, whose binaries ask for
# GLIBC_2.34 symbols: there they run as copies whose loader and libraries
# are the host's (patchelf; the tree has the same path in the guest),
# which saves building them all again static (~150 s of CI).
if [ "$VM_DISTRO" = bullseye ]; then
  command -v patchelf >/dev/null || { apt-get install -y -qq patchelf >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null; }; }
  tools=$repo/target/vm/hostlib/bin
  rm -rf "${tools%/bin}"; mkdir -p "$tools"
  for b in "${bins[@]}" "$dbg/conformance" "$dbg/cri-e2e"; do
    ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' |
      xargs -r cp -nL -t "${tools%/bin}"
    cp "$b" "$tools/"
    patchelf --set-interpreter "${tools%/bin}/$(basename "$(patchelf --print-interpreter "$b")")" \
      --force-rpath --set-rpath "${tools%/bin}" "$tools/${b##*/}"
  done
  bins=("${bins[@]/#*\//$tools/}")
fi
# VM_TESTS names the integration test files to run (default: all of them);
# CI's oldest guest runs the ones its kernel's fallbacks live in. Each file
# left out is one skip, with the reason.
not_run=()
if [ -n "${VM_TESTS:-}" ]; then
  for f in tests/*.rs; do
    n=${f##*/}; n=${n%.rs}
    [[ " $VM_TESTS " == *" $n "* ]] || not_run+=("$n")
  done
fi
stamp "host build done"

logs=$run_dir/logs
rm -rf "$logs"; mkdir -p "$logs"
cp "$(bash "$here/build.sh")/versions" "$logs/versions"
echo "suite $suite" >> "$logs/versions"
: > "$logs/summary"
# A fresh VM, so nothing of an earlier session counts. A guest that does not
# come up fails the run (and says so in the summary).
vm_stop
trap vm_stop EXIT
if ! (vm_boot); then
  echo "boot: FAILED, the guest did not come up" >> "$logs/summary"
  echo "0 passed, 1 failed"
  exit 1
fi
cp "$jobs/ready" "$logs/ready"
stamp "VM up"
tong=$repo/target/release/tong
# The guest's `tong check` (its text and JSON stay in the logs): the parts
# below take their host skips from it, so a SKIP's reason is its sentence.
vm_job "$tong" check < /dev/null > "$logs/check.txt" 2>&1 || true
vm_job "$tong" check --format json < /dev/null > "$logs/check.json" 2>/dev/null || true
if ! jq -e .checks "$logs/check.json" >/dev/null 2>&1; then
  echo "check: FAILED, tong check --format json gave no report in the guest" >> "$logs/summary"
  echo "vm-test: tong check --format json gave no report in the guest"; cat "$logs/check.txt"
  echo "0 passed, 1 failed"
  exit 1
fi
head -1 "$logs/check.txt"
guest_lacks() { # ID: succeeds, with the guest's tong check sentence in $why, when the guest lacks it
  local c
  c=$(jq -c --arg id "$1" '.checks[] | select(.id == $id)' "$logs/check.json")
  [ -n "$c" ] || { echo "vm-test: tong check does not report $1" >&2; exit 1; }
  why=$(jq -r .sentence <<<"$c")
  [ "$(jq -r .status <<<"$c")" != present ]
}
passed=0 failed=0 skipped=0 failed_parts=()
add() { # name, passed, failed, skipped, exit status of the part
  passed=$(($passed + $2)); failed=$(($failed + $3)); skipped=$(($skipped + $4))
  # A part that exits non-zero without a failed test (a crash) fails too.
  if [ "$5" -ne 0 ] && [ "$3" -eq 0 ]; then failed=$((failed + 1)); fi
  if [ "$5" -ne 0 ] || [ "$3" -ne 0 ]; then failed_parts+=("$1"); fi
  echo "$1: $2 passed, $3 failed, $4 skipped, $((SECONDS - t0)) s" >> "$logs/summary"
}
run_part() { # log name, then the command for the guest; leaves the status in $rc
  local log=$logs/$1.log
  shift
  # A part that timed out killed its stuck guest: the next part gets a fresh
  # one rather than failing on a dead VM (a guest that cannot boot again
  # fails the part).
  if [ -z "$(vm_pid)" ]; then
    echo "vm-test: the guest is gone, booting it again"
    (vm_boot) || { echo "vm: the guest did not come up again" > "$log"; echo 1 > "$log.rc"; rc=1; return; }
  fi
  { VM_TIMEOUT=${VM_PART_TIMEOUT:-2400} vm_job "$@" </dev/null 2>&1 && echo 0 > "$log.rc" || echo $? > "$log.rc"; } | tee "$log"
  rc=$(cat "$log.rc")
  # A guest that died (a kernel panic) or was killed: its console, with the
  # trace, stays beside the part's log.
  if [ -z "$(vm_pid)" ] && [ -f "$console" ]; then cp "$console" "${log%.log}.console.log"; fi
}
# "N passed, M failed, K skipped" (conformance, e2e scripts) of a log.
counts() { awk '/^[0-9]+ passed, [0-9]+ failed/ { p = $1; f = $3; s = ($5 ~ /^[0-9]+$/) ? $5 : 0; seen = 1 }
  END { if (seen) print p, f, s; else print 0, 1, 0 }' "$1"; }

# 1. Integration tests. Tests that assert cgroup v1 facts skip themselves
# here by the guest's tong check (each names its v2 counterpart in
# tests/modern_host.rs). The tests this VM exists for (cgroup v2 alone, systemd, AppArmor, criu):
# one that skips here is a failure. A file stands for all its tests but
# those in may_skip.
must_run_files=(systemd modern_host checkpoint)
must_run_tests=(
  apparmor_exec_label_reaches_the_process
  a_user_under_its_systemd_instance_gets_its_memory_limit
  a_user_with_systemd_cgroup_gets_a_scope_on_its_instance
)
may_skip=(
  v2_rdma_limit # the VM has no RDMA device either
)
# criu is not in every guest (Debian 11 has no package): there the
# checkpoint tests skip by tong check's criu line, as the checkpoint part does.
if guest_lacks criu; then must_run_files=(systemd modern_host); fi
# cpu.idle came with Linux 5.15 (Debian 11's 5.10 has none).
if guest_lacks cpu-idle; then may_skip+=(v2_cpu_idle); fi
echo "== integration tests"
t0=$SECONDS
# The tests run the shipped build, the static release tong, bound over the
# debug one they were built with (the host's cargo test keeps the debug
# build's checks). Under TCG the 66 MB debug binary made every file 1.6x
# slower on 6.12 and 3.8x on 5.10, where no mount_setattr means each
# create copies the runtime into a sealed memfd (lifecycle.rs: 40 s -> 26 s,
# 79 s -> 21 s).
run_part integration bash -c '
  dbg_tong=$2; mount --bind "$1" "$dbg_tong" || exit 1; shift 2
  rc=0; for b; do echo "-- ${b##*/}"; "$b" 2>&1 || rc=1; done
  umount "$dbg_tong"; exit $rc' \
  _ "$tong" "$dbg/tong" "${bins[@]}"
# libtest: "test result: ok. N passed; M failed; …"; a test that reported
# "SKIP name: reason" passed in libtest's eyes and counts as skipped here,
# or as failed when it is one the VM must run ("-- <binary>" lines say
# whose tests follow).
read -r p f s bad < <(awk -v files="${must_run_files[*]}" -v tests="${must_run_tests[*]}" -v may="${may_skip[*]}" '
  BEGIN { split(files, a, " "); for (i in a) file[a[i]] = 1; split(tests, a, " "); for (i in a) test[a[i]] = 1
          split(may, a, " "); for (i in a) ok[a[i]] = 1; bad = "" }
  /^-- / { bin = $2; sub(/-[0-9a-f]+$/, "", bin) }
  /^test result:/ { p += $4; f += $6; seen = 1 }
  match($0, /SKIP [A-Za-z0-9_:]+: /) {
    k++; name = substr($0, RSTART + 5, RLENGTH - 7)
    if (((bin in file) && !(name in ok)) || (name in test)) { n++; bad = bad " " name }
  }
  END { if (!seen) { p = 0; f = 1 } print p - k, f + n, k - n, (bad == "" ? "-" : bad) }' "$logs/integration.log")
[ "$bad" = - ] || echo "vm-test: these must run in the VM and skipped: $bad"
for n in "${not_run[@]}"; do
  echo "SKIP integration $n: not in VM_TESTS ($VM_TESTS), the files this run was given"
  s=$((s + 1))
done
add "integration tests" "$p" "$f" "$s" "$rc"
stamp "integration tests: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"

# 2. Conformance on tong, then runc, the oracle, on the cases tong failed
# (on all of them with VM_ORACLE=1): a case runc fails on this host as well
# proves nothing about tong and is counted as skipped, like the suite's own
# "no oracle" cases. Asking the oracle only about failures keeps the verdict
# and saves runc's ~6 min of TCG a run.
cases() { sed -n 's/^not ok [0-9]* - \([^ ]*\).*/\1/p' "$1" | sort; }
# Cases runc fails here as well prove nothing about tong: they move from
# failed ($f) to skipped ($s), and a part failing only by them passes ($rc).
discount_no_oracle() { # tong's log, runc's log
  local no_oracle n
  no_oracle=$(comm -12 <(cases "$1") <(cases "$2"))
  n=$(grep -c . <<<"$no_oracle" || true)
  if [ "$n" -gt 0 ]; then
    echo "no oracle on this host (runc fails these too), counted as skipped: $(tr '\n' ' ' <<<"$no_oracle")"
    f=$((f - n)); s=$((s + n))
    [ "$f" -gt 0 ] || rc=0
  fi
}
ask_oracle() { # part, label, tong's part log, extra conformance arguments: runs runc, discounts
  local part=$1 label=$2 tlog=$3 c t1=$SECONDS trc=$rc sel=()
  shift 3
  if [ -z "${VM_ORACLE:-}" ]; then
    for c in $(cases "$tlog"); do sel+=(--case "$c"); done
    if [ ${#sel[@]} -eq 0 ]; then
      echo "$label on runc (oracle): not asked, tong failed no case" >> "$logs/summary"
      return
    fi
  fi
  echo "== $label on runc (the oracle), on $((${#sel[@]} / 2)) case(s) tong failed (0: on all)"
  run_part "$part" "$tools/conformance" --tong "$tong" --runtime /usr/sbin/runc "$@" "${sel[@]}"
  rc=$trc
  local rp rf rs
  read -r rp rf rs < <(counts "$logs/$part.log")
  echo "$label on runc (oracle, not counted): $rp passed, $rf failed, $rs skipped, $((SECONDS - t1)) s" >> "$logs/summary"
  stamp "$label on runc: $rp passed, $rf failed, $rs skipped (not counted), $((SECONDS - t1)) s"
  discount_no_oracle "$tlog" "$logs/$part.log"
}
echo "== conformance on tong"
t0=$SECONDS
run_part conformance-tong "$tools/conformance" --tong "$tong" --runtime "$tong"
read -r p f s < <(counts "$logs/conformance-tong.log")
ask_oracle conformance-runc conformance "$logs/conformance-tong.log"
add "conformance on tong" "$p" "$f" "$s" "$rc"
stamp "conformance on tong: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"

# 3. The engines drive the static tong, with cgroupfs and then with the
# systemd cgroup driver (transient scopes). In the full suite each systemd
# part runs on runc (the oracle) first, with the same checks.
for e in containerd podman docker; do
  echo "== $e drives tong"
  t0=$SECONDS
  run_part "$e" env RUNTIME="$tong" bash "hack/$e-e2e.sh"
  read -r p f s < <(counts "$logs/$e.log")
  add "$e drives tong" "$p" "$f" "$s" "$rc"
  stamp "$e: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
done
sd_runtimes=("$tong")
if full && [ -n "${VM_ORACLE:-}" ]; then sd_runtimes=(/usr/sbin/runc "$tong"); fi
for e in containerd podman docker; do
  for r in "${sd_runtimes[@]}"; do
    name=$e-systemd-$(basename "$r")
    echo "== $e with the systemd cgroup driver drives $r"
    t0=$SECONDS
    run_part "$name" env SYSTEMD_CGROUP=1 RUNTIME="$r" bash "hack/$e-e2e.sh"
    read -r p f s < <(counts "$logs/$name.log")
    add "$name" "$p" "$f" "$s" "$rc"
    stamp "$name: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
  done
done

# 4. Full suite only: the conformance suite's cgroup cases with
# --systemd-cgroup (all of it takes ~5 min a runtime under systemd in TCG
# against ~2 with cgroupfs), and containerd's CRI with SystemdCgroup = true,
# both handlers (tong, runc) in one containerd, comparing their scopes'
# `systemctl show`.
if full; then
  echo "== conformance with --systemd-cgroup on tong"
  t0=$SECONDS
  run_part sd-conformance-tong "$tools/conformance" --tong "$tong" --runtime "$tong" --systemd-cgroup --filter cgroup
  read -r p f s < <(counts "$logs/sd-conformance-tong.log")
  ask_oracle sd-conformance-runc "systemd conformance" "$logs/sd-conformance-tong.log" --systemd-cgroup --filter cgroup
  add "systemd conformance on tong" "$p" "$f" "$s" "$rc"
  stamp "systemd conformance on tong: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
  echo "== containerd's CRI with SystemdCgroup = true drives tong and runc"
  t0=$SECONDS
  run_part sd-cri env SYSTEMD_CGROUP=1 RUNTIME="$tong" CRI_CLIENT="$tools/cri-e2e" \
    CRI_PAUSE="$repo/target/vm/pause" bash hack/cri-e2e.sh
  read -r p f s < <(counts "$logs/sd-cri.log")
  add "systemd CRI" "$p" "$f" "$s" "$rc"
  stamp "systemd CRI: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
fi

# 5. podman and containerd checkpoint and restore through criu, where the
# guest's tong check finds it (bullseye has no criu package): on runc first
# in the full suite (the oracle proves the script), then on tong.
oracle_runtimes=("$tong")
if full && [ -n "${VM_ORACLE:-}" ]; then oracle_runtimes=(/usr/sbin/runc "$tong"); fi
if ! guest_lacks criu; then
  for rt in "${oracle_runtimes[@]}"; do
    name=${rt##*/}
    echo "== checkpoint/restore e2e on $name"
    t0=$SECONDS
    run_part "checkpoint-$name" env RUNTIME="$rt" bash hack/vm/checkpoint-e2e.sh
    read -r p f s < <(counts "$logs/checkpoint-$name.log")
    add "checkpoint e2e on $name" "$p" "$f" "$s" "$rc"
    stamp "checkpoint e2e on $name: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
  done
else
  echo "SKIP checkpoint/restore e2e: $why"
  echo "checkpoint e2e: SKIP, $why" >> "$logs/summary"
  skipped=$((skipped + 1))
fi

# 6. Rootless podman (a user with subordinate ranges, its systemd instance
# delegating cpu/memory/pids; systemd and cgroupfs managers); in the full
# suite on runc first, the oracle that proves the script here.
for rt in "${oracle_runtimes[@]}"; do
  name=tong; [ "$rt" = "$tong" ] || name="runc (oracle)"
  echo "== rootless podman drives $name"
  t0=$SECONDS
  run_part "rootless-${name%% *}" env RUNTIME="$rt" bash hack/rootless-e2e.sh
  read -r p f s < <(counts "$logs/rootless-${name%% *}.log")
  add "rootless podman on $name" "$p" "$f" "$s" "$rc"
  stamp "rootless podman on $name: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
done

# 7. Today's engines' new paths (issue 28): buildah bud --runtime, podman 5's
# kube play, healthchecks, --rootfs; in the full suite (Debian 13's engines),
# on tong. The oracle proved the script (runc 1.1.15: 15 passed, 2026-12-06);
# VM_TODAY_ORACLE=1 runs it on runc first again.
if full; then
  today_runtimes=("$tong")
  [ -z "${VM_TODAY_ORACLE:-}" ] || today_runtimes=(/usr/sbin/runc "$tong")
  for rt in "${today_runtimes[@]}"; do
    name=${rt##*/}
    echo "== today's engine paths (buildah, kube play, healthcheck, --rootfs) on $name"
    t0=$SECONDS
    run_part "today-$name" env RUNTIME="$rt" bash hack/vm/today-e2e.sh
    read -r p f s < <(counts "$logs/today-$name.log")
    add "today-e2e on $name" "$p" "$f" "$s" "$rc"
    stamp "today-e2e on $name: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s"
  done
fi

stamp "done"
echo "total: $((SECONDS - t_start)) s" >> "$logs/summary"
[ ${#failed_parts[@]} -eq 0 ] || echo "failed parts: ${failed_parts[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failed_parts[@]} -eq 0 ]
