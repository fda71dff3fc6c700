#![deny(unsafe_code)]

use tong::cli::{dispatch, may_make_container_processes, parse};
use tong::logging;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The re-exec from an unwritable copy comes first, so that the work
    // before it (parsing) is not done twice; its error waits for the log.
    // A kernel without the calls every container process needs is refused
    // first, by name.
    let reexec = if may_make_container_processes(&args) {
        tong::linux::validate::require_kernel().and_then(|()| tong::linux::selfclone::ensure())
    } else {
        Ok(())
    };
    let cli = match parse(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version: what was asked for, on stdout.
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("tong: error: {}", usage_error(&e));
            eprintln!("Run 'tong --help' (or 'tong COMMAND --help') for usage.");
            // runc exits 3 for an unknown command, 1 for other usage errors.
            let code = match e.kind() {
                clap::error::ErrorKind::InvalidSubcommand => 3,
                _ => 1,
            };
            std::process::exit(code);
        }
    };
    // Before any fd is opened, so none lands among those passed on.
    tong::process::reserve_passed_fds(cli.passed_fd_count());
    let format = match cli.log_format.as_str() {
        "json" => logging::Format::Json,
        "text" => logging::Format::Text,
        other => {
            eprintln!("tong: error: invalid log format {other:?}: use text or json");
            std::process::exit(1);
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("tong: error: open log file: {e}");
        std::process::exit(1);
    }
    if let Err(e) = reexec {
        logging::error(&e.to_string());
        std::process::exit(1);
    }
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logging::error(&e.to_string());
            std::process::exit(1);
        }
    }
}

/// clap's error in one line: what is wrong, without the usage block.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    // The message runs up to the first blank line ("…not provided:" is
    // followed by the missing arguments).
    let msg: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = msg.join(" ");
    msg.strip_prefix("error: ").unwrap_or(&msg).to_owned()
}
