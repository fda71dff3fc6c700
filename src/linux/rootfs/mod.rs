//! The container's filesystem: mounts, /dev, pivot_root, masked and readonly paths.
//!
//! Everything before the pivot is done through an fd of the rootfs and
//! `/proc/self/fd/N` targets, so no path from the image is ever resolved by
//! the kernel outside the rootfs.

mod devices;
pub use devices::finish_dev;
pub mod idmap;
mod mountinfo;
pub mod options;
pub mod resolve;

pub use options::{propagation_flag, MountOptions};
pub use resolve::{fd_path, resolve, Create};

use crate::error::{Context, Error, Result};
use crate::linux::cgroups;
use crate::linux::sys;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What rootfs set-up needs to know besides the spec.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// Detached idmapped mounts the runtime made, by mount index (see idmap.rs).
    pub idmapped: &'a [(usize, OwnedFd)],
    /// Bind sources the runtime opened for init, by mount index.
    pub sources: &'a [(usize, OwnedFd)],
    /// The container's cgroup v2 path as init saw it before unsharing its
    /// cgroup namespace: what a refused cgroup2 mount binds instead.
    pub cgroup2_path: Option<&'a str>,
}

const NONE: Option<&str> = None;

/// Makes the mount tree private to the container and mounts everything the
/// config asks for. Returns an fd of the rootfs mount, ready for [`pivot`].
pub fn prepare(s: &Setup) -> Result<OwnedFd> {
    let linux = s.spec.linux().as_ref();
    let configured = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag);
    // The configured propagation from the start, as runc: a volume bound
    // later keeps its peer group only if `/` was never made a slave (an
    // `rshared` volume's mounts must reach the host, as Kubernetes'
    // Bidirectional ones do). Without one, host mount events may still
    // reach us (slave), ours never reach the host.
    let initial = configured.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(NONE, "/", NONE, initial, NONE)
        .ctx("set the propagation of /")
        .map_err(|e| match configured {
            Some(_) => e.at("/linux/rootfsPropagation"),
            None => e,
        })?;
    // The rootfs's own bind (below) must not join a shared peer group:
    // its mounts would reach the host, and pivot_root refuses a root
    // whose parent is shared. After a recursive slave, private or
    // unbindable no mount is shared: nothing to look up.
    if !initial.contains(MsFlags::MS_REC) || initial.contains(MsFlags::MS_SHARED) {
        mountinfo::parent_mount_private(s.rootfs)?;
    }
    mount(
        Some(s.rootfs),
        s.rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx(format!("bind mount rootfs {}", s.rootfs.display()))?;
    let root = open(
        s.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open rootfs {}", s.rootfs.display()))?;

    let mounts = s.spec.mounts().as_deref().unwrap_or(&[]);
    let mut dev_is_bind = false;
    for (i, m) in mounts.iter().enumerate() {
        let at = format!("/mounts/{i}");
        let idmapped = s
            .idmapped
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, f)| f.as_fd());
        let source = s
            .sources
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, f)| f.as_fd());
        // A read-only /dev is mounted writable and made read-only by
        // [`finish_dev`], once the mount points, nodes and links in it exist
        // (runc does the same: `/dev/pts` below a read-only `/dev` works).
        let writable;
        let m = if devices::is_dev_read_only(m) {
            writable = devices::without_ro(m);
            &writable
        } else {
            m
        };
        mount_one(s, root.as_fd(), m, &at, idmapped, source).map_err(|e| {
            e.context(format!("mount {}", m.destination().display()))
                .at(at)
        })?;
        if m.destination() == Path::new("/dev") && is_bind(m) {
            dev_is_bind = true;
        }
    }
    // In a user namespace, new or the one the runtime was started in
    // (rootless podman, rootlesskit), devices are bound from the host.
    let userns = crate::spec::has_ns(s.spec, LinuxNamespaceType::User)
        || crate::linux::namespaces::in_user_namespace();
    // A bound /dev is someone else's directory (the host's, with
    // `-v /dev:/dev`): only what the config names is made in it; the default
    // nodes and the standard links would change that directory for everyone
    // who uses it (a ptmx symlink there cost the host its terminals).
    devices::create_all(root.as_fd(), s.spec, userns, !dev_is_bind)?;
    if !dev_is_bind {
        devices::symlinks(root.as_fd(), mounts)?;
    }
    // A cwd that does not exist is made (as runc and crun do), inside the
    // rootfs and before the root may become read-only.
    if let Some(p) = s.spec.process() {
        let cwd = p.cwd();
        if matches!(resolve::lookup(root.as_fd(), cwd), Ok(None)) {
            resolve(root.as_fd(), cwd, Create::Dir)
                .map_err(|e| e.context("create cwd").at("/process/cwd"))?;
        }
    }
    if let Some(l) = linux {
        for (i, p) in l.masked_paths().iter().flatten().enumerate() {
            mask(root.as_fd(), Path::new(p))
                .map_err(|e| e.at(format!("/linux/maskedPaths/{i}")))?;
        }
        for (i, p) in l.readonly_paths().iter().flatten().enumerate() {
            readonly(root.as_fd(), Path::new(p))
                .map_err(|e| e.at(format!("/linux/readonlyPaths/{i}")))?;
        }
    }
    Ok(root)
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Mounts one entry of `mounts`; `at` is its JSON pointer.
fn mount_one(
    s: &Setup,
    root: BorrowedFd,
    m: &Mount,
    at: &str,
    idmapped: Option<BorrowedFd>,
    source: Option<BorrowedFd>,
) -> Result<()> {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))?;
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(s, root, dest, &opts);
    }
    let target = if let Some(tree) = idmapped {
        // A bind the runtime prepared (idmapped, or cloned for a user
        // namespace): attach it, then remount as a bind below would.
        let st = fstat(tree).ctx("stat the prepared mount")?;
        let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
        let target = resolve(root, dest, if is_dir { Create::Dir } else { Create::File })?;
        idmap::attach(tree, target.as_fd())?;
        let mounted = resolve(root, dest, Create::No)?;
        if !opts.remount_flags().is_empty() {
            let keep = locked_flags(mounted.as_fd())? & !opts.named;
            remount(mounted.as_fd(), opts.remount_flags() | keep)?;
        }
        mounted
    } else if typ == "bind" || opts.is_bind() {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::new("bind mount needs a source"))?;
        let src = s.bundle.join(src);
        let opened;
        let src_fd = match source {
            Some(fd) => fd,
            None => {
                opened = open(&src, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(format!("open mount source {}", src.display()))?;
                opened.as_fd()
            }
        };
        let st = fstat(src_fd).ctx(format!("stat {}", src.display()))?;
        let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
        let target = resolve(root, dest, if is_dir { Create::Dir } else { Create::File })?;
        let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(
            Some(fd_path(src_fd).as_str()),
            fd_path(target.as_fd()).as_str(),
            NONE,
            bind,
            NONE,
        )
        .ctx(format!("bind {}", src.display()))?;
        if !opts.remount_flags().is_empty() || opts.needs_mounted_fd() {
            let mounted = resolve(root, dest, Create::No)?;
            if !opts.remount_flags().is_empty() {
                // The bind keeps the nosuid/nodev/noexec/atime flags of its
                // source unless the options name them: `ro` alone must not
                // give back exec or dev rights.
                let keep = locked_flags(mounted.as_fd())? & !opts.named;
                remount(mounted.as_fd(), opts.remount_flags() | keep)?;
            }
            mounted
        } else {
            return Ok(());
        }
    } else {
        let target = if matches!(typ, "proc" | "sysfs") {
            // Never through a symlink (CVE-2019-19921 family): the container's
            // /proc and /sys must be these filesystems, not a link to them.
            resolve::resolve_real_dir(root, dest).map_err(|e| {
                e.context(format!(
                    "filesystem {typ:?} must be mounted on ordinary directory"
                ))
                .at(format!("{at}/destination"))
            })?
        } else {
            resolve(root, dest, Create::Dir)?
        };
        let source = m
            .source()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| typ.to_owned());
        let mut data = opts.data_string();
        if matches!(typ, "tmpfs" | "devpts" | "mqueue") {
            let label = s
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref());
            data = crate::linux::lsm::with_mount_label(data, label);
        }
        match mount(
            Some(source.as_str()),
            fd_path(target.as_fd()).as_str(),
            Some(typ),
            opts.flags,
            data.as_deref(),
        ) {
            Ok(()) => {}
            // In a user namespace that does not own the network namespace
            // (one joined by path: slirp4netns, pasta, the host's) the kernel
            // refuses a new sysfs: the host's /sys is bound instead, with the
            // flags asked for, as runc does.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
                return bind_host_sys(root, dest, target.as_fd(), &opts)
            }
            Err(e) => return Err(Error::sys(format!("mount {typ}"), e)),
        }
        if !opts.tmpcopyup && !opts.needs_mounted_fd() {
            return Ok(());
        }
        // The new mount's root, found again through the resolver.
        let mounted = resolve(root, dest, Create::No)?;
        if opts.tmpcopyup {
            copy_tree(target.as_fd(), mounted.as_fd())?;
        }
        mounted
    };
    apply_propagation_and_attrs(target.as_fd(), &opts)
}

/// The host's `/sys`, recursively bound on `target` (a real directory of the
/// rootfs at `dest`), then remounted with the mount's flags.
fn bind_host_sys(
    root: BorrowedFd,
    dest: &Path,
    target: BorrowedFd,
    opts: &MountOptions,
) -> Result<()> {
    mount(
        Some("/sys"),
        fd_path(target).as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx("mount sysfs: refused in this user namespace; bind the host's /sys")?;
    let mounted = resolve(root, dest, Create::No)?;
    let flags = opts.remount_flags();
    if !flags.is_empty() {
        remount(mounted.as_fd(), flags)?;
    }
    apply_propagation_and_attrs(mounted.as_fd(), opts)
}

fn apply_propagation_and_attrs(target: BorrowedFd, opts: &MountOptions) -> Result<()> {
    for p in &opts.propagation {
        mount(NONE, fd_path(target).as_str(), NONE, *p, NONE).ctx("set mount propagation")?;
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        sys::mount_setattr(target, true, opts.rec_set, opts.rec_clr)
            .ctx("set recursive mount attributes")?;
    }
    Ok(())
}

/// Remounts a bind mount with new flags, keeping the flags the kernel locks
/// (in a user namespace nosuid/nodev/noexec/atime of the source can't be dropped).
fn remount(target: BorrowedFd, flags: MsFlags) -> Result<()> {
    remount_at(&fd_path(target), target, flags)
}

/// [`remount`] of the mount at `path`, which must name `target`'s mount.
pub(super) fn remount_at(path: &str, target: BorrowedFd, flags: MsFlags) -> Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(NONE, path, NONE, base | flags, NONE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) => {
            let locked = locked_flags(target)?;
            mount(NONE, path, NONE, base | flags | locked, NONE).ctx("remount")
        }
        Err(e) => Err(Error::sys("remount", e)),
    }
}

pub(super) fn locked_flags(fd: BorrowedFd) -> Result<MsFlags> {
    let st = fstatvfs(fd).ctx("statvfs")?;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    Ok(out)
}

/// cgroup mounts: with a cgroup namespace each hierarchy is mounted afresh
/// (showing the container's cgroup as root); without one, the container's
/// own cgroup directories are bound in, so the host's tree stays out of sight.
fn mount_cgroup(s: &Setup, root: BorrowedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let own_ns = crate::spec::has_ns(s.spec, LinuxNamespaceType::Cgroup);
    // Mounted afresh, a hierarchy needs no own_path (read again otherwise).
    let hier = if own_ns {
        cgroups::hierarchy_mounts()?
    } else {
        cgroups::hierarchies()?
    };
    let mut flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if !own_ns {
        // Without a cgroup namespace the container sees real host cgroups:
        // never writable, whatever the config says (CVE-2023-25809).
        flags |= MsFlags::MS_RDONLY;
    }
    // `at`: where the hierarchy appears in the container (`dest` itself when
    // cgroup v2 is the only hierarchy).
    let mount_h = |h: &cgroups::Hierarchy, target: &OwnedFd, at: &Path| -> Result<()> {
        let t = fd_path(target.as_fd());
        // A cgroup directory bound in at `at`, with the mount's flags.
        let bind = |src: &Path, what: String| -> Result<()> {
            mount(
                Some(src),
                t.as_str(),
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                NONE,
            )
            .ctx(what)?;
            let mounted = resolve(root, at, Create::No)?;
            remount(mounted.as_fd(), flags)
        };
        if own_ns {
            let data = if h.is_v2 {
                None
            } else {
                Some(h.options.clone())
            };
            let fs = if h.is_v2 { "cgroup2" } else { "cgroup" };
            match mount(Some(fs), t.as_str(), Some(fs), flags, data.as_deref()) {
                Ok(()) => Ok(()),
                // A user namespace that does not own the container's network
                // namespace (rootless, one joined by path) may not mount
                // cgroup2 (EBUSY; EPERM on some kernels): the container's
                // own cgroup directory is bound instead, which shows what a
                // cgroup namespace would, as runc does.
                Err(e @ (nix::errno::Errno::EBUSY | nix::errno::Errno::EPERM)) if h.is_v2 => {
                    let Some(own) = s.cgroup2_path else {
                        return Err(Error::sys(
                            format!("mount {fs} {}", h.mountpoint.display()),
                            e,
                        ));
                    };
                    let src = h.mountpoint.join(own.trim_start_matches('/'));
                    bind(
                        &src,
                        format!("mount {fs}: {e}; bind {} instead", src.display()),
                    )
                }
                Err(e) => Err(Error::sys(
                    format!("mount {fs} {}", h.mountpoint.display()),
                    e,
                )),
            }
        } else {
            let src = h.mountpoint.join(h.own_path.trim_start_matches('/'));
            bind(&src, format!("bind {}", src.display()))
        }
    };
    if let [only] = hier.as_slice() {
        if only.is_v2 {
            let target = resolve(root, dest, Create::Dir)?;
            return mount_h(only, &target, dest);
        }
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    let target = resolve(root, dest, Create::Dir)?;
    mount(
        Some("tmpfs"),
        fd_path(target.as_fd()).as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx("mount tmpfs for cgroups")?;
    // The fresh tmpfs holds nothing an image could have planted: its
    // directories are made and opened relative to it.
    let tmp = resolve(root, dest, Create::No)?;
    for h in &hier {
        let name = h.mountpoint.file_name().unwrap_or_default();
        match nix::sys::stat::mkdirat(tmp.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::sys(
                    format!("mkdir {}", h.dest_in(dest).display()),
                    e,
                ))
            }
        }
        let t = nix::fcntl::openat(
            tmp.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(format!("open {}", h.dest_in(dest).display()))?;
        mount_h(h, &t, &h.dest_in(dest))?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let t = resolve(root, dest, Create::No)?;
        remount(t.as_fd(), flags)?;
    }
    Ok(())
}

/// Copies a directory's contents (the tmpfs `tmpcopyup` extension).
/// `from` is the directory under the new mount, `to` the new tmpfs.
///
/// The source may be a shared volume changing under us, and this runs before
/// the pivot: every entry is opened `O_NOFOLLOW` relative to its directory's
/// fd and handled by what that fd is, so a directory swapped for a symlink
/// is copied as the symlink, never followed to the host.
fn copy_tree(from: BorrowedFd, to: BorrowedFd) -> Result<()> {
    let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let src = nix::fcntl::openat(from, ".", dir, Mode::empty()).ctx("open tmpcopyup source")?;
    let dst = nix::fcntl::openat(to, ".", dir, Mode::empty()).ctx("open tmpcopyup target")?;
    copy_dir(src, dst.as_fd(), "")
}

fn copy_dir(src: OwnedFd, dst: BorrowedFd, at: &str) -> Result<()> {
    use nix::fcntl::{openat, readlinkat};
    use nix::sys::stat::{fchmod, mkdirat};
    let mut list = nix::dir::Dir::from_fd(src).ctx(format!("read {at}/"))?;
    let mut names = Vec::new();
    for entry in list.iter() {
        let entry = entry.ctx(format!("read {at}/"))?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    for name in names {
        let what = format!("{at}/{}", name.to_string_lossy());
        let fd = match openat(
            list.as_fd(),
            name.as_c_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => continue, // gone meanwhile
            Err(e) => return Err(Error::sys(format!("open {what}"), e)),
        };
        let st = fstat(fd.as_fd()).ctx(format!("stat {what}"))?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFLNK => {
                let l = readlinkat(fd.as_fd(), "").ctx(format!("readlink {what}"))?;
                nix::unistd::symlinkat(l.as_os_str(), dst, name.as_c_str())
                    .ctx(format!("symlink {what}"))?;
            }
            SFlag::S_IFDIR => {
                let sub = openat(
                    fd.as_fd(),
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ctx(format!("open {what}"))?;
                mkdirat(dst, name.as_c_str(), mode).ctx(format!("mkdir {what}"))?;
                let to = openat(
                    dst,
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ctx(format!("open {what}"))?;
                fchmod(to.as_fd(), mode).ctx(format!("chmod {what}"))?;
                copy_dir(sub, to.as_fd(), &what)?;
            }
            SFlag::S_IFREG => {
                // Reopened through the O_PATH fd: the same file, read-only.
                let from = nix::fcntl::open(
                    fd_path(fd.as_fd()).as_str(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ctx(format!("open {what}"))?;
                let to = openat(
                    dst,
                    name.as_c_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    mode,
                )
                .ctx(format!("create {what}"))?;
                fchmod(to.as_fd(), mode).ctx(format!("chmod {what}"))?;
                std::io::copy(&mut std::fs::File::from(from), &mut std::fs::File::from(to))
                    .ctx(format!("copy {what}"))?;
            }
            _ => {} // devices, fifos and sockets are not copied
        }
    }
    Ok(())
}

/// Hides a path: a directory under an empty read-only tmpfs, a file under /dev/null.
/// The path is resolved as the container sees it; only a path that does not
/// exist is skipped, any other failure is an error (never fail open).
fn mask(root: BorrowedFd, path: &Path) -> Result<()> {
    let Some(target) = resolve::lookup(root, path)? else {
        return Ok(()); // nothing to hide
    };
    let st = fstat(target.as_fd()).ctx(format!("stat {}", path.display()))?;
    let t = fd_path(target.as_fd());
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR {
        mount(
            Some("tmpfs"),
            t.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            NONE,
        )
        .ctx(format!("mask {}", path.display()))
    } else {
        // The host's /dev/null, verified to be the real null device (CVE-2025-31133).
        let null = open("/dev/null", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .ctx("open /dev/null")?;
        let ns = fstat(null.as_fd()).ctx("stat /dev/null")?;
        if SFlag::from_bits_truncate(ns.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFCHR
            || ns.st_rdev != nix::sys::stat::makedev(1, 3)
        {
            return Err(Error::new("/dev/null is not the null device"));
        }
        mount(
            Some(fd_path(null.as_fd()).as_str()),
            t.as_str(),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .ctx(format!("mask {}", path.display()))
    }
}

/// Makes a path read-only by binding it onto itself and remounting.
/// Like [`mask`], only a path that does not exist is skipped.
fn readonly(root: BorrowedFd, path: &Path) -> Result<()> {
    let Some(target) = resolve::lookup(root, path)? else {
        return Ok(());
    };
    let t = fd_path(target.as_fd());
    mount(
        Some(t.as_str()),
        t.as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx(format!("bind {} read-only", path.display()))?;
    let mounted = resolve(root, path, Create::No)?;
    // Read-only on top of the mount's own nosuid/nodev/noexec/atime flags.
    let keep = locked_flags(mounted.as_fd())?;
    remount(mounted.as_fd(), MsFlags::MS_RDONLY | MsFlags::MS_REC | keep)
        .ctx(format!("remount {} read-only", path.display()))
}

/// Makes the rootfs the process's root: pivot_root, or MS_MOVE + chroot with `--no-pivot`.
pub fn pivot(root: OwnedFd, no_pivot: bool) -> Result<()> {
    nix::unistd::fchdir(root.as_fd()).ctx("chdir to rootfs")?;
    if no_pivot {
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE).ctx("move rootfs to /")?;
        nix::unistd::chroot(".").ctx("chroot")?;
    } else {
        let old_root = open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx("open the old root")?;
        nix::unistd::pivot_root(".", ".").ctx("pivot_root")?;
        // The old root now sits on top of "."; detach it without telling
        // the host. By an fd of it: mount(2) does not cross into the mount
        // on top of ".", so "." would make the new root and every volume
        // below it slaves (an rshared volume lost its peers on the host).
        nix::unistd::fchdir(old_root.as_fd()).ctx("chdir to the old root")?;
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .ctx("make old root a slave")?;
        umount2(".", MntFlags::MNT_DETACH).ctx("detach old root")?;
    }
    nix::unistd::chdir("/").ctx("chdir /")?;
    Ok(())
}

/// After the pivot: `root.readonly` and `rootfsPropagation`.
pub fn finish(spec: &Spec) -> Result<()> {
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let root = open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx("open /")?;
        // By "/" itself, not /proc/self/fd/N: after the pivot /proc is the
        // container's, and without a procfs mount it is the image's files.
        remount_at("/", root.as_fd(), MsFlags::MS_RDONLY)
            .map_err(|e| e.context("make rootfs read-only").at("/root/readonly"))?;
    }
    if let Some(f) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        mount(NONE, "/", NONE, f, NONE)
            .ctx("set rootfs propagation")
            .map_err(|e| e.at("/linux/rootfsPropagation"))?;
    }
    Ok(())
}
