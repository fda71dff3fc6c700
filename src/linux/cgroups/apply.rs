//! The cgroupfs driver's resource writes: `linux.resources` onto v1
//! controllers, the v2 hierarchy, or both on a hybrid host.

use super::fs::check_dirs;
use super::{devices_bpf, hierarchies, resources, Hierarchy};
use crate::error::{Context, Error, Result};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The spec section a controller's settings come from, for error pointers.
fn section(ctrl: &str) -> &'static str {
    match ctrl {
        "memory" => "memory",
        "cpu" | "cpuset" => "cpu",
        "pids" => "pids",
        "blkio" | "io" => "blockIO",
        "hugetlb" => "hugepageLimits",
        "net_cls" | "net_prio" => "network",
        "rdma" => "rdma",
        "devices" => "devices",
        _ => "unified",
    }
}

/// The container's directories sorted by driver: v1 directories with their
/// controllers, and the v2 directory if there is one (pure v2 or hybrid).
pub(super) struct Split<'a> {
    pub(super) v1: Vec<(Vec<String>, &'a Path)>,
    pub(super) v2: Option<(&'a Path, &'a Path)>,
}

pub(super) fn split<'a>(dirs: &'a [PathBuf], hier: &'a [Hierarchy]) -> Split<'a> {
    let mut s = Split {
        v1: Vec::new(),
        v2: None,
    };
    for d in dirs {
        let Some(h) = hier
            .iter()
            .filter(|h| d.starts_with(&h.mountpoint))
            .max_by_key(|h| h.mountpoint.as_os_str().len())
        else {
            continue;
        };
        if h.is_v2 {
            s.v2 = Some((d.as_path(), h.mountpoint.as_path()));
        } else {
            s.v1.push((
                h.options.split(',').map(str::to_owned).collect(),
                d.as_path(),
            ));
        }
    }
    s
}

pub(super) fn write_file(dir: &Path, file: &str, value: &str, ctrl: &str) -> Result<()> {
    write_file_in(&mut None, dir, file, value, ctrl)
}

/// [`write_file`] through the file `last` holds open when it is the same
/// one; leaves this one open there. Each write(2) is one value to the
/// kernel, so a run of device rules needs one open, not one per rule.
fn write_file_in(
    last: &mut Option<(PathBuf, std::fs::File)>,
    dir: &Path,
    file: &str,
    value: &str,
    ctrl: &str,
) -> Result<()> {
    use std::io::Write;
    // File names come from the config too (unified keys, page sizes): a
    // name, never a path.
    if file.is_empty() || file.contains('/') || file == "." || file == ".." {
        return Err(Error::field(
            format!("/linux/resources/{}", section(ctrl)),
            format!("{file:?} is not a cgroup file name"),
        ));
    }
    let p = dir.join(file);
    let r = match last.take() {
        Some((q, f)) if q == p => Ok(f),
        // As std::fs::write opens it, so errors read the same.
        _ => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p),
    }
    .and_then(|mut f| {
        f.write_all(value.as_bytes())?;
        *last = Some((p.clone(), f));
        Ok(())
    });
    r.map_err(|e| {
        // cgroupfs refuses to create a file (EACCES) it does not have:
        // the kernel lacks it (cpu.idle before 5.15), not a permission.
        if !p.exists() {
            return Error::new(format!(
                "write {value:?} to {}: this kernel's cgroup has no {file} (a newer kernel, or the {ctrl} controller, has it)",
                p.display()
            ));
        }
        Error::from(e).context(format!("write {value:?} to {}", p.display()))
    })
    .map_err(|e| e.at(format!("/linux/resources/{}", section(ctrl))))
}

/// Kernels whose blkio has only the BFQ scheduler's files take the weights
/// there (runc does the same): `blkio.bfq.weight`, `blkio.bfq.weight_device`.
fn bfq_fallback(dir: &Path, file: &str) -> String {
    if let Some(rest) = file.strip_prefix("blkio.weight") {
        let bfq = format!("blkio.bfq.weight{rest}");
        if !dir.join(file).exists() && dir.join(&bfq).exists() {
            return bfq;
        }
    }
    file.to_owned()
}

/// The realtime runtime asked for, with its period (the kernel's default
/// when not given), when it is a positive budget.
fn rt_runtime(r: &oci_spec::runtime::LinuxResources) -> Option<(u64, u64)> {
    let c = r.cpu().as_ref()?;
    let rt = u64::try_from(c.realtime_runtime()?)
        .ok()
        .filter(|v| *v > 0)?;
    let period = c.realtime_period().filter(|p| *p > 0).unwrap_or(1_000_000);
    Some((rt, period))
}

fn read_u64(p: &Path) -> Option<u64> {
    crate::linux::sys::read_text(p).ok()?.trim().parse().ok()
}

/// On v1 a cgroup gets a realtime budget only out of its parent's, and new
/// cgroups start with none: walk from the container's cgroup up to the
/// hierarchy root, adding up what each level needs (its child on the way
/// plus that child's siblings), then raise each ancestor from the top down
/// where it has less.
fn give_ancestors_rt_budget(mountpoint: &Path, dir: &Path, (rt, period): (u64, u64)) -> Result<()> {
    let runtime = |d: &Path| read_u64(&d.join("cpu.rt_runtime_us")).unwrap_or(0);
    let period_of = |d: &Path| read_u64(&d.join("cpu.rt_period_us")).unwrap_or(1_000_000);
    let mut plan = Vec::new();
    let (mut child, mut need, mut child_period) = (dir.to_path_buf(), rt, period);
    while let Some(parent) = child
        .parent()
        .filter(|p| *p != mountpoint && p.starts_with(mountpoint))
    {
        let pp = period_of(parent);
        let mut total = need.saturating_mul(pp).div_ceil(child_period.max(1));
        for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let sib = e.path();
            if sib != child && e.file_type().is_ok_and(|t| t.is_dir()) {
                total += runtime(&sib)
                    .saturating_mul(pp)
                    .div_ceil(period_of(&sib).max(1));
            }
        }
        plan.push((parent.to_path_buf(), total));
        (child, need, child_period) = (parent.to_path_buf(), total, pp);
    }
    for (d, total) in plan.into_iter().rev() {
        if runtime(&d) < total {
            write_file(&d, "cpu.rt_runtime_us", &total.to_string(), "cpu")?;
        }
    }
    Ok(())
}

/// Turns on v2 controllers from the hierarchy's root down to `dir`'s parent.
/// Enables `ctrls` in every ancestor's `cgroup.subtree_control` down to
/// `dir`, skipping those already enabled (an ancestor we may not write, as
/// rootless, usually has them). With `best_effort`, a refused write is
/// ignored: for controllers the config does not need.
fn enable_v2_controllers(
    dir: &Path,
    mountpoint: &Path,
    ctrls: &[&str],
    best_effort: bool,
) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut cur = mountpoint.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in comps
        .iter()
        .take(comps.len().saturating_sub(1))
        .map(Some)
        .chain([None])
    {
        let available =
            crate::linux::sys::read_text(cur.join("cgroup.controllers")).unwrap_or_default();
        let f = cur.join("cgroup.subtree_control");
        let enabled = crate::linux::sys::read_text(&f).unwrap_or_default();
        let has = |list: &str, c: &str| list.split_whitespace().any(|a| a == c);
        let enable: Vec<String> = ctrls
            .iter()
            .filter(|c| has(&available, c) && !has(&enabled, c))
            .map(|c| format!("+{c}"))
            .collect();
        if !enable.is_empty() {
            match std::fs::write(&f, enable.join(" ")) {
                Err(_) if best_effort => {}
                r => r.ctx(format!("write {}", f.display()))?,
            }
        }
        match c {
            Some(c) => cur.push(c),
            None => break,
        }
    }
    Ok(())
}

/// Writes `linux.resources` into the container's cgroup, on whichever
/// drivers the host has: v1 controllers on v1, the rest on the v2 hierarchy.
/// Checks the values first (see [`validate`]): nothing is written if any is wrong.
pub fn apply(dirs: &[PathBuf], r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    validate(r)?;
    check_dirs(dirs)?;
    apply_in(&hierarchies()?, dirs, r)
}

/// The host's huge page sizes as the hugetlb cgroup names them (`2MB`, `1GB`).
pub fn hugepage_sizes() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb = name.strip_prefix("hugepages-")?.strip_suffix("kB")?;
            kb.parse().ok().map(resources::hugepage_name)
        })
        .collect();
    out.sort();
    out
}

/// [`resources::validate`] against this host's huge page sizes: every
/// value the kernel would refuse or silently change is an error naming its
/// field, found before anything is created.
pub fn validate(r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let sizes = r
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
        .then(hugepage_sizes);
    resources::validate(r, sizes.as_deref())
}

/// [`apply`] against given hierarchies (a fake tree in tests).
pub fn apply_in(
    hier: &[Hierarchy],
    dirs: &[PathBuf],
    r: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let s = split(dirs, hier);
    let on_v1 = |ctrl: &str| {
        s.v1.iter()
            .find(|(cs, _)| cs.iter().any(|c| c == ctrl))
            .map(|(_, d)| *d)
    };
    let mut writes = resources::v1_writes(r);
    if !s.v1.is_empty() {
        refuse_unavailable(&s, &writes)?;
    }
    // What goes to v2 (all of it on a pure v2 host; on a hybrid one what v1
    // lacks), checked before anything is written.
    let v2 = match s.v2 {
        Some((d, mountpoint)) => {
            let writes: Vec<_> = resources::v2_writes(r)
                .into_iter()
                .filter(|(ctrl, _, _)| on_v1(ctrl).is_none())
                .collect();
            let available =
                crate::linux::sys::read_text(d.join("cgroup.controllers")).unwrap_or_default();
            if !s.v1.is_empty() {
                refuse_unified_off_v2(r, &available, &on_v1)?;
            }
            Some((d, mountpoint, writes, available))
        }
        None => {
            if let Some(k) = r.unified().iter().flat_map(|u| u.keys()).next() {
                return Err(Error::field(
                    format!(
                        "/linux/resources/unified/{}",
                        k.replace('~', "~0").replace('/', "~1")
                    ),
                    "invalid configuration: unified resources need cgroup v2, and this host has no cgroup2 mount",
                ));
            }
            None
        }
    };
    if let Some(d) = on_v1("memory") {
        order_memsw(d, &mut writes);
    }
    if let (Some(d), Some(rt)) = (on_v1("cpu"), rt_runtime(r)) {
        if let Some(h) = hier
            .iter()
            .find(|h| !h.is_v2 && d.starts_with(&h.mountpoint))
        {
            give_ancestors_rt_budget(&h.mountpoint, d, rt)
                .map_err(|e| e.at("/linux/resources/cpu/realtimeRuntime"))?;
        }
    }
    // The kernel checks cfs period and quota against each other (and the
    // parents' bandwidth) at every write: one that fails may pass once its
    // partner is written, so it is tried again after the rest.
    let mut again = Vec::new();
    // Runs of writes to one file (the device rules) share one open.
    let mut last = None;
    for (ctrl, file, value) in writes {
        if let Some(d) = on_v1(ctrl) {
            let r = write_file_in(&mut last, d, &bfq_fallback(d, &file), &value, ctrl);
            match r {
                Err(_) if matches!(file.as_str(), "cpu.cfs_period_us" | "cpu.cfs_quota_us") => {
                    again.push((d, file, value, ctrl))
                }
                r => r?,
            }
        }
    }
    for (d, file, value, ctrl) in again {
        write_file(d, &file, &value, ctrl)?;
    }
    if let Some((d, mountpoint, writes, available)) = v2 {
        let mut ctrls: Vec<&str> = writes
            .iter()
            .map(|(c, _, _)| *c)
            .filter(|c| !c.is_empty())
            .collect();
        ctrls.dedup();
        // On a v2-only host every controller the hierarchy offers reaches the
        // container, as with runc: stats, OOM events and a later `update`
        // work for a container started without limits.
        let offered = crate::linux::sys::read_text(mountpoint.join("cgroup.controllers"));
        if let (true, Ok(all)) = (s.v1.is_empty(), &offered) {
            let extra: Vec<&str> = all
                .split_whitespace()
                .filter(|c| !ctrls.contains(c))
                .collect();
            enable_v2_controllers(d, mountpoint, &extra, true)?;
        }
        enable_v2_controllers(d, mountpoint, &ctrls, false)?;
        // Pure v2 has no devices controller: device rules become an eBPF program.
        if on_v1("devices").is_none() {
            if let Some(rules) = r.devices().as_deref() {
                attach_device_program(d, rules)?;
            }
        }
        for (ctrl, file, value) in writes {
            // In a hybrid host most controllers live on v1 only; v2 gets
            // what it has (the unified keys were checked above).
            if s.v1.is_empty()
                || available.split_whitespace().any(|a| a == ctrl)
                || (ctrl.is_empty() && file.starts_with("cgroup."))
            {
                write_file(d, &file, &value, ctrl)?;
            }
        }
    }
    Ok(())
}

/// On a hybrid host a `unified` key can only be applied when its controller
/// is on the cgroup2 mount (or it is a `cgroup.*` file); anything else would
/// be dropped without a word.
fn refuse_unified_off_v2<'a>(
    r: &oci_spec::runtime::LinuxResources,
    v2_available: &str,
    on_v1: &dyn Fn(&str) -> Option<&'a Path>,
) -> Result<()> {
    let mut keys: Vec<&String> = r.unified().iter().flat_map(|u| u.keys()).collect();
    keys.sort();
    for k in keys {
        let ctrl = k.split('.').next().unwrap_or("");
        let why = if ctrl == "cgroup" {
            continue;
        } else if on_v1(ctrl).is_some() {
            format!("{ctrl} is a cgroup v1 controller on this host")
        } else if !v2_available.split_whitespace().any(|a| a == ctrl) {
            format!("this host's cgroup v2 has no {ctrl} controller")
        } else {
            continue;
        };
        return Err(Error::field(
            format!(
                "/linux/resources/unified/{}",
                k.replace('~', "~0").replace('/', "~1")
            ),
            format!("invalid configuration: cannot apply unified resource {k:?}: {why}"),
        ));
    }
    Ok(())
}

/// A setting whose controller the host has on neither v1 nor (hybrid) v2
/// cannot be applied: the spec wants an error, not a silent drop.
fn refuse_unavailable(s: &Split, writes: &[resources::Write]) -> Result<()> {
    let off_v1: Vec<&str> = writes
        .iter()
        .map(|(ctrl, _, _)| *ctrl)
        .filter(|ctrl| !s.v1.iter().any(|(cs, _)| cs.iter().any(|c| c == ctrl)))
        .collect();
    if off_v1.is_empty() {
        return Ok(());
    }
    let v2_available =
        s.v2.and_then(|(_, mountpoint)| {
            crate::linux::sys::read_text(mountpoint.join("cgroup.controllers")).ok()
        })
        .unwrap_or_default();
    for ctrl in off_v1 {
        let on_v2 = match ctrl {
            "net_cls" | "net_prio" => None,
            "blkio" => Some("io"),
            "cpuacct" => Some("cpu"),
            other => Some(other),
        };
        if !on_v2.is_some_and(|c| v2_available.split_whitespace().any(|a| a == c)) {
            return Err(Error::field(
                format!("/linux/resources/{}", section(ctrl)),
                format!("cgroup controller {ctrl} is not available on this host"),
            ));
        }
    }
    Ok(())
}

/// v1 insists memory.memsw.limit_in_bytes >= memory.limit_in_bytes at every
/// moment: when the new limit exceeds the current memsw, memsw must go first.
fn order_memsw(dir: &Path, writes: &mut [resources::Write]) {
    let pos = |f: &str| writes.iter().position(|(_, file, _)| file == f);
    let (Some(l), Some(s)) = (
        pos("memory.limit_in_bytes"),
        pos("memory.memsw.limit_in_bytes"),
    ) else {
        return;
    };
    let new_limit: i64 = writes[l].2.parse().unwrap_or(-1);
    let cur_memsw: i64 = crate::linux::sys::read_text(dir.join("memory.memsw.limit_in_bytes"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(i64::MAX);
    let memsw_first = new_limit == -1 || new_limit > cur_memsw;
    if memsw_first != (s < l) {
        writes.swap(l, s);
    }
}

/// Compiles the device rules to eBPF and attaches the program to a v2 cgroup.
pub fn attach_device_program(
    dir: &Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<()> {
    use nix::fcntl::{open, OFlag};
    let insns: Vec<u64> = devices_bpf::program(rules)
        .into_iter()
        .map(|i| i.encode())
        .collect();
    let prog = crate::linux::sys::bpf_load_device_prog(&insns).map_err(|(e, log)| {
        let mut err =
            Error::sys("load the device cgroup program", e).at("/linux/resources/devices");
        if !log.is_empty() {
            err.msg = format!("{} (verifier: {})", err.msg, log.replace('\n', "; "));
        }
        err
    })?;
    let cg = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(format!("open {}", dir.display()))?;
    crate::linux::sys::bpf_attach_device_prog(cg.as_fd(), prog.as_fd())
        .ctx(format!("attach the device program to {}", dir.display()))
        .map_err(|e| e.at("/linux/resources/devices"))
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    /// A fake hybrid host: v1 memory, pids and devices hierarchies, a v2 mount that
    /// only has hugetlb. Each setting lands on the driver that owns it.
    #[test]
    fn hybrid_splits_between_v1_and_v2() {
        let root = std::env::temp_dir().join(format!("tong-fake-hybrid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let hier: Vec<Hierarchy> = ["memory", "pids", "devices", "unified"]
            .iter()
            .map(|n| Hierarchy {
                mountpoint: root.join(n),
                options: if *n == "unified" {
                    String::new()
                } else {
                    n.to_string()
                },
                is_v2: *n == "unified",
                own_path: "/".into(),
            })
            .collect();
        let dirs: Vec<PathBuf> = hier.iter().map(|h| h.mountpoint.join("c1")).collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        for d in [root.join("unified"), root.join("unified/c1")] {
            std::fs::write(d.join("cgroup.controllers"), "hugetlb").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 1048576},
            "pids": {"limit": 5},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        apply_in(&hier, &dirs, &r).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("memory/c1/memory.limit_in_bytes"), "1048576");
        assert_eq!(read("pids/c1/pids.max"), "5");
        assert_eq!(read("unified/c1/hugetlb.2MB.max"), "2097152");
        assert_eq!(read("unified/cgroup.subtree_control"), "+hugetlb");
        // Device rules go to the v1 devices controller, not to an eBPF program.
        assert_eq!(read("devices/c1/devices.deny"), "a");
        // v2 never gets what v1 owns.
        assert!(!root.join("unified/c1/memory.max").exists());
        assert!(!root.join("unified/c1/pids.max").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A unified key is a file name: on a pure v2 host `../x` would write
    /// beside the container's cgroup.
    #[test]
    fn unified_key_cannot_name_a_path() {
        let root = std::env::temp_dir().join(format!("tong-fake-unified-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("c1");
        std::fs::create_dir_all(&dir).unwrap();
        for d in [root.clone(), dir.clone()] {
            std::fs::write(d.join("cgroup.controllers"), "memory").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        let hier = vec![Hierarchy {
            mountpoint: root.clone(),
            options: String::new(),
            is_v2: true,
            own_path: "/".into(),
        }];
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(
            serde_json::json!({"unified": {"../escaped": "x", "memory.high": "1"}}),
        )
        .unwrap();
        assert!(apply_in(&hier, std::slice::from_ref(&dir), &r).is_err());
        assert!(!root.join("escaped").exists());
        let e = validate(&r).unwrap_err();
        assert_eq!(
            e.pointer.as_deref(),
            Some("/linux/resources/unified/..~1escaped")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn memsw_goes_first_only_when_growing_past_it() {
        let dir = std::env::temp_dir().join(format!("tong-fake-memsw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.memsw.limit_in_bytes"), "16777216\n").unwrap();
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}}),
        )
        .unwrap();
        let mut w = resources::v1_writes(&r);
        order_memsw(&dir, &mut w);
        assert_eq!(w[0].1, "memory.memsw.limit_in_bytes");
        std::fs::write(dir.join("memory.memsw.limit_in_bytes"), "67108864\n").unwrap();
        let mut w = resources::v1_writes(&r);
        order_memsw(&dir, &mut w);
        assert_eq!(w[0].1, "memory.limit_in_bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fake v2 tree: root with controllers, the container two levels down.
    #[test]
    fn v2_enables_controllers_and_writes_files() {
        let root = std::env::temp_dir().join(format!("tong-fake-cg2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        for d in [root.clone(), root.join("a"), dir.clone()] {
            std::fs::write(d.join("cgroup.controllers"), "cpu memory pids").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        enable_v2_controllers(&dir, &root, &["memory", "pids", "io"], false).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a/cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
            ""
        );
        let hier = vec![Hierarchy {
            mountpoint: root.clone(),
            options: String::new(),
            is_v2: true,
            own_path: "/".into(),
        }];
        let dirs = vec![dir.clone()];
        let s = split(&dirs, &hier);
        assert!(s.v1.is_empty() && s.v2.is_some());
        write_file(&dir, "memory.max", "100", "memory").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.max")).unwrap(),
            "100"
        );
        let e = write_file(&root.join("nope"), "memory.max", "1", "memory").unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/linux/resources/memory"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}

#[cfg(test)]
mod bfq_tests {
    #[test]
    fn weights_fall_back_to_bfq_files() {
        let d = std::env::temp_dir().join(format!("tong-bfq-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("blkio.bfq.weight"), "").unwrap();
        std::fs::write(d.join("blkio.bfq.weight_device"), "").unwrap();
        assert_eq!(super::bfq_fallback(&d, "blkio.weight"), "blkio.bfq.weight");
        assert_eq!(
            super::bfq_fallback(&d, "blkio.weight_device"),
            "blkio.bfq.weight_device"
        );
        std::fs::write(d.join("blkio.weight"), "").unwrap();
        assert_eq!(super::bfq_fallback(&d, "blkio.weight"), "blkio.weight");
        assert_eq!(
            super::bfq_fallback(&d, "blkio.throttle.read_bps_device"),
            "blkio.throttle.read_bps_device"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
