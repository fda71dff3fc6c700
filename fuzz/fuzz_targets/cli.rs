//! The command line: NUL-separated arguments after `tong`, through the
//! Go-style flag rewriting and clap (parsing only, nothing is run), and
//! each argument as `kill`'s signal.
#![no_main]
use clap::Parser;
use libfuzzer_sys::fuzz_target;
use tong::cli::{normalize_args, Cli};

fuzz_target!(|data: &[u8]| {
    let mut args = vec!["tong".to_string()];
    args.extend(
        data.split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned()),
    );
    for a in &args[1..] {
        let _ = tong::container::parse_signal(a);
    }
    let _ = Cli::try_parse_from(normalize_args(args));
});
