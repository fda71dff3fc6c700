//! `check`: what this host gives tong (linux::host probes it); this module
//! only prints the report, as lines for people or as JSON for tools.

use crate::error::{Context, Error, Result};
use crate::linux::host::{self, Report, Status};
use std::io::Write;

/// Runs the probes, prints the report and returns the exit status: 0 when
/// tong can run containers here, 1 when it cannot (the first line says why).
pub fn check(
    format: &str,
    probe: bool,
    ctx: &crate::container::Ctx,
    root_given: bool,
    criu: &str,
) -> Result<i32> {
    let (rootless, systemd) = (ctx.rootless, ctx.systemd);
    if format != "text" && format != "json" {
        return Err(Error::new(format!(
            "invalid format option {format:?}: use text or json"
        )));
    }
    let mut r = host::report(&host::Options {
        rootless,
        criu: criu.to_owned(),
        criu_check: probe,
        root_given,
    });
    if probe {
        let tong = std::env::current_exe().ctx("find tong's own binary for --probe")?;
        r = host::with_round_trip(r, host::round_trip(&tong, rootless, systemd));
    }
    let mut out = std::io::stdout().lock();
    if format == "json" {
        let s = serde_json::to_string_pretty(&r).map_err(|e| Error::new(e.to_string()))?;
        writeln!(out, "{s}").ctx("write to stdout")?;
    } else {
        write!(out, "{}", text(&r)).ctx("write to stdout")?;
    }
    Ok(if r.ok { 0 } else { 1 })
}

/// The verdict, then one line per capability; a short one is followed by
/// what breaks and what to do, indented under it.
pub fn text(r: &Report) -> String {
    let w = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0) + 2;
    let mut s = format!("{}\n", r.summary);
    for c in &r.checks {
        s.push_str(&format!("{:<w$}{:<9}{}\n", c.id, c.status.word(), c.found));
        if c.status != Status::Present {
            let pad = " ".repeat(w + 9);
            if let Some(b) = &c.breaks {
                s.push_str(&format!("{pad}breaks: {b}\n"));
            }
            if let Some(f) = &c.fix {
                s.push_str(&format!("{pad}do: {f}\n"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::host::{Caller, Check};

    #[test]
    fn a_short_capability_is_followed_by_what_breaks_and_what_to_do() {
        let check =
            |id: &str, status, found: &str, breaks: Option<&str>, fix: Option<&str>| Check {
                id: id.into(),
                status,
                found: found.into(),
                breaks: breaks.map(String::from),
                fix: fix.map(String::from),
                required: false,
                facts: Default::default(),
                sentence: String::new(),
            };
        let r = Report {
            ok: true,
            summary: "tong can run containers here (as root); 1 capabilities missing or limited"
                .into(),
            kernel: "6.1.0 x86_64".into(),
            caller: Caller {
                euid: 0,
                user: "root".into(),
                rootless: false,
                in_user_namespace: false,
            },
            checks: vec![
                check("kernel", Status::Present, "Linux 6.1.0", None, None),
                check(
                    "apparmor",
                    Status::Missing,
                    "off",
                    Some("profiles fail"),
                    Some("boot with apparmor=1"),
                ),
            ],
        };
        assert_eq!(
            text(&r),
            "tong can run containers here (as root); 1 capabilities missing or limited\n\
             kernel    present  Linux 6.1.0\n\
             apparmor  missing  off\n\
             \x20                  breaks: profiles fail\n\
             \x20                  do: boot with apparmor=1\n"
        );
    }
}
