#!/usr/bin/env bash
# Installs the Debian packages tong's build, demo and tests need (idempotent).
# (protobuf-compiler: the k8s-cri crate of cri-e2e/ compiles the CRI proto;
# dbus-daemon: tests/security_systemd.rs runs a private bus;
# jq: the hack scripts read `tong check --format json` for their skips.)
set -euo pipefail
need=(busybox-static dbus-daemon jq libseccomp-dev pkg-config protobuf-compiler)
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
