//! The host's services and security features: systemd, LSMs, seccomp,
//! criu, scheduling and hardware.

use super::*;

/// Whether a unix stream socket at `p` accepts a connection.
pub(super) fn reachable(p: &Path) -> Result<(), String> {
    std::os::unix::net::UnixStream::connect(p)
        .map(drop)
        .map_err(|e| format!("{}: {e}", p.display()))
}

pub(super) fn systemd(caller: &Caller) -> Check {
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
    // The bus the driver would use (DBUS_SYSTEM_BUS_ADDRESS included).
    let bus = crate::linux::cgroups::systemd::bus_path(caller.rootless);
    let which = if caller.rootless { "user" } else { "system" };
    match bus.map(|b| reachable(&b).map(|()| b)) {
        Ok(Ok(b)) => Check::present("systemd", format!("PID 1, {which} bus at {}", b.display())),
        Ok(Err(e)) => Check::short(
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
        Err(e) => Check::short(
            "systemd",
            Status::Limited,
            format!("PID 1, but {}", e.msg.trim_start_matches("systemd: ")),
            "--systemd-cgroup fails",
            if caller.rootless {
                "log in through a session that sets XDG_RUNTIME_DIR"
            } else {
                "set DBUS_SYSTEM_BUS_ADDRESS to unix:path=SOCKET, or unset it"
            },
        ),
    }
}

pub(super) fn lsms() -> Vec<Check> {
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

pub(super) fn seccomp() -> Vec<Check> {
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
        let lacking = crate::linux::seccomp::unsupported_flags();
        out.push(if lacking.is_empty() {
            Check::present(
                "seccomp-flags",
                format!(
                    "the kernel takes every filter flag tong knows ({})",
                    crate::linux::seccomp::known_flags().collect::<Vec<_>>().join(", ")
                ),
            )
        } else {
            let names: Vec<String> = lacking
                .iter()
                .map(|(n, since)| format!("{n} (Linux {since})"))
                .collect();
            Check::short(
                "seccomp-flags",
                Status::Limited,
                format!("the kernel refuses {}", names.join(", ")),
                "a config with it in linux.seccomp.flags is refused; `tong features` leaves it out of supportedFlags",
                "use a newer kernel, or leave the flag out",
            )
        });
    }
    out
}

/// criu: found and its version (cheap); `criu check` only when asked,
/// since it probes the kernel for a second or more.
pub(super) fn criu(bin: &str, check: bool) -> Check {
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
pub(super) fn sched_deadline(euid: u32) -> Check {
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

/// The propagation of `/` in tong's mount namespace (`mountinfo`: the text
/// of /proc/self/mountinfo). A container's rootfsPropagation `slave` makes
/// its `/` follow the host's, which needs a peer group there to follow:
/// on a private host `/` it stays private.
pub(super) fn root_propagation(mountinfo: &str) -> Check {
    // The last mount at / is the one on top.
    let root = mountinfo
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(left, _)| left))
        .rfind(|left| left.split(' ').nth(4) == Some("/"));
    let Some(left) = root else {
        return Check::short(
            "root-propagation",
            Status::Missing,
            "no mount at / in /proc/self/mountinfo",
            "linux.rootfsPropagation slave has no peer group to follow",
            "",
        );
    };
    let tags: Vec<&str> = left
        .split(' ')
        .skip(6)
        .filter(|t| t.starts_with("shared:") || t.starts_with("master:"))
        .collect();
    if tags.is_empty() {
        Check::short(
            "root-propagation",
            Status::Limited,
            "/ is a private mount (no shared: or master: in /proc/self/mountinfo)",
            "a container with linux.rootfsPropagation slave gets a private / that follows nothing",
            "mount --make-rshared / (systemd makes / shared at boot)",
        )
        .fact("propagation", "private")
    } else {
        let kind = if tags.iter().any(|t| t.starts_with("shared:")) {
            "shared"
        } else {
            "slave"
        };
        Check::present(
            "root-propagation",
            format!("/ is a {kind} mount ({})", tags.join(" ")),
        )
        .fact("propagation", kind)
    }
}

/// Hardware a few resources need: CPUs, NUMA, block and RDMA devices,
/// Intel RDT.
pub(super) fn hardware() -> Vec<Check> {
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
    // Loop devices come and go: they are no device to limit.
    let mut disks: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("loop"))
                .collect()
        })
        .unwrap_or_default();
    disks.sort();
    out.push(if disks.is_empty() {
        Check::short(
            "block-devices",
            Status::Missing,
            "no block device (/sys/block has none but loop devices)",
            "linux.resources.blockIO weightDevice and throttle limits name a device, so none can be set",
            "",
        )
    } else {
        Check::present(
            "block-devices",
            format!("{} in /sys/block", disks.join(" ")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_propagation_reads_the_top_mount_at_slash() {
        let private = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                       30 27 0:5 / /dev rw shared:2 - devtmpfs udev rw\n";
        let c = root_propagation(private).seal();
        assert_eq!(c.status, Status::Limited);
        assert_eq!(c.facts["propagation"], "private");
        assert!(
            c.sentence
                .starts_with("root-propagation: limited: / is a private mount"),
            "{}",
            c.sentence
        );
        // systemd's /: shared; a later mount over / is the one that counts.
        let shared = "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
        let c = root_propagation(shared).seal();
        assert_eq!(c.status, Status::Present);
        assert_eq!(c.found, "/ is a shared mount (shared:1)");
        let over = format!("{shared}90 25 0:50 / / rw master:7 - overlay o rw\n");
        assert_eq!(root_propagation(&over).facts["propagation"], "slave");
        let none = root_propagation("30 27 0:5 / /dev rw - devtmpfs udev rw\n");
        assert_eq!(none.status, Status::Missing);
    }
}
