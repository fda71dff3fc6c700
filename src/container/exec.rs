//! `exec`: a new process in a running container, from a process.json or
//! from the container's own process with runc's flags applied.

use super::status::{status_of, Op};
use super::{cgroup_of, hook_state, open_pidfd, Ctx};
use crate::error::{Context, Error, Result};
use crate::linux::sys;
use crate::process;
use crate::state::{Dir, Saved};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Instant;

/// What `exec` runs and how.
pub struct ExecOpts {
    pub id: String,
    /// The process: from `--process` or built from the container's with the flags applied.
    pub process: ExecProcess,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub console_socket: Option<PathBuf>,
    /// The runtime's end of a socketpair for a foreground `exec -t`: the
    /// pty master arrives there and tong proxies it (runc does the same).
    pub console: Option<std::os::unix::net::UnixStream>,
    /// `--cgroup`: sub-cgroups to run in, `path` or `controller[,controller]:path`.
    pub sub_cgroups: Vec<String>,
}

pub enum ExecProcess {
    /// A runtime-spec Process JSON file (`--process`).
    File(PathBuf),
    /// The container's process with overrides (runc's individual flags).
    Flags(ExecFlags),
}

#[derive(Default)]
pub struct ExecFlags {
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

fn build_process(saved: &Saved, p: &ExecProcess) -> Result<(oci_spec::runtime::Process, String)> {
    use oci_spec::runtime::Process;
    match p {
        ExecProcess::File(path) => {
            let bytes = std::fs::read(path).ctx(format!("open process file {}", path.display()))?;
            let bytes = default_user(bytes);
            let process: Process = crate::spec::from_json(&bytes, "process.json")?;
            crate::spec::validate_process(&process, "")?;
            Ok((process, String::new()))
        }
        ExecProcess::Flags(f) => {
            let mut v = saved.config.get("process").cloned().unwrap_or_default();
            if f.args.is_empty() {
                return Err(Error::new("exec: no command given"));
            }
            v["args"] = serde_json::json!(f.args);
            v["terminal"] = f.tty.into();
            if let Some(c) = &f.cwd {
                v["cwd"] = c.to_string_lossy().into_owned().into();
            }
            if !f.env.is_empty() {
                let mut env: Vec<String> = v["env"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for e in &f.env {
                    // A variable given again replaces the container's value.
                    let key = e.split('=').next().unwrap_or("");
                    env.retain(|x| x.split('=').next() != Some(key));
                    env.push(e.clone());
                }
                v["env"] = serde_json::json!(env);
            }
            if let Some(u) = &f.user {
                let (uid, gid) = parse_user(u)?;
                v["user"]["uid"] = uid.into();
                v["user"]["gid"] = gid.into();
            }
            if !f.additional_gids.is_empty() {
                v["user"]["additionalGids"] = serde_json::json!(f.additional_gids);
            }
            if f.no_new_privs {
                v["noNewPrivileges"] = true.into();
            }
            if let Some(p) = &f.apparmor {
                v["apparmorProfile"] = p.clone().into();
            }
            if let Some(l) = &f.process_label {
                v["selinuxLabel"] = l.clone().into();
            }
            // Added capabilities go to bounding, effective and permitted only,
            // never inheritable (CVE-2022-29162).
            for cap in &f.caps {
                for set in ["bounding", "effective", "permitted"] {
                    let list = &mut v["capabilities"][set];
                    if !list.is_array() {
                        *list = serde_json::json!([]);
                    }
                    if let Some(a) = list.as_array_mut() {
                        if !a.iter().any(|c| c == cap.as_str()) {
                            a.push(cap.clone().into());
                        }
                    }
                }
            }
            let bytes = serde_json::to_vec(&v).map_err(|e| Error::new(e.to_string()))?;
            let process: Process = crate::spec::from_json(&bytes, "process")?;
            crate::spec::validate_process(&process, "/process")?;
            Ok((process, "/process".into()))
        }
    }
}

/// A process.json without `user` runs as 0:0, as in runc.
fn default_user(bytes: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut m)) if !m.contains_key("user") => {
            m.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            serde_json::to_vec(&m).unwrap_or(bytes)
        }
        _ => bytes,
    }
}

/// `UID[:GID]`, numeric as runc's `--user` takes them.
fn parse_user(u: &str) -> Result<(u32, u32)> {
    let bad = || Error::new(format!("invalid --user {u:?}: want UID[:GID] as numbers"));
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    let gid: u32 = match gid {
        Some(g) => g.parse().map_err(|_| bad())?,
        None => 0,
    };
    Ok((uid, gid))
}

/// `exec`: starts a process in a running container and returns it, and
/// whether it has a terminal.
pub fn exec(ctx: &Ctx, o: &ExecOpts) -> Result<(process::Spawned, bool)> {
    // Hold the lock only while reading: a long exec must not block kill or delete.
    let t = Instant::now();
    let saved = Dir::open(&ctx.root, &o.id)?.load()?;
    let (st, _) = status_of(&ctx.root.join(&o.id), &saved);
    st.check(
        if o.ignore_paused {
            Op::ExecPaused
        } else {
            Op::Exec
        },
        &o.id,
    )?;
    let (mut proc_spec, at) = build_process(&saved, &o.process)?;
    let terminal = proc_spec.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && proc_spec.console_size().is_none() {
        // tong proxies the pty: it starts with our terminal's size.
        if let Ok((h, w)) = sys::get_winsize(std::io::stdin().as_fd()) {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(h as u64)
                .width(w as u64)
                .build();
            proc_spec.set_console_size(size.ok());
        }
    }
    let console = match (&o.console_socket, terminal) {
        (Some(p), true) => Some(crate::linux::console::connect(p)?),
        (None, true) if o.console.is_some() => o.console.as_ref().and_then(|c| c.try_clone().ok()),
        (None, true) => {
            return Err(Error::field(
                format!("{at}/terminal"),
                "cannot allocate tty if tong will detach without setting console socket",
            ))
        }
        (Some(_), false) => {
            return Err(Error::new(
                "cannot use console socket if tong will not detach or allocate tty",
            ))
        }
        (None, false) => None,
    };
    let pidfd = open_pidfd(&saved)?;
    let userns = saved.config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n["type"] == "user"));
    let profile: Option<oci_spec::runtime::LinuxSeccomp> =
        match saved.config["linux"].get("seccomp") {
            Some(v) if !v.is_null() => Some(crate::spec::from_json(
                v.to_string().as_bytes(),
                "linux.seccomp",
            )?),
            _ => None,
        };
    let seccomp = profile
        .as_ref()
        .map(|p| crate::linux::seccomp::cached(&ctx.root, p))
        .transpose()?;
    let procfs = if crate::linux::lsm::wants_labels(&proc_spec) {
        Some(crate::linux::lsm::open_procfs()?)
    } else {
        None
    };
    let on_seccomp_fd = |pid: Pid, fd: std::os::fd::BorrowedFd| -> Result<()> {
        let st: serde_json::Value = serde_json::from_str(&hook_state(
            &saved,
            "running",
            Some(Pid::from_raw(saved.pid)),
        ))
        .unwrap_or_default();
        match &profile {
            Some(p) => crate::linux::seccomp::send_to_listener(p, fd, pid.as_raw(), st),
            None => Ok(()),
        }
    };
    let mempolicy: Option<oci_spec::runtime::LinuxMemoryPolicy> =
        match saved.config["linux"].get("memoryPolicy") {
            Some(v) if !v.is_null() => Some(crate::spec::from_json(
                v.to_string().as_bytes(),
                "linux.memoryPolicy",
            )?),
            _ => None,
        };
    crate::logging::stage("exec: state, config and process", t);
    let t = Instant::now();
    let spawned = process::exec::spawn_exec(&process::exec::ExecOptions {
        on_seccomp_fd: &on_seccomp_fd,
        seccomp: seccomp.as_ref(),
        procfs: procfs.as_ref().map(|p| p.as_fd()),
        init_pid: Pid::from_raw(saved.pid),
        init_pidfd: pidfd.as_fd(),
        process: &proc_spec,
        at: &at,
        userns,
        preserve_fds: o.preserve_fds,
        console: console.as_ref().map(|c| c.as_fd()),
        cgroup_dirs: &cgroup_of(ctx, &saved).exec_dirs(&o.sub_cgroups)?,
        mempolicy: mempolicy.as_ref(),
        oom_score_adj: saved.config["process"]["oomScoreAdj"]
            .as_i64()
            .and_then(|v| i32::try_from(v).ok()),
    });
    crate::logging::stage("exec: join and execve", t);
    spawned.map(|s| (s, terminal))
}
