//! Resolving paths inside the container's rootfs without leaving it.
//!
//! Mount targets, masked and read-only paths come from an untrusted image: a
//! symlink in it must not send a mount onto the host (CVE-2021-30465,
//! CVE-2025-31133, CVE-2025-52565). Paths are resolved the way the container
//! itself will see them, as if chrooted into the rootfs: absolute symlinks
//! start again from the container's root, and `..` at the root stays at the
//! root (as `SecureJoin`, libpathrs and `RESOLVE_IN_ROOT` do). Images carry
//! such symlinks, and a masked or read-only path reached through one must be
//! masked where the container sees it (issue 11, F6), not skipped.
//!
//! The kernel does this in one `openat2(RESOLVE_IN_ROOT)` call. When it
//! cannot (missing components to create, magic links, old kernels) we walk
//! one component at a time from an fd of the root with `O_NOFOLLOW`,
//! interpret each symlink ourselves, and keep the chain of directory fds so
//! `..` pops to the directory we came from and never re-opens a path that
//! could have been swapped. Hand-written because it must also create missing
//! directories and files along the way, which openat2 does not do.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What to create when the last component is missing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Create {
    No,
    Dir,
    File,
}

const MAX_SYMLINKS: usize = 40;

fn open_path(dir: BorrowedFd, name: &str) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// A failed walk: why, and whether it failed only because something on the
/// way does not exist.
struct WalkError {
    missing: bool,
    err: Error,
}

impl From<Error> for WalkError {
    fn from(err: Error) -> Self {
        WalkError {
            missing: false,
            err,
        }
    }
}

fn sys(what: &str, e: Errno) -> WalkError {
    WalkError {
        missing: e == Errno::ENOENT,
        err: Error::sys(what, e),
    }
}

/// Opens the file for `path` (relative to `root`, `/` meaning `root`) as an
/// `O_PATH` fd, creating what `create` asks for when it is missing.
/// Intermediate directories are always created when `create` is not `No`.
/// Symlinks, the last component's too, are followed inside the root.
pub fn resolve(root: BorrowedFd, path: &Path, create: Create) -> Result<OwnedFd> {
    walk(root, path, create).map_err(|e| e.err)
}

/// Like [`resolve`] without creating anything, but `None` when the path does
/// not exist (a component or a symlink's target is missing). Every other
/// failure is an error: callers that hide or protect paths must fail closed.
pub fn lookup(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>> {
    match walk(root, path, Create::No) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.missing => Ok(None),
        Err(e) => Err(e.err),
    }
}

/// Opens the directory at `path`, creating it when missing, whose last
/// component must be a real directory: a symlink there is refused, not
/// followed. The components before it resolve as in [`resolve`].
pub fn resolve_real_dir(root: BorrowedFd, path: &Path) -> Result<OwnedFd> {
    let display = path.display().to_string();
    let mut comps = components(&path.to_string_lossy());
    let name = match comps.pop_back() {
        Some(n) if n != ".." => n,
        _ => {
            return Err(Error::new(format!(
                "{display:?} does not name a directory below the container's root"
            )))
        }
    };
    let parent: String = comps.iter().map(|c| format!("/{c}")).collect();
    let dir = resolve(root, Path::new(&parent), Create::Dir)?;
    let fd = match open_path(dir.as_fd(), &name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            match mkdirat(dir.as_fd(), name.as_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("mkdir {display}"), e)),
            }
            open_path(dir.as_fd(), &name).ctx(format!("open {display}"))?
        }
        Err(e) => return Err(Error::sys(format!("open {display}"), e)),
    };
    let st = fstat(fd.as_fd()).ctx(format!("stat {display}"))?;
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => Ok(fd),
        SFlag::S_IFLNK => Err(Error::new(format!(
            "{display} in the rootfs is a symlink, not a real directory"
        ))),
        _ => Err(Error::new(format!(
            "{display} in the rootfs is not a real directory"
        ))),
    }
}

fn walk(root: BorrowedFd, path: &Path, create: Create) -> Result<OwnedFd, WalkError> {
    // Fast path, one syscall: the kernel walks the path as if chrooted into
    // `root` (absolute symlinks and `..` stay inside) and refuses magic links.
    // Missing components, magic links and old kernels take the walk below.
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(
            nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT
                | nix::fcntl::ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let rel = path.to_string_lossy();
    let rel = rel.trim_start_matches('/');
    let display = path.display().to_string();
    match nix::fcntl::openat2(root, if rel.is_empty() { "." } else { rel }, how) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create == Create::No => {
            return Err(sys(&format!("open {display}"), Errno::ENOENT))
        }
        Err(_) => {}
    }
    let mut todo: VecDeque<String> = components(&path.to_string_lossy());
    let root_fd = root.try_clone_to_owned().ctx("dup rootfs fd")?;
    let mut stack: Vec<OwnedFd> = vec![root_fd];
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        if comp == ".." {
            // At the root `..` is the root, as in a chroot.
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let last = todo.is_empty();
        let cur = stack
            .last()
            .map(|f| f.as_fd())
            .ok_or_else(|| Error::new("empty stack"))?;
        let fd = match open_path(cur, &comp) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create != Create::No => {
                if last && create == Create::File {
                    let f = openat(
                        cur,
                        comp.as_str(),
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_WRONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    );
                    match f {
                        Ok(_) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(sys(&format!("create {display}"), e)),
                    }
                } else {
                    match mkdirat(cur, comp.as_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(sys(&format!("mkdir {display}"), e)),
                    }
                }
                open_path(cur, &comp).map_err(|e| sys(&format!("open {display}"), e))?
            }
            Err(e) => return Err(sys(&format!("open {display}"), e)),
        };
        let st = fstat(fd.as_fd()).ctx(format!("stat {display}"))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(sys(&format!("open {display}"), Errno::ELOOP));
            }
            let target = readlinkat(fd.as_fd(), "").ctx(format!("readlink {display}"))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                stack.truncate(1);
            }
            for c in components(&target).into_iter().rev() {
                todo.push_front(c);
            }
            continue;
        }
        if !last && kind != SFlag::S_IFDIR {
            return Err(sys(&format!("open {display}"), Errno::ENOTDIR));
        }
        stack.push(fd);
    }
    Ok(stack.pop().ok_or_else(|| Error::new("empty stack"))?)
}

fn components(p: &str) -> VecDeque<String> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect()
}

/// The `/proc/self/fd/N` path of an fd, to hand an fd to path-based syscalls.
pub fn fd_path(fd: BorrowedFd) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempdir::Dir, OwnedFd) {
        let d = tempdir::Dir::new();
        let fd = nix::fcntl::open(
            d.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (d, fd)
    }

    fn real(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(fd_path(fd.as_fd())).unwrap()
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!(
                    "tong-resolve-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn creates_dirs_and_files() {
        let (d, root) = setup();
        let f = resolve(root.as_fd(), Path::new("/a/b/c"), Create::File).unwrap();
        assert_eq!(real(&f), d.path().join("a/b/c"));
        assert!(d.path().join("a/b/c").is_file());
        let g = resolve(root.as_fd(), Path::new("x/y"), Create::Dir).unwrap();
        assert_eq!(real(&g), d.path().join("x/y"));
        assert!(resolve(root.as_fd(), Path::new("/nope"), Create::No).is_err());
    }

    #[test]
    fn absolute_symlink_stays_inside() {
        let (d, root) = setup();
        let outside = d.path().join("outside-marker");
        std::fs::create_dir(d.path().join("etc")).unwrap();
        // An absolute link to the host's /tmp must land in <root>/tmp.
        symlink("/tmp", d.path().join("etc/link")).unwrap();
        let f = resolve(root.as_fd(), Path::new("/etc/link/x"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("tmp/x"));
        assert!(!outside.exists());
    }

    #[test]
    fn dotdot_above_the_root_is_clamped() {
        let (d, root) = setup();
        let beside = d.path().with_extension("beside");
        // ../../../../tmp from the root is the root's /tmp, as in a chroot.
        symlink("../../../../tmp", d.path().join("evil")).unwrap();
        let f = resolve(root.as_fd(), Path::new("/evil/x"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("tmp/x"));
        let f = resolve(root.as_fd(), Path::new("/../../x"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("x"));
        let f = resolve(root.as_fd(), Path::new("/.."), Create::No).unwrap();
        assert_eq!(real(&f), d.path());
        // A relative link whose `..` would leave the root for its neighbour.
        let name = beside.file_name().unwrap().to_str().unwrap().to_owned();
        symlink(format!("../{name}"), d.path().join("side")).unwrap();
        let f = resolve(root.as_fd(), Path::new("/side/y"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join(&name).join("y"));
        assert!(!beside.exists(), "created outside the root");
        // `..` that stays inside is fine.
        std::fs::create_dir(d.path().join("a")).unwrap();
        symlink("../b", d.path().join("a/up")).unwrap();
        let f = resolve(root.as_fd(), Path::new("/a/up"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("b"));
    }

    #[test]
    fn dotdot_pops_to_the_directory_walked_through() {
        let (d, root) = setup();
        std::fs::create_dir_all(d.path().join("p/q")).unwrap();
        std::fs::create_dir_all(d.path().join("r")).unwrap();
        // /r/link -> /p/q: `..` after it is /p, not /r.
        symlink("/p/q", d.path().join("r/link")).unwrap();
        // Missing component forces the walk rather than openat2.
        let f = resolve(root.as_fd(), Path::new("/r/link/../new"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("p/new"));
    }

    #[test]
    fn lookup_tells_missing_from_broken() {
        let (d, root) = setup();
        std::fs::write(d.path().join("file"), "").unwrap();
        symlink("/nowhere", d.path().join("dangling")).unwrap();
        symlink("../../../file", d.path().join("up")).unwrap();
        symlink("l2", d.path().join("l1")).unwrap();
        symlink("l1", d.path().join("l2")).unwrap();
        let f = lookup(root.as_fd(), Path::new("/up")).unwrap().unwrap();
        assert_eq!(real(&f), d.path().join("file"));
        assert!(lookup(root.as_fd(), Path::new("/nope")).unwrap().is_none());
        assert!(lookup(root.as_fd(), Path::new("/dangling/x"))
            .unwrap()
            .is_none());
        // Not "missing": a loop, or a file used as a directory.
        let e = lookup(root.as_fd(), Path::new("/l1/x")).unwrap_err();
        assert!(e.msg.contains("too many"), "{e}");
        let e = lookup(root.as_fd(), Path::new("/file/x")).unwrap_err();
        assert!(e.msg.contains("not a directory"), "{e}");
        assert!(!d.path().join("nope").exists());
    }

    #[test]
    fn real_dir_refuses_a_symlink_and_creates_a_missing_one() {
        let (d, root) = setup();
        std::fs::create_dir(d.path().join("fake")).unwrap();
        symlink("/fake", d.path().join("proc")).unwrap();
        std::fs::write(d.path().join("sys"), "").unwrap();
        let e = resolve_real_dir(root.as_fd(), Path::new("/proc")).unwrap_err();
        assert!(e.msg.contains("is a symlink"), "{e}");
        let e = resolve_real_dir(root.as_fd(), Path::new("/sys")).unwrap_err();
        assert!(e.msg.contains("not a real directory"), "{e}");
        let e = resolve_real_dir(root.as_fd(), Path::new("/fake/..")).unwrap_err();
        assert!(e.msg.contains("does not name"), "{e}");
        assert!(resolve_real_dir(root.as_fd(), Path::new("/")).is_err());
        let f = resolve_real_dir(root.as_fd(), Path::new("/a/proc")).unwrap();
        assert_eq!(real(&f), d.path().join("a/proc"));
        // Earlier components still resolve inside the root.
        let f = resolve_real_dir(root.as_fd(), Path::new("/proc/x")).unwrap();
        assert_eq!(real(&f), d.path().join("fake/x"));
    }

    #[test]
    fn symlink_loop() {
        let (d, root) = setup();
        symlink("l2", d.path().join("l1")).unwrap();
        symlink("l1", d.path().join("l2")).unwrap();
        let e = resolve(root.as_fd(), Path::new("/l1"), Create::No).unwrap_err();
        assert!(e.msg.contains("too many"), "{e}");
    }
}
