//! OCI hooks run once each, in order, with the state on stdin.

mod common;
use common::*;
use serde_json::json;

fn hook(kind: &str, log: &str) -> serde_json::Value {
    // Records the hook kind, the status it was told, and its mount namespace.
    let script = format!(
        "st=$(cat); s=$(echo \"$st\" | sed -n 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/p'); p=$(echo \"$st\" | sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); echo {kind} $s $(readlink /proc/self/ns/mnt) pid=$p >> {log}"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

#[test]
fn every_hook_kind_runs_once_in_order() {
    let b = Bundle::new("hooks", "echo process >> /hooklog/log");
    let logdir = b.dir.join("hooklog");
    std::fs::create_dir_all(&logdir).unwrap();
    let host_log = logdir.join("log");
    let h = host_log.to_str().unwrap().to_owned();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/hooklog", "type": "bind", "source": logdir, "options": ["rbind"]}));
        c["hooks"] = json!({
            "prestart": [hook("prestart", &h)],
            "createRuntime": [hook("createRuntime", &h)],
            "createContainer": [hook("createContainer", &h)],
            "startContainer": [hook("startContainer", "/hooklog/log")],
            "poststart": [hook("poststart", &h)],
            "poststop": [hook("poststop", &h)],
        });
    });
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(&host_log).unwrap();
    let lines: Vec<Vec<&str>> = log
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l[0]).collect();
    // poststart runs after start returns, so it may come before or after the process line.
    let mut sorted = kinds.clone();
    sorted.retain(|k| *k != "poststart");
    assert_eq!(
        sorted,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "process",
            "poststop"
        ],
        "{log}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "poststart").count(),
        1,
        "{log}"
    );
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .display()
        .to_string();
    for l in &lines {
        match l[0] {
            "prestart" | "createRuntime" => {
                assert_eq!(l[1], "creating", "{log}");
                assert_eq!(l[2], host_mnt, "{} runs in the runtime namespace", l[0]);
            }
            "createContainer" | "startContainer" => {
                assert_ne!(
                    l[2], host_mnt,
                    "{} runs in the container's mount namespace",
                    l[0]
                );
            }
            "poststart" => assert_eq!(l[1], "running", "{log}"),
            "poststop" => assert_eq!(l[1], "stopped", "{log}"),
            _ => {}
        }
    }
}

#[test]
fn hook_timeout_aborts_cleanly() {
    let b = Bundle::new("hooktimeout", "true");
    b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "1000"], "timeout": 1}]}));
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("timed out after 1s"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn failing_poststop_only_warns() {
    let b = Bundle::new("hookwarn", "true");
    let fail = json!({"path": "/bin/false", "args": ["false"]});
    b.edit(|c| c["hooks"] = json!({"poststop": [fail]}));
    let (out, log) = b.run_logged(&[], "log.json");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_entries(&log).iter().any(|w| w["level"] == "warning"
            && w["msg"]
                .as_str()
                .unwrap()
                .contains("error running poststop hook #0 (/bin/false): exit status 1")),
        "{text}"
    );
    b.assert_nothing_left();
}

#[test]
fn failing_poststart_fails_start_and_destroys_the_container() {
    // runtime.md lifecycle step 9: generate an error, stop the container,
    // and continue at step 12: destroy it (poststop hooks run).
    let b = Bundle::new("hookpoststart", "sleep 1000");
    let fail = json!({"path": "/bin/sh", "args": ["sh", "-c", "echo poststart-broke >&2; exit 4"]});
    let mark = b.dir.join("poststop-ran");
    let poststop =
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", mark.display())]});
    b.edit(|c| c["hooks"] = json!({"poststart": [fail], "poststop": [poststop]}));
    assert!(b.create().status.success());
    let out = b.tong(&["start", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("poststart-broke"), "{}", stderr(&out));
    assert!(mark.exists(), "poststop hooks did not run");
    b.assert_nothing_left();
}

#[test]
fn failing_start_container_hook_fails_start() {
    // runtime.md lifecycle step 7: start reports the error; the program never runs.
    let b = Bundle::new("hookstartc", "touch /ran");
    let fail = json!({"path": "/bin/sh", "args": ["sh", "-c", "echo startc-broke >&2; exit 5"]});
    b.edit(|c| c["hooks"] = json!({"startContainer": [fail]}));
    assert!(b.create().status.success());
    let out = b.tong(&["start", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("startContainer hook") && stderr(&out).contains("startc-broke"),
        "{}",
        stderr(&out)
    );
    assert!(!b.rootfs().join("ran").exists());
    wait_init_exit(&b);
    assert_eq!(b.status(), "stopped");
    assert!(b.tong(&["delete", &b.id]).status.success());
    b.assert_nothing_left();
}

/// Issue 29: a failing hook is reported in runc's words, "error running …
/// hook", with "exit status N" or the signal's name (a startContainer hook
/// killed by the container's seccomp filter read "signal: 31"), and tong's
/// stderr labels it an error.
#[test]
fn a_failing_hook_says_error_running_in_runcs_words() {
    let b = Bundle::new("hooksys", "true");
    let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/hook-dir"]});
    b.edit(|c| {
        c["hooks"] = json!({"startContainer": [hook]});
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]});
        c["root"]["readonly"] = false.into();
    });
    let out = b.run();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.starts_with("tong: error: ")
            && e.contains("error running startContainer hook #0 (/bin/sh): signal: SIGSYS"),
        "{e}"
    );
    let _ = b.tong(&["delete", "--force", &b.id]);
    b.assert_nothing_left();
}
