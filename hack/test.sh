#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests
# (real containers, so run as root). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
