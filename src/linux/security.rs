//! Credentials and confinement of the container process: user and groups,
//! the five capability sets, rlimits, no_new_privs, umask.

use crate::error::{Context, Error, Result};
use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::str::FromStr;

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(p: &Process, at: &str) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        setrlimit(resource(r.typ()), r.soft(), r.hard())
            .ctx(format!(
                "setrlimit {:?} soft {} hard {}",
                r.typ(),
                r.soft(),
                r.hard()
            ))
            .map_err(|e| e.at(format!("{at}/rlimits/{i}")))?;
    }
    Ok(())
}

/// The kernel's highest capability, read once per process.
fn last_cap() -> u8 {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        crate::linux::sys::read_text("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Converts spec capabilities, leaving out (with a warning, as the spec asks)
/// those this kernel does not know.
fn to_caps(set: Option<&Capabilities>, last: u8) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in set.into_iter().flatten() {
        match Capability::from_str(&format!("CAP_{c}")) {
            Ok(cap) if cap.index() <= last => {
                out.insert(cap);
            }
            _ => crate::logging::warn(&format!(
                "capability CAP_{c} is not supported by this kernel, ignoring"
            )),
        }
    }
    out
}

/// Drops the bounding set while we still hold CAP_SETPCAP.
pub fn drop_bounding(p: &Process) -> Result<()> {
    let Some(c) = p.capabilities() else {
        return Ok(());
    };
    let keep = to_caps(c.bounding().as_ref(), last_cap());
    for cap in caps::all() {
        if cap.index() <= last_cap() && !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| Error::new(format!("drop {cap} from the bounding set: {e}")))?;
        }
    }
    Ok(())
}

/// Whether this process's user namespace denies setgroups(2).
fn setgroups_denied() -> bool {
    crate::linux::sys::read_text("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// Switches to the process's user and groups while keeping capabilities, then
/// sets the effective, permitted, inheritable and ambient sets exactly.
/// With `keep_admin`, CAP_SYS_ADMIN stays effective and permitted so that a
/// seccomp filter can still be loaded without no_new_privs right before execve.
pub fn set_user_and_caps(p: &Process, at: &str, userns: bool, keep_admin: bool) -> Result<()> {
    let user = p.user();
    nix::sys::prctl::set_keepcaps(true).ctx("prctl(PR_SET_KEEPCAPS)")?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace setgroups may be denied; only call it when needed there.
    if !userns || !groups.is_empty() {
        match nix::unistd::setgroups(&groups) {
            Ok(()) => {}
            // A user namespace the runtime was started in, its gid map
            // written by an unprivileged user, denies setgroups for good:
            // with no groups asked for there is nothing to do (as runc).
            Err(nix::errno::Errno::EPERM) if groups.is_empty() && setgroups_denied() => {}
            Err(e) => {
                return Err(Error::sys("setgroups", e).at(format!("{at}/user/additionalGids")))
            }
        }
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .ctx(format!("setgid {}", user.gid()))
        .map_err(|e| e.at(format!("{at}/user/gid")))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .ctx(format!("setuid {}", user.uid()))
        .map_err(|e| e.at(format!("{at}/user/uid")))?;
    nix::sys::prctl::set_keepcaps(false).ctx("prctl(PR_SET_KEEPCAPS)")?;

    let admin = || {
        let mut s = CapsHashSet::new();
        if keep_admin {
            s.insert(Capability::CAP_SYS_ADMIN);
        }
        s
    };
    let Some(c) = p.capabilities() else {
        // No capabilities section: the process gets none (runc does the same).
        caps::clear(None, CapSet::Inheritable)
            .map_err(|e| Error::new(format!("clear capabilities: {e}")))?;
        for set in [CapSet::Effective, CapSet::Permitted] {
            caps::set(None, set, &admin())
                .map_err(|e| Error::new(format!("clear capabilities: {e}")))?;
        }
        return Ok(());
    };
    let last = last_cap();
    let cap_err = |what: &str, e: caps::errors::CapsError| {
        Error::field(
            format!("{at}/capabilities/{what}"),
            format!("set {what} capabilities: {e}"),
        )
    };
    // Inheritable first, while SETPCAP is still effective; effective must stay a
    // subset of permitted at every step, so it shrinks before permitted does.
    caps::set(
        None,
        CapSet::Inheritable,
        &to_caps(c.inheritable().as_ref(), last),
    )
    .map_err(|e| cap_err("inheritable", e))?;
    let eff = to_caps(c.effective().as_ref(), last);
    let perm = to_caps(c.permitted().as_ref(), last);
    if !eff.is_subset(&perm) {
        return Err(Error::field(
            format!("{at}/capabilities/effective"),
            "effective capabilities must be a subset of permitted ones",
        ));
    }
    caps::set(None, CapSet::Effective, &(&eff | &admin())).map_err(|e| cap_err("effective", e))?;
    caps::set(None, CapSet::Permitted, &(&perm | &admin())).map_err(|e| cap_err("permitted", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| cap_err("ambient", e))?;
    for cap in to_caps(c.ambient().as_ref(), last) {
        // The kernel only allows ambient caps that are permitted and inheritable.
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            crate::logging::log("debug", &format!("cannot raise ambient {cap}: {e}"));
        }
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().ctx("prctl(PR_SET_NO_NEW_PRIVS)")
}
