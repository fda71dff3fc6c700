//! The command line's flags and commands, named and documented as runc's.

use super::*;

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

// The criu flags `checkpoint` and `restore` share (runc's names).
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
    pub(super) fn flags(&self) -> container::CriuFlags {
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
// Each command's flags are built only when it is the one parsed: building
// all of them touched ~290 KB of heap, twice per create (72 page faults each).
#[command(defer = true)]
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
