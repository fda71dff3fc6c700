//! `linux.resources` as file writes, for cgroup v1 and v2.
//!
//! Pure functions from the spec to `(controller, file, value)` triples, so
//! each driver's output can be checked without a cgroupfs; [`super::apply`]
//! does the writing. File names and conversions follow runc's, since
//! containerd and monitoring read those same files.

mod check;

pub use check::validate;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, LinuxThrottleDevice};

/// One write: the controller it belongs to, the file, the value.
pub type Write = (&'static str, String, String);

fn w(ctrl: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    (ctrl, file.into(), value.to_string())
}

/// A memory or pids limit as the kernel spells it: -1 (or less) is unlimited.
fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// runc's cpu.shares → cpu.weight: [2, 262144] onto [1, 10000]
/// ([`validate`] keeps shares in that range; beyond it the result saturates).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, MAX_SHARES) - 2) * 9999 / 262142
}

/// runc's blkio weight → io.weight: [10, 1000] onto [1, 10000].
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990
}

/// cpu.shares the kernel keeps as written (it clamps anything else).
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 1 << 18;
/// The hugetlb cgroup's name for a page size given in kB
/// (`/sys/kernel/mm/hugepages/hugepages-2048kB` → `2MB`).
pub fn hugepage_name(kb: u64) -> String {
    if kb >= 1 << 20 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

fn dev_rule(d: &LinuxDeviceCgroup) -> String {
    let t = match d.typ() {
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
        _ => "a",
    };
    if t == "a" {
        return "a".into();
    }
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "*".into())
    };
    format!(
        "{t} {}:{} {}",
        num(d.major()),
        num(d.minor()),
        d.access().as_deref().unwrap_or("rwm")
    )
}

/// The v1 device rules in order: deny or allow, rule text.
pub fn v1_device_writes(rules: &[LinuxDeviceCgroup]) -> Vec<Write> {
    rules
        .iter()
        .map(|r| {
            let file = if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            w("devices", file, dev_rule(r))
        })
        .collect()
}

/// pids.max is the same on v1 and v2; a limit of 0 means unlimited, as in runc.
fn pids_writes(r: &LinuxResources) -> Option<Write> {
    r.pids().as_ref().map(|p| {
        w(
            "pids",
            "pids.max",
            v2_limit(if p.limit() == 0 { -1 } else { p.limit() }),
        )
    })
}

/// cpuset files are the same on v1 and v2.
fn cpuset_writes(c: &oci_spec::runtime::LinuxCpu) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
        out.push(w("cpuset", "cpuset.cpus", v));
    }
    if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
        out.push(w("cpuset", "cpuset.mems", v));
    }
    out
}

fn throttle(ctrl: &'static str, file: &str, list: &Option<Vec<LinuxThrottleDevice>>) -> Vec<Write> {
    list.iter()
        .flatten()
        .map(|t| {
            w(
                ctrl,
                file,
                format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )
        })
        .collect()
}

/// Writes for cgroup v1 (one hierarchy per controller).
pub fn v1_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        // memory+swap in v1; `apply` orders the two writes against the current values.
        if let Some(l) = m.limit() {
            out.push(w("memory", "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", s));
        }
        if let Some(v) = m.reservation() {
            out.push(w("memory", "memory.soft_limit_in_bytes", v));
        }
        if let Some(v) = m.kernel() {
            out.push(w("memory", "memory.kmem.limit_in_bytes", v));
        }
        if let Some(v) = m.kernel_tcp() {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", v));
        }
        if let Some(v) = m.swappiness() {
            out.push(w("memory", "memory.swappiness", v));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
        if let Some(v) = m.use_hierarchy() {
            out.push(w("memory", "memory.use_hierarchy", u8::from(v)));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.shares", v));
        }
        if let Some(v) = c.period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", v));
        }
        if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_period_us", v));
        }
        if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", v));
        }
        if let Some(v) = c.idle() {
            out.push(w("cpu", "cpu.idle", v));
        }
        out.extend(cpuset_writes(c));
    }
    out.extend(pids_writes(r));
    if let Some(b) = r.block_io() {
        if let Some(v) = b.weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.weight", v));
        }
        if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.leaf_weight", v));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(v) = d.weight() {
                out.push(w(
                    "blkio",
                    "blkio.weight_device",
                    format!("{}:{} {v}", d.major(), d.minor()),
                ));
            }
            if let Some(v) = d.leaf_weight() {
                out.push(w(
                    "blkio",
                    "blkio.leaf_weight_device",
                    format!("{}:{} {v}", d.major(), d.minor()),
                ));
            }
        }
        out.extend(throttle(
            "blkio",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ));
        out.extend(throttle(
            "blkio",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ));
        out.extend(throttle(
            "blkio",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ));
        out.extend(throttle(
            "blkio",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ));
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(w("net_cls", "net_cls.classid", id));
        }
        for p in n.priorities().iter().flatten() {
            out.push(w(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ));
        }
    }
    out.extend(rdma_writes(r));
    out.extend(v1_device_writes(r.devices().as_deref().unwrap_or(&[])));
    out
}

fn rdma_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    let mut devs: Vec<_> = r.rdma().iter().flatten().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        let mut parts = vec![dev.clone()];
        if let Some(h) = l.hca_handles() {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            parts.push(format!("hca_object={o}"));
        }
        if parts.len() > 1 {
            out.push(w("rdma", "rdma.max", parts.join(" ")));
        }
    }
    out
}

fn io_max(b: &oci_spec::runtime::LinuxBlockIo) -> Vec<Write> {
    // io.max takes one line per device with every key it sets.
    let mut lines: Vec<((i64, i64), Vec<String>)> = Vec::new();
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for t in list.iter().flatten() {
            let dev = (t.major(), t.minor());
            let entry = format!("{key}={}", t.rate());
            match lines.iter_mut().find(|(d, _)| *d == dev) {
                Some((_, v)) => v.push(entry),
                None => lines.push((dev, vec![entry])),
            }
        }
    }
    lines
        .into_iter()
        .map(|((ma, mi), v)| w("io", "io.max", format!("{ma}:{mi} {}", v.join(" "))))
        .collect()
}

/// Writes for cgroup v2 (one unified directory), with runc's conversions.
pub fn v2_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            out.push(w("memory", "memory.max", v2_limit(l)));
        }
        // v1's swap is memory+swap; v2's memory.swap.max is swap alone.
        if let Some(s) = m.swap() {
            let v = match (s, m.limit()) {
                (-1, _) => "max".to_string(),
                (s, Some(l)) if l > 0 && s >= l => (s - l).to_string(),
                (s, _) => s.to_string(),
            };
            out.push(w("memory", "memory.swap.max", v));
        }
        if let Some(v) = m.reservation() {
            out.push(w("memory", "memory.low", v2_limit(v)));
        }
        if m.disable_oom_killer() == Some(true) {
            crate::logging::warn("disableOOMKiller has no cgroup v2 equivalent; ignoring");
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.weight", shares_to_weight(v)));
        }
        let quota = c.quota().filter(|q| *q != 0);
        let period = c.period().filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            let q = match quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            out.push(w(
                "cpu",
                "cpu.max",
                format!("{q} {}", period.unwrap_or(100000)),
            ));
        }
        if let Some(v) = c.burst() {
            out.push(w("cpu", "cpu.max.burst", v));
        }
        if let Some(v) = c.idle() {
            out.push(w("cpu", "cpu.idle", v));
        }
        out.extend(cpuset_writes(c));
    }
    out.extend(pids_writes(r));
    if let Some(b) = r.block_io() {
        if let Some(v) = b.weight().filter(|v| *v != 0) {
            out.push(w("io", "io.weight", blkio_weight_to_io(v)));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(v) = d.weight() {
                out.push(w(
                    "io",
                    "io.weight",
                    format!("{}:{} {}", d.major(), d.minor(), blkio_weight_to_io(v)),
                ));
            }
        }
        out.extend(io_max(b));
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{}.max", h.page_size()),
            v2_limit(h.limit()),
        ));
    }
    out.extend(rdma_writes(r));
    let mut unified: Vec<_> = r.unified().iter().flatten().collect();
    unified.sort();
    for (k, v) in unified {
        let ctrl: &'static str = match k.split('.').next().unwrap_or("") {
            "memory" => "memory",
            "cpu" => "cpu",
            "cpuset" => "cpuset",
            "io" => "io",
            "pids" => "pids",
            "hugetlb" => "hugetlb",
            "rdma" => "rdma",
            "misc" => "misc",
            _ => "",
        };
        out.push(w(ctrl, k.clone(), v));
    }
    out
}

/// The device rules a container gets, as runc builds them: the config's
/// rules, then the devices every container may use. `linux.devices` makes
/// nodes and allows nothing (runc: a `/dev/kmsg` listed there stays denied
/// under a deny-all rule; engines that pass a device add its rule).
pub fn device_rules(configured: &[LinuxDeviceCgroup]) -> Vec<LinuxDeviceCgroup> {
    let rule = |t: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str|
     -> LinuxDeviceCgroup {
        serde_json::from_value(serde_json::json!({
            "allow": true,
            "type": match t { LinuxDeviceType::B => "b", _ => "c" },
            "major": major,
            "minor": minor,
            "access": access,
        }))
        .unwrap_or_default()
    };
    let c = LinuxDeviceType::C;
    let mut out = configured.to_vec();
    out.push(rule(c, None, None, "m"));
    out.push(rule(LinuxDeviceType::B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 8),
        (1, 7),
        (5, 0),
        (1, 5),
        (1, 9),
        // Not /dev/console (5:1): that is the host's console. A terminal
        // container's /dev/console is its pty (136:*), as in runc.
        (5, 2),
    ] {
        out.push(rule(c, Some(major), Some(minor), "rwm"));
    }
    out.push(rule(c, Some(136), None, "rwm"));
    // tun/tap (10:200): in runc's defaults since its first commit; runc
    // 1.2.0 and crun dropped it and both put it back (runc 1.2.4) after
    // workloads that make /dev/net/tun themselves broke. The engines' rules
    // do not list it, so without it tong would refuse what runc allows.
    // Unlike runc 1.1, a config's own rule for it is not overridden: the
    // spec applies the config's entries in order, and runc's release notes
    // tell users to deny it with a rule of their own.
    let names_tun = |r: &LinuxDeviceCgroup| {
        r.major() == Some(10)
            && r.minor().is_none_or(|m| m == 200)
            && !matches!(r.typ(), Some(LinuxDeviceType::B))
    };
    if !configured.iter().any(names_tun) {
        out.push(rule(c, Some(10), Some(200), "rwm"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_keys(rules: &[LinuxDeviceCgroup]) -> Vec<(bool, Option<i64>, Option<i64>)> {
        rules
            .iter()
            .map(|r| (r.allow(), r.major(), r.minor()))
            .collect()
    }

    #[test]
    fn tun_is_allowed_unless_the_config_names_it() {
        let deny_all: Vec<LinuxDeviceCgroup> =
            serde_json::from_value(serde_json::json!([{"allow": false, "access": "rwm"}])).unwrap();
        let got = rule_keys(&device_rules(&deny_all));
        assert!(got.contains(&(true, Some(10), Some(200))), "{got:?}");
        for own in [
            serde_json::json!({"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}),
            serde_json::json!({"allow": false, "type": "c", "major": 10, "access": "rw"}),
            serde_json::json!({"allow": true, "major": 10, "minor": 200, "access": "r"}),
        ] {
            let configured: Vec<LinuxDeviceCgroup> =
                serde_json::from_value(serde_json::json!([own])).unwrap();
            let got = device_rules(&configured);
            assert_eq!(
                got.iter().filter(|r| r.major() == Some(10)).count(),
                1,
                "{own}"
            );
        }
        // A block device 10:200 is another device.
        let block: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "type": "b", "major": 10, "minor": 200, "access": "rwm"}
        ]))
        .unwrap();
        assert!(rule_keys(&device_rules(&block)).contains(&(true, Some(10), Some(200))));
    }

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn files(ws: &[Write]) -> Vec<(String, String)> {
        ws.iter().map(|(_, f, v)| (f.clone(), v.clone())).collect()
    }

    fn has(ws: &[Write], file: &str, value: &str) -> bool {
        ws.iter().any(|(_, f, v)| f == file && v == value)
    }

    #[test]
    fn conversions_match_runc() {
        // Out-of-range values (refused by validate) saturate instead of overflowing.
        assert_eq!(shares_to_weight(u64::MAX), 10000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(blkio_weight_to_io(u16::MAX), 10000);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10000);
    }

    #[test]
    fn v1_memory() {
        let r = res(
            serde_json::json!({"memory": {"limit": 100, "swap": 200, "reservation": 50, "swappiness": 10, "disableOOMKiller": true}}),
        );
        let f = files(&v1_writes(&r));
        assert_eq!(f[0], ("memory.limit_in_bytes".into(), "100".into()));
        assert_eq!(f[1], ("memory.memsw.limit_in_bytes".into(), "200".into()));
        let ws = v1_writes(&r);
        assert!(has(&ws, "memory.soft_limit_in_bytes", "50"));
        assert!(has(&ws, "memory.swappiness", "10"));
        assert!(has(&ws, "memory.oom_control", "1"));
    }

    #[test]
    fn v1_every_controller() {
        let r = res(serde_json::json!({
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "realtimeRuntime": 950, "realtimePeriod": 1000, "cpus": "0", "mems": "0", "burst": 1000, "idle": 1},
            "pids": {"limit": 10},
            "blockIO": {"weight": 300, "leafWeight": 200,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 10}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}, {"allow": true, "type": "b", "access": "m"}]
        }));
        let ws = v1_writes(&r);
        for (f, v) in [
            ("cpu.shares", "512"),
            ("cpu.cfs_quota_us", "50000"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.rt_runtime_us", "950"),
            ("cpu.rt_period_us", "1000"),
            ("cpu.cfs_burst_us", "1000"),
            ("cpu.idle", "1"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
            ("pids.max", "10"),
            ("blkio.weight", "300"),
            ("blkio.leaf_weight", "200"),
            ("blkio.weight_device", "8:0 500"),
            ("blkio.leaf_weight_device", "8:0 100"),
            ("blkio.throttle.read_bps_device", "8:0 1000"),
            ("blkio.throttle.write_iops_device", "8:0 10"),
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5"),
            ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ] {
            assert!(has(&ws, f, v), "{f}={v} missing in {:?}", files(&ws));
        }
        let dev: Vec<_> = ws
            .iter()
            .filter(|(c, _, _)| *c == "devices")
            .map(|(_, f, v)| format!("{f} {v}"))
            .collect();
        assert_eq!(
            dev,
            [
                "devices.deny a",
                "devices.allow c 1:3 rw",
                "devices.allow b *:* m"
            ]
        );
    }

    #[test]
    fn v2_every_resource_and_conversion() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1000, "swap": 3000, "reservation": 500},
            "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "burst": 500, "idle": 1, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 200}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}]},
            "hugepageLimits": [{"pageSize": "1GB", "limit": -1}],
            "unified": {"memory.high": "900", "cpu.uclamp.min": "10"}
        }));
        let ws = v2_writes(&r);
        for (f, v) in [
            ("memory.max", "1000"),
            ("memory.swap.max", "2000"),
            ("memory.low", "500"),
            ("cpu.weight", "39"),
            ("cpu.max", "20000 100000"),
            ("cpu.max.burst", "500"),
            ("cpu.idle", "1"),
            ("cpuset.cpus", "0-1"),
            ("cpuset.mems", "0"),
            ("pids.max", "max"),
            ("io.weight", "4950"),
            ("io.weight", "8:0 10000"),
            ("io.max", "8:0 rbps=100 wbps=200"),
            ("io.max", "8:16 riops=7"),
            ("hugetlb.1GB.max", "max"),
            ("memory.high", "900"),
            ("cpu.uclamp.min", "10"),
        ] {
            assert!(has(&ws, f, v), "{f}={v} missing in {:?}", files(&ws));
        }
        let r =
            res(serde_json::json!({"cpu": {"period": 50000}, "memory": {"limit": -1, "swap": -1}}));
        let ws = v2_writes(&r);
        assert!(has(&ws, "cpu.max", "max 50000"));
        assert!(has(&ws, "memory.max", "max") && has(&ws, "memory.swap.max", "max"));
    }
}
