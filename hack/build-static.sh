#!/usr/bin/env bash
# Builds a fully static tong (glibc crt-static, libseccomp.a): no dynamic
# loader at start-up. Not position-independent (as Debian's runc): a static
# PIE relocates ~10,000 pointers at every start, copying ~50 pages; tong
# starts twice per create/run/exec (see src/linux/selfclone.rs), and this
# saves ~220 page faults and ~0.5 ms of CPU per run. The cost, no ASLR for
# tong's own code, is in SECURITY.md.
# The functions a container's init runs are linked first, then those the
# runtime runs, in the order of hack/init-order.txt (made by
# hack/init-order.sh): the kernel maps a binary's pages 64 KB around each
# first touch, so code spread over the whole text maps most of it (a
# waiting init's VmHWM 2.6 MB against 1.6 MB packed; create's peak RSS
# 3.1 MB against 2.8 MB). A stale list only packs less; lld skips the names
# it does not find.
# Prints the binary's path. Env: CARGO_TARGET_DIR, STRIP=0 (keep symbols).
# (--target keeps crt-static away from build scripts and proc-macros.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
triple=$(rustc -vV | sed -n 's/^host: //p')
flags="-C target-feature=+crt-static -C relocation-model=static"
flags+=" -C link-arg=-Wl,--symbol-ordering-file=$PWD/hack/init-order.txt -C link-arg=-Wl,--no-warn-symbol-ordering"
# (Not the profile's strip: profile settings change the symbols' hashes.)
[ "${STRIP:-1}" = 0 ] && flags+=" -C strip=none"
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
  RUSTFLAGS="$flags" cargo build --release --target "$triple" -q
echo "${CARGO_TARGET_DIR:-$PWD/target}/$triple/release/tong"
