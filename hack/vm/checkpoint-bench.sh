#!/usr/bin/env bash
# Checkpoint and restore wall times and image sizes of the same container
# under tong and under runc, in the VM test bed (criu works there):
#   bash hack/vm/run.sh bash hack/vm/checkpoint-bench.sh
# The container is the integration tests' counter (busybox sh appending
# 1, 2, 3, … to a file on a tmpfs every 0.1 s). Each repetition: run -d,
# wait for 5 lines, checkpoint (timed), du -sk of the image directory,
# restore -d (timed), check it counts on from the checkpoint, delete.
# Prints every repetition and the medians per runtime. REPS=5 by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-5}
TONG=${TONG:-$PWD/target/release/tong}
work=$(mktemp -d /tmp/ck-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
b=$work/bundle
mkdir -p "$b/rootfs"/{bin,proc,sys,dev,tmp,data,etc}
cp /bin/busybox "$b/rootfs/bin/busybox"
for app in $(/bin/busybox --list); do [ "$app" = busybox ] || ln -s busybox "$b/rootfs/bin/$app"; done
(cd "$b" && "$TONG" spec)
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "exec >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >> /data/log; sleep 0.1; done"]
c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
c["linux"]["cgroupsPath"] = "/tong-bench/ck"
json.dump(c, open(p, "w"))
PY
now() { date +%s%N; }
lines() { "$1" --root "$work/state-${1##*/}" exec ck cat /data/log 2>/dev/null | wc -l; }
wait_lines() { # runtime, at least n lines
  for _ in $(seq 300); do [ "$(lines "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  echo "counter stuck at $(lines "$1") lines" >&2; return 1
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
for rt in /usr/sbin/runc "$TONG"; do
  name=${rt##*/}
  : > "$work/$name.ck"; : > "$work/$name.rs"; : > "$work/$name.du"
  for i in $(seq "$REPS"); do
    img=$work/img-$name-$i
    "$rt" --root "$work/state-${rt##*/}" run -d --bundle "$b" ck </dev/null >/dev/null 2>&1
    wait_lines "$rt" 5
    t0=$(now)
    "$rt" --root "$work/state-${rt##*/}" checkpoint --image-path "$img" ck
    t1c=$(now)
    n=$(du -sk "$img" | cut -f1)
    t1=$(now)
    "$rt" --root "$work/state-${rt##*/}" restore -d --image-path "$img" --bundle "$b" ck </dev/null >/dev/null 2>&1
    t2=$(now)
    at=$(lines "$rt")
    wait_lines "$rt" $((at + 3))
    "$rt" --root "$work/state-${rt##*/}" delete -f ck
    ck=$(((t1c - t0) / 1000000)); rs=$(((t2 - t1) / 1000000))
    echo "$name rep $i: checkpoint $ck ms, restore $rs ms, images $n KiB"
    echo "$ck" >> "$work/$name.ck"; echo "$rs" >> "$work/$name.rs"; echo "$n" >> "$work/$name.du"
    rm -rf "$img"
  done
  echo "$name median of $REPS: checkpoint $(median < "$work/$name.ck") ms, restore $(median < "$work/$name.rs") ms, images $(median < "$work/$name.du") KiB"
done
rmdir /sys/fs/cgroup/tong-bench 2>/dev/null || true
