//! The container's cgroup, on v1, v2 and hybrid hosts, through one
//! [`Manager`] whose driver (cgroupfs, systemd, or none for a rootless
//! container without delegation) only this module knows.
//!
//! Here: the host's hierarchies and the cgroup path of a container. The
//! cgroupfs driver is in `fs` (directories, processes, freezer) and `apply`
//! (resource writes); `resources` and `systemd::props` translate the spec,
//! purely; `stats` and `oom` read the cgroup for `events`.

mod apply;
pub mod devices_bpf;
mod fs;
mod manager;
mod oom;
pub mod resources;
pub mod stats;
pub mod systemd;

pub use apply::{attach_device_program, validate};
pub use fs::{add, join_self, open_procs, open_tasks, write_pid};
pub use manager::{Manager, PlaceOpts, Placement};
pub use oom::OomWatch;

use crate::error::{Context, Result};
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

/// The hierarchies of this host, as this process sees them. Read once per
/// process: a clone's child (another pid, maybe another cgroup namespace)
/// reads its own.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    cached(|pid| pid == std::process::id())
}

/// The hierarchies' mount points and options only: a clone's child shares
/// those with its parent (its mount namespace starts as a copy), so the
/// parent's list serves it and init need not read mountinfo again. Their
/// `own_path` may be the parent's.
pub fn hierarchy_mounts() -> Result<Vec<Hierarchy>> {
    cached(|_| true)
}

static CACHE: std::sync::Mutex<Option<(u32, Vec<Hierarchy>)>> = std::sync::Mutex::new(None);

/// The list read by a process that `usable` accepts, or read now.
fn cached(usable: impl Fn(u32) -> bool) -> Result<Vec<Hierarchy>> {
    if let Ok(c) = CACHE.lock() {
        if let Some((_, h)) = c.as_ref().filter(|(pid, _)| usable(*pid)) {
            return Ok(h.clone());
        }
    }
    let h = read_hierarchies()?;
    if let Ok(mut c) = CACHE.lock() {
        *c = Some((std::process::id(), h.clone()));
    }
    Ok(h)
}

/// The hierarchy holding `dir`.
fn hierarchy_of<'a>(hier: &'a [Hierarchy], dir: &Path) -> Option<&'a Hierarchy> {
    hier.iter()
        .filter(|h| dir.starts_with(&h.mountpoint))
        .max_by_key(|h| h.mountpoint.components().count())
}

fn read_hierarchies() -> Result<Vec<Hierarchy>> {
    let mi =
        crate::linux::sys::read_text("/proc/self/mountinfo").ctx("read /proc/self/mountinfo")?;
    let cg = crate::linux::sys::read_text("/proc/self/cgroup").ctx("read /proc/self/cgroup")?;
    let mut h = parse_hierarchies(&mi, &cg);
    // mountinfo also lists mounts that a later mount on top hides (a tmpfs
    // over /sys/fs/cgroup/unified): keep what is really there.
    h.retain(|h| {
        use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
        let want = if h.is_v2 {
            CGROUP2_SUPER_MAGIC
        } else {
            CGROUP_SUPER_MAGIC
        };
        statfs(&h.mountpoint).is_ok_and(|f| f.filesystem_type() == want)
    });
    Ok(h)
}

/// `path` cleaned lexically as if it started at `/` (Go's `filepath.Clean`
/// of `"/" + path`): `.` and empty names go, and `..` removes the name
/// before it but never climbs above the root. So a cleaned path joined onto
/// a hierarchy's mount point stays inside that hierarchy.
pub fn clean_path(path: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            n => names.push(n),
        }
    }
    format!("/{}", names.join("/"))
}

/// The cgroup path for a container: `linux.cgroupsPath` made absolute the way
/// runc does (relative paths hang below the runtime's own cgroup), or a
/// default under the `tong` parent. Always clean: see [`clean_path`].
pub fn container_path(cgroups_path: Option<&Path>, id: &str, own: &str) -> String {
    let p = cgroups_path.map(|p| p.to_string_lossy());
    match p.as_deref() {
        Some(p) if p.starts_with('/') => clean_path(p),
        // Cleaned on its own first, so that its `..` cannot eat into `own`.
        Some(p) if !p.is_empty() => clean_path(&format!("{own}/{}", clean_path(p))),
        _ => clean_path(&format!("/tong/{id}")),
    }
}

/// The cgroup path of a rootless container on a cgroup v2 only host,
/// runc's fs2 rule: an absolute `linux.cgroupsPath` as it is; a relative
/// one, or none (rootless podman with the cgroupfs manager gives none), next
/// to the runtime's own cgroup, i.e. below its parent, the delegated
/// subtree a user session gives (the runtime's own cgroup holds processes,
/// so the no-internal-process rule forbids controllers below it).
pub fn rootless_v2_path(cgroups_path: Option<&Path>, id: &str, own: &str) -> String {
    let p = cgroups_path.map(|p| p.to_string_lossy());
    match p.as_deref() {
        Some(p) if p.starts_with('/') => clean_path(p),
        p => {
            let name = p.filter(|p| !p.is_empty()).unwrap_or(id);
            let parent = Path::new(own)
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            clean_path(&format!("{parent}/{}", clean_path(name)))
        }
    }
}

/// The directories of one container's cgroup, one per hierarchy.
pub fn dirs_for(hier: &[Hierarchy], path: &str) -> Vec<PathBuf> {
    let path = clean_path(path);
    hier.iter()
        .map(|h| h.mountpoint.join(path.trim_start_matches('/')))
        .collect()
}

/// The container's cgroup directories with `exec --cgroup` specs applied.
fn sub_dirs(hier: &[Hierarchy], dirs: &[PathBuf], specs: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = dirs.to_vec();
    if specs.is_empty() {
        return Ok(out);
    }
    for spec in specs {
        let (ctrls, sub) = match spec.split_once(':') {
            Some((c, p)) => (Some(c.split(',').collect::<Vec<_>>()), p),
            None => (None, spec.as_str()),
        };
        // Cleaned lexically below the container's cgroup, as runc joins it:
        // `/a` is `a`, `a/../b` is `b`, and what climbs out is refused.
        let mut clean = PathBuf::new();
        for c in Path::new(sub).components() {
            match c {
                std::path::Component::Normal(n) => clean.push(n),
                std::path::Component::ParentDir if clean.pop() => {}
                std::path::Component::ParentDir => {
                    return Err(crate::error::Error::new(format!(
                        "{sub} is not a sub cgroup path"
                    )))
                }
                _ => {}
            }
        }
        let sub = clean.as_path();
        let mut matched = false;
        for (d, orig) in out.iter_mut().zip(dirs) {
            let name = hier
                .iter()
                .find(|h| orig.starts_with(&h.mountpoint))
                .and_then(|h| h.mountpoint.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let wanted = match &ctrls {
                None => true,
                Some(c) => name.split(',').any(|n| c.contains(&n)),
            };
            if wanted {
                *d = orig.join(sub);
                matched = true;
                if !d.is_dir() {
                    // runc's words (its open of cgroup.procs fails): "does
                    // not exist" would read to containerd as a missing container.
                    return Err(crate::error::Error::new(format!(
                        "exec: cgroup {}: no such file or directory",
                        d.display()
                    )));
                }
            }
        }
        if !matched {
            return Err(crate::error::Error::new(format!(
                "invalid --cgroup {spec:?}: no such controller"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_v2_paths_hang_next_to_the_runtime() {
        let own = "/user.slice/user-1000.slice/user@1000.service/user.slice/podman-1.scope";
        let parent = "/user.slice/user-1000.slice/user@1000.service/user.slice";
        assert_eq!(rootless_v2_path(None, "c1", own), format!("{parent}/c1"));
        assert_eq!(
            rootless_v2_path(Some(Path::new("")), "c1", own),
            format!("{parent}/c1")
        );
        assert_eq!(
            rootless_v2_path(Some(Path::new("a/../../b")), "c1", own),
            format!("{parent}/b")
        );
        assert_eq!(rootless_v2_path(Some(Path::new("/x/y")), "c1", own), "/x/y");
        assert_eq!(rootless_v2_path(None, "c1", "/"), "/c1");
    }

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
    fn cleaning_never_climbs_above_the_root() {
        assert_eq!(clean_path("/../../../../tmp/x"), "/tmp/x");
        assert_eq!(clean_path("a/./b//../c/"), "/a/c");
        assert_eq!(clean_path(".."), "/");
        assert_eq!(clean_path(""), "/");
        let own = "/own";
        let c = |p: &str| container_path(Some(Path::new(p)), "c", own);
        assert_eq!(c("/../../../../tmp/x"), "/tmp/x");
        assert_eq!(c("/a/../../b"), "/b");
        // A relative path cannot eat into the runtime's own cgroup.
        assert_eq!(c("../../../x"), "/own/x");
        assert_eq!(c("x/../../y"), "/own/y");
        // /proc/self/cgroup shows `..` for cgroups outside a cgroup namespace.
        assert_eq!(
            container_path(Some(Path::new("x")), "c", "/../../up"),
            "/up/x"
        );
        let h = parse_hierarchies(MOUNTINFO, SELF);
        for p in ["/../../../etc", "../../..", "/a/../../../.."] {
            for (d, h) in dirs_for(&h, &c(p)).iter().zip(&h) {
                assert!(
                    fs::is_plain(d) && d.starts_with(&h.mountpoint),
                    "{p}: {d:?}"
                );
            }
        }
        // dirs_for cleans whatever it is given.
        assert_eq!(
            dirs_for(&h, "/../../../tmp/x")[3],
            Path::new("/sys/fs/cgroup/memory/tmp/x")
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
