//! The typed protocol between the runtime and the process it is setting up.
//!
//! One SOCK_SEQPACKET socketpair, one JSON message per packet. An error in
//! the child travels back as [`Msg::Error`] with its real cause, so the user
//! never sees a bare "child exited with status 1".

use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum Msg {
    /// Runtime → child: id maps are written and the cgroup is joined.
    Go,
    /// Child → runtime: mounts are done; createRuntime hooks may run now.
    MountsReady,
    /// Runtime → child: carry on after the createRuntime hooks.
    Continue,
    /// Child → runtime: set-up finished, waiting for `start`.
    Ready,
    /// Runtime → init: the container is recorded as created; wait for
    /// `start`. Without it (the runtime died first) init exits.
    Committed,
    /// Runtime → init, when the runtime that made it also starts it
    /// (`run`): exec now. Init's exec closes the socket; an error comes back.
    Start,
    /// Intermediate → runtime: the init's pid (its pidfd rides along).
    Pid(i32),
    /// Child → runtime: the seccomp notify fd rides along, for the listener.
    SeccompFd,
    /// Runtime → child, before Go: the idmapped mount for `mounts[i]` rides along.
    MountFd(usize),
    /// Runtime → child, before Go: an O_PATH fd of `mounts[i]`'s source, in
    /// the child's mount namespace, for a bind it may not reach itself.
    MountSource(usize),
    /// Either way: set-up failed.
    Error(Error),
}

impl Msg {
    /// Ok if this is the message wanted; the peer's error, or a protocol error, if not.
    pub fn check(self, want: Msg) -> Result<()> {
        match self {
            m if m == want => Ok(()),
            Msg::Error(e) => Err(e),
            m => Err(Error::new(format!("sync: expected {want:?}, got {m:?}"))),
        }
    }
}

/// What the runtime prepared for init's mounts, by mount index.
#[derive(Default)]
pub struct Prepared {
    /// Detached mounts to attach (idmapped).
    pub trees: Vec<(usize, OwnedFd)>,
    /// Sources of binds, opened in init's mount namespace.
    pub sources: Vec<(usize, OwnedFd)>,
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx("socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// The socket's number, for the list of fds a child keeps.
    pub fn raw(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<BorrowedFd>) -> Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(|e| Error::new(e.to_string()))?;
        match fd {
            Some(fd) => sys::send_with_fd(self.fd.as_fd(), &bytes, fd),
            None => send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL).map(|_| ()),
        }
        .ctx("send to sync socket")
    }

    /// The next message, or `None` when the other side is gone.
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let Some((buf, fd)) = sys::recv_message(self.fd.as_fd()).ctx("receive from sync socket")?
        else {
            return Ok(None);
        };
        let msg = serde_json::from_slice(&buf)
            .map_err(|e| Error::new(format!("bad sync message: {e}")))?;
        Ok(Some((msg, fd)))
    }

    /// An error the peer has already sent, without waiting for one.
    pub fn pending_error(&self) -> Option<Error> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).ok()? == 0 {
            return None;
        }
        match self.recv() {
            Ok(Some((Msg::Error(e), _))) => Some(e),
            _ => None,
        }
    }

    /// Waits for exactly `want`; an `Error` from the peer is returned as is.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some((m, _)) if m == want => Ok(()),
            Some((Msg::Error(e), _)) => Err(e),
            Some((m, _)) => Err(Error::new(format!("sync: expected {want:?}, got {m:?}"))),
            None => Err(Error::new(format!(
                "sync: peer went away while waiting for {want:?}"
            ))),
        }
    }

    /// Waits for Go, collecting the idmapped mounts and the bind sources
    /// sent before it.
    pub fn expect_go_with_mounts(&self) -> Result<Prepared> {
        let mut p = Prepared::default();
        loop {
            match self.recv()? {
                Some((Msg::MountFd(i), Some(fd))) => p.trees.push((i, fd)),
                Some((Msg::MountSource(i), Some(fd))) => p.sources.push((i, fd)),
                Some((m, _)) => return m.check(Msg::Go).map(|()| p),
                None => return Err(Error::new("sync: peer went away while waiting for Go")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_fd() {
        let (a, b) = pair().unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_with_fd(&Msg::Pid(7), Some(f.as_fd())).unwrap();
        let (m, fd) = b.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Pid(7));
        assert!(fd.is_some());
        a.send(&Msg::Error(Error::field("/x", "boom"))).unwrap();
        let e = b.expect(Msg::Go).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/x"));
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
