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

fn action(a: LinuxSeccompAction, errno: Option<u32>, at: &str) -> Result<ScmpAction> {
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
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::field(
                at,
                "SCMP_ACT_NOTIFY is not supported by this build of tong yet",
            ))
        }
    })
}

fn err(at: impl Into<String>, what: &str, e: impl std::fmt::Display) -> Error {
    Error::field(at, format!("seccomp: {what}: {e}"))
}

/// Compiles the profile (nothing is loaded yet).
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{AT}/defaultAction"),
    )?;
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
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        let name = json_name(flag);
        let at = format!("{AT}/flags/{i}");
        match name.as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => f.set_ctl_log(true).map(|_| ()),
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => f.set_ctl_ssb(true).map(|_| ()),
            "SECCOMP_FILTER_FLAG_TSYNC" => f.set_ctl_tsync(true).map(|_| ()),
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => f.set_ctl_waitkill(true).map(|_| ()),
            other => return Err(Error::field(at, format!("seccomp: unknown flag {other:?}"))),
        }
        .map_err(|e| err(format!("{AT}/flags/{i}"), &name, e))?;
    }
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{AT}/syscalls/{i}");
        let act = action(sc.action(), sc.errno_ret(), &format!("{at}/action"))?;
        if act == default {
            continue;
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
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
        for name in sc.names() {
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let r = if conds.is_empty() {
                f.add_rule(act, call)
            } else {
                f.add_rule_conditional(act, call, &conds)
            };
            r.map_err(|e| err(at.clone(), name, e))?;
        }
    }
    Ok(f)
}

/// Loads a compiled filter into this process.
pub fn load(f: &ScmpFilterContext) -> Result<()> {
    f.load().map_err(|e| err(AT, "load", e))
}
