//! Files the runtime writes or reads in directories the caller names
//! (checkpoint images, criu's work directory): never through a symlink,
//! regular files only, read with a bound, and only in directories no one
//! but the caller can change — else a planted link sends root's writes
//! anywhere, and a FIFO or /dev/zero in place of a file hangs or fills us.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Opens `p` (`what` names it in errors): a directory, owned by the caller
/// and writable by no one else. A symlink to one is followed (containerd's
/// `work` is a link into /var/lib/containerd): what is checked and used is
/// the directory the descriptor holds, whatever the path did.
pub fn open_private_dir(p: &Path, what: &str) -> Result<OwnedFd> {
    let fd = open(
        p,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open {what} {}", p.display()))?;
    let st = fstat(&fd).ctx(format!("stat {what} {}", p.display()))?;
    check_private(&st, p, what)?;
    Ok(fd)
}

/// The one ownership rule for what the runtime keeps in directories others
/// could name (state root, container state, checkpoint images): `st`, the
/// stat of `p`, must be owned by the caller and writable by no one else,
/// else the error names `what` and `p`.
pub fn check_private(st: &FileStat, p: &Path, what: &str) -> Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(Error::new(format!(
            "{what} {} is owned by uid {}, not by the caller (uid {me}): refusing to use it (its owner could redirect the runtime's files with symlinks)",
            p.display(),
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(Error::new(format!(
            "{what} {} is writable by group or others (mode {:o}): refusing to use it",
            p.display(),
            st.st_mode & 0o7777
        )));
    }
    Ok(())
}

/// Opens `p` again as a directory that must be the one `known` is: a
/// descriptor opened before an `unshare(CLONE_NEWNS)` belongs to the old
/// mount namespace, and criu, running in the new one, cannot mount below a
/// working directory taken from it (EINVAL).
pub fn reopen_same_dir(p: &Path, known: BorrowedFd, what: &str) -> Result<OwnedFd> {
    let fd = open_private_dir(p, what)?;
    let (a, b) = (
        fstat(known).ctx(format!("stat {what} {}", p.display()))?,
        fstat(&fd).ctx(format!("stat {what} {}", p.display()))?,
    );
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(Error::new(format!(
            "{what} {} was replaced while in use: refusing to use it",
            p.display()
        )));
    }
    Ok(fd)
}

fn check_regular(fd: BorrowedFd, name: &str) -> Result<nix::sys::stat::FileStat> {
    let st = fstat(fd).ctx(format!("stat {name}"))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(Error::new(format!("{name} is not a regular file")));
    }
    Ok(st)
}

/// Writes `bytes` to `name` in `dir` (created 0600 or truncated), never
/// through a symlink and only into a regular file.
pub fn write_at(dir: BorrowedFd, name: &str, bytes: &[u8]) -> Result<()> {
    let fd = openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .ctx(format!("open {name}"))?;
    check_regular(fd.as_fd(), name)?;
    nix::unistd::ftruncate(&fd, 0).ctx(format!("truncate {name}"))?;
    std::fs::File::from(fd)
        .write_all(bytes)
        .ctx(format!("write {name}"))
}

/// Reads `name` in `dir`, at most `max` bytes; `None` when it does not exist.
pub fn read_at(dir: BorrowedFd, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let fd = match openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(Error::sys(format!("open {name}"), e)),
    };
    let st = check_regular(fd.as_fd(), name)?;
    if st.st_size as u64 > max {
        return Err(Error::new(format!(
            "{name} has {} bytes, more than the {max} it can have",
            st.st_size
        )));
    }
    let mut out = Vec::new();
    std::fs::File::from(fd)
        .take(max + 1)
        .read_to_end(&mut out)
        .ctx(format!("read {name}"))?;
    if out.len() as u64 > max {
        return Err(Error::new(format!(
            "{name} grew past {max} bytes while read"
        )));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_regular_bounded_and_never_links() {
        let d = std::env::temp_dir().join(format!("tong-ownfiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = open_private_dir(&d, "test directory").unwrap();
        write_at(dir.as_fd(), "a", b"[1]").unwrap();
        assert_eq!(read_at(dir.as_fd(), "a", 16).unwrap().unwrap(), b"[1]");
        assert!(read_at(dir.as_fd(), "a", 2).is_err());
        assert!(read_at(dir.as_fd(), "missing", 16).unwrap().is_none());
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        assert!(write_at(dir.as_fd(), "link", b"x").is_err());
        assert!(read_at(dir.as_fd(), "link", 16).is_err());
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(read_at(dir.as_fd(), "fifo", 16).is_err());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(open_private_dir(&d, "test directory").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
