//! The cgroupfs driver's directories: made one name at a time inside a
//! cgroup filesystem, checked before use, joined, listed, frozen, removed.

use super::apply::{split, write_file};
use super::{hierarchies, hierarchy_of};
use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

pub(super) fn is_cgroupfs(s: &nix::sys::statfs::Statfs) -> bool {
    is_cgroup_magic(s.filesystem_type())
}

/// A path with no `..` (nor `.`) in it, so it means what it says.
pub(super) fn is_plain(d: &Path) -> bool {
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
/// Says whether any of them existed before: only such a cgroup can hold
/// processes already.
pub fn create(dirs: &[PathBuf]) -> Result<bool> {
    let mut existed = false;
    for d in dirs {
        let mut attempt = 0;
        existed |= loop {
            match create_one(d) {
                Err(_) if attempt < 8 && !d.exists() => attempt += 1,
                r => break r?,
            }
        };
    }
    Ok(existed)
}

/// Creates `d` and any missing parents one name at a time, each with
/// mkdirat in a directory already opened and checked to be on a cgroup
/// filesystem, and opened again without following symlinks: nothing is
/// made or entered outside the hierarchy, whatever the path says.
fn create_one(d: &Path) -> Result<bool> {
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
                return check_dir(d).map(|()| true);
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
            // An existing cgroup (a shared parent, or joined on purpose);
            // an empty cpuset of one made by hand gets its parent's, as
            // runc fills it, or joining it fails with ENOSPC.
            Err(Errno::EEXIST) if is_leaf => {
                check_dir(d)?;
                if cpuset {
                    fill_cpuset(d)?;
                }
                return Ok(true);
            }
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
    Ok(false)
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
    // directory of an unknown hierarchy is read both ways). One directory
    // (v2) is read both ways at once: cheaper than reading the mount table,
    // which `state` would otherwise pay for every container.
    let hier = match dirs.len() {
        0 | 1 => Vec::new(),
        _ => hierarchies().unwrap_or_default(),
    };
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

/// Whether the container is paused, as `state` and `list` report it: by
/// the freezer `pause` uses, v1's where the host has that hierarchy (as
/// runc's v1 manager reads it), so a hybrid host costs one read per
/// container, not one per freezer. Only v1's freezer has `freezer.state`:
/// found by that file, without parsing the host's hierarchies (`list` asks
/// this of every container). One directory is cgroup v2 alone.
pub fn paused(dirs: &[PathBuf]) -> bool {
    if dirs.len() > 1 {
        // The freezer hierarchy's directory first (its mount is named for
        // it): trying each hierarchy in turn cost 5 failed lookups a
        // container, 1 ms of a 50-container `list`.
        let named = |d: &&PathBuf| {
            d.iter().any(|c| {
                c.to_str()
                    .is_some_and(|s| s.split(',').any(|x| x == "freezer"))
            })
        };
        let others = |d: &&PathBuf| !named(d);
        for d in dirs.iter().filter(named).chain(dirs.iter().filter(others)) {
            if let Ok(s) = crate::linux::sys::read_text(d.join("freezer.state")) {
                return s.trim() != "THAWED";
            }
        }
    }
    frozen_dir(dirs).is_some()
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

    /// A lone directory (a v2 host) is read for both freezers.
    #[test]
    fn one_directory_is_frozen_by_either_freezer() {
        let d = std::env::temp_dir().join(format!("tong-frozen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let dirs = vec![d.clone()];
        assert_eq!(frozen_dir(&dirs), None);
        std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(frozen_dir(&dirs), None);
        std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(frozen_dir(&dirs), Some(d.as_path()));
        std::fs::remove_file(d.join("cgroup.events")).unwrap();
        std::fs::write(d.join("freezer.state"), "FREEZING\n").unwrap();
        assert_eq!(frozen_dir(&dirs), Some(d.as_path()));
        std::fs::write(d.join("freezer.state"), "THAWED\n").unwrap();
        assert_eq!(frozen_dir(&dirs), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
