#!/usr/bin/env bash
# Today's peers for hack/bench.sh: crun and runc of Debian 13 "trixie", run
# on this Debian 12 host. mmdebstrap makes a trixie root once (target/peers/
# trixie, made again only when missing); the two binaries are copied out of
# it to target/peers/bin/<name>-<version>, and the dynamic ones get their
# loader and library path (DT_RPATH, which also serves their libraries'
# own dependencies) pointed into that root, so they run on trixie's glibc
# and libraries, not the host's. A static one (runc is Go) is left alone.
#   hack/peers.sh      prints the peer binaries' paths, one a line
#   hack/peers.sh criu prints a directory whose `criu` is trixie's (4.1.x,
#                      which passes `criu check` on kernels Debian 12's 3.17
#                      fails on), for the host's checkpoint tests
# When the root cannot be made (no network, no mirror), says so in one line
# on stderr, prints nothing and exits 0: the bench carries on without them.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/target/peers
root=$dir/trixie
bin=$dir/bin
log=$dir/mmdebstrap.log
want=(runc crun)
[ "${1:-}" != criu ] || want=(criu)
skip() { echo "peers: $*; going on without trixie's ${want[*]}" >&2; exit 0; }

need() {
  command -v "$1" >/dev/null && return
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 ||
    skip "cannot install $2"
}
need mmdebstrap mmdebstrap
need patchelf patchelf
need file file

mkdir -p "$dir"
if [ ! -d "$root" ]; then
  # Made aside and renamed: a root that exists is a complete one.
  rm -rf "$root.new"
  if ! mmdebstrap --variant=apt --include=crun,runc,criu trixie "$root.new" >"$log" 2>&1; then
    rm -rf "$root.new"
    skip "cannot make the Debian 13 root (mmdebstrap failed, see $log)"
  fi
  mv "$root.new" "$root"
fi

mkdir -p "$bin"
for pkg in "${want[@]}"; do
  src=
  for d in usr/sbin usr/bin; do [ -x "$root/$d/$pkg" ] && { src=$root/$d/$pkg; break; }; done
  [ -n "$src" ] || { echo "peers: no $pkg in $root (remove the root to make it again); going on without it" >&2; continue; }
  # Debian's version without its revision and repack suffix: 1.1.15+ds1-2 -> 1.1.15.
  ver=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Version}' "$pkg")
  ver=${ver#*:}; ver=${ver%%-*}; ver=${ver%%+*}
  out=$bin/$pkg-$ver
  cp "$src" "$out.new"
  if file -L "$out.new" | grep -q 'dynamically linked'; then
    patchelf --set-interpreter "$root/lib64/ld-linux-x86-64.so.2" \
      --force-rpath --set-rpath "$root/usr/lib/x86_64-linux-gnu" "$out.new"
  fi
  mv "$out.new" "$out"
  "$out" --version >/dev/null 2>&1 ||
    { echo "peers: $out does not run ($("$out" --version 2>&1 | head -1)); going on without it" >&2; continue; }
  if [ "$pkg" = criu ]; then
    # Callers find criu by name on PATH: a directory of its own.
    mkdir -p "$bin/criu-$ver.d"; ln -sf "$out" "$bin/criu-$ver.d/criu"
    echo "$bin/criu-$ver.d"
  else
    echo "$out"
  fi
done
