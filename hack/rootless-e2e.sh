#!/usr/bin/env bash
# Rootless engines drive tong: rootless podman, a rootless containerd (a
# private containerd under Debian's rootlesskit, `ctr` as the client) and
# rootless dockerd (Debian's dockerd-rootless.sh), each run by a test user
# made here with its own subordinate uid/gid range.
# podman calls the runtime without --root, as uid 0 of its user namespace
# with XDG_RUNTIME_DIR set; the containerd shim calls it with --root, as
# uid 0 of rootlesskit's user namespace. Images are built locally from
# busybox-static (hack/mkimage.py), no registry; the network stays in the
# namespaces slirp4netns makes.
#   RUNTIME=/usr/sbin/runc hack/rootless-e2e.sh   proves the script on runc.
#   ENGINES=podman hack/rootless-e2e.sh           one engine only.
# Everything it makes is removed at the end: the user, its home and
# /run/user/<uid> (or its logind session), its processes (by pid), its
# cgroups, its entry on /dev/net/tun's ACL.
# Cgroups: on v1 (this host) podman and dockerd run without any (limits,
# pause, top are SKIP, with the reason the user's own `tong check` gives);
# containerd, whose ctr always sets a cgroups path, gets
# a v1 subtree chowned to the user. On v2 with systemd (the VM test bed:
# hack/vm/run.sh bash hack/rootless-e2e.sh) the user's session delegates one
# and podman uses the systemd cgroup manager, then the cgroupfs one for a
# few steps; containerd is SKIP there. In the VM (TONG_VM=1) podman only.
# Prints PASS/FAIL/SKIP per step and "N passed, M failed, K skipped";
# exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/e2e-common.sh
e2e_prepare podman
# The v1 subtree given to the user for containerd (below); anything else the
# engines leave on the tmpfs at /sys/fs/cgroup is removed too.
e2e_cgroups_snapshot "tong-rl-$$"
# In the VM test bed (TONG_VM=1, no network: the image has the packages)
# podman only: containerd is SKIP on v2 and the image has no docker.
if [ -n "${TONG_VM:-}" ]; then ENGINES=${ENGINES:-podman}; fi
ENGINES=${ENGINES:-podman containerd docker}
need=(uidmap slirp4netns acl util-linux)
for e in $ENGINES; do
  case $e in containerd) need+=(rootlesskit containerd) ;; docker) need+=(rootlesskit docker.io) ;; esac
done
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/tong-rootless.XXXXXX)
chmod 755 "$work"
user=tong-rl-$$
useradd -M -d "$work/home" -s /bin/bash "$user" || { echo "FAIL useradd $user"; fail=$((fail + 1)); summary; exit 1; }
uid=$(id -u "$user"); gid=$(id -g "$user")
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user"
sub_start=$(awk -F: -v u="$user" '$1 == u {print $2; exit}' /etc/subuid)
sub_count=$(awk -F: -v u="$user" '$1 == u {print $3; exit}' /etc/subuid)
mkdir -p "$work/home" "$work/bin"
run_dir=/run/user/$uid
chown "$user:" "$work/home"
# With systemd as PID 1 (the VM test bed), the user gets a real session:
# logind makes /run/user/<uid> and starts its systemd, whose delegated
# cgroup subtree rootless podman (cgroup manager systemd) uses. Without
# one (this host) the runtime directory is made here.
systemd=0; [ -d /run/systemd/system ] && command -v loginctl >/dev/null && systemd=1
bus=
if [ $systemd -eq 1 ]; then
  loginctl enable-linger "$user"
  for _ in $(seq 100); do [ -S "$run_dir/bus" ] && break; sleep 0.1; done
  bus="DBUS_SESSION_BUS_ADDRESS=unix:path=$run_dir/bus"
else
  mkdir -p "$run_dir"; chown "$user:" "$run_dir"; chmod 700 "$run_dir"
fi
# The runtime, where the user can reach it.
cp "$RUNTIME" "$work/bin/runtime"; chmod 755 "$work/bin/runtime"
RT=$work/bin/runtime
# slirp4netns opens /dev/net/tun: Debian makes it 0666, this host 0600.
tun_acl=0
if [ -c /dev/net/tun ] && ! runuser -u "$user" -- test -w /dev/net/tun; then
  # Without an ACL of its own before, it gets none back (-b; -x leaves a mask).
  tun_had_acl=0; getfacl -cp /dev/net/tun 2>/dev/null | grep -q '^mask::' && tun_had_acl=1
  setfacl -m "u:$user:rw" /dev/net/tun && tun_acl=1
fi
# Processes are the user's, or run as ids of its subordinate range: all
# started here (the user is this script's). Killed by pid.
our_pids() {
  ps -e -o pid=,uid= | awk -v u="$uid" -v s="$sub_start" -v n="$sub_count" \
    '$2 == u || ($2 >= s && $2 < s + n) {print $1}'
}
cleanup() {
  [ "$(type -t engine_cleanup)" = function ] && engine_cleanup
  for _ in 1 2 3; do
    pids=$(our_pids); [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null; sleep 0.3
  done
  mount | awk -v w="$work" -v r="$run_dir" '$3 ~ "^"w || $3 ~ "^"r {print $3}' | sort -r | xargs -r umount -l
  if [ $tun_acl -eq 1 ]; then
    if [ $tun_had_acl -eq 1 ]; then setfacl -x "u:$user" /dev/net/tun; else setfacl -b /dev/net/tun; fi
  fi
  if [ $systemd -eq 1 ]; then loginctl disable-linger "$user"; loginctl terminate-user "$user"; fi 2>/dev/null
  rm -rf "$work" "$run_dir"
  userdel "$user" 2>/dev/null
  # userdel keeps subordinate ranges on some versions.
  sed -i "/^$user:/d" /etc/subuid /etc/subgid
  true
}
e2e_on_exit cleanup
# As the user, with the environment a login session would give it.
as_user() {
  runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    HOME="$work/home" USER="$user" LOGNAME="$user" XDG_RUNTIME_DIR="$run_dir" $bus \
    bash -c 'cd "$HOME" && eval "$1"' bash "$1"
}
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
chmod 644 "$work/busybox.tar"
# The user's own `tong check` (its subordinate ids, its delegated cgroup),
# run where its engines run: in a scope of its systemd when it has one. The
# steps below skip by it.
user_check() { # tong's path
  cp "$1" "$work/bin/tong-check"; chmod 755 "$work/bin/tong-check"
  as_user "$([ $systemd -eq 1 ] && echo 'systemd-run --user --scope -q ')$work/bin/tong-check check --format json"
}
host_report user_check
ucheck() { local name=$1; shift; check "$name" as_user "$*"; }

podman_tests() {
  echo "== rootless podman ($RT)"
  mkdir -p "$work/home/.config/containers"
  # The systemd cgroup manager when the user has a systemd instance, else
  # cgroupfs. Host hard limits may be low: keep nofile within them.
  local mgr=cgroupfs; [ $systemd -eq 1 ] && mgr=systemd
  cat > "$work/home/.config/containers/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024"]
[engine]
events_logger = "file"
cgroup_manager = "$mgr"
CONF
  chown -R "$user:" "$work/home"
  P="podman --runtime $RT"
  # rm -t (--time) came with podman 3.2: Debian 11's 3.0.1 has none.
  local rm_t=; podman rm --help 2>/dev/null | grep -q -- '--time' && rm_t="-t 0"
  engine_cleanup() { as_user "$P rm -af $rm_t; $P system reset -f" >/dev/null 2>&1; }
  ucheck "podman: load a locally built image" "$P load -i $work/busybox.tar"
  ucheck "podman: run (slirp4netns netns joined by path)" "[ \"\$($P run --rm $img sh -c 'echo hello; ls /sys/class/net | grep -c tap0')\" = 'hello
1' ]"
  ucheck "podman: run with --network none" "[ \"\$($P run --rm --network none $img ls /sys/class/net)\" = lo ]"
  ucheck "podman: exit status propagated" "$P run --rm $img sh -c 'exit 7'; [ \$? -eq 7 ]"
  ucheck "podman: env, cwd and user" "[ \"\$($P run --rm -e FOO=bar -w /tmp -u 1000:1000 $img sh -c 'echo \$FOO \$(pwd) \$(id -u):\$(id -g)')\" = 'bar /tmp 1000:1000' ]"
  ucheck "podman: read-only rootfs" "$P run --rm --read-only $img sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
  ucheck "podman: tty" "script -qec '$P run --rm -t $img tty' /dev/null | grep -q /dev/pts/"
  mkdir "$work/vol"; chown "$user:" "$work/vol"
  ucheck "podman: bind-mounted volume, root inside is the user outside" "$P run --rm -v $work/vol:/vol $img sh -c 'echo data > /vol/f' && [ \"\$(cat $work/vol/f)\" = data ] && [ \"\$(stat -c %u $work/vol/f)\" = $uid ]"
  ucheck "podman: --userns keep-id" "[ \"\$($P run --rm --userns keep-id $img id -u)\" = $uid ]"
  ucheck "podman: --userns keep-id sees /sys" "$P run --rm --userns keep-id $img ls /sys/kernel | grep -q ."
  ucheck "podman: detached container" "$P run -d --name d1 $img sleep 1000"
  ucheck "podman: ps shows it running" "$P ps --format '{{.Names}} {{.Status}}' | grep -q '^d1 Up'"
  ucheck "podman: exec" "[ \"\$($P exec d1 sh -c 'echo in-exec')\" = in-exec ]"
  ucheck "podman: exec status" "$P exec d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
  ucheck "podman: exec -t" "script -qec '$P exec -t d1 tty' /dev/null | grep -q /dev/pts/"
  ucheck "podman: exec sees init's pid namespace" "$P exec d1 ps -o pid,args | grep -q '^ *1 sleep 1000'"
  ucheck "podman: top" "$P top d1 | grep -q 'sleep 1000'"
  if host_lacks cgroup-delegation; then
    skip "podman: memory limit" "$why"
    skip "podman: pause/unpause" "$why"
  else
    ucheck "podman: memory limit" "$P run -d --name m1 --memory 64m $img sleep 1000 && $P exec m1 cat /sys/fs/cgroup/memory.max | grep -qx 67108864 && $P rm -f $rm_t m1"
    ucheck "podman: pause/unpause" "$P pause d1 && $P unpause d1"
  fi
  ucheck "podman: stop" "$P stop -t 1 d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = exited ]"
  ucheck "podman: start again" "$P start d1 && [ \"\$($P container inspect -f '{{.State.Status}}' d1)\" = running ]"
  ucheck "podman: rm -f" "$P rm -f $rm_t d1 && ! $P container exists d1"
  local pv; pv=$(podman version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
  if host_lacks cgroup-delegation || host_lacks systemd; then
    skip "podman (cgroupfs manager) in the user's delegated subtree" "$why"
  elif [ "$(printf '%s\n' "$pv" 4.0 | sort -V | head -1)" != 4.0 ]; then
    # No oracle: runc 1.0.0-rc93 fails there ("mkdir /sys/fs/cgroup/
    # libpod_parent: permission denied"); tong warns and runs the container
    # in the caller's cgroup, without its limits.
    skip "podman (cgroupfs manager) in the user's delegated subtree" "podman $pv gives rootless cgroupfs containers a cgroupsPath under /libpod_parent, outside the user's delegated subtree (Debian 12's 4.3 and 13's 5.4 give none)"
  else
    # The cgroupfs manager on v2: podman gives no cgroups path, the runtime
    # makes the container's cgroup next to its own, in the user's delegated
    # subtree (podman runs in a scope of the user's systemd).
    local F="$P --cgroup-manager cgroupfs"
    ucheck "podman (cgroupfs): memory limit" "$F run -d --name c1 --memory 64m $img sleep 1000 && [ \"\$($F exec c1 cat /sys/fs/cgroup/memory.max)\" = 67108864 ]"
    ucheck "podman (cgroupfs): container cgroup in the user's subtree" "grep -q '^0::/user.slice/user-$uid.slice/user@$uid.service/' /proc/\$($F inspect -f '{{.State.Pid}}' c1)/cgroup"
    ucheck "podman (cgroupfs): exec -t" "script -qec '$F exec -t c1 tty' /dev/null | grep -q /dev/pts/"
    ucheck "podman (cgroupfs): stop and rm" "$F stop -t 1 c1 && $F rm c1 && ! $F container exists c1"
  fi
  engine_cleanup
  unset -f engine_cleanup
}

containerd_tests() {
  echo "== rootless containerd under rootlesskit ($RT)"
  host_fact cgroups mode
  if [ "$fact" = v2 ]; then
    # ctr always sets a cgroups path; on v2 a user may enter only cgroups
    # under its own delegated subtree, which needs containerd itself in a
    # delegated systemd scope (containerd-rootless-setuptool.sh). Not set up.
    host_needs "needs cgroup v1, where this script gives the user a chowned subtree (on cgroup v2 rootless containerd needs a delegated scope of its own, which this script does not set up)" cgroups
    skip "containerd" "$why"
    return
  fi
  local d=$work/ctrd
  mkdir -p "$d"; chown "$user:" "$d"
  cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$d/containerd.sock"
TOML
  # As containerd-rootless.sh does: slirp4netns, a private /etc and /run
  # whose /run/containerd (a link to the host's) is replaced by the user's.
  as_user "rootlesskit --net=slirp4netns --disable-host-loopback --copy-up=/etc --copy-up=/run \
    --state-dir=$d/rk sh -c 'rm -f /run/containerd && mkdir /run/containerd && exec containerd --config $d/config.toml' >$d/log 2>&1 &"
  local up=0
  for _ in $(seq 100); do [ -S "$d/containerd.sock" ] && { up=1; break; }; sleep 0.1; done
  if [ $up -eq 0 ]; then check "containerd: started under rootlesskit" sh -c "tail -3 $d/log; false"; return; fi
  # ctr in rootlesskit's namespaces, as `containerd-rootless-setuptool.sh nsenter`.
  C="nsenter -U --preserve-credentials -m -n -t \$(cat $d/rk/child_pid) ctr -a $d/containerd.sock"
  # ctr always sets a cgroups path, and runc ignores a rootless cgroup error
  # only without one: give the user a cgroup of its own in each hierarchy,
  # as runc's documentation for rootless on cgroup v1 says (chown).
  delegated=()
  while read -r mnt; do
    local cg=$mnt/tong-rl-$$
    mkdir "$cg" || continue
    delegated+=("$cg")
    for f in cpuset.cpus cpuset.mems; do [ -f "$cg/$f" ] && cat "$mnt/$f" > "$cg/$f"; done
    chown -R "$user:" "$cg"
  done < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5 }' /proc/self/mountinfo)
  engine_cleanup() {
    as_user "for t in \$($C task ls -q); do $C task kill -s KILL \$t; $C task delete -f \$t; done; for c in \$($C container ls -q); do $C container delete \$c; done" >/dev/null 2>&1
    [ -f "$d/rk/child_pid" ] && kill "$(cat "$d/rk/child_pid")" 2>/dev/null
    sleep 0.5
    for cg in "${delegated[@]}"; do find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null; done
  }
  local R="--runc-binary $RT" G="--cgroup /tong-rl-$$"
  ucheck "containerd: import a locally built image" "$C image import --base-name localhost/tong-busybox $work/busybox.tar"
  ucheck "containerd: run to exit, status propagated" "$C run --rm $R $G/e1 $img e1 sh -c 'exit 7'; [ \$? -eq 7 ]"
  ucheck "containerd: env and cwd" "[ \"\$($C run --rm $R $G/e2 --env FOO=bar --cwd /tmp $img e2 sh -c 'echo \$FOO \$(pwd)')\" = 'bar /tmp' ]"
  ucheck "containerd: read-only rootfs" "$C run --rm $R $G/e3 --read-only $img e3 sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"
  ucheck "containerd: root inside is the user outside" "[ \"\$($C run --rm $R $G/e4 $img e4 cat /proc/self/uid_map | awk 'NR == 1 {print \$2}')\" = $uid ]"
  ucheck "containerd: detached task with a memory limit" "$C run -d $R $G/d1 --memory-limit 67108864 $img d1 sleep 1000"
  check "containerd: memory limit in the user's cgroup" grep -rqx 67108864 /sys/fs/cgroup/memory/tong-rl-$$/d1/memory.limit_in_bytes /sys/fs/cgroup/tong-rl-$$/d1/memory.max
  ucheck "containerd: task exec" "[ \"\$($C task exec --exec-id x1 d1 sh -c 'echo in-exec')\" = in-exec ]"
  ucheck "containerd: task exec status" "$C task exec --exec-id x2 d1 sh -c 'exit 5'; [ \$? -eq 5 ]"
  ucheck "containerd: task ps" "$C task ps d1 | awk 'NR>1' | grep -q ."
  ucheck "containerd: pause" "$C task pause d1 && $C task ls | grep -q 'd1.*PAUSED'"
  ucheck "containerd: resume" "$C task resume d1 && $C task ls | grep -q 'd1.*RUNNING'"
  ucheck "containerd: kill" "$C task kill -s KILL d1 && for i in \$(seq 50); do $C task ls | grep -q 'd1.*STOPPED' && exit 0; sleep 0.1; done; exit 1"
  ucheck "containerd: delete" "$C task delete d1 && $C container delete d1"
  # ctr 1.6 can lose a tty's output when the process exits before its
  # console copy starts (seen on runc and tong alike): up to three tries.
  ucheck "containerd: tty" "for i in 1 2 3; do script -qec \"$C run --rm -t $R $G/t1 $img t1 tty\" /dev/null | grep -q /dev/pts/ && exit 0; done; exit 1"
  engine_cleanup
  unset -f engine_cleanup
}

docker_tests() {
  echo "== rootless dockerd (dockerd-rootless.sh) ($RT)"
  local d=$work/docker sh=/usr/share/docker.io/contrib/dockerd-rootless.sh
  mkdir -p "$d"; chown "$user:" "$d"
  # A private dockerd as in hack/docker-e2e.sh, through Debian's
  # dockerd-rootless.sh (rootlesskit, slirp4netns, copied-up /etc and /run).
  cat > "$d/daemon.json" <<JSON
{"runtimes": {"e2e": {"path": "$RT"}},
 "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}}}
JSON
  chown "$user:" "$d/daemon.json"
  as_user "DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS='--state-dir=$d/rk' $sh --config-file $d/daemon.json \
    --data-root $d/data --exec-root $d/exec --pidfile $d/docker.pid -H unix://$d/docker.sock \
    --iptables=false --ip-masq=false --bridge=none >$d/log 2>&1 &"
  D="docker -H unix://$d/docker.sock"
  local up=0
  for _ in $(seq 150); do as_user "$D version" >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
  engine_cleanup() {
    as_user "$D rm -f \$($D ps -aq)" >/dev/null 2>&1
    [ -f "$d/rk/child_pid" ] && kill "$(cat "$d/rk/child_pid")" 2>/dev/null
  }
  if [ $up -eq 0 ]; then check "docker: dockerd-rootless.sh started" sh -c "tail -3 $d/log; false"; engine_cleanup; unset -f engine_cleanup; return; fi
  local R="--runtime e2e --network none"
  ucheck "docker: load a locally built image" "$D load -i $work/busybox.tar"
  ucheck "docker: run to exit" "[ \"\$($D run --rm $R $img echo hello)\" = hello ]"
  ucheck "docker: exit status propagated" "$D run --rm $R $img sh -c 'exit 7'; [ \$? -eq 7 ]"
  ucheck "docker: missing binary is 127" "$D run --rm $R $img /no/such/binary; [ \$? -eq 127 ]"
  ucheck "docker: env, cwd and user" "[ \"\$($D run --rm $R -e FOO=bar -w /tmp -u 1000:1000 $img sh -c 'echo \$FOO \$(pwd) \$(id -u):\$(id -g)')\" = 'bar /tmp 1000:1000' ]"
  ucheck "docker: tty" "script -qec '$D run --rm -t $R $img tty' /dev/null | grep -q /dev/pts/"
  ucheck "docker: detached container" "$D run -d --name d1 $R $img sleep 1000"
  ucheck "docker: exec" "[ \"\$($D exec d1 sh -c 'echo in-exec')\" = in-exec ]"
  ucheck "docker: exec -t" "script -qec '$D exec -t d1 tty' /dev/null | grep -q /dev/pts/"
  if host_lacks cgroup-delegation; then skip "docker: top" "$why"; else ucheck "docker: top" "$D top d1 | grep -q 'sleep 1000'"; fi
  ucheck "docker: stop" "$D stop -t 1 d1 && [ \"\$($D container inspect -f '{{.State.Status}}' d1)\" = exited ]"
  ucheck "docker: rm -f" "$D rm -f d1"
  engine_cleanup
  unset -f engine_cleanup
}

for e in $ENGINES; do "${e}_tests"; done
summary
