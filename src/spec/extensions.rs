//! Checks of the runtime-spec 1.2/1.3 fields of `linux` and `mounts`
//! (idmapped mounts, memory policy, network devices, Intel RDT), so that a
//! field tong cannot honour is refused by name before anything is made.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub fn validate(spec: &Spec) -> Result<()> {
    crate::linux::rootfs::idmap::wanted(spec)?;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(m) = linux.memory_policy() {
        crate::linux::sched::mempolicy(m, "/linux/memoryPolicy")?;
    }
    if let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        let netns = crate::spec::namespaces(spec)
            .iter()
            .any(|(_, t, _)| *t == LinuxNamespaceType::Network);
        if !netns {
            return Err(Error::field(
                "/linux/netDevices",
                "network devices can only be moved into a network namespace of the container's own",
            ));
        }
        for (host, d) in devs {
            crate::linux::netdev::check_name(host)
                .map_err(|m| Error::field(format!("/linux/netDevices/{host}"), m))?;
            if let Some(n) = d.name().as_deref() {
                crate::linux::netdev::check_name(n)
                    .map_err(|m| Error::field(format!("/linux/netDevices/{host}/name"), m))?;
            }
        }
    }
    if let Some(rdt) = linux.intel_rdt() {
        crate::linux::intelrdt::check(rdt)?;
    }
    Ok(())
}
