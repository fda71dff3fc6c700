#!/usr/bin/env bash
# Builds a fully static tong (glibc crt-static, libseccomp.a): no dynamic
# loader at start-up. Prints the binary's path.
# (--target keeps crt-static away from build scripts and proc-macros.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
triple=$(rustc -vV | sed -n 's/^host: //p')
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$triple" -q
echo "$PWD/target/$triple/release/tong"
