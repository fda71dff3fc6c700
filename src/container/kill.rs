//! `kill`: a signal to the init, or with `--all` to every process of the
//! container's cgroup.

use super::status::{live_pid, status_of, Status};
use super::{open_pidfd, Ctx};
use crate::error::{Error, Result};
use crate::linux::{cgroups, sys};
use crate::state::Dir;
use nix::errno::Errno;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// `kill`: a pidfd makes sure the signal reaches our init and no recycled pid.
pub fn kill(ctx: &Ctx, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    if all {
        // Nothing left to signal is success, as in runc: containerd's shim
        // sends this each time the init of a container sharing a PID
        // namespace exits, and logs every error it gets.
        if live_pid(&s).is_none() && cgroups::procs(&s.cgroup_dirs)?.is_empty() {
            return Ok(());
        }
        // Frozen, no process can fork a child that escapes the signal.
        let frozen = status_of(&dir.path, &s).0 != Status::Paused
            && cgroups::freeze(&s.cgroup_dirs, true).is_ok();
        let r = signal_all(&s.cgroup_dirs, sig);
        if frozen {
            cgroups::freeze(&s.cgroup_dirs, false)?;
        }
        return r;
    }
    let pidfd = open_pidfd(&s)?;
    sys::pidfd_send_signal(pidfd.as_fd(), sig).map_err(|e| match e {
        Errno::ESRCH => Error::new("no such process"),
        e => Error::sys("kill", e),
    })?;
    // A frozen process cannot die: SIGKILL thaws it, as runc does.
    if sig == libc::SIGKILL && cgroups::frozen_dir(&s.cgroup_dirs).is_some() {
        cgroups::freeze(&s.cgroup_dirs, false)?;
    }
    Ok(())
}

pub(super) fn signal_all(dirs: &[PathBuf], sig: i32) -> Result<()> {
    if sig == libc::SIGKILL && cgroups::kill_all(dirs) {
        return Ok(());
    }
    for p in cgroups::procs(dirs)? {
        match nix::sys::signal::kill(p, nix::sys::signal::Signal::try_from(sig).ok()) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys(format!("signal {p}"), e)),
        }
    }
    Ok(())
}
