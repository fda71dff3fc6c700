//! `linux.resources` checked against what the kernel takes: every value it
//! would refuse or silently change is an error naming its field, found
//! before anything is created.

use super::{MAX_SHARES, MIN_SHARES};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;

/// CFS bandwidth bounds (kernel/sched/core.c): a period of 1 ms to 1 s, a
/// quota of at least 1 ms and at most 2^44 − 1 µs.
const MIN_CFS_US: u64 = 1000;
const MAX_CFS_PERIOD_US: u64 = 1_000_000;
const MAX_CFS_QUOTA_US: u64 = (1 << 44) - 1;
/// pids.max: PID_MAX_LIMIT (4M) at most.
const MAX_PIDS: i64 = 1 << 22;

/// An error at `/linux/resources/<at>`.
fn bad(at: impl std::fmt::Display, msg: impl Into<String>) -> Error {
    Error::field(format!("/linux/resources/{at}"), msg)
}

/// A JSON pointer segment (`~` and `/` escaped).
fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// A byte limit: -1 is unlimited, other negatives mean nothing.
fn check_limit(at: &str, what: &str, v: Option<i64>) -> Result<()> {
    match v {
        Some(v) if v < -1 => Err(bad(
            at,
            format!("{what} {v} is invalid: use -1 for unlimited or a number of bytes"),
        )),
        _ => Ok(()),
    }
}

/// A cpuset list as the kernel's cpulist_parse takes it: `N`, `N-M` or
/// `N-M:used/group`, comma-separated, ascending ranges.
fn check_cpuset(at: &str, file: &str, v: &str) -> Result<()> {
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let item_ok = |item: &str| -> bool {
        let (range, stride) = match item.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range_ok = match range.split_once('-') {
            Some((a, b)) => matches!((num(a), num(b)), (Some(a), Some(b)) if a <= b),
            None => num(range).is_some() && stride.is_none(),
        };
        let stride_ok = stride.is_none_or(|s| {
            s.split_once('/').is_some_and(|(u, g)| {
                matches!((num(u), num(g)), (Some(u), Some(g)) if u >= 1 && g >= 1 && u <= g)
            })
        });
        range_ok && stride_ok
    };
    // Empty means "unset" (nothing is written).
    if v.is_empty() || v.split(',').all(item_ok) {
        Ok(())
    } else {
        Err(bad(
            at,
            format!("invalid {file} {v:?}: expected a list like 0-3,5 of ascending ranges"),
        ))
    }
}

/// Checks every value in `linux.resources` against what the kernel takes,
/// before anything is created or written; the error names the field.
/// `hugepage_sizes` are the host's page sizes as cgroup files name them
/// (`2MB`, `1GB`), when known.
pub fn validate(r: &LinuxResources, hugepage_sizes: Option<&[String]>) -> Result<()> {
    if let Some(m) = r.memory() {
        check_limit("memory/limit", "memory limit", m.limit())?;
        check_limit("memory/reservation", "memory reservation", m.reservation())?;
        check_limit("memory/swap", "memory+swap limit", m.swap())?;
        check_limit("memory/kernel", "kernel memory limit", m.kernel())?;
        check_limit(
            "memory/kernelTCP",
            "kernel TCP memory limit",
            m.kernel_tcp(),
        )?;
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return Err(bad(
                    "memory/swap",
                    format!("memory+swap limit {s} is below the memory limit {l}: swap counts memory plus swap"),
                ));
            }
        }
        if let Some(v) = m.swappiness().filter(|v| *v > 100) {
            return Err(bad(
                "memory/swappiness",
                format!("memory swappiness {v} is out of range: the kernel takes 0 to 100"),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        // 0 is "not set" for shares, quota and period, as in runc.
        if let Some(v) = c
            .shares()
            .filter(|v| *v != 0 && !(MIN_SHARES..=MAX_SHARES).contains(v))
        {
            return Err(bad(
                "cpu/shares",
                format!(
                    "cpu shares {v} is out of range: the kernel takes {MIN_SHARES} to {MAX_SHARES}"
                ),
            ));
        }
        let quota = c.quota().filter(|q| *q != 0);
        if let Some(q) = quota {
            if q != -1 && !(MIN_CFS_US as i64..=MAX_CFS_QUOTA_US as i64).contains(&q) {
                return Err(bad(
                    "cpu/quota",
                    format!("cpu quota {q} is invalid: use -1 for unlimited or {MIN_CFS_US} to {MAX_CFS_QUOTA_US} µs"),
                ));
            }
        }
        match c.period() {
            // A quota with a zero-length period is no limit the kernel can set.
            Some(0) if quota.is_some_and(|q| q > 0) => {
                return Err(bad(
                    "cpu/period",
                    format!("cpu period 0 cannot go with a quota: the kernel takes {MIN_CFS_US} to {MAX_CFS_PERIOD_US} µs"),
                ))
            }
            Some(p) if p != 0 && !(MIN_CFS_US..=MAX_CFS_PERIOD_US).contains(&p) => {
                return Err(bad(
                    "cpu/period",
                    format!("cpu period {p} is out of range: the kernel takes {MIN_CFS_US} to {MAX_CFS_PERIOD_US} µs"),
                ))
            }
            _ => {}
        }
        if let Some(b) = c.burst() {
            if b > MAX_CFS_QUOTA_US || quota.is_some_and(|q| q > 0 && b > q.unsigned_abs()) {
                return Err(bad(
                    "cpu/burst",
                    format!("cpu burst {b} is invalid: it may not exceed the quota"),
                ));
            }
        }
        if let Some(v) = c.idle().filter(|v| !(0..=1).contains(v)) {
            return Err(bad(
                "cpu/idle",
                format!("cpu idle {v} is invalid: use 0 or 1"),
            ));
        }
        if let Some(v) = c.realtime_runtime() {
            if v < -1 {
                return Err(bad(
                    "cpu/realtimeRuntime",
                    format!(
                        "realtime runtime {v} is invalid: use -1 for unlimited or a number of µs"
                    ),
                ));
            }
            if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
                if v > 0 && v.unsigned_abs() > p {
                    return Err(bad(
                        "cpu/realtimeRuntime",
                        format!("realtime runtime {v} exceeds the realtime period {p}"),
                    ));
                }
            }
        }
        if let Some(v) = c.cpus() {
            check_cpuset("cpu/cpus", "cpuset.cpus", v)?;
        }
        if let Some(v) = c.mems() {
            check_cpuset("cpu/mems", "cpuset.mems", v)?;
        }
    }
    if let Some(p) = r.pids() {
        let v = p.limit();
        if !(-1..=MAX_PIDS).contains(&v) {
            return Err(bad(
                "pids/limit",
                format!("pids limit {v} is invalid: use -1 for unlimited or 0 to {MAX_PIDS}"),
            ));
        }
    }
    if let Some(b) = r.block_io() {
        let weight = |at: String, what: &str, v: Option<u16>| -> Result<()> {
            match v {
                Some(v) if v != 0 && !(10..=1000).contains(&v) => Err(bad(
                    at,
                    format!("{what} {v} is out of range: the kernel takes 10 to 1000"),
                )),
                _ => Ok(()),
            }
        };
        weight("blockIO/weight".into(), "blkio weight", b.weight())?;
        weight(
            "blockIO/leafWeight".into(),
            "blkio leaf weight",
            b.leaf_weight(),
        )?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            check_dev(&format!("blockIO/weightDevice/{i}"), d.major(), d.minor())?;
            weight(
                format!("blockIO/weightDevice/{i}/weight"),
                "blkio weight",
                d.weight(),
            )?;
            weight(
                format!("blockIO/weightDevice/{i}/leafWeight"),
                "blkio leaf weight",
                d.leaf_weight(),
            )?;
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, t) in list.iter().flatten().enumerate() {
                check_dev(&format!("blockIO/{name}/{i}"), t.major(), t.minor())?;
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        let known = match hugepage_sizes {
            Some(sizes) => sizes.iter().any(|s| s == size),
            None => page_size_syntax(size),
        };
        if !known {
            let have = hugepage_sizes.map(|s| s.join(", ")).unwrap_or_default();
            return Err(bad(
                format!("hugepageLimits/{i}/pageSize"),
                format!("hugepage size {size:?} is not supported by this host (it has: {have})"),
            ));
        }
        check_limit(
            &format!("hugepageLimits/{i}/limit"),
            "hugepage limit",
            Some(h.limit()),
        )?;
    }
    if let Some(n) = r.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let name = p.name();
            // An interface name: 1 to 15 bytes, no '/', no whitespace.
            if name.is_empty()
                || name.len() > 15
                || name
                    .chars()
                    .any(|c| c == '/' || c == ':' || c.is_whitespace())
            {
                return Err(bad(
                    format!("network/priorities/{i}/name"),
                    format!("{name:?} is not a network interface name"),
                ));
            }
        }
    }
    for dev in r.rdma().iter().flat_map(|m| m.keys()) {
        if dev.is_empty() || dev.chars().any(|c| c.is_whitespace() || c == '=') {
            return Err(bad(
                format!("rdma/{}", seg(dev)),
                format!("{dev:?} is not an rdma device name"),
            ));
        }
    }
    for k in r.unified().iter().flat_map(|m| m.keys()) {
        // A file of the container's own cgroup directory: `<controller>.<name>`.
        let ok = k
            .split_once('.')
            .is_some_and(|(c, f)| !c.is_empty() && !f.is_empty())
            && !k.contains('/')
            && !k.contains('\0');
        if !ok {
            return Err(bad(
                format!("unified/{}", seg(k)),
                format!("unified resource {k:?} must be a cgroup file name like memory.high"),
            ));
        }
        // cgroup's core files move processes (`cgroup.procs` given a host
        // pid put it in the container's cgroup, where delete killed it),
        // kill, freeze or change the tree: not resources. The two limits
        // among them are.
        if k.starts_with("cgroup.")
            && !matches!(k.as_str(), "cgroup.max.depth" | "cgroup.max.descendants")
        {
            return Err(bad(
                format!("unified/{}", seg(k)),
                format!(
                    "unified resource {k:?} is a cgroup core file, not a resource: only cgroup.max.depth and cgroup.max.descendants may be set"
                ),
            ));
        }
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        for (f, v) in [("major", d.major()), ("minor", d.minor())] {
            if v.is_some_and(|v| v < -1) {
                return Err(bad(
                    format!("devices/{i}/{f}"),
                    format!(
                        "device {f} {} is invalid: use -1 (or leave it out) for any",
                        v.unwrap_or(0)
                    ),
                ));
            }
        }
        if let Some(a) = d.access() {
            let mut seen = String::new();
            for c in a.chars() {
                if !"rwm".contains(c) || seen.contains(c) {
                    return Err(bad(
                        format!("devices/{i}/access"),
                        format!("device access {a:?} is invalid: use letters of rwm"),
                    ));
                }
                seen.push(c);
            }
        }
    }
    Ok(())
}

/// A block device number pair (major and minor may not be negative).
fn check_dev(at: &str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 {
        return Err(bad(
            at,
            format!("device {major}:{minor} is invalid: major and minor may not be negative"),
        ));
    }
    Ok(())
}

/// `<n>KB`, `<n>MB`, `<n>GB` as the hugetlb cgroup names its files.
fn page_size_syntax(s: &str) -> bool {
    ["KB", "MB", "GB"].iter().any(|u| {
        s.strip_suffix(u)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::super::hugepage_name;
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn pointer(v: serde_json::Value) -> Option<String> {
        let sizes = ["1GB".to_string(), "2MB".to_string()];
        validate(&res(v), Some(&sizes))
            .err()
            .and_then(|e| e.pointer)
    }

    #[test]
    fn every_bad_value_names_its_field() {
        for (v, p) in [
            (
                serde_json::json!({"cpu": {"shares": u64::MAX}}),
                "cpu/shares",
            ),
            (serde_json::json!({"cpu": {"shares": 1}}), "cpu/shares"),
            (serde_json::json!({"cpu": {"shares": 262145}}), "cpu/shares"),
            (serde_json::json!({"cpu": {"quota": -5}}), "cpu/quota"),
            (serde_json::json!({"cpu": {"quota": 999}}), "cpu/quota"),
            (
                serde_json::json!({"cpu": {"quota": 1i64 << 44}}),
                "cpu/quota",
            ),
            (
                serde_json::json!({"cpu": {"quota": 5000, "period": 0}}),
                "cpu/period",
            ),
            (serde_json::json!({"cpu": {"period": 999}}), "cpu/period"),
            (
                serde_json::json!({"cpu": {"period": 1000001}}),
                "cpu/period",
            ),
            (
                serde_json::json!({"cpu": {"quota": 5000, "burst": 5001}}),
                "cpu/burst",
            ),
            (serde_json::json!({"cpu": {"idle": -1}}), "cpu/idle"),
            (
                serde_json::json!({"cpu": {"realtimeRuntime": -2}}),
                "cpu/realtimeRuntime",
            ),
            (
                serde_json::json!({"cpu": {"realtimeRuntime": 1001, "realtimePeriod": 1000}}),
                "cpu/realtimeRuntime",
            ),
            (serde_json::json!({"cpu": {"cpus": "0-"}}), "cpu/cpus"),
            (serde_json::json!({"cpu": {"cpus": "3-1"}}), "cpu/cpus"),
            (
                serde_json::json!({"cpu": {"cpus": "not-a-cpu"}}),
                "cpu/cpus",
            ),
            (serde_json::json!({"cpu": {"mems": "0,,1"}}), "cpu/mems"),
            (serde_json::json!({"cpu": {"mems": "0:1/2"}}), "cpu/mems"),
            (serde_json::json!({"memory": {"limit": -2}}), "memory/limit"),
            (
                serde_json::json!({"memory": {"reservation": -9}}),
                "memory/reservation",
            ),
            (
                serde_json::json!({"memory": {"kernelTCP": -3}}),
                "memory/kernelTCP",
            ),
            (
                serde_json::json!({"memory": {"limit": 100, "swap": 50}}),
                "memory/swap",
            ),
            (
                serde_json::json!({"memory": {"swappiness": 101}}),
                "memory/swappiness",
            ),
            (serde_json::json!({"pids": {"limit": -2}}), "pids/limit"),
            (
                serde_json::json!({"pids": {"limit": 4194305}}),
                "pids/limit",
            ),
            (
                serde_json::json!({"blockIO": {"weight": 9}}),
                "blockIO/weight",
            ),
            (
                serde_json::json!({"blockIO": {"leafWeight": 1001}}),
                "blockIO/leafWeight",
            ),
            (
                serde_json::json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 5}]}}),
                "blockIO/weightDevice/0/weight",
            ),
            (
                serde_json::json!({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 5}]}}),
                "blockIO/throttleReadBpsDevice/0",
            ),
            (
                serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}, {"pageSize": "3MB", "limit": 0}]}),
                "hugepageLimits/1/pageSize",
            ),
            (
                serde_json::json!({"hugepageLimits": [{"pageSize": "2MB/../x", "limit": 0}]}),
                "hugepageLimits/0/pageSize",
            ),
            (
                serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -2}]}),
                "hugepageLimits/0/limit",
            ),
            (
                serde_json::json!({"network": {"priorities": [{"name": "eth0 1", "priority": 1}]}}),
                "network/priorities/0/name",
            ),
            (
                serde_json::json!({"rdma": {"mlx 5": {"hcaHandles": 1}}}),
                "rdma/mlx 5",
            ),
            (
                serde_json::json!({"unified": {"nodot": "1"}}),
                "unified/nodot",
            ),
            (
                serde_json::json!({"unified": {"memory.x/../y": "1"}}),
                "unified/memory.x~1..~1y",
            ),
            (
                serde_json::json!({"unified": {"cgroup.procs": "1"}}),
                "unified/cgroup.procs",
            ),
            (
                serde_json::json!({"unified": {"cgroup.kill": "1"}}),
                "unified/cgroup.kill",
            ),
            (
                serde_json::json!({"unified": {"cgroup.subtree_control": "+memory"}}),
                "unified/cgroup.subtree_control",
            ),
            (
                serde_json::json!({"devices": [{"allow": true, "type": "c", "major": -2, "access": "r"}]}),
                "devices/0/major",
            ),
            (
                serde_json::json!({"devices": [{"allow": true, "access": "rr"}]}),
                "devices/0/access",
            ),
        ] {
            assert_eq!(
                pointer(v.clone()).as_deref(),
                Some(format!("/linux/resources/{p}").as_str()),
                "{v}"
            );
        }
    }

    #[test]
    fn good_and_unset_values_pass() {
        for v in [
            serde_json::json!({
                "memory": {"limit": 1048576, "swap": -1, "reservation": 0, "swappiness": 100},
                "cpu": {"shares": 2, "quota": 1000, "period": 1000000, "burst": 1000, "idle": 1,
                        "realtimeRuntime": -1, "realtimePeriod": 1000000, "cpus": "0-3,5,8-15:2/4", "mems": "0"},
                "pids": {"limit": -1},
                "blockIO": {"weight": 10, "leafWeight": 1000},
                "hugepageLimits": [{"pageSize": "1GB", "limit": -1}],
                "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 5}]},
                "unified": {"memory.high": "max", "cgroup.max.depth": "3", "cgroup.max.descendants": "9"},
                "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": -1, "minor": 3, "access": "mr"}]
            }),
            // 0 is "not set", as in runc.
            serde_json::json!({"cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 0}}),
            serde_json::json!({"cpu": {"quota": -1, "period": 0, "cpus": ""}}),
            serde_json::json!({"memory": {"limit": 100, "swap": 0}}),
        ] {
            assert_eq!(pointer(v.clone()), None, "{v}");
        }
        // Without the host's sizes, any well-formed page size passes.
        let r = res(serde_json::json!({"hugepageLimits": [{"pageSize": "64KB", "limit": 1}]}));
        assert!(validate(&r, None).is_ok());
        assert_eq!(hugepage_name(2048), "2MB");
        assert_eq!(hugepage_name(1 << 20), "1GB");
        assert_eq!(hugepage_name(64), "64KB");
    }
}
