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

mod cgroups;
mod round_trip;
mod services;
use cgroups::*;
pub use round_trip::round_trip;
use services::*;

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
    checks.push(root_propagation(
        &sys::read_text("/proc/self/mountinfo").unwrap_or_default(),
    ));
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
        let missing = match (exists(tree), exists(setattr)) {
            (false, false) => "open_tree and mount_setattr",
            (false, true) => "open_tree",
            _ => "mount_setattr",
        };
        Check::short(
            "syscall.mount_api",
            Status::Limited,
            format!("no {missing} in this kernel (ENOSYS; Linux 5.12 has both)"),
            "a config with an idmapped mount or a recursive mount attribute (rro, rnosuid, …) is refused",
            "use Linux 5.12 or later, or leave those options out",
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
            if sys::probe_mount_setattr() == Some(Errno::ENOSYS) {
                "no mount_setattr in this kernel (ENOSYS; Linux 5.12 added it)"
            } else {
                "mount_setattr(MOUNT_ATTR_IDMAP) is refused"
            },
            "mounts with uidMappings/gidMappings or the idmap option fail",
            "use Linux 5.12 or later (5.19+ for most filesystems)",
        )
    }
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
        // net_cls and net_prio are v1 lines only: v2 has no such controller
        // (tong ignores linux.resources.network there, as runc does).
        let has = |c: &Cgroups, id: &str| c.controller_checks(&root).iter().any(|c| c.id == id);
        assert!(has(&v1, "cgroup.net_cls") && has(&v1, "cgroup.net_prio"));
        assert!(!has(&v2, "cgroup.net_cls"));
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
