//! Crash safety (issue 13): a runtime killed at any point leaves a container
//! that `state` and `list` report and `delete --force` removes completely;
//! no later command hangs; frozen processes are thawed when they must die.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::AsFd;
use std::process::Command;

/// `tong` bounded by timeout(1): a hang fails the test (exit 124) instead
/// of stalling the suite.
fn bounded(b: &Bundle, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("timeout");
    c.args(["-k", "10", "60"])
        .arg(TONG)
        .arg("--root")
        .arg(&b.root)
        .args(args);
    c.current_dir(&b.dir);
    c.output().unwrap()
}

/// Waits (bounded) until `pid` has exited; false if it is still there.
fn exits(pid: i32) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let Ok(fd) = pidfd(pid) else { return true };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(60_000u16)), Ok(n) if n > 0)
}

fn pidfd(pid: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes integers and returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd is new and ours.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as i32) })
}

/// A runtime-side hook that SIGKILLs the runtime while the init waits in
/// the middle of its set-up (mounts done, pivot not yet).
fn killer(kind: &str, b: &Bundle) {
    // The init's pid comes with the state on stdin; its parent is the
    // runtime. Never anything but a pid above 1.
    let script = "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); \
        rt=$(awk '/^PPid:/ {print $2}' /proc/$pid/status); \
        [ \"$rt\" -gt 1 ] && kill -9 $rt";
    b.edit(|c| {
        c["hooks"][kind] = json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
    });
}

/// A create killed half-way (after the clone, during set-up) is reported,
/// listed and removed by `delete --force`; its init exits by itself; the id
/// can be used again; nothing waits on a lock the dead runtime held.
#[test]
fn killed_create_leaves_nothing_delete_force_cannot_remove() {
    for kind in ["prestart", "createRuntime"] {
        let b = Bundle::new(&format!("crash{}", &kind[..7]), "true");
        killer(kind, &b);
        let out = bounded(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
        use std::os::unix::process::ExitStatusExt;
        let killed = out.status.signal() == Some(9) || out.status.code() == Some(137);
        assert!(killed, "{kind}: {:?} {}", out.status, stderr(&out));
        let out = bounded(&b, &["state", &b.id]);
        assert!(out.status.success(), "{kind}: state: {}", stderr(&out));
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(st["status"], "stopped", "{kind}: {st}");
        let out = bounded(&b, &["list", "-q"]);
        assert_eq!(stdout(&out).trim(), b.id, "{kind}");
        // The init was recorded the instant it existed, and it went away
        // once its runtime did.
        let recorded: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.root.join(&b.id).join("state.json")).unwrap())
                .unwrap();
        let pid = recorded["pid"].as_i64().unwrap() as i32;
        assert!(pid > 0, "{kind}: init not recorded: {recorded}");
        assert!(exits(pid), "{kind}: orphaned init {pid} still waits");
        let out = bounded(&b, &["delete", "--force", &b.id]);
        assert!(out.status.success(), "{kind}: delete: {}", stderr(&out));
        b.assert_nothing_left();
        // The id is free again.
        b.edit(|c| c["hooks"] = json!({}));
        assert_eq!(b.run_ok(), "");
    }
}

/// `kill KILL` of a paused container thaws it so that it dies (runc does);
/// it used to stay in the refrigerator with SIGKILL pending.
#[test]
fn kill_of_a_paused_container_thaws_it() {
    let b = Bundle::new("killpaused", "echo ready; sleep 1000");
    let (mut child, _lines) = run_until_ready(&b);
    assert!(b.tong(&["pause", &b.id]).status.success());
    assert_eq!(b.status(), "paused");
    let out = bounded(&b, &["kill", &b.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    b.assert_nothing_left();
}

/// `delete --force` of a created container whose cgroup was frozen (by
/// `pause` or by someone else's freezer): the status says created, but its
/// init dies only once thawed (it hung).
#[test]
fn delete_force_thaws_a_frozen_created_container() {
    let b = Bundle::new("delpaused", "true");
    assert!(b.create().status.success());
    let (dir, file, on) = if let Some(v1) = cgroup_v1_mount("freezer") {
        (
            v1.join(CGROUP_PARENT).join(&b.id),
            "freezer.state",
            "FROZEN",
        )
    } else {
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        (v2.join(CGROUP_PARENT).join(&b.id), "cgroup.freeze", "1")
    };
    std::fs::write(dir.join(file), on).unwrap();
    let out = bounded(&b, &["delete", "--force", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
}

/// A cgroup that is already frozen (by someone else's freezer above it) is
/// refused with a clear error instead of leaving the init in the
/// refrigerator and `create` blocked forever.
#[test]
fn create_into_a_frozen_cgroup_is_refused() {
    let b = Bundle::new("frozen", "true");
    let parent = format!("{}-parent", b.id);
    let (freezer, file, on, off) = if let Some(v1) = cgroup_v1_mount("freezer") {
        (
            v1.join(CGROUP_PARENT).join(&parent),
            "freezer.state",
            "FROZEN",
            "THAWED",
        )
    } else {
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        (
            v2.join(CGROUP_PARENT).join(&parent),
            "cgroup.freeze",
            "1",
            "0",
        )
    };
    std::fs::create_dir_all(&freezer).unwrap();
    std::fs::write(freezer.join(file), on).unwrap();
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{parent}/{}", b.id).into());
    let out = bounded(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    std::fs::write(freezer.join(file), off).unwrap();
    let msg = stderr(&out);
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(CGROUP_PARENT).join(&parent).join(&b.id));
        let _ = std::fs::remove_dir(m.join(CGROUP_PARENT).join(&parent));
    }
    assert_eq!(out.status.code(), Some(1), "{msg}");
    assert!(
        msg.contains("is frozen") && msg.contains("/linux/cgroupsPath"),
        "{msg}"
    );
    assert!(!b.root.join(&b.id).exists());
}

/// A cgroup that already holds processes is used, with runc's warning.
#[test]
fn create_into_a_cgroup_with_processes_warns() {
    let b = Bundle::new("notempty", "true");
    let mut other = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    // In the container's cgroup of every hierarchy, as a process of the
    // container would be.
    for m in cgroup_mounts() {
        let dir = m.join(CGROUP_PARENT).join(&b.id);
        std::fs::create_dir_all(&dir).unwrap();
        // (a v1 cpuset without cpus refuses it: ENOSPC)
        let _ = std::fs::write(dir.join("cgroup.procs"), other.id().to_string());
    }
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{}", b.id).into());
    let out = b.create();
    let msg = stderr(&out);
    let _ = b.tong(&["delete", "--force", &b.id]);
    let _ = other.kill();
    let _ = other.wait();
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(CGROUP_PARENT).join(&b.id));
    }
    assert!(out.status.success(), "{msg}");
    assert!(
        msg.contains("container's cgroup is not empty: 1 process(es) found"),
        "{msg}"
    );
}

/// Usage errors are one line naming what is wrong, then a hint; an unknown
/// command exits 3 as in runc.
#[test]
fn usage_errors_are_one_line() {
    let b = Bundle::new("usage", "true");
    let out = b.tong(&["create"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("tong: ") && lines[0].contains("<ID>"),
        "{lines:?}"
    );
    assert!(lines[1].contains("--help"), "{lines:?}");
    let out = b.tong(&["bogus"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("tong: error: unrecognized subcommand 'bogus'"));
}

/// A config that is not an object says so, instead of blaming its first element.
#[test]
fn top_level_non_object_config_is_named() {
    let b = Bundle::new("notobject", "true");
    std::fs::write(b.dir.join("config.json"), "[1, 2]").unwrap();
    let out = b.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected a JSON object at the top level"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}
