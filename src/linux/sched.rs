//! Per-process scheduling attributes of runtime-spec 1.2/1.3:
//! `process.scheduler` (sched_setattr), `process.ioPriority` (ioprio_set),
//! `process.execCPUAffinity` (sched_setaffinity) and `linux.memoryPolicy`
//! (set_mempolicy). Translation to kernel values is pure and unit-tested;
//! the `apply_*` functions act on the calling process.

use crate::error::{Error, Result};
use crate::linux::sys;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    MemoryPolicyFlagType, MemoryPolicyModeType, Process, Scheduler,
};

/// The kernel's `sched_attr` for a spec scheduler, or the field that is wrong.
pub fn sched_attr(s: &Scheduler, at: &str) -> Result<sys::SchedAttr> {
    use LinuxSchedulerPolicy as P;
    let policy = match s.policy() {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => {
            return Err(Error::field(
                format!("{at}/policy"),
                "SCHED_ISO is reserved and not implemented by Linux",
            ))
        }
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::field(
            format!("{at}/nice"),
            format!("nice {nice} is out of range (-20 to 19)"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), P::SchedFifo | P::SchedRr);
    if realtime && !(1..=99).contains(&priority) {
        return Err(Error::field(
            format!("{at}/priority"),
            format!("priority {priority} is out of range for a real-time policy (1 to 99)"),
        ));
    }
    if !realtime && priority != 0 {
        return Err(Error::field(
            format!("{at}/priority"),
            format!("priority {priority} needs SCHED_FIFO or SCHED_RR (only 0 is valid here)"),
        ));
    }
    let deadline = matches!(s.policy(), P::SchedDeadline);
    let (runtime, dl, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if !deadline && (runtime != 0 || dl != 0 || period != 0) {
        return Err(Error::field(
            at.to_string(),
            "runtime, deadline and period are only for SCHED_DEADLINE",
        ));
    }
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    Ok(sys::SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline: dl,
        period,
        // The spec has no clamp values: the widest clamp.
        util_min: 0,
        util_max: 1024,
        ..Default::default()
    })
}

/// `class << 13 | level` for ioprio_set.
pub fn ioprio_value(p: &LinuxIOPriority, at: &str) -> Result<i32> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::field(
            format!("{at}/priority"),
            format!("I/O priority {level} is out of range (0 to 7)"),
        ));
    }
    Ok(class << 13 | level as i32)
}

/// Checks what can be checked of a process's scheduling fields before any
/// process exists.
pub fn validate(p: &Process, at: &str) -> Result<()> {
    if let Some(s) = p.scheduler() {
        sched_attr(s, &format!("{at}/scheduler"))?;
    }
    if let Some(io) = p.io_priority() {
        ioprio_value(io, &format!("{at}/ioPriority"))?;
    }
    if let Some(a) = p.exec_cpu_affinity() {
        if let Some(s) = a.initial().as_deref().filter(|s| !s.is_empty()) {
            cpu_list(s).map_err(|m| Error::field(format!("{at}/execCPUAffinity/initial"), m))?;
        }
        if let Some(s) = a.cpu_affinity_final().as_deref().filter(|s| !s.is_empty()) {
            cpu_list(s).map_err(|m| Error::field(format!("{at}/execCPUAffinity/final"), m))?;
        }
    }
    Ok(())
}

/// Sets the scheduler and the I/O priority of the calling process. Called
/// while the process still has its capabilities (a real-time policy or
/// class needs CAP_SYS_NICE / CAP_SYS_ADMIN).
pub fn apply(p: &Process, at: &str) -> Result<()> {
    if let Some(s) = p.scheduler() {
        let at = format!("{at}/scheduler");
        let attr = sched_attr(s, &at)?;
        sys::sched_setattr(&attr).map_err(|e| Error::sys("sched_setattr", e).at(at.clone()))?;
    }
    if let Some(io) = p.io_priority() {
        let at = format!("{at}/ioPriority");
        let v = ioprio_value(io, &at)?;
        sys::ioprio_set(v).map_err(|e| Error::sys("ioprio_set", e).at(at.clone()))?;
    }
    Ok(())
}

/// The highest CPU count a kernel can be built for (x86_64 MAXSMP's NR_CPUS).
const MAX_CPUS: usize = 8192;
/// The highest NUMA node count (MAX_NUMNODES with NODES_SHIFT = 10).
const MAX_NODES: usize = 1024;

/// Parses a CPU list like `0-3,7` into its members, sorted and each once.
pub fn cpu_list(s: &str) -> std::result::Result<Vec<usize>, String> {
    id_list(s, MAX_CPUS)
}

/// Parses a NUMA node list like `0-1,3` into its members.
pub fn node_list(s: &str) -> std::result::Result<Vec<usize>, String> {
    id_list(s, MAX_NODES)
}

/// Members below `limit` go into a fixed bitmap, so a list of many
/// overlapping ranges (50 000 × `0-8191`) costs no more than one: memory is
/// bounded by what the kernel can have, not by the config's length.
fn id_list(s: &str, limit: usize) -> std::result::Result<Vec<usize>, String> {
    let bits = u64::BITS as usize;
    let mut set = vec![0u64; limit.div_ceil(bits)];
    for part in s.split(',').map(str::trim) {
        let bad = || {
            format!(
                "invalid list {:?}: want numbers below {limit} and ranges like 0-3,7",
                shorten(s)
            )
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= limit {
            return Err(bad());
        }
        // Whole words at once: 50 000 × `0-8191` stays cheap.
        let mut i = a;
        while i <= b {
            if i.is_multiple_of(bits) && b - i >= bits - 1 {
                set[i / bits] = u64::MAX;
                i += bits;
            } else {
                set[i / bits] |= 1 << (i % bits);
                i += 1;
            }
        }
    }
    Ok((0..limit)
        .filter(|i| set[i / bits] & (1 << (i % bits)) != 0)
        .collect())
}

/// The start of a long list, for an error message that stays one line.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Sets the calling process's CPU affinity to the list `s` (`at` names the field).
pub fn set_affinity(s: &str, at: &str) -> Result<()> {
    let cpus = cpu_list(s).map_err(|m| Error::field(at, m))?;
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c)
            .map_err(|_| Error::field(at, format!("CPU {c} is beyond what this build can set")))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| Error::sys(format!("sched_setaffinity({s})"), e).at(at))
}

/// After a clone3 with CLONE_INTO_CGROUP: gives `pid` its cgroup v2's
/// `cpuset.cpus.effective` (the directory `cgroup`) as its CPU affinity.
/// Joining a cpuset through `cgroup.procs` does that in the kernel (runc's
/// way), but cpuset_fork before Linux 6.3 ignores CLONE_INTO_CGROUP: on
/// Debian 11's 5.10 a container limited to CPU 0 ran its init and exec'd
/// processes on every CPU. A no-op where the kernel already did it, or
/// where the cgroup has no cpuset.
pub fn cpuset_after_clone_into(
    pid: nix::unistd::Pid,
    cgroup: std::os::fd::BorrowedFd,
) -> Result<()> {
    use nix::fcntl::{openat, OFlag};
    use std::io::Read;
    let Ok(fd) = openat(
        cgroup,
        "cpuset.cpus.effective",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return Ok(());
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| Error::from(e).context("read cpuset.cpus.effective"))?;
    let want = match cpu_list(text.trim()) {
        Ok(cpus) if !cpus.is_empty() => cpus,
        _ => return Ok(()),
    };
    let mut set = nix::sched::CpuSet::new();
    for c in want {
        if set.set(c).is_err() {
            return Ok(()); // beyond what this build can set: leave the kernel's
        }
    }
    match nix::sched::sched_getaffinity(pid) {
        Ok(now) if now == set => Ok(()),
        _ => nix::sched::sched_setaffinity(pid, &set).map_err(|e| {
            Error::sys(
                format!("sched_setaffinity({}) to its cgroup's cpuset", text.trim()),
                e,
            )
        }),
    }
}

/// The `initial` and `final` lists of `execCPUAffinity`, when set.
pub fn exec_affinity(p: &Process) -> (Option<&str>, Option<&str>) {
    match p.exec_cpu_affinity() {
        Some(a) => (
            a.initial().as_deref().filter(|s| !s.is_empty()),
            a.cpu_affinity_final().as_deref().filter(|s| !s.is_empty()),
        ),
        None => (None, None),
    }
}

/// Mode and flags for set_mempolicy, and the node mask.
pub fn mempolicy(m: &LinuxMemoryPolicy, at: &str) -> Result<(i32, Vec<libc::c_ulong>)> {
    use MemoryPolicyModeType as M;
    let mut mode = match m.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for f in m.flags().iter().flatten() {
        mode |= match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        };
    }
    let nodes = match m.nodes().as_deref().filter(|n| !n.is_empty()) {
        Some(n) => node_list(n).map_err(|e| Error::field(format!("{at}/nodes"), e))?,
        None => Vec::new(),
    };
    let takes_nodes = !matches!(m.mode(), M::MpolDefault | M::MpolLocal);
    if !takes_nodes && !nodes.is_empty() {
        return Err(Error::field(
            format!("{at}/nodes"),
            format!("{} takes no nodes", m.mode()),
        ));
    }
    if takes_nodes && nodes.is_empty() && !matches!(m.mode(), M::MpolPreferred) {
        return Err(Error::field(
            format!("{at}/nodes"),
            format!("{} needs nodes", m.mode()),
        ));
    }
    let bits = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; nodes.iter().max().map_or(0, |n| n / bits + 1)];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    Ok((mode, mask))
}

/// Sets the NUMA memory policy of the calling process (inherited by its children).
pub fn apply_mempolicy(m: &LinuxMemoryPolicy) -> Result<()> {
    let at = "/linux/memoryPolicy";
    let (mode, mask) = mempolicy(m, at)?;
    sys::set_mempolicy(mode, &mask).map_err(|e| Error::sys("set_mempolicy", e).at(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(v: serde_json::Value) -> Result<sys::SchedAttr> {
        let s: Scheduler = serde_json::from_value(v).unwrap();
        sched_attr(&s, "/process/scheduler")
    }

    #[test]
    fn scheduler_translates() {
        let a = sched(serde_json::json!({"policy": "SCHED_BATCH", "nice": 5})).unwrap();
        assert_eq!((a.policy, a.nice, a.priority), (3, 5, 0));
        let a = sched(serde_json::json!({"policy": "SCHED_FIFO", "priority": 10,
            "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_KEEP_PARAMS"]}))
        .unwrap();
        assert_eq!((a.policy, a.priority, a.flags), (1, 10, 0x11));
        let a = sched(serde_json::json!({"policy": "SCHED_DEADLINE",
            "runtime": 1000000, "deadline": 2000000, "period": 3000000}))
        .unwrap();
        assert_eq!(
            (a.runtime, a.deadline, a.period),
            (1000000, 2000000, 3000000)
        );
    }

    #[test]
    fn scheduler_errors_name_fields() {
        let e = sched(serde_json::json!({"policy": "SCHED_ISO"})).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/process/scheduler/policy"));
        let e = sched(serde_json::json!({"policy": "SCHED_OTHER", "nice": 40})).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/process/scheduler/nice"));
        let e = sched(serde_json::json!({"policy": "SCHED_RR", "priority": 0})).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/process/scheduler/priority"));
        let e = sched(serde_json::json!({"policy": "SCHED_BATCH", "priority": 3})).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/process/scheduler/priority"));
    }

    #[test]
    fn ioprio_and_lists() {
        let p: LinuxIOPriority = serde_json::from_value(
            serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 7}),
        )
        .unwrap();
        assert_eq!(ioprio_value(&p, "").unwrap(), 3 << 13 | 7);
        assert_eq!(cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list("5,0-2,1").unwrap(), vec![0, 1, 2, 5]);
        assert!(cpu_list("8192").is_err());
        assert!(node_list("1024").is_err());
        assert_eq!(node_list("1023").unwrap(), vec![1023]);
        assert!(cpu_list("2-1").is_err());
        assert!(cpu_list("a").is_err());
    }

    #[test]
    fn mempolicy_translates() {
        let m: LinuxMemoryPolicy = serde_json::from_value(serde_json::json!(
            {"mode": "MPOL_BIND", "nodes": "0,65", "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        let (mode, mask) = mempolicy(&m, "/linux/memoryPolicy").unwrap();
        assert_eq!(mode, 2 | 1 << 15);
        assert_eq!(mask, vec![1, 2]);
        let m: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_BIND"})).unwrap();
        assert!(mempolicy(&m, "").is_err());
        let m: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"}))
                .unwrap();
        assert!(mempolicy(&m, "").is_err());
    }
}
