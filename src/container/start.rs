//! `start`: init is released to exec the user's process, then the
//! poststart hooks run.

use super::delete::delete_known;
use super::status::{status_of, Op};
use super::{hook_state, hooks_of, load, Config, Ctx};
use crate::error::{Context, Error, Result};
use crate::state::{Dir, Saved};
use crate::{hooks, logging, process};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

/// `start`: releases init to exec the user's process.
pub fn start(ctx: &Ctx, id: &str) -> Result<()> {
    start_known(ctx, id, None)
}

/// [`start`] by a process that made the container (`run`).
pub fn start_known(ctx: &Ctx, id: &str, known: Option<&Config>) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = load(&dir, known)?;
    status_of(&dir.path, &s).0.check(Op::Start, id)?;
    let fifo = dir.fifo();
    let fd = match open(
        &fifo,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // No reader: init is gone.
        Err(Errno::ENXIO) => return Err(Error::new("container not running")),
        Err(e) => return Err(Error::sys("open exec fifo", e)),
    };
    std::fs::remove_file(&fifo).ctx("remove exec fifo")?;
    // Opened before the release, so init's writer is there to wait for.
    let result = open_start_fifo(&dir)?;
    nix::unistd::write(&fd, &[0u8]).ctx("write exec fifo")?;
    drop(fd);
    if let Some(r) = result {
        wait_start_result(r)?;
    }
    poststart(ctx, id, dir, s, known)
}

/// `start` by the runtime that made the container with `direct_start`
/// (`run`): through init's sync socket, which its exec closes.
pub fn start_direct(
    ctx: &Ctx,
    id: &str,
    sync: process::sync::Channel,
    known: Option<&Config>,
) -> Result<()> {
    use process::sync::Msg;
    sync.send(&Msg::Start)
        .map_err(|_| Error::new("container not running"))?;
    match sync.recv()? {
        None => {}
        Some((Msg::Error(e), _)) => return Err(e),
        Some((m, _)) => return Err(Error::new(format!("start: unexpected sync message {m:?}"))),
    }
    let has = |c: &Config| {
        c.0.hooks()
            .as_ref()
            .and_then(|h| h.poststart().as_ref())
            .is_some_and(|p| !p.is_empty())
    };
    if known.is_some_and(|c| !has(c)) {
        return Ok(());
    }
    let dir = Dir::open(&ctx.root, id)?;
    let s = load(&dir, known)?;
    poststart(ctx, id, dir, s, known)
}

/// The poststart hooks of a started container; one that fails destroys it.
fn poststart(ctx: &Ctx, id: &str, dir: Dir, s: Saved, known: Option<&Config>) -> Result<()> {
    if let Some(h) = hooks_of(&s) {
        let st = hook_state(&s, "running", Some(Pid::from_raw(s.pid)));
        // runtime.md step 9: a failing poststart hook is an error that
        // stops the container, which is then destroyed (step 12).
        if let Err(e) = hooks::run_all(h.poststart().as_ref(), &st, "poststart") {
            drop(dir);
            if let Err(d) = delete_known(ctx, id, true, known) {
                logging::warn(&format!("destroy after failed poststart hook: {d}"));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The start fifo's read end, non-blocking at open (a dead init holds no
/// writer), blocking for the read. None for containers made before it existed.
fn open_start_fifo(dir: &Dir) -> Result<Option<OwnedFd>> {
    let path = dir.start_fifo();
    let fd = match open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(Error::sys("open start fifo", e)),
    };
    let _ = std::fs::remove_file(&path);
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
        .ctx("start fifo flags")?;
    Ok(Some(fd))
}

/// Waits until init has exec'd (EOF, nothing written) or reported why it
/// could not (a startContainer hook failed, the exec failed).
fn wait_start_result(fd: OwnedFd) -> Result<()> {
    let mut msg = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read start fifo", e)),
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(Error::new(String::from_utf8_lossy(&msg).trim().to_string()))
    }
}
