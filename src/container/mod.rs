//! The lifecycle operations, one file each, and `status` with the one table
//! of what each status allows. Orchestration only: syscalls live in `linux`,
//! process birth in `process`, files in `state`. Kept here is what the
//! operations share: the global options, the config a caller already holds,
//! the hooks' state and the init's pidfd.

mod checkpoint;
mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod query;
mod restore;
mod signal;
mod start;
mod status;
mod update;

pub use checkpoint::{checkpoint, CheckpointOpts, CriuFlags};
pub use create::{create, create_with_console, socket_activation_fds, CreateOpts, Made};
pub use delete::{delete, delete_known};
pub use exec::{exec, ExecFlags, ExecOpts, ExecProcess};
pub use kill::kill;
pub use pause::{pause, resume};
pub use query::{event_source, list, pids, state, StateOut};
pub use restore::{restore, RestoreOpts};
pub use signal::parse_signal;
pub use start::{start, start_direct, start_known};
pub use status::{status_of, Op, Status};
pub use update::update;

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::linux::cgroups::Manager;
use crate::linux::sys;
use crate::state::{Dir, Saved};
use nix::errno::Errno;
use nix::unistd::Pid;
use status::live_pid;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Global options every operation sees.
pub struct Ctx {
    pub root: PathBuf,
    /// Without privileges over cgroups, placement is best effort (as runc).
    pub rootless: bool,
    /// `--systemd-cgroup`: systemd makes the container's cgroup (a scope).
    pub systemd: bool,
}

fn hooks_of(s: &Saved) -> Option<oci_spec::runtime::Hooks> {
    s.config.hooks().clone()
}

fn hook_state(s: &Saved, status: &str, pid: Option<Pid>) -> String {
    hooks::state_json(
        &s.oci_version,
        &s.id,
        status,
        pid,
        &s.bundle,
        &s.annotations,
    )
}

/// Writes the pid file atomically, as engines poll for it.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    // Exclusive and not following a link: a file or symlink planted at the
    // temporary name is an error, never a target we write through.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(pid.as_raw().to_string().as_bytes())
    };
    write().ctx(format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::from(e).context(format!("write pid file {}", path.display()))
    })
}

/// A container's saved config as this process already knows it.
pub struct Config(oci_spec::runtime::Spec);

/// The state, with the config from `known` when the caller has it (it does
/// not change after create) instead of reading it again.
fn load(dir: &Dir, known: Option<&Config>) -> Result<Saved> {
    match known {
        Some(c) => {
            let mut s = dir.load_state()?;
            s.config = c.0.clone();
            Ok(s)
        }
        None => dir.load(),
    }
}

/// The container's cgroup, as its state records it.
fn cgroup_of(ctx: &Ctx, s: &Saved) -> Manager {
    Manager::load(&s.cgroup, ctx.rootless)
}

/// A pidfd for the init, checked after opening so a reused pid can't slip in.
fn open_pidfd(s: &Saved) -> Result<OwnedFd> {
    let pid = live_pid(s).ok_or_else(|| Error::new("container not running"))?;
    let fd = sys::pidfd_open(pid).map_err(|e| match e {
        Errno::ESRCH => Error::new("container not running"),
        e => Error::sys("pidfd_open", e),
    })?;
    if live_pid(s).is_none() {
        return Err(Error::new("container not running"));
    }
    Ok(fd)
}
