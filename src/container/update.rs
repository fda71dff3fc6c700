//! `update`: new resource limits applied to a live container and recorded.

use super::status::{status_of, Op};
use super::{cgroup_of, Ctx};
use crate::error::{Error, Result};
use crate::state::Dir;
use oci_spec::runtime::{Linux, LinuxResources};

/// What a getter gives (a copy or a reference), owned.
fn given<T: Clone>(v: impl std::borrow::Borrow<Option<T>>) -> Option<T> {
    v.borrow().clone()
}

/// Each field `$patch` names replaces `$base`'s.
macro_rules! over {
    ($base:expr, $patch:expr; $($get:ident => $set:ident),* $(,)?) => {
        $(if let Some(v) = given($patch.$get()) {
            $base.$set(Some(v));
        })*
    };
}

/// The recorded resources after an update: what the update names replaces
/// what was recorded, the rest stays (lists are replaced whole, maps
/// merged by key), as runc records an update.
fn merge(base: &mut LinuxResources, patch: &LinuxResources) {
    over!(base, patch;
        devices => set_devices,
        pids => set_pids,
        hugepage_limits => set_hugepage_limits,
    );
    if let Some(p) = patch.memory() {
        let mut m = given(base.memory()).unwrap_or_default();
        over!(m, p;
            limit => set_limit,
            reservation => set_reservation,
            swap => set_swap,
            kernel => set_kernel,
            kernel_tcp => set_kernel_tcp,
            swappiness => set_swappiness,
            disable_oom_killer => set_disable_oom_killer,
            use_hierarchy => set_use_hierarchy,
            check_before_update => set_check_before_update,
        );
        base.set_memory(Some(m));
    }
    if let Some(p) = patch.cpu() {
        let mut c = given(base.cpu()).unwrap_or_default();
        over!(c, p;
            shares => set_shares,
            quota => set_quota,
            idle => set_idle,
            burst => set_burst,
            period => set_period,
            realtime_runtime => set_realtime_runtime,
            realtime_period => set_realtime_period,
            cpus => set_cpus,
            mems => set_mems,
        );
        base.set_cpu(Some(c));
    }
    if let Some(p) = patch.block_io() {
        let mut b = given(base.block_io()).unwrap_or_default();
        over!(b, p;
            weight => set_weight,
            leaf_weight => set_leaf_weight,
            weight_device => set_weight_device,
            throttle_read_bps_device => set_throttle_read_bps_device,
            throttle_write_bps_device => set_throttle_write_bps_device,
            throttle_read_iops_device => set_throttle_read_iops_device,
            throttle_write_iops_device => set_throttle_write_iops_device,
        );
        base.set_block_io(Some(b));
    }
    if let Some(p) = patch.network() {
        let mut n = given(base.network()).unwrap_or_default();
        over!(n, p; class_id => set_class_id, priorities => set_priorities);
        base.set_network(Some(n));
    }
    if let Some(p) = patch.rdma() {
        let rdma = base.rdma_mut().get_or_insert_with(Default::default);
        for (k, v) in p {
            let r = rdma.entry(k.clone()).or_default();
            // LinuxRdma has no setters.
            if let Some(h) = v.hca_handles() {
                *r.hca_handles_mut() = Some(h);
            }
            if let Some(o) = v.hca_objects() {
                *r.hca_objects_mut() = Some(o);
            }
        }
    }
    if let Some(p) = patch.unified() {
        let unified = base.unified_mut().get_or_insert_with(Default::default);
        unified.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// A `linux` with nothing in it, for a config that had none
/// (`Linux::default()` holds runc's defaults).
fn empty_linux() -> Linux {
    let mut l = Linux::default();
    l.set_resources(None);
    l
}

/// `update`: applies new resource limits to a live container and records them.
pub fn update(ctx: &Ctx, id: &str, patch: &serde_json::Value) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let mut s = dir.load()?;
    status_of(&dir.path, &s).0.check(Op::Update, id)?;
    let cg = cgroup_of(ctx, &s);
    let mut r: LinuxResources = crate::spec::from_json(patch.to_string().as_bytes(), "resources")?;
    // An unlimited memory limit lifts the memory+swap limit too unless the
    // update names one (runc): a memsw limit below it would make the kernel
    // refuse the new memory limit.
    if let Some(m) = r
        .memory()
        .as_ref()
        .filter(|m| m.limit() == Some(-1) && m.swap().is_none())
    {
        let mut m = *m;
        m.set_swap(Some(-1));
        r.set_memory(Some(m));
    }
    let mut recorded = s
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    merge(&mut recorded, &r);
    // Only what the update names is written; device rules are not updatable.
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
    s.config
        .linux_mut()
        .get_or_insert_with(empty_linux)
        .set_resources(Some(recorded));
    dir.save(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// How a8a5a60 recorded an update: the patch's JSON overlaid on the
    /// recorded resources' JSON, object by object.
    fn merge_json(base: &mut Value, patch: &Value) {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                for (k, v) in p {
                    merge_json(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, p) => *b = p.clone(),
        }
    }

    /// The typed merge records what the JSON merge recorded.
    #[test]
    fn records_as_the_json_merge_did() {
        let bases = [
            json!(null),
            json!({}),
            json!({
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 100, "swap": 200, "checkBeforeUpdate": true},
                "cpu": {"shares": 1024, "cpus": "0-1", "quota": 5000},
                "pids": {"limit": 10},
                "blockIO": {"weight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 20}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
                "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 1}]},
                "rdma": {"mlx5_0": {"hcaHandles": 1, "hcaObjects": 2}},
                "unified": {"memory.high": "100", "io.weight": "50"}
            }),
        ];
        let patches = [
            json!({}),
            json!({"memory": {"limit": 300, "reservation": 50}, "pids": {"limit": 50}, "cpu": {"shares": 512}}),
            json!({"cpu": {"period": 100000, "quota": -1, "realtimePeriod": 3, "mems": "0"}, "blockIO": {"weight": 300, "leafWeight": 20}}),
            json!({
                "devices": [{"allow": true, "access": "r"}],
                "blockIO": {"weightDevice": [{"major": 8, "minor": 16, "weight": 30}], "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 9}]},
                "hugepageLimits": [],
                "network": {"priorities": []},
                "rdma": {"mlx5_0": {"hcaObjects": 9}, "mlx5_1": {"hcaHandles": 4}},
                "unified": {"memory.high": "200", "pids.max": "9"}
            }),
        ];
        for base in &bases {
            for patch in &patches {
                let mut want = base.clone();
                merge_json(&mut want, patch);
                let want: LinuxResources = serde_json::from_value(want).unwrap();
                let mut got: LinuxResources =
                    serde_json::from_value(base.clone()).unwrap_or_default();
                merge(&mut got, &serde_json::from_value(patch.clone()).unwrap());
                assert_eq!(got, want, "{base} + {patch}");
            }
        }
    }
}
