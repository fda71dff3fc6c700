#!/usr/bin/env bash
# Writes hack/init-order.txt: the functions a waiting container init has
# run, in address order, which hack/build-static.sh links first. Run it
# again when the bench's "waiting init VmHWM" row grows (names of functions
# that changed crate, version or toolchain drop out of the list).
#
# How: an unstripped static tong (target/init-order) creates containers in
# the VM test bed with the kernel's fault-around set to one page
# (debugfs; this host's lockdown refuses it), so the pages present in the
# waiting init's mappings of the binary are exactly those it touched; every
# text symbol on such a page goes into the list.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=$(CARGO_TARGET_DIR="$repo/target/init-order" STRIP=0 bash hack/build-static.sh)
pages=$(mktemp); trap 'rm -f "$pages"; bash hack/vm/stop.sh >/dev/null 2>&1 || true' EXIT
bash hack/vm/run.sh env BIN="$bin" REPO="$repo" bash -s > "$pages" <<'GUEST'
set -euo pipefail
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
fa=/sys/kernel/debug/fault_around_bytes
old=$(cat $fa); echo 4096 > $fa
trap 'echo "$old" > '$fa'; "$BIN" --root /run/init-order delete -f io-default >/dev/null 2>&1 || true; "$BIN" --root /run/init-order delete -f io-seccomp >/dev/null 2>&1 || true' EXIT
b=$(mktemp -d)
bash "$REPO/hack/mkbundle.sh" "$b" "$BIN" >/dev/null
# The bench's config, and one with a seccomp filter as engines send.
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"))
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["kexec_load", "open_by_handle_at"], "action": "SCMP_ACT_ERRNO"}]}
json.dump(c, open(p + ".seccomp", "w"))
PY
for cfg in default seccomp; do
  [ "$cfg" = default ] || cp "$b/config.json.$cfg" "$b/config.json"
  (cd "$b" && "$BIN" --root /run/init-order create "io-$cfg" </dev/null >/dev/null 2>&1)
  pid=$("$BIN" --root /run/init-order state "io-$cfg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  python3 - "$pid" <<'PY'
import struct, sys
pid = sys.argv[1]
pm = open(f"/proc/{pid}/pagemap", "rb")
for line in open(f"/proc/{pid}/maps"):
    f = line.split()
    if len(f) < 6 or f[4] == "0" or "x" not in f[1]:
        continue  # only the binary's executable mapping
    a, b = (int(x, 16) for x in f[0].split("-"))
    pm.seek(a // 4096 * 8)
    data = pm.read((b - a) // 4096 * 8)
    for i in range((b - a) // 4096):
        if struct.unpack_from("<Q", data, i * 8)[0] >> 63:
            print(hex(a + i * 4096))
PY
  "$BIN" --root /run/init-order delete -f "io-$cfg"
done
rm -rf "$b"
GUEST
nm -n -S --defined-only "$bin" | python3 -c '
import sys
pages = {int(l, 16) for l in open(sys.argv[1]) if l.startswith("0x")}
if len(pages) < 20:
    sys.exit(f"init-order: only {len(pages)} pages seen; the VM part failed?")
seen = set()
for line in sys.stdin:
    f = line.split()
    if len(f) < 4 or f[2] not in "tTwW" or f[3] in seen:
        continue
    a, size = int(f[0], 16), max(int(f[1], 16), 1)
    if any(p in pages for p in range(a & ~0xfff, a + size, 4096)):
        seen.add(f[3])
        print(f[3])
' "$pages" > hack/init-order.txt
echo "init-order: $(wc -l < hack/init-order.txt) functions on $(grep -c . "$pages") pages" >&2
