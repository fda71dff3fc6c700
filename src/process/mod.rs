//! How the container's init is born: one clone3 with every new namespace,
//! an intermediate child only when namespaces must be joined first, and the
//! sync protocol that carries the child's real errors back.

pub mod exec;
mod init;
pub mod sync;

use crate::error::{Context, Error, Result};
use crate::linux::namespaces::{self, Join};
use crate::linux::{cgroups, sys};
use crate::spec::Bundle;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Instant;
use sync::{Channel, Msg};

/// Who starts the container.
pub enum StartBy {
    /// `tong start`, another process, through the state directory's fifos.
    Fifos {
        /// Read end of the exec fifo; init waits on it for `start`.
        exec: OwnedFd,
        /// Held open (read-write) by init until its exec closes it; an
        /// error written here is what `start` reports.
        result: OwnedFd,
    },
    /// The runtime that made it (`run`), over the sync socket: no fifos.
    Runtime,
}

/// What the init needs besides the bundle.
pub struct InitOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    /// How init learns that it is started and reports how that went.
    pub start: StartBy,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// The compiled seccomp filter, if the config has a profile.
    pub seccomp: Option<&'a crate::linux::seccomp::Program>,
    /// Connected console socket when `process.terminal` is set.
    pub console: Option<std::os::fd::BorrowedFd<'a>>,
    /// Join a new session keyring named after the container, unless `--no-new-keyring`.
    pub keyring: Option<String>,
    pub cgroup_dirs: &'a [PathBuf],
    /// Records the init's pid; runs while init makes its mounts, unless
    /// `on_pid_places` says it must come first.
    pub on_pid: &'a dyn Fn(Pid) -> Result<()>,
    /// `on_pid` moves init into its cgroup (a systemd scope): init must
    /// not go on before, or its cgroup namespace would be rooted elsewhere.
    pub on_pid_places: bool,
    /// Runs the createRuntime hooks in the runtime, between mounts and pivot.
    pub on_mounts_ready: &'a dyn Fn(Pid) -> Result<()>,
    /// Passes a seccomp notify fd from the child on to the profile's listener.
    pub on_seccomp_fd: &'a dyn Fn(Pid, BorrowedFd) -> Result<()>,
    /// Whether the runtime, which writes init's id maps, is root. Init
    /// cannot tell by itself: once its uid_map is written its own euid
    /// reads 0.
    pub runtime_is_root: bool,
}

/// Which of fds 3.. the caller really passed (`--preserve-fds`, LISTEN_FDS).
static PASSED: std::sync::OnceLock<Vec<RawFd>> = std::sync::OnceLock::new();

/// Records which of fds 3..3+n the caller passed and fills the gaps with
/// close-on-exec placeholders, so that no fd the runtime opens later (log,
/// lock, host directories) takes a number in the preserved range and is
/// handed to the container. Call before anything opens an fd.
pub fn reserve_passed_fds(n: u32) {
    let mut passed = Vec::new();
    let mut null: Option<OwnedFd> = None;
    for fd in 3..3 + n as RawFd {
        if sys::fd_is_open(fd) {
            passed.push(fd);
            continue;
        }
        if null.is_none() {
            null = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok();
        }
        if let Some(n) = &null {
            // The lowest free number from `fd` up is `fd` itself; the
            // placeholder lives as long as the runtime and never reaches
            // a container (close-on-exec, and not in `passed`).
            let _ = sys::dup_cloexec_at(n.as_fd(), fd);
        }
    }
    let _ = PASSED.set(passed);
}

/// The passed fds among 3..3+n that a container process keeps.
pub fn passed_fds(n: u32) -> Vec<RawFd> {
    let end = 3 + n as RawFd;
    match PASSED.get() {
        Some(p) => p.iter().copied().filter(|&f| f < end).collect(),
        None => (3..end).collect(),
    }
}

/// A freshly created container init, blocked until `start`.
pub struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    /// The init's sync socket, for the final [`Msg::Committed`].
    pub sync: Option<Channel>,
}

/// Creates the container's init and drives it to the point where it waits for `start`.
/// On error the child is killed; nothing of it remains.
pub fn spawn_init(o: &InitOptions) -> Result<Spawned> {
    let spec = &o.bundle.spec;
    let mut joins = Vec::new();
    let mut new_flags = CloneFlags::empty();
    for (i, typ, path) in crate::spec::namespaces(spec) {
        match path {
            Some(p) => joins.push(Join {
                typ,
                fd: namespaces::open_ns(&p, typ)
                    .map_err(|e| e.at(format!("/linux/namespaces/{i}/path")))?,
            }),
            // The cgroup namespace is unshared by init once it is in its cgroup,
            // so that cgroup becomes the namespace's root.
            None if typ == LinuxNamespaceType::Cgroup => {}
            None => new_flags |= namespaces::clone_flag(typ),
        }
    }
    let time_offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .filter(|t| !t.is_empty());
    // Init is cloned directly unless namespaces must be joined or time offsets
    // set first; then an intermediate clones it.
    let direct = joins.is_empty() && time_offsets.is_none();
    let (parent, child) = sync::pair()?;
    let t = Instant::now();
    // v1: init moves itself in (see cgroups::open_tasks). v2: the child is
    // born in its cgroup (CLONE_INTO_CGROUP).
    let (tasks, v2_dirs) =
        cgroups::open_tasks(o.cgroup_dirs).map_err(|e| e.at("/linux/cgroupsPath"))?;
    let v2_dir = v2_dirs.first();
    let v2_fd = v2_dir.and_then(|d| {
        nix::fcntl::open(
            d.as_path(),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    });
    let flags = if direct { new_flags.bits() as u64 } else { 0 };
    // The clone copies every resident page of our heap into init's page
    // tables: what parsing freed goes back to the kernel first.
    sys::trim_heap();
    let (forked, into_cgroup) = match v2_fd
        .as_ref()
        .map(|fd| sys::clone3_fork(flags, Some(fd.as_fd())))
    {
        Some(Ok(f)) => (f, true),
        // Older kernels, or a cgroup that can't take the process this way.
        _ => (
            sys::clone3_fork(flags, None).ctx("clone container init")?,
            false,
        ),
    };
    let sys::Forked::Parent { pid, pidfd } = forked else {
        drop(parent);
        if direct {
            init::run(o, &child, &tasks)
        } else {
            intermediate(o, child, &joins, new_flags, time_offsets, &tasks)
        }
    };
    drop(child);
    drop(joins);
    drop(tasks);
    let (pid, pidfd) = if direct {
        (pid, pidfd)
    } else {
        // The intermediate reports init's pid and pidfd, then exits.
        let got = parent.recv();
        let _ = waitpid(pid, None);
        match got? {
            Some((Msg::Pid(p), Some(fd))) => (Pid::from_raw(p), fd),
            Some((Msg::Error(e), _)) => return Err(e),
            _ => {
                return Err(Error::new(
                    "intermediate process exited without starting init",
                ))
            }
        }
    };
    crate::logging::stage("clone", t);
    if into_cgroup {
        crate::logging::log(
            "debug",
            "init cloned straight into its cgroup v2 (CLONE_INTO_CGROUP)",
        );
    }
    let mut spawned = Spawned {
        pid,
        pidfd,
        sync: None,
    };
    if let (true, Some(fd)) = (into_cgroup, &v2_fd) {
        if let Err(e) = crate::linux::sched::cpuset_after_clone_into(pid, fd.as_fd()) {
            kill_and_reap(&spawned);
            return Err(e);
        }
    }
    let join: Vec<PathBuf> = v2_dirs
        .iter()
        .filter(|d| !(into_cgroup && Some(*d) == v2_dir))
        .cloned()
        .collect();
    // Init is released before `on_pid` records it, so that its mounts
    // overlap with the state write (unless `on_pid_places`). An init that
    // fails meanwhile is a zombie whose stat `on_pid` still reads, and its
    // error, waiting on the socket, is the one reported.
    let on_pid = || (o.on_pid)(pid).map_err(|e| parent.pending_error().unwrap_or(e));
    let r = if o.on_pid_places {
        on_pid().and_then(|()| release(o, &parent, &spawned, &join))
    } else {
        release(o, &parent, &spawned, &join).and_then(|()| on_pid())
    }
    .and_then(|()| drive(o, &parent, &spawned));
    if let Err(e) = r {
        kill_and_reap(&spawned);
        return Err(e);
    }
    spawned.sync = Some(parent);
    Ok(spawned)
}

/// Whether runtime hooks run between init's mounts and its pivot_root
/// (prestart, createRuntime): only then does init stop there and wait.
pub fn hooks_after_mounts(spec: &oci_spec::runtime::Spec) -> bool {
    let some = |v: &Option<Vec<oci_spec::runtime::Hook>>| v.as_ref().is_some_and(|v| !v.is_empty());
    spec.hooks()
        .as_ref()
        .is_some_and(|h| some(h.prestart()) || some(h.create_runtime()))
}

/// The runtime's side of the protocol up to releasing init: what must be
/// in place before init goes on (id maps, cgroups, devices, mounts made
/// on the host).
fn release(o: &InitOptions, ch: &Channel, s: &Spawned, cgroup_dirs: &[PathBuf]) -> Result<()> {
    let spec = &o.bundle.spec;
    let t = Instant::now();
    if let Some(l) = spec.linux() {
        if crate::spec::new_ns(spec, LinuxNamespaceType::User) {
            namespaces::write_id_maps(
                s.pid,
                l.uid_mappings().as_deref().unwrap_or(&[]),
                l.gid_mappings().as_deref().unwrap_or(&[]),
            )?;
        }
    }
    if !cgroup_dirs.is_empty() {
        cgroups::add(cgroup_dirs, s.pid).map_err(|e| e.at("/linux/cgroupsPath"))?;
    }
    // Written from here, the host's user namespace: init, once root of a
    // new user namespace, may not write its own (its /proc files stay the
    // host root's while it is non-dumpable), and lowering the score takes
    // CAP_SYS_RESOURCE in the initial namespace.
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        init::write_proc(&format!("/proc/{}/oom_score_adj", s.pid), &adj.to_string())
            .map_err(|e| e.at("/process/oomScoreAdj"))?;
    }
    if let Some(l) = spec.linux() {
        crate::linux::netdev::move_all(spec, s.pid)?;
        if let Some(rdt) = l.intel_rdt() {
            crate::linux::intelrdt::apply(rdt, s.pid)?;
        }
    }
    crate::logging::stage("id maps and cgroup", t);
    send_idmapped_mounts(o, ch, s)?;
    ch.send(&Msg::Go).map_err(|e| child_gone(e, s))
}

/// The rest of the runtime's side: the hooks after init's mounts, then
/// init's seccomp listener fd and its Ready.
fn drive(o: &InitOptions, ch: &Channel, s: &Spawned) -> Result<()> {
    if hooks_after_mounts(&o.bundle.spec) {
        recv_expect(ch, Msg::MountsReady, s)?;
        (o.on_mounts_ready)(s.pid)?;
        ch.send(&Msg::Continue).map_err(|e| child_gone(e, s))?;
    }
    loop {
        match ch.recv()? {
            Some((Msg::SeccompFd, Some(fd))) => (o.on_seccomp_fd)(s.pid, fd.as_fd())?,
            Some((m, _)) => return m.check(Msg::Ready),
            None => return Err(child_gone(Error::new("sync socket closed"), s)),
        }
    }
}

/// Makes the config's idmapped mounts, now that the container's user
/// namespace exists, and passes them to init (see rootfs/idmap.rs).
fn send_idmapped_mounts(o: &InitOptions, ch: &Channel, s: &Spawned) -> Result<()> {
    let spec = &o.bundle.spec;
    // A user namespace (new, or joined as a CRI pod's containers join their
    // sandbox's), with a privileged runtime: its binds are cloned here too
    // (see idmap::prepare_userns_binds).
    let userns_binds = crate::spec::has_ns(spec, LinuxNamespaceType::User) && o.runtime_is_root;
    if crate::linux::rootfs::idmap::wanted(spec)?.is_empty() && !userns_binds {
        return Ok(());
    }
    let userns = if crate::spec::has_ns(spec, LinuxNamespaceType::User) {
        let path = format!("/proc/{}/ns/user", s.pid.as_raw());
        Some(
            nix::fcntl::open(
                path.as_str(),
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ctx(format!("open {path}"))?,
        )
    } else {
        None
    };
    let t = Instant::now();
    let trees = crate::linux::rootfs::idmap::prepare(
        spec,
        &o.bundle.dir,
        userns.as_ref().map(|u| u.as_fd()),
    )?;
    let sources = if userns_binds {
        let done: Vec<usize> = trees.iter().map(|(i, _)| *i).collect();
        crate::linux::rootfs::idmap::open_userns_bind_sources(spec, &o.bundle.dir, s.pid, &done)?
    } else {
        Vec::new()
    };
    for (i, fd) in &sources {
        ch.send_with_fd(&Msg::MountSource(*i), Some(fd.as_fd()))
            .map_err(|e| child_gone(e, s))?;
    }
    for (i, tree) in &trees {
        ch.send_with_fd(&Msg::MountFd(*i), Some(tree.as_fd()))
            .map_err(|e| child_gone(e, s))?;
    }
    crate::logging::stage("idmapped mounts", t);
    Ok(())
}

fn recv_expect(ch: &Channel, want: Msg, s: &Spawned) -> Result<()> {
    match ch.recv()? {
        Some((m, _)) => m.check(want),
        None => Err(child_gone(Error::new("sync socket closed"), s)),
    }
}

/// Explains a child that vanished: its exit status is the best cause left.
fn child_gone(e: Error, s: &Spawned) -> Error {
    match waitpid(s.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => Error::new(format!(
            "container init exited with status {c} during set-up"
        )),
        Ok(WaitStatus::Signaled(_, sig, _)) => {
            Error::new(format!("container init was killed by {sig} during set-up"))
        }
        _ => e,
    }
}

/// Kills a half-made container init and waits for it to go.
pub fn kill_and_reap(s: &Spawned) {
    let _ = sys::pidfd_send_signal(s.pidfd.as_fd(), libc::SIGKILL);
    wait_exit(s.pidfd.as_fd());
    let _ = waitpid(s.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

/// Waits up to `limit` for the process behind a pidfd to exit; false if it
/// is still there.
pub fn wait_exit_for(pidfd: BorrowedFd, limit: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::NONE);
        let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(0) => return false,
            _ => return true,
        }
    }
}

/// Blocks until the process behind a pidfd has exited (it need not be our child).
pub fn wait_exit(pidfd: BorrowedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// The intermediate: joins namespaces, unshares time (so offsets can be set
/// before anyone is inside), then clones init and reports it.
fn intermediate(
    o: &InitOptions,
    ch: Channel,
    joins: &[Join],
    new_flags: CloneFlags,
    offsets: Option<&std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>>,
    tasks: &[OwnedFd],
) -> ! {
    let r = (|| -> Result<Spawned> {
        namespaces::join_all(joins)?;
        let mut flags = new_flags;
        if let Some(offs) = offsets {
            let time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
            nix::sched::unshare(time).ctx("unshare time namespace")?;
            let mut text = String::new();
            for (clock, off) in offs {
                text.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
                Error::from(e)
                    .context("write time offsets")
                    .at("/linux/timeOffsets")
            })?;
            flags &= !time;
        }
        match sys::clone3_fork(flags.bits() as u64, None).ctx("clone container init")? {
            sys::Forked::Child => init::run(o, &ch, tasks),
            sys::Forked::Parent { pid, pidfd } => Ok(Spawned {
                pid,
                pidfd,
                sync: None,
            }),
        }
    })();
    report_and_exit(&ch, r)
}

/// Ends an intermediate process: the new process's pid and pidfd, or the
/// error, go to the runtime.
pub(crate) fn report_and_exit(ch: &Channel, r: Result<Spawned>) -> ! {
    let code = match r {
        Ok(s) => match ch.send_with_fd(&Msg::Pid(s.pid.as_raw()), Some(s.pidfd.as_fd())) {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Err(e) => {
            let _ = ch.send(&Msg::Error(e));
            1
        }
    };
    sys::exit_now(code)
}

/// A small procfs or cgroupfs file in one read (such files hand out their
/// whole content at once), without std's size probe and growing reads.
pub fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    loop {
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    // Larger than expected: fall back to reading it all.
                    let mut rest = Vec::from(&buf[..]);
                    f.read_to_end(&mut rest).ok()?;
                    return String::from_utf8(rest).ok();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    std::str::from_utf8(&buf[..len]).ok().map(str::to_owned)
}

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
/// With the pid it names a process uniquely.
pub fn start_time(pid: Pid) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// State letter and start time from one read of /proc/<pid>/stat.
pub fn stat(pid: Pid) -> Option<(char, u64)> {
    let s = read_small(&format!("/proc/{}/stat", pid.as_raw()))?;
    let (_, rest) = s.rsplit_once(')')?;
    // After the comm: state is field 3, starttime field 22.
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_and_state() {
        let me = Pid::this();
        assert!(start_time(me).is_some());
        let (state, start) = stat(me).unwrap();
        assert!(state.is_ascii_uppercase(), "{state}");
        assert_eq!(start_time(me), Some(start));
    }
}
