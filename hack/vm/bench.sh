#!/usr/bin/env bash
# hack/bench.sh in the VM test bed (cgroup v2 only, systemd PID 1): tong,
# runc and crun side by side. TCG makes every number slow; compare the
# ratios of one run. Env: N (default 10), COLD_N (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
VM_TONG=$(bash hack/build-static.sh)
export VM_TONG
mkdir -p target/vm
gcc -O2 -static -o target/vm/floor hack/floor.c
exec env VM_TIMEOUT="${VM_TIMEOUT:-3600}" bash hack/vm/run.sh env N="${N:-10}" COLD_N="${COLD_N:-2}" \
  BENCH_TONG="$VM_TONG" BENCH_FLOOR="$repo/target/vm/floor" bash hack/bench.sh
