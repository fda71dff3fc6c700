//! Passing one fd over a unix socket (SCM_RIGHTS), with a message.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Sends `data` with one fd attached (SCM_RIGHTS) on a connected unix
/// socket: how a pty master, a pidfd or a seccomp notify fd reaches an
/// engine's socket.
pub fn send_with_fd(sock: BorrowedFd, data: &[u8], fd: BorrowedFd) -> Result<(), Errno> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(data)];
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(|_| ())
}

/// Receives one datagram and at most one fd passed with SCM_RIGHTS.
/// Returns the byte count (0 at end of stream) and the fd.
pub fn recv_with_fd(sock: BorrowedFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS installed a new fd in our table that nothing else owns.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// A datagram's bytes and the fd that came with it.
pub type Message = (Vec<u8>, Option<OwnedFd>);

/// The next datagram of a SOCK_SEQPACKET socket, whole, with at most one fd;
/// `None` at end of stream. Its length is peeked first (the peek leaves the
/// message and its fd queued), so the buffer is the message's size: a
/// zeroed 64 KB one for a message of a few bytes touched 16 pages, each a
/// fault and, in a fresh clone, a copy. Interrupted calls are retried.
pub fn recv_message(sock: BorrowedFd) -> Result<Option<Message>, Errno> {
    use nix::sys::socket::{recv, MsgFlags};
    let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
    let len = loop {
        match recv(sock.as_raw_fd(), &mut [], peek) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    if len == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; len];
    let (n, fd) = loop {
        match recv_with_fd(sock, &mut buf) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    Ok(Some((buf, fd)))
}
