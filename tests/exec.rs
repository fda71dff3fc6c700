//! `exec` into running containers.

mod common;
use common::*;
use serde_json::json;

fn running(name: &str) -> Bundle {
    let b = Bundle::new(name, "sleep 1000");
    b.edit(|c| c["hostname"] = "exec-host".into());
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b
}

#[test]
fn exec_joins_namespaces_and_cgroup_of_init() {
    let b = running("execns");
    let pid = b.state()["pid"].as_i64().unwrap();
    let script = "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; hostname; cat /proc/self/cgroup";
    let out = b.tong(&["exec", &b.id, "sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for (i, n) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .enumerate()
    {
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
        assert_eq!(
            lines[i],
            init.to_str().unwrap(),
            "{n} namespace differs from init's"
        );
    }
    assert_eq!(lines[6], "exec-host");
    // In the container's cgroup namespace, at its root.
    assert!(lines[7..].iter().all(|l| l.ends_with(":/")), "{text}");
}

#[test]
fn exec_exit_status_and_flags() {
    let b = running("execflags");
    let out = b.tong(&["exec", &b.id, "sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42));
    let out = b.tong(&[
        "exec",
        "--user",
        "1000:1001",
        "-g",
        "7",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &b.id,
        "sh",
        "-c",
        "id; echo $FOO; pwd",
    ]);
    assert_eq!(
        stdout(&out),
        "uid=1000 gid=1001 groups=7\nbar\n/tmp\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_process_json() {
    let b = running("execjson");
    let p = b.dir.join("process.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "id; echo $A; pwd; grep -E '^Cap(Eff|Inh|Bnd)' /proc/self/status"],
            "env": ["PATH=/bin", "A=from-json"],
            "cwd": "/dev",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = b.tong(&["exec", "--process", p.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kill = format!("{:016x}", 1u64 << 5);
    assert_eq!(
        stdout(&out),
        format!("uid=0(root) gid=0(root)\nfrom-json\n/dev\nCapInh:\t{:016x}\nCapEff:\t{kill}\nCapBnd:\t{kill}\n", 0)
    );
    // A bad process file names the field.
    std::fs::write(
        &p,
        r#"{"args": ["true"], "cwd": "rel", "user": {"uid": 0, "gid": 0}}"#,
    )
    .unwrap();
    let out = b.tong(&["exec", "--process", p.to_str().unwrap(), &b.id]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("config field /cwd"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_cap_flag_never_grants_inheritable() {
    let b = running("execcap");
    let out = b.tong(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &b.id,
        "grep",
        "-E",
        "^Cap(Inh|Amb|Bnd)",
        "/proc/self/status",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("CapInh:\t{:016x}", 0)), "{text}");
    let bnd = u64::from_str_radix(
        text.lines()
            .find(|l| l.starts_with("CapBnd"))
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap(),
        16,
    )
    .unwrap();
    assert!(
        bnd & (1 << 21) != 0,
        "CAP_SYS_ADMIN not added to bounding: {text}"
    );
}

#[test]
fn exec_detached_writes_pid_file() {
    let b = running("execdetach");
    let pidfile = b.dir.join("exec.pid");
    let out = b.tong(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &b.id,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmd, "sleep\x001000\x00");
    let procs = std::fs::read_to_string(b.cgroup_dirs()[0].join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    // delete --force takes the exec'd process down with the container.
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn exec_into_stopped_container_fails() {
    let b = Bundle::new("execstopped", "true");
    assert!(b.create().status.success());
    assert!(b.tong(&["start", &b.id]).status.success());
    wait_init_exit(&b);
    let out = b.tong(&["exec", &b.id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["exec", "no-such-ctr", "true"]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn exec_missing_binary_and_preserved_fds() {
    let b = running("execmisc");
    let out = b.tong(&["exec", &b.id, "no-such-binary"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("exec: \"no-such-binary\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    std::fs::write(b.dir.join("payload"), "fd three\n").unwrap();
    let out = tong_with_fd3(
        &b,
        &b.dir.join("payload"),
        "",
        &format!(
            "exec --preserve-fds 1 {} sh -c 'cat <&3; ls /proc/self/fd | tr \"\\n\" \" \"'",
            b.id
        ),
    );
    assert_eq!(stdout(&out), "fd three\n0 1 2 3 4 ", "{}", stderr(&out));
}

#[test]
fn exec_into_sub_cgroup() {
    if let Some(why) = host_lacks_v1(
        "memory",
        "needs a cgroup v1 memory hierarchy; v2: modern_host v2_exec_into_sub_cgroup",
    ) {
        return skip(why);
    }
    let b = running("execsubcg");
    let mem = b
        .cgroup_dirs()
        .into_iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/memory"))
        .expect("memory hierarchy");
    std::fs::create_dir(mem.join("sub")).unwrap();
    let out = b.tong(&[
        "exec",
        "--cgroup",
        "memory:sub",
        &b.id,
        "cat",
        "/proc/self/cgroup",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.ends_with(":memory:/sub")), "{text}");
    assert!(text.lines().any(|l| l.ends_with(":pids:/")), "{text}");
    let out = b.tong(&["exec", "--cgroup", "../escape", &b.id, "true"]);
    assert!(
        stderr(&out).contains("../escape is not a sub cgroup path"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["exec", "--cgroup", "nope", &b.id, "true"]);
    // runc's words; containerd reads "does not exist" as a missing container.
    assert!(
        stderr(&out).contains("no such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("does not exist"), "{}", stderr(&out));
    // delete removes sub-cgroups with the container's.
    let out = b.tong(&["delete", "--force", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left();
}

#[test]
fn socket_activation_fds_are_passed() {
    let b = Bundle::new("listenfds", "echo $LISTEN_FDS $LISTEN_PID; cat <&3");
    std::fs::write(b.dir.join("sock"), "activated\n").unwrap();
    let out = tong_with_fd3(
        &b,
        &b.dir.join("sock"),
        // `exec` keeps the shell's pid: LISTEN_PID names tong itself.
        "LISTEN_FDS=1 LISTEN_PID=$$",
        &format!("run --bundle {} {}", b.dir.display(), b.id),
    );
    assert_eq!(stdout(&out), "1 1\nactivated\n", "{}", stderr(&out));
}

#[test]
fn exec_joins_a_user_namespace_container() {
    let b = Bundle::new("execuserns", "sleep 1000");
    b.with_userns(200000);
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state()["pid"].as_i64().unwrap();
    let out = b.tong(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/user; readlink /proc/self/ns/mnt; head -1 /proc/self/uid_map",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "{text}");
    for (i, n) in ["user", "mnt"].iter().enumerate() {
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
        assert_eq!(lines[i + 1], init.to_str().unwrap(), "{text}");
    }
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"],
        "{text}"
    );
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}
