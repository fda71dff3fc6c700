//! OOM kill notifications of the container's memory cgroup, for `events`.

use super::apply::split;
use super::fs::check_dirs;
use super::hierarchies;
use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Notifies of OOM kills in the container's memory cgroup.
pub enum OomWatch {
    /// v1: an eventfd registered through cgroup.event_control.
    V1(nix::sys::eventfd::EventFd, std::fs::File),
    /// v2: inotify on memory.events, with the last oom_kill count seen.
    V2(nix::sys::inotify::Inotify, PathBuf, u64),
}

fn oom_kills(events: &Path) -> u64 {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

impl OomWatch {
    pub fn new(dirs: &[PathBuf]) -> Result<OomWatch> {
        use std::os::fd::AsRawFd;
        check_dirs(dirs)?;
        let hier = hierarchies()?;
        let s = split(dirs, &hier);
        if let Some((_, d)) = s.v1.iter().find(|(cs, _)| cs.iter().any(|c| c == "memory")) {
            let efd = nix::sys::eventfd::EventFd::from_value_and_flags(
                0,
                nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
            )
            .ctx("eventfd")?;
            let ctl =
                std::fs::File::open(d.join("memory.oom_control")).ctx("open memory.oom_control")?;
            let line = format!("{} {}", efd.as_fd().as_raw_fd(), ctl.as_raw_fd());
            std::fs::write(d.join("cgroup.event_control"), line).ctx("register for OOM events")?;
            return Ok(OomWatch::V1(efd, ctl));
        }
        if let Some((d, _)) = s.v2 {
            let events = d.join("memory.events");
            if events.exists() {
                let ino = nix::sys::inotify::Inotify::init(
                    nix::sys::inotify::InitFlags::IN_CLOEXEC
                        | nix::sys::inotify::InitFlags::IN_NONBLOCK,
                )
                .ctx("inotify_init")?;
                ino.add_watch(&events, nix::sys::inotify::AddWatchFlags::IN_MODIFY)
                    .ctx("watch memory.events")?;
                let seen = oom_kills(&events);
                return Ok(OomWatch::V2(ino, events, seen));
            }
        }
        Err(Error::new("no memory cgroup to watch for OOM events"))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            OomWatch::V1(e, _) => e.as_fd(),
            OomWatch::V2(i, _, _) => i.as_fd(),
        }
    }

    /// Consumes a wake-up; true if it was an OOM kill.
    pub fn check(&mut self) -> bool {
        match self {
            OomWatch::V1(e, _) => e.read().is_ok(),
            OomWatch::V2(i, events, seen) => {
                let _ = i.read_events();
                let now = oom_kills(events);
                let fired = now > *seen;
                *seen = now;
                fired
            }
        }
    }
}
