#!/usr/bin/env bash
# Builds tong and runs a demo container from a busybox-static bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
cargo build --release
bundle=${BUNDLE:-/tmp/tong-demo}
rm -rf "$bundle"
bash hack/mkbundle.sh "$bundle" target/release/tong
cd "$bundle"
exec "$OLDPWD/target/release/tong" run "demo-$$"
