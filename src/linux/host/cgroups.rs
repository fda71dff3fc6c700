//! The cgroup lines of the report: the layout, each controller, and what
//! a rootless caller has delegated to it.

use super::*;

/// A cgroup filesystem in this mount namespace.
#[derive(Debug, Clone)]
pub(super) struct CgMount {
    pub(super) point: PathBuf,
    pub(super) v2: bool,
    /// A v1 hierarchy's controllers (and `name=…`), from its options.
    pub(super) opts: Vec<String>,
}

// What each controller gives a container, for the lines that lack it.
pub(super) const CPU: &str = "CPU limits (linux.resources.cpu)";
pub(super) const CPUSET: &str = "CPU and memory-node pinning (linux.resources.cpu.cpus, mems)";
pub(super) const MEMORY: &str = "memory limits (linux.resources.memory)";
pub(super) const BLKIO: &str = "block I/O limits (linux.resources.blockIO)";
pub(super) const PIDS: &str = "process-count limits (linux.resources.pids)";
pub(super) const HUGETLB: &str = "hugepage limits (linux.resources.hugepageLimits)";
pub(super) const RDMA: &str = "RDMA limits (linux.resources.rdma)";

/// The cgroup layout as /proc/self/mountinfo and /proc/self/cgroup show it.
#[derive(Debug, Clone)]
pub(super) struct Cgroups {
    pub(super) mounts: Vec<CgMount>,
    /// The unified hierarchy's controllers (its root's cgroup.controllers).
    pub(super) v2_controllers: Vec<String>,
    /// The caller's own cgroup v2 directory.
    pub(super) own_v2: Option<PathBuf>,
    /// Controllers the kernel has and has not disabled (/proc/cgroups).
    pub(super) kernel: Vec<(String, bool)>,
}

impl Cgroups {
    pub(super) fn read() -> Cgroups {
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

    pub(super) fn v1(&self) -> impl Iterator<Item = &CgMount> {
        self.mounts.iter().filter(|m| !m.v2)
    }

    pub(super) fn v2(&self) -> Option<&CgMount> {
        self.mounts.iter().find(|m| m.v2)
    }

    pub(super) fn v1_mount(&self, ctl: &str) -> Option<&CgMount> {
        self.v1().find(|m| m.opts.iter().any(|o| o == ctl))
    }

    /// `v1`, `hybrid` (v1 hierarchies and a cgroup2), `v2` or `none`.
    pub(super) fn mode(&self) -> &'static str {
        match (self.v1().next().is_some(), self.v2().is_some()) {
            (true, true) => "hybrid",
            (true, false) => "v1",
            (false, true) => "v2",
            (false, false) => "none",
        }
    }

    pub(super) fn mode_check(&self) -> Check {
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
    pub(super) fn controller_checks(&self, caller: &Caller) -> Vec<Check> {
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
                (
                    "net_cls",
                    "network class ids (linux.resources.network.classID)",
                ),
                (
                    "net_prio",
                    "network priorities (linux.resources.network.priorities)",
                ),
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
    pub(super) fn delegation(&self, euid: u32) -> Option<(PathBuf, Vec<String>)> {
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
    pub(super) fn v2_child_with(&self, file: &str) -> Option<PathBuf> {
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
    pub(super) fn resource_checks(&self) -> Vec<Check> {
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
        // cpu.idle (SCHED_IDLE for a whole group): Linux 5.15, so not on
        // Debian 11's 5.10. Non-root groups only: a child with the cpu
        // controller shows whether the kernel has it.
        let cpu_dir = if v2 {
            self.v2_child_with("cpu.weight")
        } else {
            self.v1_mount("cpu").map(|m| m.point.clone())
        };
        out.push(match cpu_dir {
            Some(d) if d.join("cpu.idle").exists() => Check::present("cpu-idle", "cpu.idle"),
            Some(_) => Check::short(
                "cpu-idle",
                Status::Missing,
                "no cpu.idle in the cpu controller (Linux 5.15 added it)",
                "linux.resources.cpu.idle cannot be applied: a config that sets it fails",
                "use Linux 5.15 or later, or leave it out",
            ),
            None => Check::short(
                "cpu-idle",
                Status::Missing,
                "no cgroup with the cpu controller to look for cpu.idle in",
                "linux.resources.cpu.idle cannot be applied: a config that sets it fails",
                "enable the cpu controller",
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
pub(super) fn on_v2(ctl: &str) -> &str {
    match ctl {
        "blkio" => "io",
        "cpuacct" => "cpu",
        c => c,
    }
}

pub(super) fn parse_cg_mount(l: &str) -> Option<CgMount> {
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
pub(super) fn unescape(s: &str) -> String {
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
pub(super) fn rootless_checks(caller: &Caller, cg: &Cgroups, root_given: bool) -> Vec<Check> {
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
