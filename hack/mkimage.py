#!/usr/bin/env python3
"""Builds an image archive from Debian's busybox-static: one layer with busybox
and its applet links. It is an OCI layout (`ctr image import`, `podman load`)
that also carries docker's manifest.json (`docker load`).
With --pause, the image is a pod sandbox's: one static binary, /pause (the
CRI's sandbox_image; hack/cri-e2e.sh builds it from hack/pause/pause.c).
Usage: mkimage.py OUT.tar [NAME:TAG]
       mkimage.py --pause PAUSE_BINARY OUT.tar [NAME:TAG]"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

args = sys.argv[1:]
pause = None
if args and args[0] == "--pause":
    pause, args = args[1], args[2:]
out = args[0]
ref = args[1] if len(args) > 1 else ("localhost/tong-pause:latest" if pause else "localhost/tong-busybox:latest")

def pause_layer(t):
    ti = t.gettarinfo(pause, arcname="pause"); ti.uid = ti.gid = 0; ti.uname = ti.gname = ""; ti.mode = 0o755; ti.mtime = 0
    with open(pause, "rb") as f:
        t.addfile(ti, f)

def busybox_layer(t):
    def add_dir(name, mode=0o755):
        ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = mode; t.addfile(ti)
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"]:
        add_dir(d, 0o1777 if d == "tmp" else 0o755)
    t.add("/bin/busybox", arcname="bin/busybox")
    apps = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in apps:
        if a == "busybox":
            continue
        ti = tarfile.TarInfo("bin/" + a); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"; t.addfile(ti)
    for name, data in [("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", b"root:x:0:\n")]:
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))

layer_raw = io.BytesIO()
with tarfile.open(fileobj=layer_raw, mode="w") as t:
    (pause_layer if pause else busybox_layer)(t)
raw = layer_raw.getvalue()
diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
gz = gzip.compress(raw, mtime=0)
layer_digest = hashlib.sha256(gz).hexdigest()

config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               **({"Entrypoint": ["/pause"]} if pause else {"Cmd": ["sh"]})},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
}).encode()
config_digest = hashlib.sha256(config).hexdigest()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + layer_digest, "size": len(gz)}],
}).encode()
manifest_digest = hashlib.sha256(manifest).hexdigest()
index = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifest_digest,
                   "size": len(manifest), "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.split(":")[-1]}}],
}).encode()

with tarfile.open(out, "w") as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    add("manifest.json", json.dumps([{"Config": "blobs/sha256/" + config_digest, "RepoTags": [ref],
                                      "Layers": ["blobs/sha256/" + layer_digest]}]).encode())
    for dg, data in [(layer_digest, gz), (config_digest, config), (manifest_digest, manifest)]:
        add("blobs/sha256/" + dg, data)
print(out)
