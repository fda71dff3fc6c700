//! `checkpoint` and `restore`: the container's process tree dumped to and
//! restored from image files by CRIU (`criu swrk`, see linux::criu).
//! tong tells criu what it cannot see itself: the bind mounts and masked
//! files (external mounts), namespaces joined by path, the container's
//! cgroup, the engine's stdio pipes and the console.

use super::{hook_state, status_of, write_pid_file, Ctx, Status};
use crate::error::{Context, Error, Result};
use crate::linux::cgroups;
use crate::linux::criu::{self, Notify, Opts, ReqType, Swrk};
use crate::process;
use crate::spec::Bundle;
use crate::state::{Dir, Saved};
use crate::{hooks, logging};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use serde_json::Value;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// criu 3.0 is the first with everything tong asks of it over RPC.
const MIN_CRIU: u32 = 30000;
const DESCRIPTORS: &str = "descriptors.json";

/// The criu flags `checkpoint` and `restore` share.
#[derive(Default, Debug, Clone)]
pub struct CriuFlags {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub lazy_pages: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
}

#[derive(Default, Debug, Clone)]
pub struct CheckpointOpts {
    pub id: String,
    pub criu: CriuFlags,
    pub parent_path: Option<String>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
}

#[derive(Default, Debug, Clone)]
pub struct RestoreOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub criu: CriuFlags,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_subreaper: bool,
    pub no_pivot: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// runc's default image directory: `checkpoint` in the working directory.
fn image_dir(f: &CriuFlags) -> Result<PathBuf> {
    match &f.image_path {
        Some(p) => Ok(p.clone()),
        None => Ok(std::env::current_dir()
            .ctx("current directory")?
            .join("checkpoint")),
    }
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    open(
        p,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open {}", p.display()))
}

/// `--empty-ns` names: runc takes `network`.
fn empty_ns_mask(names: &[String]) -> Result<u32> {
    let mut m = 0u32;
    for n in names {
        m |= match n.as_str() {
            "network" | "net" => libc::CLONE_NEWNET as u32,
            other => {
                return Err(Error::new(format!(
                    "invalid --empty-ns {other:?}: only network is supported"
                )))
            }
        };
    }
    Ok(m)
}

/// Flags checked before anything is made.
fn validate_flags(f: &CriuFlags) -> Result<()> {
    if let Some(m) = &f.manage_cgroups_mode {
        criu::cg_mode(m)?;
    }
    empty_ns_mask(&f.empty_ns).map(|_| ())
}

fn page_server(ps: &str) -> Result<(String, i32)> {
    ps.rsplit_once(':')
        .and_then(|(a, p)| Some((a.to_owned(), p.parse::<i32>().ok()?)))
        .ok_or_else(|| Error::new(format!("invalid --page-server {ps:?}: want ADDRESS:PORT")))
}

/// The criu version (see `criu::version`), refused below 3.0.
fn check_criu(criu: &str) -> Result<u32> {
    let v = criu::version(criu)?;
    if v < MIN_CRIU {
        return Err(Error::new(format!(
            "criu {}.{}.{} is too old: checkpoint/restore needs criu 3.0 or newer",
            v / 10000,
            v / 100 % 100,
            v % 100
        )));
    }
    Ok(v)
}

/// criu 3.15 and newer report a ready lazy page server with the
/// `status-ready` notification; older ones write to a status fd of theirs.
const CRIU_STATUS_READY: u32 = 31500;

/// Checkpoint flag combinations tong (or criu) cannot do, each refused
/// naming its flag before anything is made. As runc, `--status-fd` is the
/// lazy page server's: runc ignores it without `--lazy-pages`; tong says so.
fn validate_checkpoint(o: &CheckpointOpts) -> Result<()> {
    validate_flags(&o.criu)?;
    if let Some(ps) = &o.page_server {
        page_server(ps)?;
    }
    if o.criu.lazy_pages {
        if o.pre_dump {
            return Err(Error::new(
                "--lazy-pages cannot be combined with --pre-dump: a pre-dump copies memory only",
            ));
        }
        if o.leave_running {
            return Err(Error::new(
                "--lazy-pages cannot be combined with --leave-running: the pages are served from the stopped container",
            ));
        }
        if o.page_server.is_none() {
            return Err(Error::new(
                "--lazy-pages needs --page-server ADDRESS:PORT: the address criu serves the pages on for the restoring side's `criu lazy-pages`",
            ));
        }
    }
    if let Some(n) = o.status_fd {
        if !o.criu.lazy_pages {
            return Err(Error::new(format!(
                "--status-fd {n} is only used with --lazy-pages (criu writes to it when the lazy page server is ready)"
            )));
        }
        if n < 0 || !crate::linux::sys::fd_is_open(n) {
            return Err(Error::new(format!(
                "invalid --status-fd {n}: not an open file descriptor"
            )));
        }
    }
    Ok(())
}

/// The options both operations set from the shared flags.
fn base_opts(
    f: &CriuFlags,
    images: BorrowedFd,
    work: Option<BorrowedFd>,
    log: &str,
) -> Result<Opts> {
    Ok(Opts {
        images_dir_fd: images.as_raw_fd(),
        work_dir_fd: work.map(|w| w.as_raw_fd()),
        log_file: log.into(),
        tcp_established: f.tcp_established,
        ext_unix_sk: f.ext_unix_sk,
        shell_job: f.shell_job,
        file_locks: f.file_locks,
        lazy_pages: f.lazy_pages,
        auto_dedup: f.auto_dedup,
        manage_cgroups_mode: f
            .manage_cgroups_mode
            .as_deref()
            .map(criu::cg_mode)
            .transpose()?,
        empty_ns: empty_ns_mask(&f.empty_ns)?,
        ..Default::default()
    })
}

/// A mount destination as criu sees it: absolute, cleaned lexically.
fn clean_dest(d: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in d.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The config's bind mounts: (destination, source).
fn bind_mounts(config: &Value) -> Vec<(String, String)> {
    let Some(mounts) = config["mounts"].as_array() else {
        return vec![];
    };
    mounts
        .iter()
        .filter(|m| {
            m["type"] == "bind"
                || m["options"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
        })
        .filter_map(|m| {
            Some((
                clean_dest(m["destination"].as_str()?),
                m["source"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Creates the mount points criu will mount on that the rootfs lacks (a
/// new copy of an image's rootfs has no /etc/hosts file for the engine's
/// bind), as create would: below the rootfs, never following a link out of
/// it. Points inside another mount (a tmpfs criu restores with its
/// contents, /proc, /sys, /dev) are criu's to make.
fn make_mountpoints(rootfs: &Path, config: &Value) -> Result<()> {
    use crate::linux::rootfs::{resolve, Create};
    let Some(mounts) = config["mounts"].as_array() else {
        return Ok(());
    };
    let virt = [
        "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
    ];
    let inside: Vec<String> = mounts
        .iter()
        .filter(|m| m["type"].as_str().is_some_and(|t| virt.contains(&t)))
        .filter_map(|m| m["destination"].as_str().map(clean_dest))
        .collect();
    let binds = bind_mounts(config);
    let root = open_dir(rootfs)?;
    for (i, m) in mounts.iter().enumerate() {
        let Some(dest) = m["destination"].as_str().map(clean_dest) else {
            continue;
        };
        if m["type"] == "cgroup"
            || dest == "/"
            || inside
                .iter()
                .any(|d| d != "/" && dest.starts_with(&format!("{d}/")))
        {
            continue;
        }
        let kind = match binds.iter().find(|(d, _)| *d == dest) {
            Some((_, src)) if !Path::new(src).is_dir() => Create::File,
            _ => Create::Dir,
        };
        resolve(root.as_fd(), Path::new(&dest), kind).map_err(|e| {
            e.context("make the mount point for restore")
                .at(format!("/mounts/{i}/destination"))
        })?;
    }
    Ok(())
}

/// Namespaces the config joins by path: (runtime-spec type, path).
fn joined_namespaces(config: &Value) -> Vec<(String, String)> {
    config["linux"]["namespaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| {
                    Some((
                        n["type"].as_str()?.to_owned(),
                        n["path"].as_str()?.to_owned(),
                    ))
                })
                .filter(|(_, p)| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// criu's names for namespaces, and the key runc's images use for an
/// external one (`extRootNetNS`).
fn criu_ns(t: &str) -> Option<(&'static str, &'static str)> {
    Some(match t {
        "network" => ("net", "extRootNetNS"),
        "pid" => ("pid", "extRootPidNS"),
        "ipc" => ("ipc", ""),
        "uts" => ("uts", ""),
        "mount" => ("mnt", ""),
        "user" => ("user", ""),
        "time" => ("time", ""),
        _ => return None,
    })
}

/// The cgroup directory criu freezes the container with: v1's freezer,
/// else the v2 directory.
fn freezer_dir(dirs: &[PathBuf]) -> Option<PathBuf> {
    let v1 = dirs.iter().find(|d| {
        d.iter().any(|c| {
            c.to_str()
                .is_some_and(|c| c.split(',').any(|x| x == "freezer"))
        })
    });
    v1.or_else(|| dirs.iter().find(|d| d.join("cgroup.freeze").exists()))
        .cloned()
}

/// What criu's failure means, in its own words (the log's error lines).
fn criu_failure(what: &str, resp: &criu::Resp, log: &Path) -> Error {
    let mut msg = format!("{what} failed");
    if let Some(m) = &resp.cr_errmsg {
        msg.push_str(&format!(": {m}"));
    } else if let Some(e) = resp.cr_errno.filter(|e| *e != 0) {
        msg.push_str(&format!(
            ": {}",
            crate::error::errno_text(nix::errno::Errno::from_raw(e))
        ));
    }
    match criu::log_reason(log) {
        Some(r) => msg.push_str(&format!(": criu: {r}")),
        None => msg.push_str(&format!(" (see {})", log.display())),
    }
    Error::new(msg)
}

/// Directories `checkpoint` made, removed again if it fails.
struct Made(Vec<PathBuf>);

impl Made {
    fn mkdir(&mut self, p: &Path) -> Result<()> {
        if p.is_dir() {
            return Ok(());
        }
        let mut missing = vec![];
        let mut q = Some(p);
        while let Some(d) = q {
            if d.as_os_str().is_empty() || d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            q = d.parent();
        }
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .ctx(format!("create {}", p.display()))?;
        self.0.extend(missing);
        Ok(())
    }

    fn undo(self) {
        // Innermost first: each was made by us, with what criu put in it.
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `checkpoint`: dumps a running container's processes to the image
/// directory; unless `--leave-running` or `--pre-dump`, the container is
/// then gone (criu killed it and tong deletes it, as runc does).
pub fn checkpoint(ctx: &Ctx, criu_bin: &str, o: &CheckpointOpts) -> Result<()> {
    let t = Instant::now();
    let dir = Dir::open(&ctx.root, &o.id)?;
    let s = dir.load()?;
    match status_of(&dir.path, &s) {
        (Status::Running | Status::Paused, Some(_)) => {}
        (st, _) => {
            return Err(Error::new(format!(
                "cannot checkpoint container {}: it is {}, not running",
                o.id,
                st.as_str()
            )))
        }
    }
    validate_checkpoint(o)?;
    if o.pre_dump && o.leave_running {
        logging::warn("--leave-running is implied by --pre-dump");
    }
    let tv = Instant::now();
    let version = check_criu(criu_bin)?;
    logging::stage("criu version", tv);
    // The status fd is the caller's, given to tong to write one byte to
    // and close, as runc does.
    let status = match o.status_fd {
        Some(n) => {
            let (fd, flags) = crate::linux::sys::adopt_fd(n)
                .map_err(|e| Error::new(format!("invalid --status-fd {n}: {e}")))?;
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                return Err(Error::new(format!(
                    "invalid --status-fd {n}: not open for writing"
                )));
            }
            Some(fd)
        }
        None => None,
    };
    let images = image_dir(&o.criu)?;
    let mut made = Made(vec![]);
    let r = dump(ctx, criu_bin, version, o, &s, status, &images, &mut made);
    if let Err(e) = r {
        made.undo();
        return Err(e);
    }
    logging::stage("checkpoint", t);
    if !o.leave_running && !o.pre_dump {
        let t = Instant::now();
        drop(dir);
        super::delete(ctx, &o.id, true)?;
        logging::stage("delete after checkpoint", t);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn dump(
    _ctx: &Ctx,
    criu_bin: &str,
    version: u32,
    o: &CheckpointOpts,
    s: &Saved,
    mut status: Option<OwnedFd>,
    images: &Path,
    made: &mut Made,
) -> Result<()> {
    made.mkdir(images)?;
    let images_fd = open_dir(images)?;
    let work = match &o.criu.work_path {
        Some(w) => {
            made.mkdir(w)?;
            Some(open_dir(w)?)
        }
        None => None,
    };
    let log = o
        .criu
        .work_path
        .as_deref()
        .unwrap_or(images)
        .join(if o.pre_dump {
            "pre-dump.log"
        } else {
            "dump.log"
        });
    let mut opts = base_opts(
        &o.criu,
        images_fd.as_fd(),
        work.as_ref().map(|w| w.as_fd()),
        &log.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )?;
    opts.pid = Some(s.pid);
    opts.root = Some(s.rootfs.to_string_lossy().into_owned());
    opts.leave_running = o.leave_running || o.pre_dump;
    // runc always offers the pty master as external: a terminal container's
    // master is the engine's.
    opts.orphan_pts_master = true;
    if let Some(p) = &o.parent_path {
        opts.parent_img = Some(p.clone());
        opts.track_mem = true;
    }
    if o.pre_dump {
        opts.track_mem = true;
    }
    if let Some(ps) = &o.page_server {
        let (addr, port) = ps
            .rsplit_once(':')
            .and_then(|(a, p)| Some((a.to_owned(), p.parse::<i32>().ok()?)))
            .ok_or_else(|| {
                Error::new(format!("invalid --page-server {ps:?}: want ADDRESS:PORT"))
            })?;
        opts.page_server = Some((addr, port));
    }
    // A newer criu notifies `status-ready` (tong writes the byte), an
    // older one writes to the fd itself.
    let criu_writes_status = version < CRIU_STATUS_READY;
    if criu_writes_status {
        opts.status_fd = status.as_ref().map(|f| f.as_raw_fd());
    }
    opts.freeze_cgroup = freezer_dir(&s.cgroup_dirs).map(|d| d.to_string_lossy().into_owned());
    for (dest, _) in bind_mounts(&s.config) {
        opts.ext_mnt.push((dest.clone(), dest));
    }
    // Masked files are binds of the host's /dev/null: one external id.
    if let Some(masked) = s.config["linux"]["maskedPaths"].as_array() {
        for p in masked.iter().filter_map(|p| p.as_str()) {
            let in_ct = format!("/proc/{}/root{}", s.pid, clean_dest(p));
            if std::fs::metadata(&in_ct).is_ok_and(|m| !m.is_dir()) {
                opts.ext_mnt.push((clean_dest(p), "/dev/null".into()));
            }
        }
    }
    for (t, path) in joined_namespaces(&s.config) {
        if let Some((name, key)) = criu_ns(&t) {
            if key.is_empty() {
                continue;
            }
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(&path)
                .ctx(format!("stat {t} namespace {path}"))?
                .ino();
            opts.external.push(format!("{name}[{ino}]:{key}"));
        }
    }
    // The engine's stdio of the init: restore hands it new pipes for these.
    let fds: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{}/fd/{i}", s.pid))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    std::fs::write(
        images.join(DESCRIPTORS),
        serde_json::to_vec(&fds).map_err(|e| Error::new(e.to_string()))?,
    )
    .ctx(format!("write {}", images.join(DESCRIPTORS).display()))?;

    let mut pass: Vec<BorrowedFd> = vec![images_fd.as_fd()];
    pass.extend(work.as_ref().map(|w| w.as_fd()));
    let criu_status = if criu_writes_status {
        status.take()
    } else {
        None
    };
    pass.extend(criu_status.as_ref().map(|f| f.as_fd()));
    let t = if o.pre_dump {
        ReqType::PreDump
    } else {
        ReqType::Dump
    };
    let tc = Instant::now();
    let mut on_notify = |n: Notify| -> Result<()> {
        if n.script == "status-ready" {
            if let Some(fd) = status.take() {
                // Written, then closed: the reader sees the byte, then EOF.
                nix::unistd::write(&fd, &[0u8]).ctx("write to --status-fd")?;
            }
        }
        Ok(())
    };
    let resp = Swrk::start(criu_bin, &pass)?.call(t, Some(&opts), &mut on_notify)?;
    logging::stage("criu dump", tc);
    if !resp.success {
        let e = criu_failure(
            if o.pre_dump { "pre-dump" } else { "checkpoint" },
            &resp,
            &log,
        );
        return Err(e);
    }
    Ok(())
}

/// `restore`: a new container (`id`) from the bundle's config, its
/// processes restored by criu from the image directory into the
/// container's cgroup, running when this returns its init's pid (a child
/// of ours: criu restores it as its sibling).
pub fn restore(ctx: &Ctx, criu_bin: &str, o: &RestoreOpts) -> Result<Pid> {
    let t = Instant::now();
    if o.no_pivot {
        return Err(Error::new(
            "restore --no-pivot is not supported: criu pivots into the container's root itself",
        ));
    }
    validate_flags(&o.criu)?;
    let bundle = Bundle::load(&o.bundle)?;
    crate::linux::validate::check_host(&bundle.spec)?;
    let images = image_dir(&o.criu)?;
    if !images.join("inventory.img").is_file() {
        return Err(Error::new(format!(
            "{} is not a checkpoint image directory: it has no inventory.img",
            images.display()
        )));
    }
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && o.console_socket.is_none() {
        return Err(Error::field(
            "/process/terminal",
            "cannot restore a terminal container without --console-socket",
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::new(
            "cannot use console socket if tong will not detach or allocate tty",
        ));
    }
    check_criu(criu_bin)?;
    let (dir, saved, mut undo, place) = super::begin(ctx, &o.id, &bundle)?;
    let r = restore_in(ctx, criu_bin, o, &bundle, &images, (&dir, saved, place));
    let pid = match r {
        Ok(pid) => pid,
        Err(e) => {
            // Whatever criu restored dies with the cgroup.
            let _ = super::signal_all(&undo.cgroup_dirs, libc::SIGKILL);
            wait_empty(&undo.cgroup_dirs);
            undo.dir = Some(dir);
            undo.run();
            return Err(e);
        }
    };
    logging::stage("restore", t);
    Ok(pid)
}

/// Waits (a little) for killed processes to leave their cgroups.
fn wait_empty(dirs: &[PathBuf]) {
    for _ in 0..200 {
        if cgroups::procs(dirs).map(|p| p.is_empty()).unwrap_or(true) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[allow(clippy::too_many_arguments)]
fn restore_in(
    ctx: &Ctx,
    criu_bin: &str,
    o: &RestoreOpts,
    bundle: &Bundle,
    images: &Path,
    (dir, saved, place): (&Dir, Saved, super::Placement),
) -> Result<Pid> {
    let linux = bundle.spec.linux().as_ref();
    let super::Placement {
        hier,
        unit,
        path: cg_path,
        dirs,
    } = place;
    let saved = std::cell::RefCell::new(saved);
    let resources = linux.map(|l| {
        let mut r = l.resources().clone().unwrap_or_default();
        let rules = cgroups::resources::device_rules(
            r.devices().as_deref().unwrap_or(&[]),
            l.devices().as_deref().unwrap_or(&[]),
        );
        r.set_devices(Some(rules));
        r
    });
    if unit.is_none() {
        cgroups::create(&dirs).map_err(|e| e.at("/linux/cgroupsPath"))?;
        if let Some(r) = &resources {
            cgroups::apply_in(&hier, &dirs, r)?;
        }
        if let Some(d) = cgroups::frozen_dir(&dirs) {
            return Err(Error::field(
                "/linux/cgroupsPath",
                format!(
                    "cgroup {} is frozen: refusing to restore into it",
                    d.display()
                ),
            ));
        }
    }

    make_mountpoints(&bundle.rootfs, &saved.borrow().config)?;
    // criu wants the restore root to be a mount point: the rootfs bound in
    // a mount namespace of tong's own (slave to the host's), so nothing of
    // it is left on the host whatever happens.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).ctx("unshare mount namespace")?;
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .ctx("make / a slave mount")?;
    let root = dir.path.join("criu-root");
    std::fs::create_dir(&root).ctx(format!("create {}", root.display()))?;
    let bound = mount(
        Some(&bundle.rootfs),
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(format!("bind {} for criu", bundle.rootfs.display()));
    let r = bound.and_then(|()| {
        restore_criu(
            ctx,
            criu_bin,
            o,
            bundle,
            images,
            dir,
            &saved,
            &dirs,
            &cg_path,
            &root,
            unit.as_ref(),
            resources.as_ref(),
            &hier,
        )
    });
    let _ = umount2(&root, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(&root);
    let pid = r?;
    if let Some(r) = &resources {
        cgroups::apply_in(&hier, &dirs, r)?;
    }
    let mut s = saved.borrow_mut();
    s.creator = None;
    dir.save_state(&s)?;
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}

#[allow(clippy::too_many_arguments)]
fn restore_criu(
    ctx: &Ctx,
    criu_bin: &str,
    o: &RestoreOpts,
    bundle: &Bundle,
    images: &Path,
    dir: &Dir,
    saved: &std::cell::RefCell<Saved>,
    dirs: &[PathBuf],
    cg_path: &str,
    root: &Path,
    unit: Option<&cgroups::systemd::UnitPath>,
    resources: Option<&oci_spec::runtime::LinuxResources>,
    hier: &[cgroups::Hierarchy],
) -> Result<Pid> {
    let images_fd = open_dir(images)?;
    let work = match &o.criu.work_path {
        Some(w) => {
            std::fs::create_dir_all(w).ctx(format!("create {}", w.display()))?;
            Some(open_dir(w)?)
        }
        None => None,
    };
    let log = o
        .criu
        .work_path
        .as_deref()
        .unwrap_or(images)
        .join("restore.log");
    let mut opts = base_opts(
        &o.criu,
        images_fd.as_fd(),
        work.as_ref().map(|w| w.as_fd()),
        "restore.log",
    )?;
    opts.root = Some(root.to_string_lossy().into_owned());
    opts.rst_sibling = true;
    opts.orphan_pts_master = o.console_socket.is_some();
    opts.lsm_profile = o.lsm_profile.clone();
    opts.lsm_mount_context = o.lsm_mount_context.clone();
    if unit.is_none() {
        opts.cg_root.push((None, cg_path.to_owned()));
    }
    let config = saved.borrow().config.clone();
    for (dest, source) in bind_mounts(&config) {
        opts.ext_mnt.push((dest, source));
    }
    if config["linux"]["maskedPaths"].is_array() {
        opts.ext_mnt.push(("/dev/null".into(), "/dev/null".into()));
    }
    let mut ns_fds: Vec<OwnedFd> = vec![];
    for (t, path) in joined_namespaces(&config) {
        let Some((name, key)) = criu_ns(&t) else {
            return Err(Error::new(format!(
                "cannot restore into a joined {t} namespace ({path}): criu cannot join it"
            )));
        };
        if key.is_empty() {
            opts.join_ns.push((name.into(), path));
        } else {
            let fd = open(
                path.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(format!("open {t} namespace {path}"))?;
            opts.inherit_fd.push((key.into(), fd.as_raw_fd()));
            ns_fds.push(fd);
        }
    }
    // The engine's new stdio pipes stand in for the checkpointed ones.
    if let Ok(bytes) = std::fs::read(images.join(DESCRIPTORS)) {
        let fds: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(format!(
                "corrupt {}: {e}",
                images.join(DESCRIPTORS).display()
            ))
        })?;
        for (i, f) in fds.iter().enumerate().take(3) {
            if f.contains("pipe:") {
                opts.inherit_fd.push((f.clone(), i as i32));
            }
        }
    }
    let mut pass: Vec<BorrowedFd> = vec![images_fd.as_fd()];
    pass.extend(work.as_ref().map(|w| w.as_fd()));
    pass.extend(ns_fds.iter().map(|f| f.as_fd()));
    let swrk = Swrk::start(criu_bin, &pass)?;
    let criu_pid = Pid::from_raw(swrk.pid());
    // criu restores the tree into its own cgroup, and below cg_root.
    match unit {
        Some(u) => super::start_unit(ctx, u, &bundle.spec, resources, criu_pid, hier, dirs)?,
        None => cgroups::add(dirs, criu_pid)?,
    }
    let spec_hooks = bundle.spec.hooks().clone();
    let console = o.console_socket.clone();
    let mut restored: Option<Pid> = None;
    let mut on_notify = |n: Notify| -> Result<()> {
        match n.script {
            "setup-namespaces" => {
                if let Some(h) = &spec_hooks {
                    let st = hook_state(&saved.borrow(), "creating", n.pid.map(Pid::from_raw));
                    hooks::run_all(h.prestart().as_ref(), &st, "prestart")?;
                    hooks::run_all(h.create_runtime().as_ref(), &st, "createRuntime")?;
                }
            }
            "post-restore" => {
                if let Some(p) = n.pid {
                    let pid = Pid::from_raw(p);
                    let mut s = saved.borrow_mut();
                    s.pid = p;
                    s.start_time = process::start_time(pid)
                        .ok_or_else(|| Error::new("restored init exited at once"))?;
                    dir.save_state(&s)?;
                    restored = Some(pid);
                }
            }
            "orphan-pts-master" => {
                if let Some(sock) = &console {
                    let fd = n.fd.as_ref().ok_or_else(|| {
                        Error::new("criu sent no pty master with orphan-pts-master")
                    })?;
                    crate::linux::console::send_master(sock, fd.as_fd())?;
                }
            }
            _ => {}
        }
        Ok(())
    };
    let tc = Instant::now();
    let resp = swrk.call(ReqType::Restore, Some(&opts), &mut on_notify)?;
    logging::stage("criu restore", tc);
    if !resp.success {
        return Err(criu_failure("restore", &resp, &log));
    }
    let pid = match (restored, resp.restored_pid) {
        (Some(p), _) => p,
        (None, Some(p)) => {
            let pid = Pid::from_raw(p);
            let mut s = saved.borrow_mut();
            s.pid = p;
            s.start_time = process::start_time(pid)
                .ok_or_else(|| Error::new("restored init exited at once"))?;
            dir.save_state(&s)?;
            pid
        }
        (None, None) => return Err(Error::new("criu restored no process")),
    };
    Ok(pid)
}
