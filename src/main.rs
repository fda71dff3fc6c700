use clap::Parser;
use tong::cli::{dispatch, normalize_args, Cli};
use tong::logging;

fn main() {
    let args = normalize_args(std::env::args().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Before any fd is opened, so none lands among those passed on.
    tong::process::reserve_passed_fds(cli.passed_fd_count());
    let format = match cli.log_format.as_str() {
        "json" => logging::Format::Json,
        "text" => logging::Format::Text,
        other => {
            eprintln!("tong: invalid log format {other:?}: use text or json");
            std::process::exit(1);
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("tong: open log file: {e}");
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
