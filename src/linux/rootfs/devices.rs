//! /dev: the spec's default devices, `linux.devices`, and the standard symlinks.

use super::resolve::{fd_path, resolve, Create};
use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fchmodat, fstat, makedev, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

struct Dev {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The devices every container gets (runtime-linux.md, "Default Devices").
fn default_devices() -> Vec<Dev> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| Dev {
        path: PathBuf::from(p),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// The config's `linux.devices`, and with `defaults` the spec's default
/// devices (left out where /dev is a bind mount: that directory is not ours).
pub fn create_all(root: BorrowedFd, spec: &Spec, userns: bool, defaults: bool) -> Result<()> {
    let mut devs = if defaults {
        default_devices()
    } else {
        Vec::new()
    };
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    let mut ptrs = vec![None; devs.len()];
    for (i, d) in configured.iter().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::field(
                    format!("/linux/devices/{i}/type"),
                    "device type \"a\" cannot be created",
                ))
            }
        };
        // Anywhere in the rootfs, as runc: `/foo-dev` and `/dev/x/` alike.
        // The path resolves inside the rootfs (`..` clamped at its root).
        if d.path().file_name().is_none() {
            return Err(Error::field(
                format!("/linux/devices/{i}/path"),
                format!("device path {} names no file", d.path().display()),
            ));
        }
        let dev = Dev {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A configured device replaces a default one at the same path.
        if let Some(pos) = devs.iter().position(|x| x.path == dev.path) {
            devs[pos] = dev;
            ptrs[pos] = Some(i);
        } else {
            devs.push(dev);
            ptrs.push(Some(i));
        }
    }
    for (d, ptr) in devs.iter().zip(ptrs) {
        create(root, d, userns).map_err(|e| match ptr {
            Some(i) => e.at(format!("/linux/devices/{i}")),
            None => e,
        })?;
    }
    Ok(())
}

fn create(root: BorrowedFd, d: &Dev, userns: bool) -> Result<()> {
    let what = d.path.display().to_string();
    let parent = d.path.parent().unwrap_or(Path::new("/"));
    let name = d
        .path
        .file_name()
        .ok_or_else(|| Error::new(format!("bad device path {what}")))?;
    let dir = resolve(root, parent, Create::Dir)?;
    let mode = Mode::from_bits_truncate(d.mode);
    // Without a user namespace mknod, unless even that is refused (no
    // CAP_MKNOD, a user namespace the runtime itself was started in): then
    // the bind below, as runc does.
    let made = !userns
        && match mknodat(dir.as_fd(), name, d.kind, mode, makedev(d.major, d.minor)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => return Ok(()),
            Err(Errno::EPERM) => false,
            Err(e) => return Err(Error::sys(format!("mknod {what}"), e)),
        };
    if made {
        // The directory may be shared with someone who swaps the new node for
        // a symlink (this runs before pivot_root: following it would reach
        // the host). Change the node through an fd of it, never by name.
        let node = open_node(dir.as_fd(), name).ctx(format!("open {what}"))?;
        let st = fstat(node.as_fd()).ctx(format!("stat {what}"))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let same_dev = d.kind == SFlag::S_IFIFO || st.st_rdev == makedev(d.major, d.minor);
        if kind != d.kind || !same_dev {
            return Err(Error::new(format!(
                "device node {what} was replaced while it was created (by a symlink or another file); refusing to change it"
            )));
        }
        // mknod honours the umask; the spec's mode is exact.
        fchmodat(
            nix::fcntl::AT_FDCWD,
            fd_path(node.as_fd()).as_str(),
            mode,
            FchmodatFlags::FollowSymlink,
        )
        .ctx(format!("chmod {what}"))?;
        fchownat(
            node.as_fd(),
            "",
            Some(Uid::from_raw(d.uid)),
            Some(Gid::from_raw(d.gid)),
            AtFlags::AT_EMPTY_PATH,
        )
        .ctx(format!("chown {what}"))?;
        return Ok(());
    }
    // In a user namespace mknod is not allowed: bind the host's node instead,
    // onto a file made (or found) at the path itself. An entry of the image
    // that is a symlink is left alone, as an existing node is left by mknod.
    let target = match open_node(dir.as_fd(), name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            match openat(
                dir.as_fd(),
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("create {what}"), e)),
            }
            open_node(dir.as_fd(), name).ctx(format!("open {what}"))?
        }
        Err(e) => return Err(Error::sys(format!("open {what}"), e)),
    };
    let st = fstat(target.as_fd()).ctx(format!("stat {what}"))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        return Ok(());
    }
    if kind == SFlag::S_IFDIR {
        return Err(Error::new(format!(
            "cannot bind device {what} over a directory"
        )));
    }
    mount(
        Some(&d.path),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(format!("bind device {what}"))
}

/// An `O_PATH` fd of `name` in `dir` itself, never of what a symlink there points to.
fn open_node(dir: BorrowedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// /dev/fd, /dev/std*, /dev/core and, with a devpts mount, /dev/ptmx.
pub fn symlinks(root: BorrowedFd, mounts: &[Mount]) -> Result<()> {
    let dev = resolve(root, Path::new("/dev"), Create::Dir)?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    let devpts = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev/pts") && m.typ().as_deref() == Some("devpts"));
    if devpts {
        match nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys("remove /dev/ptmx", e)),
        }
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

/// Whether `m` is the container's /dev, asked to be read-only.
pub(super) fn is_dev_read_only(m: &Mount) -> bool {
    m.destination() == Path::new("/dev") && m.options().iter().flatten().any(|o| o == "ro")
}

pub(super) fn without_ro(m: &Mount) -> Mount {
    let mut w = m.clone();
    w.set_options(
        m.options()
            .as_ref()
            .map(|o| o.iter().filter(|o| *o != "ro").cloned().collect()),
    );
    w
}

/// After the console is set up: a /dev whose mount asked for `ro` becomes
/// read-only now (see [`super::prepare`]).
pub fn finish_dev(spec: &Spec) -> Result<()> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let Some(i) = mounts
        .iter()
        .rposition(|m| m.destination() == Path::new("/dev"))
    else {
        return Ok(());
    };
    if !is_dev_read_only(&mounts[i]) {
        return Ok(());
    }
    let dev = open(
        "/dev",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /dev")?;
    // Its nosuid/noexec/… stay: a bind remount sets every flag anew.
    let keep = super::locked_flags(dev.as_fd())?;
    super::remount_at("/dev", dev.as_fd(), MsFlags::MS_RDONLY | keep)
        .map_err(|e| e.context("make /dev read-only").at(format!("/mounts/{i}")))
}
