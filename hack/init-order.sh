#!/usr/bin/env bash
# Writes hack/init-order.txt: the functions a waiting container init has
# run, in address order, which hack/build-static.sh links first; then those
# the runtime itself ran in a whole `run` (create, start, wait, delete), so
# the runtime's own resident text shrinks too. Run it again when the bench's
# "waiting init VmHWM" or "peak RSS" rows grow (names of functions that
# changed crate, version or toolchain drop out of the list).
#
# How: an unstripped static tong (target/init-order) creates containers in
# the VM test bed with the kernel's fault-around set to one page
# (debugfs; this host's lockdown refuses it), so the pages present in the
# waiting init's mappings of the binary are exactly those it touched; every
# text symbol on such a page goes into the list. The runtime's pages are
# read the same way by a poststop hook (the runtime waits for it at the end
# of `run`'s delete; the hook's parent is the runtime).
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
# The present pages of a process's executable mappings of the binary, each
# line "TAG 0xADDRESS".
cat > /tmp/pages.py <<'PY'
import struct, sys
pid, tag = sys.argv[1], sys.argv[2]
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
            print(tag, hex(a + i * 4096))
PY
# The bench's config, and one with a seccomp filter as engines send.
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"))
json.dump(c, open(p + ".default", "w"))
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["kexec_load", "open_by_handle_at"], "action": "SCMP_ACT_ERRNO"}]}
json.dump(c, open(p + ".seccomp", "w"))
PY
for cfg in default seccomp; do
  [ "$cfg" = default ] || cp "$b/config.json.$cfg" "$b/config.json"
  (cd "$b" && "$BIN" --root /run/init-order create "io-$cfg" </dev/null >/dev/null 2>&1)
  pid=$("$BIN" --root /run/init-order state "io-$cfg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  python3 /tmp/pages.py "$pid" init
  "$BIN" --root /run/init-order delete -f "io-$cfg"
done
# The runtime: a whole `run` of each config, read by its poststop hook.
for cfg in default seccomp; do
  python3 - "$b/config.json.$cfg" "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("hooks", {})["poststop"] = [{"path": "/bin/sh", "args": ["sh", "-c", "python3 /tmp/pages.py $PPID rt >> /tmp/rt-pages"]}]
json.dump(c, open(sys.argv[2], "w"))
PY
  (cd "$b" && "$BIN" --root /run/init-order run "io-rt-$cfg" </dev/null >/dev/null 2>&1)
done
cat /tmp/rt-pages
rm -rf "$b" /tmp/rt-pages
GUEST
nm -n -S --defined-only "$bin" | python3 -c '
import sys
pages = {"init": set(), "rt": set()}
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) == 2 and f[0] in pages and f[1].startswith("0x"):
        pages[f[0]].add(int(f[1], 16))
if len(pages["init"]) < 20 or len(pages["rt"]) < 20:
    sys.exit("init-order: only %d init and %d runtime pages seen; the VM part failed?" % (len(pages["init"]), len(pages["rt"])))
syms = []
for line in sys.stdin:
    f = line.split()
    if len(f) >= 4 and f[2] in "tTwW":
        syms.append((int(f[0], 16), max(int(f[1], 16), 1), f[3]))
seen = set()
for tag in ("init", "rt"):  # the init'"'"'s first: it must stay packed
    for a, size, name in syms:
        if name not in seen and any(p in pages[tag] for p in range(a & ~0xfff, a + size, 4096)):
            seen.add(name)
            print(name)
' "$pages" > hack/init-order.txt
echo "init-order: $(wc -l < hack/init-order.txt) functions on $(grep -c '^init ' "$pages") init and $(grep -c '^rt ' "$pages") runtime pages" >&2
