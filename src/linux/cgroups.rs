//! Placing the container in its cgroup, on v1, v2 and hybrid hosts.
//!
//! This is the placement part of the cgroup drivers (create, join, list,
//! remove); resource limits build on it.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// A mounted cgroup hierarchy as the runtime sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// Superblock options naming the hierarchy: `cpu`, `name=systemd`, … (v1).
    pub options: String,
    pub is_v2: bool,
    /// This process's cgroup path within the hierarchy.
    pub own_path: String,
}

impl Hierarchy {
    /// Where this hierarchy goes under a container's cgroup mount.
    pub fn dest_in(&self, dest: &Path) -> PathBuf {
        dest.join(self.mountpoint.file_name().unwrap_or_default())
    }
}

const V1_NON_CONTROLLER: &[&str] = &[
    "rw",
    "ro",
    "relatime",
    "noatime",
    "nosuid",
    "nodev",
    "noexec",
    "xattr",
    "clone_children",
    "noprefix",
];

/// Parses mountinfo and /proc/self/cgroup into the host's hierarchies.
pub fn parse_hierarchies(mountinfo: &str, self_cgroup: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let mountpoint = PathBuf::from(l[4]);
        let (is_v2, options) = match r[0] {
            "cgroup2" => (true, String::new()),
            "cgroup" => (
                false,
                r[2].split(',')
                    .filter(|o| !V1_NON_CONTROLLER.contains(o) && !o.starts_with("release_agent"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => continue,
        };
        // Only the first mount of a hierarchy counts (bind mounts repeat it).
        if out
            .iter()
            .any(|h: &Hierarchy| h.is_v2 == is_v2 && h.options == options)
        {
            continue;
        }
        let own_path = self_cgroup
            .lines()
            .filter_map(|c| {
                let mut it = c.splitn(3, ':');
                let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
                Some((ctrl, path))
            })
            .find(|(ctrl, _)| {
                if is_v2 {
                    ctrl.is_empty()
                } else {
                    let mut a: Vec<&str> = ctrl.split(',').collect();
                    let mut b: Vec<&str> = options.split(',').collect();
                    a.sort_unstable();
                    b.sort_unstable();
                    a == b
                }
            })
            .map(|(_, p)| p.to_owned())
            .unwrap_or_else(|| "/".into());
        out.push(Hierarchy {
            mountpoint,
            options,
            is_v2,
            own_path,
        });
    }
    out
}

/// The hierarchies of this host, as this process sees them.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ctx("read /proc/self/mountinfo")?;
    let cg = std::fs::read_to_string("/proc/self/cgroup").ctx("read /proc/self/cgroup")?;
    Ok(parse_hierarchies(&mi, &cg))
}

/// The cgroup path for a container: `linux.cgroupsPath` made absolute the way
/// runc does (relative paths hang below the runtime's own cgroup), or a
/// default under the `tong` parent.
pub fn container_path(cgroups_path: Option<&Path>, id: &str, own: &str) -> String {
    match cgroups_path {
        Some(p) if p.is_absolute() => p.to_string_lossy().into_owned(),
        Some(p) if !p.as_os_str().is_empty() => {
            format!("{}/{}", own.trim_end_matches('/'), p.to_string_lossy())
        }
        _ => format!("/tong/{id}"),
    }
}

/// The directories of one container's cgroup, one per hierarchy.
pub fn dirs_for(hier: &[Hierarchy], path: &str) -> Vec<PathBuf> {
    hier.iter()
        .map(|h| h.mountpoint.join(path.trim_start_matches('/')))
        .collect()
}

/// Creates the directories; a cpuset directory inherits its parent's cpus and mems
/// (v1 refuses tasks in an empty cpuset).
pub fn create(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        std::fs::create_dir_all(d).ctx(format!("mkdir {}", d.display()))?;
        if d.join("cpuset.cpus").exists() && !d.join("cgroup.controllers").exists() {
            fill_cpuset(d)?;
        }
    }
    Ok(())
}

fn fill_cpuset(dir: &Path) -> Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = std::fs::read_to_string(dir.join(f)).ctx(format!("read {f}"))?;
        if cur.trim().is_empty() {
            if let Some(parent) = dir.parent() {
                if parent.join(f).exists() {
                    fill_cpuset(parent)?;
                    let v = std::fs::read_to_string(parent.join(f)).ctx(format!("read {f}"))?;
                    std::fs::write(dir.join(f), v.trim())
                        .ctx(format!("write {}", dir.join(f).display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Moves a process into every directory.
pub fn add(dirs: &[PathBuf], pid: Pid) -> Result<()> {
    for d in dirs {
        let f = d.join("cgroup.procs");
        std::fs::write(&f, pid.as_raw().to_string()).ctx(format!("write {}", f.display()))?;
    }
    Ok(())
}

/// The pids in the container's cgroup.
pub fn procs(dirs: &[PathBuf]) -> Result<Vec<Pid>> {
    let mut out = Vec::new();
    // The pids or freezer hierarchy has every task; any will do if those are absent.
    let dir = dirs
        .iter()
        .find(|d| d.join("pids.max").exists() || d.join("freezer.state").exists())
        .or(dirs.first());
    if let Some(d) = dir {
        let s = std::fs::read_to_string(d.join("cgroup.procs"))
            .ctx(format!("read {}", d.join("cgroup.procs").display()))?;
        out.extend(
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .map(Pid::from_raw),
        );
    }
    Ok(out)
}

/// Removes the directories. A cgroup whose last task has just exited can be
/// busy for a moment, so EBUSY is retried a bounded number of times.
pub fn destroy(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        // Sub-cgroups (made by `exec --cgroup` users or the workload) go first.
        if let Ok(rd) = std::fs::read_dir(d) {
            let subs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            destroy(&subs)?;
        }
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(d).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            {
                Ok(()) | Err(Errno::ENOENT) => break,
                Err(Errno::EBUSY) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(Error::sys(format!("remove cgroup {}", d.display()), e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory
";
    const SELF: &str = "4:memory:/user\n3:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n";

    #[test]
    fn parses_hybrid() {
        let h = parse_hierarchies(MOUNTINFO, SELF);
        assert_eq!(h.len(), 4);
        assert!(h[0].is_v2 && h[0].own_path == "/u");
        assert_eq!(h[1].options, "name=systemd");
        assert_eq!(h[1].own_path, "/s");
        assert_eq!(h[2].options, "cpu,cpuacct");
        assert_eq!(h[2].own_path, "/a");
        assert_eq!(h[3].own_path, "/user");
        assert_eq!(
            h[2].dest_in(Path::new("/sys/fs/cgroup")),
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
    }

    #[test]
    fn paths_like_runc() {
        assert_eq!(container_path(Some(Path::new("/x/y")), "c", "/own"), "/x/y");
        assert_eq!(
            container_path(Some(Path::new("x/y")), "c", "/own"),
            "/own/x/y"
        );
        assert_eq!(container_path(None, "c", "/own"), "/tong/c");
        let h = parse_hierarchies(MOUNTINFO, SELF);
        assert_eq!(dirs_for(&h, "/x")[3], Path::new("/sys/fs/cgroup/memory/x"));
    }
}
