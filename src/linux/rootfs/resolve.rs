//! Resolving paths inside the container's rootfs without leaving it.
//!
//! Mount targets come from an untrusted image: a symlink in it must not send a
//! mount onto the host (CVE-2021-30465, CVE-2025-31133, CVE-2025-52565). We
//! walk one component at a time from an fd of the root with `O_NOFOLLOW`,
//! interpret each symlink ourselves (absolute ones from the container's root),
//! and keep the chain of directory fds so `..` never re-opens a path that
//! could have been swapped. A `..` that would climb above the root is an
//! error, not silently clamped, because such an image is broken or hostile.
//! Hand-written because it must also create missing directories and files
//! along the way, which openat2's `RESOLVE_IN_ROOT` does not do.

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

/// Opens the file for `path` (relative to `root`, `/` meaning `root`) as an
/// `O_PATH` fd, creating what `create` asks for when it is missing.
/// Intermediate directories are always created when `create` is not `No`.
pub fn resolve(root: BorrowedFd, path: &Path, create: Create) -> Result<OwnedFd> {
    // Fast path, one syscall: the kernel walks the path and refuses anything
    // that leaves the root (`..` above it, an absolute or magic link). Those,
    // missing components and old kernels take the walk below.
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(
            nix::fcntl::ResolveFlag::RESOLVE_BENEATH
                | nix::fcntl::ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let rel = path.to_string_lossy();
    let rel = rel.trim_start_matches('/');
    if let Ok(fd) = nix::fcntl::openat2(root, if rel.is_empty() { "." } else { rel }, how) {
        return Ok(fd);
    }
    let display = path.display().to_string();
    let mut todo: VecDeque<String> = components(&path.to_string_lossy());
    let root_fd = root.try_clone_to_owned().ctx("dup rootfs fd")?;
    let mut stack: Vec<OwnedFd> = vec![root_fd];
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        if comp == ".." {
            if stack.len() == 1 {
                return Err(Error::new(format!(
                    "path {display:?} escapes the container's rootfs"
                )));
            }
            stack.pop();
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
                        Err(e) => return Err(Error::sys(format!("create {display}"), e)),
                    }
                } else {
                    match mkdirat(cur, comp.as_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(Error::sys(format!("mkdir {display}"), e)),
                    }
                }
                open_path(cur, &comp).ctx(format!("open {display}"))?
            }
            Err(e) => return Err(Error::sys(format!("open {display}"), e)),
        };
        let st = fstat(fd.as_fd()).ctx(format!("stat {display}"))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Error::sys(format!("open {display}"), Errno::ELOOP));
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
            return Err(Error::sys(format!("open {display}"), Errno::ENOTDIR));
        }
        stack.push(fd);
    }
    stack.pop().ok_or_else(|| Error::new("empty stack"))
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
    fn dotdot_escape_is_refused() {
        let (d, root) = setup();
        symlink("../../../../tmp", d.path().join("evil")).unwrap();
        let e = resolve(root.as_fd(), Path::new("/evil/x"), Create::Dir).unwrap_err();
        assert!(e.msg.contains("escapes"), "{e}");
        let e = resolve(root.as_fd(), Path::new("/../x"), Create::Dir).unwrap_err();
        assert!(e.msg.contains("escapes"), "{e}");
        // `..` that stays inside is fine.
        std::fs::create_dir(d.path().join("a")).unwrap();
        symlink("../b", d.path().join("a/up")).unwrap();
        let f = resolve(root.as_fd(), Path::new("/a/up"), Create::Dir).unwrap();
        assert_eq!(real(&f), d.path().join("b"));
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
