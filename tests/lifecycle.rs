//! The lifecycle operations on real containers: create → start → state → kill → delete.

mod common;
use common::*;

#[test]
fn states_created_running_stopped() {
    let b = Bundle::new("states", "read line; echo got $line");
    // A long-running process we control: it exits when we kill it.
    b.edit(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
    let pidfile = b.dir.join("pid");
    let out = b.tong(&[
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = b.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], b.id.as_str());
    assert_eq!(st["bundle"], b.dir.to_str().unwrap());
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    // Until start, init is tong waiting; the user's process has not been exec'd.
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!cmdline.starts_with("sleep"), "{cmdline}");
    // The init is in the cgroup that cgroupsPath names.
    let procs: Vec<String> = b
        .cgroup_dirs()
        .iter()
        .map(|d| std::fs::read_to_string(d.join("cgroup.procs")).unwrap())
        .collect();
    assert!(
        procs
            .iter()
            .all(|p| p.lines().any(|l| l == pid.to_string())),
        "{procs:?}"
    );

    let out = b.tong(&["start", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "running");
    // A second start is refused.
    let out = b.tong(&["start", &b.id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot start an already running container"),
        "{}",
        stderr(&out)
    );
    // delete without --force refuses a running container.
    let out = b.tong(&["delete", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not stopped: running"),
        "{}",
        stderr(&out)
    );

    let out = b.tong(&["kill", &b.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The init may linger as a zombie until reaped: it still counts as stopped.
    let pidfd = tong::linux::sys::pidfd_open(nix::unistd::Pid::from_raw(pid as i32));
    if let Ok(fd) = pidfd {
        tong::process::wait_exit(std::os::fd::AsFd::as_fd(&fd));
    }
    let st = b.state();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["pid"], 0);
    let out = b.tong(&["kill", &b.id, "KILL"]);
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["delete", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
    let out = b.tong(&["state", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("container \"{}\" does not exist", b.id)),
        "{}",
        stderr(&out)
    );
}

#[test]
fn created_container_can_be_deleted() {
    let b = Bundle::new("delcreated", "true");
    assert!(b.create().status.success());
    assert_eq!(b.status(), "created");
    let pid = b.state()["pid"].as_i64().unwrap();
    let out = b.tong(&["delete", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
    // The waiting init is gone too (or a zombie awaiting its reaper).
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(st.is_empty() || st.contains(") Z"), "{st}");
}

#[test]
fn run_exit_status_is_the_containers() {
    let b = Bundle::new("exit", "exit 3");
    let out = b.run();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    b.assert_nothing_left();
}

#[test]
fn run_reports_death_by_signal() {
    let b = Bundle::new("killed", "echo ready; sleep 1000");
    let (mut child, _lines) = run_until_ready(&b);
    let out = b.tong(&["kill", &b.id, "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(child.wait().unwrap().code(), Some(128 + 9));
    b.assert_nothing_left();
}

fn kill_running(sig: &str, trap: &str, expect: &str) {
    let b = Bundle::new(
        "kill",
        &format!("trap 'echo trapped; exit 0' {trap}; echo ready; while true; do sleep 1; done"),
    );
    let (mut child, mut lines) = run_until_ready(&b);
    let out = b.tong(&["kill", &b.id, sig]);
    assert!(out.status.success(), "kill {sig}: {}", stderr(&out));
    assert_eq!(lines.next().unwrap().unwrap(), expect);
    assert!(child.wait().unwrap().success());
}

#[test]
fn kill_by_name_and_number() {
    kill_running("USR1", "USR1", "trapped");
    kill_running("SIGUSR2", "USR2", "trapped");
    kill_running("15", "TERM", "trapped");
}

#[test]
fn run_forwards_signals() {
    let b = Bundle::new(
        "fwd",
        "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 1; done",
    );
    let (mut child, mut lines) = run_until_ready(&b);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(child.wait().unwrap().code(), Some(7));
    b.assert_nothing_left();
}

#[test]
fn run_detached_and_list() {
    let b = Bundle::new("detach", "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "running");
    let out = b.tong(&["list"]);
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{text}"
    );
    assert_eq!(rows[1][0], b.id, "{text}");
    assert_eq!(rows[1][2], "running", "{text}");
    // Columns line up: each starts where its header does.
    let header = text.lines().next().unwrap();
    let row = text.lines().nth(1).unwrap();
    assert_eq!(row.find("running"), header.find("STATUS"), "{text}");
    let out = b.tong(&["list", "-q"]);
    assert_eq!(stdout(&out).trim(), b.id);
    let out = b.tong(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "running");
    let out = b.tong(&["delete", "--force", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
    let out = b.tong(&["list", "-f", "json"]);
    assert_eq!(stdout(&out).trim(), "null");
}

#[test]
fn go_style_flags_and_version() {
    let b = Bundle::new("goflags", "echo ok");
    let out = std::process::Command::new(TONG)
        .arg(format!("-root={}", b.root.display()))
        .args([
            "run",
            "-no-subreaper",
            "-bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    let out = std::process::Command::new(TONG)
        .arg("--version")
        .output()
        .unwrap();
    let v = stdout(&out);
    assert!(v.starts_with("tong version "), "{v}");
    assert!(
        v.contains("\ncommit: ") && v.contains("\nspec: 1.3.0"),
        "{v}"
    );
    // runc's last line: the libseccomp linked in, as MAJOR.MINOR.MICRO.
    let seccomp = v
        .lines()
        .find_map(|l| l.strip_prefix("libseccomp: "))
        .unwrap_or_else(|| panic!("no libseccomp line: {v}"));
    assert_eq!(seccomp.split('.').count(), 3, "{v}");
    assert!(seccomp.split('.').all(|n| n.parse::<u32>().is_ok()), "{v}");
}

#[test]
fn json_log_carries_runc_words() {
    let b = Bundle::new("jsonlog", "true");
    let (out, log) = b.tong_logged("log.json", &["kill", "nonexistent-ctr", "KILL"]);
    assert_eq!(out.status.code(), Some(1));
    let last = log_entries(&log).pop().unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container \"nonexistent-ctr\" does not exist");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn nonexistent_executable_names_cause() {
    let b = Bundle::new("noexe", "true");
    b.edit(|c| c["process"]["args"] = serde_json::json!(["/bin/no-such-binary"]));
    let (out, log) = b.tong_logged(
        "log.json",
        &["create", "--bundle", b.dir.to_str().unwrap(), &b.id],
    );
    assert_eq!(out.status.code(), Some(1));
    let last = log_entries(&log).pop().unwrap();
    let msg = last["msg"].as_str().unwrap();
    // docker maps this wording to exit status 127.
    assert!(
        msg.contains(
            "exec: \"/bin/no-such-binary\": stat /bin/no-such-binary: no such file or directory"
        ),
        "{msg}"
    );
    assert!(msg.contains("/process/args/0"), "{msg}");
    b.assert_nothing_left();

    b.edit(|c| c["process"]["args"] = serde_json::json!(["no-such-cmd"]));
    let out = b.create();
    assert!(
        stderr(&out).contains("executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn delete_force_nonexistent_is_ok() {
    let b = Bundle::new("delforce", "true");
    assert!(b
        .tong(&["delete", "--force", "never-created"])
        .status
        .success());
    let out = b.tong(&["delete", "never-created"]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn preserve_fds_pass_into_container() {
    let b = Bundle::new("preserve", "cat <&3; ls /proc/self/fd | tr '\\n' ' '");
    std::fs::write(b.dir.join("payload"), "via fd 3\n").unwrap();
    let out = tong_with_fd3(
        &b,
        &b.dir.join("payload"),
        "",
        &format!("run --preserve-fds 1 --bundle {} {}", b.dir.display(), b.id),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // fds 0-3, plus ls's own directory fd.
    assert_eq!(stdout(&out), "via fd 3\n0 1 2 3 4 ", "{}", stderr(&out));
}

#[test]
fn kill_all_signals_every_process() {
    let b = Bundle::new("killall", "sleep 1000 & sleep 1000 & echo ready; wait");
    let (mut child, _lines) = run_until_ready(&b);
    let procs = std::fs::read_to_string(b.cgroup_dirs()[0].join("cgroup.procs")).unwrap();
    assert_eq!(procs.lines().count(), 3, "{procs}");
    let out = b.tong(&["kill", "--all", &b.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(child.wait().unwrap().code(), Some(137));
    b.assert_nothing_left();
}

/// Issue 29: containerd's shim runs `kill --all ID SIGKILL` each time the
/// init of a container that shares a PID namespace exits. runc exits 0:
/// nothing is left to signal. tong said "container not running", and
/// containerd logged an error for every such exit.
#[test]
fn kill_all_after_the_init_exited_succeeds() {
    let b = Bundle::new("killall-done", "true");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_init_exit(&b);
    let out = b.tong(&["kill", "--all", &b.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Without --all the init itself is asked for: that one is gone.
    let out = b.tong(&["kill", &b.id, "KILL"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(b.tong(&["delete", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn debug_logs_setup_stages() {
    let b = Bundle::new("debug", "true");
    let (out, log) = b.run_logged(&["--debug"], "debug.log");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    for stage in ["parse", "cgroup", "clone", "mounts", "pivot"] {
        assert!(
            text.contains(&format!("stage {stage}: ")),
            "stage {stage} missing:\n{text}"
        );
    }
}

#[test]
fn session_keyring_is_new_unless_asked() {
    let b = Bundle::new("keyring", "true");
    let script = format!("grep -c ' _ses.{}: ' /proc/keys || true", b.id);
    b.edit(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        // The default spec masks /proc/keys; this test needs to read it.
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p != "/proc/keys");
    });
    let out = b.run_ok();
    assert_eq!(out.trim(), "1", "{out}");
    // Keyrings outlive their last user for a while: look for a fresh name.
    let id2 = format!("{}-nk", b.id);
    let script = format!("grep -c ' _ses.{id2}: ' /proc/keys || true");
    b.edit(|c| c["process"]["args"] = serde_json::json!(["sh", "-c", script]));
    let out = b.tong(&[
        "run",
        "--no-new-keyring",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id2,
    ]);
    assert_eq!(stdout(&out).trim(), "0", "{}", stderr(&out));
}
