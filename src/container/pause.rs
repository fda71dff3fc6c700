//! `pause` and `resume`: the container's cgroup frozen and thawed.

use super::status::{status_of, Op, Status};
use super::{cgroup_of, Ctx};
use crate::error::Result;
use crate::state::Dir;

/// `pause`: freezes every process of a running container.
pub fn pause(ctx: &Ctx, id: &str) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    let st = status_of(&dir.path, &s).0;
    st.check(Op::Pause, id)?;
    if st == Status::Paused {
        return Ok(());
    }
    cgroup_of(ctx, &s).freeze(true)
}

/// `resume`: thaws a paused container.
pub fn resume(ctx: &Ctx, id: &str) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    status_of(&dir.path, &s).0.check(Op::Resume, id)?;
    cgroup_of(ctx, &s).freeze(false)
}
