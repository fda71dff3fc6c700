//! The state directory under `--root`: one directory per container holding
//! `state.json`, the exec fifo and a lock file.

use crate::error::{Context, Error, Result};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const FIFO: &str = "exec.fifo";
/// Where init tells `start` how the start went: nothing before its exec
/// closes the fifo, or the error that stopped it.
pub const START_FIFO: &str = "start.fifo";
const STATE: &str = "state.json";
const CONFIG: &str = "config.json";
const LOCK: &str = "lock";

/// What tong remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Start time of the init (from /proc/<pid>/stat) to detect pid reuse.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup (`cgroup_dirs`, `systemd_unit`).
    #[serde(flatten)]
    pub cgroup: crate::linux::cgroups::Placement,
    pub oci_version: String,
    /// The `create` that is still making this container; None once it is
    /// made. A creator that is gone means the create died half-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<Creator>,
    /// The bundle's config as loaded at create (hooks, exec, update and
    /// checkpoint need it), typed. Kept in its own file so `state` and
    /// `list` don't parse it: only [`Dir::load`] reads it, [`Dir::load_state`]
    /// leaves `Spec::default()` here.
    #[serde(skip)]
    pub config: Spec,
}

/// A process named so that a reused pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub pid: i32,
    pub start_time: u64,
}

/// Rejects ids that could name a path outside the root.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!("invalid container id {id:?}: ids may only contain letters, digits, '_', '+', '-' and '.'")))
    }
}

/// A container's directory, held under its lock while the handle lives.
pub struct Dir {
    pub path: PathBuf,
    _lock: Flock<File>,
}

/// A state root or container directory another user could have written:
/// their planted state would make root's `delete` run their hooks, signal
/// their pids. Only the caller's own, writable by no one else, is used.
fn check_ours(p: &Path, what: &str) -> Result<()> {
    let st = nix::sys::stat::stat(p).ctx(format!("stat {what} {}", p.display()))?;
    crate::linux::ownfiles::check_private(&st, p, what)
}

/// Whether a container `id` has taken its id under `root` (its state exists).
pub fn exists(root: &Path, id: &str) -> bool {
    root.join(id).join(STATE).exists()
}

/// The state root, if it exists, is the caller's alone (see [`check_ours`]).
pub fn check_root(root: &Path) -> Result<()> {
    match root.try_exists() {
        Ok(false) => Ok(()),
        _ => check_ours(root, "state root"),
    }
}

fn lock_file(dir: &Path) -> Result<Flock<File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .mode(0o600)
        .open(dir.join(LOCK))
        .map_err(|e| match e.kind() {
            // Deleted between our check and the open.
            std::io::ErrorKind::NotFound => Error::new("container does not exist"),
            _ => Error::from(e).context("open lock file"),
        })?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::sys("lock container", e))
}

impl Dir {
    /// Creates a new container directory holding `initial` as its state, so
    /// that the container is known (to `state`, `list`, `delete --force`)
    /// from the instant its id is taken: the directory is made and locked
    /// under a name no id can have, then renamed into place. Fails if the id
    /// is taken.
    pub fn create(root: &Path, id: &str, initial: &Saved) -> Result<Dir> {
        check_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .ctx(format!("create root {}", root.display()))?;
        check_ours(root, "state root")?;
        let path = root.join(id);
        if path.exists() {
            return Err(Error::new(format!("container with id exists: {id}")));
        }
        sweep_creating(root, id);
        let tmp = root.join(format!("{CREATING}{}-{id}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| Error::from(e).context(format!("create {}", tmp.display())))?;
        let made = (|| {
            let lock = lock_file(&tmp)?;
            let mut dir = Dir {
                path: tmp.clone(),
                _lock: lock,
            };
            // Written in place: nobody reads this directory before the
            // rename below makes it the container's, whole.
            let config =
                serde_json::to_vec(&initial.config).map_err(|e| Error::new(e.to_string()))?;
            dir.write_new(CONFIG, &config)?;
            let state = serde_json::to_vec(initial).map_err(|e| Error::new(e.to_string()))?;
            dir.write_new(STATE, &state)?;
            match nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AT_FDCWD,
                &path,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST) => {
                    return Err(Error::new(format!("container with id exists: {id}")))
                }
                Err(e) => return Err(Error::sys(format!("create {}", path.display()), e)),
            }
            dir.path = path;
            Ok(dir)
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        made
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<Dir> {
        check_id(id)?;
        let path = root.join(id);
        let gone = || Error::new(format!("container {id:?} does not exist"));
        if !path.join(STATE).exists() {
            return Err(gone());
        }
        check_ours(root, "state root")?;
        check_ours(&path, "container state directory")?;
        let lock =
            lock_file(&path).map_err(|e| if path.join(STATE).exists() { e } else { gone() })?;
        // It may have been deleted while we waited for the lock.
        if !path.join(STATE).exists() {
            return Err(gone());
        }
        Ok(Dir { path, _lock: lock })
    }

    /// The state without the config: all `state`, `list`, `kill` need.
    pub fn load_state(&self) -> Result<Saved> {
        let bytes = std::fs::read(self.path.join(STATE)).ctx("read state.json")?;
        serde_json::from_slice(&bytes).map_err(|e| Error::new(format!("corrupt state.json: {e}")))
    }

    /// The state with the container's config.
    pub fn load(&self) -> Result<Saved> {
        let mut s = self.load_state()?;
        let bytes = std::fs::read(self.path.join(CONFIG)).ctx("read the saved config.json")?;
        // Through the bundle's own parser: a second entry point would build
        // all of Spec's deserialisation code twice (~150 KB of binary).
        s.config = crate::spec::from_json::<Spec>(&bytes, "saved config.json")?;
        Ok(s)
    }

    /// Writes state.json and the config atomically (a reader never sees half a file).
    pub fn save(&self, s: &Saved) -> Result<()> {
        let config = serde_json::to_vec(&s.config).map_err(|e| Error::new(e.to_string()))?;
        self.write_atomic(CONFIG, &config)?;
        self.save_state(s)
    }

    /// Writes state.json alone (the config has not changed).
    pub fn save_state(&self, s: &Saved) -> Result<()> {
        let bytes = serde_json::to_vec(s).map_err(|e| Error::new(e.to_string()))?;
        self.write_atomic(STATE, &bytes)
    }

    fn write_new(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .mode(0o600)
            .open(self.path.join(name))
            .ctx(format!("write {name}"))?;
        f.write_all(bytes).ctx(format!("write {name}"))
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .mode(0o600)
            .open(&tmp)
            .ctx(format!("write {name}"))?;
        f.write_all(bytes).ctx(format!("write {name}"))?;
        std::fs::rename(&tmp, self.path.join(name)).ctx(format!("rename {name}"))?;
        Ok(())
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    pub fn start_fifo(&self) -> PathBuf {
        self.path.join(START_FIFO)
    }

    /// Removes the directory and everything in it: renamed first to a name
    /// no id can have, so that a delete killed half-way never leaves a
    /// directory under the id without its state.json (which nothing would
    /// remove and which would keep the id taken forever); the next create or
    /// `delete --force` of the id sweeps the renamed one.
    pub fn remove(self) -> Result<()> {
        let (Some(root), Some(id)) = (self.path.parent(), self.path.file_name()) else {
            return std::fs::remove_dir_all(&self.path)
                .ctx(format!("remove {}", self.path.display()));
        };
        let gone = root.join(format!(
            "{DELETING}{}-{}",
            std::process::id(),
            id.to_string_lossy()
        ));
        std::fs::rename(&self.path, &gone).ctx(format!("remove {}", self.path.display()))?;
        std::fs::remove_dir_all(&gone).ctx(format!("remove {}", gone.display()))
    }
}

/// The prefix of a directory a `create` makes before it takes the id.
const CREATING: &str = "@creating-";
/// The prefix a container's directory is renamed to before it is removed.
const DELETING: &str = "@deleting-";

/// Removes the directories that a `create` of `id` killed before it took
/// the id, or a `delete` killed while removing, left behind
/// (`@creating-<pid>-<id>`, `@deleting-<pid>-<id>`): only when their pid is
/// gone and nothing holds their lock, so a live one is never touched.
pub fn sweep_creating(root: &Path, id: &str) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| {
                n.strip_prefix(CREATING)
                    .or_else(|| n.strip_prefix(DELETING))
            })
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, rest)| *rest == id)
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
            .filter(|pid| *pid > 0)
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            != Err(nix::errno::Errno::ESRCH);
        if alive {
            continue;
        }
        let path = e.path();
        let free = match File::open(path.join(LOCK)) {
            Ok(f) => Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if free {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Ids of all containers under `root`, sorted.
pub fn list(root: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::from(e).context(format!("read {}", root.display()))),
    };
    check_ours(root, "state root")?;
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        // Not the seccomp cache, nor a directory a create is still making.
        .filter(|id| check_id(id).is_ok() && root.join(id).join(STATE).exists())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for bad in ["", "..", ".", "../x", "a/b", "a b", "x\n"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "abc-1_2.3+4", "0123456789abcdef"] {
            check_id(good).unwrap();
        }
    }

    /// A state.json written before the cgroup manager still loads, and is
    /// written back with the same cgroup fields.
    #[test]
    fn the_cgroup_of_an_older_state_file_loads() {
        let old = serde_json::json!({
            "id": "c1", "pid": 7, "start_time": 9, "bundle": "/b",
            "rootfs": "/b/rootfs", "created": "now", "owner": "",
            "annotations": {},
            "cgroup_dirs": ["/sys/fs/cgroup/system.slice/tong-c1.scope"],
            "oci_version": "1.0.2",
            "systemd_unit": "tong-c1.scope"
        });
        let s: Saved = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(
            s.cgroup.cgroup_dirs,
            vec![PathBuf::from("/sys/fs/cgroup/system.slice/tong-c1.scope")]
        );
        assert_eq!(s.cgroup.systemd_unit.as_deref(), Some("tong-c1.scope"));
        assert_eq!(serde_json::to_value(&s).unwrap(), old);
        // Without a unit (the cgroupfs driver), and from before cgroup_dirs.
        let mut fs = old.clone();
        fs.as_object_mut().unwrap().remove("systemd_unit");
        let s: Saved = serde_json::from_value(fs.clone()).unwrap();
        assert_eq!(s.cgroup.systemd_unit, None);
        assert_eq!(serde_json::to_value(&s).unwrap(), fs);
        fs.as_object_mut().unwrap().remove("cgroup_dirs");
        let s: Saved = serde_json::from_value(fs).unwrap();
        assert!(s.cgroup.cgroup_dirs.is_empty());
    }

    #[test]
    fn create_twice_and_open() {
        let root = std::env::temp_dir().join(format!("tong-state-test-{}", std::process::id()));
        let s = Saved {
            id: "c1".into(),
            pid: 1,
            start_time: 2,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroup: Default::default(),
            oci_version: "1.0.2".into(),
            creator: None,
            config: Spec::default(),
        };
        // The state is there from the moment the id is taken.
        let d = Dir::create(&root, "c1", &s).unwrap();
        assert_eq!(list(&root).unwrap(), vec!["c1".to_string()]);
        drop(d);
        let e = Dir::create(&root, "c1", &s).err().unwrap();
        assert_eq!(e.msg, "container with id exists: c1");
        let d = Dir::open(&root, "c1").unwrap();
        assert_eq!(d.load().unwrap().start_time, 2);
        assert_eq!(list(&root).unwrap(), vec!["c1".to_string()]);
        d.remove().unwrap();
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        let e = Dir::open(&root, "c1").err().unwrap();
        assert_eq!(e.msg, "container \"c1\" does not exist");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A container directory written by a8a5a60 (config.json then a
    /// `serde_json::Value`), made by its `tong run -d` and `tong update
    /// --memory 300M --pids-limit 50 --cpu-share 512`, loads with the typed
    /// config, and what this version writes back loads the same.
    #[test]
    fn loads_state_written_by_a8a5a60() {
        let root = std::env::temp_dir().join(format!("tong-oldstate-test-{}", std::process::id()));
        let path = root.join("oldstate");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join(STATE),
            include_bytes!("testdata/a8a5a60-state.json"),
        )
        .unwrap();
        std::fs::write(
            path.join(CONFIG),
            include_bytes!("testdata/a8a5a60-config.json"),
        )
        .unwrap();
        let d = Dir::open(&root, "oldstate").unwrap();
        let s = d.load().unwrap();
        assert_eq!(
            (s.id.as_str(), s.pid, s.start_time),
            ("oldstate", 5191, 69824)
        );
        assert_eq!(s.annotations["org.example/key"], "v");
        assert_eq!(s.cgroup.cgroup_dirs.len(), 10);
        assert_eq!(s.creator, None);
        let c = &s.config;
        let p = c.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_deref(),
            Some(&["sleep".to_string(), "1000".into()][..])
        );
        assert_eq!(p.no_new_privileges(), Some(true));
        let poststart = c.hooks().as_ref().unwrap().poststart().as_ref().unwrap();
        assert_eq!(poststart[0].path(), Path::new("/bin/true"));
        let linux = c.linux().as_ref().unwrap();
        assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 10);
        let r = linux.resources().as_ref().unwrap();
        // What the update recorded.
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(314572800));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        assert_eq!(c.mounts().as_ref().unwrap().len(), 7);
        // Written back by this version, it reads the same.
        d.save(&s).unwrap();
        let again = d.load().unwrap();
        assert_eq!(again.config, s.config);
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::from_slice::<serde_json::Value>(include_bytes!(
                "testdata/a8a5a60-state.json"
            ))
            .unwrap()
        );
        drop(d);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A create killed between making its directory and taking the id left
    /// `@creating-<pid>-<id>`: swept once its pid is gone, never while the
    /// create lives, never another id's.
    #[test]
    fn sweep_creating_leftovers() {
        let root = std::env::temp_dir().join(format!("tong-sweep-test-{}", std::process::id()));
        // A pid that is surely gone: a child that has exited and been reaped.
        let dead = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap();
        let me = std::process::id();
        for name in [
            format!("@creating-{dead}-c1"),
            format!("@creating-{me}-c1"),
            format!("@creating-{dead}-c1-other"),
            format!("@deleting-{dead}-c1"),
        ] {
            std::fs::create_dir_all(root.join(name)).unwrap();
        }
        std::fs::write(root.join(format!("@creating-{dead}-c1/lock")), "").unwrap();
        sweep_creating(&root, "c1");
        let mut left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!("@creating-{dead}-c1-other"),
            format!("@creating-{me}-c1"),
        ];
        want.sort();
        assert_eq!(left, want);
        let _ = std::fs::remove_dir_all(&root);
    }
}
