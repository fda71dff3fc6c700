//! Writes tong's man pages and shell completions from the clap definition
//! of its command line (`tong::cli::command()`), so they cannot drift from
//! the binary. A crate of its own so that clap_mangen and clap_complete stay
//! out of tong's dependencies; `hack/package.sh` runs it.
//!
//! Usage: tong-gen OUT_DIR VERSION DATE
//!   OUT_DIR/man/tong.8, OUT_DIR/man/tong-SUBCOMMAND.8 (section 8: tong is
//!   installed in /usr/sbin, as Debian installs runc), and
//!   OUT_DIR/completions/{tong.bash,_tong,tong.fish}.
//!   VERSION and DATE (YYYY-MM-DD) go into the pages' title lines.

use clap_complete::Shell;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const SECTION: &str = "8";

/// tong(8)'s DESCRIPTION (the binary's `--help` keeps its one line).
const DESCRIPTION: &str = "\
tong runs a container from an OCI bundle (a config.json and a root \
filesystem) as runc does: the same subcommands, flags, output formats, \
exit statuses and log format, so that containerd, CRI-O, podman and docker \
can drive it in runc's place. Global options go before the subcommand. \
Container state lives under --root (default /run/tong; rootless: \
$XDG_RUNTIME_DIR/tong), so tong and runc do not see each other's \
containers.

How to switch an engine from runc to tong and back, and what differs \
from runc: /usr/share/doc/tong/migrating-from-runc.md; configuration \
examples: /usr/share/doc/tong/examples.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, version, date] = args.as_slice() else {
        eprintln!("usage: tong-gen OUT_DIR VERSION DATE");
        return ExitCode::from(2);
    };
    match generate(Path::new(out), version, date) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tong-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path, version: &str, date: &str) -> std::io::Result<()> {
    let man = out.join("man");
    let comp = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&comp)?;

    // clap's own `help` subcommand is left out of the pages (as
    // clap_mangen::generate_to does); `tong help` is in tong(8).
    let mut cmd = tong::cli::command()
        .disable_help_subcommand(true)
        .about("an OCI container runtime, a drop-in replacement for runc")
        .long_about(DESCRIPTION);
    // Sets the subcommands' display names (`tong-exec`) and propagates the
    // global flags into them.
    cmd.build();
    // A subcommand's page lists the global flags apart from its own.
    let globals: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| {
            globals.iter().fold(s.clone(), |s, id| {
                s.mut_arg(id, |a| a.help_heading("Global options"))
            })
        })
        .collect();
    // The main page's SUBCOMMANDS section names each tong-NAME(8).
    page(&man, cmd, version, date, &[])?;
    for sub in subs {
        page(&man, sub, version, date, &["tong"])?;
    }

    let mut cmd = tong::cli::command();
    for (shell, name) in [
        (Shell::Bash, "tong.bash"),
        (Shell::Zsh, "_tong"),
        (Shell::Fish, "tong.fish"),
    ] {
        let mut f = File::create(comp.join(name))?;
        clap_complete::generate(shell, &mut cmd, "tong", &mut f);
        f.flush()?;
    }
    Ok(())
}

/// One page, with a SEE ALSO section naming `see_also` (the main page for a
/// subcommand) and runc(8), whose pages these mirror.
fn page(
    dir: &Path,
    cmd: clap::Command,
    version: &str,
    date: &str,
    see_also: &[&str],
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd)
        .section(SECTION)
        .date(date)
        .source(format!("tong {version}"))
        .manual("System Manager's Manual");
    let path = dir.join(man.get_filename());
    let mut f = File::create(&path)?;
    man.render(&mut f)?;
    writeln!(f, ".SH \"SEE ALSO\"")?;
    for name in see_also {
        writeln!(f, ".BR {name} ({SECTION}),")?;
    }
    writeln!(f, ".BR runc (8)")?;
    f.flush()
}
