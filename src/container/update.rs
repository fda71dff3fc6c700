//! `update`: new resource limits applied to a live container and recorded.

use super::status::{status_of, Op};
use super::{cgroup_of, Ctx};
use crate::error::{Error, Result};
use crate::state::Dir;

/// Overlays `patch` onto `base`, object by object (values in `patch` win).
fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge_json(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `update`: applies new resource limits to a live container and records them.
pub fn update(ctx: &Ctx, id: &str, patch: &serde_json::Value) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let mut s = dir.load()?;
    status_of(&dir.path, &s).0.check(Op::Update, id)?;
    let cg = cgroup_of(ctx, &s);
    let r: oci_spec::runtime::LinuxResources =
        crate::spec::from_json(patch.to_string().as_bytes(), "resources")?;
    // Only what the update names is written; device rules are not updatable.
    let mut r = r;
    r.set_devices(None);
    // config-linux.md: with checkBeforeUpdate, a limit below what the
    // container already uses is refused instead of reclaiming or OOM-killing.
    if let Some(m) = r
        .memory()
        .as_ref()
        .filter(|m| m.check_before_update() == Some(true))
    {
        if let (Some(limit), Some(used)) = (m.limit().filter(|l| *l > 0), cg.memory_usage()) {
            if (limit as u64) < used {
                return Err(Error::field(
                    "/memory/limit",
                    format!("memory limit {limit} is below the container's current usage {used} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    cg.update(&r)?;
    let mut resources = s.config["linux"]["resources"].take();
    merge_json(&mut resources, patch);
    s.config["linux"]["resources"] = resources;
    dir.save(&s)
}
