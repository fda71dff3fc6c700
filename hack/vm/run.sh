#!/usr/bin/env bash
# hack/vm/run.sh CMD [ARG…]: runs CMD as root in the test VM (systemd PID 1,
# cgroup v2 only, AppArmor), in the guest's own copy of this working tree
# (the host tree read-only over 9p under a writable overlay) with a fresh
# static tong at target/release/tong. Boots the VM, or reuses the running one;
# forwards stdin (read whole before the job starts), streams stdout and
# stderr, exits with CMD's status. hack/vm/stop.sh shuts the VM down.
#   VM_TIMEOUT=S   kill a stuck guest after S seconds (default 3600)
#   VM_NO_BUILD=1  skip building tong on the host first
set -euo pipefail
. "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || { echo "usage: hack/vm/run.sh CMD [ARG…]" >&2; exit 2; }
if [ -z "${VM_NO_BUILD:-}" ] && [ -z "${VM_TONG:-}" ]; then
  VM_TONG=$(bash "$repo/hack/build-static.sh")
  export VM_TONG
fi
vm_boot
rc=0; vm_job "$@" || rc=$?
exit "$rc"
