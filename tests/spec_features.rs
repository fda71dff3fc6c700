//! runtime-spec 1.2/1.3 fields (issue 18), each checked from inside the
//! container or from /proc of its process. A test this host cannot run says
//! so through `common::skip`.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

fn created(b: &Bundle) -> i32 {
    let out = b.create();
    assert!(out.status.success(), "create: {}", stderr(&out));
    b.state()["pid"].as_i64().unwrap() as i32
}

/// `policy` and `prio` lines of /proc/<pid>/sched.
fn sched_of(pid: i32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/sched")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("policy"), field("prio"))
}

#[test]
fn scheduler_policy_nice_and_spec_flag_names() {
    let b = Bundle::new("sched", "true");
    b.edit(|c| {
        c["process"]["scheduler"] =
            json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
    });
    let pid = created(&b);
    // SCHED_BATCH is 3; static priority 120 + nice.
    assert_eq!(sched_of(pid), ("3".to_string(), "127".to_string()));
}

#[test]
fn scheduler_deadline() {
    // Admission control (or a kernel without SCHED_DEADLINE) may say no:
    // `tong check` asks the kernel with the same parameters.
    if let Some(why) = host_lacks("sched-deadline") {
        return skip(why);
    }
    let b = Bundle::new("schedddl", "true");
    b.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
            "runtime": 1_000_000, "deadline": 10_000_000, "period": 10_000_000})
    });
    let out = b.create();
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state()["pid"].as_i64().unwrap() as i32;
    assert_eq!(sched_of(pid).0, "6");
}

#[test]
fn scheduler_errors_name_the_field() {
    let b = Bundle::new("schedbad", "true");
    b.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"}));
    let out = b.create();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/process/scheduler/policy"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn io_priority_via_ioprio_get() {
    let b = Bundle::new("ioprio", "true");
    b.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}));
    let pid = created(&b);
    let got = tong::linux::sys::ioprio_get(nix::unistd::Pid::from_raw(pid)).unwrap();
    assert_eq!(got >> 13, 3, "ioprio class of {pid}: {got:#x}");
    let b2 = Bundle::new("ioprio-bad", "true");
    b2.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9}));
    let out = b2.create();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/process/ioPriority/priority"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn memory_policy_seen_in_numa_maps() {
    if let Some(why) = host_lacks("numa") {
        return skip(why);
    }
    let b = Bundle::new("mempol", "grep -c bind:0 /proc/self/numa_maps");
    b.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}));
    let n: u32 = b.run_ok().trim().parse().unwrap();
    assert!(n > 0, "no mapping of the process has the bind:0 policy");
}

fn running(name: &str) -> Bundle {
    let b = Bundle::new(name, "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b
}

fn exec_process(b: &Bundle, name: &str, process: serde_json::Value) -> std::process::Output {
    let f = b.dir.join(name);
    std::fs::write(&f, process.to_string()).unwrap();
    b.tong(&["exec", "--process", f.to_str().unwrap(), &b.id])
}

fn cpus_process(affinity: serde_json::Value) -> serde_json::Value {
    json!({"args": ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"], "cwd": "/",
           "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"], "execCPUAffinity": affinity})
}

#[test]
fn exec_cpu_affinity_final() {
    if let Some(why) = host_lacks("cpus") {
        return skip(why);
    }
    let b = running("affinity");
    let out = exec_process(&b, "p.json", cpus_process(json!({"final": "1"})));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().ends_with("\t1"), "{}", stdout(&out));
}

#[test]
fn exec_cpu_affinity_initial_is_applied_before_the_cgroup() {
    let b = running("affinity-init");
    // The kernel refuses a CPU set with no online CPU: proof that initial is set.
    let out = exec_process(&b, "p.json", cpus_process(json!({"initial": "1000"})));
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("/execCPUAffinity/initial"),
        "{}",
        stderr(&out)
    );
    if let Some(why) = host_lacks("cpus") {
        return skip(why);
    }
    // A container confined to CPU 0 still starts a process whose initial CPU is 1.
    let c = Bundle::new("affinity-cpuset", "sleep 1000");
    c.edit(|v| v["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"}));
    let out = c.tong(&["run", "-d", "--bundle", c.dir.to_str().unwrap(), &c.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = exec_process(&c, "p.json", cpus_process(json!({"initial": "1"})));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().ends_with("\t0"), "{}", stdout(&out));
}

/// The init of a container limited to CPU 0 runs on CPU 0 alone: born
/// into its cgroup v2 (CLONE_INTO_CGROUP), it kept the runtime's CPUs on
/// kernels before 6.3 (Debian 11's 5.10), whose cpuset_fork ignores the
/// flag; runc, joining through cgroup.procs, got CPU 0.
#[test]
fn init_runs_on_its_cpuset_cpus() {
    if let Some(why) = host_lacks("cpus") {
        return skip(why);
    }
    let b = Bundle::new("cpuset-init", "grep Cpus_allowed_list /proc/self/status");
    b.edit(|v| v["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"}));
    let out = b.run_ok();
    assert!(out.trim().ends_with("\t0"), "{out}");
}

#[test]
fn new_network_namespace_has_loopback_up() {
    let b = Bundle::new("lo", "ip addr show lo");
    let text = b.run_ok();
    assert!(text.contains("127.0.0.1/8"), "{text}");
    assert!(text.contains(",UP") || text.contains("<UP"), "{text}");
}

#[test]
fn unknown_capability_is_a_warning() {
    let b = Bundle::new("capwarn", "true");
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push("CAP_NO_SUCH_THING".into())
    });
    let (out, log) = b.run_logged(&[], "log.json");
    assert!(out.status.success(), "{}", stderr(&out));
    let warned = log_entries(&log).iter().any(|e| {
        e["level"] == "warning"
            && e["msg"]
                .as_str()
                .unwrap_or("")
                .contains("CAP_NO_SUCH_THING")
    });
    assert!(
        warned,
        "no warning in {}",
        std::fs::read_to_string(&log).unwrap()
    );
}

fn chown(p: &Path, id: u32) {
    std::os::unix::fs::chown(p, Some(id), Some(id)).unwrap();
}

fn uid_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().uid()
}

#[test]
fn idmapped_mount_without_userns() {
    if let Some(why) = host_lacks("idmapped-mounts") {
        return skip(why);
    }
    let b = Bundle::new(
        "idmap",
        "stat -c %u /vol/owned; touch /vol/made; stat -c %u /vol/made",
    );
    let vol = b.dir.join("vol");
    std::fs::create_dir(&vol).unwrap();
    chown(&vol, 1234);
    std::fs::write(vol.join("owned"), "x").unwrap();
    chown(&vol.join("owned"), 1234);
    let map = json!([{"containerID": 1234, "hostID": 0, "size": 1}]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": vol,
            "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map}))
    });
    // Stored as 1234, seen as 0 inside; made by root inside, stored as 1234.
    assert_eq!(b.run_ok(), "0\n0\n");
    assert_eq!(uid_of(&vol.join("made")), 1234);
}

#[test]
fn idmapped_mount_takes_the_container_userns_mapping() {
    if let Some(why) = host_lacks("idmapped-mounts") {
        return skip(why);
    }
    let b = Bundle::new("idmapns", "stat -c %u /vol/owned; touch /vol/made");
    b.with_userns(100000);
    std::fs::create_dir(b.rootfs().join("vol")).unwrap();
    let vol = b.dir.join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("owned"), "x").unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "idmap"]}))
    });
    // Without the idmap, root's file would be nobody (65534) in the userns.
    assert_eq!(b.run_ok(), "0\n");
    assert_eq!(uid_of(&vol.join("made")), 0);
}

#[test]
fn ridmap_maps_submounts_idmap_does_not() {
    if let Some(why) = host_lacks("idmapped-mounts") {
        return skip(why);
    }
    let b = Bundle::new("ridmap", "stat -c %u /r/sub/f /i/sub/f");
    let vol = b.dir.join("vol");
    let sub = vol.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    // A submount of the source, made on the host under our temp dir (one
    // in a private mount namespace would not be seen by tong): a bind of a
    // directory of the same filesystem, which every kernel with idmapped
    // mounts can map (tmpfs only from 6.3 on: Debian 12's 6.1 refuses it).
    let other = b.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let st = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&other)
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Umount(&sub);
    std::fs::write(sub.join("f"), "x").unwrap();
    chown(&sub.join("f"), 1234);
    let map = json!([{"containerID": 1234, "hostID": 0, "size": 1}]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (dest, opt) in [("/r", "ridmap"), ("/i", "idmap")] {
            m.push(json!({"destination": dest, "type": "bind", "source": vol,
                "options": ["rbind", opt], "uidMappings": map, "gidMappings": map}));
        }
    });
    // The submount through ridmap is mapped (0); through idmap it is not,
    // and its 1234 has no mapping on the top mount's terms: shown as is.
    assert_eq!(b.run_ok(), "0\n1234\n");
}

/// On a kernel without mount_setattr(2) (Linux 5.10, the Debian 11 guest;
/// elsewhere a seccomp filter answering ENOSYS for it) a mount asking for
/// an idmap or a recursive attribute is refused by create, naming its field
/// and the missing call, and nothing is left behind.
#[test]
fn mount_setattr_options_are_refused_where_the_kernel_lacks_it() {
    require_root();
    let hide = host_lacks("syscall.mount_api").is_none();
    let map = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    for (opts, maps, field, what) in [
        (
            &["rbind", "rro"][..],
            false,
            "/mounts/",
            "option \"rro\": a recursive mount attribute",
        ),
        (
            &["bind", "rnoexec"],
            false,
            "/mounts/",
            "option \"rnoexec\": a recursive mount attribute",
        ),
        (
            &["bind", "idmap"],
            true,
            "/mounts/",
            "option \"idmap\": an idmapped mount",
        ),
        (
            &["rbind", "ridmap"],
            true,
            "/mounts/",
            "option \"ridmap\": an idmapped mount",
        ),
        (&["bind"], true, "/uidMappings", "an idmapped mount"),
    ] {
        let b = Bundle::new("nosetattr", "true");
        let vol = b.dir.join("vol");
        std::fs::create_dir(&vol).unwrap();
        b.edit(|c| {
            let mut m =
                json!({"destination": "/vol", "type": "bind", "source": vol, "options": opts});
            if maps {
                m["uidMappings"] = map.clone();
                m["gidMappings"] = map.clone();
            }
            c["mounts"].as_array_mut().unwrap().push(m)
        });
        let mut cmd = b.cmd(&["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
        if hide {
            without_syscalls(&mut cmd, &[libc::SYS_mount_setattr]);
        }
        let out = b.output(cmd);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{opts:?}: {e}");
        assert!(
            e.contains(field)
                && e.contains(what)
                && e.contains("needs mount_setattr(2) (Linux 5.12)"),
            "{opts:?}: {e}"
        );
        b.assert_nothing_left();
    }
}

#[test]
fn idmap_without_any_mapping_is_an_error() {
    let b = Bundle::new("idmapbad", "true");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}))
    });
    let out = b.create();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("/options") && e.contains("user namespace"),
        "{e}"
    );
}

#[test]
fn pidfd_socket_receives_a_usable_pidfd() {
    let b = Bundle::new("pidfd", "sleep 1000");
    let path = b.dir.join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let out = b.tong(&[
        "create",
        "--pidfd-socket",
        path.to_str().unwrap(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (n, fd) =
        tong::linux::sys::recv_with_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf).unwrap();
    assert_eq!(&buf[..n], b"pidfd");
    let fd = fd.expect("a pidfd came with the message");
    let pid = b.state()["pid"].as_i64().unwrap();
    let info = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .unwrap();
    assert!(info.contains(&format!("Pid:\t{pid}\n")), "{info}");
    tong::linux::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&fd), libc::SIGKILL).unwrap();
    tong::process::wait_exit(std::os::fd::AsFd::as_fd(&fd));
}

#[test]
fn intel_rdt_without_resctrl_is_refused() {
    if let Some(why) = host_has("intel-rdt", "the refusal is for hosts without resctrl") {
        return skip(why);
    }
    let b = Bundle::new("rdt", "true");
    b.edit(|c| c["linux"]["intelRdt"] = json!({"closID": "guaranteed", "l3CacheSchema": "L3:0=f"}));
    let out = b.create();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("/linux/intelRdt") && e.contains("resctrl"),
        "{e}"
    );
}

#[test]
fn net_devices_are_moved_renamed_addressed_and_up() {
    let b = Bundle::new("netdev", "ip addr show ctr0");
    b.edit(|c| c["linux"]["netDevices"] = json!({"tv0": {"name": "ctr0"}}));
    let out = in_private_netns(
        &b,
        "ip link add tv0 type veth peer name tv1
         ip addr add 10.99.0.1/24 dev tv0
         ip link set tv1 up
         $TONG --root $ROOT run --bundle $BUNDLE $ID
         ! ip link show tv0 2>/dev/null",
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ctr0"), "{text}");
    assert!(text.contains("inet 10.99.0.1/24"), "{text}");
    assert!(text.contains(",UP") || text.contains("<UP"), "{text}");
}

#[test]
fn net_device_name_taken_is_an_error_unless_templated() {
    let b = Bundle::new("netdev-lo", "ip -o link show | grep -c eth");
    b.edit(|c| c["linux"]["netDevices"] = json!({"tv0": {"name": "lo"}}));
    let out = in_private_netns(
        &b,
        "ip link add tv0 type veth peer name tv1
         $TONG --root $ROOT run --bundle $BUNDLE $ID",
    );
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("already exists") && e.contains("/linux/netDevices/tv0"),
        "{e}"
    );
    b.edit(|c| c["linux"]["netDevices"] = json!({"tv0": {"name": "eth%d"}}));
    let out = in_private_netns(
        &b,
        "ip link add tv0 type veth peer name tv1
         $TONG --root $ROOT run --bundle $BUNDLE $ID",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1");
}

/// `linux.resources.memory.checkBeforeUpdate`: an update whose memory limit
/// is below what the container uses is refused, and the limit stays.
#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    let b = Bundle::new("checkbefore", "echo ready; sleep 1000");
    let (mut child, _lines) = run_until_ready(&b);
    let patch = b.dir.join("resources.json");
    std::fs::write(
        &patch,
        r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#,
    )
    .unwrap();
    let refused = b.tong(&["update", "-r", patch.to_str().unwrap(), &b.id]);
    std::fs::write(
        &patch,
        r#"{"memory": {"limit": 268435456, "checkBeforeUpdate": true}}"#,
    )
    .unwrap();
    let accepted = b.tong(&["update", "-r", patch.to_str().unwrap(), &b.id]);
    let _ = b.tong(&["kill", &b.id, "KILL"]);
    let _ = child.wait();
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("below the container's current usage"),
        "{}",
        stderr(&refused)
    );
    assert!(accepted.status.success(), "{}", stderr(&accepted));
}
