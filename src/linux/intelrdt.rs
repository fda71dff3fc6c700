//! `linux.intelRdt`: cache and memory-bandwidth allocation through the
//! resctrl filesystem. tong places the container in an existing resctrl
//! group named by `closID`; making groups, writing schemata and monitoring
//! are refused by name, as is any use on a host without resctrl, so the
//! field is never dropped silently.

use crate::error::{Error, Result};
use oci_spec::runtime::LinuxIntelRdt;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/resctrl";
const RDTGROUP_SUPER_MAGIC: i64 = 0x7655821;

/// Whether resctrl is mounted where the kernel documents it.
#[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
pub fn available() -> bool {
    nix::sys::statfs::statfs(ROOT)
        .map(|s| s.filesystem_type().0 as i64 == RDTGROUP_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The resctrl group the container joins, or the error naming the field.
pub fn check(rdt: &LinuxIntelRdt) -> Result<PathBuf> {
    if !available() {
        return Err(Error::field(
            "/linux/intelRdt",
            format!(
                "Intel RDT needs the resctrl filesystem at {ROOT}, which this host does not have"
            ),
        ));
    }
    #[allow(deprecated)]
    let unsupported = [
        (
            "schemata",
            rdt.schemata().as_ref().is_some_and(|s| !s.is_empty()),
        ),
        ("l3CacheSchema", rdt.l3_cache_schema().is_some()),
        ("memBwSchema", rdt.mem_bw_schema().is_some()),
        ("enableMonitoring", *rdt.enable_monitoring() == Some(true)),
        ("enableCMT", *rdt.enable_cmt() == Some(true)),
        ("enableMBM", *rdt.enable_mbm() == Some(true)),
    ];
    for (field, set) in unsupported {
        if set {
            return Err(Error::field(
                format!("/linux/intelRdt/{field}"),
                "tong joins existing resctrl groups (closID) only; it does not write schemata or monitor",
            ));
        }
    }
    let clos = rdt.clos_id().as_deref().unwrap_or("");
    if clos.is_empty() || clos.contains('/') || clos == "." || clos == ".." {
        return Err(Error::field(
            "/linux/intelRdt/closID",
            format!("closID {clos:?} must name an existing group under {ROOT}"),
        ));
    }
    let dir = Path::new(ROOT).join(clos);
    if !dir.join("tasks").is_file() {
        return Err(Error::field(
            "/linux/intelRdt/closID",
            format!("no resctrl group {}", dir.display()),
        ));
    }
    Ok(dir)
}

/// Moves `pid` into the config's resctrl group.
pub fn apply(rdt: &LinuxIntelRdt, pid: nix::unistd::Pid) -> Result<()> {
    let dir = check(rdt)?;
    let tasks = dir.join("tasks");
    std::fs::write(&tasks, pid.as_raw().to_string()).map_err(|e| {
        Error::from(e)
            .context(format!("write {}", tasks.display()))
            .at("/linux/intelRdt/closID")
    })
}
