//! `restore`: a new container whose processes criu restores from a
//! checkpoint's images into the container's cgroup.

use super::checkpoint::{
    base_opts, bind_mounts, check_criu, clean_dest, criu_failure, criu_ns, image_dir,
    joined_namespaces, masked_paths, open_dir, validate_flags, CriuFlags, DESCRIPTORS,
};
use super::create::begin;
use super::{hook_state, write_pid_file, Ctx};
use crate::error::{Context, Error, Result};
use crate::linux::cgroups::Manager;
use crate::linux::criu::{Notify, ReqType, Swrk};
use crate::linux::ownfiles;
use crate::process;
use crate::spec::Bundle;
use crate::state::{Dir, Saved};
use crate::{hooks, logging};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
/// Creates the mount points criu will mount on that the rootfs lacks (a
/// new copy of an image's rootfs has no /etc/hosts file for the engine's
/// bind), as create would: below the rootfs, never following a link out of
/// it. Points inside another mount (a tmpfs criu restores with its
/// contents, /proc, /sys, /dev) are criu's to make.
fn make_mountpoints(rootfs: &Path, config: &Spec) -> Result<()> {
    use crate::linux::rootfs::{resolve, Create};
    let Some(mounts) = config.mounts().as_deref() else {
        return Ok(());
    };
    let virt = [
        "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
    ];
    let dest_of = |m: &oci_spec::runtime::Mount| m.destination().to_str().map(clean_dest);
    let inside: Vec<String> = mounts
        .iter()
        .filter(|m| m.typ().as_deref().is_some_and(|t| virt.contains(&t)))
        .filter_map(dest_of)
        .collect();
    let binds = bind_mounts(config);
    let root = open_dir(rootfs)?;
    for (i, m) in mounts.iter().enumerate() {
        let Some(dest) = dest_of(m) else {
            continue;
        };
        if m.typ().as_deref() == Some("cgroup")
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
    let images = Images::open(image_dir(&o.criu)?)?;
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
    let (dir, saved, mut undo) = begin(ctx, &o.id, &bundle)?;
    let r = restore_in(
        criu_bin,
        o,
        &bundle,
        &images,
        (&dir, saved),
        &mut undo.cgroup,
    );
    let pid = match r {
        Ok(pid) => pid,
        Err(e) => {
            // Whatever criu restored dies with the cgroup.
            let _ = undo.cgroup.signal_all(libc::SIGKILL);
            wait_empty(&undo.cgroup);
            undo.dir = Some(dir);
            undo.run();
            return Err(e);
        }
    };
    logging::stage("restore", t);
    Ok(pid)
}

/// Waits (a little) for killed processes to leave their cgroups.
fn wait_empty(cg: &Manager) {
    for _ in 0..200 {
        if cg.procs().map(|p| p.is_empty()).unwrap_or(true) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The image directory, opened and read before anything is made: ours
/// alone (C1/C2), with a regular, small `descriptors.json` (C4: a FIFO
/// there hung restore, /dev/zero filled its memory).
struct Images {
    path: PathBuf,
    fd: OwnedFd,
    /// The checkpointed init's stdio, as `checkpoint` wrote it.
    descriptors: Vec<String>,
}

impl Images {
    fn open(path: PathBuf) -> Result<Images> {
        if !path.join("inventory.img").is_file() {
            return Err(Error::new(format!(
                "{} is not a checkpoint image directory: it has no inventory.img",
                path.display()
            )));
        }
        let fd = ownfiles::open_private_dir(&path, "image directory")?;
        // Three paths: a few KB at the very most.
        let descriptors = match ownfiles::read_at(fd.as_fd(), DESCRIPTORS, 64 * 1024)
            .map_err(|e| e.context(format!("in {}", path.display())))?
        {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(format!("corrupt {}: {e}", path.join(DESCRIPTORS).display()))
            })?,
            None => Vec::new(),
        };
        Ok(Images {
            path,
            fd,
            descriptors,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn restore_in(
    criu_bin: &str,
    o: &RestoreOpts,
    bundle: &Bundle,
    images: &Images,
    (dir, saved): (&Dir, Saved),
    cg: &mut Manager,
) -> Result<Pid> {
    let saved = std::cell::RefCell::new(saved);
    // As create places it (device rules and a rootless create without
    // cgroups included).
    cg.place(&bundle.spec)?;
    saved.borrow_mut().cgroup = cg.placement();

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
    let r = bound.and_then(|()| restore_criu(criu_bin, o, bundle, images, dir, &saved, cg, &root));
    let _ = umount2(&root, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(&root);
    let pid = r?;
    cg.write_placed()?;
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
    criu_bin: &str,
    o: &RestoreOpts,
    bundle: &Bundle,
    images: &Images,
    dir: &Dir,
    saved: &std::cell::RefCell<Saved>,
    cg: &Manager,
    root: &Path,
) -> Result<Pid> {
    // Opened again here, in the mount namespace criu will run in.
    let images_fd = ownfiles::reopen_same_dir(&images.path, images.fd.as_fd(), "image directory")?;
    let images_fd = &images_fd;
    let work = match &o.criu.work_path {
        Some(w) => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(w)
                .ctx(format!("create {}", w.display()))?;
            Some(ownfiles::open_private_dir(w, "work directory")?)
        }
        None => None,
    };
    let log = o
        .criu
        .work_path
        .as_deref()
        .unwrap_or(&images.path)
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
    if let Some(root) = cg.criu_root() {
        opts.cg_root.push((None, root.to_owned()));
    }
    let config = saved.borrow().config.clone();
    for (dest, source) in bind_mounts(&config) {
        opts.ext_mnt.push((dest, source));
    }
    if masked_paths(&config).is_some() {
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
    for (i, f) in images.descriptors.iter().enumerate().take(3) {
        if f.contains("pipe:") {
            opts.inherit_fd.push((f.clone(), i as i32));
        }
    }
    let mut pass: Vec<BorrowedFd> = vec![images_fd.as_fd()];
    pass.extend(work.as_ref().map(|w| w.as_fd()));
    pass.extend(ns_fds.iter().map(|f| f.as_fd()));
    let swrk = Swrk::start(criu_bin, &pass)?;
    let criu_pid = Pid::from_raw(swrk.pid());
    // criu restores the tree into its own cgroup, and below cg_root.
    cg.add_process(criu_pid, &bundle.spec)?;
    // Under systemd, the unit is now ours (saved with the restored pid).
    saved.borrow_mut().cgroup = cg.placement();
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
