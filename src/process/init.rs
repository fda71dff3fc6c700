//! What runs in the container's init between clone and execve.

use super::sync::{Channel, Msg};
use super::InitOptions;
use crate::error::{Context, Error, Result};
use crate::linux::{rootfs, security, sys};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Instant;

/// Runs the init's set-up; never returns. Errors go back over the channel.
pub fn run(o: &InitOptions, ch: &Channel, cgroup_tasks: &[OwnedFd]) -> ! {
    // The clone copied every runtime fd: the lock, the cgroup v2 directory
    // of CLONE_INTO_CGROUP, the state directory. Set-up needs none of them.
    let mut keep = set_up_fds(o, ch);
    keep.extend(cgroup_tasks.iter().map(|t| t.as_raw_fd()));
    if let Err(e) = sys::close_fds_except(&keep) {
        let _ = ch.send(&Msg::Error(Error::sys("close the runtime's fds", e)));
        sys::exit_now(1)
    }
    let err = match setup(o, ch, cgroup_tasks) {
        Ok((exec, host_pid)) => {
            // A runtime that died before recording us leaves no one to
            // start or delete us: the socket closes and we go.
            if ch.expect(Msg::Committed).is_err() {
                sys::exit_now(1)
            }
            // From here on `create` has returned: report to stderr, which is
            // the container's own output.
            let e = wait_for_start(o, ch)
                .and_then(|()| {
                    run_hooks(
                        o,
                        host_pid,
                        "created",
                        |h| h.start_container().as_ref(),
                        "startContainer",
                        exec.filter.as_ref(),
                    )
                })
                .and_then(|()| exec.exec());
            match e {
                Ok(never) => match never {},
                Err(e) => {
                    eprintln!("tong: error: {e}");
                    match &o.start {
                        super::StartBy::Fifos { result, .. } => {
                            let _ = nix::unistd::write(result, e.to_string().as_bytes());
                        }
                        super::StartBy::Runtime => {
                            let _ = ch.send(&Msg::Error(e));
                        }
                    }
                    sys::exit_now(127)
                }
            }
        }
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(err));
    sys::exit_now(1)
}

/// The fds init holds until its program is looked up: the passed ones, the
/// sync socket, the fifos `start` talks through, the console socket and the log.
fn set_up_fds(o: &InitOptions, ch: &Channel) -> Vec<RawFd> {
    let mut keep = exec_fds(o, ch);
    keep.extend(o.console.map(|c| c.as_raw_fd()));
    keep.extend(crate::logging::fd());
    keep
}

/// The fds init still holds when it looks its program up and waits for
/// `start`: the passed ones, the sync socket and the two fifos (none is a
/// directory, so none can be walked out of the container).
fn exec_fds(o: &InitOptions, ch: &Channel) -> Vec<RawFd> {
    let mut keep = super::passed_fds(o.preserve_fds);
    keep.push(ch.raw());
    if let super::StartBy::Fifos { exec, result } = &o.start {
        keep.extend([exec.as_raw_fd(), result.as_raw_fd()]);
    }
    keep
}

/// Runs the hooks of one kind from inside the container, with the state on stdin.
fn run_hooks(
    o: &InitOptions,
    host_pid: Option<nix::unistd::Pid>,
    status: &str,
    pick: impl Fn(&oci_spec::runtime::Hooks) -> Option<&Vec<oci_spec::runtime::Hook>>,
    kind: &str,
    filter: Option<&crate::linux::seccomp::Program>,
) -> Result<()> {
    let spec = &o.bundle.spec;
    let Some(hooks) = spec.hooks().as_ref() else {
        return Ok(());
    };
    let list = pick(hooks);
    if list.is_none_or(|l| l.is_empty()) {
        return Ok(());
    }
    let st = crate::hooks::state_json(
        spec.version(),
        o.id,
        status,
        host_pid,
        &o.bundle.dir,
        &spec.annotations().clone().unwrap_or_default(),
    );
    let env = spec.process().as_ref().and_then(|p| p.env().as_deref());
    crate::hooks::run_all_inheriting(
        list,
        &st,
        kind,
        crate::hooks::Inherit {
            env: Some(env.unwrap_or(&[])),
            filter,
        },
    )
}

/// Our pid as the runtime sees it: the host's /proc is still mounted before the pivot.
fn host_pid() -> Option<nix::unistd::Pid> {
    std::fs::read_link("/proc/self")
        .ok()?
        .to_str()?
        .parse()
        .ok()
        .map(nix::unistd::Pid::from_raw)
}

fn setup(
    o: &InitOptions,
    ch: &Channel,
    cgroup_tasks: &[OwnedFd],
) -> Result<(Exec, Option<nix::unistd::Pid>)> {
    // No process inside the container may read our memory or /proc/self/exe
    // (CVE-2019-5736, CVE-2016-9962); execve resets this for the user's binary.
    // An unprivileged runtime must still write our id maps, which a
    // non-dumpable process's /proc files would refuse: then it waits for Go.
    // Asking geteuid() here raced with the runtime: a uid_map already
    // written makes ours 0, and gid_map's open then failed (EACCES).
    let privileged = o.runtime_is_root;
    if privileged {
        nix::sys::prctl::set_dumpable(false).ctx("prctl(PR_SET_DUMPABLE)")?;
    }
    let prepared = ch.expect_go_with_mounts()?;
    crate::linux::cgroups::join_self(cgroup_tasks).map_err(|e| e.at("/linux/cgroupsPath"))?;
    // The cgroup files are host files: done with them.
    let mut keep = set_up_fds(o, ch);
    keep.extend(
        prepared
            .trees
            .iter()
            .chain(&prepared.sources)
            .map(|(_, f)| f.as_raw_fd()),
    );
    sys::close_fds_except(&keep).ctx("close cgroup files")?;
    if !privileged {
        nix::sys::prctl::set_dumpable(false).ctx("prctl(PR_SET_DUMPABLE)")?;
    }
    let spec = &o.bundle.spec;
    let new_cgroupns = crate::spec::new_ns(spec, LinuxNamespaceType::Cgroup);
    // The container's cgroup v2 path, before the namespace hides it: where
    // a refused cgroup2 mount binds from (see rootfs::mount_cgroup).
    let cgroup2_path = if new_cgroupns {
        std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
            })
    } else {
        None
    };
    if new_cgroupns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .ctx("unshare cgroup namespace")?;
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::field("/process", "process property must not be empty"))?;
    let userns = crate::spec::has_ns(spec, LinuxNamespaceType::User);
    if userns {
        // Become root of the new user namespace (the runtime mapped us).
        let root_uid = nix::unistd::Uid::from_raw(0);
        let root_gid = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root_gid, root_gid, root_gid).ctx("setgid 0 in user namespace")?;
        nix::unistd::setresuid(root_uid, root_uid, root_uid).ctx("setuid 0 in user namespace")?;
    }
    nix::unistd::setsid().ctx("setsid")?;
    spec_process_attrs(spec)?;
    if let Some(name) = &o.keyring {
        let name = std::ffi::CString::new(format!("_ses.{name}"))
            .map_err(|_| Error::new("container id contains a NUL byte"))?;
        match sys::join_session_keyring(&name) {
            // Kernels without keyrings, or keyrings denied to user namespaces, as runc.
            Ok(_) | Err(nix::errno::Errno::ENOSYS) | Err(nix::errno::Errno::EACCES) => {}
            Err(e) => return Err(Error::sys("join session keyring", e)),
        }
    }
    nix::sys::stat::umask(Mode::empty());

    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h)
            .ctx("sethostname")
            .map_err(|e| e.at("/hostname"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        set_domainname(d).map_err(|e| e.at("/domainname"))?;
    }
    let t = Instant::now();
    let root = rootfs::prepare(&rootfs::Setup {
        spec,
        rootfs: &o.bundle.rootfs,
        bundle: &o.bundle.dir,
        idmapped: &prepared.trees,
        sources: &prepared.sources,
        cgroup2_path: cgroup2_path.as_deref(),
    })?;
    drop(prepared);
    crate::logging::stage("mounts", t);
    if super::hooks_after_mounts(spec) {
        ch.send(&Msg::MountsReady)?;
        ch.expect(Msg::Continue)?;
    }
    let host_pid = host_pid();
    run_hooks(
        o,
        host_pid,
        "creating",
        |h| h.create_container().as_ref(),
        "createContainer",
        None,
    )?;

    // LSM labels are written after the pivot, through procfs opened now.
    let procfs = if crate::linux::lsm::wants_labels(process) {
        Some(crate::linux::lsm::open_procfs()?)
    } else {
        None
    };
    write_sysctls(spec)?;
    let t = Instant::now();
    rootfs::pivot(root, o.no_pivot)?;
    rootfs::finish(spec)?;
    crate::logging::stage("pivot", t);
    reopen_dev_null()?;

    if let Some(sock) = o.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::linux::console::setup(sock, size, true).map_err(|e| e.at("/process/terminal"))?;
    }
    rootfs::finish_dev(spec)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        set_personality(p)?;
    }
    let exec = confine(
        process,
        "/process",
        userns,
        &exec_fds(o, ch),
        o.seccomp,
        procfs,
        ch,
    )?;
    ch.send(&Msg::Ready)?;
    Ok((exec, host_pid))
}

/// The last steps before execve, shared by init and exec: rlimits, LSM
/// labels, user and capabilities, no_new_privs, umask; then every fd but
/// stdio and `keep` is closed, and only then are the cwd and the program
/// looked up, so nothing the container controls (args, PATH, cwd) is resolved while an
/// fd that leads out of it is open (CVE-2024-21626 and its cousins). The
/// seccomp filter goes on as late as it can: right before execve, so that a
/// profile never has to allow tong's own calls; only a notifying filter is
/// loaded here, since its fd must reach the listener during set-up.
pub fn confine(
    process: &Process,
    at: &str,
    userns: bool,
    keep: &[RawFd],
    filter: Option<&crate::linux::seccomp::Program>,
    procfs: Option<OwnedFd>,
    ch: &Channel,
) -> Result<Exec> {
    let nnp = process.no_new_privileges() == Some(true);
    // Scheduler and I/O priority while CAP_SYS_NICE is still held.
    crate::linux::sched::apply(process, at)?;
    security::set_rlimits(process, at)?;
    security::drop_bounding(process)?;
    if let Some(p) = procfs {
        crate::linux::lsm::apply_exec_labels(
            p.as_fd(),
            process.apparmor_profile().as_deref(),
            process.selinux_label().as_deref(),
            at,
        )?;
    }
    crate::logging::close_in_child();
    sys::close_fds_except(keep).ctx("close the runtime's fds")?;
    // From here on no fd leads out of the container: its files may be read.
    // As runc: enter the cwd while still root (a directory the user may not
    // read is fine), read HOME from /etc/passwd, and hand the stdio ttys
    // and pipes to the user.
    let entered = nix::unistd::chdir(process.cwd()).is_ok();
    let home = home_env(process);
    fix_stdio_owner(process.user().uid());
    // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: keep it in
    // the effective set until then. The exec'd program's capabilities are
    // computed by execve from the bounding, inheritable and ambient sets, so
    // this changes nothing for it.
    security::set_user_and_caps(process, at, userns, filter.is_some() && !nnp)?;
    if nnp {
        security::set_no_new_privs()?;
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022),
    ));
    if !entered {
        enter_cwd(process, at)?;
    }
    check_cwd(at)?;
    let mut exec = Exec::resolve(process, at, home)?;
    let notify = filter.is_some_and(|f| f.flags & crate::linux::seccomp::NEW_LISTENER != 0);
    match filter {
        Some(f) if notify => {
            if let Some(fd) = crate::linux::seccomp::load(f)? {
                ch.send_with_fd(&Msg::SeccompFd, Some(fd.as_fd()))?;
            }
        }
        f => exec.filter = f.cloned(),
    }
    Ok(exec)
}

/// Container-wide attributes init sets on itself (its children inherit
/// them): the loopback of a new network namespace is up, and the memory
/// policy of `linux.memoryPolicy` is set.
fn spec_process_attrs(spec: &Spec) -> Result<()> {
    if crate::spec::new_ns(spec, LinuxNamespaceType::Network) {
        crate::linux::netdev::loopback_up()?;
    }
    if let Some(m) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        crate::linux::sched::apply_mempolicy(m)?;
    }
    Ok(())
}

/// The execution domain survives execve, so it is set here for the program.
fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<()> {
    use nix::sys::personality::Persona;
    use oci_spec::runtime::LinuxPersonalityDomain;
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::field(
            "/linux/personality/flags",
            "personality flags are not supported",
        ));
    }
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    nix::sys::personality::set(Persona::from_bits_retain(domain))
        .ctx("personality")
        .map_err(|e| e.at("/linux/personality/domain"))?;
    Ok(())
}

fn set_domainname(name: &str) -> Result<()> {
    write_proc("/proc/sys/kernel/domainname", name).ctx("set domainname")
}

/// Opens a file under the host's /proc (still visible before the pivot) and
/// checks that it really is procfs before writing (CVE-2019-16884 family).
pub(super) fn write_proc(path: &str, value: &str) -> Result<()> {
    use nix::fcntl::{open, OFlag};
    let fd = open(
        path,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .ctx(format!("open {path}"))?;
    let fs = nix::sys::statfs::fstatfs(fd.as_fd()).ctx(format!("statfs {path}"))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::new(format!("{path} is not on procfs")));
    }
    nix::unistd::write(&fd, value.as_bytes()).ctx(format!("write {path}"))?;
    Ok(())
}

pub(super) fn write_proc_self(file: &str, value: &str) -> Result<()> {
    write_proc(&format!("/proc/self/{file}"), value)
}

fn write_sysctls(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (k, v) in map {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        write_proc(&path, v).map_err(|e| e.at(format!("/linux/sysctl/{k}")))?;
    }
    Ok(())
}

/// `HOME=<dir>` when the process's env has no HOME: the home directory of
/// its uid in the container's /etc/passwd, or `/` (as runc). Only a regular
/// file is read, and at most 1 MiB of it.
fn home_env(p: &Process) -> Option<String> {
    let env = p.env().as_deref().unwrap_or(&[]);
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return None;
    }
    let uid = p.user().uid();
    let home = read_passwd()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse::<u32>() == Ok(uid) && !f[5].is_empty())
                    .then(|| f[5].to_owned())
            })
        })
        .unwrap_or_else(|| "/".to_owned());
    Some(format!("HOME={home}"))
}

fn read_passwd() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open("/etc/passwd")
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Gives the process's user its stdio (runc's fixStdioPermissions): a pty
/// or a pipe owned by root could not be reopened (`/dev/stdout`) by it.
/// Only the owner changes; files on a filesystem are never touched.
fn fix_stdio_owner(uid: u32) {
    use nix::sys::stat::{fstat, SFlag};
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    for fd in [i.as_fd(), o.as_fd(), e.as_fd()] {
        let Ok(st) = fstat(fd) else { continue };
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        let ours = match kind {
            SFlag::S_IFIFO | SFlag::S_IFSOCK => true,
            SFlag::S_IFCHR => nix::unistd::isatty(fd).unwrap_or(false),
            _ => false,
        };
        if !ours || st.st_uid == uid {
            continue;
        }
        // EINVAL/EPERM (ids not mapped in a user namespace), EROFS: leave it.
        let _ = nix::unistd::fchown(fd, Some(nix::unistd::Uid::from_raw(uid)), None);
    }
}

/// Stdio that is the host's /dev/null becomes the container's own
/// /dev/null (as runc's reOpenDevNull): criu cannot checkpoint a descriptor
/// of a mount the container does not see. The container's node is opened
/// without following a link and must be char device 1:3 itself.
fn reopen_dev_null() -> Result<()> {
    use nix::sys::stat::{fstat, SFlag};
    let is_null = |st: &nix::sys::stat::FileStat| {
        SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFCHR
            && st.st_rdev == nix::sys::stat::makedev(1, 3)
    };
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let host: Vec<bool> = [i.as_fd(), o.as_fd(), e.as_fd()]
        .iter()
        .map(|fd| fstat(fd).is_ok_and(|st| is_null(&st)))
        .collect();
    if !host.contains(&true) {
        return Ok(());
    }
    let null = match nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // No usable /dev/null in the container: keep the host's.
        Err(_) => return Ok(()),
    };
    if !fstat(&null).is_ok_and(|st| is_null(&st)) {
        return Ok(());
    }
    if host[0] {
        nix::unistd::dup2_stdin(&null).ctx("reopen /dev/null as stdin")?;
    }
    if host[1] {
        nix::unistd::dup2_stdout(&null).ctx("reopen /dev/null as stdout")?;
    }
    if host[2] {
        nix::unistd::dup2_stderr(&null).ctx("reopen /dev/null as stderr")?;
    }
    Ok(())
}

/// chdir as the container user.
fn enter_cwd(p: &Process, at: &str) -> Result<()> {
    let cwd = p.cwd();
    nix::unistd::chdir(cwd)
        .map_err(|e| {
            Error::sys(
                format!(
                    "chdir to cwd ({:?}) set in config.json failed",
                    cwd.display().to_string()
                ),
                e,
            )
        })
        .map_err(|e| e.at(format!("{at}/cwd")))
}

/// The cwd must lie inside the root.
fn check_cwd(at: &str) -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(c) if c.is_absolute() => Ok(()),
        _ => Err(Error::field(
            format!("{at}/cwd"),
            "current working directory is outside of the container's root",
        )),
    }
}

/// The resolved program and its argv/envp, ready for execve.
pub struct Exec {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    /// A seccomp filter to load immediately before execve.
    filter: Option<crate::linux::seccomp::Program>,
}

fn cstr(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(format!("{what} contains a NUL byte")))
}

impl Exec {
    /// Looks the program up like Go's exec.LookPath, with runc's error words
    /// (docker maps "not found"/"no such file" to 127, "permission denied" to 126).
    pub fn resolve(p: &Process, at: &str, extra_env: Option<String>) -> Result<Exec> {
        let args = p.args().as_deref().unwrap_or(&[]);
        let name = args
            .first()
            .ok_or_else(|| Error::field(format!("{at}/args"), "args must not be empty"))?;
        let mut env: Vec<String> = p.env().clone().unwrap_or_default();
        env.extend(extra_env);
        let path = lookup(name, &env).map_err(|e| e.at(format!("{at}/args/0")))?;
        Ok(Exec {
            path: cstr(&path, "executable path")?,
            args: args
                .iter()
                .map(|a| cstr(a, "argument"))
                .collect::<Result<_>>()?,
            env: env
                .iter()
                .map(|e| cstr(e, "environment"))
                .collect::<Result<_>>()?,
            filter: None,
        })
    }

    pub fn exec(self) -> Result<std::convert::Infallible> {
        if let Some(f) = &self.filter {
            crate::linux::seccomp::load(f)?;
        }
        let e = nix::unistd::execve(&self.path, &self.args, &self.env).unwrap_err();
        Err(Error::sys(
            format!("exec: {:?}", self.path.to_string_lossy()),
            e,
        ))
    }
}

fn is_executable(p: &Path) -> std::result::Result<(), nix::errno::Errno> {
    let st = nix::sys::stat::stat(p)?;
    // Root passes access(X_OK) on some filesystems even without x bits.
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR || st.st_mode & 0o111 == 0 {
        return Err(nix::errno::Errno::EACCES);
    }
    nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)
}

pub fn lookup(name: &str, env: &[String]) -> Result<String> {
    if name.contains('/') {
        return match is_executable(Path::new(name)) {
            Ok(()) => Ok(name.to_owned()),
            Err(nix::errno::Errno::EACCES) => Err(Error::sys(
                format!("exec: {name:?}"),
                nix::errno::Errno::EACCES,
            )),
            Err(e) => Err(Error::sys(format!("exec: {name:?}: stat {name}"), e)),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = format!("{dir}/{name}");
        match is_executable(Path::new(&cand)) {
            Ok(()) => return Ok(cand),
            Err(nix::errno::Errno::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(Error::sys(
            format!("exec: {name:?}"),
            nix::errno::Errno::EACCES,
        ));
    }
    Err(Error::new(format!(
        "exec: {name:?}: executable file not found in $PATH"
    )))
}

/// Blocks until `start` writes to the exec fifo.
fn wait_for_start(o: &InitOptions, ch: &Channel) -> Result<()> {
    let super::StartBy::Fifos { exec: fifo, .. } = &o.start else {
        return ch.expect(Msg::Start);
    };
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait on exec fifo", e)),
            Ok(_) => break,
        }
    }
    let mut b = [0u8; 1];
    match nix::unistd::read(fifo, &mut b) {
        Ok(1) => Ok(()),
        Ok(_) => Err(Error::new("exec fifo closed without a start")),
        Err(e) => Err(Error::sys("read exec fifo", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_errors_use_runc_words() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert!(lookup("sh", &env).unwrap().ends_with("/sh"));
        let e = lookup("no-such-prog-xyz", &env).unwrap_err();
        assert_eq!(
            e.msg,
            "exec: \"no-such-prog-xyz\": executable file not found in $PATH"
        );
        let e = lookup("/no/such", &env).unwrap_err();
        assert_eq!(
            e.msg,
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        let f = std::env::temp_dir().join(format!("tong-noexec-{}", std::process::id()));
        std::fs::write(&f, "x").unwrap();
        let e = lookup(f.to_str().unwrap(), &env).unwrap_err();
        std::fs::remove_file(&f).unwrap();
        assert!(e.msg.ends_with("permission denied"), "{e}");
    }
}
