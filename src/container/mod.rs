//! The lifecycle operations. Orchestration only: syscalls live in `linux`,
//! process birth in `process`, files in `state`.

mod checkpoint;
mod signal;

pub use checkpoint::{checkpoint, restore, CheckpointOpts, CriuFlags, RestoreOpts};

pub use signal::parse_signal;

use crate::error::{Context, Error, Result};
use crate::linux::{cgroups, sys};
use crate::process::{self, InitOptions};
use crate::spec::Bundle;
use crate::state::{self, Dir, Saved};
use crate::{hooks, logging};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// Global options every operation sees.
pub struct Ctx {
    pub root: PathBuf,
    /// Without privileges over cgroups, placement is best effort (as runc).
    pub rootless: bool,
    /// `--systemd-cgroup`: systemd makes the container's cgroup (a scope).
    pub systemd: bool,
}

#[derive(Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The caller starts the container itself (`run`), without fifos: see
    /// [`start_direct`].
    pub direct_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A `create` is still making it (the spec's "creating").
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's `state` output: the spec's state plus `rootfs`, `created`, `owner`.
#[derive(serde::Serialize)]
pub struct StateOut {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

/// Where the container's init is, if it is still the process we started.
/// A zombie counts as stopped: it will never run again.
fn live_pid(s: &Saved) -> Option<Pid> {
    let pid = Pid::from_raw(s.pid);
    if s.pid <= 0 {
        return None;
    }
    is_alive(s.pid, s.start_time).then_some(pid)
}

/// Only the freezer's directory is read: v1's `freezer` hierarchy, or the
/// v2 directory when the host has no v1 freezer.
fn is_frozen(dirs: &[PathBuf]) -> bool {
    let is_freezer = |c: &std::ffi::OsStr| {
        c.to_str()
            .is_some_and(|c| c.split(',').any(|x| x == "freezer"))
    };
    let v1 = dirs.iter().find(|d| d.iter().any(is_freezer));
    match v1 {
        Some(d) => {
            std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        }
        None => dirs.iter().any(|d| {
            std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
        }),
    }
}

/// Whether the process is still the one recorded (same pid, same start).
fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && process::stat(Pid::from_raw(pid))
            .is_some_and(|(st, t)| t == start_time && !matches!(st, 'Z' | 'X' | 'x'))
}

pub fn status_of(dir: &Path, s: &Saved) -> (Status, Option<Pid>) {
    if let Some(c) = s.creator {
        // Half-made: creating while its `create` lives; once that died, the
        // container is stopped for good and only `delete` is left to do.
        return if is_alive(c.pid, c.start_time) {
            (Status::Creating, live_pid(s))
        } else {
            (Status::Stopped, None)
        };
    }
    match live_pid(s) {
        None => (Status::Stopped, None),
        // A created container can be paused too (runc): frozen wins.
        Some(p) if is_frozen(&s.cgroup_dirs) => (Status::Paused, Some(p)),
        Some(p) if dir.join(state::FIFO).exists() => (Status::Created, Some(p)),
        Some(p) => (Status::Running, Some(p)),
    }
}

fn state_out(dir: &Path, s: &Saved) -> StateOut {
    let (st, pid) = status_of(dir, s);
    StateOut {
        oci_version: s.oci_version.clone(),
        id: s.id.clone(),
        pid: pid.map(|p| p.as_raw()).unwrap_or(0),
        status: st.as_str(),
        bundle: s.bundle.clone(),
        rootfs: s.rootfs.clone(),
        created: s.created.clone(),
        owner: s.owner.clone(),
        annotations: s.annotations.clone(),
    }
}

fn hooks_of(s: &Saved) -> Option<oci_spec::runtime::Hooks> {
    serde_json::from_value(s.config.get("hooks")?.clone()).ok()
}

fn hook_state(s: &Saved, status: &str, pid: Option<Pid>) -> String {
    hooks::state_json(
        &s.oci_version,
        &s.id,
        status,
        pid,
        &s.bundle,
        &s.annotations,
    )
}

/// `LISTEN_FDS` from systemd socket activation, when it is meant for us:
/// as sd_listen_fds(3), only with LISTEN_PID naming this very process, so a
/// variable inherited from some other activated process hands nothing over.
pub fn socket_activation_fds() -> u32 {
    let pid_ok = std::env::var("LISTEN_PID").is_ok_and(|p| p == std::process::id().to_string());
    match std::env::var("LISTEN_FDS") {
        Ok(n) if pid_ok => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Things made during `create` that must go if it fails.
struct Undo {
    cgroup_dirs: Vec<PathBuf>,
    unit: Option<String>,
    rootless: bool,
    dir: Option<Dir>,
}

impl Undo {
    fn run(mut self) {
        if let Some(u) = &self.unit {
            let _ = stop_unit(u, self.rootless);
        }
        let _ = cgroups::destroy(&self.cgroup_dirs);
        if let Some(d) = self.dir.take() {
            let _ = d.remove();
        }
    }
}

/// Where the container's cgroup goes: the host's hierarchies, the systemd
/// unit under `--systemd-cgroup`, the cgroup path and its directory in each
/// hierarchy.
struct Placement {
    hier: Vec<cgroups::Hierarchy>,
    unit: Option<cgroups::systemd::UnitPath>,
    path: String,
    dirs: Vec<PathBuf>,
}

fn cgroup_place(ctx: &Ctx, bundle: &Bundle, id: &str) -> Result<Placement> {
    let path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_deref());
    let hier = cgroups::hierarchies()?;
    let own = hier
        .iter()
        .find(|h| h.is_v2)
        .or(hier.first())
        .map(|h| h.own_path.as_str())
        .unwrap_or("/");
    let unit = if ctx.systemd {
        Some(cgroups::systemd::parse_path(
            path.and_then(|p| p.to_str()),
            id,
            ctx.rootless,
        )?)
    } else {
        None
    };
    let cg_path = match &unit {
        // A user's systemd instance keeps its units under its own cgroup
        // (user@UID.service), which only it knows, as runc asks it.
        Some(u) if ctx.rootless => {
            let base = cgroups::systemd::Bus::connect(true)?
                .manager_cgroup()
                .map_err(|e| e.at("/linux/cgroupsPath"))?;
            format!(
                "{}{}",
                base.trim_end_matches('/'),
                cgroups::systemd::cgroup_path(u)?
            )
        }
        Some(u) => cgroups::systemd::cgroup_path(u)?,
        None if ctx.rootless && !hier.is_empty() && hier.iter().all(|h| h.is_v2) => {
            cgroups::rootless_v2_path(path, id, own)
        }
        None => cgroups::container_path(path, id, own),
    };
    let mut dirs = cgroups::dirs_for(&hier, &cg_path);
    if ctx.rootless && unit.is_none() && hier.iter().any(|h| !h.is_v2) {
        // On a v1 or hybrid host only the v1 hierarchies are used rootless
        // (as runc's v1 manager): the hybrid's v2 one holds no controllers,
        // and entering a cgroup there needs write access to the common
        // ancestor's cgroup.procs, which a user is never given.
        dirs.retain(|d| !hier.iter().any(|h| h.is_v2 && d.starts_with(&h.mountpoint)));
    }
    Ok(Placement {
        hier,
        unit,
        path: cg_path,
        dirs,
    })
}

/// Takes the id: the container's directory, holding its state with this
/// process as the creator, exists before anything else does (see
/// [`Dir::create`]). The cgroup is placed first, so that this one write
/// already names what may be made; what is made later is recorded first.
fn begin(ctx: &Ctx, id: &str, bundle: &Bundle) -> Result<(Dir, Saved, Undo, Placement)> {
    let place = cgroup_place(ctx, bundle, id)?;
    let unit = place.unit.as_ref().map(|u| u.unit.clone());
    let me = Pid::this();
    let saved = Saved {
        id: id.to_owned(),
        pid: 0,
        start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        owner: String::new(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup_dirs: place.dirs.clone(),
        oci_version: bundle.spec.version().clone(),
        systemd_unit: unit.clone(),
        creator: Some(state::Creator {
            pid: me.as_raw(),
            start_time: process::start_time(me).unwrap_or(0),
        }),
        config: serde_json::to_value(&bundle.spec).unwrap_or_default(),
    };
    let dir = Dir::create(&ctx.root, id, &saved)?;
    let undo = Undo {
        cgroup_dirs: place.dirs.clone(),
        unit,
        rootless: ctx.rootless,
        dir: None,
    };
    Ok((dir, saved, undo, place))
}

/// `create`: everything up to the point where init waits for `start`.
pub fn create(ctx: &Ctx, o: &CreateOpts) -> Result<Pid> {
    create_with_console(ctx, o, None).map(|m| m.pid)
}

/// What `run` keeps from its `create`.
pub struct Made {
    pub pid: Pid,
    /// Whether the config asked for a terminal, i.e. whether the pty
    /// master will arrive on the console socket.
    pub terminal: bool,
    /// The saved config, so that `start` and `delete` in the same process
    /// need not read and parse it again.
    pub config: Config,
    /// Init's sync socket, with `direct_start`.
    pub sync: Option<process::sync::Channel>,
}

/// `create` where the caller holds the other end of a console socket
/// (`run` proxies the pty itself).
pub fn create_with_console(
    ctx: &Ctx,
    o: &CreateOpts,
    console: Option<std::os::unix::net::UnixStream>,
) -> Result<Made> {
    let t = Instant::now();
    let mut bundle = Bundle::load(&o.bundle)?;
    crate::linux::validate::check_host(&bundle.spec)?;
    logging::stage("parse", t);
    let t = Instant::now();
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => Some(crate::linux::seccomp::cached(&ctx.root, profile)?),
        None => None,
    };
    if seccomp.is_some() {
        logging::stage("seccomp", t);
    }
    let listen_fds = socket_activation_fds();
    if listen_fds > 0 {
        // systemd socket activation: the sockets follow stdio, as runc passes them.
        if let Some(p) = bundle.spec.process_mut().as_mut() {
            let mut env = p.env().clone().unwrap_or_default();
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={listen_fds}"));
            env.push("LISTEN_PID=1".into());
            p.set_env(Some(env));
        }
    }
    let o = &CreateOpts {
        preserve_fds: o.preserve_fds + listen_fds,
        ..o.clone()
    };
    let process = bundle.spec.process().as_ref();
    let terminal = process.and_then(|p| p.terminal()) == Some(true);
    if terminal && o.console_socket.is_none() && console.is_none() {
        return Err(Error::field(
            "/process/terminal",
            "cannot allocate tty if tong will detach without setting console socket",
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::new(
            "cannot use console socket if tong will not detach or allocate tty",
        ));
    }
    let (dir, saved, mut undo, place) = begin(ctx, &o.id, &bundle)?;
    let config = Config(saved.config.clone());
    let r = create_in(
        ctx,
        &bundle,
        o,
        (&dir, saved, place),
        &mut undo,
        console,
        seccomp.as_ref(),
    );
    match r {
        Ok((pid, sync)) => Ok(Made {
            pid,
            terminal,
            config,
            sync,
        }),
        Err(e) => {
            undo.dir = Some(dir);
            undo.run();
            Err(e)
        }
    }
}

/// Everything `create` makes, each recorded in the state before it exists
/// (cgroup paths, then the init's pid), so a create killed at any point
/// leaves a container that `delete --force` removes completely.
#[allow(clippy::too_many_arguments)]
fn create_in(
    ctx: &Ctx,
    bundle: &Bundle,
    o: &CreateOpts,
    (dir, saved, place): (&Dir, Saved, Placement),
    undo: &mut Undo,
    console: Option<std::os::unix::net::UnixStream>,
    seccomp: Option<&crate::linux::seccomp::Program>,
) -> Result<(Pid, Option<process::sync::Channel>)> {
    let start = if o.direct_start {
        process::StartBy::Runtime
    } else {
        let fifo = dir.fifo();
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622)).ctx("create exec fifo")?;
        let exec: OwnedFd = open(
            &fifo,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx("open exec fifo")?;
        let start_fifo = dir.start_fifo();
        nix::unistd::mkfifo(&start_fifo, Mode::from_bits_truncate(0o600))
            .ctx("create start fifo")?;
        // Read-write: opening never blocks, and init holds a writer until exec.
        let result: OwnedFd = open(&start_fifo, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .ctx("open start fifo")?;
        process::StartBy::Fifos { exec, result }
    };

    let t = Instant::now();
    let linux = bundle.spec.linux().as_ref();
    let Placement {
        hier,
        unit,
        mut dirs,
        ..
    } = place;
    let saved = std::cell::RefCell::new(saved);
    // The resources the fs driver writes; systemd's part goes with the unit.
    let resources = linux.map(|l| {
        let mut r = l.resources().clone().unwrap_or_default();
        if crate::linux::namespaces::in_user_namespace()
            || (ctx.rootless && !nix::unistd::geteuid().is_root())
        {
            // The kernel takes device rules only from the initial user
            // namespace (v1 devices.deny/allow, v2 bpf(2), which needs
            // CAP_SYS_ADMIN there): in a cgroup delegated to a user, or to
            // a user namespace, they are left out (runc tries and ignores
            // the error when rootless); nothing there can make a device
            // node anyway.
            r.set_devices(None);
        } else {
            let rules = cgroups::resources::device_rules(
                r.devices().as_deref().unwrap_or(&[]),
                l.devices().as_deref().unwrap_or(&[]),
            );
            r.set_devices(Some(rules));
        }
        r
    });
    if unit.is_none() {
        if let Err(e) = cgroups::create(&dirs) {
            if !ctx.rootless {
                return Err(e.at("/linux/cgroupsPath"));
            }
            logging::warn(&format!("rootless: not using cgroups: {e}"));
            let _ = cgroups::destroy(&dirs);
            dirs.clear();
            undo.cgroup_dirs.clear();
        }
        if let (Some(r), false) = (&resources, dirs.is_empty()) {
            cgroups::apply_in(&hier, &dirs, r)?;
        }
    }
    // A process born into a frozen cgroup never runs: set-up would hang.
    if let (None, Some(d)) = (&unit, cgroups::frozen_dir(&dirs)) {
        return Err(Error::field(
            "/linux/cgroupsPath",
            format!(
                "cgroup {} is frozen: refusing to create a container in it (thaw it first)",
                d.display()
            ),
        ));
    }
    logging::stage("cgroup", t);

    if dirs.is_empty() {
        saved.borrow_mut().cgroup_dirs.clear();
    }
    let spec_hooks = bundle.spec.hooks().clone();
    let on_mounts_ready = |pid: Pid| -> Result<()> {
        let t = Instant::now();
        if let Some(h) = &spec_hooks {
            let st = hook_state(&saved.borrow(), "creating", Some(pid));
            hooks::run_all(h.prestart().as_ref(), &st, "prestart")?;
            hooks::run_all(h.create_runtime().as_ref(), &st, "createRuntime")?;
        }
        logging::stage("createRuntime hooks", t);
        Ok(())
    };
    let console = match (
        &o.console_socket,
        bundle.spec.process().as_ref().and_then(|p| p.terminal()),
    ) {
        (Some(p), Some(true)) => Some(crate::linux::console::connect(p)?),
        (None, Some(true)) => console,
        _ => None,
    };
    let profile = linux.and_then(|l| l.seccomp().as_ref());
    let on_seccomp_fd = |pid: Pid, fd: std::os::fd::BorrowedFd| -> Result<()> {
        let st: serde_json::Value =
            serde_json::from_str(&hook_state(&saved.borrow(), "creating", Some(pid)))
                .unwrap_or_default();
        match profile {
            Some(p) => crate::linux::seccomp::send_to_listener(p, fd, pid.as_raw(), st),
            None => Ok(()),
        }
    };
    // The init's pid goes into the state as soon as it exists; under
    // systemd, its scope is made around it then, before init goes on.
    let on_pid = |pid: Pid| -> Result<()> {
        {
            let mut s = saved.borrow_mut();
            s.pid = pid.as_raw();
            s.start_time = process::start_time(pid)
                .ok_or_else(|| Error::new("container init exited during set-up"))?;
            dir.save_state(&s)?;
        }
        if let Some(u) = &unit {
            let t = Instant::now();
            start_unit(ctx, u, &bundle.spec, resources.as_ref(), pid, &hier, &dirs)?;
            cgroups::apply_in(
                &hier,
                &dirs,
                resources.as_ref().unwrap_or(&Default::default()),
            )?;
            logging::stage("systemd scope", t);
        }
        Ok(())
    };
    let spawned = process::spawn_init(&InitOptions {
        on_pid: &on_pid,
        on_seccomp_fd: &on_seccomp_fd,
        console: console.as_ref().map(|c| c.as_fd()),
        id: &o.id,
        bundle,
        seccomp,
        start,
        no_pivot: o.no_pivot,
        preserve_fds: o.preserve_fds,
        keyring: (!o.no_new_keyring).then(|| o.id.clone()),
        // Under systemd the scope is made around the running init.
        cgroup_dirs: if unit.is_some() { &[] } else { &dirs },
        on_pid_places: unit.is_some(),
        on_mounts_ready: &on_mounts_ready,
    })?;
    let finish = || -> Result<()> {
        let mut s = saved.borrow_mut();
        s.creator = None;
        dir.save_state(&s)?;
        if let Some(p) = &o.pid_file {
            write_pid_file(p, spawned.pid)?;
        }
        // Only now may init wait for `start`: had we died before this, it
        // would have seen its sync socket close and gone.
        if let Some(ch) = &spawned.sync {
            ch.send(&process::sync::Msg::Committed)
                .ctx("container init exited during set-up")?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        process::kill_and_reap(&spawned);
        return Err(e);
    }
    // Kept by a runtime that starts it itself; closed otherwise.
    let sync = spawned.sync.filter(|_| o.direct_start);
    Ok((spawned.pid, sync))
}

/// The container's transient unit: the scope (or slice) holding `pid`,
/// delegated to us, with the resources systemd has properties for.
fn start_unit(
    ctx: &Ctx,
    u: &cgroups::systemd::UnitPath,
    spec: &oci_spec::runtime::Spec,
    r: Option<&oci_spec::runtime::LinuxResources>,
    pid: Pid,
    hier: &[cgroups::Hierarchy],
    dirs: &[PathBuf],
) -> Result<()> {
    use cgroups::systemd::{self as sd, Value};
    let v2 = hier.iter().all(|h| h.is_v2);
    let mut props = vec![
        (
            "Description".to_owned(),
            Value::Str(format!("tong container {}", u.unit)),
        ),
        ("Delegate".into(), Value::Bool(true)),
        ("DefaultDependencies".into(), Value::Bool(false)),
        ("MemoryAccounting".into(), Value::Bool(true)),
        ("CPUAccounting".into(), Value::Bool(true)),
        ("TasksAccounting".into(), Value::Bool(true)),
        (
            if v2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            }
            .into(),
            Value::Bool(true),
        ),
    ];
    if u.unit.ends_with(".scope") {
        props.push(("Slice".into(), Value::Str(u.slice.clone())));
        props.push(("PIDs".into(), Value::U32s(vec![pid.as_raw() as u32])));
    }
    if let Some(r) = r {
        let devices = crate::linux::sys::read_text("/proc/devices").unwrap_or_default();
        props.extend(sd::properties(r, v2, &devices)?);
    }
    props.extend(sd::annotation_properties(
        spec.annotations().as_ref().unwrap_or(&Default::default()),
    )?);
    let mut bus = sd::Bus::connect(ctx.rootless)?;
    bus.start_unit(&u.unit, &props)
        .map_err(|e| e.at("/linux/cgroupsPath"))?;
    if u.unit.ends_with(".slice") {
        // A slice holds no processes itself: init joins its cgroup.
        cgroups::add(dirs, pid)?;
    }
    Ok(())
}

/// Stops a container's unit (nothing stays in `systemctl list-units`).
fn stop_unit(unit: &str, rootless: bool) -> Result<()> {
    cgroups::systemd::Bus::connect(rootless)?.stop_unit(unit)
}

/// Writes the pid file atomically, as engines poll for it.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    // Exclusive and not following a link: a file or symlink planted at the
    // temporary name is an error, never a target we write through.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(pid.as_raw().to_string().as_bytes())
    };
    write().ctx(format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::from(e).context(format!("write pid file {}", path.display()))
    })
}

/// A container's saved config as this process already knows it.
pub struct Config(serde_json::Value);

/// The state, with the config from `known` when the caller has it (it does
/// not change after create) instead of reading it again.
fn load(dir: &Dir, known: Option<&Config>) -> Result<Saved> {
    match known {
        Some(c) => {
            let mut s = dir.load_state()?;
            s.config = c.0.clone();
            Ok(s)
        }
        None => dir.load(),
    }
}

/// `start`: releases init to exec the user's process.
pub fn start(ctx: &Ctx, id: &str) -> Result<()> {
    start_known(ctx, id, None)
}

/// [`start`] by a process that made the container (`run`).
pub fn start_known(ctx: &Ctx, id: &str, known: Option<&Config>) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = load(&dir, known)?;
    match status_of(&dir.path, &s).0 {
        Status::Created => {}
        Status::Stopped => return Err(Error::new("cannot start a container that has stopped")),
        st => {
            return Err(Error::new(format!(
                "cannot start an already {} container",
                st.as_str()
            )))
        }
    }
    let fifo = dir.fifo();
    let fd = match open(
        &fifo,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // No reader: init is gone.
        Err(Errno::ENXIO) => return Err(Error::new("container not running")),
        Err(e) => return Err(Error::sys("open exec fifo", e)),
    };
    std::fs::remove_file(&fifo).ctx("remove exec fifo")?;
    // Opened before the release, so init's writer is there to wait for.
    let result = open_start_fifo(&dir)?;
    nix::unistd::write(&fd, &[0u8]).ctx("write exec fifo")?;
    drop(fd);
    if let Some(r) = result {
        wait_start_result(r)?;
    }
    poststart(ctx, id, dir, s, known)
}

/// `start` by the runtime that made the container with `direct_start`
/// (`run`): through init's sync socket, which its exec closes.
pub fn start_direct(
    ctx: &Ctx,
    id: &str,
    sync: process::sync::Channel,
    known: Option<&Config>,
) -> Result<()> {
    use process::sync::Msg;
    sync.send(&Msg::Start)
        .map_err(|_| Error::new("container not running"))?;
    match sync.recv()? {
        None => {}
        Some((Msg::Error(e), _)) => return Err(e),
        Some((m, _)) => return Err(Error::new(format!("start: unexpected sync message {m:?}"))),
    }
    let has = |c: &Config| {
        c.0.get("hooks")
            .and_then(|h| h.get("poststart"))
            .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()))
    };
    if known.is_some_and(|c| !has(c)) {
        return Ok(());
    }
    let dir = Dir::open(&ctx.root, id)?;
    let s = load(&dir, known)?;
    poststart(ctx, id, dir, s, known)
}

/// The poststart hooks of a started container; one that fails destroys it.
fn poststart(ctx: &Ctx, id: &str, dir: Dir, s: Saved, known: Option<&Config>) -> Result<()> {
    if let Some(h) = hooks_of(&s) {
        let st = hook_state(&s, "running", Some(Pid::from_raw(s.pid)));
        // runtime.md step 9: a failing poststart hook is an error that
        // stops the container, which is then destroyed (step 12).
        if let Err(e) = hooks::run_all(h.poststart().as_ref(), &st, "poststart") {
            drop(dir);
            if let Err(d) = delete_known(ctx, id, true, known) {
                logging::warn(&format!("destroy after failed poststart hook: {d}"));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The start fifo's read end, non-blocking at open (a dead init holds no
/// writer), blocking for the read. None for containers made before it existed.
fn open_start_fifo(dir: &Dir) -> Result<Option<OwnedFd>> {
    let path = dir.start_fifo();
    let fd = match open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(Error::sys("open start fifo", e)),
    };
    let _ = std::fs::remove_file(&path);
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
        .ctx("start fifo flags")?;
    Ok(Some(fd))
}

/// Waits until init has exec'd (EOF, nothing written) or reported why it
/// could not (a startContainer hook failed, the exec failed).
fn wait_start_result(fd: OwnedFd) -> Result<()> {
    let mut msg = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read start fifo", e)),
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(Error::new(String::from_utf8_lossy(&msg).trim().to_string()))
    }
}

pub fn state(ctx: &Ctx, id: &str) -> Result<StateOut> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    Ok(state_out(&dir.path, &s))
}

/// Every container under the root, for `list`.
pub fn list(ctx: &Ctx) -> Result<Vec<StateOut>> {
    let mut out = Vec::new();
    for id in state::list(&ctx.root)? {
        let path = ctx.root.join(&id);
        let Ok(bytes) = std::fs::read(path.join("state.json")) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<Saved>(&bytes) else {
            continue;
        };
        out.push(state_out(&path, &s));
    }
    Ok(out)
}

/// `kill`: a pidfd makes sure the signal reaches our init and no recycled pid.
pub fn kill(ctx: &Ctx, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    if all {
        if live_pid(&s).is_none() && cgroups::procs(&s.cgroup_dirs)?.is_empty() {
            return Err(Error::new("container not running"));
        }
        // Frozen, no process can fork a child that escapes the signal.
        let frozen = status_of(&dir.path, &s).0 != Status::Paused
            && cgroups::freeze(&s.cgroup_dirs, true).is_ok();
        let r = signal_all(&s.cgroup_dirs, sig);
        if frozen {
            cgroups::freeze(&s.cgroup_dirs, false)?;
        }
        return r;
    }
    let pidfd = open_pidfd(&s)?;
    sys::pidfd_send_signal(pidfd.as_fd(), sig).map_err(|e| match e {
        Errno::ESRCH => Error::new("no such process"),
        e => Error::sys("kill", e),
    })?;
    // A frozen process cannot die: SIGKILL thaws it, as runc does.
    if sig == libc::SIGKILL && cgroups::frozen_dir(&s.cgroup_dirs).is_some() {
        cgroups::freeze(&s.cgroup_dirs, false)?;
    }
    Ok(())
}

fn signal_all(dirs: &[PathBuf], sig: i32) -> Result<()> {
    if sig == libc::SIGKILL && cgroups::kill_all(dirs) {
        return Ok(());
    }
    for p in cgroups::procs(dirs)? {
        match nix::sys::signal::kill(p, nix::sys::signal::Signal::try_from(sig).ok()) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys(format!("signal {p}"), e)),
        }
    }
    Ok(())
}

/// A pidfd for the init, checked after opening so a reused pid can't slip in.
fn open_pidfd(s: &Saved) -> Result<OwnedFd> {
    let pid = live_pid(s).ok_or_else(|| Error::new("container not running"))?;
    let fd = sys::pidfd_open(pid).map_err(|e| match e {
        Errno::ESRCH => Error::new("container not running"),
        e => Error::sys("pidfd_open", e),
    })?;
    if live_pid(s).is_none() {
        return Err(Error::new("container not running"));
    }
    Ok(fd)
}

/// `delete`: a created or stopped container goes; a running one only with `force`.
pub fn delete(ctx: &Ctx, id: &str, force: bool) -> Result<()> {
    delete_known(ctx, id, force, None)
}

/// [`delete`] by a process that made the container (`run`).
pub fn delete_known(ctx: &Ctx, id: &str, force: bool, known: Option<&Config>) -> Result<()> {
    let dir = match Dir::open(&ctx.root, id) {
        Ok(d) => d,
        Err(_) if force && state::check_id(id).is_ok() => {
            // A create of this id killed before it took the id.
            state::sweep_creating(&ctx.root, id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let s = load(&dir, known)?;
    let (st, _) = status_of(&dir.path, &s);
    match st {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        st => {
            return Err(Error::new(format!(
                "cannot delete container {id} that is not stopped: {}",
                st.as_str()
            )))
        }
    }
    let pidfd = open_pidfd(&s).ok();
    // Init gone, its pid namespace went with it: usually nothing is left
    // and the cgroups go at once. Anything still there (a process sharing
    // a pid namespace, a frozen one) keeps a cgroup busy: then the kill,
    // thaw and wait below, as for a running container.
    if pidfd.is_none() && s.systemd_unit.is_none() && cgroups::remove_empty(&s.cgroup_dirs) {
        return finish_delete(s, dir);
    }
    if let Some(fd) = &pidfd {
        let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
    }
    // With a shared pid namespace, other processes may outlive init.
    let _ = signal_all(&s.cgroup_dirs, libc::SIGKILL);
    // Frozen processes die only once thawed: by our pause (whatever the
    // status says, a created container can be paused too) or by someone
    // else's freezer above ours, which we cannot thaw; then say so rather
    // than wait forever.
    if pidfd.is_some() && cgroups::frozen_dir(&s.cgroup_dirs).is_some() {
        let _ = cgroups::freeze(&s.cgroup_dirs, false);
    }
    if let Some(fd) = &pidfd {
        if !process::wait_exit_for(fd.as_fd(), std::time::Duration::from_secs(10)) {
            return Err(Error::new(format!(
                "container {id} did not exit after SIGKILL: {}",
                match cgroups::frozen_dir(&s.cgroup_dirs) {
                    Some(d) => format!("its cgroup {} is frozen", d.display()),
                    None => "its processes are stuck in the kernel".into(),
                }
            )));
        }
    }
    if let Some(u) = &s.systemd_unit {
        stop_unit(u, ctx.rootless)?;
    }
    cgroups::destroy(&s.cgroup_dirs)?;
    finish_delete(s, dir)
}

/// The end of a delete, once the cgroups are gone: poststop hooks, then
/// the state directory.
fn finish_delete(s: Saved, dir: Dir) -> Result<()> {
    if let Some(h) = hooks_of(&s) {
        hooks::run_all_warn(
            h.poststop().as_ref(),
            &hook_state(&s, "stopped", None),
            "poststop",
        );
    }
    dir.remove()
}

/// What `exec` runs and how.
pub struct ExecOpts {
    pub id: String,
    /// The process: from `--process` or built from the container's with the flags applied.
    pub process: ExecProcess,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub console_socket: Option<PathBuf>,
    /// The runtime's end of a socketpair for a foreground `exec -t`: the
    /// pty master arrives there and tong proxies it (runc does the same).
    pub console: Option<std::os::unix::net::UnixStream>,
    /// `--cgroup`: sub-cgroups to run in, `path` or `controller[,controller]:path`.
    pub sub_cgroups: Vec<String>,
}

/// Applies `exec --cgroup` specs to the container's cgroup directories.
fn sub_cgroup_dirs(dirs: &[PathBuf], specs: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = dirs.to_vec();
    if specs.is_empty() {
        return Ok(out);
    }
    let hier = cgroups::hierarchies()?;
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
                    return Err(Error::new(format!("{sub} is not a sub cgroup path")))
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
                    return Err(Error::new(format!(
                        "exec: cgroup {} does not exist",
                        d.display()
                    )));
                }
            }
        }
        if !matched {
            return Err(Error::new(format!(
                "invalid --cgroup {spec:?}: no such controller"
            )));
        }
    }
    Ok(out)
}

pub enum ExecProcess {
    /// A runtime-spec Process JSON file (`--process`).
    File(PathBuf),
    /// The container's process with overrides (runc's individual flags).
    Flags(ExecFlags),
}

#[derive(Default)]
pub struct ExecFlags {
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

fn build_process(saved: &Saved, p: &ExecProcess) -> Result<(oci_spec::runtime::Process, String)> {
    use oci_spec::runtime::Process;
    match p {
        ExecProcess::File(path) => {
            let bytes = std::fs::read(path).ctx(format!("open process file {}", path.display()))?;
            let bytes = default_user(bytes);
            let process: Process = crate::spec::from_json(&bytes, "process.json")?;
            crate::spec::validate_process(&process, "")?;
            Ok((process, String::new()))
        }
        ExecProcess::Flags(f) => {
            let mut v = saved.config.get("process").cloned().unwrap_or_default();
            if f.args.is_empty() {
                return Err(Error::new("exec: no command given"));
            }
            v["args"] = serde_json::json!(f.args);
            v["terminal"] = f.tty.into();
            if let Some(c) = &f.cwd {
                v["cwd"] = c.to_string_lossy().into_owned().into();
            }
            if !f.env.is_empty() {
                let mut env: Vec<String> = v["env"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for e in &f.env {
                    // A variable given again replaces the container's value.
                    let key = e.split('=').next().unwrap_or("");
                    env.retain(|x| x.split('=').next() != Some(key));
                    env.push(e.clone());
                }
                v["env"] = serde_json::json!(env);
            }
            if let Some(u) = &f.user {
                let (uid, gid) = parse_user(u)?;
                v["user"]["uid"] = uid.into();
                v["user"]["gid"] = gid.into();
            }
            if !f.additional_gids.is_empty() {
                v["user"]["additionalGids"] = serde_json::json!(f.additional_gids);
            }
            if f.no_new_privs {
                v["noNewPrivileges"] = true.into();
            }
            if let Some(p) = &f.apparmor {
                v["apparmorProfile"] = p.clone().into();
            }
            if let Some(l) = &f.process_label {
                v["selinuxLabel"] = l.clone().into();
            }
            // Added capabilities go to bounding, effective and permitted only,
            // never inheritable (CVE-2022-29162).
            for cap in &f.caps {
                for set in ["bounding", "effective", "permitted"] {
                    let list = &mut v["capabilities"][set];
                    if !list.is_array() {
                        *list = serde_json::json!([]);
                    }
                    if let Some(a) = list.as_array_mut() {
                        if !a.iter().any(|c| c == cap.as_str()) {
                            a.push(cap.clone().into());
                        }
                    }
                }
            }
            let bytes = serde_json::to_vec(&v).map_err(|e| Error::new(e.to_string()))?;
            let process: Process = crate::spec::from_json(&bytes, "process")?;
            crate::spec::validate_process(&process, "/process")?;
            Ok((process, "/process".into()))
        }
    }
}

/// A process.json without `user` runs as 0:0, as in runc.
fn default_user(bytes: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut m)) if !m.contains_key("user") => {
            m.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            serde_json::to_vec(&m).unwrap_or(bytes)
        }
        _ => bytes,
    }
}

/// `UID[:GID]`, numeric as runc's `--user` takes them.
fn parse_user(u: &str) -> Result<(u32, u32)> {
    let bad = || Error::new(format!("invalid --user {u:?}: want UID[:GID] as numbers"));
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    let gid: u32 = match gid {
        Some(g) => g.parse().map_err(|_| bad())?,
        None => 0,
    };
    Ok((uid, gid))
}

/// `exec`: starts a process in a running container and returns it, and
/// whether it has a terminal.
pub fn exec(ctx: &Ctx, o: &ExecOpts) -> Result<(process::Spawned, bool)> {
    // Hold the lock only while reading: a long exec must not block kill or delete.
    let t = Instant::now();
    let saved = Dir::open(&ctx.root, &o.id)?.load()?;
    let (st, _) = status_of(&ctx.root.join(&o.id), &saved);
    match st {
        Status::Stopped => return Err(Error::new("container not running")),
        Status::Paused if !o.ignore_paused => {
            return Err(Error::new(
                "cannot exec in a paused container (use --ignore-paused to override)",
            ))
        }
        _ => {}
    }
    let (mut proc_spec, at) = build_process(&saved, &o.process)?;
    crate::linux::validate::check_process(&proc_spec, &at)?;
    let terminal = proc_spec.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && proc_spec.console_size().is_none() {
        // tong proxies the pty: it starts with our terminal's size.
        if let Ok((h, w)) = sys::get_winsize(std::io::stdin().as_fd()) {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(h as u64)
                .width(w as u64)
                .build();
            proc_spec.set_console_size(size.ok());
        }
    }
    let console = match (&o.console_socket, terminal) {
        (Some(p), true) => Some(crate::linux::console::connect(p)?),
        (None, true) if o.console.is_some() => o.console.as_ref().and_then(|c| c.try_clone().ok()),
        (None, true) => {
            return Err(Error::field(
                format!("{at}/terminal"),
                "cannot allocate tty if tong will detach without setting console socket",
            ))
        }
        (Some(_), false) => {
            return Err(Error::new(
                "cannot use console socket if tong will not detach or allocate tty",
            ))
        }
        (None, false) => None,
    };
    let pidfd = open_pidfd(&saved)?;
    let userns = saved.config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n["type"] == "user"));
    let profile: Option<oci_spec::runtime::LinuxSeccomp> =
        match saved.config["linux"].get("seccomp") {
            Some(v) if !v.is_null() => Some(crate::spec::from_json(
                v.to_string().as_bytes(),
                "linux.seccomp",
            )?),
            _ => None,
        };
    let seccomp = profile
        .as_ref()
        .map(|p| crate::linux::seccomp::cached(&ctx.root, p))
        .transpose()?;
    let procfs = if crate::linux::lsm::wants_labels(&proc_spec) {
        Some(crate::linux::lsm::open_procfs()?)
    } else {
        None
    };
    let on_seccomp_fd = |pid: Pid, fd: std::os::fd::BorrowedFd| -> Result<()> {
        let st: serde_json::Value = serde_json::from_str(&hook_state(
            &saved,
            "running",
            Some(Pid::from_raw(saved.pid)),
        ))
        .unwrap_or_default();
        match &profile {
            Some(p) => crate::linux::seccomp::send_to_listener(p, fd, pid.as_raw(), st),
            None => Ok(()),
        }
    };
    let mempolicy: Option<oci_spec::runtime::LinuxMemoryPolicy> =
        match saved.config["linux"].get("memoryPolicy") {
            Some(v) if !v.is_null() => Some(crate::spec::from_json(
                v.to_string().as_bytes(),
                "linux.memoryPolicy",
            )?),
            _ => None,
        };
    crate::logging::stage("exec: state, config and process", t);
    let t = Instant::now();
    let spawned = process::exec::spawn_exec(&process::exec::ExecOptions {
        on_seccomp_fd: &on_seccomp_fd,
        seccomp: seccomp.as_ref(),
        procfs: procfs.as_ref().map(|p| p.as_fd()),
        init_pid: Pid::from_raw(saved.pid),
        init_pidfd: pidfd.as_fd(),
        process: &proc_spec,
        at: &at,
        userns,
        preserve_fds: o.preserve_fds,
        console: console.as_ref().map(|c| c.as_fd()),
        cgroup_dirs: &sub_cgroup_dirs(&saved.cgroup_dirs, &o.sub_cgroups)?,
        mempolicy: mempolicy.as_ref(),
        oom_score_adj: saved.config["process"]["oomScoreAdj"]
            .as_i64()
            .and_then(|v| i32::try_from(v).ok()),
    });
    crate::logging::stage("exec: join and execve", t);
    spawned.map(|s| (s, terminal))
}

/// `pause`: freezes every process of a running container.
pub fn pause(ctx: &Ctx, id: &str) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    match status_of(&dir.path, &s).0 {
        Status::Running | Status::Created => cgroups::freeze(&s.cgroup_dirs, true),
        Status::Paused => Ok(()),
        _ => Err(Error::new("container not running")),
    }
}

/// `resume`: thaws a paused container.
pub fn resume(ctx: &Ctx, id: &str) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    match status_of(&dir.path, &s).0 {
        Status::Paused => cgroups::freeze(&s.cgroup_dirs, false),
        Status::Stopped => Err(Error::new("container not running")),
        _ => Err(Error::new("container not paused")),
    }
}

/// Overlays `patch` onto `base`, object by object (values in `patch` win).
fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge_json(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `update`: applies new resource limits to a live container and records them.
pub fn update(ctx: &Ctx, id: &str, patch: &serde_json::Value) -> Result<()> {
    let dir = Dir::open(&ctx.root, id)?;
    let mut s = dir.load()?;
    if status_of(&dir.path, &s).0 == Status::Stopped {
        return Err(Error::new("container not running"));
    }
    let r: oci_spec::runtime::LinuxResources =
        crate::spec::from_json(patch.to_string().as_bytes(), "resources")?;
    // Only what the update names is written; device rules are not updatable.
    let mut r = r;
    r.set_devices(None);
    // config-linux.md: with checkBeforeUpdate, a limit below what the
    // container already uses is refused instead of reclaiming or OOM-killing.
    if let Some(m) = r
        .memory()
        .as_ref()
        .filter(|m| m.check_before_update() == Some(true))
    {
        if let (Some(limit), Some(used)) = (
            m.limit().filter(|l| *l > 0),
            cgroups::memory_usage(&s.cgroup_dirs),
        ) {
            if (limit as u64) < used {
                return Err(Error::field(
                    "/memory/limit",
                    format!("memory limit {limit} is below the container's current usage {used} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    if let Some(u) = &s.systemd_unit {
        let v2 = cgroups::hierarchies()?.iter().all(|h| h.is_v2);
        let props = cgroups::systemd::properties(&r, v2, "")?;
        if !props.is_empty() {
            cgroups::systemd::Bus::connect(ctx.rootless)?.set_properties(u, &props)?;
        }
    }
    cgroups::apply(&s.cgroup_dirs, &r)?;
    let mut resources = s.config["linux"]["resources"].take();
    merge_json(&mut resources, patch);
    s.config["linux"]["resources"] = resources;
    dir.save(&s)
}

/// The host pids of every process in the container (none once it stopped:
/// runc's `ps` then prints just the header).
pub fn pids(ctx: &Ctx, id: &str) -> Result<Vec<Pid>> {
    let dir = Dir::open(&ctx.root, id)?;
    let s = dir.load_state()?;
    if status_of(&dir.path, &s).0 == Status::Stopped {
        return Ok(Vec::new());
    }
    cgroups::procs(&s.cgroup_dirs)
}

/// What `events` watches: the cgroup directories and a pidfd of the init.
pub fn event_source(ctx: &Ctx, id: &str) -> Result<(Vec<PathBuf>, OwnedFd)> {
    let s = Dir::open(&ctx.root, id)?.load_state()?;
    let pidfd = open_pidfd(&s)?;
    Ok((s.cgroup_dirs, pidfd))
}
