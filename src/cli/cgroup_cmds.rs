//! `update`, `pause`, `resume`, `ps`: the commands that act on a container's cgroup.

use crate::container::{self, Ctx};
use crate::error::{Context, Error, Result};
use clap::Args;
use std::io::{Read, Write};

#[derive(Args, Debug, Clone, Default)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in µs per period; -1 for unlimited.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g/t suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of processes; -1 (or 0) for unlimited.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container id.
    pub id: String,
}

/// Parses `512`, `10k`, `100M`, `1g`, `2TB`, `-1` into bytes.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| Error::new(format!("invalid size {s:?}")))?;
    if n < 0.0 {
        return Err(Error::new(format!("invalid size {s:?}")));
    }
    Ok((n * mult as f64) as i64)
}

/// The resources patch the flags describe (runc's `update` flags).
pub fn patch_from_flags(a: &UpdateArgs) -> Result<serde_json::Value> {
    let mut p = serde_json::json!({});
    let mut set = |path: &[&str], v: serde_json::Value| {
        let mut cur = &mut p;
        for k in &path[..path.len() - 1] {
            cur = &mut cur[*k];
        }
        cur[path[path.len() - 1]] = v;
    };
    if let Some(v) = a.blkio_weight {
        set(&["blockIO", "weight"], v.into());
    }
    for (v, k) in [
        (a.cpu_period, "period"),
        (a.cpu_burst, "burst"),
        (a.cpu_share, "shares"),
        (a.cpu_rt_period, "realtimePeriod"),
    ] {
        if let Some(v) = v {
            set(&["cpu", k], v.into());
        }
    }
    for (v, k) in [
        (a.cpu_quota, "quota"),
        (a.cpu_rt_runtime, "realtimeRuntime"),
    ] {
        if let Some(v) = v {
            set(&["cpu", k], v.into());
        }
    }
    if let Some(v) = &a.cpuset_cpus {
        set(&["cpu", "cpus"], v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set(&["cpu", "mems"], v.clone().into());
    }
    for (v, k) in [
        (&a.memory, "limit"),
        (&a.memory_reservation, "reservation"),
        (&a.memory_swap, "swap"),
        (&a.kernel_memory, "kernel"),
        (&a.kernel_memory_tcp, "kernelTCP"),
    ] {
        if let Some(v) = v {
            set(&["memory", k], parse_bytes(v)?.into());
        }
    }
    if let Some(v) = a.pids_limit {
        set(&["pids", "limit"], v.into());
    }
    Ok(p)
}

pub fn update(ctx: &Ctx, a: &UpdateArgs) -> Result<()> {
    let patch = match a.resources.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .ctx("read resources from stdin")?;
            serde_json::from_str(&s)
                .map_err(|e| Error::new(format!("invalid resources JSON: {e}")))?
        }
        Some(f) => {
            let s = std::fs::read(f).ctx(format!("open {f}"))?;
            serde_json::from_slice(&s)
                .map_err(|e| Error::new(format!("invalid resources JSON in {f}: {e}")))?
        }
        None => patch_from_flags(a)?,
    };
    container::update(ctx, &a.id, &patch)
}

/// `ps`: json is the list of host pids; table runs ps(1) and keeps the container's rows.
pub fn ps(ctx: &Ctx, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let pids = container::pids(ctx, id)?;
    let mut out = std::io::stdout().lock();
    if format == "json" && pids.is_empty() {
        // Go's encoding of runc's empty (nil) list.
        return writeln!(out, "null").ctx("write to stdout");
    }
    if format == "json" {
        let v: Vec<i32> = pids.iter().map(|p| p.as_raw()).collect();
        let s = serde_json::to_string(&v).map_err(|e| Error::new(e.to_string()))?;
        return writeln!(out, "{s}").ctx("write to stdout");
    }
    if format != "table" {
        return Err(Error::new(format!("invalid format option {format:?}")));
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let o = std::process::Command::new("ps")
        .args(&args)
        .output()
        .ctx("run ps")?;
    if !o.status.success() {
        return Err(Error::new(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::new("couldn't find PID field in ps output"))?;
    writeln!(out, "{header}").ctx("write to stdout")?;
    for l in lines {
        let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.iter().any(|x| x.as_raw() == p)) {
            writeln!(out, "{l}").ctx("write to stdout")?;
        }
    }
    Ok(())
}

fn print_event(kind: &str, id: &str, data: Option<serde_json::Value>) -> Result<()> {
    // runc's key order: type, id, data (omitted when empty).
    let s = |v: &str| serde_json::Value::from(v).to_string();
    let mut line = format!("{{\"type\":{},\"id\":{}", s(kind), s(id));
    if let Some(d) = data {
        line.push_str(&format!(",\"data\":{d}"));
    }
    line.push('}');
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").ctx("write to stdout")?;
    out.flush().ctx("write to stdout")
}

/// `events`: stats now and every interval, and OOM kills as they happen,
/// until the container's init exits. `--stats` prints one stats event.
pub fn events(ctx: &Ctx, id: &str, stats_only: bool, interval: &str) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let every = humantime::parse_duration(interval)
        .map_err(|e| Error::new(format!("invalid --interval {interval:?}: {e}")))?;
    if every.is_zero() {
        return Err(Error::new("duration interval must be greater than 0"));
    }
    let (cg, pidfd) = container::event_source(ctx, id)?;
    if stats_only {
        return print_event("stats", id, Some(cg.stats()?));
    }
    let mut oom = cg.oom_watch().ok();
    // The first stats event also tells a reader that OOM watching is armed.
    print_event("stats", id, Some(cg.stats()?))?;
    let timeout = PollTimeout::try_from(every.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(o) = &oom {
            fds.push(PollFd::new(o.fd(), PollFlags::POLLIN));
        }
        let n = match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.ctx("poll")?,
        };
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let oom_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        drop(fds);
        if oom_ready && oom.as_mut().is_some_and(|o| o.check()) {
            print_event("oom", id, None)?;
        }
        if exited {
            return Ok(());
        }
        if n == 0 {
            print_event("stats", id, Some(cg.stats()?))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("10k").unwrap(), 10240);
        assert_eq!(parse_bytes("100M").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn flags_to_patch() {
        let a = UpdateArgs {
            memory: Some("10m".into()),
            cpu_quota: Some(5000),
            pids_limit: Some(7),
            id: "x".into(),
            ..Default::default()
        };
        let p = patch_from_flags(&a).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"memory": {"limit": 10485760}, "cpu": {"quota": 5000}, "pids": {"limit": 7}})
        );
    }
}
