//! The small set of syscall wrappers that need `unsafe`.
//!
//! Everything else uses nix's safe wrappers; these are the calls nix lacks.

use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

mod fdpass;
mod filters;
pub use fdpass::*;
pub use filters::*;

/// Arguments of clone3(2), laid out as the kernel expects (`struct clone_args`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Result of a fork-like clone, seen from the caller's side.
pub enum Forked {
    Child,
    Parent { pid: Pid, pidfd: OwnedFd },
}

/// clone3 with `CLONE_PIDFD` and the given namespace flags, fork-style (no new
/// stack): the child continues from here. Must only be called while the
/// process has a single thread.
pub fn clone3_fork(ns_flags: u64, cgroup_fd: Option<BorrowedFd>) -> Result<Forked, Errno> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: ns_flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= 0x200000000; // CLONE_INTO_CGROUP
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; with a zero stack
    // the child resumes on a copy of this stack like fork(2), and callers
    // guarantee no other thread exists.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        pid => Ok(Forked::Parent {
            pid: Pid::from_raw(pid as i32),
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// pidfd_send_signal(2): signals exactly the process the pidfd refers to.
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall; a null siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Whether `fd` is an open file descriptor (fcntl F_GETFD).
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the fd's flags; any integer is a valid argument.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Takes ownership of descriptor `fd` a caller handed tong by number (a
/// command-line flag such as `--status-fd`), returning it with its status
/// flags (F_GETFL) and made close-on-exec. Fails with EBADF if it is not open.
pub fn adopt_fd(fd: RawFd) -> Result<(OwnedFd, i32), Errno> {
    // SAFETY: F_GETFL only reads the fd's flags; any integer is a valid argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the fd is open (F_GETFL succeeded) and was given to tong for
    // this use alone: nothing else in the process owns or closes it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok((owned, flags))
}

/// F_DUPFD_CLOEXEC: a close-on-exec duplicate of `fd` at the lowest free
/// number from `at` up. The duplicate is deliberately left unowned: it
/// holds its number for the life of the process.
pub fn dup_cloexec_at(fd: BorrowedFd, at: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int and only creates a new fd.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, at) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// close_range(2) with no flags: closes every fd in `first..=last`.
fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments; callers only close fds
    // that no live Rust value in this process will use or close again.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Closes every fd above stderr but those in `keep`. Used by a container
/// process before anything the container controls is resolved, so that no
/// runtime fd (host directories, the lock, cgroup files) can be walked
/// through `/proc/self/fd/N`. The caller must not drop an owner of a closed
/// fd afterwards.
pub fn close_fds_except(keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f > 2).map(|&f| f as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut next = 3u32;
    for f in keep {
        if f > next {
            close_range(next, f - 1)?;
        }
        next = f.saturating_add(1);
    }
    close_range(next, u32::MAX)
}

/// ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace fd.
pub fn ns_type(fd: BorrowedFd) -> Result<i32, Errno> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns an int.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// `struct mount_attr` for mount_setattr(2).
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount at `fd`, recursively when `recursive`.
pub fn mount_setattr(fd: BorrowedFd, recursive: bool, set: u64, clr: u64) -> Result<(), Errno> {
    mount_setattr_with(
        fd,
        recursive,
        MountAttr {
            attr_set: set,
            attr_clr: clr,
            ..Default::default()
        },
    )
}

fn mount_setattr_with(fd: BorrowedFd, recursive: bool, mut attr: MountAttr) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= 0x8000; // AT_RECURSIVE
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed and "" is a valid C string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The `MOUNT_ATTR_*` bits mount_setattr understands.
pub mod mount_attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x200000;
}

/// Has `cmd`'s child run `f` between fork and exec (a hook's seccomp filter).
pub fn pre_exec(
    cmd: &mut std::process::Command,
    f: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: tong is single-threaded whenever it forks (no thread can hold
    // a lock the child would need), and callers' `f` only makes syscalls on
    // data the closure owns.
    unsafe {
        cmd.pre_exec(f);
    }
}

/// _exit(2): leaves a forked child without running the parent's exit handlers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING): a fresh session keyring named `name`,
/// so the container does not share the caller's keys.
pub fn join_session_keyring(name: &std::ffi::CStr) -> Result<i64, Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// ioctl(TIOCSCTTY): makes the terminal on `fd` the caller's controlling terminal.
pub fn set_controlling_tty(fd: BorrowedFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal) and touches no memory.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// ioctl(TIOCSWINSZ): sets a terminal's size.
pub fn set_winsize(fd: BorrowedFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// ioctl(TIOCGWINSZ): a terminal's size as (rows, cols).
pub fn get_winsize(fd: BorrowedFd) -> Result<(u16, u16), Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct that lives for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok((ws.ws_row, ws.ws_col))
    }
}

// ---- runtime-spec 1.2/1.3 process attributes and mounts (issue 18) ----

/// `struct sched_attr` of sched_setattr(2), as the kernel lays it out.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) on the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a valid sched_attr whose `size` field says how large it is;
    // the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, prio) on the calling process.
pub fn ioprio_set(prio: i32) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: plain integer arguments, no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// ioprio_get(IOPRIO_WHO_PROCESS, pid): `class << 13 | level`.
pub fn ioprio_get(pid: Pid) -> Result<i32, Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: plain integer arguments, no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, pid.as_raw()) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as i32)
    }
}

/// set_mempolicy(2) for the calling thread; `nodes` is the node bitmask.
pub fn set_mempolicy(mode: i32, nodes: &[libc::c_ulong]) -> Result<(), Errno> {
    let maxnode = (nodes.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
    let ptr = if nodes.is_empty() {
        std::ptr::null()
    } else {
        nodes.as_ptr()
    };
    // The kernel reads maxnode-1 bits; pass one more so every bit given counts.
    let maxnode = if nodes.is_empty() { 0 } else { maxnode + 1 };
    // SAFETY: `ptr` is null or points at `nodes`, which holds at least
    // maxnode-1 bits and lives for the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Sets IFF_UP on the interface `name` of the caller's network namespace
/// (SIOCGIFFLAGS then SIOCSIFFLAGS on `sock`, any AF_INET datagram socket).
pub fn set_link_up(sock: BorrowedFd, name: &str) -> Result<(), Errno> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`,
    // which lives for the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel filled ifru_flags for SIOCGIFFLAGS above.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, which lives for the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// open_tree(2) with OPEN_TREE_CLONE of the file `fd` refers to (an O_PATH
/// fd), recursively when `recursive`: a detached copy of its mount.
pub fn open_tree_clone_fd(fd: BorrowedFd, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: "" is a valid NUL-terminated string; `fd` is open for the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// mount_setattr(2) with MOUNT_ATTR_IDMAP: the detached mount `fd` shows
/// ids through the mappings of the user namespace `userns`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd,
    recursive: bool,
    userns: BorrowedFd,
) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    mount_setattr_with(
        fd,
        recursive,
        MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            userns_fd: userns.as_raw_fd() as u64,
            ..Default::default()
        },
    )
}

/// move_mount(2) of the detached mount `from` onto the file `to` refers to.
pub fn move_mount_fds(from: BorrowedFd, to: BorrowedFd) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: "" is a valid NUL-terminated string; both fds are open for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// A small text file (procfs, cgroupfs) in as few reads as the kernel
/// allows: std's `read_to_string` asks for the size first and procfs says
/// 0, so it grows its buffer from 32 bytes, one read(2) each time.
pub fn read_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    let fd = nix::fcntl::open(
        path.as_ref(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // A page first: most are a line or two, and a zeroed buffer touches
    // every page it spans.
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match nix::unistd::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Returns the heap's free memory to the kernel (glibc's malloc_trim).
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks and releases the allocator's free
    // chunks; the process has a single thread (no concurrent allocation).
    unsafe {
        libc::malloc_trim(0);
    }
}

// Probes for `tong check` (linux::host): each calls a syscall with arguments
// the kernel refuses before doing anything, so the errno alone says whether
// the call exists (ENOSYS) or not (EINVAL, EBADF…). None has an effect.

/// The errno of a probe that must fail; `None` if it (unexpectedly) succeeded.
fn probe_errno(ret: libc::c_long) -> Option<Errno> {
    (ret < 0).then(Errno::last)
}

/// clone3(NULL, 0): EINVAL (a size below the first struct) where clone3
/// exists, ENOSYS where it does not. Never forks: the size is checked first.
pub fn probe_clone3() -> Option<Errno> {
    // SAFETY: a null pointer with size 0: the kernel reads nothing and
    // refuses the size before any copy or fork.
    probe_errno(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) })
}

/// clone3 with CLONE_INTO_CGROUP and cgroup fd `i32::MAX` (never open: the
/// fd table cannot reach it): EBADF where the flag is known, EINVAL or E2BIG
/// where it is not, ENOSYS without clone3.
pub fn probe_clone_into_cgroup() -> Option<Errno> {
    let mut args = CloneArgs {
        flags: 0x200000000, // CLONE_INTO_CGROUP
        exit_signal: libc::SIGCHLD as u64,
        cgroup: i32::MAX as u64,
        ..Default::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed. The cgroup fd
    // cannot be open, so the kernel fails the clone before the child runs;
    // were a child made anyway it exits at once (below) and is reaped.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        0 => exit_now(0),
        pid if pid > 0 => {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
            None
        }
        _ => Some(Errno::last()),
    }
}

/// close_range(1, 0, 0): EINVAL (first above last) where the call exists;
/// closes nothing.
pub fn probe_close_range() -> Option<Errno> {
    // SAFETY: integer arguments; an empty, inverted range closes no fd.
    probe_errno(unsafe { libc::syscall(libc::SYS_close_range, 1u32, 0u32, 0u32) })
}

/// open_tree(-1, "", all flag bits): EINVAL for the unknown flags where the
/// call exists; opens nothing.
pub fn probe_open_tree() -> Option<Errno> {
    // SAFETY: "" is a valid C string; the flags are refused before any lookup.
    probe_errno(unsafe { libc::syscall(libc::SYS_open_tree, -1, c"".as_ptr(), u32::MAX) })
}

/// mount_setattr(-1, "", all flag bits, NULL, 0): EINVAL for the unknown
/// flags where the call exists; changes no mount.
pub fn probe_mount_setattr() -> Option<Errno> {
    // SAFETY: "" is a valid C string and the null attr has size 0; the
    // flags are refused before the attr is read.
    probe_errno(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            u32::MAX,
            std::ptr::null::<u8>(),
            0usize,
        )
    })
}

/// pidfd_open(self, all flag bits): EINVAL for the unknown flags where the
/// call exists; opens no fd.
pub fn probe_pidfd_open() -> Option<Errno> {
    // SAFETY: integer arguments; the flags are refused before a pidfd is made.
    probe_errno(unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), u32::MAX) })
}

/// seccomp(SECCOMP_GET_NOTIF_SIZES): the sizes of the user-notification
/// structures (Linux 5.0); an error where the kernel has no notifications.
pub fn seccomp_notif_sizes() -> Result<[u16; 3], Errno> {
    const SECCOMP_GET_NOTIF_SIZES: libc::c_uint = 3;
    let mut sizes = [0u16; 3];
    // SAFETY: the kernel writes a struct seccomp_notif_sizes (three u16) to `sizes`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_NOTIF_SIZES,
            0u32,
            sizes.as_mut_ptr(),
        )
    };
    match probe_errno(ret) {
        Some(e) => Err(e),
        None => Ok(sizes),
    }
}

/// seccomp(SECCOMP_GET_ACTION_AVAIL, action): whether the kernel knows a
/// filter return action (`SECCOMP_RET_USER_NOTIF` is 0x7fc00000).
pub fn seccomp_action_avail(action: u32) -> Result<(), Errno> {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
    // SAFETY: the kernel reads one u32 from `&action`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0u32,
            &action as *const u32,
        )
    };
    probe_errno(ret).map_or(Ok(()), Err)
}
