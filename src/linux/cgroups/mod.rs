//! Placing the container in its cgroup, on v1, v2 and hybrid hosts.
//!
//! This is the placement part of the cgroup drivers (create, join, list,
//! remove); resource limits build on it.

pub mod devices_bpf;
pub mod resources;
pub mod stats;
pub mod systemd;

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

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
    static CACHE: std::sync::Mutex<Option<(u32, Vec<Hierarchy>)>> = std::sync::Mutex::new(None);
    let me = std::process::id();
    if let Ok(c) = CACHE.lock() {
        if let Some((_, h)) = c.as_ref().filter(|(pid, _)| *pid == me) {
            return Ok(h.clone());
        }
    }
    let h = read_hierarchies()?;
    if let Ok(mut c) = CACHE.lock() {
        *c = Some((me, h.clone()));
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

fn is_cgroupfs(s: &nix::sys::statfs::Statfs) -> bool {
    is_cgroup_magic(s.filesystem_type())
}

/// A path with no `..` (nor `.`) in it, so it means what it says.
fn is_plain(d: &Path) -> bool {
    d.is_absolute()
        && d.components()
            .all(|c| !matches!(c, Component::ParentDir | Component::CurDir))
}

fn not_a_cgroup(d: &Path) -> Error {
    Error::new(format!(
        "{} is not a cgroup: refusing to use it as the container's cgroup",
        d.display()
    ))
}

/// Checks that `d` is a container's cgroup directory: named without `..`, on
/// a cgroup filesystem, and not the root of its hierarchy. The directories a
/// state file names are checked before use, since such a file may come from
/// an older tong (which followed `..` out of the cgroup mount) or be edited.
///
/// A directory that passed is remembered for the rest of this process, so
/// that a command walking the same directories several times (delete:
/// kill, freezer, removal) checks each once.
pub fn check_dir(d: &Path) -> Result<()> {
    static PASSED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let known = |d: &Path| PASSED.lock().is_ok_and(|p| p.iter().any(|k| k == d));
    if known(d) {
        return Ok(());
    }
    check_dir_now(d)?;
    if let Ok(mut p) = PASSED.lock() {
        p.push(d.to_path_buf());
    }
    Ok(())
}

fn check_dir_now(d: &Path) -> Result<()> {
    if !is_plain(d) {
        return Err(not_a_cgroup(d));
    }
    let fs = nix::sys::statfs::statfs(d).ctx(format!("statfs {}", d.display()))?;
    if !is_cgroupfs(&fs) {
        return Err(not_a_cgroup(d));
    }
    let dev = |p: &Path| nix::sys::stat::stat(p).map(|s| s.st_dev);
    let parent = d.parent().unwrap_or(d);
    if parent == d || dev(d).ctx(format!("stat {}", d.display()))? != dev(parent).unwrap_or(0) {
        return Err(Error::new(format!(
            "{} is the root of a cgroup hierarchy, not a container's cgroup",
            d.display()
        )));
    }
    Ok(())
}

/// [`check_dir`] for each directory.
pub fn check_dirs(dirs: &[PathBuf]) -> Result<()> {
    dirs.iter().try_for_each(|d| check_dir(d))
}

/// Creates the directories; a cpuset directory inherits its parent's cpus and mems
/// (v1 refuses tasks in an empty cpuset).
///
/// Another runtime may remove an empty shared parent (its last container
/// went away) between our mkdir of it and our writes into it; the leaf then
/// does not exist yet, and creating the whole path again is safe.
pub fn create(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        let mut attempt = 0;
        loop {
            match create_one(d) {
                Err(_) if attempt < 8 && !d.exists() => attempt += 1,
                r => break r?,
            }
        }
    }
    Ok(())
}

/// Creates `d` and any missing parents one name at a time, each with
/// mkdirat in a directory already opened and checked to be on a cgroup
/// filesystem, and opened again without following symlinks: nothing is
/// made or entered outside the hierarchy, whatever the path says.
fn create_one(d: &Path) -> Result<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    if !is_plain(d) {
        return Err(not_a_cgroup(d));
    }
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // Usually the parent exists (a shared parent like `tong`): start there;
    // else at the nearest directory that exists.
    let (base, mut fd) = match d
        .parent()
        .map(|p| (p, nix::fcntl::open(p, dir_flags, Mode::empty())))
    {
        Some((p, Ok(fd))) => (p, fd),
        _ => {
            let Some(base) = d.ancestors().find(|a| a.exists()) else {
                return Err(not_a_cgroup(d));
            };
            if base == d {
                // An existing cgroup (a shared parent, or joined on purpose).
                return check_dir(d);
            }
            let fd = nix::fcntl::open(base, dir_flags, Mode::empty())
                .ctx(format!("open {}", base.display()))?;
            (base, fd)
        }
    };
    let missing: Vec<&std::ffi::OsStr> = d
        .strip_prefix(base)
        .map(|rest| rest.iter().collect())
        .unwrap_or_default();
    let fs_type = |fd: &OwnedFd| nix::sys::statfs::fstatfs(fd).map(|s| s.filesystem_type());
    let v1 = match fs_type(&fd) {
        Ok(t) if t == nix::sys::statfs::CGROUP_SUPER_MAGIC => true,
        Ok(t) if t == nix::sys::statfs::CGROUP2_SUPER_MAGIC => false,
        _ => return Err(not_a_cgroup(d)),
    };
    // v1 refuses tasks in an empty cpuset.
    let cpuset = v1 && base.join("cpuset.cpus").exists();
    let mut cur = base.to_path_buf();
    for (i, name) in missing.iter().enumerate() {
        cur.push(name);
        let is_leaf = i + 1 == missing.len();
        let made = match nix::sys::stat::mkdirat(&fd, *name, Mode::from_bits_truncate(0o755)) {
            Ok(()) => true,
            // An existing cgroup (a shared parent, or joined on purpose).
            Err(Errno::EEXIST) if is_leaf => return check_dir(d),
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(Error::sys(format!("mkdir {}", cur.display()), e)),
        };
        if !is_leaf {
            // What we go on in must be a cgroup (not something mounted or
            // planted there): made by us in one, or checked.
            fd = openat(&fd, *name, dir_flags, Mode::empty())
                .ctx(format!("open {}", cur.display()))?;
            if !made && !fs_type(&fd).is_ok_and(is_cgroup_magic) {
                return Err(not_a_cgroup(&cur));
            }
        }
        // v1 refuses tasks in an empty cpuset. The parents we create get
        // cgroup.clone_children, so later containers inherit cpus and mems
        // at mkdir instead of paying for cpuset writes (each rebuilds
        // scheduler domains).
        if cpuset && (made || is_leaf) {
            fill_cpuset(&cur)?;
            if made && !is_leaf {
                let _ = std::fs::write(cur.join("cgroup.clone_children"), "1");
            }
        }
    }
    Ok(())
}

fn is_cgroup_magic(t: nix::sys::statfs::FsType) -> bool {
    t == nix::sys::statfs::CGROUP_SUPER_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
}

fn fill_cpuset(dir: &Path) -> Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = crate::linux::sys::read_text(dir.join(f)).ctx(format!("read {f}"))?;
        if cur.trim().is_empty() {
            if let Some(parent) = dir.parent() {
                if parent.join(f).exists() {
                    fill_cpuset(parent)?;
                    let v =
                        crate::linux::sys::read_text(parent.join(f)).ctx(format!("read {f}"))?;
                    std::fs::write(dir.join(f), v.trim())
                        .ctx(format!("write {}", dir.join(f).display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Opens the `tasks` file of every v1 directory (the rest, v2 directories,
/// are returned as they are), so that the process that will live there can
/// move itself in with [`join_self`]. A thread writing "0" to `tasks` moves
/// only itself, and the kernel skips the global threadgroup lock whose RCU
/// grace period makes every `cgroup.procs` write on an idle system take
/// milliseconds (5–16 ms on the test VM, against 0.1 ms). The file is opened
/// by the runtime, so the kernel checks the runtime's credentials, also for
/// a child already in a new user namespace.
pub fn open_tasks(dirs: &[PathBuf]) -> Result<(Vec<OwnedFd>, Vec<PathBuf>)> {
    let mut fds = Vec::new();
    let mut rest = Vec::new();
    for d in dirs {
        let p = d.join("tasks");
        match open_for_writing(&p) {
            Ok(fd) => fds.push(fd),
            Err(Errno::ENOENT) if d.is_dir() => rest.push(d.clone()),
            Err(Errno::EXDEV) => return Err(not_a_cgroup(d)),
            Err(e) => return Err(Error::sys(format!("open {}", p.display()), e)),
        }
    }
    Ok((fds, rest))
}

/// Opens a cgroup control file; one that is not on a cgroup filesystem
/// (a plain file where a cgroup was expected) is refused as EXDEV.
fn open_for_writing(p: &Path) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )?;
    if !is_cgroupfs(&nix::sys::statfs::fstatfs(&fd)?) {
        return Err(Errno::EXDEV);
    }
    Ok(fd)
}

/// Moves the calling thread (a single-threaded process) into the cgroups
/// whose `tasks` files [`open_tasks`] opened.
pub fn join_self(tasks: &[OwnedFd]) -> Result<()> {
    for fd in tasks {
        nix::unistd::write(fd, b"0").ctx("join cgroup")?;
    }
    Ok(())
}

/// The `cgroup.procs` files of the directories, opened for [`write_pid`].
pub fn open_procs(dirs: &[PathBuf]) -> Result<Vec<OwnedFd>> {
    dirs.iter()
        .map(|d| {
            let p = d.join("cgroup.procs");
            open_for_writing(&p).map_err(|e| match e {
                Errno::EXDEV => not_a_cgroup(d),
                e => Error::sys(format!("open {}", p.display()), e),
            })
        })
        .collect()
}

/// Moves a process into the cgroups whose `cgroup.procs` files are open.
pub fn write_pid(procs: &[OwnedFd], pid: Pid) -> Result<()> {
    let text = pid.as_raw().to_string();
    for fd in procs {
        nix::unistd::write(fd, text.as_bytes()).ctx("join cgroup")?;
    }
    Ok(())
}

/// Moves a process into every directory.
pub fn add(dirs: &[PathBuf], pid: Pid) -> Result<()> {
    write_pid(&open_procs(dirs)?, pid)
}

/// The pids in the container's cgroup. A directory that is gone holds no
/// process: systemd removes a scope's cgroup as soon as its last process
/// has exited, long before `delete`.
pub fn procs(dirs: &[PathBuf]) -> Result<Vec<Pid>> {
    let dirs: Vec<PathBuf> = dirs
        .iter()
        .filter(|d| {
            !d.symlink_metadata()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .cloned()
        .collect();
    let dirs = &dirs[..];
    check_dirs(dirs)?;
    let mut out = Vec::new();
    // The pids or freezer hierarchy has every task; any will do if those are absent.
    let dir = dirs
        .iter()
        .find(|d| d.join("pids.max").exists() || d.join("freezer.state").exists())
        .or(dirs.first());
    if let Some(d) = dir {
        let s = crate::linux::sys::read_text(d.join("cgroup.procs"))
            .ctx(format!("read {}", d.join("cgroup.procs").display()))?;
        out.extend(
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .map(Pid::from_raw),
        );
    }
    Ok(out)
}

/// Removes the directories that are empty, stopping at the first that is
/// not (or is not a container's cgroup); says whether all are gone. The
/// ones left are for [`destroy`].
pub fn remove_empty(dirs: &[PathBuf]) -> bool {
    dirs.iter().all(|d| {
        !d.exists()
            || check_dir(d).is_ok()
                && matches!(
                    std::fs::remove_dir(d).map_err(|e| e.raw_os_error()),
                    Ok(()) | Err(Some(libc::ENOENT))
                )
    })
}

/// Removes the directories. A cgroup whose last task has just exited can be
/// busy for a moment, so EBUSY is retried a bounded number of times. A
/// directory that is not a container's cgroup (see [`check_dir`]) is left
/// alone with a warning: nothing of the container can be in it.
pub fn destroy(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        if !d.exists() {
            continue;
        }
        if let Err(e) = check_dir(d) {
            crate::logging::warn(&format!("not removing it: {e}"));
            continue;
        }
        // Usually the directory is empty and goes at once.
        if matches!(
            std::fs::remove_dir(d).map_err(|e| e.raw_os_error()),
            Ok(()) | Err(Some(libc::ENOENT))
        ) {
            continue;
        }
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

/// The spec section a controller's settings come from, for error pointers.
fn section(ctrl: &str) -> &'static str {
    match ctrl {
        "memory" => "memory",
        "cpu" | "cpuset" => "cpu",
        "pids" => "pids",
        "blkio" | "io" => "blockIO",
        "hugetlb" => "hugepageLimits",
        "net_cls" | "net_prio" => "network",
        "rdma" => "rdma",
        "devices" => "devices",
        _ => "unified",
    }
}

/// The container's directories sorted by driver: v1 directories with their
/// controllers, and the v2 directory if there is one (pure v2 or hybrid).
struct Split<'a> {
    v1: Vec<(Vec<String>, &'a Path)>,
    v2: Option<(&'a Path, &'a Path)>,
}

fn split<'a>(dirs: &'a [PathBuf], hier: &'a [Hierarchy]) -> Split<'a> {
    let mut s = Split {
        v1: Vec::new(),
        v2: None,
    };
    for d in dirs {
        let Some(h) = hier
            .iter()
            .filter(|h| d.starts_with(&h.mountpoint))
            .max_by_key(|h| h.mountpoint.as_os_str().len())
        else {
            continue;
        };
        if h.is_v2 {
            s.v2 = Some((d.as_path(), h.mountpoint.as_path()));
        } else {
            s.v1.push((
                h.options.split(',').map(str::to_owned).collect(),
                d.as_path(),
            ));
        }
    }
    s
}

fn write_file(dir: &Path, file: &str, value: &str, ctrl: &str) -> Result<()> {
    write_file_in(&mut None, dir, file, value, ctrl)
}

/// [`write_file`] through the file `last` holds open when it is the same
/// one; leaves this one open there. Each write(2) is one value to the
/// kernel, so a run of device rules needs one open, not one per rule.
fn write_file_in(
    last: &mut Option<(PathBuf, std::fs::File)>,
    dir: &Path,
    file: &str,
    value: &str,
    ctrl: &str,
) -> Result<()> {
    use std::io::Write;
    // File names come from the config too (unified keys, page sizes): a
    // name, never a path.
    if file.is_empty() || file.contains('/') || file == "." || file == ".." {
        return Err(Error::field(
            format!("/linux/resources/{}", section(ctrl)),
            format!("{file:?} is not a cgroup file name"),
        ));
    }
    let p = dir.join(file);
    let r = match last.take() {
        Some((q, f)) if q == p => Ok(f),
        // As std::fs::write opens it, so errors read the same.
        _ => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p),
    }
    .and_then(|mut f| {
        f.write_all(value.as_bytes())?;
        *last = Some((p.clone(), f));
        Ok(())
    });
    r.map_err(|e| Error::from(e).context(format!("write {value:?} to {}", p.display())))
        .map_err(|e| e.at(format!("/linux/resources/{}", section(ctrl))))
}

/// Kernels whose blkio has only the BFQ scheduler's files take the weights
/// there (runc does the same): `blkio.bfq.weight`, `blkio.bfq.weight_device`.
fn bfq_fallback(dir: &Path, file: &str) -> String {
    if let Some(rest) = file.strip_prefix("blkio.weight") {
        let bfq = format!("blkio.bfq.weight{rest}");
        if !dir.join(file).exists() && dir.join(&bfq).exists() {
            return bfq;
        }
    }
    file.to_owned()
}

/// The realtime runtime asked for, with its period (the kernel's default
/// when not given), when it is a positive budget.
fn rt_runtime(r: &oci_spec::runtime::LinuxResources) -> Option<(u64, u64)> {
    let c = r.cpu().as_ref()?;
    let rt = u64::try_from(c.realtime_runtime()?)
        .ok()
        .filter(|v| *v > 0)?;
    let period = c.realtime_period().filter(|p| *p > 0).unwrap_or(1_000_000);
    Some((rt, period))
}

fn read_u64(p: &Path) -> Option<u64> {
    crate::linux::sys::read_text(p).ok()?.trim().parse().ok()
}

/// On v1 a cgroup gets a realtime budget only out of its parent's, and new
/// cgroups start with none: walk from the container's cgroup up to the
/// hierarchy root, adding up what each level needs (its child on the way
/// plus that child's siblings), then raise each ancestor from the top down
/// where it has less.
fn give_ancestors_rt_budget(mountpoint: &Path, dir: &Path, (rt, period): (u64, u64)) -> Result<()> {
    let runtime = |d: &Path| read_u64(&d.join("cpu.rt_runtime_us")).unwrap_or(0);
    let period_of = |d: &Path| read_u64(&d.join("cpu.rt_period_us")).unwrap_or(1_000_000);
    let mut plan = Vec::new();
    let (mut child, mut need, mut child_period) = (dir.to_path_buf(), rt, period);
    while let Some(parent) = child
        .parent()
        .filter(|p| *p != mountpoint && p.starts_with(mountpoint))
    {
        let pp = period_of(parent);
        let mut total = need.saturating_mul(pp).div_ceil(child_period.max(1));
        for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let sib = e.path();
            if sib != child && e.file_type().is_ok_and(|t| t.is_dir()) {
                total += runtime(&sib)
                    .saturating_mul(pp)
                    .div_ceil(period_of(&sib).max(1));
            }
        }
        plan.push((parent.to_path_buf(), total));
        (child, need, child_period) = (parent.to_path_buf(), total, pp);
    }
    for (d, total) in plan.into_iter().rev() {
        if runtime(&d) < total {
            write_file(&d, "cpu.rt_runtime_us", &total.to_string(), "cpu")?;
        }
    }
    Ok(())
}

/// Turns on v2 controllers from the hierarchy's root down to `dir`'s parent.
/// Enables `ctrls` in every ancestor's `cgroup.subtree_control` down to
/// `dir`, skipping those already enabled (an ancestor we may not write, as
/// rootless, usually has them). With `best_effort`, a refused write is
/// ignored: for controllers the config does not need.
fn enable_v2_controllers(
    dir: &Path,
    mountpoint: &Path,
    ctrls: &[&str],
    best_effort: bool,
) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut cur = mountpoint.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in comps
        .iter()
        .take(comps.len().saturating_sub(1))
        .map(Some)
        .chain([None])
    {
        let available =
            crate::linux::sys::read_text(cur.join("cgroup.controllers")).unwrap_or_default();
        let f = cur.join("cgroup.subtree_control");
        let enabled = crate::linux::sys::read_text(&f).unwrap_or_default();
        let has = |list: &str, c: &str| list.split_whitespace().any(|a| a == c);
        let enable: Vec<String> = ctrls
            .iter()
            .filter(|c| has(&available, c) && !has(&enabled, c))
            .map(|c| format!("+{c}"))
            .collect();
        if !enable.is_empty() {
            match std::fs::write(&f, enable.join(" ")) {
                Err(_) if best_effort => {}
                r => r.ctx(format!("write {}", f.display()))?,
            }
        }
        match c {
            Some(c) => cur.push(c),
            None => break,
        }
    }
    Ok(())
}

/// Writes `linux.resources` into the container's cgroup, on whichever
/// drivers the host has: v1 controllers on v1, the rest on the v2 hierarchy.
/// Checks the values first (see [`validate`]): nothing is written if any is wrong.
pub fn apply(dirs: &[PathBuf], r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    validate(r)?;
    check_dirs(dirs)?;
    apply_in(&hierarchies()?, dirs, r)
}

/// The host's huge page sizes as the hugetlb cgroup names them (`2MB`, `1GB`).
pub fn hugepage_sizes() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb = name.strip_prefix("hugepages-")?.strip_suffix("kB")?;
            kb.parse().ok().map(resources::hugepage_name)
        })
        .collect();
    out.sort();
    out
}

/// [`resources::validate`] against this host's huge page sizes: every
/// value the kernel would refuse or silently change is an error naming its
/// field, found before anything is created.
pub fn validate(r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let sizes = r
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
        .then(hugepage_sizes);
    resources::validate(r, sizes.as_deref())
}

/// [`apply`] against given hierarchies (a fake tree in tests).
pub fn apply_in(
    hier: &[Hierarchy],
    dirs: &[PathBuf],
    r: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let s = split(dirs, hier);
    let on_v1 = |ctrl: &str| {
        s.v1.iter()
            .find(|(cs, _)| cs.iter().any(|c| c == ctrl))
            .map(|(_, d)| *d)
    };
    let mut writes = resources::v1_writes(r);
    if !s.v1.is_empty() {
        refuse_unavailable(&s, &writes)?;
    }
    // What goes to v2 (all of it on a pure v2 host; on a hybrid one what v1
    // lacks), checked before anything is written.
    let v2 = match s.v2 {
        Some((d, mountpoint)) => {
            let writes: Vec<_> = resources::v2_writes(r)
                .into_iter()
                .filter(|(ctrl, _, _)| on_v1(ctrl).is_none())
                .collect();
            let available =
                crate::linux::sys::read_text(d.join("cgroup.controllers")).unwrap_or_default();
            if !s.v1.is_empty() {
                refuse_unified_off_v2(r, &available, &on_v1)?;
            }
            Some((d, mountpoint, writes, available))
        }
        None => {
            if let Some(k) = r.unified().iter().flat_map(|u| u.keys()).next() {
                return Err(Error::field(
                    format!(
                        "/linux/resources/unified/{}",
                        k.replace('~', "~0").replace('/', "~1")
                    ),
                    "unified resources need cgroup v2, and this host has no cgroup2 mount",
                ));
            }
            None
        }
    };
    if let Some(d) = on_v1("memory") {
        order_memsw(d, &mut writes);
    }
    if let (Some(d), Some(rt)) = (on_v1("cpu"), rt_runtime(r)) {
        if let Some(h) = hier
            .iter()
            .find(|h| !h.is_v2 && d.starts_with(&h.mountpoint))
        {
            give_ancestors_rt_budget(&h.mountpoint, d, rt)
                .map_err(|e| e.at("/linux/resources/cpu/realtimeRuntime"))?;
        }
    }
    // The kernel checks cfs period and quota against each other (and the
    // parents' bandwidth) at every write: one that fails may pass once its
    // partner is written, so it is tried again after the rest.
    let mut again = Vec::new();
    // Runs of writes to one file (the device rules) share one open.
    let mut last = None;
    for (ctrl, file, value) in writes {
        if let Some(d) = on_v1(ctrl) {
            let r = write_file_in(&mut last, d, &bfq_fallback(d, &file), &value, ctrl);
            match r {
                Err(_) if matches!(file.as_str(), "cpu.cfs_period_us" | "cpu.cfs_quota_us") => {
                    again.push((d, file, value, ctrl))
                }
                r => r?,
            }
        }
    }
    for (d, file, value, ctrl) in again {
        write_file(d, &file, &value, ctrl)?;
    }
    if let Some((d, mountpoint, writes, available)) = v2 {
        let mut ctrls: Vec<&str> = writes
            .iter()
            .map(|(c, _, _)| *c)
            .filter(|c| !c.is_empty())
            .collect();
        ctrls.dedup();
        // On a v2-only host every controller the hierarchy offers reaches the
        // container, as with runc: stats, OOM events and a later `update`
        // work for a container started without limits.
        let offered = crate::linux::sys::read_text(mountpoint.join("cgroup.controllers"));
        if let (true, Ok(all)) = (s.v1.is_empty(), &offered) {
            let extra: Vec<&str> = all
                .split_whitespace()
                .filter(|c| !ctrls.contains(c))
                .collect();
            enable_v2_controllers(d, mountpoint, &extra, true)?;
        }
        enable_v2_controllers(d, mountpoint, &ctrls, false)?;
        // Pure v2 has no devices controller: device rules become an eBPF program.
        if on_v1("devices").is_none() {
            if let Some(rules) = r.devices().as_deref() {
                attach_device_program(d, rules)?;
            }
        }
        for (ctrl, file, value) in writes {
            // In a hybrid host most controllers live on v1 only; v2 gets
            // what it has (the unified keys were checked above).
            if s.v1.is_empty()
                || available.split_whitespace().any(|a| a == ctrl)
                || (ctrl.is_empty() && file.starts_with("cgroup."))
            {
                write_file(d, &file, &value, ctrl)?;
            }
        }
    }
    Ok(())
}

/// On a hybrid host a `unified` key can only be applied when its controller
/// is on the cgroup2 mount (or it is a `cgroup.*` file); anything else would
/// be dropped without a word.
fn refuse_unified_off_v2<'a>(
    r: &oci_spec::runtime::LinuxResources,
    v2_available: &str,
    on_v1: &dyn Fn(&str) -> Option<&'a Path>,
) -> Result<()> {
    let mut keys: Vec<&String> = r.unified().iter().flat_map(|u| u.keys()).collect();
    keys.sort();
    for k in keys {
        let ctrl = k.split('.').next().unwrap_or("");
        let why = if ctrl == "cgroup" {
            continue;
        } else if on_v1(ctrl).is_some() {
            format!("{ctrl} is a cgroup v1 controller on this host")
        } else if !v2_available.split_whitespace().any(|a| a == ctrl) {
            format!("this host's cgroup v2 has no {ctrl} controller")
        } else {
            continue;
        };
        return Err(Error::field(
            format!(
                "/linux/resources/unified/{}",
                k.replace('~', "~0").replace('/', "~1")
            ),
            format!("cannot apply unified resource {k:?}: {why}"),
        ));
    }
    Ok(())
}

/// A setting whose controller the host has on neither v1 nor (hybrid) v2
/// cannot be applied: the spec wants an error, not a silent drop.
fn refuse_unavailable(s: &Split, writes: &[resources::Write]) -> Result<()> {
    let off_v1: Vec<&str> = writes
        .iter()
        .map(|(ctrl, _, _)| *ctrl)
        .filter(|ctrl| !s.v1.iter().any(|(cs, _)| cs.iter().any(|c| c == ctrl)))
        .collect();
    if off_v1.is_empty() {
        return Ok(());
    }
    let v2_available =
        s.v2.and_then(|(_, mountpoint)| {
            crate::linux::sys::read_text(mountpoint.join("cgroup.controllers")).ok()
        })
        .unwrap_or_default();
    for ctrl in off_v1 {
        let on_v2 = match ctrl {
            "net_cls" | "net_prio" => None,
            "blkio" => Some("io"),
            "cpuacct" => Some("cpu"),
            other => Some(other),
        };
        if !on_v2.is_some_and(|c| v2_available.split_whitespace().any(|a| a == c)) {
            return Err(Error::field(
                format!("/linux/resources/{}", section(ctrl)),
                format!("cgroup controller {ctrl} is not available on this host"),
            ));
        }
    }
    Ok(())
}

/// v1 insists memory.memsw.limit_in_bytes >= memory.limit_in_bytes at every
/// moment: when the new limit exceeds the current memsw, memsw must go first.
fn order_memsw(dir: &Path, writes: &mut [resources::Write]) {
    let pos = |f: &str| writes.iter().position(|(_, file, _)| file == f);
    let (Some(l), Some(s)) = (
        pos("memory.limit_in_bytes"),
        pos("memory.memsw.limit_in_bytes"),
    ) else {
        return;
    };
    let new_limit: i64 = writes[l].2.parse().unwrap_or(-1);
    let cur_memsw: i64 = crate::linux::sys::read_text(dir.join("memory.memsw.limit_in_bytes"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(i64::MAX);
    let memsw_first = new_limit == -1 || new_limit > cur_memsw;
    if memsw_first != (s < l) {
        writes.swap(l, s);
    }
}

/// SIGKILLs every process in the container at once through v2's cgroup.kill
/// (no fork can slip past it). False when the host has no such file.
pub fn kill_all(dirs: &[PathBuf]) -> bool {
    if check_dirs(dirs).is_err() {
        return false;
    }
    dirs.iter()
        .map(|d| d.join("cgroup.kill"))
        .find(|f| f.exists())
        .is_some_and(|f| std::fs::write(f, "1").is_ok())
}

/// Compiles the device rules to eBPF and attaches the program to a v2 cgroup.
pub fn attach_device_program(
    dir: &Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<()> {
    use nix::fcntl::{open, OFlag};
    let insns: Vec<u64> = devices_bpf::program(rules)
        .into_iter()
        .map(|i| i.encode())
        .collect();
    let prog = crate::linux::sys::bpf_load_device_prog(&insns).map_err(|(e, log)| {
        let mut err =
            Error::sys("load the device cgroup program", e).at("/linux/resources/devices");
        if !log.is_empty() {
            err.msg = format!("{} (verifier: {})", err.msg, log.replace('\n', "; "));
        }
        err
    })?;
    let cg = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(format!("open {}", dir.display()))?;
    crate::linux::sys::bpf_attach_device_prog(cg.as_fd(), prog.as_fd())
        .ctx(format!("attach the device program to {}", dir.display()))
        .map_err(|e| e.at("/linux/resources/devices"))
}

/// Freezes or thaws the container (freezer.state on v1, cgroup.freeze on v2)
/// and waits until the kernel reports the new state.
/// Bytes of memory the cgroup uses now (v1 `memory.usage_in_bytes`, v2
/// `memory.current`), from the first of `dirs` that has either.
pub fn memory_usage(dirs: &[PathBuf]) -> Option<u64> {
    dirs.iter().find_map(|d| {
        ["memory.usage_in_bytes", "memory.current"]
            .iter()
            .find_map(|f| crate::linux::sys::read_text(d.join(f)).ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The first of `dirs` whose processes would be frozen, by its own freezer
/// or an ancestor's: v1 `freezer.state` other than THAWED, v2 `frozen 1` in
/// `cgroup.events` (which covers the ancestors).
pub fn frozen_dir(dirs: &[PathBuf]) -> Option<&Path> {
    // Only the v1 freezer hierarchy and v2 have a freezer to read (a
    // directory of an unknown hierarchy is read both ways).
    let hier = hierarchies().unwrap_or_default();
    dirs.iter()
        .find(|d| {
            let h = hierarchy_of(&hier, d);
            let v1 = h.is_none_or(|h| !h.is_v2 && h.options.split(',').any(|o| o == "freezer"))
                && crate::linux::sys::read_text(d.join("freezer.state"))
                    .is_ok_and(|s| s.trim() != "THAWED");
            v1 || h.is_none_or(|h| h.is_v2)
                && crate::linux::sys::read_text(d.join("cgroup.events"))
                    .is_ok_and(|s| s.lines().any(|l| l == "frozen 1"))
        })
        .map(|d| d.as_path())
}

pub fn freeze(dirs: &[PathBuf], frozen: bool) -> Result<()> {
    check_dirs(dirs)?;
    let hier = hierarchies()?;
    let s = split(dirs, &hier);
    if let Some((_, d)) =
        s.v1.iter()
            .find(|(cs, _)| cs.iter().any(|c| c == "freezer"))
    {
        let want = if frozen { "FROZEN" } else { "THAWED" };
        for _ in 0..1000 {
            write_file(d, "freezer.state", want, "freezer")?;
            let now =
                crate::linux::sys::read_text(d.join("freezer.state")).ctx("read freezer.state")?;
            if now.trim() == want {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        return Err(Error::new(format!("freezer did not reach {want}")));
    }
    if let Some((d, _)) = s.v2 {
        if d.join("cgroup.freeze").exists() {
            write_file(
                d,
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
                "freezer",
            )?;
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            for _ in 0..1000 {
                let ev = crate::linux::sys::read_text(d.join("cgroup.events"))
                    .ctx("read cgroup.events")?;
                if ev.lines().any(|l| l == want) {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            return Err(Error::new(
                "cgroup did not reach the requested freezer state",
            ));
        }
    }
    Err(Error::new("no freezer cgroup for this container"))
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
                assert!(is_plain(d) && d.starts_with(&h.mountpoint), "{p}: {d:?}");
            }
        }
        // dirs_for cleans whatever it is given.
        assert_eq!(
            dirs_for(&h, "/../../../tmp/x")[3],
            Path::new("/sys/fs/cgroup/memory/tmp/x")
        );
    }

    /// Outside a cgroup filesystem nothing is created, joined or removed.
    #[test]
    fn refuses_directories_outside_cgroupfs() {
        let root = std::env::temp_dir().join(format!("tong-not-cg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("fake/sub")).unwrap();
        std::fs::write(root.join("fake/tasks"), "").unwrap();
        std::fs::write(root.join("fake/cgroup.procs"), "1\n").unwrap();
        let e = create(&[root.join("new/leaf")]).unwrap_err();
        assert!(e.msg.contains("is not a cgroup"), "{e}");
        assert!(!root.join("new").exists());
        let fake = vec![root.join("fake")];
        assert!(create(&fake).is_err());
        assert!(check_dir(&root.join("fake/sub/..")).is_err());
        assert!(open_tasks(&fake).is_err());
        assert!(open_procs(&fake).is_err());
        assert!(procs(&fake).is_err());
        assert!(!kill_all(&fake));
        destroy(&fake).unwrap();
        assert!(root.join("fake/sub").is_dir());
        std::fs::remove_dir_all(&root).unwrap();
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

    #[test]
    fn a_cgroup_that_is_gone_has_no_processes() {
        // systemd removes an emptied scope's cgroup before `kill --all` or
        // `delete` come: no process, not an error (the shim retries
        // `kill --all` forever on an error it does not know).
        let gone = PathBuf::from(format!("/sys/fs/cgroup/tong-gone-{}", std::process::id()));
        assert_eq!(procs(std::slice::from_ref(&gone)).unwrap(), vec![]);
        assert_eq!(procs(&[gone.join("a"), gone.join("b")]).unwrap(), vec![]);
        // A path that exists but is no cgroup is still refused.
        assert!(procs(&[PathBuf::from("/tmp")]).is_err());
    }
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    /// A fake hybrid host: v1 memory, pids and devices hierarchies, a v2 mount that
    /// only has hugetlb. Each setting lands on the driver that owns it.
    #[test]
    fn hybrid_splits_between_v1_and_v2() {
        let root = std::env::temp_dir().join(format!("tong-fake-hybrid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let hier: Vec<Hierarchy> = ["memory", "pids", "devices", "unified"]
            .iter()
            .map(|n| Hierarchy {
                mountpoint: root.join(n),
                options: if *n == "unified" {
                    String::new()
                } else {
                    n.to_string()
                },
                is_v2: *n == "unified",
                own_path: "/".into(),
            })
            .collect();
        let dirs: Vec<PathBuf> = hier.iter().map(|h| h.mountpoint.join("c1")).collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        for d in [root.join("unified"), root.join("unified/c1")] {
            std::fs::write(d.join("cgroup.controllers"), "hugetlb").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 1048576},
            "pids": {"limit": 5},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        apply_in(&hier, &dirs, &r).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("memory/c1/memory.limit_in_bytes"), "1048576");
        assert_eq!(read("pids/c1/pids.max"), "5");
        assert_eq!(read("unified/c1/hugetlb.2MB.max"), "2097152");
        assert_eq!(read("unified/cgroup.subtree_control"), "+hugetlb");
        // Device rules go to the v1 devices controller, not to an eBPF program.
        assert_eq!(read("devices/c1/devices.deny"), "a");
        // v2 never gets what v1 owns.
        assert!(!root.join("unified/c1/memory.max").exists());
        assert!(!root.join("unified/c1/pids.max").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A unified key is a file name: on a pure v2 host `../x` would write
    /// beside the container's cgroup.
    #[test]
    fn unified_key_cannot_name_a_path() {
        let root = std::env::temp_dir().join(format!("tong-fake-unified-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("c1");
        std::fs::create_dir_all(&dir).unwrap();
        for d in [root.clone(), dir.clone()] {
            std::fs::write(d.join("cgroup.controllers"), "memory").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        let hier = vec![Hierarchy {
            mountpoint: root.clone(),
            options: String::new(),
            is_v2: true,
            own_path: "/".into(),
        }];
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(
            serde_json::json!({"unified": {"../escaped": "x", "memory.high": "1"}}),
        )
        .unwrap();
        assert!(apply_in(&hier, std::slice::from_ref(&dir), &r).is_err());
        assert!(!root.join("escaped").exists());
        let e = validate(&r).unwrap_err();
        assert_eq!(
            e.pointer.as_deref(),
            Some("/linux/resources/unified/..~1escaped")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn memsw_goes_first_only_when_growing_past_it() {
        let dir = std::env::temp_dir().join(format!("tong-fake-memsw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.memsw.limit_in_bytes"), "16777216\n").unwrap();
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}}),
        )
        .unwrap();
        let mut w = resources::v1_writes(&r);
        order_memsw(&dir, &mut w);
        assert_eq!(w[0].1, "memory.memsw.limit_in_bytes");
        std::fs::write(dir.join("memory.memsw.limit_in_bytes"), "67108864\n").unwrap();
        let mut w = resources::v1_writes(&r);
        order_memsw(&dir, &mut w);
        assert_eq!(w[0].1, "memory.limit_in_bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fake v2 tree: root with controllers, the container two levels down.
    #[test]
    fn v2_enables_controllers_and_writes_files() {
        let root = std::env::temp_dir().join(format!("tong-fake-cg2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        for d in [root.clone(), root.join("a"), dir.clone()] {
            std::fs::write(d.join("cgroup.controllers"), "cpu memory pids").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        enable_v2_controllers(&dir, &root, &["memory", "pids", "io"], false).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a/cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
            ""
        );
        let hier = vec![Hierarchy {
            mountpoint: root.clone(),
            options: String::new(),
            is_v2: true,
            own_path: "/".into(),
        }];
        let dirs = vec![dir.clone()];
        let s = split(&dirs, &hier);
        assert!(s.v1.is_empty() && s.v2.is_some());
        write_file(&dir, "memory.max", "100", "memory").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.max")).unwrap(),
            "100"
        );
        let e = write_file(&root.join("nope"), "memory.max", "1", "memory").unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/linux/resources/memory"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}

/// Statistics of the container's cgroup in runc's `events` format.
pub fn stats(dirs: &[PathBuf]) -> Result<serde_json::Value> {
    check_dirs(dirs)?;
    let hier = hierarchies()?;
    let s = split(dirs, &hier);
    let on_v1 = |ctrl: &str| {
        s.v1.iter()
            .find(|(cs, _)| cs.iter().any(|c| c == ctrl))
            .map(|(_, d)| d.to_path_buf())
    };
    let mut data = if s.v1.is_empty() {
        serde_json::json!({})
    } else {
        stats::v1(&on_v1)
    };
    if let Some((d, _)) = s.v2 {
        // Hybrid: what v1 lacks (here hugetlb) comes from the unified hierarchy.
        if let (Some(obj), serde_json::Value::Object(v2)) = (data.as_object_mut(), stats::v2(d)) {
            for (k, v) in v2 {
                obj.entry(k).or_insert(v);
            }
        }
    }
    Ok(data)
}

/// Notifies of OOM kills in the container's memory cgroup.
pub enum OomWatch {
    /// v1: an eventfd registered through cgroup.event_control.
    V1(nix::sys::eventfd::EventFd, std::fs::File),
    /// v2: inotify on memory.events, with the last oom_kill count seen.
    V2(nix::sys::inotify::Inotify, PathBuf, u64),
}

fn oom_kills(events: &Path) -> u64 {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

impl OomWatch {
    pub fn new(dirs: &[PathBuf]) -> Result<OomWatch> {
        use std::os::fd::AsRawFd;
        check_dirs(dirs)?;
        let hier = hierarchies()?;
        let s = split(dirs, &hier);
        if let Some((_, d)) = s.v1.iter().find(|(cs, _)| cs.iter().any(|c| c == "memory")) {
            let efd = nix::sys::eventfd::EventFd::from_value_and_flags(
                0,
                nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
            )
            .ctx("eventfd")?;
            let ctl =
                std::fs::File::open(d.join("memory.oom_control")).ctx("open memory.oom_control")?;
            let line = format!("{} {}", efd.as_fd().as_raw_fd(), ctl.as_raw_fd());
            std::fs::write(d.join("cgroup.event_control"), line).ctx("register for OOM events")?;
            return Ok(OomWatch::V1(efd, ctl));
        }
        if let Some((d, _)) = s.v2 {
            let events = d.join("memory.events");
            if events.exists() {
                let ino = nix::sys::inotify::Inotify::init(
                    nix::sys::inotify::InitFlags::IN_CLOEXEC
                        | nix::sys::inotify::InitFlags::IN_NONBLOCK,
                )
                .ctx("inotify_init")?;
                ino.add_watch(&events, nix::sys::inotify::AddWatchFlags::IN_MODIFY)
                    .ctx("watch memory.events")?;
                let seen = oom_kills(&events);
                return Ok(OomWatch::V2(ino, events, seen));
            }
        }
        Err(Error::new("no memory cgroup to watch for OOM events"))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            OomWatch::V1(e, _) => e.as_fd(),
            OomWatch::V2(i, _, _) => i.as_fd(),
        }
    }

    /// Consumes a wake-up; true if it was an OOM kill.
    pub fn check(&mut self) -> bool {
        match self {
            OomWatch::V1(e, _) => e.read().is_ok(),
            OomWatch::V2(i, events, seen) => {
                let _ = i.read_events();
                let now = oom_kills(events);
                let fired = now > *seen;
                *seen = now;
                fired
            }
        }
    }
}

#[cfg(test)]
mod bfq_tests {
    #[test]
    fn weights_fall_back_to_bfq_files() {
        let d = std::env::temp_dir().join(format!("tong-bfq-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("blkio.bfq.weight"), "").unwrap();
        std::fs::write(d.join("blkio.bfq.weight_device"), "").unwrap();
        assert_eq!(super::bfq_fallback(&d, "blkio.weight"), "blkio.bfq.weight");
        assert_eq!(
            super::bfq_fallback(&d, "blkio.weight_device"),
            "blkio.bfq.weight_device"
        );
        std::fs::write(d.join("blkio.weight"), "").unwrap();
        assert_eq!(super::bfq_fallback(&d, "blkio.weight"), "blkio.weight");
        assert_eq!(
            super::bfq_fallback(&d, "blkio.throttle.read_bps_device"),
            "blkio.throttle.read_bps_device"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
