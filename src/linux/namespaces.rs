//! Creating and joining namespaces, and user-namespace id mappings.

use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The clone flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Opens a namespace file and checks it is a namespace of type `t`.
pub fn open_ns(path: &Path, t: LinuxNamespaceType) -> Result<OwnedFd> {
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(format!("open namespace {}", path.display()))?;
    let got = sys::ns_type(fd.as_fd()).map_err(|e| {
        Error::sys(
            format!(
                "{} is not a namespace (wanted {})",
                path.display(),
                crate::spec::ns_name(t)
            ),
            e,
        )
    })?;
    if got != clone_flag(t).bits() {
        return Err(Error::new(format!(
            "{} is a namespace of another type (wanted {})",
            path.display(),
            crate::spec::ns_name(t)
        )));
    }
    Ok(fd)
}

/// Validation-time check of a namespace `path`.
pub fn check_path(path: &Path, t: LinuxNamespaceType) -> Result<()> {
    open_ns(path, t).map(drop)
}

/// A namespace to join, opened before any process exists.
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// Joins namespaces in a safe order: the user namespace first (it gives the
/// rights to join the others it owns), the mount namespace last.
pub fn join_all(joins: &[Join]) -> Result<()> {
    let rank = |t: LinuxNamespaceType| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    };
    let mut order: Vec<&Join> = joins.iter().collect();
    order.sort_by_key(|j| rank(j.typ));
    for j in order {
        nix::sched::setns(j.fd.as_fd(), clone_flag(j.typ))
            .ctx(format!("join {} namespace", crate::spec::ns_name(j.typ)))?;
    }
    Ok(())
}

/// Whether this process runs in a user namespace other than the initial one,
/// judged as runc judges it: the initial namespace's `uid_map` maps every id
/// (`0 0 4294967295`); any other map means a namespace some process made.
/// Without a readable map (no procfs) the answer is no.
pub fn in_user_namespace() -> bool {
    crate::linux::sys::read_text("/proc/self/uid_map").is_ok_and(|m| !is_initial_map(&m))
}

fn is_initial_map(map: &str) -> bool {
    map.split_whitespace().eq(["0", "0", "4294967295"])
}

/// Renders id mappings in the kernel's `uid_map` format.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes uid and gid maps for the user namespace of `pid`.
pub fn write_id_maps(pid: Pid, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        // An unprivileged writer may only map gids once setgroups is denied.
        let path = format!("/proc/{}/setgroups", pid.as_raw());
        std::fs::write(&path, "deny")
            .map_err(|e| Error::from(e).context(format!("write {path}")))?;
    }
    for (file, maps, ptr) in [
        ("uid_map", uid, "/linux/uidMappings"),
        ("gid_map", gid, "/linux/gidMappings"),
    ] {
        let path = format!("/proc/{}/{file}", pid.as_raw());
        std::fs::write(&path, map_text(maps))
            .map_err(|e| Error::from(e).context(format!("write {path}")).at(ptr))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_format() {
        let m: Vec<LinuxIdMapping> = serde_json::from_str(
            r#"[{"containerID":0,"hostID":100000,"size":65536},{"containerID":65536,"hostID":1,"size":1}]"#,
        )
        .unwrap();
        assert_eq!(map_text(&m), "0 100000 65536\n65536 1 1\n");
    }

    #[test]
    fn initial_user_namespace_map() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1001          1\n"));
        assert!(!is_initial_map("0 0 4294967295\n1 1 1\n"));
        assert!(!is_initial_map(""));
    }

    #[test]
    fn ns_type_check() {
        check_path(Path::new("/proc/self/ns/uts"), LinuxNamespaceType::Uts).unwrap();
        let e = check_path(Path::new("/proc/self/ns/uts"), LinuxNamespaceType::Pid).unwrap_err();
        assert!(e.msg.contains("another type"), "{e}");
        let e = check_path(Path::new("/etc/hostname"), LinuxNamespaceType::Pid).unwrap_err();
        assert!(e.msg.contains("is not a namespace"), "{e}");
    }
}
