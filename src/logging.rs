//! runc-compatible logging: `--log FILE` and `--log-format text|json`.
//!
//! Engines read the last `"level":"error"` line of the log file for the cause,
//! so every message goes there as one line; errors also go to stderr.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
    start: Instant,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Opens the log destination. Without `--log`, messages go to stderr.
pub fn init(path: Option<&str>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) if !p.is_empty() => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_CLOEXEC)
                .mode(0o644)
                .open(p)?,
        ),
        _ => None,
    };
    if let Ok(mut l) = LOGGER.lock() {
        *l = Some(Logger {
            file,
            format,
            debug,
            start: Instant::now(),
        });
    }
    Ok(())
}

/// The log file's fd, which a container process keeps only while it sets up.
pub fn fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let guard = LOGGER.lock().ok()?;
    guard.as_ref()?.file.as_ref().map(|f| f.as_raw_fd())
}

/// Closes the log in a container process before it resolves anything the
/// container controls: the log is a host file. Later messages are dropped
/// (errors travel to the runtime over the sync socket).
pub fn close_in_child() {
    if let Ok(mut l) = LOGGER.lock() {
        *l = None;
    }
}

pub fn debug_enabled() -> bool {
    LOGGER
        .lock()
        .ok()
        .and_then(|l| l.as_ref().map(|l| l.debug))
        .unwrap_or(false)
}

/// Formats one log line in the chosen format.
pub fn line(format: Format, level: &str, msg: &str, time: SystemTime) -> String {
    let ts = humantime::format_rfc3339_nanos(time).to_string();
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": ts});
            format!("{v}\n")
        }
        Format::Text => format!("time=\"{ts}\" level={level} msg={msg:?}\n"),
    }
}

pub fn log(level: &str, msg: &str) {
    let Ok(mut guard) = LOGGER.lock() else { return };
    let Some(l) = guard.as_mut() else {
        if level == "error" {
            to_stderr(msg);
        }
        return;
    };
    if level == "debug" && !l.debug {
        return;
    }
    let text = line(l.format, level, msg, SystemTime::now());
    match l.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(text.as_bytes());
            if level == "error" {
                to_stderr(msg);
            }
        }
        // Without a log file, a person is reading: errors in plain words.
        None if level == "error" => to_stderr(msg),
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

/// `tong: error: MSG` on stderr in one write: `eprintln!` writes the
/// pieces one by one, and the lines of runtimes sharing a log file got
/// interleaved. Labelled, as its peers' are (runc's `level=error`, crun's
/// `error`, youki's `Error:`), for tools that look for the word.
fn to_stderr(msg: &str) {
    let _ = std::io::stderr().write_all(format!("tong: error: {msg}\n").as_bytes());
}

pub fn error(msg: &str) {
    log("error", msg)
}

pub fn warn(msg: &str) {
    log("warning", msg)
}

/// Logs a setup stage with its duration under `--debug`.
pub fn stage(name: &str, since: Instant) {
    if debug_enabled() {
        let total = LOGGER
            .lock()
            .ok()
            .and_then(|l| l.as_ref().map(|l| l.start.elapsed()))
            .unwrap_or_default();
        log(
            "debug",
            &format!("stage {name}: {:?} (at {:?})", since.elapsed(), total),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_keys() {
        let l = line(
            Format::Json,
            "error",
            "container not running",
            SystemTime::UNIX_EPOCH,
        );
        let v: serde_json::Value = serde_json::from_str(l.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container not running");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000000Z");
        assert!(l.ends_with('\n') && l.matches('\n').count() == 1);
    }

    #[test]
    fn text_line_quotes_msg() {
        let l = line(Format::Text, "warning", "a \"b\"", SystemTime::UNIX_EPOCH);
        assert!(l.contains("level=warning msg=\"a \\\"b\\\"\""), "{l}");
    }
}
