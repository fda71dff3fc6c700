//! The runtime binary as container processes may see it (CVE-2019-5736).
//!
//! Every process tong puts into a container starts as a clone of the runtime,
//! so until it execs the user's program its `/proc/<pid>/exe` is tong's own
//! binary. Non-dumpable hides it from an unprivileged container, but not from
//! one granted CAP_SYS_PTRACE without a user namespace, nor from a sibling
//! container sharing its pid namespace: such a process can open the binary
//! and, once the runtime exits, reopen it for writing through the magic link.
//! So the commands that make container processes first re-exec themselves
//! from a copy that cannot be written: the same file through a read-only,
//! detached bind mount (no copy, page cache shared), or a sealed memfd where
//! mounts are not ours to make (rootless).

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

/// Set in the re-exec'd process so that a copy that still looks writable is
/// an error instead of a loop. Removed before anything else runs.
const MARK: &str = "_TONG_SEALED_EXE";

/// Whether writes to `fd`'s file are impossible: on a read-only mount, or a
/// memfd sealed against writes.
fn unwritable(fd: &OwnedFd) -> bool {
    if nix::sys::statvfs::fstatvfs(fd)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        return true;
    }
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| s & libc::F_SEAL_WRITE != 0 && s & libc::F_SEAL_SEAL != 0)
}

/// Set once [`ensure`] has run: a second call (main calls it before
/// parsing, the commands that need it again) has nothing left to do.
static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Re-execs this process from an unwritable copy of its binary unless it
/// already runs from one. Must run before any container process is made and
/// while the process has a single thread.
pub fn ensure() -> Result<()> {
    if DONE.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let marked = std::env::var_os(MARK).is_some();
    if marked {
        std::env::remove_var(MARK);
    }
    let exe = nix::fcntl::open(
        "/proc/self/exe",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open /proc/self/exe", e))?;
    if unwritable(&exe) {
        return Ok(());
    }
    if marked {
        return Err(Error::new(
            "the runtime binary is still writable after re-exec from a sealed copy",
        ));
    }
    let copy = match read_only_bind() {
        Ok(fd) => fd,
        Err(_) => sealed_memfd(&exe)?,
    };
    drop(exe);
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::new("argument contains a NUL byte"))?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut b = std::os::unix::ffi::OsStrExt::as_bytes(k.as_os_str()).to_vec();
            b.push(b'=');
            b.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
            CString::new(b).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).map_err(|_| Error::new("NUL in marker"))?);
    let e = nix::unistd::execveat(
        copy.as_fd(),
        c"",
        &args,
        &env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )
    .unwrap_err();
    Err(Error::sys("re-exec the runtime from a sealed copy", e))
}

/// The running binary through a detached bind mount made read-only:
/// reopening it for writing through `/proc/<pid>/exe` fails with EROFS, and
/// no mount namespace holds the mount, so none can remount it. Cloned from
/// an fd of `/proc/self/exe`, so it is the very file we run.
fn read_only_bind() -> std::result::Result<OwnedFd, Errno> {
    let exe = nix::fcntl::open(
        "/proc/self/exe",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let tree = super::sys::open_tree_clone_fd(exe.as_fd(), false)?;
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    super::sys::mount_setattr(tree.as_fd(), false, MOUNT_ATTR_RDONLY, 0)?;
    Ok(tree)
}

/// A memfd holding a copy of the binary, sealed against every change.
fn sealed_memfd(exe: &OwnedFd) -> Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(c"tong", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(|e| Error::sys("memfd_create", e))?;
    let mut src = std::fs::File::from(exe.try_clone().map_err(Error::from)?);
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst)
        .map_err(|e| Error::from(e).context("copy the runtime binary"))?;
    let fd = OwnedFd::from(dst);
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_retain(seals)),
    )
    .map_err(|e| Error::sys("seal the runtime copy", e))?;
    Ok(fd)
}
