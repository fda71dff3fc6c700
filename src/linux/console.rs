//! Pseudo-terminals and the console socket.
//!
//! As runc does: the pty is made inside the container (its devpts), the
//! master goes to the engine over the `--console-socket` unix socket with
//! SCM_RIGHTS (the payload is the pty's name), and the slave becomes the
//! process's stdio and controlling terminal.

use crate::error::{Context, Error, Result};
use crate::linux::rootfs::{fd_path, resolve, Create};
use crate::linux::sys;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::pty::{posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Makes a pty, sends its master over `socket`, and takes the slave as stdio
/// and controlling terminal. With `mount_console`, the slave is also bound
/// over /dev/console (for the container's init).
pub fn setup(socket: BorrowedFd, size: Option<(u16, u16)>, mount_console: bool) -> Result<()> {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).ctx("open /dev/ptmx")?;
    unlockpt(&master).ctx("unlockpt")?;
    let name = ptsname_r(&master).ctx("ptsname")?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open {name}"))?;
    if let Some((rows, cols)) = size {
        sys::set_winsize(slave.as_fd(), rows, cols).ctx("set console size")?;
    }
    if mount_console {
        let target = console_target()?;
        mount(
            Some(name.as_str()),
            fd_path(target.as_fd()).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx("bind the pty over /dev/console")?;
    }
    crate::linux::sys::send_with_fd(socket, name.as_bytes(), master.as_fd())
        .ctx("send the pty master to the console socket")?;
    drop(master);
    nix::unistd::dup2_stdin(&slave).ctx("dup pty to stdin")?;
    nix::unistd::dup2_stdout(&slave).ctx("dup pty to stdout")?;
    nix::unistd::dup2_stderr(&slave).ctx("dup pty to stderr")?;
    sys::set_controlling_tty(slave.as_fd()).ctx("set controlling terminal")?;
    Ok(())
}

/// The /dev/console to bind the pty over. Its last component is never
/// followed: a symlink planted there (say to /proc/sysrq-trigger) would have
/// the bind land on that file instead (CVE-2025-52565).
fn console_target() -> Result<std::os::fd::OwnedFd> {
    use nix::errno::Errno;
    use nix::sys::stat::{fstat, SFlag};
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /")?;
    let dev = resolve(root.as_fd(), Path::new("/dev"), Create::Dir)?;
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match nix::fcntl::openat(dev.as_fd(), "console", flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            nix::fcntl::openat(
                dev.as_fd(),
                "console",
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .ctx("create /dev/console")?;
            nix::fcntl::openat(dev.as_fd(), "console", flags, Mode::empty())
                .ctx("open /dev/console")?
        }
        Err(e) => return Err(Error::sys("open /dev/console", e)),
    };
    let st = fstat(fd.as_fd()).ctx("stat /dev/console")?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFCHR {
        return Err(Error::new(
            "/dev/console in the container is not a file or character device (a symlink?); refusing to mount the console over it",
        ));
    }
    Ok(fd)
}

/// Connects to an engine's console socket.
pub fn connect(path: &Path) -> Result<std::os::unix::net::UnixStream> {
    std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::from(e).context(format!("connect to console socket {}", path.display()))
    })
}

/// Sends a pty master (one criu restored) to an engine's console socket,
/// as a create sends the master it made.
pub fn send_master(path: &Path, master: std::os::fd::BorrowedFd) -> Result<()> {
    let sock = connect(path)?;
    crate::linux::sys::send_with_fd(sock.as_fd(), b"/dev/ptmx", master)
        .ctx("send the pty master to the console socket")?;
    Ok(())
}
