# Shared by hack/vm/run.sh, test.sh and stop.sh (sourced): boot or reuse the
# test VM and run jobs in it through the 9p jobs directory.
# VM_DISTRO (trixie, the default: Debian 13; bookworm; bullseye) picks the
# guest; each has its own image and run directory (target/vm/DISTRO/), so
# the three can be built and booted one after another, or side by side.
# A guest kernel that oopses panics (oops=panic) and a panic reboots at once
# (panic=-1), which -no-reboot turns into qemu exiting: a job in a crashed
# guest fails within a second ("the VM died") with the whole trace printed
# (vm_crash), instead of sitting out its timeout.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
VM_DISTRO=${VM_DISTRO:-trixie}
export VM_DISTRO
run_dir=$repo/target/vm/$VM_DISTRO/run
jobs=$run_dir/jobs
pidfile=$run_dir/qemu.pid
console=$run_dir/console.log

vm_pid() { # the running VM's qemu pid, or nothing
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if [ -n "$pid" ] && grep -qs qemu "/proc/$pid/comm"; then echo "$pid"; fi
}

vm_stop() {
  local pid
  pid=$(vm_pid)
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
}

vm_boot() { # boots unless a VM of this tree is already up; waits until it takes jobs
  mkdir -p "$run_dir"
  exec 9>"$run_dir/lock"
  flock 9 # one boot at a time
  if [ -n "$(vm_pid)" ] && [ -f "$jobs/ready" ]; then flock -u 9; return 0; fi
  vm_stop
  local img accel t0=$SECONDS
  img=$(bash "$here/build.sh")
  # qemu truncates the console file at boot: keep the last guest's (a panic
  # trace) as console.prev.log.
  if [ -s "$console" ]; then mv -f "$console" "$run_dir/console.prev.log"; fi
  rm -rf "$jobs"; mkdir -p "$jobs"
  # KVM only when the CPU can do it: on some machines /dev/kvm exists but the
  # CPU has no vmx/svm and -accel kvm hangs.
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    accel=(-accel kvm -cpu host)
  else
    accel=(-accel tcg,thread=multi -cpu max)
  fi
  # A TCG guest very rarely oopses at boot while the kernel patches its own
  # text (an int3 left in a translated block: seen once in CI on 6.12.118,
  # in sched_clock_cpu). That is the emulator's, not tong's: boot again, a
  # few times, before failing.
  local try tries=${VM_BOOT_TRIES:-3} limit=${VM_BOOT_TIMEOUT:-300} died
  for ((try = 1; try <= tries; try++)); do
    echo "vm: booting $VM_DISTRO (${accel[1]}, image $img)" >&2
    rm -f "$jobs/ready"; t0=$SECONDS
    qemu-system-x86_64 "${accel[@]}" -smp "${VM_CPUS:-2}" -m "${VM_MEM:-2048}" \
      -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
      -append "console=ttyS0 rw quiet panic=-1 oops=panic systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all apparmor=1 security=apparmor tong.tree=$repo" \
      -no-reboot \
      -drive "file=$img/root.img,if=virtio,format=raw,cache=unsafe" -snapshot \
      -virtfs "local,path=$jobs,mount_tag=jobs,security_model=none" \
      -virtfs "local,path=$repo,mount_tag=tree,security_model=none,readonly=on" \
      -nodefaults -nic none -display none -serial "file:$console" \
      -daemonize -pidfile "$pidfile"
    died=0
    while [ ! -f "$jobs/ready" ]; do
      if [ -z "$(vm_pid)" ]; then died=1; break; fi
      if [ $((SECONDS - t0)) -ge "$limit" ]; then
        echo "vm: guest not ready after ${limit} s, killing it; console:" >&2
        tail -30 "$console" >&2; vm_stop; exit 1
      fi
      sleep 0.5
    done
    [ "$died" = 1 ] || break
    echo "vm: qemu exited during boot (try $try of $tries); console:" >&2
    vm_crash >&2
    cp -f "$console" "$run_dir/console.boot$try.log"
    if [ "$try" -ge "$tries" ]; then exit 1; fi
  done
  echo "vm: $VM_DISTRO up in $((SECONDS - t0)) s: $(tr '\n' ';' < "$jobs/ready")" >&2
  flock -u 9
}

vm_crash() { # the console from the guest kernel's first oops or panic on (or its last lines)
  local from
  from=$(grep -a -n -m1 -E 'cut here|BUG:|Oops|general protection|Kernel panic' "$console" | cut -d: -f1 || true)
  if [ -n "$from" ]; then tail -n "+$((from > 10 ? from - 10 : 1))" "$console" | head -300; else tail -30 "$console"; fi
}

vm_job() { # runs "$@" as root in the guest, in the tree; streams output; returns its status
  local n rc q="" a waiter limit=${VM_TIMEOUT:-3600} cwd=$repo t0=$SECONDS
  case $PWD in "$repo" | "$repo"/*) cwd=$PWD ;; esac
  n=$jobs/$(date +%s%N)-$$
  for a in "$@"; do q+=" $(printf %q "$a")"; done
  if [ -t 0 ]; then : > "$n.in"; else cat > "$n.in"; fi
  : > "$n.out"; : > "$n.err"
  {
    # The host may have rebuilt binaries since the VM booted: drop page-cache
    # pages of the 9p files, which would otherwise be stale (exec segfaults).
    echo "echo 3 > /proc/sys/vm/drop_caches"
    echo "export TONG_VM=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if [ -n "${VM_TONG:-}" ]; then
      # The static tong the host built, where the README says tong is.
      echo "mkdir -p $repo/target/release && cp -f $(printf %q "$VM_TONG") $repo/target/release/tong"
    fi
    echo "cd $(printf %q "$cwd")"
    echo "exec$q"
  } > "$n.tmp"
  mv "$n.tmp" "$n.job"
  # A waiter ends when the status appears (or at the timeout); tail --pid
  # reads to the end once more after it ends, so no output is lost.
  (
    while [ ! -f "$n.rc" ]; do
      [ $((SECONDS - t0)) -ge "$limit" ] && exit 1
      [ -n "$(vm_pid)" ] || exit 2
      sleep 0.3
    done
  ) &
  waiter=$!
  tail -n +1 -s 0.3 --pid="$waiter" -f "$n.err" >&2 &
  tail -n +1 -s 0.3 --pid="$waiter" -f "$n.out"
  wait $! 2>/dev/null || true
  if wait "$waiter"; then
    rc=$(cat "$n.rc")
  elif [ -z "$(vm_pid)" ]; then
    echo "vm: the VM died while running: $*" >&2; vm_crash >&2; rc=125
  else
    echo "vm: timeout: '$*' did not finish within ${limit} s; killing the stuck VM" >&2
    vm_crash >&2; vm_stop; rc=124
  fi
  rm -f "$n".*
  return "$rc"
}
