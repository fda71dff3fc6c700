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
}
