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
            let process = process_from_flags(saved, f)?;
            crate::spec::validate_process(&process, "/process")?;
            Ok((process, "/process".into()))
        }
    }
}

/// The container's process with runc's `exec` flags applied, as types.
fn process_from_flags(saved: &Saved, f: &ExecFlags) -> Result<oci_spec::runtime::Process> {
    use oci_spec::runtime::LinuxCapabilities;
    if f.args.is_empty() {
        return Err(Error::new("exec: no command given"));
    }
    let mut p = saved.config.process().clone().ok_or_else(|| {
        Error::field(
            "/process",
            "the container's config has no process to start from",
        )
    })?;
    p.set_args(Some(f.args.clone()));
    p.set_terminal(Some(f.tty));
    if let Some(c) = &f.cwd {
        p.set_cwd(c.clone());
    }
    if !f.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &f.env {
            // A variable given again replaces the container's value.
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &f.user {
        let (uid, gid) = parse_user(u)?;
        p.user_mut().set_uid(uid);
        p.user_mut().set_gid(gid);
    }
    if !f.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(f.additional_gids.clone()));
    }
    if f.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &f.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &f.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !f.caps.is_empty() {
        // A process without capabilities gets only the sets named below
        // (LinuxCapabilities::default() would add runc's defaults).
        let mut caps = p.capabilities().clone().unwrap_or_else(|| {
            let mut c = LinuxCapabilities::default();
            c.set_bounding(None);
            c.set_effective(None);
            c.set_inheritable(None);
            c.set_permitted(None);
            c.set_ambient(None);
            c
        });
        // Added capabilities go to bounding, effective and permitted only,
        // never inheritable (CVE-2022-29162).
        let sets = [
            ("bounding", caps.bounding().clone()),
            ("effective", caps.effective().clone()),
            ("permitted", caps.permitted().clone()),
        ];
        let [b, e, pm] = sets.map(|(name, set)| {
            let mut set = set.unwrap_or_default();
            for cap in &f.caps {
                match parse_cap(cap) {
                    Some(c) => {
                        set.insert(c);
                    }
                    // config.md: an unknown capability is a warning, not an error.
                    None => crate::logging::warn(&format!(
                        "unknown capability {cap:?} in the {name} set is not granted"
                    )),
                }
            }
            set
        });
        caps.set_bounding(Some(b));
        caps.set_effective(Some(e));
        caps.set_permitted(Some(pm));
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// A capability as config.json spells it (`CAP_KILL`, or `kill` as oci-spec
/// also takes), or None when it names none.
fn parse_cap(name: &str) -> Option<oci_spec::runtime::Capability> {
    use serde::de::{value, Deserialize, IntoDeserializer};
    let de: value::StrDeserializer<value::Error> = name.into_deserializer();
    oci_spec::runtime::Capability::deserialize(de)
        .ok()
        .or_else(|| name.parse().ok())
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
    crate::linux::validate::check_process(&proc_spec, &at)?;
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
    let linux = saved.config.linux().as_ref();
    let userns = crate::spec::has_ns(&saved.config, oci_spec::runtime::LinuxNamespaceType::User);
    let profile = linux.and_then(|l| l.seccomp().as_ref());
    let seccomp = profile
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
        match profile {
            Some(p) => crate::linux::seccomp::send_to_listener(p, fd, pid.as_raw(), st),
            None => Ok(()),
        }
    };
    let mempolicy = linux.and_then(|l| l.memory_policy().as_ref());
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
        mempolicy,
        oom_score_adj: saved
            .config
            .process()
            .as_ref()
            .and_then(|p| p.oom_score_adj()),
    });
    crate::logging::stage("exec: join and execve", t);
    spawned.map(|s| (s, terminal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, Spec};
    use std::path::Path;

    fn saved(process: serde_json::Value) -> Saved {
        let config: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": process,
        }))
        .unwrap();
        Saved {
            id: "c".into(),
            pid: 0,
            start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
            cgroup: Default::default(),
            oci_version: "1.0.2".into(),
            creator: None,
            config,
        }
    }

    /// The flags land on the container's process, everything else of it kept.
    #[test]
    fn flags_apply_to_the_containers_process() {
        let s = saved(serde_json::json!({
            "args": ["sleep", "1"], "cwd": "/", "terminal": true,
            "env": ["PATH=/bin", "A=1", "B=2"],
            "user": {"uid": 5, "gid": 6, "umask": 18},
            "capabilities": {"bounding": ["CAP_KILL"], "inheritable": ["CAP_KILL"]},
            "oomScoreAdj": 7,
        }));
        let f = ExecFlags {
            args: vec!["sh".into()],
            cwd: Some("/tmp".into()),
            env: vec!["A=9".into(), "C=3".into()],
            user: Some("10:20".into()),
            additional_gids: vec![30],
            caps: vec!["CAP_CHOWN".into(), "CAP_NO_SUCH_THING".into()],
            no_new_privs: true,
            apparmor: Some("prof".into()),
            process_label: Some("label".into()),
            ..Default::default()
        };
        let p = process_from_flags(&s, &f).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(
            p.env().as_deref(),
            Some(
                &[
                    "PATH=/bin".to_string(),
                    "B=2".into(),
                    "A=9".into(),
                    "C=3".into()
                ][..]
            )
        );
        let u = p.user();
        assert_eq!((u.uid(), u.gid(), u.umask()), (10, 20, Some(18)));
        assert_eq!(u.additional_gids().as_deref(), Some(&[30][..]));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.apparmor_profile().as_deref(), Some("prof"));
        assert_eq!(p.selinux_label().as_deref(), Some("label"));
        assert_eq!(p.oom_score_adj(), Some(7));
        let c = p.capabilities().as_ref().unwrap();
        let set = |s: &Option<oci_spec::runtime::Capabilities>| {
            let mut v: Vec<String> = s.iter().flatten().map(|c| c.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(set(c.bounding()), ["CHOWN", "KILL"]);
        assert_eq!(set(c.effective()), ["CHOWN"]);
        assert_eq!(set(c.permitted()), ["CHOWN"]);
        // Never inheritable (CVE-2022-29162).
        assert_eq!(set(c.inheritable()), ["KILL"]);
        assert_eq!(c.ambient(), &None);
    }

    /// Without capabilities in the config, only the three sets named get
    /// the added ones (not oci-spec's defaults); without flags, nothing is added.
    #[test]
    fn caps_on_a_process_without_any() {
        let s = saved(serde_json::json!({"args": ["x"], "cwd": "/", "user": {"uid": 0, "gid": 0}}));
        let mut f = ExecFlags {
            args: vec!["id".into()],
            ..Default::default()
        };
        assert_eq!(process_from_flags(&s, &f).unwrap().capabilities(), &None);
        f.caps = vec!["kill".into()];
        let p = process_from_flags(&s, &f).unwrap();
        let c = p.capabilities().as_ref().unwrap();
        let kill = Some([Capability::Kill].into_iter().collect());
        assert_eq!(c.bounding(), &kill);
        assert_eq!(c.effective(), &kill);
        assert_eq!(c.permitted(), &kill);
        assert_eq!((c.inheritable(), c.ambient()), (&None, &None));
        f.args.clear();
        let e = process_from_flags(&s, &f).err().unwrap();
        assert_eq!(e.msg, "exec: no command given");
    }
}
