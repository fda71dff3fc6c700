#!/usr/bin/env bash
# Builds a fully static tong (glibc crt-static, libseccomp.a): no dynamic
# loader at start-up. Not position-independent (as Debian's runc): a static
# PIE relocates ~10,000 pointers at every start, copying ~50 pages; tong
# starts twice per create/run/exec (see src/linux/selfclone.rs), and this
# saves ~220 page faults and ~0.5 ms of CPU per run. The cost, no ASLR for
# tong's own code, is in SECURITY.md. Prints the binary's path.
# (--target keeps crt-static away from build scripts and proc-macros.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
triple=$(rustc -vV | sed -n 's/^host: //p')
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --target "$triple" -q
echo "$PWD/target/$triple/release/tong"
