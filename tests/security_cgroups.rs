//! Security regressions of the cgroup driver: a config-supplied cgroup path
//! never leaves the cgroup filesystem (F5 of issue 11), a path from a state
//! file is not trusted, and resource values the kernel would refuse or
//! silently change are rejected with their field, leaving nothing behind.

mod common;
use common::*;
use serde_json::json;
use std::path::PathBuf;

/// A cgroupsPath whose lexical cleaning (what runc does) gives
/// `/tong-test/<id>`, but which the host's path walk resolves to
/// `<bundle>/tong-test/<id>`: the `..`s climb out of the cgroup mount to `/`,
/// and `<bundle>/up` is a symlink deep enough that the `..`s after it come
/// back to the bundle. So the unfixed runtime writes into the bundle
/// directory (removed with the bundle) and the fixed one into the test's
/// own cgroup.
fn escaping_path(b: &Bundle) -> String {
    let depth = b.dir.components().count(); // the root, then each name
    let mut target = PathBuf::new();
    for i in 0..depth {
        target.push(format!("d{i}"));
    }
    std::fs::create_dir_all(b.dir.join(&target)).unwrap();
    std::os::unix::fs::symlink(&target, b.dir.join("up")).unwrap();
    format!(
        "{}{}/up/{}{CGROUP_PARENT}/{}",
        "/..".repeat(12),
        b.dir.display(),
        "../".repeat(depth),
        b.id
    )
}

/// Where the unfixed runtime would have made the container's "cgroup".
fn host_target(b: &Bundle) -> PathBuf {
    b.dir.join(CGROUP_PARENT)
}

/// The container sees its real cgroup paths (no cgroup namespace).
fn without_cgroupns(b: &Bundle) {
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
}

/// The cgroup of the v1 controller named, from `cat /proc/self/cgroup`;
/// on a cgroup v2-only host, the one unified line (`0::path`).
fn cgroup_of(out: &str, ctrl: &str) -> String {
    let line = |want: &dyn Fn(&str) -> bool| {
        out.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            want(ctrls).then(|| path.to_owned())
        })
    };
    line(&|ctrls: &str| ctrls.split(',').any(|c| c == ctrl))
        .or_else(|| {
            cgroup_v2_only()
                .then(|| line(&|ctrls: &str| ctrls.is_empty()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no {ctrl} line in {out}"))
}

#[test]
fn dotdot_in_cgroups_path_stays_in_the_cgroup_filesystem() {
    let b = Bundle::new("f5abs", "cat /proc/self/cgroup");
    without_cgroupns(&b);
    let p = escaping_path(&b);
    b.edit(|c| c["linux"]["cgroupsPath"] = p.into());
    let out = b.run();
    // Nothing was made outside the cgroup filesystem, not even on failure.
    assert!(
        !host_target(&b).exists(),
        "tong made {} on the host",
        host_target(&b).display()
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Cleaned like runc: the container ran in /tong-test/<id> of every hierarchy.
    let want = format!("/{CGROUP_PARENT}/{}", b.id);
    for ctrl in ["memory", "pids", "devices", "cpu"] {
        assert_eq!(cgroup_of(&stdout(&out), ctrl), want, "{}", stdout(&out));
    }
    b.assert_nothing_left();
}

#[test]
fn relative_cgroups_path_cannot_climb_out() {
    let b = Bundle::new("f5rel", "cat /proc/self/cgroup");
    without_cgroupns(&b);
    let p = escaping_path(&b);
    let rel = p.trim_start_matches('/').to_owned();
    b.edit(|c| c["linux"]["cgroupsPath"] = rel.into());
    let out = b.run();
    assert!(
        !host_target(&b).exists(),
        "tong made {} on the host",
        host_target(&b).display()
    );
    if cgroup_v2_only() {
        // Below tong's own cgroup, which on a v2-only host holds processes
        // (here the VM's job service): no controller can be enabled there,
        // for any runtime. What matters held: nothing outside cgroupfs.
        b.assert_nothing_left();
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    // Relative paths hang below tong's own (v2) cgroup, which is / here.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .trim_end_matches('/');
    let want = format!("{own}/{CGROUP_PARENT}/{}", b.id);
    assert_eq!(cgroup_of(&stdout(&out), "pids"), want, "{}", stdout(&out));
    b.assert_nothing_left();
}

/// A host directory that looks like a cgroup (an image, a volume…): with the
/// escape, the container would "join" it by writing to plain files, and run
/// with no memory, pids or device limits at all.
#[test]
fn planted_fake_cgroup_outside_cgroupfs_is_never_joined() {
    let b = Bundle::new("f5fake", "cat /proc/self/cgroup");
    without_cgroupns(&b);
    let p = escaping_path(&b);
    let fake = host_target(&b).join(&b.id);
    std::fs::create_dir_all(&fake).unwrap();
    for f in ["tasks", "cgroup.procs", "pids.max"] {
        std::fs::write(fake.join(f), "").unwrap();
    }
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = p.into();
        c["linux"]["resources"] = json!({"pids": {"limit": 10}});
    });
    let out = b.run();
    let mut planted: Vec<String> = std::fs::read_dir(&fake)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    planted.sort();
    assert_eq!(planted, ["cgroup.procs", "pids.max", "tasks"]);
    assert_eq!(std::fs::read_to_string(fake.join("tasks")).unwrap(), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let want = format!("/{CGROUP_PARENT}/{}", b.id);
    for ctrl in ["pids", "devices", "memory"] {
        assert_eq!(cgroup_of(&stdout(&out), ctrl), want, "{}", stdout(&out));
    }
    b.assert_nothing_left();
}

/// A state file names cgroup directories; one that is not a cgroup (left by
/// an older tong, or edited) must not make `kill --all` signal the pids a
/// plain file lists, nor `delete` remove host directories.
#[test]
fn cgroup_dir_from_state_that_is_not_a_cgroup_is_refused() {
    let b = Bundle::new("f5state", "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A host process that must survive, and a "cgroup" that lists it.
    let mut victim = std::process::Command::new("/bin/busybox")
        .args(["sleep", "1000"])
        .spawn()
        .unwrap();
    let fake = b.dir.join("fakecg");
    std::fs::create_dir_all(fake.join("sub")).unwrap();
    std::fs::write(fake.join("cgroup.procs"), format!("{}\n", victim.id())).unwrap();
    std::fs::write(fake.join("pids.max"), "max\n").unwrap();
    let state = b.root.join(&b.id).join("state.json");
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut dirs = vec![json!(fake)];
    dirs.extend(s["cgroup_dirs"].as_array().unwrap().iter().cloned());
    s["cgroup_dirs"] = json!(dirs);
    std::fs::write(&state, serde_json::to_vec(&s).unwrap()).unwrap();

    // Not KILL: that goes through cgroup.kill of the v2 directory on this host.
    let out = b.tong(&["kill", "--all", &b.id, "USR1"]);
    // Whoever signals first decides how the victim dies (the exit signal is
    // fixed when a fatal signal is sent): SIGUSR1 from tong, or our SIGTERM.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = victim.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(libc::SIGTERM),
        "tong kill --all signalled a host process listed in {}",
        fake.display()
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a cgroup"), "{}", stderr(&out));

    let out = b.tong(&["delete", "--force", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fake.join("sub").is_dir(), "delete removed a host directory");
    b.assert_nothing_left();
}

/// Creates the container expecting a refusal naming `pointer`; nothing may be left.
fn refused(b: &Bundle, resources: serde_json::Value, pointer: &str) {
    b.edit(|c| c["linux"]["resources"] = resources.clone());
    let out = b.create();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{resources} was accepted: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("(config field {pointer})")),
        "{resources}: {}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn out_of_range_resources_are_refused_with_their_field() {
    let b = Bundle::new("badres", "true");
    for (r, pointer) in [
        (
            json!({"cpu": {"shares": u64::MAX}}),
            "/linux/resources/cpu/shares",
        ),
        (json!({"cpu": {"shares": 1}}), "/linux/resources/cpu/shares"),
        (
            json!({"cpu": {"shares": 262145}}),
            "/linux/resources/cpu/shares",
        ),
        (
            json!({"cpu": {"quota": -5, "period": 100000}}),
            "/linux/resources/cpu/quota",
        ),
        (json!({"cpu": {"quota": 999}}), "/linux/resources/cpu/quota"),
        (
            json!({"cpu": {"quota": 50000, "period": 0}}),
            "/linux/resources/cpu/period",
        ),
        (
            json!({"cpu": {"period": 1000001}}),
            "/linux/resources/cpu/period",
        ),
        (json!({"cpu": {"idle": 2}}), "/linux/resources/cpu/idle"),
        (
            json!({"cpu": {"realtimeRuntime": 2000, "realtimePeriod": 1000}}),
            "/linux/resources/cpu/realtimeRuntime",
        ),
        (json!({"cpu": {"cpus": "1-0"}}), "/linux/resources/cpu/cpus"),
        (
            json!({"cpu": {"mems": "0,,1"}}),
            "/linux/resources/cpu/mems",
        ),
        (
            json!({"memory": {"limit": -2}}),
            "/linux/resources/memory/limit",
        ),
        (
            json!({"memory": {"limit": 67108864, "swap": 33554432}}),
            "/linux/resources/memory/swap",
        ),
        (
            json!({"memory": {"swappiness": 101}}),
            "/linux/resources/memory/swappiness",
        ),
        (
            json!({"pids": {"limit": -5}}),
            "/linux/resources/pids/limit",
        ),
        (
            json!({"blockIO": {"weight": 5}}),
            "/linux/resources/blockIO/weight",
        ),
        (
            json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 1001}]}}),
            "/linux/resources/blockIO/weightDevice/0/weight",
        ),
        (
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]}),
            "/linux/resources/hugepageLimits/0/pageSize",
        ),
        (
            json!({"unified": {"../../../../x": "1"}}),
            "/linux/resources/unified/..~1..~1..~1..~1x",
        ),
        (
            json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwx"}]}),
            "/linux/resources/devices/0/access",
        ),
    ] {
        refused(&b, r, pointer);
    }
}

/// A unified key this hybrid host cannot apply is an error, not a silent drop.
#[test]
fn unified_key_the_host_cannot_apply_is_refused() {
    if host_fact("cgroup.memory", "version").as_deref() != Some("v1") {
        return skip(format!(
            "needs memory on a cgroup v1 hierarchy (a hybrid host); tong check: {}",
            host_sentence("cgroup.memory")
        ));
    }
    let b = Bundle::new("unifiedv1", "true");
    refused(
        &b,
        json!({"unified": {"memory.high": "100000000"}}),
        "/linux/resources/unified/memory.high",
    );
    // runc's words, which tools match.
    let out = b.create();
    assert!(
        stderr(&out).contains("invalid configuration"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

/// V7: `unified` naming cgroup's core files moved a host process into the
/// container's cgroup (`cgroup.procs`), where `delete --force` killed it.
#[test]
fn v7_unified_cannot_name_cgroup_core_files() {
    let mut host = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = host.id();
    let before = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let b = Bundle::new("v7core", "sleep 1000");
    for key in [
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.kill",
        "cgroup.freeze",
    ] {
        let value = if key.ends_with("procs") || key.ends_with("threads") {
            pid.to_string()
        } else {
            "1".into()
        };
        refused(
            &b,
            json!({"unified": {key: value}}),
            &format!("/linux/resources/unified/{key}"),
        );
    }
    let _ = b.tong(&["delete", "--force", &b.id]);
    let after = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let alive = host.try_wait().unwrap().is_none();
    let _ = host.kill();
    let _ = host.wait();
    assert!(alive, "the host process died");
    assert_eq!(before, after, "the host process was moved");
}

fn cpu_dir(b: &Bundle) -> PathBuf {
    if cgroup_v2_only() {
        return b.cgroup_dirs().remove(0);
    }
    b.cgroup_dirs()
        .into_iter()
        .find(|d| {
            d.parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.file_name())
                .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == "cpu"))
        })
        .unwrap()
}

/// The cpu controller's files an update would change, v1 or v2.
fn cpu_files() -> &'static [&'static str] {
    if cgroup_v2_only() {
        &["cpu.weight", "cpu.max"]
    } else {
        &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"]
    }
}

#[test]
fn update_refuses_what_create_refuses() {
    let b = Bundle::new("badupd", "sleep 1000");
    b.edit(|c| c["linux"]["resources"] = json!({"cpu": {"shares": 512}}));
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cpu = cpu_dir(&b);
    let read = || -> Vec<String> {
        cpu_files()
            .iter()
            .map(|f| std::fs::read_to_string(cpu.join(f)).unwrap())
            .collect()
    };
    let before = read();
    for (args, pointer) in [
        (
            vec!["--cpu-share", "18446744073709551615"],
            "/linux/resources/cpu/shares",
        ),
        (vec!["--cpu-quota=-5"], "/linux/resources/cpu/quota"),
        (
            vec!["--cpu-period", "0", "--cpu-quota", "50000"],
            "/linux/resources/cpu/period",
        ),
        (vec!["--pids-limit", "-2"], "/linux/resources/pids/limit"),
    ] {
        let mut all = vec!["update"];
        all.extend(args.iter());
        all.push(&b.id);
        let out = b.tong(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?} was accepted");
        assert!(stderr(&out).contains(pointer), "{args:?}: {}", stderr(&out));
    }
    let file = b.dir.join("res.json");
    std::fs::write(&file, r#"{"cpu": {"quota": 50000, "period": 0}}"#).unwrap();
    let out = b.tong(&["update", "-r", file.to_str().unwrap(), &b.id]);
    assert_eq!(out.status.code(), Some(1), "-r was accepted");
    assert!(
        stderr(&out).contains("/linux/resources/cpu/period"),
        "{}",
        stderr(&out)
    );
    // Nothing was written, not even the valid half of the last update.
    assert_eq!(read(), before);
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}
