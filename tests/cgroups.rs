//! cgroup resources on this host's real cgroups (v1 with a hybrid v2 mount).

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;

fn ctl_dir(b: &Bundle, controller: &str) -> PathBuf {
    b.cgroup_dirs()
        .into_iter()
        .find(|d| {
            let hier = d
                .parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hier.split(',').any(|c| c == controller)
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy"))
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_owned()
}

#[test]
fn resources_land_in_the_files() {
    if let Some(why) = host_lacks_v1(
        "memory",
        "needs cgroup v1 files (memory.limit_in_bytes, cpu.shares, …); v2: modern_host v2_resources_land_in_the_files",
    ) {
        return skip(why);
    }
    let b = Bundle::new("cgfiles", "sleep 1000");
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 42}
        });
    });
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mem = ctl_dir(&b, "memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(mem.join("memory.soft_limit_in_bytes")), "33554432");
    assert_eq!(read(mem.join("memory.swappiness")), "20");
    let cpu = ctl_dir(&b, "cpu");
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(ctl_dir(&b, "cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read(ctl_dir(&b, "pids").join("pids.max")), "42");
    // update changes a live limit.
    let out = b.tong(&["update", "--memory", "128m", "--pids-limit", "7", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
    assert_eq!(read(ctl_dir(&b, "pids").join("pids.max")), "7");
    // … and from a LinuxResources JSON on stdin.
    let mut child = b
        .cmd(&["update", "--resources", "-", &b.id])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        br#"{"cpu": {"shares": 256}}"#,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read(cpu.join("cpu.shares")), "256");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn memory_limit_oom_kills_an_allocator() {
    let b = Bundle::new(
        "oom",
        "dd if=/dev/zero of=/dev/null bs=64M count=1; echo status $?",
    );
    b.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}}));
    let out = b.run_ok();
    assert_eq!(out.trim(), "status 137", "dd was not OOM-killed: {out}");
}

#[test]
fn pids_limit_makes_fork_fail() {
    let b = Bundle::new(
        "pids",
        "for i in 1 2 3 4 5 6 7 8; do sleep 100 & done 2>&1; echo done",
    );
    b.edit(|c| c["linux"]["resources"] = json!({"pids": {"limit": 4}}));
    let out = b.tong(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("can't fork") || text.contains("Resource temporarily unavailable"),
        "{text}"
    );
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if let Some(why) = host_lacks_v1(
        "freezer",
        "needs the cgroup v1 freezer (freezer.state); v2: modern_host v2_freezer_pauses_and_resumes",
    ) {
        return skip(why);
    }
    let b = Bundle::new("pause", "while true; do echo tick; done");
    let mut run = b
        .cmd(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = run.stdout.take().unwrap();
    assert!(run.wait().unwrap().success());
    let mut buf = [0u8; 4096];
    assert!(pipe.read(&mut buf).unwrap() > 0, "the counter runs");
    assert!(b.tong(&["pause", &b.id]).status.success());
    assert_eq!(b.status(), "paused");
    assert_eq!(read(ctl_dir(&b, "freezer").join("freezer.state")), "FROZEN");
    // Drain what was written before the freeze; nothing new may come.
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    while pipe.read(&mut buf).is_ok() {}
    for _ in 0..3 {
        assert_eq!(b.status(), "paused");
    }
    let e = pipe.read(&mut buf).unwrap_err();
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::WouldBlock,
        "a paused container wrote output"
    );
    let out = b.tong(&["exec", &b.id, "true"]);
    assert!(stderr(&out).contains("paused"), "{}", stderr(&out));
    assert!(b.tong(&["resume", &b.id]).status.success());
    assert_eq!(b.status(), "running");
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .unwrap();
    assert!(
        pipe.read(&mut buf).unwrap() > 0,
        "resumed container writes again"
    );
    let out = b.tong(&["resume", &b.id]);
    assert!(
        stderr(&out).contains("container not paused"),
        "{}",
        stderr(&out)
    );
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn ps_lists_the_containers_processes() {
    let b = Bundle::new("ps", "sleep 1001 & sleep 1002");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The shell forks and execs both sleeps after `run -d` returns: wait
    // until ps has seen both (bounded), then check what it reports.
    let cmdlines = |pids: &[i32]| -> Vec<String> {
        pids.iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default())
            .collect()
    };
    let mut pids: Vec<i32> = Vec::new();
    for _ in 0..2000 {
        let out = b.tong(&["ps", "--format", "json", &b.id]);
        pids = serde_json::from_slice(&out.stdout).unwrap();
        if pids.len() == 2
            && cmdlines(&pids)
                .iter()
                .all(|c| c.starts_with("sleep\u{0}100"))
        {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(pids.len(), 2, "{pids:?}");
    for cmd in cmdlines(&pids) {
        assert!(cmd.starts_with("sleep\u{0}100"), "{cmd:?}");
    }
    let out = b.tong(&["ps", &b.id]);
    let text = stdout(&out);
    assert!(text.starts_with("UID"), "{text}");
    assert!(
        text.contains("sleep 1001") && text.contains("sleep 1002"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
    let out = b.tong(&["ps", &b.id, "-o", "pid,comm"]);
    assert!(
        stdout(&out)
            .lines()
            .skip(1)
            .all(|l| l.trim_end().ends_with("sleep")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn device_cgroup_denies_what_is_not_allowed() {
    // /dev/fuse (c 10:229) is bound in from the host but not allowed; opening
    // it needs no capability, so only the device cgroup can refuse it.
    let b = Bundle::new("devdeny", "(: </dev/fuse) 2>/dev/null && echo fuse-open || echo fuse-denied; head -c1 /dev/zero | wc -c");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/dev/fuse", "type": "bind", "source": "/dev/fuse", "options": ["bind"]}));
    });
    assert_eq!(b.run_ok(), "fuse-denied\n1\n");
    // The same with an allow rule for it.
    let b = Bundle::new(
        "devallow",
        "(: </dev/fuse) 2>/dev/null && echo fuse-open || echo fuse-denied",
    );
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/dev/fuse", "type": "bind", "source": "/dev/fuse", "options": ["bind"]}));
        c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}));
    });
    assert_eq!(b.run_ok(), "fuse-open\n");
}

/// `linux.devices` makes a node; it allows nothing (runc 1.1.5: a listed
/// device stays denied under a deny-all rule, for `run` and for `exec`).
#[test]
fn a_device_listed_in_linux_devices_is_not_allowed_by_it() {
    let probe = "(: </dev/fuse) 2>/dev/null && echo fuse-open || echo fuse-denied";
    let b = Bundle::new("devlisted", &format!("{probe}; sleep 1000"));
    b.edit(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    });
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = b.tong(&["exec", &b.id, "sh", "-c", probe]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fuse-denied\n",
        "exec"
    );
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn bad_resource_value_names_the_field() {
    let b = Bundle::new("badres", "true");
    b.edit(|c| c["linux"]["resources"] = json!({"cpu": {"cpus": "not-a-cpu"}}));
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cpuset.cpus") && stderr(&out).contains("/linux/resources/cpu"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn setting_for_an_absent_controller_is_an_error() {
    // Where no net_cls hierarchy is mounted (and cgroup2 has none) the
    // setting cannot be applied, so create must fail instead of dropping it.
    // tong check says which (from the mount table: a directory named
    // net_cls can be an engine's leftover on the tmpfs).
    if host_fact("cgroups", "mode").as_deref() == Some("v2") {
        return skip(format!(
            "on cgroup v2 tong ignores linux.resources.network, as runc does; tong check: {}",
            host_sentence("cgroups")
        ));
    }
    let b = Bundle::new("netcls", "cat /proc/self/cgroup");
    b.edit(|c| c["linux"]["resources"] = json!({"network": {"classID": 1048577}}));
    if host_lacks("cgroup.net_cls").is_none() {
        b.run_ok();
        return;
    }
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("net_cls is not available")
            && stderr(&out).contains("/linux/resources/network"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn paused_container_can_be_force_deleted() {
    let b = Bundle::new("delpaused", "sleep 1000 & sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.tong(&["pause", &b.id]).status.success());
    let out = b.tong(&["delete", &b.id]);
    assert!(
        stderr(&out).contains("not stopped: paused"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["delete", "--force", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
}

#[test]
fn events_report_stats_and_oom() {
    use std::io::{BufRead, BufReader, Write};
    let b = Bundle::new(
        "events",
        "read x < /tmp/go; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
    );
    b.edit(|c| {
        c["linux"]["resources"] =
            json!({"memory": {"limit": 16777216, "swap": 16777216}, "pids": {"limit": 9}})
    });
    nix::unistd::mkfifo(
        &b.rootfs().join("tmp/go"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = b.tong(&["events", "--stats", &b.id]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], b.id.as_str());
    assert_eq!(v["data"]["pids"]["limit"], 9);
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 16777216);
    assert!(
        v["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{v}"
    );

    let mut events = b
        .cmd(&["events", "--interval", "1h", &b.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats");
    // Armed: now let the container allocate past its limit.
    std::fs::OpenOptions::new()
        .write(true)
        .open(b.rootfs().join("tmp/go"))
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let oom: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(oom, json!({"type": "oom", "id": b.id}));
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    assert!(
        events.wait().unwrap().success(),
        "events ends with the container"
    );
    b.assert_nothing_left();
}

#[test]
fn device_bpf_program_is_enforced_by_the_kernel() {
    use std::io::{BufRead, BufReader, Write};
    // The v2 device program on this hybrid host's unified hierarchy: a real
    // kernel check of what the v2 driver attaches.
    let unified = cgroup_mounts()
        .into_iter()
        .find(|m| m.join("cgroup.controllers").exists())
        .expect("a cgroup2 mount");
    let dir = unified.join(format!("tong-test-bpf-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    // Removed even when an assertion fails (the process in it has exited by then).
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_value(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    ]))
    .unwrap();
    tong::linux::cgroups::attach_device_program(&dir, &rules).unwrap();
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("read x; for d in null zero; do (: </dev/$d) 2>/dev/null && echo $d-open || echo $d-denied; done")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .collect();
    child.wait().unwrap();
    assert_eq!(lines, ["null-open", "zero-denied"]);
    // The full rule list a default container gets passes the verifier too.
    let full = tong::linux::cgroups::resources::device_rules(&rules[..1]);
    let insns: Vec<u64> = tong::linux::cgroups::devices_bpf::program(&full)
        .into_iter()
        .map(|i| i.encode())
        .collect();
    assert!(tong::linux::sys::bpf_load_device_prog(&insns).is_ok());
}

#[test]
fn the_hosts_console_is_not_a_default_device() {
    // runc's default device rules allow /dev/tty (5:0) and /dev/ptmx (5:2)
    // but not /dev/console (5:1), the host's console: a container with
    // CAP_MKNOD must not be able to open a node it makes for it.
    let b = Bundle::new(
        "console-dev",
        "mknod /dev/cx c 5 1 && { (echo x > /dev/cx) 2>/dev/null && echo console-open || echo console-denied; }; \
         mknod /dev/nx c 1 3 && (echo x > /dev/nx) && echo null-open",
    );
    b.edit(|c| {
        for k in ["bounding", "effective", "permitted"] {
            if let Some(a) = c["process"]["capabilities"][k].as_array_mut() {
                a.push(json!("CAP_MKNOD"));
            }
        }
    });
    let out = b.tong(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(
        stdout(&out),
        "console-denied\nnull-open\n",
        "{}",
        stderr(&out)
    );
}

/// A CAP_MKNOD container's verdict on a tun node it makes (10:200), with
/// the engines' blanket deny and `extra` rules after it.
fn tun_verdict(name: &str, extra: serde_json::Value) -> String {
    let b = Bundle::new(
        name,
        "mknod /dev/t c 10 200 && { (exec 3<>/dev/t) 2>&1 | grep -q 'not permitted' && echo tun-denied || echo tun-allowed; }",
    );
    b.edit(|c| {
        for k in ["bounding", "effective", "permitted"] {
            if let Some(a) = c["process"]["capabilities"][k].as_array_mut() {
                a.push(json!("CAP_MKNOD"));
            }
        }
        let mut rules = vec![json!({"allow": false, "access": "rwm"})];
        rules.extend(extra.as_array().cloned().unwrap_or_default());
        c["linux"]["resources"]["devices"] = json!(rules);
    });
    let out = b.tong(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    format!("{}{}", stdout(&out), stderr(&out))
}

#[test]
fn tun_is_a_default_device_as_in_runc() {
    // runc (1.1, and 1.2.4 on) and crun allow tun/tap by default; the
    // engines' rules do not list it. Without the module the open fails
    // with ENODEV, still past the device cgroup.
    assert_eq!(tun_verdict("tun-default", json!([])), "tun-allowed\n");
}

#[test]
fn a_configs_own_tun_rule_is_not_overridden() {
    // runc 1.1 appends its defaults after the config's rules, so a deny of
    // tun in the config has no effect there; the spec applies the
    // config's entries in order, and tong keeps the config's word.
    let deny = json!([{"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]);
    assert_eq!(tun_verdict("tun-denied", deny), "tun-denied\n");
}

/// Issue 29: runc's -1 for "unlimited" on `update` flags: `--cpu-quota -1`
/// was refused by the argument parser, and `--memory -1` with a
/// memory+swap limit set failed with EINVAL on cgroup v1 (runc lifts the
/// memsw limit too, and writes memsw first).
#[test]
fn update_takes_minus_one_for_unlimited() {
    if let Some(why) = host_lacks_v1(
        "memory",
        "needs cgroup v1 files (memory.limit_in_bytes, cpu.cfs_quota_us); v2: modern_host v2_update_takes_minus_one_for_unlimited",
    ) {
        return skip(why);
    }
    let b = Bundle::new("upd-1", "sleep 1000");
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "swap": 134217728},
            "cpu": {"quota": 50000, "period": 100000},
            "pids": {"limit": 42}
        });
    });
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = b.tong(&["update", "--cpu-quota", "-1", "--pids-limit", "-1", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read(ctl_dir(&b, "cpu").join("cpu.cfs_quota_us")), "-1");
    assert_eq!(read(ctl_dir(&b, "pids").join("pids.max")), "max");
    let mem = ctl_dir(&b, "memory");
    if let Some(why) = host_lacks("swap-accounting") {
        skip(format!("--memory -1 with a swap limit not checked: {why}"));
    } else {
        let out = b.tong(&["update", "--memory", "-1", &b.id]);
        assert!(out.status.success(), "{}", stderr(&out));
        let unlimited = read(mem.join("memory.limit_in_bytes"));
        assert!(unlimited.parse::<u64>().unwrap() > 1 << 60, "{unlimited}");
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), unlimited);
    }
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}
