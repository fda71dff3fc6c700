//! The command line, flag for flag like runc's.

mod cgroup_cmds;
mod check;
mod features;
mod run;

use crate::container::{self, CreateOpts, Ctx};
use crate::error::{Context, Error, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tong",
    about = "tong: an OCI container runtime, a drop-in replacement for runc",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for container state [default: /run/tong; rootless: $XDG_RUNTIME_DIR/tong].
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (runc-compatible; engines read the last error line).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Log each set-up stage with its duration.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// The criu binary for checkpoint and restore.
    #[arg(long, global = true, default_value = "criu")]
    pub criu: String,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) into the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Unix socket that receives a pidfd of the container's init.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Container id.
    pub id: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
    /// A runtime-spec Process JSON file describing the process.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// An additional gid (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (repeatable).
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// AppArmor profile for the process.
    #[arg(short, long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Pass N extra fds into the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Sub-cgroup to run in (controller:path or path).
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Unix socket that receives a pidfd of the new process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Exec even if the container is paused.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The criu flags `checkpoint` and `restore` share (runc's names).
#[derive(Args, Debug, Clone, Default)]
pub struct CriuArgs {
    /// Directory for the image files [default: ./checkpoint].
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Directory for criu's log and work files [default: the image path].
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow a shell job (a session or terminal from outside).
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Lazy migration: pages are served on demand.
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// Deduplicate pages of the parent images.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// cgroups mode: soft, full, strict, props or ignore.
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// A namespace criu leaves empty (network; repeatable).
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
}

impl CriuArgs {
    fn flags(&self) -> container::CriuFlags {
        container::CriuFlags {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            lazy_pages: self.lazy_pages,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: self.manage_cgroups_mode.clone(),
            empty_ns: self.empty_ns.clone(),
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Images of a previous (pre-)dump, relative to the image path.
    #[arg(long = "parent-path")]
    pub parent_path: Option<String>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump memory only, to a parent image of a later dump.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// fd criu writes a byte to when the lazy page server is ready.
    #[arg(long = "status-fd")]
    pub status_fd: Option<i32>,
    /// ADDRESS:PORT of a page server to send the pages to.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Container id.
    pub id: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not wait for the restored container.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not become a child subreaper.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Not supported at restore: criu pivots itself.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// LSM profile of the restored processes (apparmor:NAME or selinux:LABEL).
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// SELinux mount context of the restored mounts.
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
    /// Container id.
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Checkpoint a running container with criu.
    Checkpoint(Box<CheckpointArgs>),
    /// Restore a container from a criu checkpoint.
    Restore(Box<RestoreArgs>),
    /// Create a container (it waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// List containers.
    List {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// Kill the container first if it is running.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start, wait for and delete a container.
    Run {
        /// Do not wait: leave the container running.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Do not become a child subreaper.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Run a process in a running container.
    Exec(Box<ExecArgs>),
    /// Change a running container's resource limits.
    Update(Box<cgroup_cmds::UpdateArgs>),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List a container's processes.
    Ps {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Stats and OOM events of a container, as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print what this build supports (the runtime-spec features JSON).
    Features,
    /// Report what this host can do for tong: one line per capability; exit 1 if it cannot run containers.
    ///
    /// The first line is the verdict: whether tong can run containers here
    /// (as root, or rootless as the caller) and, when it cannot, why. Then
    /// one line per capability (cgroup mode and controllers, namespaces and
    /// subordinate ids, the syscalls tong uses, idmapped mounts, systemd and
    /// its bus, AppArmor, SELinux, seccomp and its notifications, criu,
    /// hardware some resources need): present, limited or missing, and for
    /// a limited or missing one what breaks and what to do. A rootless
    /// caller also sees its own view: its subordinate ids, newuidmap and
    /// newgidmap, XDG_RUNTIME_DIR and the cgroup delegated to it.
    ///
    /// It changes nothing and starts no container; `--probe` adds `criu
    /// check` (a second or more) and one real container round trip in a
    /// temporary bundle and state root, both removed afterwards.
    /// `--format json` gives the same report for tools: each capability's
    /// `id`, `status`, `found`, `breaks`, `fix` and `sentence`.
    ///
    /// Exit status: 0 when tong can run containers here, 1 when it cannot.
    Check {
        /// Output format: text or json.
        #[arg(short, long, default_value = "text")]
        format: String,
        /// Also run `criu check` and one real create/start/delete round trip (removed afterwards).
        #[arg(long)]
        probe: bool,
    },
    /// Write a default config.json.
    Spec {
        /// Directory to write config.json into (`--rootless` makes a rootless config).
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

/// The clap definition of the command line, for what is generated from it
/// outside the binary (man pages and shell completions: the `gen/` crate).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the command line. The clap command is built once: building it is
/// most of what a short command like `state` spends in user space.
pub fn parse(args: Vec<String>) -> std::result::Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut cmd = command();
    let args = normalize_args(&cmd, args);
    let mut m = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut cmd))
}

/// Whether the command line may name a command that makes container
/// processes, judged from the words alone so that the re-exec from an
/// unwritable copy (linux::selfclone) comes before any parsing. A word that
/// only looks like one (`--root run`) costs a needless re-exec, nothing else.
pub fn may_make_container_processes(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| matches!(a.as_str(), "create" | "run" | "exec"))
}

/// Go's flag package lets engines write `-flag` and `-flag=value`; clap wants
/// `--flag`. Rewrites single-dash long flags that name a known option.
fn normalize_args(cmd: &clap::Command, args: Vec<String>) -> Vec<String> {
    let go_style =
        |i: usize, a: &str| i > 0 && a.len() > 2 && a.starts_with('-') && !a.starts_with("--");
    if !args.iter().enumerate().any(|(i, a)| go_style(i, a)) {
        return args;
    }
    let mut longs = Vec::new();
    fn collect(cmd: &clap::Command, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if let Some(l) = a.get_long() {
                out.push(l.to_owned());
            }
        }
        for s in cmd.get_subcommands() {
            collect(s, out);
        }
    }
    collect(cmd, &mut longs);
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if go_style(i, &a) {
                let name = a[1..].split('=').next().unwrap_or("");
                if longs.iter().any(|l| l == name) {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect()
}

fn commit() -> &'static str {
    option_env!("TONG_COMMIT").unwrap_or("unknown")
}

/// `--version`, in runc's lines: the version, the commit, the runtime-spec
/// version, then the libseccomp that is linked in (runc's `go:` line has no
/// counterpart here).
pub fn version_text() -> String {
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|e| format!("unknown ({e})"));
    format!(
        "tong version {}\ncommit: {}\nspec: {}\nlibseccomp: {libseccomp}\n",
        env!("CARGO_PKG_VERSION"),
        commit(),
        features::OCI_VERSION_MAX,
    )
}

impl Cli {
    /// The fds the caller hands to the container process, counted from 3
    /// (`--preserve-fds`, plus LISTEN_FDS for a new container).
    pub fn passed_fd_count(&self) -> u32 {
        match &self.cmd {
            Some(Cmd::Create(a)) | Some(Cmd::Run { create: a, .. }) => a
                .preserve_fds
                .saturating_add(container::socket_activation_fds()),
            Some(Cmd::Exec(a)) => a.preserve_fds,
            _ => 0,
        }
    }

    /// Whether the command puts processes into a container, and so must run
    /// from an unwritable copy of the binary (see linux::selfclone).
    fn makes_container_processes(&self) -> bool {
        matches!(
            self.cmd,
            Some(Cmd::Create(_)) | Some(Cmd::Run { .. }) | Some(Cmd::Exec(_))
        )
    }
}

/// `--rootless VALUE`: a boolean in Go's spellings, or `auto` (None: decide
/// from the environment).
fn parse_rootless(v: Option<&str>) -> Result<Option<bool>> {
    match v {
        None | Some("auto") => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(Error::new(format!(
            "invalid value {other:?} for --rootless: want true, false or auto"
        ))),
    }
}

/// The state root when `--root` is not given, chosen as runc chooses its
/// own: `$XDG_RUNTIME_DIR/tong` for an unprivileged user, and for root in a
/// user namespace some process made (rootless podman, rootlesskit) unless
/// that user calls itself root; `/run/tong` for the real root, and whenever
/// `XDG_RUNTIME_DIR` is unset or empty.
fn default_root(
    euid_root: bool,
    in_userns: bool,
    xdg_runtime_dir: Option<std::ffi::OsString>,
    user: Option<std::ffi::OsString>,
) -> PathBuf {
    let xdg = xdg_runtime_dir.filter(|x| !x.is_empty());
    let honour = !euid_root || (in_userns && user.as_deref() != Some("root".as_ref()));
    match xdg {
        Some(x) if honour => PathBuf::from(x).join("tong"),
        _ => PathBuf::from("/run/tong"),
    }
}

/// Runs the parsed command; returns the process exit status.
pub fn dispatch(cli: Cli) -> Result<i32> {
    if cli.version {
        print!("{}", version_text());
        return Ok(0);
    }
    if cli.makes_container_processes() {
        // Normally done by main before parsing; a no-op then.
        crate::linux::selfclone::ensure()?;
    }
    let Some(cmd) = cli.cmd else {
        let _ = Cli::command().print_help();
        return Ok(0);
    };
    let euid_root = nix::unistd::geteuid().is_root();
    let in_userns = crate::linux::namespaces::in_user_namespace();
    let rootless = parse_rootless(cli.rootless.as_deref())?.unwrap_or(!euid_root || in_userns);
    let root_given = cli.root.is_some();
    let root = cli.root.unwrap_or_else(|| {
        default_root(
            euid_root,
            in_userns,
            std::env::var_os("XDG_RUNTIME_DIR"),
            std::env::var_os("USER"),
        )
    });
    let ctx = Ctx {
        root,
        rootless,
        systemd: cli.systemd_cgroup,
    };
    match cmd {
        Cmd::Create(a) => {
            let pid = container::create(&ctx, &create_opts(&a))?;
            if let Some(p) = &a.pidfd_socket {
                if let Err(e) = crate::linux::pidfd::send_pid(p, pid) {
                    let _ = container::delete(&ctx, &a.id, true);
                    return Err(e);
                }
            }
            Ok(0)
        }
        Cmd::Start { id } => container::start(&ctx, &id).map(|()| 0),
        Cmd::State { id } => {
            let s = container::state(&ctx, &id)?;
            print_json(&s)?;
            Ok(0)
        }
        Cmd::List { format, quiet } => list(&ctx, &format, quiet).map(|()| 0),
        Cmd::Kill { all, id, signal } => {
            let sig = container::parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            container::kill(&ctx, &id, sig, all).map(|()| 0)
        }
        Cmd::Delete { force, id } => container::delete(&ctx, &id, force).map(|()| 0),
        Cmd::Run {
            detach,
            keep,
            no_subreaper,
            create,
        } => run::run(
            &ctx,
            &CreateOpts {
                direct_start: true,
                ..create_opts(&create)
            },
            (detach, keep, no_subreaper),
            create.pidfd_socket.as_deref(),
        ),
        Cmd::Exec(a) => exec(&ctx, *a),
        Cmd::Features => print_json(&features::features()).map(|()| 0),
        Cmd::Check { format, probe } => check::check(&format, probe, &ctx, root_given, &cli.criu),
        Cmd::Update(a) => cgroup_cmds::update(&ctx, &a).map(|()| 0),
        Cmd::Events {
            stats,
            interval,
            id,
        } => cgroup_cmds::events(&ctx, &id, stats, &interval).map(|()| 0),
        Cmd::Pause { id } => container::pause(&ctx, &id).map(|()| 0),
        Cmd::Resume { id } => container::resume(&ctx, &id).map(|()| 0),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => cgroup_cmds::ps(&ctx, &id, &format, &ps_args).map(|()| 0),
        Cmd::Spec { bundle } => spec(&bundle, rootless).map(|()| 0),
        Cmd::Checkpoint(a) => container::checkpoint(
            &ctx,
            &cli.criu,
            &container::CheckpointOpts {
                id: a.id,
                criu: a.criu.flags(),
                parent_path: a.parent_path,
                leave_running: a.leave_running,
                pre_dump: a.pre_dump,
                status_fd: a.status_fd,
                page_server: a.page_server,
            },
        )
        .map(|()| 0),
        Cmd::Restore(a) => run::restore(&ctx, &cli.criu, *a),
    }
}

fn exec(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let process = match a.process {
        Some(p) => container::ExecProcess::File(p),
        None => container::ExecProcess::Flags(container::ExecFlags {
            args: a.command,
            tty: a.tty,
            cwd: a.cwd,
            env: a.env,
            user: a.user,
            additional_gids: a.additional_gids,
            caps: a.cap,
            no_new_privs: a.no_new_privs,
            apparmor: a.apparmor,
            process_label: a.process_label,
        }),
    };
    let o = container::ExecOpts {
        id: a.id,
        process,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        console_socket: a.console_socket,
        console: None,
        sub_cgroups: a.cgroup,
    };
    // As runc: an exec that fails exits 255, so engines and scripts can
    // tell it from the status of the process itself.
    match run::exec(
        ctx,
        o,
        a.detach,
        a.pid_file.as_deref(),
        a.pidfd_socket.as_deref(),
    ) {
        Ok(code) => Ok(code),
        Err(e) => {
            crate::logging::error(&e.to_string());
            Ok(255)
        }
    }
}

fn create_opts(a: &CreateArgs) -> CreateOpts {
    CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        direct_start: false,
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::new(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").ctx("write to stdout")
}

/// The name of the user owning a container's state directory, as runc's
/// `list` shows it (`#UID` when the host has no such user).
fn owner_name(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    // The host's /etc/passwd, read directly: a static binary has no NSS.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>() == Ok(uid)).then(|| name.to_owned())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

fn list(ctx: &Ctx, format: &str, quiet: bool) -> Result<()> {
    let mut all = container::list(ctx)?;
    for s in &mut all {
        s.owner = owner_name(&ctx.root.join(&s.id));
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &all {
            writeln!(out, "{}", s.id).ctx("write to stdout")?;
        }
        return Ok(());
    }
    match format {
        "json" => {
            if all.is_empty() {
                writeln!(out, "null").ctx("write to stdout")?;
                return Ok(());
            }
            let s = serde_json::to_string(&all).map_err(|e| Error::new(e.to_string()))?;
            writeln!(out, "{s}").ctx("write to stdout")
        }
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for s in &all {
                rows.push(vec![
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_owned(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            write!(out, "{}", table(&rows)).ctx("write to stdout")
        }
        f => Err(Error::new(format!("invalid format option {f:?}"))),
    }
}

/// Columns padded like Go's tabwriter(minwidth 12, padding 3) as runc prints them.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        s.push('\n');
    }
    s
}

fn spec(bundle: &std::path::Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::new("File config.json exists. Remove it first"));
    }
    let mut v: serde_json::Value = serde_json::from_str(include_str!("spec_template.json"))
        .map_err(|e| Error::new(e.to_string()))?;
    if rootless {
        make_rootless(&mut v);
    }
    let text = serde_json::to_string_pretty(&v).map_err(|e| Error::new(e.to_string()))?;
    std::fs::write(&path, text + "\n").ctx(format!("write {}", path.display()))
}

/// runc's `spec --rootless` changes: a user namespace mapping the caller, no
/// network namespace, sysfs bound from the host, no resources.
fn make_rootless(v: &mut serde_json::Value) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let linux = &mut v["linux"];
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    linux["namespaces"] = serde_json::json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}
    ]);
    if let Some(mounts) = v["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_values() {
        assert_eq!(parse_rootless(None).unwrap(), None);
        assert_eq!(parse_rootless(Some("auto")).unwrap(), None);
        assert_eq!(parse_rootless(Some("true")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("1")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("false")).unwrap(), Some(false));
        assert!(parse_rootless(Some("maybe")).is_err());
    }

    #[test]
    fn default_root_follows_runc() {
        let x = || Some(std::ffi::OsString::from("/run/user/1001"));
        let u = |n: &str| Some(std::ffi::OsString::from(n));
        let xdg = PathBuf::from("/run/user/1001/tong");
        let run = PathBuf::from("/run/tong");
        // An unprivileged user.
        assert_eq!(default_root(false, false, x(), u("alice")), xdg);
        assert_eq!(default_root(false, false, None, u("alice")), run);
        assert_eq!(default_root(false, false, Some("".into()), None), run);
        // Root in the initial user namespace ignores XDG_RUNTIME_DIR.
        assert_eq!(default_root(true, false, x(), u("root")), run);
        assert_eq!(default_root(true, false, x(), u("alice")), run);
        // Root in a user namespace (rootless podman, rootlesskit).
        assert_eq!(default_root(true, true, x(), u("alice")), xdg);
        assert_eq!(default_root(true, true, x(), None), xdg);
        assert_eq!(default_root(true, true, x(), u("root")), run);
        assert_eq!(default_root(true, true, None, u("alice")), run);
    }

    #[test]
    fn go_style_flags() {
        let a = normalize_args(
            &Cli::command(),
            [
                "tong",
                "-root",
                "/r",
                "run",
                "-no-subreaper",
                "-d",
                "-pid-file=/p",
                "x",
            ]
            .map(String::from)
            .to_vec(),
        );
        assert_eq!(
            a,
            [
                "tong",
                "--root",
                "/r",
                "run",
                "--no-subreaper",
                "-d",
                "--pid-file=/p",
                "x"
            ]
        );
        let cli = parse(a).unwrap();
        match cli.cmd {
            Some(Cmd::Run {
                no_subreaper,
                detach,
                create,
                ..
            }) => {
                assert!(no_subreaper && detach);
                assert_eq!(create.pid_file.as_deref(), Some(std::path::Path::new("/p")));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn template_is_valid_config() {
        let spec: oci_spec::runtime::Spec =
            crate::spec::from_json(include_bytes!("spec_template.json"), "config.json").unwrap();
        crate::spec::validate(&spec).unwrap();
        crate::linux::validate::check_host(&spec).unwrap();
    }

    #[test]
    fn table_layout() {
        let t = table(&[
            vec!["ID".into(), "PID".into()],
            vec!["abc".into(), "1".into()],
        ]);
        assert_eq!(t, "ID          PID\nabc         1\n");
    }
}
