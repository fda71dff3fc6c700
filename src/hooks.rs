//! OCI hooks: run with the container state on stdin, `env` exactly, and a timeout.

use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The state document hooks read on stdin (runtime.md, "State").
pub fn state_json(
    oci_version: &str,
    id: &str,
    status: &str,
    pid: Option<Pid>,
    bundle: &std::path::Path,
    annotations: &std::collections::HashMap<String, String>,
) -> String {
    let mut v = serde_json::json!({
        "ociVersion": oci_version,
        "id": id,
        "status": status,
        "bundle": bundle,
    });
    if let Some(p) = pid {
        v["pid"] = p.as_raw().into();
    }
    if !annotations.is_empty() {
        v["annotations"] = serde_json::to_value(annotations).unwrap_or_default();
    }
    v.to_string()
}

fn memfile(name: &str) -> Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .ctx("memfd_create")?;
    Ok(std::fs::File::from(fd))
}

/// What a hook inherits besides its config.
#[derive(Default, Clone, Copy)]
pub struct Inherit<'a> {
    /// The environment of a hook whose config has no `env`: the container
    /// process's for createContainer/startContainer hooks (runc runs them
    /// from its init, which took that environment). None: the runtime's own.
    pub env: Option<&'a [String]>,
    /// A seccomp filter loaded in the hook's child right before it execs
    /// (startContainer hooks run under the container's filter, as in runc).
    pub filter: Option<&'a crate::linux::seccomp::Program>,
}

/// Runs one hook to completion.
pub fn run(hook: &Hook, state: &str, kind: &str, index: usize) -> Result<()> {
    run_with(hook, state, kind, index, Inherit::default())
}

fn run_with(hook: &Hook, state: &str, kind: &str, index: usize, inh: Inherit) -> Result<()> {
    let ptr = format!("/hooks/{kind}/{index}");
    let path = hook.path();
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((a0, rest)) = args.split_first() {
            cmd.arg0(a0).args(rest);
        }
    }
    // `env` given (even empty) is exact; without it a hook inherits (runc:
    // Go's exec.Cmd with a nil Env).
    let env = hook.env().as_deref().or(inh.env);
    if let Some(env) = env {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if let Some(f) = inh.filter {
        let f = f.clone();
        crate::linux::sys::pre_exec(&mut cmd, move || {
            crate::linux::seccomp::load(&f)
                .map(drop)
                .map_err(|e| std::io::Error::other(e.msg))
        });
    }
    let mut out = memfile("hook-output")?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out.try_clone().ctx("dup")?))
        .stderr(Stdio::from(out.try_clone().ctx("dup")?));
    let mut child = cmd.spawn().map_err(|e| {
        Error::from(e)
            .context(format!("{kind} hook {}", path.display()))
            .at(&ptr)
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that never reads stdin must not fail the container.
        let _ = stdin.write_all(state.as_bytes());
    }
    let pidfd = sys::pidfd_open(Pid::from_raw(child.id() as i32)).ctx("pidfd_open hook")?;
    let timeout = match hook.timeout() {
        Some(t) if t > 0 => {
            PollTimeout::try_from(t.saturating_mul(1000).min(i32::MAX as i64) as i32)
                .unwrap_or(PollTimeout::MAX)
        }
        _ => PollTimeout::NONE,
    };
    let ready = loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.ctx("wait for hook")?,
        }
    };
    if ready == 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::field(
            ptr,
            format!(
                "error running {kind} hook #{index} ({}): timed out after {}s",
                path.display(),
                hook.timeout().unwrap_or(0)
            ),
        ));
    }
    let status = child.wait().ctx("wait for hook")?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = out.rewind();
    let _ = out.read_to_string(&mut text);
    // runc's words ("error running … hook", "exit status N"), which
    // engines and people search logs for.
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("signal: {}", s.as_str()),
            Err(_) => format!("signal: {sig}"),
        },
        (None, None) => status.to_string(),
    };
    Err(Error::field(
        ptr,
        format!(
            "error running {kind} hook #{index} ({}): {how}{}{}",
            path.display(),
            if text.trim().is_empty() { "" } else { ": " },
            text.trim()
        ),
    ))
}

/// Runs every hook of a kind in order, stopping at the first failure.
pub fn run_all(hooks: Option<&Vec<Hook>>, state: &str, kind: &str) -> Result<()> {
    run_all_inheriting(hooks, state, kind, Inherit::default())
}

/// [`run_all`] with an environment and seccomp filter to inherit.
pub fn run_all_inheriting(
    hooks: Option<&Vec<Hook>>,
    state: &str,
    kind: &str,
    inh: Inherit,
) -> Result<()> {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        run_with(h, state, kind, i, inh)?;
    }
    Ok(())
}

/// Runs hooks whose failure only warrants a warning (poststart, poststop).
pub fn run_all_warn(hooks: Option<&Vec<Hook>>, state: &str, kind: &str) {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        if let Err(e) = run(h, state, kind, i) {
            crate::logging::warn(&e.to_string());
        }
    }
}
