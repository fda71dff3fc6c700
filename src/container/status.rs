//! A container's status: how it is read from the saved state and the
//! processes it names, and the one table of what each status allows.

use crate::error::{Error, Result};
use crate::linux::cgroups::Manager;
use crate::process;
use crate::state::{self, Saved};
use nix::unistd::Pid;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A `create` is still making it (the spec's "creating").
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The operations whose status rules differ: the rows of [`Status::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Exec,
    /// `exec --ignore-paused`.
    ExecPaused,
    Pause,
    Resume,
    Update,
    /// `ps`: a stopped container has no processes to list.
    Ps,
    /// `delete` without `--force`.
    Delete,
    Checkpoint,
}

impl Status {
    /// What each status allows: the one table every operation asks.
    pub fn allows(self, op: Op) -> bool {
        use Status::*;
        match op {
            Op::Start => self == Created,
            // A container still being made can already take an exec (runc).
            Op::Exec => matches!(self, Creating | Created | Running),
            Op::ExecPaused | Op::Update | Op::Ps => self != Stopped,
            // Pausing a paused container does nothing and is no error.
            Op::Pause => matches!(self, Created | Running | Paused),
            Op::Resume => self == Paused,
            Op::Delete => matches!(self, Created | Stopped),
            Op::Checkpoint => matches!(self, Running | Paused),
        }
    }

    /// Ok when this status allows `op` on container `id`; else the error,
    /// in the words engines match on ("container not running", ...).
    pub fn check(self, op: Op, id: &str) -> Result<()> {
        if self.allows(op) {
            return Ok(());
        }
        let st = self.as_str();
        Err(Error::new(match (op, self) {
            (Op::Start, Status::Stopped) => "cannot start a container that has stopped".into(),
            (Op::Start, _) => format!("cannot start an already {st} container"),
            (Op::Exec, Status::Paused) => {
                "cannot exec in a paused container (use --ignore-paused to override)".into()
            }
            (Op::Resume, s) if s != Status::Stopped => "container not paused".into(),
            (Op::Delete, _) => format!("cannot delete container {id} that is not stopped: {st}"),
            (Op::Checkpoint, _) => {
                format!("cannot checkpoint container {id}: it is {st}, not running")
            }
            _ => "container not running".into(),
        }))
    }
}

/// Where the container's init is, if it is still the process we started.
/// A zombie counts as stopped: it will never run again.
pub(super) fn live_pid(s: &Saved) -> Option<Pid> {
    let pid = Pid::from_raw(s.pid);
    if s.pid <= 0 {
        return None;
    }
    is_alive(s.pid, s.start_time).then_some(pid)
}

/// Whether the process is still the one recorded (same pid, same start).
pub(super) fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && process::stat(Pid::from_raw(pid))
            .is_some_and(|(st, t)| t == start_time && !matches!(st, 'Z' | 'X' | 'x'))
}

pub fn status_of(dir: &Path, s: &Saved) -> (Status, Option<Pid>) {
    if let Some(c) = s.creator {
        // Half-made: creating while its `create` lives; once that died, the
        // container is stopped for good and only `delete` is left to do.
        return if is_alive(c.pid, c.start_time) {
            (Status::Creating, live_pid(s))
        } else {
            (Status::Stopped, None)
        };
    }
    match live_pid(s) {
        None => (Status::Stopped, None),
        // A created container can be paused too (runc): frozen wins.
        // (The bus, the one thing rootless changes, is not asked here.)
        Some(p) if Manager::load(&s.cgroup, false).is_frozen() => (Status::Paused, Some(p)),
        Some(p) if dir.join(state::FIFO).exists() => (Status::Created, Some(p)),
        Some(p) => (Status::Running, Some(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Status; 5] = [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Stopped,
    ];

    /// The table as runc has it, and the messages engines match on.
    #[test]
    fn table_and_messages() {
        let refused = |op: Op| -> Vec<(Status, String)> {
            ALL.iter()
                .filter_map(|s| s.check(op, "c1").err().map(|e| (*s, e.msg)))
                .collect()
        };
        use Status::*;
        let nr = || "container not running".to_string();
        assert_eq!(
            refused(Op::Start),
            vec![
                (
                    Creating,
                    "cannot start an already creating container".into()
                ),
                (Running, "cannot start an already running container".into()),
                (Paused, "cannot start an already paused container".into()),
                (Stopped, "cannot start a container that has stopped".into()),
            ]
        );
        assert_eq!(
            refused(Op::Exec),
            vec![
                (
                    Paused,
                    "cannot exec in a paused container (use --ignore-paused to override)".into()
                ),
                (Stopped, nr()),
            ]
        );
        for op in [Op::ExecPaused, Op::Update, Op::Ps] {
            assert_eq!(refused(op), vec![(Stopped, nr())], "{op:?}");
        }
        assert_eq!(refused(Op::Pause), vec![(Creating, nr()), (Stopped, nr())]);
        assert_eq!(
            refused(Op::Resume),
            vec![
                (Creating, "container not paused".into()),
                (Created, "container not paused".into()),
                (Running, "container not paused".into()),
                (Stopped, nr()),
            ]
        );
        assert_eq!(
            refused(Op::Delete),
            vec![
                (
                    Creating,
                    "cannot delete container c1 that is not stopped: creating".into()
                ),
                (
                    Running,
                    "cannot delete container c1 that is not stopped: running".into()
                ),
                (
                    Paused,
                    "cannot delete container c1 that is not stopped: paused".into()
                ),
            ]
        );
        assert_eq!(
            refused(Op::Checkpoint),
            vec![
                (
                    Creating,
                    "cannot checkpoint container c1: it is creating, not running".into()
                ),
                (
                    Created,
                    "cannot checkpoint container c1: it is created, not running".into()
                ),
                (
                    Stopped,
                    "cannot checkpoint container c1: it is stopped, not running".into()
                ),
            ]
        );
    }
}
