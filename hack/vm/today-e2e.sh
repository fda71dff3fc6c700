#!/usr/bin/env bash
# Today's engines' new paths, in the Debian 13 guest, on a runtime:
#   hack/vm/run.sh env RUNTIME=/usr/sbin/runc bash hack/vm/today-e2e.sh   (the oracle)
#   hack/vm/run.sh bash hack/vm/today-e2e.sh                              (tong)
# buildah bud --runtime (every RUN step of a build is a runtime call),
# podman 5's kube play, healthchecks (each check is a runtime exec) and
# --rootfs. Private podman and buildah stores in a temp dir, the busybox
# image hack/mkimage.py builds (no registry). A step whose engine is too old
# for it (podman < 4, no buildah) is a SKIP naming the version.
# Prints PASS/FAIL/SKIP per step and "N passed, M failed[, K skipped]".
set -uo pipefail
cd "$(dirname "$0")/../.."
. hack/e2e-common.sh
RUNTIME=${RUNTIME:-$PWD/target/release/tong}
echo "runtime: $RUNTIME ($("$RUNTIME" --version | head -1))"
work=$(mktemp -d /tmp/today-e2e.XXXXXX)
ours=(); for p in /var/lib/containers /run/containers /run/tong; do [ -e "$p" ] || ours+=("$p"); done
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
# kube play's pods need an infra container: Debian's podman would build one
# from catatonit (not installed); a busybox image with the static pause
# hack/vm/test.sh builds (target/vm/pause) instead. podman 5's kube play
# runs the image's CMD, not infra_command: the image says /pause too.
infra_image = "localhost/tong-pause:latest"
infra_command = "/pause"
[network]
network_config_dir = "$work/networks"
CONF
export CONTAINERS_CONF=$work/containers.conf
S="--root $work/root --runroot $work/runroot --storage-driver overlay"
P="podman $S --tmpdir $work/tmp --runtime $RUNTIME"
cleanup() {
  $P rm -af -t 0 >/dev/null 2>&1
  $P pod rm -af -t 0 >/dev/null 2>&1
  buildah $S rm -a >/dev/null 2>&1
  $P system reset -f >/dev/null 2>&1
  mount | awk -v w="$work" '$3 ~ "^"w {print $3}' | sort -r | xargs -r umount -l
  rm -rf "$work" "${ours[@]}"
  for d in /sys/fs/cgroup/libpod_parent/conmon /sys/fs/cgroup/libpod_parent; do rmdir "$d" 2>/dev/null; done
  true
}
trap cleanup EXIT
img=localhost/tong-busybox:latest
python3 hack/mkimage.py "$work/busybox.tar" "$img" >/dev/null
check "podman: load the image" $P load -i "$work/busybox.tar"
mkdir -p "$work/pctx" && cp target/vm/pause "$work/pctx/pause"
printf 'FROM %s\nCOPY pause /pause\nCMD ["/pause"]\n' "$img" > "$work/pctx/Containerfile"
check "podman: build the infra image (COPY only)" $P build --pull=never -t localhost/tong-pause:latest "$work/pctx"
pv=$(podman version -f '{{.Client.Version}}' 2>/dev/null || echo 0)

# buildah bud: each RUN is `RUNTIME run` of a bundle buildah makes.
if command -v buildah >/dev/null; then
  mkdir -p "$work/ctx"
  printf 'FROM %s\nRUN echo built > /built && mkdir /d\nRUN cat /built > /d/copy && id -u > /d/uid\n' "$img" > "$work/ctx/Containerfile"
  B="buildah $S"
  check "buildah $(buildah --version | awk '{print $3}'): bud --runtime, two RUN steps" \
    $B bud --runtime "$RUNTIME" --pull=never --isolation oci --network none -t localhost/built:1 "$work/ctx"
  check "buildah: the RUN steps' files are in the image" bash -c "[ \"\$($P run --rm --network none localhost/built:1 cat /d/copy /d/uid | tr '\n' ' ')\" = 'built 0 ' ]"
  check "buildah: a failing RUN step fails the build" bash -c "printf 'FROM $img\nRUN exit 3\n' > $work/ctx/Containerfile; ! $B bud --runtime $RUNTIME --pull=never --isolation oci --network none -t localhost/bad:1 $work/ctx"
else
  skip "buildah bud --runtime" "buildah is not installed in this guest"
fi

# podman kube play: a pod (infra + one container) from a Kubernetes YAML.
if [ "${pv%%.*}" -ge 4 ] 2>/dev/null; then
  cat > "$work/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: kp
spec:
  containers:
  - name: app
    image: $img
    command: ["sh", "-c", "echo up > /tmp/up; sleep 1000"]
    resources:
      limits:
        memory: 64Mi
YAML
  check "podman $pv: kube play" $P kube play --network none "$work/pod.yaml"
  check "kube play: the pod's container runs" bash -c "[ \"\$($P inspect -f '{{.State.Status}}' kp-app)\" = running ]"
  check "kube play: exec in it" bash -c "[ \"\$($P exec kp-app cat /tmp/up)\" = up ]"
  check "kube play: its memory limit" bash -c "$P exec kp-app cat /sys/fs/cgroup/memory.max | grep -qx 67108864"
  check "kube down" $P kube down "$work/pod.yaml"
else
  skip "podman kube play" "podman $pv (kube play --network needs podman 4)"
fi

# Healthchecks: `podman healthcheck run` is a runtime exec of the check.
check "podman: run with a healthcheck" $P run -d --name hc --network none --health-cmd 'test -f /tmp/ok' \
  --health-interval disable "$img" sleep 1000
check "healthcheck: failing check is unhealthy" bash -c "! $P healthcheck run hc"
check "healthcheck: passing check is healthy" bash -c "$P exec hc touch /tmp/ok && $P healthcheck run hc && [ \"\$($P inspect -f '{{.State.Health.Status}}' hc)\" = healthy ]"
$P rm -f -t 0 hc >/dev/null 2>&1

# --rootfs: a plain directory as the container's root, no image.
bash hack/mkbundle.sh "$work/b" "$PWD/target/release/tong" >/dev/null
check "podman: run --rootfs" bash -c "[ \"\$($P run --rm --network none --rootfs $work/b/rootfs echo from-rootfs)\" = from-rootfs ]"
check "podman: --rootfs with --read-only" bash -c "$P run --rm --network none --read-only --rootfs $work/b/rootfs sh -c 'touch /x 2>&1' | grep -q 'Read-only file system'"

summary
