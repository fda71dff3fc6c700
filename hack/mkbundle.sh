#!/usr/bin/env bash
# Makes an OCI bundle from Debian's busybox-static: DIR/rootfs with busybox and
# its applet links, and DIR/config.json from `tong spec` (terminal off, sh -c ARGS).
# Usage: hack/mkbundle.sh DIR [TONG_BINARY]
set -euo pipefail
dir=${1:?usage: mkbundle.sh DIR [TONG]}
tong=${2:-$(dirname "$0")/../target/release/tong}
bb=/bin/busybox
# (grep reads all of it: with pipefail, an early `grep -q` exit could fail
# the pipeline through busybox's SIGPIPE.)
if ! "$bb" --help 2>&1 | grep 'statically linked\|BusyBox' >/dev/null; then
  echo "mkbundle: $bb missing: apt-get install busybox-static" >&2; exit 1
fi
mkdir -p "$dir/rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,usr/sbin}
cp "$bb" "$dir/rootfs/bin/busybox"
for app in $("$bb" --list); do
  [ "$app" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$app"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
echo 'root:x:0:' > "$dir/rootfs/etc/group"
chmod 1777 "$dir/rootfs/tmp"
rm -f "$dir/config.json"
"$tong" spec --bundle "$dir"
python3 - "$dir/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$; id"]
json.dump(c, open(p, "w"), indent=2)
PY
echo "bundle ready: $dir"
