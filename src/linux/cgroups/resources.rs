//! `linux.resources` as file writes, for cgroup v1 and v2.
//!
//! Pure functions from the spec to `(controller, file, value)` triples, so
//! each driver's output can be checked without a cgroupfs; [`super::apply`]
//! does the writing. File names and conversions follow runc's, since
//! containerd and monitoring read those same files.

use crate::error::{Error, Result};
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
/// rules, then the devices every container may use, then `linux.devices`.
pub fn device_rules(
    configured: &[LinuxDeviceCgroup],
    devices: &[oci_spec::runtime::LinuxDevice],
) -> Vec<LinuxDeviceCgroup> {
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
    for d in devices {
        out.push(rule(d.typ(), Some(d.major()), Some(d.minor()), "rwm"));
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
        let got = rule_keys(&device_rules(&deny_all, &[]));
        assert!(got.contains(&(true, Some(10), Some(200))), "{got:?}");
        for own in [
            serde_json::json!({"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}),
            serde_json::json!({"allow": false, "type": "c", "major": 10, "access": "rw"}),
            serde_json::json!({"allow": true, "major": 10, "minor": 200, "access": "r"}),
        ] {
            let configured: Vec<LinuxDeviceCgroup> =
                serde_json::from_value(serde_json::json!([own])).unwrap();
            let got = device_rules(&configured, &[]);
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
        assert!(rule_keys(&device_rules(&block, &[])).contains(&(true, Some(10), Some(200))));
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
                "unified": {"memory.high": "max", "cgroup.max.depth": "3"},
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
