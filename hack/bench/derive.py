#!/usr/bin/env python3
"""Turns the raw captures of hack/bench/capture.sh into hack/bench.sh's pieces.

  seccomp.json  podman's linux.seccomp (containers-common's seccomp.json as
                podman 4.3 converts it), merged into the default config.
  cri.json      containerd 1.6's CRI config of a pod's app container.
  podman.json   podman's whole config of `podman run`.

What points at the capturing host is replaced by placeholders hack/bench.sh
fills in: the root is the bundle's rootfs; a bind mount of an engine's file
(hosts, hostname, resolv.conf, .containerenv) gets @FILES@/<name>, /dev/shm
the directory @FILES@/shm; a namespace joined by path (the pod's) gets
@POD@/ns/<type>, a holder process the bench starts. The cgroups path (below
the capturing script's cgroup) is dropped: each runtime makes its default
one per container, as with the default config. Run from anywhere:
  python3 hack/bench/derive.py
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(here, name)) as f:
        return json.load(f)


def save(name, obj):
    with open(os.path.join(here, name), "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def unhost(c):
    c["root"]["path"] = "rootfs"
    for m in c.get("mounts", []):
        src = m.get("source", "")
        if m.get("type") == "bind" and src.startswith("/"):
            d = m["destination"]
            m["source"] = "@FILES@/shm" if d == "/dev/shm" else "@FILES@/" + os.path.basename(d)
    for ns in c["linux"].get("namespaces", []):
        if "path" in ns:
            ns["path"] = "@POD@/ns/" + {"network": "net", "mount": "mnt"}.get(ns["type"], ns["type"])
    c["linux"].pop("cgroupsPath", None)
    # Ids of the capturing run, nothing a runtime reads.
    for k in list(c.get("annotations", {})):
        if k.endswith(("sandbox-id", "Created")):
            del c["annotations"][k]
    return c


save("seccomp.json", load("podman-raw.json")["linux"]["seccomp"])
save("podman.json", unhost(load("podman-raw.json")))
save("cri.json", unhost(load("cri-raw.json")))
