//! The systemd cgroup driver (`--systemd-cgroup`): systemd owns the cgroup
//! tree, so the container's cgroup is a transient unit systemd makes for us
//! (`StartTransientUnit` with the init's pid, `Delegate=yes`), with the
//! resources it has properties for; the cgroupfs driver then writes the
//! rest inside the delegated unit, as runc's systemd manager does after
//! `Set`.
//!
//! Unit naming (`unit`) and property translation (`props`) are pure; the
//! connection (`dbus`) sits behind the small [`Bus`] trait, so what the
//! driver asks of systemd and in which order is tested here against a fake.

mod dbus;
mod props;
mod unit;

pub use dbus::{bus_path, running, session_addr_path, DBus};
pub use props::{annotation_properties, cpuset_mask, properties, unit_properties, Value};
pub use unit::{cgroup_path, expand_slice, parse_path, UnitPath};

use crate::error::{Error, Result};

/// How a job ended, from systemd's `JobRemoved` signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    pub unit: String,
    /// `done`, `canceled`, `timeout`, `failed`, `dependency` or `skipped`.
    pub result: String,
}

/// What the driver asks of systemd's manager (`org.freedesktop.systemd1`).
/// Each call is one D-Bus method; waiting for a job is separate, so that a
/// bus can check whose signal it trusts (the name owning systemd1, the job
/// path it returned) and how many it keeps, and so that the driver sees
/// which unit a start really made before it ever stops one.
pub trait Bus {
    /// The manager's own cgroup (`ControlGroup`): `/` for the system
    /// instance, `/user.slice/user-UID.slice/user@UID.service` for a
    /// user's, under which that instance's slices and scopes live.
    fn manager_cgroup(&mut self) -> Result<String>;
    /// `StartTransientUnit(unit, "replace", props, [])`: the job's path.
    fn start_transient_unit(&mut self, unit: &str, props: &[(String, Value)]) -> Result<String>;
    /// `SetUnitProperties(unit, runtime=true, props)`.
    fn set_unit_properties(&mut self, unit: &str, props: &[(String, Value)]) -> Result<()>;
    /// `StopUnit(unit, "replace")`: the job's path, or None when systemd
    /// has no such unit loaded.
    fn stop_unit(&mut self, unit: &str) -> Result<Option<String>>;
    /// `ResetFailedUnit(unit)`.
    fn reset_failed_unit(&mut self, unit: &str) -> Result<()>;
    /// Waits until systemd removes the job; an error on timeout. `what`
    /// says what the job was for, in that error.
    fn wait_job(&mut self, job: &str, what: &str) -> Result<JobEnd>;
}

/// Starts a transient unit with these properties and waits until it runs:
/// its job must end `done`. `made` is called once systemd has made the
/// unit, which it does only for one that did not exist: from then on it is
/// ours to stop, whatever its job says; before, it is not (an existing unit
/// named by a cgroupsPath belongs to someone else).
pub fn start_unit(
    bus: &mut impl Bus,
    unit: &str,
    props: &[(String, Value)],
    made: impl FnOnce(),
) -> Result<()> {
    let job = bus.start_transient_unit(unit, props)?;
    made();
    let what = format!("start {unit}");
    let end = bus.wait_job(&job, &what)?;
    match end.result.as_str() {
        "done" => Ok(()),
        r => Err(Error::new(format!(
            "systemd: {what}: job for {} ended with result {r:?}",
            end.unit
        ))),
    }
}

/// Changes properties of a running unit (runtime only, not persisted);
/// nothing is sent when there are none.
pub fn set_properties(bus: &mut impl Bus, unit: &str, props: &[(String, Value)]) -> Result<()> {
    if props.is_empty() {
        return Ok(());
    }
    bus.set_unit_properties(unit, props)
}

/// Stops the unit and forgets a failed state, so nothing of it stays in
/// `systemctl list-units`. A unit that is already gone is fine, and so is
/// a stop job that ends other than `done` (`canceled` or `failed` for a
/// unit whose processes were already gone: stopped either way).
pub fn stop_unit(bus: &mut impl Bus, unit: &str) -> Result<()> {
    if let Some(job) = bus.stop_unit(unit)? {
        let _ = bus.wait_job(&job, &format!("stop {unit}"));
    }
    let _ = bus.reset_failed_unit(unit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A systemd that records what it is asked and answers from a script.
    #[derive(Default)]
    struct FakeBus {
        calls: Vec<String>,
        /// The result each job ends with; `done` when not set.
        job_result: Option<&'static str>,
        /// StopUnit answers "no such unit".
        no_unit: bool,
        /// The next call fails with this message.
        fail: Option<&'static str>,
    }

    impl FakeBus {
        fn fail_now(&mut self) -> Result<()> {
            match self.fail.take() {
                Some(m) => Err(Error::new(m)),
                None => Ok(()),
            }
        }
    }

    impl Bus for FakeBus {
        fn manager_cgroup(&mut self) -> Result<String> {
            self.calls.push("ControlGroup".into());
            Ok("/user.slice/user-1000.slice/user@1000.service".into())
        }
        fn start_transient_unit(
            &mut self,
            unit: &str,
            props: &[(String, Value)],
        ) -> Result<String> {
            self.calls
                .push(format!("StartTransientUnit {unit} {}", props.len()));
            self.fail_now()?;
            Ok("/org/freedesktop/systemd1/job/7".into())
        }
        fn set_unit_properties(&mut self, unit: &str, props: &[(String, Value)]) -> Result<()> {
            self.calls
                .push(format!("SetUnitProperties {unit} {}", props.len()));
            self.fail_now()
        }
        fn stop_unit(&mut self, unit: &str) -> Result<Option<String>> {
            self.calls.push(format!("StopUnit {unit}"));
            self.fail_now()?;
            Ok((!self.no_unit).then(|| "/org/freedesktop/systemd1/job/8".into()))
        }
        fn reset_failed_unit(&mut self, unit: &str) -> Result<()> {
            self.calls.push(format!("ResetFailedUnit {unit}"));
            Err(Error::new("not failed"))
        }
        fn wait_job(&mut self, job: &str, _what: &str) -> Result<JobEnd> {
            self.calls.push(format!("wait {job}"));
            Ok(JobEnd {
                unit: "u.scope".into(),
                result: self.job_result.unwrap_or("done").into(),
            })
        }
    }

    fn props() -> Vec<(String, Value)> {
        vec![("Delegate".into(), Value::Bool(true))]
    }

    #[test]
    fn start_waits_for_its_own_job() {
        let mut bus = FakeBus::default();
        let mut made = false;
        start_unit(&mut bus, "u.scope", &props(), || made = true).unwrap();
        assert!(made);
        assert_eq!(
            bus.calls,
            [
                "StartTransientUnit u.scope 1",
                "wait /org/freedesktop/systemd1/job/7"
            ]
        );
    }

    #[test]
    fn a_start_job_that_fails_is_an_error_naming_the_result() {
        let mut bus = FakeBus {
            job_result: Some("failed"),
            ..Default::default()
        };
        let mut made = false;
        let e = start_unit(&mut bus, "u.scope", &props(), || made = true).unwrap_err();
        assert!(
            e.msg.contains("start u.scope") && e.msg.contains("\"failed\""),
            "{e}"
        );
        // systemd made it, and its job failed: ours to stop.
        assert!(made);
        let mut bus = FakeBus {
            fail: Some("systemd: StartTransientUnit: Unit u.scope already exists"),
            ..Default::default()
        };
        let mut made = false;
        let e = start_unit(&mut bus, "u.scope", &props(), || made = true).unwrap_err();
        assert!(e.msg.contains("already exists"), "{e}");
        // Someone else's unit (S2/S3): never ours to stop.
        assert!(!made);
        // No job, nothing to wait for.
        assert_eq!(bus.calls, ["StartTransientUnit u.scope 1"]);
    }

    #[test]
    fn stop_waits_then_resets_whatever_the_job_says() {
        let mut bus = FakeBus {
            job_result: Some("canceled"),
            ..Default::default()
        };
        stop_unit(&mut bus, "u.scope").unwrap();
        assert_eq!(
            bus.calls,
            [
                "StopUnit u.scope",
                "wait /org/freedesktop/systemd1/job/8",
                "ResetFailedUnit u.scope"
            ]
        );
        // A unit systemd no longer has: nothing to wait for, still fine.
        let mut bus = FakeBus {
            no_unit: true,
            ..Default::default()
        };
        stop_unit(&mut bus, "u.scope").unwrap();
        assert_eq!(bus.calls, ["StopUnit u.scope", "ResetFailedUnit u.scope"]);
        // Any other refusal is the caller's error.
        let mut bus = FakeBus {
            fail: Some("systemd: StopUnit: Access denied"),
            ..Default::default()
        };
        assert!(stop_unit(&mut bus, "u.scope").is_err());
        assert_eq!(bus.calls, ["StopUnit u.scope"]);
    }

    #[test]
    fn set_properties_sends_only_something() {
        let mut bus = FakeBus::default();
        set_properties(&mut bus, "u.scope", &[]).unwrap();
        assert!(bus.calls.is_empty());
        set_properties(&mut bus, "u.scope", &props()).unwrap();
        assert_eq!(bus.calls, ["SetUnitProperties u.scope 1"]);
    }
}
