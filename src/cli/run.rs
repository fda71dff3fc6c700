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
    Ok(exit_code(pid))
}

pub fn run(
    ctx: &Ctx,
    o: &CreateOpts,
    (detach, keep, no_subreaper): (bool, bool, bool),
    pidfd_socket: Option<&std::path::Path>,
) -> Result<i32> {
    if !no_subreaper && !detach {
        // Init may be a grandchild (joined namespaces); it must come back to us.
        nix::sys::prctl::set_child_subreaper(true).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    // In the foreground tong proxies a terminal itself; create says whether
    // the config asks for one (a spare socketpair costs less than reading the
    // config twice).
    let (ours, theirs) = if !detach && o.console_socket.is_none() {
        let (a, b) = std::os::unix::net::UnixStream::pair().ctx("socketpair")?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let mut made = container::create_with_console(ctx, o, theirs)?;
    let (pid, known) = (made.pid, Some(&made.config));
    let ours = ours.filter(|_| made.terminal);
    let pidfd = sys::pidfd_open(pid).ctx("pidfd_open container init");
    if let (Some(p), Ok(fd)) = (pidfd_socket, &pidfd) {
        if let Err(e) = crate::linux::pidfd::send(p, fd.as_fd()) {
            let _ = container::delete_known(ctx, &o.id, true, known);
            return Err(e);
        }
    }
    let mask = forwarded_set();
    if !detach {
        mask.thread_block().ctx("block signals")?;
    }
    let started = match made.sync.take() {
        Some(sync) => container::start_direct(ctx, &o.id, sync, known),
        None => container::start_known(ctx, &o.id, known),
    };
    if let Err(e) = started {
        let _ = container::delete_known(ctx, &o.id, true, known);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let pidfd = pidfd?;
    let code = match ours {
        Some(sock) => proxy_pty(&sock, pid, pidfd.as_fd(), &mask)?,
        None => wait_forwarding(pid, pidfd.as_fd(), &mask)?,
    };
    if !keep {
        container::delete_known(ctx, &o.id, true, known)?;
    }
    Ok(code)
}

/// `exec`: a process in a running container; waits for it unless detached.
pub fn exec(
    ctx: &Ctx,
    o: ExecOpts,
    detach: bool,
    pid_file: Option<&std::path::Path>,
    pidfd_socket: Option<&std::path::Path>,
) -> Result<i32> {
    if !detach {
        // The process is a grandchild; as subreaper we can wait for it.
        nix::sys::prctl::set_child_subreaper(true).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    // In the foreground with a terminal and no console socket, tong proxies
    // the pty itself, as for `run`.
    let (ours, theirs) = if !detach && o.console_socket.is_none() {
        let (a, b) = std::os::unix::net::UnixStream::pair().ctx("socketpair")?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let o = ExecOpts {
        console: theirs,
        ..o
    };
    let (spawned, terminal) = container::exec(ctx, &o)?;
    drop(o.console);
    if let Some(p) = pid_file {
        container::write_pid_file(p, spawned.pid)?;
    }
    if let Some(p) = pidfd_socket {
        crate::linux::pidfd::send(p, spawned.pidfd.as_fd())?;
    }
    if detach {
        return Ok(0);
    }
    let mask = forwarded_set();
    mask.thread_block().ctx("block signals")?;
    match ours.filter(|_| terminal) {
        Some(sock) => proxy_pty(&sock, spawned.pid, spawned.pidfd.as_fd(), &mask),
        None => wait_forwarding(spawned.pid, spawned.pidfd.as_fd(), &mask),
    }
}

/// Restores the terminal's settings when dropped.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Foreground `run` of a terminal container: receives the pty master and
/// copies between it and our stdio, forwarding signals and window size.
fn proxy_pty(
    sock: &std::os::unix::net::UnixStream,
    pid: Pid,
    pidfd: BorrowedFd,
    mask: &SigSet,
) -> Result<i32> {
    use std::io::{Read, Write};
    let mut buf = [0u8; 256];
    let (_, master) = sys::recv_with_fd(sock.as_fd(), &mut buf).ctx("receive pty master")?;
    let master = master.ok_or_else(|| Error::new("no pty master received"))?;
    let mut master = std::fs::File::from(master);
    let stdin = std::io::stdin();
    if let Ok((rows, cols)) = sys::get_winsize(stdin.as_fd()) {
        let _ = sys::set_winsize(master.as_fd(), rows, cols);
    }
    let _raw = RawMode::enter();
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC).ctx("signalfd")?;
    let mut stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut master_open = true;
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd, PollFlags::POLLIN),
            PollFd::new(
                master.as_fd(),
                if master_open {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                },
            ),
            PollFd::new(
                stdin.as_fd(),
                if stdin_open {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                },
            ),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
            Ok(_) => {}
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        // POLLHUP is reported even when not asked for: a closed side must be skipped.
        let (sig, exited) = (ready(0), ready(1));
        let (from_master, from_stdin) = (master_open && ready(2), stdin_open && ready(3));
        drop(fds);
        if from_master {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = stdout.write_all(&buf[..n]);
                    let _ = stdout.flush();
                }
                _ => master_open = false,
            }
            continue;
        }
        if exited {
            break;
        }
        if from_stdin {
            match stdin.lock().read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = master.write_all(&buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
        if sig {
            if let Ok(Some(info)) = sfd.read_signal() {
                if info.ssi_signo as i32 == libc::SIGWINCH {
                    if let Ok((rows, cols)) = sys::get_winsize(stdin.as_fd()) {
                        let _ = sys::set_winsize(master.as_fd(), rows, cols);
                    }
                } else {
                    let _ = sys::pidfd_send_signal(pidfd, info.ssi_signo as i32);
                }
            }
        }
    }
    Ok(exit_code(pid))
}

/// Reaps `pid` and returns its status the shell way (128+N for signal N).
fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 0,
    }
}

/// `restore`: a detached restore returns at once; in the foreground tong
/// waits for the restored init (its child: criu restores it as criu's
/// sibling), forwarding signals, then deletes the container.
pub fn restore(ctx: &Ctx, criu: &str, a: super::RestoreArgs) -> Result<i32> {
    if !a.no_subreaper && !a.detach {
        nix::sys::prctl::set_child_subreaper(true).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    let o = container::RestoreOpts {
        id: a.id.clone(),
        bundle: a.bundle,
        criu: a.criu.flags(),
        console_socket: a.console_socket,
        detach: a.detach,
        pid_file: a.pid_file,
        no_subreaper: a.no_subreaper,
        no_pivot: a.no_pivot,
        lsm_profile: a.lsm_profile,
        lsm_mount_context: a.lsm_mount_context,
    };
    let mask = forwarded_set();
    if !a.detach {
        mask.thread_block().ctx("block signals")?;
    }
    let pid = container::restore(ctx, criu, &o)?;
    if a.detach {
        return Ok(0);
    }
    let pidfd = sys::pidfd_open(pid).ctx("pidfd_open restored init")?;
    let code = wait_forwarding(pid, pidfd.as_fd(), &mask)?;
    container::delete(ctx, &a.id, true)?;
    Ok(code)
}
