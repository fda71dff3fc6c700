#!/usr/bin/env bash
# Captures the config.json an engine really writes, for hack/bench.sh's
# matrix of configs (hack/bench/README.md). The engine is given a runtime that
# is this script's wrapper: on `create` it copies the bundle's config.json
# out, then execs runc, so the engine's run goes through.
#   hack/bench/capture.sh podman   -> hack/bench/podman-raw.json
#     podman run of busybox (a private podman as hack/podman-e2e.sh makes).
#   hack/bench/capture.sh cri      -> hack/bench/cri-raw.json
#     containerd 1.6's CRI (hack/cri-e2e.sh, one pod of its bench mode): the
#     app container's config (not the pause sandbox's).
# Then hack/bench/derive.py turns the raw captures into the bench's pieces.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:?usage: capture.sh podman|cri}
out=$PWD/hack/bench
tmp=$(mktemp -d /tmp/tong-capture.XXXXXX)
cap=$tmp/cap; mkdir -p "$cap"
# shellcheck disable=SC2016 # (the wrapper's own $ expansions)
printf '#!/bin/sh\nprev=\nfor a in "$@"; do\n  case "$prev" in --bundle|-b) [ -f "$a/config.json" ] && cp "$a/config.json" "%s/$(date +%%s%%N).json";; esac\n  prev=$a\ndone\nexec /usr/sbin/runc "$@"\n' "$cap" > "$tmp/wrap"
chmod +x "$tmp/wrap"
case "$what" in
  podman)
    ours=(); for p in /var/lib/containers /run/containers; do [ -e "$p" ] || ours+=("$p"); done
    cat > "$tmp/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
[network]
network_config_dir = "$tmp/networks"
CONF
    export CONTAINERS_CONF=$tmp/containers.conf
    P="podman --root $tmp/root --runroot $tmp/runroot --tmpdir $tmp/tmp --storage-driver overlay --runtime $tmp/wrap"
    python3 hack/mkimage.py "$tmp/busybox.tar" localhost/tong-busybox:latest >/dev/null
    $P load -i "$tmp/busybox.tar" >/dev/null
    $P run --rm --network none localhost/tong-busybox:latest true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    $P system reset -f >/dev/null 2>&1 || true
    mount | awk -v w="$tmp" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
    rm -rf "${ours[@]}"
    f=; for j in "$cap"/*.json; do [ -f "$j" ] && { f=$j; break; }; done
    ;;
  cri)
    RUNTIME=$tmp/wrap HANDLERS=tong CRI_BENCH=1 bash hack/cri-e2e.sh >&2
    f=
    for j in "$cap"/*.json; do
      [ "$(jq -r '.annotations["io.kubernetes.cri.container-type"] // ""' "$j")" = container ] && { f=$j; break; }
    done
    ;;
  *) echo "capture.sh: podman or cri, not $what" >&2; exit 2 ;;
esac
[ -n "$f" ] || { echo "capture.sh: the engine wrote no config.json" >&2; exit 1; }
jq . "$f" > "$out/$what-raw.json"
rm -rf "$tmp"
echo "$out/$what-raw.json"
