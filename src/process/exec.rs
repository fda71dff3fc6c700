//! `exec`: a new process in a running container's namespaces, cgroup and
//! confinement. Joining a pid namespace only affects children, so an
//! intermediate joins every namespace at once through the init's pidfd and
//! then forks the process that will exec.

use super::sync::{self, Channel, Msg};
use super::{init, Spawned};
use crate::error::{Context, Error, Result};
use crate::linux::{cgroups, namespaces, sys};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

pub struct ExecOptions<'a> {
    pub init_pid: Pid,
    pub init_pidfd: BorrowedFd<'a>,
    pub process: &'a Process,
    /// JSON pointer prefix of the process spec, for errors.
    pub at: &'a str,
    pub userns: bool,
    /// The container's seccomp profile: exec'd processes are confined alike.
    pub seccomp: Option<&'a crate::linux::seccomp::Program>,
    /// The host's procfs, opened before joining, for LSM labels.
    pub procfs: Option<BorrowedFd<'a>>,
    /// Passes a seccomp notify fd on to the profile's listener.
    pub on_seccomp_fd: &'a dyn Fn(Pid, BorrowedFd) -> Result<()>,
    pub preserve_fds: u32,
    /// Connected console socket for `--tty`.
    pub console: Option<BorrowedFd<'a>>,
    pub cgroup_dirs: &'a [PathBuf],
    /// The container's `linux.memoryPolicy`: exec'd processes get it too.
    pub mempolicy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// The container's `process.oomScoreAdj`: every exec'd process gets it
    /// (as runc), not its caller's score, whatever the exec's process says.
    pub oom_score_adj: Option<i32>,
}

/// The namespace kinds besides user, by their /proc/<pid>/ns names.
fn ns_kinds() -> impl Iterator<Item = (&'static str, CloneFlags)> {
    use LinuxNamespaceType as T;
    [
        T::Mount,
        T::Pid,
        T::Network,
        T::Ipc,
        T::Uts,
        T::Cgroup,
        T::Time,
    ]
    .into_iter()
    .map(|t| (crate::spec::ns_name(t), namespaces::clone_flag(t)))
}

/// Whether `pid` is in another namespace of this kind than we are.
fn differs(pid: Pid, name: &str) -> bool {
    let t = std::fs::read_link(format!("/proc/{}/ns/{name}", pid.as_raw()));
    let s = std::fs::read_link(format!("/proc/self/ns/{name}"));
    matches!((t, s), (Ok(t), Ok(s)) if t != s)
}

/// The namespaces to join through the init's pidfd. Joining one's own user
/// namespace is an error; for the other kinds it is a no-op, so root joins
/// them all without comparing. Without root, a namespace shared with the
/// host could not be joined (no capability over its owner): compare.
fn namespaces_to_join(pid: Pid) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    if differs(pid, "user") {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    let root = nix::unistd::geteuid().is_root();
    for (name, flag) in ns_kinds() {
        // cgroup and time namespaces may be configured out of the kernel.
        let join = if root {
            !matches!(name, "cgroup" | "time")
                || std::path::Path::new(&format!("/proc/self/ns/{name}")).exists()
        } else {
            differs(pid, name)
        };
        if join {
            flags |= flag;
        }
    }
    flags
}

/// Joins the init's namespaces; should root lack a capability over a
/// namespace it shares anyway (root inside a user namespace), only the
/// differing ones are joined.
fn join_namespaces(o: &ExecOptions, flags: CloneFlags) -> Result<()> {
    match nix::sched::setns(o.init_pidfd.as_fd(), flags) {
        Err(nix::errno::Errno::EPERM) if nix::unistd::geteuid().is_root() => {
            let mut only = flags & CloneFlags::CLONE_NEWUSER;
            for (name, flag) in ns_kinds() {
                if flags.contains(flag) && differs(o.init_pid, name) {
                    only |= flag;
                }
            }
            nix::sched::setns(o.init_pidfd.as_fd(), only)
        }
        r => r,
    }
    .ctx("join the container's namespaces")
}

pub fn spawn_exec(o: &ExecOptions) -> Result<Spawned> {
    let flags = namespaces_to_join(o.init_pid);
    // We join every namespace but mount and user ourselves: joining a pid
    // namespace only places our children in it, and keeping our mount and
    // user namespaces keeps the host's paths and privileges ours. So one
    // fork makes the process, with no intermediate. The child joins the
    // mount and user namespaces itself.
    // The cgroup namespace too: clone3 refuses CLONE_INTO_CGROUP from
    // inside it (the runtime's own cgroup lies outside its root).
    let late =
        flags & (CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWCGROUP);
    // v1: the process moves itself in (see cgroups::open_tasks). v2: it is
    // born in its cgroup (CLONE_INTO_CGROUP), so nothing takes the global
    // threadgroup lock whose RCU wait a `cgroup.procs` write pays; where
    // the kernel refuses that, we write its pid.
    let (tasks, v2_dirs) = cgroups::open_tasks(o.cgroup_dirs)?;
    let v2_procs = cgroups::open_procs(&v2_dirs)?;
    let v2_fd = match v2_dirs.as_slice() {
        [d] => nix::fcntl::open(
            d,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok(),
        _ => None,
    };
    // Nothing in the container may ptrace or read the child while it joins
    // (CVE-2016-9962): it inherits this.
    nix::sys::prctl::set_dumpable(false).ctx("prctl(PR_SET_DUMPABLE)")?;
    join_namespaces(o, flags & !late)?;
    let (parent, child) = sync::pair()?;
    // execCPUAffinity.initial: the child is born with it, before it joins
    // the container's cgroup; the runtime gets its own affinity back.
    let (initial, _) = crate::linux::sched::exec_affinity(o.process);
    let ours = match initial {
        Some(cpus) => {
            let mine = nix::sched::sched_getaffinity(Pid::from_raw(0)).ctx("sched_getaffinity")?;
            crate::linux::sched::set_affinity(cpus, &format!("{}/execCPUAffinity/initial", o.at))?;
            Some(mine)
        }
        None => None,
    };
    let (forked, into_cgroup) = match v2_fd
        .as_ref()
        .map(|fd| sys::clone3_fork(0, Some(fd.as_fd())))
    {
        Some(Ok(f)) => (Ok(f), true),
        _ => (sys::clone3_fork(0, None).ctx("clone exec process"), false),
    };
    if let (Some(mine), Ok(sys::Forked::Parent { .. })) = (&ours, &forked) {
        nix::sched::sched_setaffinity(Pid::from_raw(0), mine)
            .ctx("restore the runtime's CPU affinity")?;
    }
    let (pid, pidfd) = match forked? {
        sys::Forked::Child => {
            drop(parent);
            exec_child(o, &child, &tasks, late)
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child);
    drop(tasks);
    let spawned = Spawned {
        pid,
        pidfd,
        sync: None,
    };
    if into_cgroup {
        crate::logging::log(
            "debug",
            "exec process cloned straight into its cgroup v2 (CLONE_INTO_CGROUP)",
        );
    }
    let drive = || -> Result<()> {
        if !into_cgroup {
            cgroups::write_pid(&v2_procs, spawned.pid)?;
        } else if let Some(fd) = &v2_fd {
            crate::linux::sched::cpuset_after_clone_into(spawned.pid, fd.as_fd())?;
        }
        parent.send(&Msg::Go)?;
        // The socket is close-on-exec: end of stream means execve succeeded,
        // so the process is running the user's program when we return.
        loop {
            match parent.recv()? {
                None => return Ok(()),
                Some((Msg::SeccompFd, Some(fd))) => (o.on_seccomp_fd)(spawned.pid, fd.as_fd())?,
                Some((Msg::Error(e), _)) => return Err(e),
                Some((m, _)) => {
                    return Err(Error::new(format!("exec: unexpected sync message {m:?}")))
                }
            }
        }
    };
    if let Err(e) = drive() {
        super::kill_and_reap(&spawned);
        // The container died under us: that, not the socket's error, is why.
        if super::wait_exit_for(o.init_pidfd, std::time::Duration::ZERO) {
            return Err(Error::new("container not running"));
        }
        return Err(e);
    }
    Ok(spawned)
}

fn exec_child(o: &ExecOptions, ch: &Channel, tasks: &[OwnedFd], late: CloneFlags) -> ! {
    let r = (|| -> Result<init::Exec> {
        // The fork copied every runtime fd (the lock, the state directory):
        // keep only what joining needs.
        let mut keep = super::passed_fds(o.preserve_fds);
        keep.extend([ch.raw(), o.init_pidfd.as_raw_fd()]);
        keep.extend(o.console.map(|c| c.as_raw_fd()));
        keep.extend(o.procfs.as_ref().map(|p| p.as_raw_fd()));
        keep.extend(crate::logging::fd());
        keep.extend(tasks.iter().map(|t| t.as_raw_fd()));
        sys::close_fds_except(&keep).ctx("close the runtime's fds")?;
        // Still in the host's mount namespace: the host's procfs.
        if let Some(adj) = o.oom_score_adj {
            init::write_proc_self("oom_score_adj", &adj.to_string())
                .map_err(|e| e.at("/process/oomScoreAdj"))?;
        }
        if !late.is_empty() {
            join_namespaces(o, late)?;
        }
        ch.expect(Msg::Go)?;
        cgroups::join_self(tasks)?;
        // A new session and process group inside the container (as runc):
        // tong's group is outside its pid namespace, so getpgrp() would be 0;
        // with a pty, the session lets it become our controlling terminal.
        nix::unistd::setsid().ctx("setsid")?;
        // In the container's cgroup now: execCPUAffinity.final, memory policy.
        if let (_, Some(cpus)) = crate::linux::sched::exec_affinity(o.process) {
            crate::linux::sched::set_affinity(cpus, &format!("{}/execCPUAffinity/final", o.at))?;
        }
        if let Some(m) = o.mempolicy {
            crate::linux::sched::apply_mempolicy(m)?;
        }
        if let Some(sock) = o.console {
            let size = o
                .process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            crate::linux::console::setup(sock, size, false)?;
        }
        let mut keep = super::passed_fds(o.preserve_fds);
        keep.push(ch.raw());
        init::confine(
            o.process,
            o.at,
            o.userns,
            &keep,
            o.seccomp,
            o.procfs
                .map(|p| p.try_clone_to_owned())
                .transpose()
                .ctx("dup procfs")?,
            ch,
        )
    })();
    let err = match r.and_then(|exec| exec.exec()) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(err));
    sys::exit_now(1)
}
