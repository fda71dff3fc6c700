//! seccomp profiles, checked by what the kernel does inside the container.

mod common;
use common::*;
use serde_json::json;

/// `tong features`' seccomp flags: (known, supported by this kernel).
fn features_flags() -> &'static (Vec<String>, Vec<String>) {
    static F: std::sync::OnceLock<(Vec<String>, Vec<String>)> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let out = std::process::Command::new(TONG)
            .arg("features")
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let list = |k: &str| -> Vec<String> {
            v["linux"]["seccomp"][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect()
        };
        (list("knownFlags"), list("supportedFlags"))
    })
}

fn with_profile(name: &str, script: &str, syscalls: serde_json::Value) -> Bundle {
    let b = Bundle::new(name, script);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            // Every flag this kernel takes, on every test profile: each must load.
            "flags": features_flags().1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": syscalls
        });
        c["root"]["readonly"] = false.into();
    });
    b
}

#[test]
fn errno_actions_deny_with_the_given_error() {
    let b = with_profile(
        "scerrno",
        "mkdir /tmp/a 2>&1; grep Seccomp: /proc/self/status; rmdir /tmp 2>&1 || true",
        json!([
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir", "unlinkat", "no_such_syscall_name"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]),
    );
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Operation not permitted"), "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"],
        "{out}"
    );
    assert!(lines[2].contains("Function not implemented"), "{out}");
    assert!(!b.rootfs().join("tmp/a").exists());
}

#[test]
fn kill_action_kills_the_process() {
    let b = with_profile(
        "sckill",
        "(mkdir /tmp/k); echo status $?",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]),
    );
    // SIGSYS is 31: the subshell died of it.
    assert_eq!(b.run_ok(), "status 159\n");
}

#[test]
fn argument_conditions_match_only_the_named_values() {
    // kill(pid, SIGUSR1) is refused; kill(pid, SIGUSR2) goes through.
    let b = with_profile(
        "scargs",
        "trap 'echo got-usr2' USR2; kill -USR1 $$ 2>/dev/null; echo usr1=$?; kill -USR2 $$; echo usr2=$?",
        json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]}]),
    );
    let out = b.run_ok();
    assert!(out.contains("usr1=1"), "{out}");
    assert!(out.contains("got-usr2") && out.contains("usr2=0"), "{out}");
}

#[test]
fn masked_equal_uses_value_as_mask() {
    // open(2) with O_CREAT (0o100) in its flags is refused; plain reads are not.
    let b = with_profile(
        "scmask",
        "grep -q root /etc/passwd && echo read-ok; (: > /tmp/new) 2>/dev/null && echo created || echo create-denied",
        json!([{"names": ["open", "openat"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 2, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]},
               {"names": ["open"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]}]),
    );
    assert_eq!(b.run_ok(), "read-ok\ncreate-denied\n");
}

#[test]
fn filter_loads_without_no_new_privs_and_applies_to_exec() {
    let b = with_profile(
        "scnnp",
        "sleep 1000",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]),
    );
    b.edit(|c| c["process"]["noNewPrivileges"] = false.into());
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = b.tong(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "mkdir /tmp/e 2>&1; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    let text = stdout(&out);
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(
        text.contains("Seccomp:\t2") && text.contains("NoNewPrivs:\t0"),
        "{text}"
    );
}

#[test]
fn bad_profile_names_the_field() {
    let b = with_profile(
        "scbad",
        "true",
        json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]),
    );
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/linux/seccomp/syscalls/0/args/0/op"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn compiled_filters_are_cached_and_verified() {
    let b = with_profile(
        "sccache",
        "mkdir /tmp/c 2>&1 || true",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]),
    );
    let run = |n: usize| -> (String, String) {
        let (out, log) = b.run_logged(&["--debug"], &format!("debug{n}.log"));
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out), std::fs::read_to_string(&log).unwrap())
    };
    let (out, log) = run(1);
    assert!(out.contains("Permission denied"), "{out}");
    assert!(log.contains("seccomp cache miss"), "{log}");
    let (out, log) = run(2);
    assert!(out.contains("Permission denied"), "{out}");
    assert!(log.contains("seccomp cache hit"), "{log}");
    // Corrupt the entry: it is detected, rebuilt, and the filter still holds.
    let dir = b.root.join("@seccomp-cache");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    let (out, log) = run(3);
    assert!(out.contains("Permission denied"), "{out}");
    assert!(
        log.contains("is corrupt or not this profile's; rebuilding"),
        "{log}"
    );
    let (_, log) = run(4);
    assert!(log.contains("seccomp cache hit"), "{log}");
}

#[test]
fn notify_hands_the_listener_fd_to_the_agent() {
    use std::os::fd::{AsFd, AsRawFd};
    let b = with_profile(
        "scnotify",
        "mkdir /tmp/n 2>&1; echo done",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]),
    );
    let sock = b.dir.join("agent.sock");
    b.edit(|c| {
        c["linux"]["seccomp"]["listenerPath"] = sock.to_str().unwrap().into();
        c["linux"]["seccomp"]["listenerMetadata"] = "opaque-meta".into();
    });
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // The agent: receives the container process state and the notify fd,
    // then answers the container's mkdir with EXDEV.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 16384];
        let (n, fd) = tong::linux::sys::recv_with_fd(conn.as_fd(), &mut buf).unwrap();
        let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        let fd = fd.expect("no seccomp fd");
        let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        let name = req.data.syscall.get_name().unwrap();
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EXDEV,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(fd.as_raw_fd())
        .unwrap();
        (state, name)
    });
    let out = b.run_ok();
    let (state, name) = agent.join().unwrap();
    assert!(
        out.contains("Invalid cross-device link") && out.ends_with("done\n"),
        "{out}"
    );
    assert!(name == "mkdir" || name == "mkdirat", "{name}");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "opaque-meta");
    assert_eq!(state["state"]["id"], b.id.as_str());
    assert_eq!(state["state"]["status"], "creating");
    assert!(state["pid"].as_i64().unwrap() > 1);
    assert!(!b.rootfs().join("tmp/n").exists());
}

/// Issue 29: two conditions on one argument (kill's signal is 10 or 12).
/// libseccomp refuses them in one rule; runc adds each as a rule of its own,
/// so either value is refused and the container runs.
#[test]
fn two_conditions_on_one_argument_each_match() {
    let b = with_profile(
        "scsamearg",
        "sleep 100 & p=$!; kill -0 $p; echo zero=$?; kill -10 $p 2>/dev/null; echo usr1=$?; \
         kill -12 $p 2>/dev/null; echo usr2=$?; kill -9 $p",
        json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 10, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 12, "op": "SCMP_CMP_EQ"}]}]),
    );
    let out = b.run_ok();
    assert_eq!(out, "zero=0\nusr1=1\nusr2=1\n");
}

/// Issue 29: a notified `write` (or a notifying default) is refused up front
/// with the reason, as runc does: the container's own writes would wait for
/// an agent that cannot have the listener yet.
#[test]
fn notify_on_write_is_refused_with_the_reason() {
    let b = with_profile(
        "scnotifywrite",
        "true",
        json!([{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]),
    );
    b.edit(|c| c["linux"]["seccomp"]["listenerPath"] = "/run/no-agent.sock".into());
    let out = b.run();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("SCMP_ACT_NOTIFY cannot be used for the write syscall")
            && e.contains("/linux/seccomp/syscalls/0/names/1"),
        "{e}"
    );
    b.assert_nothing_left();
    b.edit(|c| {
        c["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_NOTIFY".into();
        c["linux"]["seccomp"]["syscalls"] = json!([]);
    });
    let out = b.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/linux/seccomp/defaultAction"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

/// A flag the kernel lacks (Debian 11's 5.10 has no WAIT_KILLABLE_RECV) is
/// refused at create, naming the field, the flag and the release that added
/// it, and leaves nothing; `tong features` does not offer it.
#[test]
fn a_seccomp_flag_the_kernel_lacks_is_refused_naming_it() {
    if let Some(why) = host_has(
        "seccomp-flags",
        "needs a kernel that refuses a seccomp flag",
    ) {
        return skip(why);
    }
    let (known, supported) = features_flags();
    let lacking: Vec<&String> = known.iter().filter(|f| !supported.contains(f)).collect();
    assert!(!lacking.is_empty(), "tong check and features disagree");
    let b = with_profile(
        "scflag",
        "echo ran",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]),
    );
    let sock = b.dir.join("agent.sock");
    b.edit(|c| {
        c["linux"]["seccomp"]["flags"] = json!(lacking);
        c["linux"]["seccomp"]["listenerPath"] = sock.to_str().unwrap().into();
    });
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let out = b.run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/linux/seccomp/flags")
            && err.contains(lacking[0].as_str())
            && err.contains("this kernel does not support it (Linux "),
        "{err}"
    );
    assert!(!stdout(&out).contains("ran"));
    b.assert_nothing_left();
}
