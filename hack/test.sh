#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests
# (real containers, so run as root), the OCI conformance suite on runc (the
# oracle) and on tong, then the real engines (containerd, podman, dockerd)
# driving a static tong, then the short soak and crash loop (hack/soak.sh).
# Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

RUNTIME=$(bash hack/build-static.sh)
export RUNTIME
failed=()
dpkg -s runc >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
cargo build --locked -q -p conformance
for rt in /usr/sbin/runc "$RUNTIME"; do
  echo "== conformance: $rt"
  log=$(mktemp)
  if target/debug/conformance --runtime "$rt" > "$log"; then :; else failed+=("conformance on $rt"); fi
  grep -A1 '^not ok' "$log" || true
  tail -1 "$log"
  rm -f "$log"
done
for engine in containerd podman docker; do
  echo "== $engine drives tong"
  bash "hack/$engine-e2e.sh" || failed+=("$engine")
done
echo "== soak (short): lifecycles, SIGKILL at every stage, concurrency"
SOAK_SHORT=1 bash hack/soak.sh || failed+=("soak")
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; exit 1; fi
