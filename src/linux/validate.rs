//! The checks of a config that need this host or a mechanism of `linux/`:
//! namespace paths, LSMs, scheduling, idmapped and other mount options,
//! memory policy, network device names, Intel RDT, cgroup resources and
//! rootfs propagation. `spec::validate` checks what the config says by
//! itself and never imports from here; container/ runs [`check_host`]
//! right after loading a bundle, so both still run before anything is made.
//! The errors name their field as before; within this step they keep the
//! order they had when `spec::validate` made them.

use crate::error::{Error, Result};
use oci_spec::runtime::{Process, Spec};

/// Checks a config that `spec::validate` accepted against this host.
pub fn check_host(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        check_process(p, "/process")?;
    }
    // Parses every mount's options too (errors at `/mounts/<i>/options`).
    super::rootfs::idmap::wanted(spec)?;
    // The kernel is asked only when a mount needs the call.
    if let Some((at, msg)) = needs_mount_setattr(spec, &kernel_release) {
        if super::sys::probe_mount_setattr() == Some(nix::errno::Errno::ENOSYS) {
            return Err(Error::field(at, msg));
        }
    }
    if let Some(linux) = spec.linux() {
        if let Some(m) = linux.memory_policy() {
            super::sched::mempolicy(m, "/linux/memoryPolicy")?;
        }
        for (host, d) in linux.net_devices().iter().flatten() {
            super::netdev::check_name(host)
                .map_err(|m| Error::field(format!("/linux/netDevices/{host}"), m))?;
            if let Some(n) = d.name().as_deref() {
                super::netdev::check_name(n)
                    .map_err(|m| Error::field(format!("/linux/netDevices/{host}/name"), m))?;
            }
        }
        if let Some(rdt) = linux.intel_rdt() {
            super::intelrdt::check(rdt)?;
        }
    }
    for (i, typ, path) in crate::spec::namespaces(spec) {
        if let Some(p) = path {
            super::namespaces::check_path(&p, typ)
                .map_err(|e| e.at(format!("/linux/namespaces/{i}/path")))?;
        }
    }
    if let Some(linux) = spec.linux() {
        if let Some(r) = linux.resources() {
            super::cgroups::validate(r)?;
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !p.is_empty() && super::rootfs::propagation_flag(p).is_none() {
                return Err(Error::field(
                    "/linux/rootfsPropagation",
                    format!("invalid rootfs propagation {p:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// On a kernel without mount_setattr(2) (before Linux 5.12, e.g. 5.10):
/// the first mount asking for what only that call does — an idmapped mount
/// (`idmap`, `ridmap`, uidMappings) or a recursive attribute (`rro`,
/// `rnosuid`, …) — as its field and a message naming the missing call, so
/// the config is refused before anything is made rather than failing with
/// ENOSYS inside the init. The same sentence as `tong check`'s
/// syscall.mount_api line gives the cause.
fn needs_mount_setattr(spec: &Spec, kernel: &dyn Fn() -> String) -> Option<(String, String)> {
    let lacks = || {
        format!(
            "needs mount_setattr(2) (Linux 5.12), which this kernel (Linux {}) does not have: \
             use Linux 5.12 or later, or leave it out",
            kernel()
        )
    };
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = m.options().as_deref().unwrap_or(&[]);
        if let Some(o) = opts
            .iter()
            .find(|o| matches!(o.as_str(), "idmap" | "ridmap"))
        {
            return Some((
                format!("/mounts/{i}/options"),
                format!("option {o:?}: an idmapped mount {}", lacks()),
            ));
        }
        if m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty()) {
            return Some((
                format!("/mounts/{i}/uidMappings"),
                format!("an idmapped mount {}", lacks()),
            ));
        }
        if let Some(o) = opts
            .iter()
            .find(|o| super::rootfs::options::is_recursive_attr(o))
        {
            return Some((
                format!("/mounts/{i}/options"),
                format!("option {o:?}: a recursive mount attribute {}", lacks()),
            ));
        }
    }
    None
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Checks a process (from config.json or `exec`) that
/// `spec::validate_process` accepted; `at` is its JSON pointer.
pub fn check_process(process: &Process, at: &str) -> Result<()> {
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !super::lsm::apparmor_enabled() {
            return Err(Error::field(
                format!("{at}/apparmorProfile"),
                format!("apparmor profile {p:?} is set but AppArmor is not enabled in this kernel"),
            ));
        }
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !super::lsm::selinux_enabled()
    {
        return Err(Error::field(
            format!("{at}/selinuxLabel"),
            "selinux label is specified in config, but selinux is disabled or not supported",
        ));
    }
    super::sched::validate(process, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What create does with a config: both steps.
    fn check(v: serde_json::Value) -> Result<()> {
        let spec: Spec = crate::spec::from_json(v.to_string().as_bytes(), "config.json")?;
        crate::spec::validate(&spec)?;
        check_host(&spec)
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
        })
    }

    #[test]
    fn namespace_path_must_be_namespace() {
        let mut v = base();
        v["linux"]["namespaces"][1]["path"] = "/etc/hostname".into();
        let e = check(v).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/linux/namespaces/1/path"));
    }

    fn spec_of(v: serde_json::Value) -> Spec {
        crate::spec::from_json(v.to_string().as_bytes(), "config.json").unwrap()
    }

    /// On a kernel without mount_setattr each option that needs it is named
    /// with its field and the missing call; plain mounts pass.
    #[test]
    fn mounts_needing_mount_setattr_are_named() {
        let five_ten = || "5.10.0-46-amd64".to_owned();
        let mut v = base();
        v["mounts"] = serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind", "ro", "rprivate"]}
        ]);
        assert_eq!(needs_mount_setattr(&spec_of(v.clone()), &five_ten), None);
        for (opts, maps, field, word) in [
            (
                vec!["rbind", "rro"],
                false,
                "/mounts/1/options",
                "\"rro\": a recursive mount attribute",
            ),
            (
                vec!["bind", "rnosuid"],
                false,
                "/mounts/1/options",
                "\"rnosuid\": a recursive",
            ),
            (
                vec!["bind", "idmap"],
                false,
                "/mounts/1/options",
                "\"idmap\": an idmapped mount",
            ),
            (
                vec!["rbind", "ridmap"],
                false,
                "/mounts/1/options",
                "\"ridmap\": an idmapped mount",
            ),
            (
                vec!["bind"],
                true,
                "/mounts/1/uidMappings",
                "an idmapped mount",
            ),
        ] {
            let mut w = v.clone();
            w["mounts"][1]["options"] = serde_json::json!(opts);
            if maps {
                let m = serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                w["mounts"][1]["uidMappings"] = m.clone();
                w["mounts"][1]["gidMappings"] = m;
            }
            let (at, msg) = needs_mount_setattr(&spec_of(w), &five_ten)
                .unwrap_or_else(|| panic!("{opts:?} not refused"));
            assert_eq!(at, field, "{opts:?}");
            assert!(msg.contains(word), "{opts:?}: {msg}");
            assert!(
                msg.contains("mount_setattr(2) (Linux 5.12)")
                    && msg.contains("Linux 5.10.0-46-amd64"),
                "{msg}"
            );
        }
    }
}

/// A probe of one syscall: ENOSYS where the kernel lacks it.
type Probe = fn() -> Option<nix::errno::Errno>;

/// The calls every container process needs, each with the Linux release
/// that added it; close_range, the newest, first.
const NEEDED_CALLS: [(&str, Probe, &str); 3] = [
    ("close_range(2)", super::sys::probe_close_range, "5.9"),
    ("clone3(2)", super::sys::probe_clone3, "5.3"),
    ("pidfd_open(2)", super::sys::probe_pidfd_open, "5.3"),
];

/// Refuses, before anything is made, a kernel (or a seccomp filter around
/// tong) without the calls tong makes no fallback for: the error names each
/// missing call and the release that added it, not the first syscall's bare
/// "function not implemented" halfway through a create.
pub fn require_kernel() -> Result<()> {
    use nix::errno::Errno;
    // One syscall on every kernel that has them all.
    if NEEDED_CALLS[0].1() != Some(Errno::ENOSYS) {
        return Ok(());
    }
    let missing: Vec<String> = NEEDED_CALLS
        .iter()
        .filter(|(_, probe, _)| probe() == Some(Errno::ENOSYS))
        .map(|(call, _, since)| format!("{call} (Linux {since})"))
        .collect();
    Err(Error::new(missing_calls_message(
        &missing,
        &kernel_release(),
        seccomp_filtered(),
    )))
}

/// Whether this process runs under a seccomp filter (`Seccomp: 2`), which
/// can make a call the kernel has fail with ENOSYS (Docker's older default
/// profile does this to clone3).
fn seccomp_filtered() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.strip_prefix("Seccomp:").is_some_and(|m| m.trim() == "2"))
    })
}

fn missing_calls_message(missing: &[String], release: &str, filtered: bool) -> String {
    let who = if filtered {
        format!("this kernel (Linux {release}) or the seccomp filter tong runs under")
    } else {
        format!("this kernel (Linux {release})")
    };
    format!(
        "{who} does not have {}: tong needs Linux 5.9 or later (the oldest it is tested on is 5.10)",
        missing.join(", ")
    )
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    #[test]
    fn names_each_missing_call_its_release_and_a_filter() {
        let m = missing_calls_message(
            &[
                "close_range(2) (Linux 5.9)".into(),
                "clone3(2) (Linux 5.3)".into(),
            ],
            "4.19.0-27-amd64",
            false,
        );
        assert_eq!(
            m,
            "this kernel (Linux 4.19.0-27-amd64) does not have close_range(2) (Linux 5.9), \
             clone3(2) (Linux 5.3): tong needs Linux 5.9 or later (the oldest it is tested on is 5.10)"
        );
        let f = missing_calls_message(&["clone3(2) (Linux 5.3)".into()], "6.1.0", true);
        assert!(f.contains("or the seccomp filter tong runs under"), "{f}");
    }

    #[test]
    fn this_kernel_has_every_call() {
        require_kernel().unwrap();
    }
}
