//! idmapped bind mounts (`mounts[].uidMappings`/`gidMappings`, options
//! `idmap` and `ridmap`).
//!
//! The runtime, still privileged on the host, makes each one: it clones the
//! source's mount with open_tree(OPEN_TREE_CLONE), marks the detached copy
//! with mount_setattr(MOUNT_ATTR_IDMAP) and a user namespace holding the
//! mapping, and hands the fd to the container's init, which attaches it with
//! move_mount at its resolved target. Marking needs CAP_SYS_ADMIN over the
//! filesystem's user namespace (the host's), which init in a container user
//! namespace lacks; attaching needs only the mount namespace's.
//!
//! The mapping's user namespace is the mount's own (`uidMappings` and
//! `gidMappings`, made by a short-lived helper child), or else the
//! container's. A file stored with id `containerID` appears on the mount as
//! host id `hostID`, as with a user namespace's map.

use super::options::MountOptions;
use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// How one mount is idmapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idmap {
    /// The mount's index in `mounts`.
    pub index: usize,
    /// Bind the whole subtree (`rbind`).
    pub rbind: bool,
    /// Map every mount of the subtree (`ridmap`), not only its top.
    pub recursive: bool,
    /// The mount has its own mappings (else the container's user namespace's).
    pub own_maps: bool,
}

/// The idmapped mounts of a config, checked against config.md's rules.
pub fn wanted(spec: &Spec) -> Result<Vec<Idmap>> {
    let userns = crate::spec::has_ns(spec, LinuxNamespaceType::User);
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if let Some(w) = check(m, i, userns)? {
            out.push(w);
        }
    }
    Ok(out)
}

fn check(m: &Mount, i: usize, userns: bool) -> Result<Option<Idmap>> {
    let at = format!("/mounts/{i}");
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
        .map_err(|e| e.at(format!("{at}/options")))?;
    let uid = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty());
    let gid = m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
    if uid != gid {
        return Err(Error::field(
            format!("{at}/{}", if uid { "gidMappings" } else { "uidMappings" }),
            "uidMappings and gidMappings of a mount must be given together",
        ));
    }
    // Mappings without the option are still an idmapped mount: never ignored.
    if opts.idmap.is_none() && !uid {
        return Ok(None);
    }
    let bind = opts.is_bind() || m.typ().as_deref() == Some("bind");
    if !bind {
        return Err(Error::field(
            format!("{at}/options"),
            "idmapped mounts are only supported for bind mounts",
        ));
    }
    if !uid && !userns {
        return Err(Error::field(
            format!("{at}/options"),
            "idmap without uidMappings and gidMappings needs a user namespace to take the mapping from",
        ));
    }
    for (field, maps) in [
        ("uidMappings", m.uid_mappings()),
        ("gidMappings", m.gid_mappings()),
    ] {
        for (j, map) in maps.iter().flatten().enumerate() {
            let fits = |s: u32| {
                map.size() > 0 && u64::from(s) + u64::from(map.size()) <= u64::from(u32::MAX)
            };
            if !fits(map.container_id()) || !fits(map.host_id()) {
                return Err(Error::field(
                    format!("{at}/{field}/{j}/size"),
                    "mapping size is empty or runs past the id space",
                ));
            }
        }
    }
    Ok(Some(Idmap {
        index: i,
        rbind: opts.flags.contains(nix::mount::MsFlags::MS_REC),
        recursive: opts.idmap == Some(true),
        own_maps: uid,
    }))
}

/// Whether this kernel can idmap a mount: an open_tree clone of `/` takes
/// MOUNT_ATTR_IDMAP with our own user namespace's fd rejected as EINVAL
/// (the initial namespace is refused) rather than ENOSYS.
pub fn supported() -> bool {
    let Ok(root) = open("/", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) else {
        return false;
    };
    let Ok(tree) = sys::open_tree_clone_fd(root.as_fd(), false) else {
        return false;
    };
    let Ok(ns) = open(
        "/proc/self/ns/user",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    !matches!(
        sys::mount_setattr_idmap(tree.as_fd(), false, ns.as_fd()),
        Err(nix::errno::Errno::ENOSYS)
    )
}

/// A user namespace with the given maps: a helper child unshares it, we
/// write its maps and keep an fd of it; the helper then exits.
fn userns_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping], at: &str) -> Result<OwnedFd> {
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ctx("pipe")?;
    let flags = libc::CLONE_NEWUSER as u64;
    let (pid, _pidfd) = match sys::clone3_fork(flags, None).ctx("clone id-map helper")? {
        sys::Forked::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            // Returns at end of file, when the runtime is done with us.
            let _ = nix::unistd::read(&rd, &mut b);
            sys::exit_now(0)
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(rd);
    let r = (|| -> Result<OwnedFd> {
        for (file, maps, field) in [
            ("uid_map", uid, "uidMappings"),
            ("gid_map", gid, "gidMappings"),
        ] {
            let path = format!("/proc/{}/{file}", pid.as_raw());
            std::fs::write(&path, crate::linux::namespaces::map_text(maps)).map_err(|e| {
                Error::from(e)
                    .context(format!("write {path}"))
                    .at(format!("{at}/{field}"))
            })?;
        }
        open(
            format!("/proc/{}/ns/user", pid.as_raw()).as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx("open the id-map helper's user namespace")
    })();
    drop(wr);
    let _ = nix::sys::wait::waitpid(pid, None);
    r
}

/// The runtime's part: an idmapped, detached copy of each idmapped mount's
/// source, by mount index. `container_userns` is the container's user
/// namespace, when it has one.
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    container_userns: Option<BorrowedFd>,
) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for w in wanted(spec)? {
        let at = format!("/mounts/{}", w.index);
        let m = &mounts[w.index];
        let r = (|| -> Result<OwnedFd> {
            let src = m
                .source()
                .as_ref()
                .ok_or_else(|| Error::field(format!("{at}/source"), "bind mount needs a source"))?;
            let src = bundle.join(src);
            let src_fd = open(&src, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .ctx(format!("open mount source {}", src.display()))?;
            let tree = sys::open_tree_clone_fd(src_fd.as_fd(), w.rbind)
                .ctx(format!("open_tree {}", src.display()))?;
            let own;
            let ns = if w.own_maps {
                own = userns_with(
                    m.uid_mappings().as_deref().unwrap_or(&[]),
                    m.gid_mappings().as_deref().unwrap_or(&[]),
                    &at,
                )?;
                own.as_fd()
            } else {
                container_userns.ok_or_else(|| {
                    Error::field(format!("{at}/options"), "idmap needs a user namespace")
                })?
            };
            sys::mount_setattr_idmap(tree.as_fd(), w.recursive && w.rbind, ns)
                .ctx(format!("idmap the mount of {}", src.display()))?;
            Ok(tree)
        })();
        out.push((w.index, r.map_err(|e| e.at(at))?));
    }
    Ok(out)
}

/// The sources of the bind mounts of a container with a new user namespace,
/// opened by the runtime while it is still root on the host: the
/// container's mapped root may be unable to reach them (a 0700 host
/// directory), and runc too opens mount sources before the user namespace
/// applies. They are opened through `/proc/<init>/root`, so each fd is of a
/// mount in the container's own mount namespace (the locked copy of the
/// host's): init binds from it as from a path, and mount flags the host
/// locked stay locked. `skip` are the mounts already prepared (idmapped).
pub fn open_userns_bind_sources(
    spec: &Spec,
    bundle: &Path,
    init: nix::unistd::Pid,
    skip: &[usize],
) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let at = format!("/mounts/{i}");
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
            .map_err(|e| e.at(format!("{at}/options")))?;
        if skip.contains(&i) || !(m.typ().as_deref() == Some("bind") || opts.is_bind()) {
            continue;
        }
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::field(format!("{at}/source"), "bind mount needs a source"))?;
        let src = bundle.join(src);
        let via = Path::new(&format!("/proc/{}/root", init.as_raw()))
            .join(src.strip_prefix("/").unwrap_or(&src));
        let fd = open(&via, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(format!("open mount source {}", src.display()))
            .map_err(|e| e.at(format!("{at}/source")))?;
        out.push((i, fd));
    }
    Ok(out)
}

/// Init's part: attaches the prepared mount `tree` at `target` (an O_PATH fd
/// resolved inside the rootfs).
pub fn attach(tree: BorrowedFd, target: BorrowedFd) -> Result<()> {
    sys::move_mount_fds(tree, target).ctx("move_mount the idmapped mount")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mounts: serde_json::Value, userns: bool) -> Spec {
        let mut ns = vec![serde_json::json!({"type": "mount"})];
        if userns {
            ns.push(serde_json::json!({"type": "user"}));
        }
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0", "root": {"path": "rootfs"}, "mounts": mounts,
            "linux": {"namespaces": ns}
        }))
        .unwrap()
    }

    const MAP: &str = r#"[{"containerID": 0, "hostID": 1000, "size": 1}]"#;

    #[test]
    fn config_md_rules() {
        let maps: serde_json::Value = serde_json::from_str(MAP).unwrap();
        // idmap without mappings and without a user namespace.
        let s = spec(
            serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["bind", "idmap"]}]),
            false,
        );
        assert_eq!(
            wanted(&s).unwrap_err().pointer.as_deref(),
            Some("/mounts/0/options")
        );
        // With a user namespace the container's mapping is used.
        let s = spec(
            serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["rbind", "ridmap"]}]),
            true,
        );
        let w = wanted(&s).unwrap();
        assert_eq!(
            w,
            vec![Idmap {
                index: 0,
                rbind: true,
                recursive: true,
                own_maps: false
            }]
        );
        // uidMappings without gidMappings.
        let s = spec(
            serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["bind", "idmap"], "uidMappings": maps}]),
            false,
        );
        assert_eq!(
            wanted(&s).unwrap_err().pointer.as_deref(),
            Some("/mounts/0/gidMappings")
        );
        // Mappings without the option: still idmapped.
        let s = spec(
            serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["bind"], "uidMappings": maps, "gidMappings": maps}]),
            false,
        );
        assert_eq!(wanted(&s).unwrap().len(), 1);
        // Not a bind mount.
        let s = spec(
            serde_json::json!([{"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"], "uidMappings": maps, "gidMappings": maps}]),
            false,
        );
        assert!(wanted(&s).is_err());
    }
}
