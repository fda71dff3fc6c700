//! seccomp filters from `linux.seccomp`, built with libseccomp.
//!
//! Names the kernel does not know are skipped (as runc does, so one profile
//! serves many kernels); rules whose action equals the default are dropped
//! because libseccomp refuses them.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use std::str::FromStr;

const AT: &str = "/linux/seccomp";

fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn err(at: impl Into<String>, what: &str, e: impl std::fmt::Display) -> Error {
    Error::field(at, format!("seccomp: {what}: {e}"))
}

/// Compiles the profile (nothing is loaded yet).
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut f = ScmpFilterContext::new(default).map_err(|e| err(AT, "init", e))?;
    // no_new_privs is the runtime's decision (process.noNewPrivileges), not libseccomp's.
    f.set_ctl_nnp(false).map_err(|e| err(AT, "ctl nnp", e))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let name = json_name(a);
        let arch = ScmpArch::from_str(&name)
            .map_err(|e| err(format!("{AT}/architectures/{i}"), &name, e))?;
        f.add_arch(arch)
            .map_err(|e| err(format!("{AT}/architectures/{i}"), &name, e))?;
    }
    // Flags are passed to seccomp(2) by [`load`] itself (see [`filter_flags`]);
    // here they are only checked, so libseccomp's version does not limit them.
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        let name = json_name(flag);
        if flag_bit(&name).is_none() {
            return Err(Error::field(
                format!("{AT}/flags/{i}"),
                format!("seccomp: unknown flag {name:?}"),
            ));
        }
    }
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::field(
            format!("{AT}/defaultAction"),
            format!(
                "seccomp: SCMP_ACT_NOTIFY cannot be used as the default action: {NOTIFY_WRITE}"
            ),
        ));
    }
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{AT}/syscalls/{i}");
        if sc.action() == LinuxSeccompAction::ScmpActNotify {
            if let Some(k) = sc.names().iter().position(|n| n == "write") {
                return Err(Error::field(
                    format!("{at}/names/{k}"),
                    format!("seccomp: SCMP_ACT_NOTIFY cannot be used for the write syscall: {NOTIFY_WRITE}"),
                ));
            }
        }
        let act = action(sc.action(), sc.errno_ret())?;
        if act == default {
            continue;
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(Error::field(
                    format!("{at}/args/{j}/index"),
                    format!("seccomp: argument index {} is out of range (a syscall has arguments 0 to 5)", a.index()),
                ));
            }
            let op_name = json_name(&a.op());
            let op = ScmpCompareOp::from_str(&op_name)
                .map_err(|e| err(format!("{at}/args/{j}/op"), &op_name, e))?;
            // OCI's masked-equal: `value` is the mask, `valueTwo` the datum.
            let c = match op {
                ScmpCompareOp::MaskedEqual(_) => ScmpArgCompare::new(
                    a.index() as u32,
                    ScmpCompareOp::MaskedEqual(a.value()),
                    a.value_two().unwrap_or(0),
                ),
                op => ScmpArgCompare::new(a.index() as u32, op, a.value()),
            };
            conds.push(c);
        }
        // libseccomp refuses two conditions on one argument in a rule; runc
        // then adds each condition as a rule of its own (any one matches),
        // and profiles in the wild rely on it.
        let mut indexes: Vec<u32> = sc
            .args()
            .iter()
            .flatten()
            .map(|a| a.index() as u32)
            .collect();
        let n = indexes.len();
        indexes.sort_unstable();
        indexes.dedup();
        let rules: Vec<&[ScmpArgCompare]> = if indexes.len() < n {
            conds.chunks(1).collect()
        } else {
            vec![&conds[..]]
        };
        for name in sc.names() {
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            for c in &rules {
                let r = if c.is_empty() {
                    f.add_rule(act, call)
                } else {
                    f.add_rule_conditional(act, call, c)
                };
                r.map_err(|e| err(at.clone(), name, e))?;
            }
        }
    }
    Ok(f)
}

/// Why a notified write is refused: the container process writes while it
/// hands its listener fd over (its sync messages, its errors), and would
/// wait for an agent that cannot have the fd yet (runc refuses it too).
const NOTIFY_WRITE: &str =
    "the container's own writes before the agent has the listener would wait forever";

/// A compiled filter: the BPF program and the seccomp(2) flags it is loaded with.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub bytes: Vec<u8>,
    pub flags: u32,
}

/// The filter flags tong knows: name, seccomp(2) bits (with what the
/// kernel needs beside it to accept it), and the Linux release that added it.
const FLAGS: [(&str, u32, &str); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 1, "3.17"),
    ("SECCOMP_FILTER_FLAG_LOG", 2, "4.14"),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4, "4.17"),
    // Only valid with a listener (NEW_LISTENER, 8).
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 32 | 8, "5.19"),
];

/// The known flags this kernel refuses, with the release that added each
/// (`tong features` leaves them out of supportedFlags; `tong check` names them).
pub fn unsupported_flags() -> Vec<(&'static str, &'static str)> {
    FLAGS
        .iter()
        .filter(|(_, bits, _)| !crate::linux::sys::seccomp_flags_supported(*bits))
        .map(|(name, _, since)| (*name, *since))
        .collect()
}

/// The names of [`FLAGS`], sorted as `features` lists them.
pub fn known_flags() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
    names.sort_unstable();
    names.into_iter()
}

fn flag_bit(name: &str) -> Option<u32> {
    Some(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => 1,
        "SECCOMP_FILTER_FLAG_LOG" => 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 32,
        _ => return None,
    })
}

fn filter_flags(s: &LinuxSeccomp) -> u32 {
    s.flags()
        .iter()
        .flatten()
        .filter_map(|f| flag_bit(&json_name(f)))
        .fold(0, |a, b| a | b)
}

/// SECCOMP_FILTER_FLAG_NEW_LISTENER: the profile notifies a user-space agent.
pub const NEW_LISTENER: u32 = 8;

fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Compiles the profile to BPF with libseccomp.
pub fn compile(s: &LinuxSeccomp) -> Result<Program> {
    if uses_notify(s) && s.listener_path().is_none() {
        return Err(Error::field(
            format!("{AT}/listenerPath"),
            "SCMP_ACT_NOTIFY needs a listenerPath",
        ));
    }
    let f = build(s)?;
    let fd = nix::sys::memfd::memfd_create("seccomp-bpf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| err(AT, "memfd", e))?;
    f.export_bpf(&fd).map_err(|e| err(AT, "export", e))?;
    let mut file = std::fs::File::from(fd);
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| err(AT, "read compiled filter", e))?;
    let mut flags = filter_flags(s);
    if uses_notify(s) {
        // TSYNC and a listener are exclusive, and a single-threaded process
        // has nothing to sync.
        flags = (flags | NEW_LISTENER) & !1;
    } else {
        // Only meaningful with a listener; the kernel refuses it otherwise.
        flags &= !32;
    }
    Ok(Program { bytes, flags })
}

const MAGIC: &[u8; 8] = b"TONGBPF2";

/// The cache's directory under `--root`: `@` is not allowed in a container
/// id, so no container's state directory can ever be this one.
pub const CACHE_DIR: &str = "@seccomp-cache";

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Encodes a cache entry: magic, a hash of the rest, the full inputs the
/// program was compiled from, flags, program.
fn encode(inputs: &[u8], p: &Program) -> Vec<u8> {
    let len = (inputs.len() as u64).to_le_bytes();
    let flags = p.flags.to_le_bytes();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&sha256(&[&len, inputs, &flags, &p.bytes]));
    out.extend_from_slice(&len);
    out.extend_from_slice(inputs);
    out.extend_from_slice(&flags);
    out.extend_from_slice(&p.bytes);
    out
}

/// Decodes and verifies a cache entry: intact, and compiled from exactly
/// `inputs` (an entry copied from another profile's key is refused, so the
/// cache can never change which filter a profile gets). None otherwise.
fn decode(b: &[u8], inputs: &[u8]) -> Option<Program> {
    let (magic, rest) = b.split_at_checked(8)?;
    let (sum, rest) = rest.split_at_checked(32)?;
    let (len, rest) = rest.split_at_checked(8)?;
    let n = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (stored, rest) = rest.split_at_checked(n)?;
    let (flags, bytes) = rest.split_at_checked(4)?;
    if magic != MAGIC
        || stored != inputs
        || sha256(&[len, stored, flags, bytes]) != sum
        || bytes.is_empty()
        || !bytes.len().is_multiple_of(8)
    {
        return None;
    }
    Some(Program {
        bytes: bytes.to_vec(),
        flags: u32::from_le_bytes(flags.try_into().ok()?),
    })
}

/// The cache directory, if it is ours alone: a real directory (no symlink),
/// owned by us and writable by no one else. Made 0700 when missing.
fn cache_dir(root: &std::path::Path) -> Option<std::os::fd::OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let dir = root.join(CACHE_DIR);
    // The root as the state directory makes it (it may not exist yet: the
    // cache is consulted before the container's directory is made).
    let _ =
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o711)
            .create(root);
    let _ = nix::unistd::mkdir(&dir, Mode::S_IRWXU);
    let fd = open(
        &dir,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    let ours = st.st_uid == nix::unistd::geteuid().as_raw() && st.st_mode & 0o022 == 0;
    if !ours {
        crate::logging::warn(&format!(
            "seccomp cache {} is not tong's own (owner or mode); not using it",
            dir.display()
        ));
        return None;
    }
    Some(fd)
}

/// The compiled program for a profile, from the cache under `root` when an
/// entry compiled from the very same inputs exists; otherwise compiled and
/// stored. The inputs are the profile, the libseccomp version, tong's own
/// version and the architecture; the key is their hash, but a hit is only
/// taken when the stored inputs equal ours byte for byte.
pub fn cached(root: &std::path::Path, s: &LinuxSeccomp) -> Result<Program> {
    use std::io::{Read, Write};
    let profile = serde_json::to_vec(s).map_err(|e| err(AT, "serialize", e))?;
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let tong = concat!(env!("CARGO_PKG_VERSION"), " ", env!("TONG_COMMIT"));
    let mut inputs = format!("{version}\n{tong}\n{}\n", std::env::consts::ARCH).into_bytes();
    inputs.extend_from_slice(&profile);
    let key = hex(&sha256(&[&inputs]));
    let Some(dir) = cache_dir(root) else {
        return compile(s);
    };
    let open_at = |name: &str, flags: nix::fcntl::OFlag| {
        nix::fcntl::openat(
            &dir,
            name,
            flags | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
    };
    let mut entry = Vec::new();
    match open_at(&key, nix::fcntl::OFlag::O_RDONLY).map(|fd| {
        // Its mtime is its last use: the trim below keeps the recent ones.
        let now = nix::sys::time::TimeSpec::UTIME_NOW;
        let _ = nix::sys::stat::futimens(&fd, &now, &now);
        std::fs::File::from(fd).read_to_end(&mut entry)
    }) {
        Ok(Ok(_)) => match decode(&entry, &inputs) {
            Some(p) => {
                crate::logging::log("debug", &format!("seccomp cache hit {key}"));
                return Ok(p);
            }
            None => crate::logging::warn(&format!(
                "seccomp cache entry {key} is corrupt or not this profile's; rebuilding"
            )),
        },
        _ => crate::logging::log("debug", &format!("seccomp cache miss {key}")),
    }
    let p = compile(s)?;
    // A cache that can't be written only costs speed.
    let tmp = format!(".{key}.{}", std::process::id());
    let stored = open_at(
        &tmp,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL,
    )
    .map_err(std::io::Error::from)
    .and_then(|fd| std::fs::File::from(fd).write_all(&encode(&inputs, &p)))
    .and_then(|()| {
        nix::fcntl::renameat(&dir, tmp.as_str(), &dir, key.as_str()).map_err(std::io::Error::from)
    });
    if let Err(e) = stored {
        let _ = nix::unistd::unlinkat(&dir, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        crate::logging::warn(&format!("seccomp cache: {e}"));
    }
    trim(&dir);
    Ok(p)
}

/// The most compiled profiles the cache keeps (tens of KB each, on the
/// tmpfs of /run for the life of the host): engines use a handful.
pub const CACHE_ENTRIES: usize = 64;

/// Keeps the newest [`CACHE_ENTRIES`] entries (by last use), and removes the
/// temporary files of writers that died before their rename. Runs only after
/// a miss, so a hit costs nothing more.
fn trim(dir: &std::os::fd::OwnedFd) {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::unistd::UnlinkatFlags::NoRemoveDir;
    let Ok(mut d) = nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return;
    };
    let mut entries = Vec::new();
    for e in d.iter().flatten() {
        let Ok(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        if let Some(tmp) = name.strip_prefix('.') {
            // `.KEY.PID` of a writer: left to it while it lives.
            let pid = tmp.rsplit('.').next().and_then(|p| p.parse::<i32>().ok());
            let alive = pid.is_some_and(|p| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None)
                    != Err(nix::errno::Errno::ESRCH)
            });
            if !alive {
                let _ = nix::unistd::unlinkat(dir, name.as_str(), NoRemoveDir);
            }
            continue;
        }
        if let Ok(st) = nix::sys::stat::fstatat(dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            entries.push(((st.st_mtime, st.st_mtime_nsec), name));
        }
    }
    if entries.len() <= CACHE_ENTRIES {
        return;
    }
    entries.sort();
    let excess = entries.len() - CACHE_ENTRIES;
    for (_, name) in entries.into_iter().take(excess) {
        let _ = nix::unistd::unlinkat(dir, name.as_str(), NoRemoveDir);
    }
}

/// Installs a compiled filter in this process; returns the notify fd when
/// the profile has a listener.
pub fn load(p: &Program) -> Result<Option<std::os::fd::OwnedFd>> {
    crate::linux::sys::seccomp_set_filter(p.flags, &p.bytes).map_err(|e| {
        // A flag this kernel lacks is EINVAL too: name it, and its release.
        let lacking = (e == nix::errno::Errno::EINVAL)
            .then(|| {
                FLAGS.iter().find(|(_, bits, _)| {
                    p.flags & bits & !8 != 0 && !crate::linux::sys::seccomp_flags_supported(*bits)
                })
            })
            .flatten();
        match lacking {
            Some((name, _, since)) => Error::field(
                format!("{AT}/flags"),
                format!(
                    "seccomp: {name}: this kernel does not support it (Linux {since} added it)"
                ),
            ),
            None => Error::sys("seccomp: load filter", e).at(AT),
        }
    })
}

/// Hands the notify fd to the agent at `listenerPath`: one connection, one
/// container process state (runtime-spec config-linux.md), fd by SCM_RIGHTS.
pub fn send_to_listener(
    s: &LinuxSeccomp,
    fd: std::os::fd::BorrowedFd,
    pid: i32,
    state: serde_json::Value,
) -> Result<()> {
    let at = format!("{AT}/listenerPath");
    let path = s
        .listener_path()
        .as_ref()
        .ok_or_else(|| Error::field(at.clone(), "SCMP_ACT_NOTIFY needs a listenerPath"))?;
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::from(e)
            // runc's words (Go's net.Dial error), which engines match.
            .context(format!(
                "failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect",
                path.display()
            ))
            .at(at.clone())
    })?;
    let mut msg = serde_json::json!({
        "ociVersion": "1.3.0",
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = s.listener_metadata() {
        msg["metadata"] = m.clone().into();
    }
    let bytes = msg.to_string();
    crate::linux::sys::send_with_fd(std::os::fd::AsFd::as_fd(&sock), bytes.as_bytes(), fd)
        .map_err(|e| Error::sys("send to seccomp listener", e).at(at))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe tells a flag no kernel has from none at all, and installs
    /// nothing (this test process goes on unfiltered).
    #[test]
    fn flag_probe_tells_unknown_flags() {
        let mode = || {
            std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Seccomp:"))
                .map(String::from)
        };
        let before = mode();
        assert!(crate::linux::sys::seccomp_flags_supported(0));
        assert!(!crate::linux::sys::seccomp_flags_supported(1 << 30));
        assert!(crate::linux::sys::seccomp_flags_supported(2)); // LOG, Linux 4.14
        assert_eq!(mode(), before);
        assert_eq!(known_flags().count(), FLAGS.len());
    }

    #[test]
    fn cache_entries_are_verified() {
        let p = Program {
            bytes: vec![1, 2, 3, 4, 5, 6, 7, 8],
            flags: 2,
        };
        let e = encode(b"profile A", &p);
        assert_eq!(decode(&e, b"profile A"), Some(p));
        // Intact, but compiled from another profile: refused.
        assert_eq!(decode(&e, b"profile B"), None);
        let mut bad = e.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(&bad, b"profile A"), None);
        assert_eq!(decode(&e[..10], b"profile A"), None);
    }
}
