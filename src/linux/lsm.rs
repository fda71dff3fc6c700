//! AppArmor and SELinux labels for the process about to exec.
//!
//! The label goes to `/proc/thread-self/attr/...` of a procfs handle that
//! was opened and verified before the container could interfere (a rootfs
//! with a fake /proc must not capture it: CVE-2019-16884).

use crate::error::{Context, Error, Result};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

/// Whether AppArmor is enabled, as the host sees it. The answer is kept: the
/// container's init asks again after pivot_root, where the host's securityfs
/// and selinuxfs are out of sight ([`open_procfs`] asks first, before it).
pub fn apparmor_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        Path::new("/sys/kernel/security/apparmor").exists()
            && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|s| s.starts_with('Y'))
    })
}

pub fn selinux_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| Path::new("/sys/fs/selinux/enforce").exists())
}

/// Whether the process asks for an AppArmor profile or SELinux label, and so
/// needs the host's procfs until its labels are written.
pub fn wants_labels(p: &oci_spec::runtime::Process) -> bool {
    p.apparmor_profile()
        .as_deref()
        .is_some_and(|a| !a.is_empty())
        || p.selinux_label().as_deref().is_some_and(|l| !l.is_empty())
}

/// Opens the host's procfs root and checks it really is procfs.
pub fn open_procfs() -> Result<OwnedFd> {
    // Still in the host's view of the filesystem: settle which LSMs exist.
    let _ = (apparmor_enabled(), selinux_enabled());
    let fd = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /proc")?;
    verify_proc(fd.as_fd(), "/proc")?;
    Ok(fd)
}

fn verify_proc(fd: BorrowedFd, what: &str) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(fd).ctx(format!("statfs {what}"))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::new(format!("{what} is not on procfs")));
    }
    Ok(())
}

/// Writes an attribute of the calling thread through a verified procfs.
fn write_attr(procfs: BorrowedFd, sub: &str, value: &str) -> Result<()> {
    let path = format!("thread-self/{sub}");
    let fd = openat(
        procfs,
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .ctx(format!("open /proc/{path}"))?;
    verify_proc(fd.as_fd(), &path)?;
    nix::unistd::write(&fd, value.as_bytes()).ctx(format!("write /proc/{path}"))?;
    Ok(())
}

/// Sets what the next execve runs under: an AppArmor profile and/or an
/// SELinux label. `at` is the process spec's JSON pointer.
pub fn apply_exec_labels(
    procfs: BorrowedFd,
    apparmor: Option<&str>,
    selinux: Option<&str>,
    at: &str,
) -> Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::field(
                format!("{at}/apparmorProfile"),
                format!("apparmor profile {p:?} is set but AppArmor is not enabled in this kernel"),
            ));
        }
        // The newer per-LSM directory first, then the legacy shared file.
        let r = write_attr(procfs, "attr/apparmor/exec", &format!("exec {p}"))
            .or_else(|_| write_attr(procfs, "attr/exec", &format!("exec {p}")));
        r.map_err(|e| {
            // runc's words, plus the profile's name (ENOENT: it is not loaded).
            e.context(format!("apparmor failed to apply profile {p:?}"))
                .at(format!("{at}/apparmorProfile"))
        })?;
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            return Err(Error::field(
                format!("{at}/selinuxLabel"),
                "selinux label is specified in config, but selinux is disabled or not supported",
            ));
        }
        write_attr(procfs, "attr/exec", l).map_err(|e| {
            e.context("set selinux exec label")
                .at(format!("{at}/selinuxLabel"))
        })?;
    }
    Ok(())
}

/// Mount data with the SELinux mount label, when SELinux is on (inert otherwise, as runc).
pub fn with_mount_label(data: Option<String>, label: Option<&str>) -> Option<String> {
    match label.filter(|l| !l.is_empty() && selinux_enabled()) {
        None => data,
        Some(l) => {
            let ctx = format!("context=\"{l}\"");
            Some(match data {
                Some(d) if !d.is_empty() => format!("{d},{ctx}"),
                _ => ctx,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfs_is_verified() {
        let fd = open_procfs().unwrap();
        assert!(verify_proc(fd.as_fd(), "/proc").is_ok());
        let tmp =
            nix::fcntl::open("/tmp", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).unwrap();
        assert!(verify_proc(tmp.as_fd(), "/tmp")
            .unwrap_err()
            .msg
            .contains("not on procfs"));
    }

    #[test]
    fn labels_on_a_host_without_the_lsm() {
        let fd = open_procfs().unwrap();
        if !apparmor_enabled() {
            let e = apply_exec_labels(fd.as_fd(), Some("docker-default"), None, "/process")
                .unwrap_err();
            assert_eq!(e.pointer.as_deref(), Some("/process/apparmorProfile"));
            assert!(e.msg.contains("AppArmor is not enabled"), "{e}");
        }
        if !selinux_enabled() {
            let e = apply_exec_labels(
                fd.as_fd(),
                None,
                Some("system_u:system_r:container_t:s0"),
                "",
            )
            .unwrap_err();
            assert_eq!(e.pointer.as_deref(), Some("/selinuxLabel"));
            assert_eq!(
                with_mount_label(Some("mode=755".into()), Some("system_u:object_r:x:s0"))
                    .as_deref(),
                Some("mode=755")
            );
        }
        // Empty labels are no-ops everywhere.
        apply_exec_labels(fd.as_fd(), Some(""), Some(""), "/process").unwrap();
    }
}
