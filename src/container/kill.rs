//! `kill`: a signal to the init, or with `--all` to every process of the
//! container's cgroup.

use super::status::{live_pid, status_of, Status};
use super::{cgroup_of, open_pidfd, Ctx};
use crate::error::{Error, Result};
use crate::linux::sys;
use crate::state::Dir;
use nix::errno::Errno;
use std::os::fd::AsFd;

/// `kill`: a pidfd makes sure the signal reaches our init and no recycled pid.
pub fn kill(ctx: &Ctx, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    let cg = cgroup_of(ctx, &s);
    if all {
        // Nothing left to signal is success, as in runc: containerd's shim
        // sends this each time the init of a container sharing a PID
        // namespace exits, and logs every error it gets.
        if live_pid(&s).is_none() && cg.procs()?.is_empty() {
            return Ok(());
        }
        // Frozen, no process can fork a child that escapes the signal.
        let frozen = status_of(&dir.path, &s).0 != Status::Paused && cg.freeze(true).is_ok();
        let r = cg.signal_all(sig);
        if frozen {
            cg.freeze(false)?;
        }
        return r;
    }
    let pidfd = open_pidfd(&s)?;
    sys::pidfd_send_signal(pidfd.as_fd(), sig).map_err(|e| match e {
        Errno::ESRCH => Error::new("no such process"),
        e => Error::sys("kill", e),
    })?;
    // A frozen process cannot die: SIGKILL thaws it, as runc does.
    if sig == libc::SIGKILL && cg.is_frozen() {
        cg.freeze(false)?;
    }
    Ok(())
}
