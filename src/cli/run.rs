//! `run`: create, start, wait with signal forwarding, delete.

use crate::container::{self, CreateOpts, Ctx, ExecOpts};
use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd};

/// Signals a foreground `run` passes on to the container's init.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
];

/// The signals a foreground `run` or `exec` forwards.
pub fn forwarded_set() -> SigSet {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    mask
}

/// Waits for `pid` to exit while forwarding the (already blocked) signals in
/// `mask` to it; returns its exit status the shell way (128+N for signal N).
pub fn wait_forwarding(pid: Pid, pidfd: BorrowedFd, mask: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC).ctx("signalfd")?;
    loop {
        let mut fds = [
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
            Ok(_) => {}
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            break;
        }
        if let Ok(Some(info)) = sfd.read_signal() {
            let _ = sys::pidfd_send_signal(pidfd, info.ssi_signo as i32);
        }
    }
    Ok(match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 0,
    })
}

pub fn run(ctx: &Ctx, o: &CreateOpts, detach: bool, keep: bool, no_subreaper: bool) -> Result<i32> {
    if !no_subreaper && !detach {
        // Init may be a grandchild (joined namespaces); it must come back to us.
        nix::sys::prctl::set_child_subreaper(true).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    let pid = container::create(ctx, o)?;
    let pidfd = sys::pidfd_open(pid).ctx("pidfd_open container init");
    let mask = forwarded_set();
    if !detach {
        mask.thread_block().ctx("block signals")?;
    }
    if let Err(e) = container::start(ctx, &o.id) {
        let _ = container::delete(ctx, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_forwarding(pid, pidfd?.as_fd(), &mask)?;
    if !keep {
        container::delete(ctx, &o.id, true)?;
    }
    Ok(code)
}

/// `exec`: a process in a running container; waits for it unless detached.
pub fn exec(
    ctx: &Ctx,
    o: &ExecOpts,
    detach: bool,
    pid_file: Option<&std::path::Path>,
) -> Result<i32> {
    if !detach {
        // The process is a grandchild; as subreaper we can wait for it.
        nix::sys::prctl::set_child_subreaper(true).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    let spawned = container::exec(ctx, o)?;
    if let Some(p) = pid_file {
        container::write_pid_file(p, spawned.pid)?;
    }
    if detach {
        return Ok(0);
    }
    let mask = forwarded_set();
    mask.thread_block().ctx("block signals")?;
    wait_forwarding(spawned.pid, spawned.pidfd.as_fd(), &mask)
}
