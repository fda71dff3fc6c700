//! What a container is and holds, read without changing it: `state`,
//! `list`, `ps`, and the sources `events` watches.

use super::status::{status_of, Op};
use super::{cgroup_of, open_pidfd, Ctx};
use crate::error::Result;
use crate::linux::cgroups::Manager;
use crate::state::{self, Dir, Saved};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// runc's `state` output: the spec's state plus `rootfs`, `created`, `owner`.
#[derive(serde::Serialize)]
pub struct StateOut {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

fn state_out(dir: &Path, s: &Saved) -> StateOut {
    let (st, pid) = status_of(dir, s);
    StateOut {
        oci_version: s.oci_version.clone(),
        id: s.id.clone(),
        pid: pid.map(|p| p.as_raw()).unwrap_or(0),
        status: st.as_str(),
        bundle: s.bundle.clone(),
        rootfs: s.rootfs.clone(),
        created: s.created.clone(),
        owner: s.owner.clone(),
        annotations: s.annotations.clone(),
    }
}

pub fn state(ctx: &Ctx, id: &str) -> Result<StateOut> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    Ok(state_out(&dir.path, &s))
}

/// Every container under the root, for `list`.
pub fn list(ctx: &Ctx) -> Result<Vec<StateOut>> {
    let mut out = Vec::new();
    for id in state::list(&ctx.root)? {
        let path = ctx.root.join(&id);
        let Ok(bytes) = std::fs::read(path.join("state.json")) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<Saved>(&bytes) else {
            continue;
        };
        out.push(state_out(&path, &s));
    }
    Ok(out)
}

/// The host pids of every process in the container (none once it stopped:
/// runc's `ps` then prints just the header).
pub fn pids(ctx: &Ctx, id: &str) -> Result<Vec<Pid>> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    if !status_of(&dir.path, &s).0.allows(Op::Ps) {
        return Ok(Vec::new());
    }
    cgroup_of(ctx, &s).procs()
}

/// What `events` watches: the cgroup and a pidfd of the init.
pub fn event_source(ctx: &Ctx, id: &str) -> Result<(Manager, OwnedFd)> {
    let s = Dir::open(&ctx.root, id)?.load_state()?;
    let pidfd = open_pidfd(&s)?;
    Ok((cgroup_of(ctx, &s), pidfd))
}
