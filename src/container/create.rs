//! `create`: the container's directory, cgroup and init, each recorded
//! before it exists so that a create killed at any point leaves a
//! container `delete --force` removes completely.

use super::{hook_state, write_pid_file, Config, Ctx};
use crate::error::{Context, Error, Result};
use crate::linux::cgroups::{Manager, PlaceOpts};
use crate::process::{self, InitOptions};
use crate::spec::Bundle;
use crate::state::{self, Dir, Saved};
use crate::{hooks, logging};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

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
pub(super) struct Undo {
    pub(super) cgroup: Manager,
    pub(super) dir: Option<Dir>,
}

impl Undo {
    pub(super) fn run(mut self) {
        self.cgroup.discard();
        if let Some(d) = self.dir.take() {
            let _ = d.remove();
        }
    }
}

/// Takes the id: the container's directory, holding its state with this
/// process as the creator, exists before anything else does (see
/// [`Dir::create`]). The cgroup is placed first, so that this one write
/// already names what may be made; what is made later is recorded first.
pub(super) fn begin(ctx: &Ctx, id: &str, bundle: &Bundle) -> Result<(Dir, Saved, Undo)> {
    let cgroup = Manager::plan(&PlaceOpts {
        id,
        cgroups_path: bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_deref()),
        rootless: ctx.rootless,
        systemd: ctx.systemd,
    })?;
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
        cgroup: cgroup.placement(),
        oci_version: bundle.spec.version().clone(),
        creator: Some(state::Creator {
            pid: me.as_raw(),
            start_time: process::start_time(me).unwrap_or(0),
        }),
        config: bundle.spec.clone(),
    };
    let dir = Dir::create(&ctx.root, id, &saved)?;
    let undo = Undo { cgroup, dir: None };
    Ok((dir, saved, undo))
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
    let (dir, saved, mut undo) = begin(ctx, &o.id, &bundle)?;
    let config = Config(saved.config.clone());
    let r = create_in(
        &bundle,
        o,
        (&dir, saved),
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
pub(super) fn create_in(
    bundle: &Bundle,
    o: &CreateOpts,
    (dir, saved): (&Dir, Saved),
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
    let saved = std::cell::RefCell::new(saved);
    undo.cgroup.place(&bundle.spec)?;
    let cg = &undo.cgroup;
    logging::stage("cgroup", t);
    // A rootless create may have gone without (see Manager::place).
    saved.borrow_mut().cgroup = cg.placement();
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
    // The init's pid goes into the state as soon as it exists; a driver
    // that puts init in its cgroup does so then, before init goes on.
    let on_pid = |pid: Pid| -> Result<()> {
        {
            let mut s = saved.borrow_mut();
            s.pid = pid.as_raw();
            s.start_time = process::start_time(pid)
                .ok_or_else(|| Error::new("container init exited during set-up"))?;
            dir.save_state(&s)?;
        }
        if cg.adds_first_process() {
            cg.add_process(pid, &bundle.spec)?;
            // Now that its unit is ours, a delete may stop it.
            let mut s = saved.borrow_mut();
            s.cgroup = cg.placement();
            dir.save_state(&s)?;
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
        // Unless the driver puts init in (makes its cgroup around it).
        cgroup_dirs: cg.join_dirs(),
        on_pid_places: cg.adds_first_process(),
        on_mounts_ready: &on_mounts_ready,
        runtime_is_root: nix::unistd::geteuid().is_root(),
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
