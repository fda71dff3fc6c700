//! The container's environment, checked from inside a real container.

mod common;
use common::*;
use serde_json::json;

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn namespaces_differ_from_host() {
    let b = Bundle::new(
        "ns",
        "for n in pid net ipc uts mnt cgroup user; do echo $n $(readlink /proc/self/ns/$n); done",
    );
    let out = b.run_ok();
    for line in out.lines() {
        let (kind, link) = line.split_once(' ').unwrap();
        if kind == "user" {
            // No user namespace asked for: the host's is shared.
            assert_eq!(link, host_ns(kind));
        } else {
            assert_ne!(link, host_ns(kind), "{kind} namespace is the host's");
        }
    }
    assert_eq!(out.lines().count(), 7, "{out}");
}

#[test]
fn init_is_pid_1_and_hostname_set() {
    let b = Bundle::new("uts", "echo $$; hostname; cat /proc/sys/kernel/domainname");
    b.edit(|c| {
        c["hostname"] = "box".into();
        c["domainname"] = "example.org".into();
    });
    assert_eq!(b.run_ok(), "1\nbox\nexample.org\n");
}

#[test]
fn user_group_umask_env_cwd() {
    let b = Bundle::new("user", "id; umask; echo $FOO; pwd");
    b.edit(|c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [20, 30], "umask": 63});
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["cwd"] = "/tmp/work".into();
    });
    std::fs::create_dir_all(b.rootfs().join("tmp/work")).unwrap();
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "uid=1000 gid=1001 groups=20,30", "{out}");
    assert_eq!(lines[1], "0077");
    assert_eq!(lines[2], "bar baz");
    assert_eq!(lines[3], "/tmp/work");
}

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
        .trim()
        .to_owned()
}

#[test]
fn capabilities_all_five_sets() {
    let b = Bundle::new("caps", "cat /proc/self/status");
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
            "ambient": ["CAP_KILL"]
        });
        c["process"]["noNewPrivileges"] = true.into();
    });
    let out = b.run_ok();
    let bit = |n: u32| 1u64 << n;
    let (chown, kill, net_raw, setuid) = (bit(0), bit(5), bit(13), bit(7));
    let hex = |v: u64| format!("{v:016x}");
    // After execve as root: permitted = (P_inh & F_inh) | (F_perm & bounding) | ambient…
    // for a root process the kernel gives all bounding caps to permitted and
    // effective; what we can assert exactly is bounding, inheritable, ambient.
    assert_eq!(
        status_field(&out, "CapBnd"),
        hex(chown | kill | net_raw | setuid)
    );
    assert_eq!(status_field(&out, "CapInh"), hex(kill | net_raw));
    assert_eq!(status_field(&out, "CapAmb"), hex(kill));
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn capabilities_of_non_root_user() {
    // A non-root user keeps exactly the ambient set across execve.
    let b = Bundle::new("capsuser", "cat /proc/self/status");
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
    });
    let out = b.run_ok();
    let nbs = format!("{:016x}", 1u64 << 10);
    assert_eq!(status_field(&out, "CapEff"), nbs);
    assert_eq!(status_field(&out, "CapPrm"), nbs);
    assert_eq!(status_field(&out, "CapAmb"), nbs);
    assert_eq!(
        status_field(&out, "CapBnd"),
        format!("{:016x}", (1u64 << 5) | (1 << 10) | 1)
    );
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn rlimits_and_oom_score_adj() {
    let b = Bundle::new(
        "rlim",
        "grep -E 'open files|core file' /proc/self/limits; cat /proc/self/oom_score_adj",
    );
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
        ]);
        c["process"]["oomScoreAdj"] = 123.into();
    });
    let out = b.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][..5], ["Max", "core", "file", "size", "0"], "{out}");
    assert_eq!(lines[0][5], "4096", "{out}");
    assert_eq!(
        lines[1][..5],
        ["Max", "open", "files", "1000", "2000"],
        "{out}"
    );
    assert_eq!(lines[2], ["123"]);
}

#[test]
fn sysctls_land_in_the_containers_namespaces() {
    let b = Bundle::new(
        "sysctl",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
    );
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
        // The default spec makes /proc/sys read-only after the sysctls are written.
    });
    assert_eq!(b.run_ok(), "1\n1234\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    assert_ne!(host.trim(), "1234");
}

fn mount_line<'a>(mounts: &'a str, dest: &str) -> Vec<&'a str> {
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .rfind(|f| f[1] == dest)
        .unwrap_or_else(|| panic!("no mount at {dest}:\n{mounts}"))
}

#[test]
fn mounts_with_flags_data_and_binds() {
    let b = Bundle::new("mounts", "cat /proc/mounts; echo ---; cat /data/hello /etc/hostfile; touch /data/x 2>/dev/null && echo writable; true");
    let host_dir = b.dir.join("hostdata");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello"), "hi from host\n").unwrap();
    std::fs::write(b.dir.join("hostfile"), "file bind\n").unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m", "mode=700"]}));
        m.push(json!({"destination": "/data", "type": "bind", "source": host_dir, "options": ["rbind", "ro", "noexec"]}));
        m.push(json!({"destination": "/etc/hostfile", "type": "bind", "source": "hostfile", "options": ["bind"]}));
    });
    let out = b.run_ok();
    let (mounts, rest) = out.split_once("---\n").unwrap();
    let scratch = mount_line(mounts, "/scratch");
    assert_eq!(scratch[2], "tmpfs");
    let opts: Vec<&str> = scratch[3].split(',').collect();
    for o in ["rw", "nosuid", "nodev", "size=1024k", "mode=700"] {
        assert!(opts.contains(&o), "{o} missing in {scratch:?}");
    }
    let data = mount_line(mounts, "/data");
    let dopts: Vec<&str> = data[3].split(',').collect();
    assert!(
        dopts.contains(&"ro") && dopts.contains(&"noexec"),
        "{data:?}"
    );
    let proc_ = mount_line(mounts, "/proc");
    assert_eq!(proc_[2], "proc");
    let sys = mount_line(mounts, "/sys");
    assert!(sys[3].split(',').any(|o| o == "ro"), "{sys:?}");
    let devpts = mount_line(mounts, "/dev/pts");
    assert!(
        devpts[3].contains("gid=5") && devpts[3].contains("mode=620"),
        "{devpts:?}"
    );
    // The default spec's root.readonly.
    let root = mount_line(mounts, "/");
    assert!(root[3].split(',').any(|o| o == "ro"), "{root:?}");
    assert_eq!(
        rest, "hi from host\nfile bind\n",
        "the ro bind must not be writable"
    );
    // Relative bind sources are relative to the bundle; nothing leaked onto the host.
    assert!(!host_dir.join("x").exists());
}

#[test]
fn cgroup_mount_shows_container_cgroup() {
    if let Some(why) = host_lacks_v1(
        "memory",
        "needs a cgroup v1 memory hierarchy; v2: modern_host v2_cgroup_namespace_shows_the_container_at_the_root",
    ) {
        return skip(why);
    }
    let b = Bundle::new(
        "cgmount",
        "ls /sys/fs/cgroup; cat /proc/self/cgroup; grep ' /sys/fs/cgroup/memory ' /proc/mounts",
    );
    let out = b.run_ok();
    assert!(out.lines().any(|l| l == "memory"), "{out}");
    // With a cgroup namespace the container sees itself at the root.
    assert!(out.lines().any(|l| l.ends_with(":memory:/")), "{out}");
    assert!(out.lines().last().unwrap().contains(" ro,"), "{out}");
}

#[test]
fn masked_and_readonly_paths() {
    let b = Bundle::new(
        "mask",
        "wc -c < /etc/secretfile; stat -c '%t:%T' /etc/secretfile; ls /secret | wc -l; echo 1 > /proc/sys/kernel/domainname && echo wrote || echo ro; cat /secret/file 2>&1 || true",
    );
    std::fs::create_dir_all(b.rootfs().join("secret")).unwrap();
    std::fs::write(b.rootfs().join("secret/file"), "hidden").unwrap();
    std::fs::write(b.rootfs().join("etc/secretfile"), "hidden too").unwrap();
    b.edit(|c| {
        let m = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push("/secret".into());
        m.push("/etc/secretfile".into());
        m.push("/does/not/exist".into());
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], "1:3", "a masked file is /dev/null: {out}");
    assert_eq!(lines[2], "0", "{out}");
    assert_eq!(lines[3], "ro", "{out}");
    assert!(lines[4].contains("No such file"), "{out}");
}

#[test]
fn devices_default_and_configured() {
    let b = Bundle::new(
        "dev",
        "for d in null zero full random urandom tty myfull; do stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done; readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin; head -c 4 /dev/zero | wc -c",
    );
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/myfull", "type": "c", "major": 1, "minor": 7, "fileMode": 0o640, "uid": 5, "gid": 6}]);
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "/dev/null character special file 1:3 666 0:0",
        "{out}"
    );
    assert_eq!(lines[1], "/dev/zero character special file 1:5 666 0:0");
    assert_eq!(lines[2], "/dev/full character special file 1:7 666 0:0");
    assert_eq!(lines[5], "/dev/tty character special file 5:0 666 0:0");
    assert_eq!(lines[6], "/dev/myfull character special file 1:7 640 5:6");
    assert_eq!(
        lines[7..10],
        ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]
    );
    assert_eq!(lines[10].trim(), "4");
}

/// `process.oomScoreAdj` with a new user namespace, as containerd 1.7 sends
/// a `hostUsers: false` pod's sandbox: init, root of that namespace and
/// non-dumpable, could not open its own /proc/self/oom_score_adj (still
/// the host root's), so the pod failed; the runtime writes it now.
#[test]
fn oom_score_adj_with_a_user_namespace() {
    let b = Bundle::new("oomuserns", "cat /proc/self/oom_score_adj; id -u");
    b.with_userns(200000);
    b.edit(|c| c["process"]["oomScoreAdj"] = 502.into());
    let out = b.run_ok();
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["502", "0"],
        "{out}"
    );
    b.assert_nothing_left();
}

#[test]
fn user_namespace_with_mappings() {
    let b = Bundle::new("userns", "cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user; touch /tmp/f && stat -c %u /tmp/f");
    b.with_userns(200000);
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        // sysfs needs a network namespace owned by the user namespace: it is.
    });
    // The container's root is host uid 200000: give it the rootfs's /tmp.
    nix::unistd::chown(
        &b.rootfs().join("tmp"),
        Some(nix::unistd::Uid::from_raw(200000)),
        Some(nix::unistd::Gid::from_raw(200000)),
    )
    .unwrap();
    let out = b.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "200000", "65536"], "{out}");
    assert_eq!(lines[1], ["0", "200000", "65536"]);
    assert_eq!(lines[2], ["0"]);
    assert_ne!(lines[3][0], host_ns("user"));
    assert_eq!(lines[4], ["0"]);
    let meta = std::fs::metadata(b.rootfs().join("tmp/f")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 200000);
}

#[test]
fn join_namespaces_by_path() {
    let a = Bundle::new("joina", "sleep 1000");
    a.edit(|c| c["hostname"] = "shared-host".into());
    let out = a.tong(&["run", "-d", "--bundle", a.dir.to_str().unwrap(), &a.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = a.state()["pid"].as_i64().unwrap();
    let b = Bundle::new(
        "joinb",
        "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    );
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "uts" || n["type"] == "network" {
                n["path"] = format!(
                    "/proc/{pid}/ns/{}",
                    if n["type"] == "uts" { "uts" } else { "net" }
                )
                .into();
            }
        }
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "shared-host");
    let a_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let a_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    assert_eq!(lines[1], a_net.to_str().unwrap());
    assert_eq!(lines[2], a_uts.to_str().unwrap());
}

/// A container joining another's user namespace by path, as containerd 1.7
/// puts a `hostUsers: false` pod's containers into their sandbox's, with a
/// bind mount from a directory only the host's root may enter (containerd's
/// sandbox files, `/etc/hostname` and the like, under its 0700 root): the
/// runtime opens the source while still root on the host, as it does for a
/// new user namespace; init, root of the joined namespace, cannot.
#[test]
fn joined_user_namespace_binds_from_a_root_only_directory() {
    let a = Bundle::new("joinusra", "sleep 1000");
    a.with_userns(200000);
    let out = a.tong(&["run", "-d", "--bundle", a.dir.to_str().unwrap(), &a.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = a.state()["pid"].as_i64().unwrap();
    let b = Bundle::new("joinusrb", "cat /data/f; id -u; cat /proc/self/uid_map");
    let private = b.dir.join("private");
    std::fs::create_dir_all(private.join("d")).unwrap();
    std::fs::write(private.join("d/f"), "sandbox file\n").unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::create_dir_all(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": private.join("d").to_str().unwrap(), "options": ["rbind", "ro"]}));
    });
    let out = b.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["sandbox", "file"], "{out}");
    assert_eq!(lines[1], ["0"], "{out}");
    assert_eq!(lines[2], ["0", "200000", "65536"], "{out}");
    b.assert_nothing_left();
}

#[test]
fn time_namespace_offsets() {
    let b = Bundle::new(
        "timens",
        "cut -d. -f1 /proc/uptime; readlink /proc/self/ns/time",
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 10000000, "nanosecs": 0}});
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    let up: u64 = lines[0].parse().unwrap();
    assert!(up >= 10000000, "uptime {up} lacks the offset");
    assert_ne!(lines[1], host_ns("time"));
}

#[test]
fn no_pivot_and_writable_root() {
    let b = Bundle::new(
        "nopivot",
        "touch /rootfile && echo ok; cat /proc/self/mountinfo | wc -l",
    );
    b.edit(|c| c["root"]["readonly"] = false.into());
    let out = b.tong(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok\n"));
    assert!(b.rootfs().join("rootfile").exists());
}

#[test]
fn readonly_root_refuses_writes() {
    let b = Bundle::new("roroot", "touch /rootfile 2>&1 || echo refused");
    let out = b.run_ok();
    assert!(
        out.contains("Read-only file system") && out.ends_with("refused\n"),
        "{out}"
    );
    assert!(!b.rootfs().join("rootfile").exists());
}

#[test]
fn rootfs_propagation_private() {
    let b = Bundle::new("prop", r#"awk '$5 == "/"' /proc/self/mountinfo"#);
    b.edit(|c| c["linux"]["rootfsPropagation"] = "private".into());
    let out = b.run_ok();
    assert!(
        !out.contains("shared:") && !out.contains("master:"),
        "{out}"
    );
    let b = Bundle::new("prop2", r#"awk '$5 == "/"' /proc/self/mountinfo"#);
    b.edit(|c| c["linux"]["rootfsPropagation"] = "shared".into());
    let out = b.run_ok();
    assert!(out.contains("shared:"), "{out}");
}

#[test]
fn only_stdio_fds_reach_the_process() {
    let b = Bundle::new("fds", "ls /proc/self/fd");
    // ls itself opens one fd for the directory it lists.
    let out = b.run_ok();
    let fds: Vec<&str> = out.lines().collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{out}");
}

#[test]
fn rootless_as_unprivileged_user() {
    let b = Bundle::new("rootless", "id -u; cat /proc/self/uid_map");
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    let out = std::process::Command::new(TONG)
        .args(["spec", "--rootless", "--bundle"])
        .arg(&b.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    b.edit(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = json!(["sh", "-c", "id -u; cat /proc/self/uid_map"]);
        c["linux"]["uidMappings"][0]["hostID"] = 65534.into();
        c["linux"]["gidMappings"][0]["hostID"] = 65534.into();
    });
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&b.dir)
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            TONG,
            "--root",
        ])
        .arg(b.dir.join("state"))
        .args(["run", "--bundle"])
        .arg(&b.dir)
        .arg(&b.id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{text}");
    assert_eq!(lines[1], ["0", "65534", "1"], "{text}");
    b.assert_nothing_left();
}

#[test]
fn personality_sets_the_execution_domain() {
    let b = Bundle::new("pers32", "uname -m");
    b.edit(|c| c["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"}));
    assert_eq!(b.run_ok(), "i686\n");
    let b = Bundle::new("pers64", "uname -m");
    b.edit(|c| c["linux"]["personality"] = serde_json::json!({"domain": "LINUX"}));
    assert_eq!(b.run_ok(), "x86_64\n");
    let b = Bundle::new("persflags", "true");
    b.edit(|c| {
        c["linux"]["personality"] = serde_json::json!({"domain": "LINUX", "flags": ["NOSUCH"]})
    });
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/linux/personality/flags"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}
