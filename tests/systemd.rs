//! The systemd cgroup driver (issue 15): with `--systemd-cgroup` the
//! container lives in a transient scope that systemd made, with the config's
//! resources as unit properties, and nothing of it stays after `delete`.
//! These need systemd as PID 1 with cgroup v2: they run in the VM test bed
//! (`hack/vm/test.sh`), whose list of tests that may not skip there holds
//! this file, and skip elsewhere.

mod common;
use common::*;
use serde_json::json;
use std::process::Command;

macro_rules! require_systemd {
    () => {
        if let Some(why) = host_lacks_systemd_v2() {
            return skip(why);
        }
    };
}

/// `systemctl show UNIT -p NAME` values, by name.
fn show(unit: &str, props: &[&str]) -> std::collections::HashMap<String, String> {
    let mut c = Command::new("systemctl");
    c.args(["show", unit]);
    for p in props {
        c.args(["-p", p]);
    }
    let out = c.output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Whether systemd still knows the unit at all (loaded, active or failed).
fn unit_known(unit: &str) -> bool {
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain", unit])
        .output()
        .unwrap();
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

fn sd(b: &Bundle, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--systemd-cgroup"];
    all.extend_from_slice(args);
    b.tong(&all)
}

/// A bundle whose container is `tongtest-<id>.scope` in `slice`.
fn scoped(name: &str, script: &str, slice: &str) -> (Bundle, String) {
    let b = Bundle::new(name, script);
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("{slice}:tongtest:{}", b.id).into());
    let unit = format!("tongtest-{}.scope", b.id);
    (b, unit)
}

#[test]
fn scope_holds_the_container_with_the_configs_properties() {
    require_systemd!();
    let (b, unit) = scoped("sdscope", "sleep 1000", "system.slice");
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 50}
        });
    });
    let out = sd(
        &b,
        &["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let p = show(
        &unit,
        &[
            "ActiveState",
            "Delegate",
            "Slice",
            "ControlGroup",
            "MemoryMax",
            "CPUWeight",
            "CPUQuotaPerSecUSec",
            "TasksMax",
        ],
    );
    let pid = b.state()["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    // update goes through SetUnitProperties too.
    let upd = sd(&b, &["update", "--memory", "134217728", &b.id]);
    let after = show(&unit, &["MemoryMax"]);
    let del = sd(&b, &["delete", "--force", &b.id]);
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Delegate"], "yes");
    assert_eq!(p["Slice"], "system.slice");
    assert_eq!(p["ControlGroup"], format!("/system.slice/{unit}"));
    assert_eq!(p["MemoryMax"], "67108864");
    assert_eq!(p["CPUWeight"], "20");
    assert_eq!(p["CPUQuotaPerSecUSec"], "500ms");
    assert_eq!(p["TasksMax"], "50");
    assert_eq!(cgroup.trim(), format!("0::/system.slice/{unit}"));
    assert!(upd.status.success(), "{}", stderr(&upd));
    assert_eq!(after["MemoryMax"], "134217728");
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(!unit_known(&unit), "{unit} still listed after delete");
    assert!(!std::path::Path::new("/sys/fs/cgroup/system.slice")
        .join(&unit)
        .exists());
    assert!(!b.root.join(&b.id).exists());
}

#[test]
fn nested_slice_and_annotated_properties() {
    require_systemd!();
    let (b, unit) = scoped("sdslice", "true", "tongtest-a-b.slice");
    b.edit(|c| {
        // Typed as podman 5 sends it.
        c["annotations"] = json!({
            "org.systemd.property.TimeoutStopUSec": "uint64 12000000",
            "org.systemd.property.KillSignal": "15",
            "org.systemd.property.RuntimeMaxSec": "3600"
        });
    });
    let out = sd(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = show(
        &unit,
        &[
            "ControlGroup",
            "TimeoutStopUSec",
            "KillSignal",
            "RuntimeMaxUSec",
        ],
    );
    let del = sd(&b, &["delete", "--force", &b.id]);
    assert_eq!(
        p["ControlGroup"],
        format!("/tongtest.slice/tongtest-a.slice/tongtest-a-b.slice/{unit}")
    );
    assert_eq!(p["TimeoutStopUSec"], "12s");
    assert_eq!(p["KillSignal"], "15");
    assert_eq!(p["RuntimeMaxUSec"], "1h");
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(!unit_known(&unit));
}

/// `run -d` under the systemd driver, then SIGKILL of the container's init
/// and a wait until it is gone.
fn run_detached_then_kill_init(b: &Bundle) {
    let out = sd(
        b,
        &["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state()["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_init_exit(b);
}

#[test]
fn killed_container_and_forced_delete_leave_no_unit() {
    require_systemd!();
    let (b, unit) = scoped("sdkill", "sleep 1000", "system.slice");
    run_detached_then_kill_init(&b);
    let del = sd(&b, &["delete", "--force", &b.id]);
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(!unit_known(&unit), "{unit} left after a kill -9 and delete");
}

#[test]
fn failed_create_leaves_no_unit() {
    require_systemd!();
    let (b, unit) = scoped("sdfail", "true", "system.slice");
    b.edit(|c| c["process"]["args"] = json!(["/no/such/program"]));
    let out = sd(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!unit_known(&unit), "{unit} left by a failed create");
    assert!(!b.root.join(&b.id).exists());
}

#[test]
fn kill_all_after_the_scope_emptied_succeeds() {
    require_systemd!();
    // containerd's shim sends `kill --all` once a pod container's init has
    // exited; by then systemd has removed the emptied scope's cgroup. With
    // nothing left to signal it succeeds, as runc's does (issue 29), never
    // an error about the cgroup: the CRI's StopContainer retried that until
    // it timed out.
    let (b, unit) = scoped("sdkillall", "sleep 1000", "system.slice");
    run_detached_then_kill_init(&b);
    let cg = std::path::Path::new("/sys/fs/cgroup/system.slice").join(&unit);
    for _ in 0..200 {
        if !cg.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let gone = !cg.exists();
    let kill = sd(&b, &["kill", "--all", &b.id, "KILL"]);
    let del = sd(&b, &["delete", &b.id]);
    assert!(gone, "systemd did not remove the emptied scope's cgroup");
    assert!(kill.status.success(), "{}", stderr(&kill));
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(!unit_known(&unit));
}

/// Issue 27 S2/S3: a cgroupsPath that names a unit someone else runs
/// makes systemd refuse the start; the failed create must neither stop that
/// unit nor touch its processes (runc stops it).
#[test]
fn create_naming_a_running_unit_leaves_it_running() {
    require_systemd!();
    let (b, unit) = scoped("sdtaken", "true", "system.slice");
    let mut victim = Command::new("systemd-run")
        .args([
            "--quiet",
            "--scope",
            "--slice=system.slice",
            "--unit",
            &unit,
        ])
        .args(["sleep", "1000"])
        .spawn()
        .unwrap();
    // The scope is made before sleep runs; wait until systemd reports it.
    let mut active = false;
    for _ in 0..200 {
        if show(&unit, &["ActiveState"])
            .get("ActiveState")
            .map(String::as_str)
            == Some("active")
        {
            active = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = sd(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    let after = show(&unit, &["ActiveState"]);
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(active, "{unit} never became active");
    assert_eq!(out.status.code(), Some(1), "created in {unit}");
    assert!(
        stderr(&out).contains("/linux/cgroupsPath"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        after.get("ActiveState").map(String::as_str),
        Some("active"),
        "{unit} was stopped"
    );
    assert!(alive, "the process of {unit} was killed");
    assert!(!b.root.join(&b.id).exists());
}
