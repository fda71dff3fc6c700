//! Signal names and numbers as runc accepts them: `KILL`, `SIGKILL`, `9`.

use crate::error::{Error, Result};
use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // 0 sends nothing: `kill ID 0` checks that the init is alive (runc).
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::new(format!("invalid signal number {n}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let base = libc::SIGRTMIN();
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.trim_start_matches('+').parse().map_err(|_| bad(s))?
        };
        return Ok(base + off);
    }
    if let Some(rt) = name.strip_prefix("SIGRTMAX") {
        let base = libc::SIGRTMAX();
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.parse().map_err(|_| bad(s))?
        };
        return Ok(base + off);
    }
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| bad(s))
}

fn bad(s: &str) -> Error {
    Error::new(format!("unknown signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("NOPE").is_err());
        // 0: the liveness check of `kill ID 0` (runc).
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("65").is_err());
    }
}
