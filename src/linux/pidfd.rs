//! `--pidfd-socket` (runc 1.2): a pidfd of the container's process, sent
//! with SCM_RIGHTS over a unix socket the caller listens on, so an engine
//! can signal and wait for the process without pid reuse races.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Connects to `path` and sends `pidfd` with the name "pidfd", as runc does.
pub fn send(path: &Path, pidfd: BorrowedFd) -> Result<()> {
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::from(e).context(format!("connect to pidfd socket {}", path.display()))
    })?;
    crate::linux::sys::send_with_fd(sock.as_fd(), b"pidfd", pidfd)
        .ctx(format!("send pidfd to {}", path.display()))?;
    Ok(())
}

/// Opens a pidfd of `pid` and sends it to `path`.
pub fn send_pid(path: &Path, pid: nix::unistd::Pid) -> Result<()> {
    let fd = crate::linux::sys::pidfd_open(pid).ctx("pidfd_open")?;
    send(path, std::os::fd::AsFd::as_fd(&fd))
}
