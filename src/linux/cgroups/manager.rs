//! One interface to a container's cgroup, whatever the driver: cgroupfs
//! (v1, v2 or hybrid), systemd (a transient unit, then the cgroupfs writes
//! inside it), or none (rootless without a delegated cgroup, as crun's
//! disabled manager). Callers never learn which.

use super::{apply, fs, hierarchies, stats, systemd, OomWatch};
use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the saved state keeps of the cgroup, in the fields (and the JSON
/// names) state files have always had, so that older ones still load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The container's directory in each hierarchy; none without cgroups.
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The transient systemd unit holding them, under `--systemd-cgroup`;
    /// recorded before it is started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// Whether systemd made that unit for this container (its
    /// `StartTransientUnit` succeeded, which it does only for a unit that
    /// did not exist). Only then are the unit and its cgroup ours to stop,
    /// signal and remove: a cgroupsPath may name someone else's (issue 27
    /// S2/S3). Absent in state files older than this field, whose units
    /// were always stopped: then taken as made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit_started: Option<bool>,
}

/// What decides where a new container's cgroup goes.
pub struct PlaceOpts<'a> {
    pub id: &'a str,
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<&'a Path>,
    /// Without privileges over cgroups, placement is best effort (as runc).
    pub rootless: bool,
    /// `--systemd-cgroup`.
    pub systemd: bool,
}

#[derive(Debug, Clone)]
enum Driver {
    /// tong makes the directories and writes them.
    Fs,
    /// systemd makes a unit around the process; tong writes inside it. A
    /// unit loaded from the state has only its name (the slice is empty).
    Systemd(systemd::UnitPath),
    /// No cgroup at all.
    Disabled,
}

/// A container's cgroup: [`Manager::plan`] for a new one, [`Manager::load`]
/// for one in the saved state.
#[derive(Debug, Clone)]
pub struct Manager {
    driver: Driver,
    dirs: Vec<PathBuf>,
    /// The cgroup path within each hierarchy (empty when loaded).
    path: String,
    rootless: bool,
    /// What [`Manager::place`] writes (and a restore writes again).
    resources: Option<LinuxResources>,
    /// Under systemd, whether the unit is ours (see
    /// [`Placement::systemd_unit_started`]); set as soon as systemd made it.
    made: std::cell::Cell<bool>,
}

impl Manager {
    /// Where a new container's cgroup goes; nothing is made yet, so the
    /// state can record it first ([`Manager::placement`]).
    pub fn plan(o: &PlaceOpts) -> Result<Manager> {
        let hier = hierarchies()?;
        let own = hier
            .iter()
            .find(|h| h.is_v2)
            .or(hier.first())
            .map(|h| h.own_path.as_str())
            .unwrap_or("/");
        let unit = if o.systemd {
            Some(systemd::parse_path(
                o.cgroups_path.and_then(|p| p.to_str()),
                o.id,
                o.rootless,
            )?)
        } else {
            None
        };
        let path = match &unit {
            // A user's systemd instance keeps its units under its own cgroup
            // (user@UID.service), which only it knows, as runc asks it.
            Some(u) if o.rootless => {
                use systemd::Bus;
                let base = systemd::DBus::connect(true)?
                    .manager_cgroup()
                    .map_err(|e| e.at("/linux/cgroupsPath"))?;
                format!("{}{}", base.trim_end_matches('/'), systemd::cgroup_path(u)?)
            }
            Some(u) => systemd::cgroup_path(u)?,
            None if o.rootless && !hier.is_empty() && hier.iter().all(|h| h.is_v2) => {
                super::rootless_v2_path(o.cgroups_path, o.id, own)
            }
            None => super::container_path(o.cgroups_path, o.id, own),
        };
        let mut dirs = super::dirs_for(&hier, &path);
        if o.rootless && unit.is_none() && hier.iter().any(|h| !h.is_v2) {
            // On a v1 or hybrid host only the v1 hierarchies are used rootless
            // (as runc's v1 manager): the hybrid's v2 one holds no controllers,
            // and entering a cgroup there needs write access to the common
            // ancestor's cgroup.procs, which a user is never given.
            dirs.retain(|d| !hier.iter().any(|h| h.is_v2 && d.starts_with(&h.mountpoint)));
        }
        Ok(Manager {
            driver: unit.map_or(Driver::Fs, Driver::Systemd),
            dirs,
            path,
            rootless: o.rootless,
            resources: None,
            made: Default::default(),
        })
    }

    /// The cgroup of a container in the saved state.
    pub fn load(p: &Placement, rootless: bool) -> Manager {
        let driver = match &p.systemd_unit {
            Some(u) => Driver::Systemd(systemd::UnitPath {
                slice: String::new(),
                unit: u.clone(),
            }),
            None if p.cgroup_dirs.is_empty() => Driver::Disabled,
            None => Driver::Fs,
        };
        Manager {
            driver,
            dirs: p.cgroup_dirs.clone(),
            path: String::new(),
            rootless,
            resources: None,
            made: p.systemd_unit_started.unwrap_or(true).into(),
        }
    }

    /// The directories this container may write, signal and remove in:
    /// all of them, but under systemd only once it made our unit; before
    /// that (or when it refused), they are some other unit's, or nothing.
    fn dirs(&self) -> &[PathBuf] {
        match self.driver {
            Driver::Systemd(_) if !self.made.get() => &[],
            _ => &self.dirs,
        }
    }

    /// What the saved state records.
    pub fn placement(&self) -> Placement {
        Placement {
            cgroup_dirs: self.dirs.clone(),
            systemd_unit: match &self.driver {
                Driver::Systemd(u) => Some(u.unit.clone()),
                _ => None,
            },
            systemd_unit_started: match &self.driver {
                Driver::Systemd(_) => Some(self.made.get()),
                _ => None,
            },
        }
    }

    /// Makes the cgroup of a new container (created or restored) and
    /// writes `linux.resources` into it. Device rules are left out in a
    /// user namespace or rootless without root: the kernel takes them only
    /// from the initial user namespace (v1 devices.deny/allow, v2 bpf(2),
    /// which needs CAP_SYS_ADMIN there), so in a cgroup delegated to a user
    /// they would fail (runc tries and ignores the error when rootless), and
    /// nothing there can make a device node anyway. Rootless, a cgroup that
    /// cannot be made means none (with a warning). Under systemd nothing is
    /// made until there is a process: see [`Manager::add_process`].
    pub fn place(&mut self, spec: &Spec) -> Result<()> {
        let linux = spec.linux().as_ref();
        self.resources = linux.map(|l| {
            let mut r = l.resources().clone().unwrap_or_default();
            if crate::linux::namespaces::in_user_namespace()
                || (self.rootless && !nix::unistd::geteuid().is_root())
            {
                r.set_devices(None);
            } else {
                let rules = super::resources::device_rules(r.devices().as_deref().unwrap_or(&[]));
                r.set_devices(Some(rules));
            }
            r
        });
        if !matches!(self.driver, Driver::Fs) {
            return Ok(());
        }
        let existed = match fs::create(&self.dirs) {
            Ok(existed) => existed,
            Err(e) => {
                if !self.rootless {
                    return Err(e.at("/linux/cgroupsPath"));
                }
                crate::logging::warn(&format!("rootless: not using cgroups: {e}"));
                let _ = fs::destroy(&self.dirs);
                self.dirs.clear();
                self.driver = Driver::Disabled;
                return Ok(());
            }
        };
        self.write_placed()?;
        // A process born into a frozen cgroup never runs: set-up would hang.
        if let Some(d) = fs::frozen_dir(&self.dirs) {
            return Err(Error::field(
                "/linux/cgroupsPath",
                format!(
                    "cgroup {} is frozen: refusing to create a container in it (thaw it first)",
                    d.display()
                ),
            ));
        }
        // Allowed, as runc allows it, but those processes share the
        // container's limits and die with it on delete. A cgroup made just
        // now is empty: nothing to look at.
        let found = match existed {
            true => fs::procs(&self.dirs).unwrap_or_default(),
            false => Vec::new(),
        };
        if !found.is_empty() {
            crate::logging::warn(&format!(
                "container's cgroup is not empty: {} process(es) found",
                found.len()
            ));
        }
        Ok(())
    }

    /// Writes again what [`Manager::place`] wrote (after a restore, whose
    /// processes criu put in with their checkpointed settings).
    pub fn write_placed(&self) -> Result<()> {
        match &self.resources {
            Some(r) if !self.dirs().is_empty() => apply::apply_in(&hierarchies()?, self.dirs(), r),
            _ => Ok(()),
        }
    }

    /// The directories a process born for the container joins by itself
    /// (see [`super::open_tasks`]): none when the driver puts it in.
    pub fn join_dirs(&self) -> &[PathBuf] {
        match self.driver {
            Driver::Fs => &self.dirs,
            _ => &[],
        }
    }

    /// Whether the driver puts the container's first process in with
    /// [`Manager::add_process`] (a systemd unit is made around it), so that
    /// it must wait for that before going on.
    pub fn adds_first_process(&self) -> bool {
        matches!(self.driver, Driver::Systemd(_))
    }

    /// Puts a running process into the container's cgroup. Under systemd
    /// the first one gets the transient unit made around it (a slice, which
    /// holds no processes itself, is joined instead), and then the
    /// resources systemd has no property for are written inside it.
    pub fn add_process(&self, pid: Pid, spec: &Spec) -> Result<()> {
        match &self.driver {
            Driver::Fs => fs::add(&self.dirs, pid),
            Driver::Disabled => Ok(()),
            Driver::Systemd(u) => {
                let t = std::time::Instant::now();
                let v2 = hierarchies()?.iter().all(|h| h.is_v2);
                let devices = self
                    .resources
                    .as_ref()
                    .map(|_| crate::linux::sys::read_text("/proc/devices").unwrap_or_default())
                    .unwrap_or_default();
                let props = systemd::unit_properties(
                    u,
                    pid.as_raw() as u32,
                    v2,
                    self.resources.as_ref(),
                    &devices,
                    spec.annotations().as_ref().unwrap_or(&Default::default()),
                )?;
                let mut bus = systemd::DBus::connect(self.rootless)?;
                systemd::start_unit(&mut bus, &u.unit, &props, || self.made.set(true))
                    .map_err(|e| e.at("/linux/cgroupsPath"))?;
                if u.unit.ends_with(".slice") {
                    fs::add(&self.dirs, pid)?;
                }
                apply::apply_in(
                    &hierarchies()?,
                    &self.dirs,
                    self.resources.as_ref().unwrap_or(&Default::default()),
                )?;
                crate::logging::stage("systemd scope", t);
                Ok(())
            }
        }
    }

    /// Where criu restores the process tree (`cg_root`), when tong made the
    /// cgroup itself; under systemd the unit already holds criu.
    pub fn criu_root(&self) -> Option<&str> {
        matches!(self.driver, Driver::Fs).then_some(self.path.as_str())
    }

    /// The directory criu freezes the container with: v1's freezer, else
    /// the v2 directory.
    pub fn criu_freezer(&self) -> Option<&Path> {
        let hier = hierarchies().unwrap_or_default();
        let v1 = self.dirs().iter().find(|d| {
            super::hierarchy_of(&hier, d)
                .is_some_and(|h| !h.is_v2 && h.options.split(',').any(|o| o == "freezer"))
        });
        v1.or_else(|| {
            self.dirs()
                .iter()
                .find(|d| d.join("cgroup.freeze").exists())
        })
        .map(|d| d.as_path())
    }

    /// New `linux.resources` for a live container: systemd's properties
    /// first (runtime only), then the files.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        if let Driver::Systemd(u) = &self.driver {
            let v2 = hierarchies()?.iter().all(|h| h.is_v2);
            let props = systemd::properties(r, v2, "")?;
            if !props.is_empty() {
                systemd::set_properties(
                    &mut systemd::DBus::connect(self.rootless)?,
                    &u.unit,
                    &props,
                )?;
            }
        }
        apply::apply(self.dirs(), r)
    }

    /// Bytes of memory the container uses now.
    pub fn memory_usage(&self) -> Option<u64> {
        fs::memory_usage(self.dirs())
    }

    /// Freezes or thaws every process, waiting until the kernel says so.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        fs::freeze(self.dirs(), frozen)
    }

    /// The directory whose freezer holds the container's processes (its
    /// own, or an ancestor's someone else froze), if one does.
    pub fn frozen_dir(&self) -> Option<&Path> {
        fs::frozen_dir(self.dirs())
    }

    /// Whether the container is paused (by the freezer `pause` uses).
    pub fn is_frozen(&self) -> bool {
        fs::paused(self.dirs())
    }

    /// The pids in the container's cgroup.
    pub fn procs(&self) -> Result<Vec<Pid>> {
        fs::procs(self.dirs())
    }

    /// Sends `sig` to every process in the cgroup; SIGKILL at once through
    /// v2's cgroup.kill where there is one (no fork can slip past it).
    pub fn signal_all(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL && fs::kill_all(self.dirs()) {
            return Ok(());
        }
        for p in self.procs()? {
            match nix::sys::signal::kill(p, nix::sys::signal::Signal::try_from(sig).ok()) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::sys(format!("signal {p}"), e)),
            }
        }
        Ok(())
    }

    /// Statistics in runc's `events` format.
    pub fn stats(&self) -> Result<serde_json::Value> {
        stats::of(self.dirs())
    }

    /// A watch for OOM kills in the container's memory cgroup.
    pub fn oom_watch(&self) -> Result<OomWatch> {
        OomWatch::new(self.dirs())
    }

    /// The directories an `exec --cgroup` process joins: `path` or
    /// `controller[,controller]:path` specs below the container's cgroup.
    pub fn exec_dirs(&self, specs: &[String]) -> Result<Vec<PathBuf>> {
        if specs.is_empty() {
            return Ok(self.dirs().to_vec());
        }
        super::sub_dirs(&hierarchies()?, self.dirs(), specs)
    }

    /// Removes the cgroup if nothing is left in it, as when init is gone
    /// with its pid namespace; false when something stays (or a unit must
    /// be stopped): then [`Manager::destroy`] after killing.
    pub fn remove_if_empty(&self) -> bool {
        !matches!(self.driver, Driver::Systemd(_)) && fs::remove_empty(&self.dirs)
    }

    /// Removes the cgroup of a container whose processes are gone: its
    /// unit stopped, its directories removed; nothing of a unit that
    /// systemd did not make for us.
    pub fn destroy(&self) -> Result<()> {
        if let Driver::Systemd(u) = &self.driver {
            if self.made.get() {
                systemd::stop_unit(&mut systemd::DBus::connect(self.rootless)?, &u.unit)?;
            }
        }
        fs::destroy(self.dirs())
    }

    /// [`Manager::destroy`] on the way out of a failed create: each part
    /// is tried whatever the other did.
    pub fn discard(&self) {
        if let Driver::Systemd(u) = &self.driver {
            if !self.made.get() {
                return;
            }
            if let Ok(mut bus) = systemd::DBus::connect(self.rootless) {
                let _ = systemd::stop_unit(&mut bus, &u.unit);
            }
        }
        let _ = fs::destroy(self.dirs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// State files written before the manager name the cgroup the same way.
    #[test]
    fn placement_reads_and_writes_the_old_fields() {
        let old: Placement = serde_json::from_value(serde_json::json!({
            "cgroup_dirs": ["/sys/fs/cgroup/system.slice/tong-c1.scope"],
            "systemd_unit": "tong-c1.scope"
        }))
        .unwrap();
        let m = Manager::load(&old, false);
        assert!(m.adds_first_process() && m.join_dirs().is_empty());
        assert!(!m.remove_if_empty());
        // Before `systemd_unit_started`, every unit was stopped on delete:
        // an older state's unit is still taken as the container's own.
        assert_eq!(m.dirs(), &old.cgroup_dirs[..]);
        assert_eq!(
            m.placement(),
            Placement {
                systemd_unit_started: Some(true),
                ..old.clone()
            }
        );
        let none: Placement = serde_json::from_value(serde_json::json!({})).unwrap();
        let m = Manager::load(&none, true);
        assert!(!m.adds_first_process() && m.criu_root().is_none());
        assert_eq!(
            serde_json::to_value(m.placement()).unwrap(),
            serde_json::json!({"cgroup_dirs": []})
        );
        let fs = Placement {
            cgroup_dirs: vec!["/sys/fs/cgroup/tong/c1".into()],
            systemd_unit: None,
            systemd_unit_started: None,
        };
        let m = Manager::load(&fs, false);
        assert_eq!(m.join_dirs(), &fs.cgroup_dirs[..]);
        assert!(!m.adds_first_process());
    }

    /// Issue 27 S1–S3: a unit systemd did not make for this container
    /// (it refused the name, or the unit existed: someone else's) is never
    /// stopped, and nothing in its cgroup is signalled, written or removed,
    /// though its directories are named in the state.
    #[test]
    fn a_unit_systemd_did_not_make_for_us_is_not_ours() {
        let victim = std::env::temp_dir().join(format!("tong-unit-victim-{}", std::process::id()));
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("cgroup.procs"), "1\n").unwrap();
        let p = Placement {
            cgroup_dirs: vec![victim.clone()],
            systemd_unit: Some("tong-victim.scope".into()),
            systemd_unit_started: Some(false),
        };
        let m = Manager::load(&p, false);
        assert_eq!(m.procs().unwrap(), vec![]);
        m.signal_all(libc::SIGKILL).unwrap();
        assert!(!m.is_frozen() && m.stats().is_ok() && m.memory_usage().is_none());
        assert_eq!(m.exec_dirs(&[]).unwrap(), Vec::<PathBuf>::new());
        // No bus is asked (there is none here): nothing to stop.
        m.destroy().unwrap();
        m.discard();
        assert!(victim.join("cgroup.procs").exists());
        assert_eq!(m.placement(), p);
        std::fs::remove_dir_all(&victim).unwrap();
    }

    /// Without a cgroup nothing is frozen, listed, signalled or removed.
    #[test]
    fn a_disabled_cgroup_holds_nothing() {
        let m = Manager::load(&Placement::default(), true);
        assert!(!m.is_frozen());
        assert_eq!(m.procs().unwrap(), vec![]);
        m.signal_all(libc::SIGKILL).unwrap();
        assert!(m.freeze(true).is_err());
        assert!(m.remove_if_empty());
        m.destroy().unwrap();
        m.add_process(Pid::this(), &Spec::default()).unwrap();
    }
}
