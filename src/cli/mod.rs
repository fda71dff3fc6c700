//! The command line, flag for flag like runc's.

mod args;
mod cgroup_cmds;
mod check;
mod features;
mod run;

use crate::container::{self, CreateOpts, Ctx};
use crate::error::{Context, Error, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

pub use args::*;

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
    let args = normalize_args(&mut cmd, args);
    // First with the named command alone: clap copies the global flags
    // into every command of the tree it builds (~120 KB of heap for ours).
    // Help and errors come from the whole tree, worded as before.
    if let Some(mut one) = only_named_command(&cmd, &args) {
        if let Ok(mut m) = one.try_get_matches_from_mut(&args) {
            if let Ok(cli) = Cli::from_arg_matches_mut(&mut m) {
                return Ok(cli);
            }
        }
    }
    let mut m = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut cmd))
}

/// The root command with its own flags and only the command that `args`
/// name (the first word that is not a flag or a global flag's value).
fn only_named_command(cmd: &clap::Command, args: &[String]) -> Option<clap::Command> {
    let mut words = args.iter().skip(1);
    let name = loop {
        let w = words.next()?;
        if let Some(long) = w.strip_prefix("--") {
            let takes_value = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .is_some_and(|a| a.get_action().takes_values() && !a.is_require_equals_set());
            if takes_value {
                words.next()?;
            }
        } else if !w.starts_with('-') {
            break w;
        }
    };
    let sub = cmd.find_subcommand(name)?.clone();
    let root = clap::Command::new("tong").disable_version_flag(true);
    Some(
        cmd.get_arguments()
            // (A built tree has its generated --help among them.)
            .filter(|a| a.get_id() != "help")
            .fold(root, |c, a| c.arg(a.clone()))
            .subcommand(sub),
    )
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
fn normalize_args(cmd: &mut clap::Command, args: Vec<String>) -> Vec<String> {
    let go_style =
        |i: usize, a: &str| i > 0 && a.len() > 2 && a.starts_with('-') && !a.starts_with("--");
    if !args.iter().enumerate().any(|(i, a)| go_style(i, a)) {
        return args;
    }
    // The commands' flags are deferred (see Cmd): only now are all needed.
    cmd.build();
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
/// `list` shows it (`#UID` when the host has no such user), looked up in
/// `passwd` (the host's /etc/passwd, read once per `list`).
fn owner_name(dir: &std::path::Path, passwd: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
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
    if !quiet && !all.is_empty() {
        // Read directly (a static binary has no NSS), once: it was read again
        // for every container.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        for s in &mut all {
            s.owner = owner_name(&ctx.root.join(&s.id), &passwd);
        }
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
            &mut Cli::command(),
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
    fn the_named_command_alone_parses_as_the_whole_tree() {
        use clap::FromArgMatches;
        for line in [
            "tong --root /r --log /l --log-format json run -d --pid-file /p x",
            "tong --root run state x",
            "tong --debug exec -t --env A=1 x sh -c true",
            "tong --rootless=true state x",
            "tong --systemd-cgroup delete -f x",
            "tong list -q",
            "tong --criu /c checkpoint --image-path /i x",
            "tong update --memory 100 x",
            "tong events --stats x",
            "tong delete x --root /after",
        ] {
            let args: Vec<String> = line.split(' ').map(String::from).collect();
            let whole = Cli::from_arg_matches_mut(
                &mut Cli::command().try_get_matches_from_mut(&args).unwrap(),
            )
            .unwrap();
            let mut one = only_named_command(&Cli::command(), &args).expect(line);
            let alone =
                Cli::from_arg_matches_mut(&mut one.try_get_matches_from_mut(&args).unwrap())
                    .unwrap();
            assert_eq!(format!("{alone:?}"), format!("{whole:?}"), "{line}");
        }
        assert_eq!(
            parse(vec![
                "tong".into(),
                "--root".into(),
                "run".into(),
                "state".into(),
                "x".into()
            ])
            .unwrap()
            .root,
            Some("run".into())
        );
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
