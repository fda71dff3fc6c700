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
//! detached bind mount (no copy, page cache shared), made here or, where
//! mount_setattr(2) is missing (Linux < 5.12) or the host's mounts are not
//! ours (rootless), by a child in mount and user namespaces of its own; a
//! sealed memfd copy only where neither can be made.

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
    let copy = match read_only_bind().or_else(|_| read_only_bind_in_child(&exe)) {
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

/// The same read-only bind, made by a child that clones into a mount
/// namespace of its own (and a user namespace when not root, so that mounts
/// are its to make): it binds the binary's path over itself, remounts that
/// read-only and sends back an fd of it. Its namespace dies with it, leaving
/// the fd's mount detached, as [`read_only_bind`]'s is. The fd must be the
/// file we run (device and inode), or it is not used.
fn read_only_bind_in_child(exe: &OwnedFd) -> std::result::Result<OwnedFd, Errno> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let path = std::fs::read_link("/proc/self/exe").map_err(|_| Errno::ENOENT)?;
    let want = nix::sys::stat::fstat(exe)?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let mut flags = libc::CLONE_NEWNS as u64;
    if !nix::unistd::geteuid().is_root() {
        flags |= libc::CLONE_NEWUSER as u64;
    }
    let pid = match super::sys::clone3_fork(flags, None)? {
        super::sys::Forked::Child => {
            drop(ours);
            let code = i32::from(bind_and_send(&path, theirs.as_fd()).is_err());
            super::sys::exit_now(code)
        }
        super::sys::Forked::Parent { pid, .. } => pid,
    };
    drop(theirs);
    let got = super::sys::recv_with_fd(ours.as_fd(), &mut [0u8; 1]);
    let _ = nix::sys::wait::waitpid(pid, None);
    let fd = got?.1.ok_or(Errno::EIO)?;
    let st = nix::sys::stat::fstat(&fd)?;
    if (st.st_dev, st.st_ino) != (want.st_dev, want.st_ino) || !unwritable(&fd) {
        return Err(Errno::EXDEV);
    }
    Ok(fd)
}

/// The child's half of [`read_only_bind_in_child`]. Its copy of the mounts
/// is made slaves first, so that the bind does not propagate to the host's.
fn bind_and_send(path: &std::path::Path, sock: std::os::fd::BorrowedFd) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    const NONE: Option<&str> = None;
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_SLAVE, NONE)
        .map_err(|e| Error::sys("make mounts slaves", e))?;
    mount(Some(path), path, NONE, MsFlags::MS_BIND, NONE)
        .map_err(|e| Error::sys("bind the runtime binary", e))?;
    // Opened before the remount: the fd is of the bind, which the remount
    // makes read-only.
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open the runtime binary", e))?;
    // A user namespace may not clear the flags the mount was locked with.
    let locked = super::rootfs::locked_flags(fd.as_fd())?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(NONE, path, NONE, ro | locked, NONE).map_err(|e| Error::sys("remount read-only", e))?;
    super::sys::send_with_fd(sock, &[1], fd.as_fd())
        .map_err(|e| Error::sys("send the runtime binary's fd", e))
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
