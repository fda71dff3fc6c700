//! `delete`: the container's processes, cgroups, unit and directory go,
//! then the poststop hooks run.

use super::status::{status_of, Op};
use super::{cgroup_of, hook_state, hooks_of, load, open_pidfd, Config, Ctx};
use crate::error::{Error, Result};
use crate::linux::sys;
use crate::state::{self, Dir, Saved};
use crate::{hooks, process};
use std::os::fd::AsFd;

/// `delete`: a created or stopped container goes; a running one only with `force`.
pub fn delete(ctx: &Ctx, id: &str, force: bool) -> Result<()> {
    delete_known(ctx, id, force, None)
}

/// [`delete`] by a process that made the container (`run`).
pub fn delete_known(ctx: &Ctx, id: &str, force: bool, known: Option<&Config>) -> Result<()> {
    let dir = match Dir::open(&ctx.root, id) {
        Ok(d) => d,
        Err(_) if force && state::check_id(id).is_ok() && !state::exists(&ctx.root, id) => {
            // A create of this id killed before it took the id.
            state::check_root(&ctx.root)?;
            state::sweep_creating(&ctx.root, id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let s = load(&dir, known)?;
    if !force {
        status_of(&dir.path, &s).0.check(Op::Delete, id)?;
    }
    let pidfd = open_pidfd(&s).ok();
    // Init gone, its pid namespace went with it: usually nothing is left
    // and the cgroups go at once. Anything still there (a process sharing
    // a pid namespace, a frozen one) keeps a cgroup busy: then the kill,
    // thaw and wait below, as for a running container.
    let cg = cgroup_of(ctx, &s);
    if pidfd.is_none() && cg.remove_if_empty() {
        return finish_delete(s, dir);
    }
    if let Some(fd) = &pidfd {
        let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
    }
    // With a shared pid namespace, other processes may outlive init.
    let _ = cg.signal_all(libc::SIGKILL);
    // Frozen processes die only once thawed: by our pause (whatever the
    // status says, a created container can be paused too) or by someone
    // else's freezer above ours, which we cannot thaw; then say so rather
    // than wait forever.
    if pidfd.is_some() && cg.is_frozen() {
        let _ = cg.freeze(false);
    }
    if let Some(fd) = &pidfd {
        if !process::wait_exit_for(fd.as_fd(), std::time::Duration::from_secs(10)) {
            return Err(Error::new(format!(
                "container {id} did not exit after SIGKILL: {}",
                match cg.frozen_dir() {
                    Some(d) => format!("its cgroup {} is frozen", d.display()),
                    None => "its processes are stuck in the kernel".into(),
                }
            )));
        }
    }
    cg.destroy()?;
    finish_delete(s, dir)
}

/// The end of a delete, once the cgroups are gone: poststop hooks, then
/// the state directory.
fn finish_delete(s: Saved, dir: Dir) -> Result<()> {
    if let Some(h) = hooks_of(&s) {
        hooks::run_all_warn(
            h.poststop().as_ref(),
            &hook_state(&s, "stopped", None),
            "poststop",
        );
    }
    dir.remove()
}
