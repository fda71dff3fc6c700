#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests
# (real containers, so run as root), then the real engines (containerd,
# podman, dockerd) driving a static tong. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

RUNTIME=$(bash hack/build-static.sh)
export RUNTIME
failed=()
for engine in containerd podman docker; do
  echo "== $engine drives tong"
  bash "hack/$engine-e2e.sh" || failed+=("$engine")
done
if [ ${#failed[@]} -gt 0 ]; then echo "engine checks failed: ${failed[*]}"; exit 1; fi
