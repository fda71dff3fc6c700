//! `tong check`: what this host gives a runtime, one capability at a time.
//!
//! Each probe reads /proc, /sys and /etc or makes a syscall the kernel
//! refuses before doing anything (`sys::probe_*`): nothing is changed and
//! nothing is left behind. Only [`round_trip`] (`--probe`) starts a container,
//! and it removes everything it made. The test suites skip from this report,
//! so a check's [`Check::sentence`] is both what a user reads and a skip's reason.

use crate::linux::sys;
use nix::errno::Errno;
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How much of a capability this host has.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Present,
    Limited,
    Missing,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Limited => "limited",
            Status::Missing => "missing",
        }
    }
}

/// One capability: what was found, and when it is short, what breaks and
/// what to do.
#[derive(Serialize, Debug, Clone)]
pub struct Check {
    /// Stable name (`cgroups`, `cgroup.memory`, `apparmor`, …): what tools
    /// and the test suites look up.
    pub id: String,
    pub status: Status,
    /// What the probe saw.
    pub found: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Without it tong runs no container at all: decides the exit status.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Machine-readable details (`version`: `v1`/`v2` of a controller, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    /// The check in one line, as `tong check` prints it.
    pub sentence: String,
}

impl Check {
    fn new(id: &str, status: Status, found: impl Into<String>) -> Check {
        Check {
            id: id.to_owned(),
            status,
            found: found.into(),
            breaks: None,
            fix: None,
            required: false,
            facts: BTreeMap::new(),
            sentence: String::new(),
        }
    }
    fn present(id: &str, found: impl Into<String>) -> Check {
        Check::new(id, Status::Present, found)
    }
    fn short(id: &str, status: Status, found: impl Into<String>, breaks: &str, fix: &str) -> Check {
        let mut c = Check::new(id, status, found);
        c.breaks = Some(breaks.to_owned());
        c.fix = (!fix.is_empty()).then(|| fix.to_owned());
        c
    }
    fn required(mut self) -> Check {
        self.required = true;
        self
    }
    fn fact(mut self, k: &str, v: impl Into<String>) -> Check {
        self.facts.insert(k.to_owned(), v.into());
        self
    }
    /// `id: status: found; breaks; fix`.
    fn seal(mut self) -> Check {
        let mut s = format!("{}: {}: {}", self.id, self.status.word(), self.found);
        for part in [&self.breaks, &self.fix].into_iter().flatten() {
            s.push_str("; ");
            s.push_str(part);
        }
        self.sentence = s;
        self
    }
}

/// Who asks: the answers differ for root and for a rootless caller.
#[derive(Serialize, Debug, Clone)]
pub struct Caller {
    pub euid: u32,
    pub user: String,
    pub rootless: bool,
    pub in_user_namespace: bool,
}

/// The whole report.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    /// Whether tong can run containers here (exit status 0).
    pub ok: bool,
    /// The first line: the verdict and, when not ok, why.
    pub summary: String,
    pub kernel: String,
    pub caller: Caller,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// What the report is asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Judge as a rootless caller (tong's `--rootless` decision).
    pub rootless: bool,
    /// The criu binary (`--criu`).
    pub criu: String,
    /// Run `criu check` (slow: it probes the kernel for a second or more).
    pub criu_check: bool,
    /// `--root` was given: the state need not go to XDG_RUNTIME_DIR.
    pub root_given: bool,
}

/// Probes the host. Fast and without side effects.
pub fn report(o: &Options) -> Report {
    let caller = caller(o.rootless);
    let cg = Cgroups::read();
    let mut checks = vec![kernel()];
    checks.extend(namespaces(&caller));
    checks.extend(syscalls());
    checks.push(idmapped_mounts(&caller));
    checks.push(cg.mode_check());
    checks.extend(cg.controller_checks(&caller));
    checks.extend(cg.resource_checks());
    if caller.rootless {
        checks.extend(rootless_checks(&caller, &cg, o.root_given));
    }
    checks.push(systemd(&caller));
    checks.extend(lsms());
    checks.extend(seccomp());
    checks.push(criu(&o.criu, o.criu_check));
    checks.push(sched_deadline(caller.euid));
    checks.extend(hardware());
    finish(caller, checks)
}

/// Adds a `--probe` round trip's result and re-judges the verdict.
pub fn with_round_trip(mut r: Report, trip: Check) -> Report {
    r.checks.push(trip.seal());
    let checks = std::mem::take(&mut r.checks);
    finish(r.caller, checks)
}

fn finish(caller: Caller, checks: Vec<Check>) -> Report {
    let checks: Vec<Check> = checks
        .into_iter()
        .map(|c| if c.sentence.is_empty() { c.seal() } else { c })
        .collect();
    let blocker = checks
        .iter()
        .find(|c| c.required && c.status == Status::Missing);
    let who = if caller.rootless {
        format!("rootless, as {}", caller.user)
    } else {
        "as root".to_owned()
    };
    let summary = match blocker {
        Some(c) => format!("tong cannot run containers here ({who}): {}", c.sentence),
        None => {
            let short = checks
                .iter()
                .filter(|c| c.status != Status::Present)
                .count();
            format!("tong can run containers here ({who}); {short} capabilities missing or limited")
        }
    };
    Report {
        ok: blocker.is_none(),
        summary,
        kernel: kernel_release(),
        caller,
        checks,
    }
}

fn caller(rootless: bool) -> Caller {
    let euid = nix::unistd::geteuid().as_raw();
    Caller {
        euid,
        user: user_name(euid).unwrap_or_else(|| format!("#{euid}")),
        rootless,
        in_user_namespace: crate::linux::namespaces::in_user_namespace(),
    }
}

/// The name of `uid` in the host's /etc/passwd (read directly: no NSS).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>() == Ok(uid)).then(|| name.to_owned())
    })
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_default()
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0)) >= (major, minor)
}

fn kernel() -> Check {
    Check::present("kernel", format!("Linux {}", kernel_release()))
}

/// The namespaces a container can get: /proc/self/ns names the kinds this
/// kernel has.
fn namespaces(caller: &Caller) -> Vec<Check> {
    let has = |n: &str| Path::new("/proc/self/ns").join(n).exists();
    let core = ["mnt", "pid", "ipc", "uts", "net"];
    let lacking: Vec<&str> = core.iter().copied().filter(|n| !has(n)).collect();
    let mut out = vec![if lacking.is_empty() {
        Check::present(
            "namespaces",
            "mnt pid ipc uts net cgroup time user (/proc/self/ns)",
        )
    } else {
        Check::short(
            "namespaces",
            Status::Missing,
            format!("this kernel has no {} namespace", lacking.join(", ")),
            "no container can be made",
            "use a kernel built with CONFIG_NAMESPACES and each CONFIG_*_NS",
        )
        .required()
    }];
    for (kind, field) in [("cgroup", "cgroup"), ("time", "time")] {
        if !has(kind) {
            out.push(Check::short(
                &format!("namespace.{kind}"),
                Status::Missing,
                format!("no {kind} namespace in this kernel"),
                &format!("a config with a {field} namespace in linux.namespaces fails"),
                "drop it from the config, or use a newer kernel",
            ));
        }
    }
    out.push(user_namespaces(caller, has("user")));
    out
}

fn read_trim(p: &str) -> Option<String> {
    sys::read_text(p).ok().map(|s| s.trim().to_owned())
}

fn user_namespaces(caller: &Caller, kernel_has: bool) -> Check {
    let id = "user-namespaces";
    let (status, breaks) = if caller.rootless {
        (
            Status::Missing,
            "rootless containers cannot be made (they need a user namespace)",
        )
    } else {
        (
            Status::Missing,
            "a config with a user namespace (linux.uidMappings) fails",
        )
    };
    let mut c = if !kernel_has {
        Check::short(
            id,
            status,
            "this kernel has no user namespaces",
            breaks,
            "use a kernel built with CONFIG_USER_NS",
        )
    } else if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        Check::short(
            id,
            status,
            "user.max_user_namespaces is 0",
            breaks,
            "sysctl -w user.max_user_namespaces=15000",
        )
    } else if caller.rootless
        && !caller.in_user_namespace
        && read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0")
    {
        Check::short(
            id,
            status,
            "kernel.unprivileged_userns_clone is 0: an unprivileged user may not make one",
            breaks,
            "sysctl -w kernel.unprivileged_userns_clone=1",
        )
    } else if caller.rootless
        && !caller.in_user_namespace
        && read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
    {
        Check::short(
            id,
            Status::Limited,
            "kernel.apparmor_restrict_unprivileged_userns is 1: an unconfined user's new user namespace has no capabilities",
            "rootless containers fail unless an AppArmor profile allows tong userns",
            "give tong a profile with `userns,` (as Ubuntu does for runc), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        )
    } else {
        let max = read_trim("/proc/sys/user/max_user_namespaces").unwrap_or_default();
        Check::present(id, format!("available (user.max_user_namespaces {max})"))
    };
    if caller.rootless {
        c.required = true;
    }
    c
}

/// The syscalls tong prefers, each probed with arguments the kernel refuses.
fn syscalls() -> Vec<Check> {
    let exists = |e: Option<Errno>| e != Some(Errno::ENOSYS);
    let mut out = Vec::new();
    let required = [
        (
            "clone3",
            sys::probe_clone3(),
            "5.3",
            "every container's init and exec'd process is made with clone3",
        ),
        (
            "close_range",
            sys::probe_close_range(),
            "5.9",
            "a container process closes the runtime's fds with close_range before it runs",
        ),
        (
            "pidfd_open",
            sys::probe_pidfd_open(),
            "5.3",
            "kill, delete and the waits of run and exec hold the process by a pidfd",
        ),
    ];
    for (name, errno, version, why) in required {
        out.push(if exists(errno) {
            Check::present(&format!("syscall.{name}"), "available")
        } else {
            Check::short(
                &format!("syscall.{name}"),
                Status::Missing,
                format!("ENOSYS (Linux {version} added it; a seccomp filter around tong can hide it too)"),
                &format!("no container can be made: {why}"),
                &format!("use Linux {version} or later, or let tong's own sandbox allow {name}"),
            )
            .required()
        });
    }
    let into = sys::probe_clone_into_cgroup();
    out.push(if into == Some(Errno::EBADF) {
        Check::present(
            "syscall.clone_into_cgroup",
            "clone3 CLONE_INTO_CGROUP available",
        )
    } else {
        Check::short(
            "syscall.clone_into_cgroup",
            Status::Limited,
            format!(
                "clone3 refuses CLONE_INTO_CGROUP ({})",
                into.map_or("no error".to_owned(), |e| e.desc().to_owned())
            ),
            "the init joins its cgroup v2 just after clone rather than being born in it",
            "Linux 5.7 or later has it",
        )
    });
    let (tree, setattr) = (sys::probe_open_tree(), sys::probe_mount_setattr());
    out.push(if exists(tree) && exists(setattr) {
        Check::present("syscall.mount_api", "open_tree and mount_setattr available")
    } else {
        Check::short(
            "syscall.mount_api",
            Status::Limited,
            "open_tree or mount_setattr: ENOSYS (Linux 5.12 has both)",
            "idmapped mounts and recursive read-only (rro) mounts fail",
            "use Linux 5.12 or later",
        )
    });
    out
}

fn idmapped_mounts(caller: &Caller) -> Check {
    if caller.euid != 0 {
        // mount_setattr needs CAP_SYS_ADMIN before it looks at its
        // arguments: an unprivileged caller can only go by the kernel.
        let recent = kernel_at_least(5, 12);
        let api = sys::probe_mount_setattr() != Some(Errno::ENOSYS);
        return if recent && api {
            Check::present(
                "idmapped-mounts",
                "Linux 5.12+ with mount_setattr (not probed: an unprivileged caller cannot call it)",
            )
        } else {
            Check::short(
                "idmapped-mounts",
                Status::Missing,
                "no mount_setattr, or a kernel before 5.12",
                "mounts with uidMappings/gidMappings or the idmap option fail",
                "use Linux 5.12 or later (5.19+ for most filesystems)",
            )
        };
    }
    if crate::linux::rootfs::idmap::supported() {
        Check::present("idmapped-mounts", "mount_setattr takes MOUNT_ATTR_IDMAP")
    } else {
        Check::short(
            "idmapped-mounts",
            Status::Missing,
            "mount_setattr(MOUNT_ATTR_IDMAP) is refused",
            "mounts with uidMappings/gidMappings or the idmap option fail",
            "use Linux 5.12 or later (5.19+ for most filesystems)",
        )
    }
}

/// A cgroup filesystem in this mount namespace.
#[derive(Debug, Clone)]
struct CgMount {
    point: PathBuf,
    v2: bool,
    /// A v1 hierarchy's controllers (and `name=…`), from its options.
    opts: Vec<String>,
}

// What each controller gives a container, for the lines that lack it.
const CPU: &str = "CPU limits (linux.resources.cpu)";
const CPUSET: &str = "CPU and memory-node pinning (linux.resources.cpu.cpus, mems)";
const MEMORY: &str = "memory limits (linux.resources.memory)";
const BLKIO: &str = "block I/O limits (linux.resources.blockIO)";
const PIDS: &str = "process-count limits (linux.resources.pids)";
const HUGETLB: &str = "hugepage limits (linux.resources.hugepageLimits)";
const RDMA: &str = "RDMA limits (linux.resources.rdma)";

/// The cgroup layout as /proc/self/mountinfo and /proc/self/cgroup show it.
#[derive(Debug, Clone)]
struct Cgroups {
    mounts: Vec<CgMount>,
    /// The unified hierarchy's controllers (its root's cgroup.controllers).
    v2_controllers: Vec<String>,
    /// The caller's own cgroup v2 directory.
    own_v2: Option<PathBuf>,
    /// Controllers the kernel has and has not disabled (/proc/cgroups).
    kernel: Vec<(String, bool)>,
}

impl Cgroups {
    fn read() -> Cgroups {
        let mi = sys::read_text("/proc/self/mountinfo").unwrap_or_default();
        let mounts: Vec<CgMount> = mi.lines().filter_map(parse_cg_mount).collect();
        let v2 = mounts.iter().find(|m| m.v2).cloned();
        let v2_controllers = v2
            .as_ref()
            .and_then(|m| sys::read_text(m.point.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let own_v2 = v2.as_ref().and_then(|m| {
            let own = sys::read_text("/proc/self/cgroup").ok()?;
            let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
            Some(m.point.join(path.trim_start_matches('/')))
        });
        let kernel = sys::read_text("/proc/cgroups")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((f.first()?.to_string(), *f.get(3)? == "1"))
            })
            .collect();
        Cgroups {
            mounts,
            v2_controllers,
            own_v2,
            kernel,
        }
    }

    fn v1(&self) -> impl Iterator<Item = &CgMount> {
        self.mounts.iter().filter(|m| !m.v2)
    }

    fn v2(&self) -> Option<&CgMount> {
        self.mounts.iter().find(|m| m.v2)
    }

    fn v1_mount(&self, ctl: &str) -> Option<&CgMount> {
        self.v1().find(|m| m.opts.iter().any(|o| o == ctl))
    }

    /// `v1`, `hybrid` (v1 hierarchies and a cgroup2), `v2` or `none`.
    fn mode(&self) -> &'static str {
        match (self.v1().next().is_some(), self.v2().is_some()) {
            (true, true) => "hybrid",
            (true, false) => "v1",
            (false, true) => "v2",
            (false, false) => "none",
        }
    }

    fn mode_check(&self) -> Check {
        let mode = self.mode();
        // `cpu, memory, … under /sys/fs/cgroup`: the hierarchies by name.
        let v1: Vec<String> = self
            .v1()
            .map(|m| {
                m.point
                    .file_name()
                    .map_or(m.point.display().to_string(), |n| {
                        n.to_string_lossy().into_owned()
                    })
            })
            .collect();
        let parent = self
            .v1()
            .next()
            .and_then(|m| m.point.parent())
            .map_or(String::new(), |p| p.display().to_string());
        let v2_elsewhere = self
            .v2()
            .filter(|m| m.point != Path::new("/sys/fs/cgroup"))
            .map(|m| m.point.display().to_string());
        let c = match mode {
            "v2" if v2_elsewhere.is_some() => Check::short(
                "cgroups",
                Status::Limited,
                format!(
                    "cgroup v2 alone, but at {}",
                    v2_elsewhere.unwrap_or_default()
                ),
                "tools and engines that look for it at /sys/fs/cgroup do not find it",
                "mount cgroup2 at /sys/fs/cgroup",
            ),
            "v2" => Check::present(
                "cgroups",
                format!(
                    "cgroup v2 alone at {}",
                    self.v2().map_or(String::new(), |m| m.point.display().to_string())
                ),
            ),
            "none" => Check::short(
                "cgroups",
                Status::Missing,
                "no cgroup filesystem is mounted",
                "no container can be made (tong places every container in a cgroup)",
                "mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)",
            )
            .required(),
            m => Check::short(
                "cgroups",
                Status::Limited,
                format!(
                    "cgroup {m}: v1 hierarchies {} under {parent}{}",
                    v1.join(", "),
                    self.v2()
                        .map_or(String::new(), |v| format!(", cgroup2 at {}", v.point.display()))
                ),
                "what only cgroup v2 has (linux.resources.unified, memory.high, cpu.idle, the systemd driver's v2 properties) cannot be used",
                "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2 alone)",
            ),
        };
        c.fact("mode", mode)
    }

    /// A controller's line: where it is, and for a rootless caller whether
    /// it is delegated.
    fn controller_checks(&self, caller: &Caller) -> Vec<Check> {
        let names: &[(&str, &str)] = if self.mode() == "v2" {
            &[
                ("cpu", CPU),
                ("cpuset", CPUSET),
                ("memory", MEMORY),
                ("io", BLKIO),
                ("pids", PIDS),
                ("hugetlb", HUGETLB),
                ("rdma", RDMA),
            ]
        } else {
            &[
                ("cpu", CPU),
                ("cpuacct", "CPU usage statistics (events --stats)"),
                ("cpuset", CPUSET),
                ("memory", MEMORY),
                ("blkio", BLKIO),
                ("pids", PIDS),
                ("devices", "device allow-list (linux.resources.devices)"),
                ("freezer", "freezer (pause and resume)"),
                ("hugetlb", HUGETLB),
                ("rdma", RDMA),
            ]
        };
        let delegated = caller.rootless.then(|| self.delegation(caller.euid));
        names
            .iter()
            .map(|(ctl, field)| {
                let id = format!("cgroup.{ctl}");
                let in_kernel = self.kernel.iter().find(|(n, _)| n == ctl);
                let c = if let Some(m) = self.v1_mount(ctl) {
                    let c = Check::present(&id, format!("cgroup v1 at {}", m.point.display()))
                        .fact("version", "v1");
                    if caller.rootless {
                        let mut c = c;
                        c.status = Status::Limited;
                        c.breaks = Some(format!(
                            "an unprivileged user cannot make v1 cgroups: rootless containers get no {field}"
                        ));
                        c.fix = Some("use cgroup v2 with systemd's Delegate= for user@.service".into());
                        c
                    } else {
                        c
                    }
                } else if self.v2_controllers.iter().any(|c| c == on_v2(ctl)) {
                    let c = Check::present(&id, "cgroup v2").fact("version", "v2");
                    match &delegated {
                        Some(Some((dir, ctls))) if !ctls.iter().any(|c| c == ctl) => Check::short(
                            &id,
                            Status::Limited,
                            format!("cgroup v2 '{ctl}' not delegated to {}", dir.display()),
                            &format!("rootless containers get no {field}"),
                            "enable Delegate= for user@.service (systemctl edit user@.service: [Service] Delegate=yes)",
                        )
                        .fact("version", "v2"),
                        Some(None) => Check::short(
                            &id,
                            Status::Limited,
                            "cgroup v2, but no cgroup of yours to delegate it to",
                            &format!("rootless containers get no {field}"),
                            "run under a systemd user session (loginctl enable-linger) with Delegate= for user@.service",
                        )
                        .fact("version", "v2"),
                        Some(Some((dir, _))) => Check::present(
                            &id,
                            format!("cgroup v2, delegated to {}", dir.display()),
                        )
                        .fact("version", "v2"),
                        None => c,
                    }
                } else {
                    let (why, fix) = match in_kernel {
                        None => (
                            "not in this kernel",
                            "use a kernel built with it, or leave the field out".to_owned(),
                        ),
                        Some((_, false)) => (
                            "disabled at boot (cgroup_disable=)",
                            "drop cgroup_disable= from the kernel command line".to_owned(),
                        ),
                        Some(_) if self.mode() == "v2" => (
                            "not available in the cgroup v2 root (bound to no hierarchy tong sees)",
                            "make it available in /sys/fs/cgroup/cgroup.controllers".to_owned(),
                        ),
                        Some(_) => (
                            "no cgroup v1 hierarchy carries it",
                            format!("mount -t cgroup -o {ctl} cgroup /sys/fs/cgroup/{ctl}"),
                        ),
                    };
                    Check::short(
                        &id,
                        Status::Missing,
                        why,
                        &format!("no {field}: a config that sets them is refused"),
                        &fix,
                    )
                };
                c
            })
            .collect()
    }

    /// For a rootless caller on cgroup v2: the highest cgroup above (or at)
    /// its own that it owns, and the controllers there.
    fn delegation(&self, euid: u32) -> Option<(PathBuf, Vec<String>)> {
        let root = self.v2()?.point.clone();
        let mut dir = self.own_v2.clone()?;
        let mut best = None;
        while dir.starts_with(&root) && dir != root {
            if std::fs::metadata(&dir).is_ok_and(|m| m.uid() == euid) {
                best = Some(dir.clone());
            }
            if !dir.pop() {
                break;
            }
        }
        let dir = best?;
        let ctls = sys::read_text(dir.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        Some((dir, ctls))
    }

    /// A cgroup v2 directory below the root with `file` (interface files
    /// like cpu.max exist only below the root): the caller's own, else the
    /// first child of the root that has it.
    fn v2_child_with(&self, file: &str) -> Option<PathBuf> {
        let root = self.v2()?.point.clone();
        let own = self.own_v2.clone().filter(|d| *d != root);
        if let Some(d) = own.filter(|d| d.join(file).exists()) {
            return Some(d);
        }
        std::fs::read_dir(&root)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join(file).exists())
    }

    /// Resource features that depend on kernel options, not on mounts.
    fn resource_checks(&self) -> Vec<Check> {
        let v2 = self.mode() == "v2";
        let mut out = Vec::new();
        // Swap accounting.
        let swap = if v2 {
            self.v2_child_with("memory.max")
                .map(|d| d.join("memory.swap.max").exists())
        } else {
            self.v1_mount("memory")
                .map(|m| m.point.join("memory.memsw.limit_in_bytes").exists())
        };
        out.push(match swap {
            Some(true) => Check::present(
                "swap-accounting",
                if v2 {
                    "memory.swap.max"
                } else {
                    "memory.memsw.*"
                },
            ),
            Some(false) => Check::short(
                "swap-accounting",
                Status::Missing,
                if v2 {
                    "no memory.swap.max"
                } else {
                    "no memory.memsw.* (swap accounting off)"
                },
                "linux.resources.memory.swap cannot be applied",
                "boot with swapaccount=1 (or a kernel with CONFIG_MEMCG_SWAP)",
            ),
            None => Check::short(
                "swap-accounting",
                Status::Missing,
                "no memory controller",
                "linux.resources.memory.swap cannot be applied",
                "",
            ),
        });
        // CFS bandwidth: quota and period.
        let cfs = if v2 {
            self.v2_child_with("cpu.weight")
                .map(|d| d.join("cpu.max").exists())
        } else {
            self.v1_mount("cpu")
                .map(|m| m.point.join("cpu.cfs_quota_us").exists())
        };
        out.push(match cfs {
            Some(true) => Check::present(
                "cfs-bandwidth",
                if v2 {
                    "cpu.max"
                } else {
                    "cpu.cfs_quota_us, cpu.cfs_period_us"
                },
            ),
            _ => Check::short(
                "cfs-bandwidth",
                Status::Missing,
                "no CFS bandwidth control (cpu.cfs_quota_us / cpu.max)",
                "linux.resources.cpu.quota and period cannot be applied",
                "use a kernel built with CONFIG_CFS_BANDWIDTH",
            ),
        });
        // Realtime group scheduling: cgroup v1 only.
        let rt = self
            .v1_mount("cpu")
            .filter(|m| m.point.join("cpu.rt_runtime_us").exists());
        out.push(match rt {
            Some(m) => Check::present(
                "rt-group-sched",
                format!("{}", m.point.join("cpu.rt_runtime_us").display()),
            ),
            None => Check::short(
                "rt-group-sched",
                Status::Missing,
                if v2 {
                    "cgroup v2 has no realtime group scheduling"
                } else {
                    "no cpu.rt_runtime_us (a kernel without CONFIG_RT_GROUP_SCHED)"
                },
                "linux.resources.cpu.realtimeRuntime and realtimePeriod cannot be applied",
                "use cgroup v1 and a kernel built with CONFIG_RT_GROUP_SCHED, or leave them out",
            ),
        });
        // Block I/O weight: CFQ's blkio.weight, BFQ's, or io.weight.
        let io = if v2 {
            self.v2_child_with("io.stat").map(|d| {
                if d.join("io.weight").exists() {
                    "io.weight"
                } else if d.join("io.bfq.weight").exists() {
                    "bfq"
                } else {
                    ""
                }
            })
        } else {
            self.v1_mount("blkio").map(|m| {
                if m.point.join("blkio.weight").exists() {
                    "blkio.weight"
                } else if m.point.join("blkio.bfq.weight").exists() {
                    "bfq"
                } else {
                    ""
                }
            })
        };
        out.push(match io {
            Some("bfq") => Check::present(
                "io-weight",
                if v2 {
                    "io.bfq.weight (BFQ only)"
                } else {
                    "blkio.bfq.weight (BFQ only)"
                },
            )
            .fact("kind", "bfq"),
            Some(k) if !k.is_empty() => Check::present("io-weight", k).fact("kind", k),
            _ => Check::short(
                "io-weight",
                Status::Missing,
                "no weight file in the block I/O controller",
                "linux.resources.blockIO.weight cannot be applied",
                "use the BFQ I/O scheduler (or a kernel with io.weight)",
            ),
        });
        out
    }
}

/// A v1 controller's name on cgroup v2 (a hybrid host applies there what
/// v1 lacks, as linux::cgroups does).
fn on_v2(ctl: &str) -> &str {
    match ctl {
        "blkio" => "io",
        "cpuacct" => "cpu",
        c => c,
    }
}

fn parse_cg_mount(l: &str) -> Option<CgMount> {
    let (left, right) = l.split_once(" - ")?;
    let mut r = right.split(' ');
    let fs = r.next()?;
    let opts = r.nth(1).unwrap_or_default();
    if fs != "cgroup" && fs != "cgroup2" {
        return None;
    }
    Some(CgMount {
        point: PathBuf::from(unescape(left.split(' ').nth(4)?)),
        v2: fs == "cgroup2",
        opts: opts.split(',').map(String::from).collect(),
    })
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The rootless caller's own view: subordinate ids, the id-mapping helpers,
/// its runtime directory, its delegated cgroup.
fn rootless_checks(caller: &Caller, cg: &Cgroups, root_given: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let ranges = |file: &str| -> Vec<String> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let (who, start, count) = (f.next()?, f.next()?, f.next()?);
                (who == caller.user || who == caller.euid.to_string())
                    .then(|| format!("{start}+{count}"))
            })
            .collect()
    };
    let (u, g) = (ranges("/etc/subuid"), ranges("/etc/subgid"));
    out.push(if caller.in_user_namespace {
        Check::present(
            "subordinate-ids",
            "already in a user namespace: its maps are what the container can use",
        )
    } else if u.is_empty() || g.is_empty() {
        Check::short(
            "subordinate-ids",
            Status::Limited,
            format!("no range for {} in /etc/subuid or /etc/subgid", caller.user),
            "only your own uid and gid can be mapped: a config mapping more ids fails",
            &format!(
                "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
                caller.user
            ),
        )
    } else {
        Check::present(
            "subordinate-ids",
            format!("subuid {} subgid {}", u.join(","), g.join(",")),
        )
    });
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let find = |name: &str| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    let helpers: Vec<&str> = ["newuidmap", "newgidmap"]
        .into_iter()
        .filter(|n| find(n).is_none())
        .collect();
    out.push(if caller.in_user_namespace {
        Check::present(
            "newuidmap",
            "not needed: already in a user namespace, whose maps the container uses",
        )
    } else if helpers.is_empty() {
        Check::present("newuidmap", "newuidmap and newgidmap in PATH")
    } else {
        Check::short(
            "newuidmap",
            Status::Limited,
            format!("{} not in PATH", helpers.join(" and ")),
            "subordinate ranges cannot be mapped: only your own uid and gid",
            "apt-get install uidmap",
        )
    });
    let xdg = match std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        None => Check::short(
            "xdg-runtime-dir",
            Status::Missing,
            "XDG_RUNTIME_DIR is not set",
            "the state goes to /run/tong, which you cannot write",
            "log in through a session that sets it (pam_systemd), or pass --root DIR",
        ),
        Some(x) => match std::fs::metadata(&x) {
            Ok(m) if m.uid() == caller.euid => Check::present(
                "xdg-runtime-dir",
                format!(
                    "{} (state in {}/tong)",
                    Path::new(&x).display(),
                    Path::new(&x).display()
                ),
            ),
            Ok(_) => Check::short(
                "xdg-runtime-dir",
                Status::Missing,
                format!("{} is not yours", Path::new(&x).display()),
                "the state directory cannot be made there",
                "set XDG_RUNTIME_DIR to your own directory, or pass --root DIR",
            ),
            Err(e) => Check::short(
                "xdg-runtime-dir",
                Status::Missing,
                format!("{}: {e}", Path::new(&x).display()),
                "the state directory cannot be made there",
                "set XDG_RUNTIME_DIR to your own directory, or pass --root DIR",
            ),
        },
    };
    // With --root the state goes where it says.
    out.push(if root_given { xdg } else { xdg.required() });
    out.push(match (cg.mode(), cg.delegation(caller.euid)) {
        ("v2", Some((dir, ctls))) => Check::present(
            "cgroup-delegation",
            format!("{} is yours: {}", dir.display(), ctls.join(" ")),
        ),
        ("v2", None) => Check::short(
            "cgroup-delegation",
            Status::Limited,
            "no cgroup v2 directory above yours is yours",
            "rootless containers get no resource limits (tong warns once and goes on)",
            "run under a systemd user session (loginctl enable-linger) with Delegate= for user@.service",
        ),
        (m, _) => Check::short(
            "cgroup-delegation",
            Status::Limited,
            format!("cgroup {m}: nothing is delegated to an unprivileged user"),
            "rootless containers get no resource limits (tong warns once and goes on)",
            "use cgroup v2 (systemd.unified_cgroup_hierarchy=1) and Delegate= for user@.service",
        ),
    });
    out
}

/// Whether a unix stream socket at `p` accepts a connection.
fn reachable(p: &Path) -> Result<(), String> {
    std::os::unix::net::UnixStream::connect(p)
        .map(drop)
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn systemd(caller: &Caller) -> Check {
    // sd_booted(3): systemd as PID 1 made this directory.
    if !Path::new("/run/systemd/system").is_dir() {
        return Check::short(
            "systemd",
            Status::Missing,
            "systemd is not PID 1 (no /run/systemd/system)",
            "--systemd-cgroup fails; the default cgroupfs driver works",
            "",
        );
    }
    let bus = if caller.rootless {
        match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(a) => crate::linux::cgroups::systemd::session_addr_path(&a),
            Err(_) => std::env::var_os("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("bus")),
        }
    } else {
        Some(PathBuf::from("/run/dbus/system_bus_socket"))
    };
    let which = if caller.rootless { "user" } else { "system" };
    match bus.map(|b| reachable(&b).map(|()| b)) {
        Some(Ok(b)) => Check::present("systemd", format!("PID 1, {which} bus at {}", b.display())),
        Some(Err(e)) => Check::short(
            "systemd",
            Status::Limited,
            format!("PID 1, but the {which} bus is not reachable ({e})"),
            "--systemd-cgroup fails",
            if caller.rootless {
                "start a user session (loginctl enable-linger USER) with dbus-user-session"
            } else {
                "apt-get install dbus (the system bus)"
            },
        ),
        None => Check::short(
            "systemd",
            Status::Limited,
            "PID 1, but no user bus address (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR)",
            "--systemd-cgroup fails",
            "log in through a session that sets XDG_RUNTIME_DIR",
        ),
    }
}

fn lsms() -> Vec<Check> {
    let mut out = Vec::new();
    if crate::linux::lsm::apparmor_enabled() {
        out.push(Check::present("apparmor", "enabled in the kernel"));
        out.push(if Path::new("/sbin/apparmor_parser").exists() {
            Check::present("apparmor-parser", "/sbin/apparmor_parser")
        } else {
            Check::short(
                "apparmor-parser",
                Status::Missing,
                "no /sbin/apparmor_parser",
                "profiles cannot be loaded here; containers can use only those already loaded",
                "apt-get install apparmor",
            )
        });
    } else {
        out.push(Check::short(
            "apparmor",
            Status::Missing,
            "AppArmor is not enabled in this kernel",
            "a config with process.apparmorProfile fails",
            "boot a kernel with apparmor=1 security=apparmor, or leave the profile out",
        ));
    }
    out.push(if crate::linux::lsm::selinux_enabled() {
        Check::present("selinux", "enabled (/sys/fs/selinux)")
    } else {
        Check::short(
            "selinux",
            Status::Missing,
            "SELinux is not enabled in this kernel",
            "a config with process.selinuxLabel fails (linux.mountLabel alone is ignored)",
            "boot with selinux=1 and a policy, or leave the labels out",
        )
    });
    out
}

fn seccomp() -> Vec<Check> {
    let status = sys::read_text("/proc/self/status").unwrap_or_default();
    let mode = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|m| m.trim().to_owned());
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| (v.major, v.minor, v.micro))
        .ok();
    let lib = libseccomp.map_or("unknown".to_owned(), |(a, b, c)| format!("{a}.{b}.{c}"));
    let mut out = vec![match &mode {
        None => Check::short(
            "seccomp",
            Status::Missing,
            "this kernel has no seccomp (no Seccomp: in /proc/self/status)",
            "a config with linux.seccomp fails (Docker's and Kubernetes' defaults have one)",
            "use a kernel built with CONFIG_SECCOMP_FILTER",
        ),
        Some(m) => Check::present(
            "seccomp",
            format!(
                "filters available, libseccomp {lib}{}",
                if m == "2" {
                    "; tong itself runs under a filter (Seccomp: 2)"
                } else {
                    ""
                }
            ),
        ),
    }];
    if mode.is_some() {
        const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
        let kernel = sys::seccomp_notif_sizes()
            .and_then(|_| sys::seccomp_action_avail(SECCOMP_RET_USER_NOTIF));
        let lib_ok = libseccomp.is_some_and(|v| v >= (2, 5, 0));
        out.push(match (kernel, lib_ok) {
            (Ok(()), true) => Check::present(
                "seccomp-notify",
                format!("SECCOMP_RET_USER_NOTIF, libseccomp {lib}"),
            ),
            (Err(e), _) => Check::short(
                "seccomp-notify",
                Status::Missing,
                format!("the kernel refuses SECCOMP_GET_NOTIF_SIZES ({})", e.desc()),
                "SCMP_ACT_NOTIFY and linux.seccomp.listenerPath fail",
                "use Linux 5.0 or later (5.9 for addfd)",
            ),
            (Ok(()), false) => Check::short(
                "seccomp-notify",
                Status::Missing,
                format!("libseccomp {lib} predates user notification"),
                "SCMP_ACT_NOTIFY and linux.seccomp.listenerPath fail",
                "use libseccomp 2.5 or later",
            ),
        });
    }
    out
}

/// criu: found and its version (cheap); `criu check` only when asked,
/// since it probes the kernel for a second or more.
fn criu(bin: &str, check: bool) -> Check {
    let bin = if bin.is_empty() { "criu" } else { bin };
    let v = match crate::linux::criu::version(bin) {
        Ok(v) => format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100),
        Err(e) => {
            return Check::short(
                "criu",
                Status::Missing,
                e.to_string(),
                "checkpoint and restore fail",
                "apt-get install criu (or pass --criu PATH)",
            )
        }
    };
    if !check {
        return Check::present(
            "criu",
            format!("criu {v} (not checked against this kernel: `tong check --probe` runs `criu check`, which takes a second or more)"),
        )
        .fact("version", v)
        .fact("checked", "no");
    }
    let out = Command::new(bin).arg("check").stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() => {
            Check::present("criu", format!("criu {v}, `criu check` passes"))
                .fact("version", v)
                .fact("checked", "yes")
        }
        Ok(o) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let why = text
                .lines()
                .find(|l| l.contains("Error"))
                .unwrap_or(text.trim())
                .to_owned();
            Check::short(
                "criu",
                Status::Missing,
                format!("criu {v}: `criu check` fails: {why}"),
                "checkpoint and restore fail",
                "use a criu release that knows this kernel",
            )
            .fact("version", v)
            .fact("checked", "yes")
        }
        Err(e) => Check::short(
            "criu",
            Status::Missing,
            format!("{bin} check: {e}"),
            "checkpoint and restore fail",
            "apt-get install criu",
        ),
    }
}

/// Whether SCHED_DEADLINE is admitted here: a child of ours asks for it
/// (1 ms every 10 ms) and exits with the errno; nothing outlives the child.
/// Admission depends on the CPUs the caller may use and on the deadline
/// bandwidth left (kernel.sched_rt_runtime_us), so only asking tells.
fn sched_deadline(euid: u32) -> Check {
    const SCHED_DEADLINE: u32 = 6;
    let answer = match sys::clone3_fork(0, None) {
        Ok(sys::Forked::Child) => {
            let attr = sys::SchedAttr {
                policy: SCHED_DEADLINE,
                runtime: 1_000_000,
                deadline: 10_000_000,
                period: 10_000_000,
                ..Default::default()
            };
            sys::exit_now(match sys::sched_setattr(&attr) {
                Ok(()) => 0,
                Err(e) => e as i32,
            })
        }
        Ok(sys::Forked::Parent { pid, .. }) => match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, e)) => {
                Err(Errno::from_raw(e).desc().to_owned())
            }
            Ok(other) => Err(format!("the probe ended as {other:?}")),
            Err(e) => Err(format!("waitpid: {e}")),
        },
        Err(e) => Err(format!("clone: {e}")),
    };
    match answer {
        Ok(()) => Check::present(
            "sched-deadline",
            "SCHED_DEADLINE admitted (1 ms every 10 ms)",
        ),
        Err(why) => Check::short(
            "sched-deadline",
            Status::Missing,
            format!("sched_setattr(SCHED_DEADLINE) refused: {why}"),
            "process.scheduler with SCHED_DEADLINE fails",
            if euid != 0 && why == Errno::EPERM.desc() {
                "it needs CAP_SYS_NICE in the initial user namespace: run as root, or use another policy"
            } else {
                "allow every CPU to the caller and leave deadline bandwidth (kernel.sched_rt_runtime_us), or use another policy"
            },
        ),
    }
}

/// Hardware a few resources need: CPUs, NUMA, RDMA devices, Intel RDT.
fn hardware() -> Vec<Check> {
    let mut out = Vec::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.push(
        if cpus >= 2 {
            Check::present("cpus", format!("{cpus} CPUs usable"))
        } else {
            Check::short(
                "cpus",
                Status::Limited,
                "1 CPU usable",
                "execCPUAffinity and cpuset limits have no other CPU to choose",
                "",
            )
        }
        .fact("count", cpus.to_string()),
    );
    out.push(if Path::new("/proc/self/numa_maps").exists() {
        Check::present("numa", "NUMA memory policies (/proc/self/numa_maps)")
    } else {
        Check::short(
            "numa",
            Status::Missing,
            "this kernel has no NUMA support (/proc/self/numa_maps)",
            "linux.memoryPolicy fails",
            "use a kernel built with CONFIG_NUMA, or leave it out",
        )
    });
    let rdma = std::fs::read_dir("/sys/class/infiniband")
        .map(|d| d.count())
        .unwrap_or(0);
    out.push(if rdma > 0 {
        Check::present("rdma-devices", format!("{rdma} RDMA devices"))
    } else {
        Check::short(
            "rdma-devices",
            Status::Missing,
            "no RDMA device (/sys/class/infiniband is empty)",
            "linux.resources.rdma limits name a device, so none can be set",
            "",
        )
    });
    out.push(if crate::linux::intelrdt::available() {
        Check::present("intel-rdt", "resctrl at /sys/fs/resctrl")
    } else {
        Check::short(
            "intel-rdt",
            Status::Missing,
            "no resctrl filesystem at /sys/fs/resctrl",
            "linux.intelRdt is refused",
            "on a CPU with RDT: mount -t resctrl resctrl /sys/fs/resctrl",
        )
    });
    out
}

/// `--probe`: one real container, created, started and deleted with the
/// `tong` binary at `tong`, in a private temporary state root and bundle
/// that are removed afterwards; the container's cgroup must be gone too.
pub fn round_trip(tong: &Path, rootless: bool, systemd: bool) -> Check {
    let id = format!("tong-check-{}", std::process::id());
    let dir = std::env::temp_dir().join(&id);
    let result = trip(tong, &dir, &id, rootless, systemd);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(cg) => Check::present(
            "round-trip",
            format!("created, started and deleted container {id}{cg}"),
        ),
        Err(e) => Check::short(
            "round-trip",
            Status::Missing,
            e,
            "tong could not run a container here",
            "run it again with --debug --log FILE on a `tong run` of your own",
        )
        .required(),
    }
}

fn trip(
    tong: &Path,
    dir: &Path,
    id: &str,
    rootless: bool,
    systemd: bool,
) -> Result<String, String> {
    let state = dir.join("state");
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| format!("mkdir {}: {e}", rootfs.display()))?;
    let mut globals: Vec<String> = vec!["--root".into(), state.display().to_string()];
    globals.push(format!("--rootless={rootless}"));
    if systemd {
        globals.push("--systemd-cgroup".into());
    }
    let run = |args: &[&str]| -> Result<(), String> {
        let log = dir.join("out");
        let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let e = f.try_clone().map_err(|e| e.to_string())?;
        let status = Command::new(tong)
            .args(&globals)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(e)
            .status()
            .map_err(|e| format!("{}: {e}", tong.display()))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!(
            "tong {}: {} ({status})",
            args.first().copied().unwrap_or(""),
            text.trim().replace('\n', " ")
        ))
    };
    run(&["spec", "--bundle", &bundle.display().to_string()])?;
    let cfg = bundle.join("config.json");
    let text = std::fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let mut c: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = serde_json::json!(["true"]);
    c["root"] = serde_json::json!({"path": "rootfs", "readonly": true});
    // The host's programs, read-only: `true` and its libraries.
    if let Some(mounts) = c["mounts"].as_array_mut() {
        for d in ["/bin", "/sbin", "/lib", "/lib64", "/usr"] {
            if Path::new(d).is_dir() {
                mounts.push(
                    serde_json::json!({"destination": d, "type": "bind", "source": d,
                    "options": ["rbind", "ro", "nosuid", "nodev"]}),
                );
                let _ = std::fs::create_dir_all(rootfs.join(&d[1..]));
            }
        }
    }
    let cg_path = if rootless {
        None
    } else if systemd {
        Some(format!("system.slice:tong-check:{id}"))
    } else {
        Some(format!("/{id}"))
    };
    if let Some(p) = &cg_path {
        c["linux"]["cgroupsPath"] = p.clone().into();
    }
    let text = serde_json::to_vec_pretty(&c).map_err(|e| e.to_string())?;
    std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let b = bundle.display().to_string();
    let steps = run(&["create", "--bundle", &b, id])
        .and_then(|()| run(&["start", id]))
        .and_then(|()| run(&["delete", "--force", id]));
    if steps.is_err() {
        let _ = run(&["delete", "--force", id]);
    }
    steps?;
    if run(&["state", id]).is_ok() {
        return Err(format!("{id} is still known after delete"));
    }
    // Nothing of the container's cgroup may stay.
    let cg = Cgroups::read();
    let left: Vec<PathBuf> = match (&cg_path, systemd) {
        (Some(p), false) => cg
            .mounts
            .iter()
            .map(|m| m.point.join(p.trim_start_matches('/')))
            .filter(|d| d.exists())
            .collect(),
        (Some(_), true) => cg
            .v2()
            .map(|m| m.point.join(format!("system.slice/tong-check-{id}.scope")))
            .filter(|d| d.exists())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    if let Some(d) = left.first() {
        return Err(format!("cgroup {} left behind after delete", d.display()));
    }
    Ok(match cg_path {
        Some(p) => format!(" (cgroup {p}, gone after delete)"),
        None => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let m = parse_cg_mount(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
        )
        .unwrap();
        assert!(!m.v2);
        assert_eq!(m.point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(m.opts.iter().any(|o| o == "cpuacct"));
        let m = parse_cg_mount("41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw")
            .unwrap();
        assert!(m.v2);
        assert_eq!(m.point, Path::new("/sys/fs/cgroup/uni fied"));
        assert!(parse_cg_mount("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw").is_none());
    }

    fn layout(mounts: &[(&str, bool, &str)]) -> Cgroups {
        Cgroups {
            mounts: mounts
                .iter()
                .map(|(p, v2, o)| CgMount {
                    point: p.into(),
                    v2: *v2,
                    opts: o.split(',').map(String::from).collect(),
                })
                .collect(),
            v2_controllers: vec!["cpu".into(), "memory".into(), "pids".into()],
            own_v2: None,
            kernel: vec![("cpu".into(), true), ("hugetlb".into(), false)],
        }
    }

    #[test]
    fn modes() {
        let v2 = layout(&[("/sys/fs/cgroup", true, "rw")]);
        assert_eq!(v2.mode(), "v2");
        assert_eq!(v2.mode_check().seal().status, Status::Present);
        let hy = layout(&[
            ("/sys/fs/cgroup/cpu", false, "rw,cpu"),
            ("/sys/fs/cgroup/unified", true, "rw"),
        ]);
        assert_eq!(hy.mode(), "hybrid");
        let c = hy.mode_check().seal();
        assert_eq!(c.status, Status::Limited);
        assert!(
            c.sentence.starts_with("cgroups: limited: cgroup hybrid"),
            "{}",
            c.sentence
        );
        assert_eq!(layout(&[]).mode_check().status, Status::Missing);
        assert!(layout(&[]).mode_check().required);
    }

    #[test]
    fn controllers_say_where_and_why_not() {
        let root = Caller {
            euid: 0,
            user: "root".into(),
            rootless: false,
            in_user_namespace: false,
        };
        let v2 = layout(&[("/sys/fs/cgroup", true, "rw")]);
        let c = v2.controller_checks(&root);
        let get = |id: &str| c.iter().find(|c| c.id == id).unwrap().clone().seal();
        assert_eq!(get("cgroup.memory").status, Status::Present);
        assert_eq!(get("cgroup.memory").facts["version"], "v2");
        let h = get("cgroup.hugetlb");
        assert_eq!(h.status, Status::Missing);
        assert!(h.sentence.contains("disabled at boot"), "{}", h.sentence);
        let io = get("cgroup.io");
        assert!(
            io.sentence.contains("not in this kernel"),
            "{}",
            io.sentence
        );
        // A rootless caller on v1 gets no limits.
        let user = Caller {
            euid: 1000,
            user: "alice".into(),
            rootless: true,
            in_user_namespace: false,
        };
        let v1 = layout(&[("/sys/fs/cgroup/cpu", false, "rw,cpu")]);
        let cpu = v1
            .controller_checks(&user)
            .into_iter()
            .find(|c| c.id == "cgroup.cpu")
            .unwrap();
        assert_eq!(cpu.status, Status::Limited);
        assert_eq!(cpu.facts["version"], "v1");
    }

    #[test]
    fn the_verdict_names_the_first_blocker() {
        let caller = Caller {
            euid: 0,
            user: "root".into(),
            rootless: false,
            in_user_namespace: false,
        };
        let ok = finish(caller.clone(), vec![Check::present("kernel", "Linux 6.1")]);
        assert!(ok.ok);
        assert!(ok
            .summary
            .starts_with("tong can run containers here (as root)"));
        let bad = finish(
            caller,
            vec![
                Check::present("kernel", "Linux 4.19"),
                Check::short(
                    "syscall.clone3",
                    Status::Missing,
                    "ENOSYS",
                    "no container",
                    "upgrade",
                )
                .required(),
            ],
        );
        assert!(!bad.ok);
        assert_eq!(
            bad.summary,
            "tong cannot run containers here (as root): syscall.clone3: missing: ENOSYS; no container; upgrade"
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("plain"), "plain");
    }
}
