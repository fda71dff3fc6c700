//! `checkpoint` and `restore` with CRIU (issue 17). Debian's criu 3.17 runs
//! only where `criu check` passes (the VM test bed's 6.1 kernel, not a 6.18
//! host): there these run and may not skip (`TONG_VM=1`); elsewhere they
//! report `SKIP`, except the plain-error tests, which run everywhere.

mod common;
use common::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reports a skip past libtest's capture; in the VM a skip is a failure.
fn skip(test: &str, reason: &str) {
    assert!(
        std::env::var_os("TONG_VM").is_none(),
        "{test}: the VM must not skip: {reason}"
    );
    let _ = std::io::stderr().write_all(format!("SKIP {test}: {reason}\n").as_bytes());
}

/// Whether `criu check` passes here, and if not, criu's reason.
fn criu_check() -> &'static Result<(), String> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    CHECK.get_or_init(|| match Command::new("criu").arg("check").output() {
        Err(e) => Err(format!("no criu: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let text = format!("{}{}", stdout(&o), stderr(&o));
            Err(text
                .lines()
                .find(|l| l.contains("Error"))
                .unwrap_or(text.trim())
                .to_owned())
        }
    })
}

macro_rules! require_criu {
    ($test:literal) => {
        if let Err(why) = criu_check() {
            skip($test, &format!("`criu check` fails here: {why}"));
            return;
        }
    };
}

/// A container counting on a tmpfs: `/data/log` gets 1, 2, 3, … one line
/// every 0.1 s. Its stdio is the container's own /dev/null (criu cannot
/// dump a descriptor of a host file it does not see).
fn counter(name: &str) -> Bundle {
    let b = Bundle::new(
        name,
        "exec >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >> /data/log; sleep 0.1; done",
    );
    std::fs::create_dir_all(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
    });
    b
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn start(b: &Bundle) {
    ok(
        &b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]),
        "run -d",
    );
}

/// The counter's lines, read through `exec` in container `id`.
fn count_log(b: &Bundle, id: &str) -> Vec<u64> {
    let o = b.tong(&["exec", id, "cat", "/data/log"]);
    ok(&o, "exec cat /data/log");
    stdout(&o)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until the counter in `id` reached at least `n`; returns its log.
fn wait_count(b: &Bundle, id: &str, n: u64) -> Vec<u64> {
    let t = Instant::now();
    loop {
        let log = count_log(b, id);
        if log.last().is_some_and(|l| *l >= n) {
            return log;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "counter stuck at {log:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The log counted without a restart: 1, 2, 3, … with no gap or repeat.
fn assert_one_run(log: &[u64]) {
    for (i, v) in log.iter().enumerate() {
        assert_eq!(
            *v,
            i as u64 + 1,
            "the counter restarted or skipped: {log:?}"
        );
    }
}

fn timed(b: &Bundle, args: &[&str], what: &str) -> Duration {
    let t = Instant::now();
    ok(&b.tong(args), what);
    let d = t.elapsed();
    let _ = std::io::stderr().write_all(format!("{what}: {d:?}\n").as_bytes());
    d
}

fn checkpoint(b: &Bundle, id: &str, images: &Path, extra: &[&str]) {
    let mut args = vec!["checkpoint", "--image-path", images.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    timed(b, &args, &format!("checkpoint {id} {extra:?}"));
}

fn restore(b: &Bundle, id: &str, images: &Path) -> i32 {
    let pid_file = b.dir.join(format!("{id}.pid"));
    let args = [
        "restore",
        "-d",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ];
    timed(b, &args, &format!("restore {id}"));
    let st = state_of(b, id);
    assert_eq!(st["status"], "running", "{st}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"], pid, "pid file and state disagree");
    // The state names the restored init, start time and all.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.root.join(id).join("state.json")).unwrap())
            .unwrap();
    assert!(
        saved.get("creator").is_none(),
        "restore left its creator marker: {saved}"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved["start_time"], start);
    pid
}

fn state_of(b: &Bundle, id: &str) -> serde_json::Value {
    let o = b.tong(&["state", id]);
    ok(&o, "state");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The container is gone: no state, no cgroup.
fn assert_gone(b: &Bundle, id: &str, cgroup: &str) {
    assert!(!b.root.join(id).exists(), "state of {id} left behind");
    for m in cgroup_mounts() {
        let d = m.join(CGROUP_PARENT).join(cgroup);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
}

fn images(b: &Bundle, name: &str) -> PathBuf {
    b.dir.join(name)
}

#[test]
fn checkpoint_and_restore_continue_the_counter() {
    require_criu!("checkpoint_and_restore_continue_the_counter");
    let b = counter("ckcount");
    start(&b);
    let before = wait_count(&b, &b.id, 5);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    // criu killed it; like runc, tong deleted the container.
    assert_gone(&b, &b.id, &b.id);
    assert!(img.join("inventory.img").exists());
    restore(&b, &b.id, &img);
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "lost the counter's state"
    );
    assert_one_run(&after);
    // exec, kill and delete treat it like any running container.
    ok(&b.tong(&["exec", &b.id, "true"]), "exec");
    ok(&b.tong(&["kill", &b.id, "KILL"]), "kill");
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

#[test]
fn restore_under_a_new_id() {
    require_criu!("restore_under_a_new_id");
    let b = counter("cknewid");
    start(&b);
    let before = wait_count(&b, &b.id, 5);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    let new = format!("{}-moved", b.id);
    // Its own cgroup too: criu restores into it (cgroup root).
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{new}").into());
    restore(&b, &new, &img);
    assert!(!b.root.join(&b.id).exists());
    let pid = state_of(&b, &new)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(&new),
        "restored init is not in its new cgroup: {cg}"
    );
    let after = wait_count(&b, &new, before.len() as u64 + 3);
    assert_one_run(&after);
    ok(&b.tong(&["delete", "--force", &new]), "delete");
    assert_gone(&b, &new, &new);
    b.assert_nothing_left();
}

#[test]
fn leave_running_keeps_the_container() {
    require_criu!("leave_running_keeps_the_container");
    let b = counter("ckleave");
    start(&b);
    wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &["--leave-running"]);
    assert_eq!(b.status(), "running");
    let n = count_log(&b, &b.id).len() as u64;
    let later = wait_count(&b, &b.id, n + 3);
    assert_one_run(&later);
    // The images restore the state of that moment, under a new id.
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    let new = format!("{}-copy", b.id);
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{new}").into());
    restore(&b, &new, &img);
    let log = wait_count(&b, &new, 3);
    assert_one_run(&log);
    ok(&b.tong(&["delete", "--force", &new]), "delete");
    assert_gone(&b, &new, &new);
}

#[test]
fn pre_dump_then_dump_with_parent_path() {
    require_criu!("pre_dump_then_dump_with_parent_path");
    let b = counter("ckpredump");
    start(&b);
    wait_count(&b, &b.id, 3);
    let pre = images(&b, "pre");
    checkpoint(&b, &b.id, &pre, &["--pre-dump"]);
    assert_eq!(b.status(), "running", "a pre-dump leaves it running");
    let before = wait_count(&b, &b.id, 6);
    let full = images(&b, "full");
    checkpoint(&b, &b.id, &full, &["--parent-path", "../pre"]);
    assert_gone(&b, &b.id, &b.id);
    restore(&b, &b.id, &full);
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

#[test]
fn bind_mount_is_restored_as_external() {
    require_criu!("bind_mount_is_restored_as_external");
    let b = Bundle::new(
        "ckbind",
        "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i > /host/count; sleep 0.1; done",
    );
    let host = b.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(b.rootfs().join("host")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/host", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
    });
    let read = || -> u64 {
        std::fs::read_to_string(host.join("count"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    };
    start(&b);
    let t = Instant::now();
    while read() < 3 {
        assert!(t.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(100));
    }
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    let at = read();
    restore(&b, &b.id, &img);
    // It goes on writing to the host's directory, from where it stopped.
    let t = Instant::now();
    while read() < at + 3 {
        assert!(t.elapsed() < Duration::from_secs(60), "stuck at {}", read());
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Where `criu check` fails, a checkpoint fails with criu's own reason and
/// changes nothing; everywhere, a criu that is missing is named plainly.
#[test]
fn checkpoint_fails_plainly_and_leaves_nothing() {
    let b = counter("ckplain");
    start(&b);
    let img = images(&b, "img");
    let check = |o: &std::process::Output, want: &str| {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
        assert!(stderr(o).contains(want), "want {want:?} in: {}", stderr(o));
        assert!(!img.exists(), "image directory left behind");
        assert_eq!(b.status(), "running");
    };
    let o = b.tong(&[
        "--criu",
        "/no/such/criu",
        "checkpoint",
        "--image-path",
        img.to_str().unwrap(),
        &b.id,
    ]);
    check(&o, "criu binary \"/no/such/criu\" not found");
    match criu_check() {
        Err(why) => {
            let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
            // criu's words, as `criu check` says them.
            let reason = why.split_once("): ").map(|(_, r)| r).unwrap_or(why);
            check(&o, reason);
            assert!(
                stderr(&o).starts_with("tong: checkpoint failed: criu: "),
                "{}",
                stderr(&o)
            );
        }
        Ok(()) => {
            let _ = std::io::stderr().write_all(
                b"checkpoint_fails_plainly_and_leaves_nothing: criu works here; checked the missing-binary error\n",
            );
        }
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Errors that need no working criu: each names its cause, exits 1 and
/// leaves nothing behind.
#[test]
fn checkpoint_and_restore_refuse_plainly() {
    let b = counter("ckrefuse");
    ok(&b.create(), "create");
    let img = images(&b, "img");
    let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it is created, not running"),
        "{}",
        stderr(&o)
    );
    assert!(!img.exists());
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    // No image directory, then one that is no checkpoint.
    let new = format!("{}-r", b.id);
    for dir in [img.clone(), b.dir.clone()] {
        let o = b.tong(&[
            "restore",
            "-d",
            "--image-path",
            dir.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &new,
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is not a checkpoint image directory: it has no inventory.img"),
            "{}",
            stderr(&o)
        );
        assert!(!b.root.join(&new).exists());
    }
    let o = b.tong(&["checkpoint", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    b.assert_nothing_left();
    start(&b);
    for (flag, value, want) in [
        (
            "--manage-cgroups-mode",
            "bogus",
            "invalid --manage-cgroups-mode \"bogus\"",
        ),
        (
            "--empty-ns",
            "ipc",
            "invalid --empty-ns \"ipc\": only network is supported",
        ),
        (
            "--page-server",
            "nowhere",
            "invalid --page-server \"nowhere\": want ADDRESS:PORT",
        ),
    ] {
        let o = b.tong(&[
            "checkpoint",
            "--image-path",
            img.to_str().unwrap(),
            flag,
            value,
            &b.id,
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!img.exists());
        assert_eq!(b.status(), "running");
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}
