//! What only a modern host can prove: cgroup v2 alone (no v1 hierarchy) and
//! AppArmor in the kernel, as on Debian 12, Ubuntu 22.04+ and every kubeadm
//! node. `hack/vm/test.sh` runs these in a VM that has both.
//!
//! On a host without them each test reports `SKIP <test>: <reason>`
//! (`common::skip`). In the VM nothing here may skip but `v2_rdma_limit`:
//! `hack/vm/test.sh` fails the run on any other skip of this file.

mod common;
use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

macro_rules! require_v2 {
    () => {
        if let Some(why) = host_lacks("cgroups") {
            return skip(why);
        }
    };
}

macro_rules! require_apparmor {
    () => {
        if let Some(why) = host_lacks("apparmor").or_else(|| host_lacks("apparmor-parser")) {
            return skip(why);
        }
    };
}

/// The container's cgroup directory on the v2-only host.
fn cg(b: &Bundle) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(CGROUP_PARENT).join(&b.id)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_owned()
}

fn run_detached(b: &Bundle) {
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
}

fn init_pid(b: &Bundle) -> i64 {
    b.state()["pid"].as_i64().expect("pid in state")
}

/// `major:minor` of the disk holding `/` (the VM's virtio disk), for io.max
/// and the device filter; None when `/` is not directly on a whole disk.
fn a_block_device() -> Option<(u64, u64)> {
    let dev = nix::sys::stat::stat("/").ok()?.st_dev;
    let (ma, mi) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let sys = PathBuf::from(format!("/sys/dev/block/{ma}:{mi}"));
    // A whole disk has no "partition" file.
    (sys.exists() && !sys.join("partition").exists()).then_some((ma, mi))
}

#[test]
fn v2_resources_land_in_the_files() {
    require_v2!();
    let b = Bundle::new("v2files", "sleep 1000");
    let mut res = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 500},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.min": "8388608", "memory.high": "50331648", "memory.oom.group": "1"}
    });
    let dev = a_block_device();
    if let Some((ma, mi)) = dev {
        res["blockIO"]["throttleReadBpsDevice"] =
            json!([{"major": ma, "minor": mi, "rate": 1048576}]);
    }
    b.edit(|c| c["linux"]["resources"] = res);
    run_detached(&b);
    let d = cg(&b);
    // The init was born in its cgroup (CLONE_INTO_CGROUP), not moved there.
    let pid = init_pid(&b);
    assert_eq!(
        read(&PathBuf::from(format!("/proc/{pid}/cgroup"))),
        format!("0::/{CGROUP_PARENT}/{}", b.id)
    );
    let expect = [
        ("memory.max", "67108864"),
        ("memory.low", "33554432"),
        // v1 swap is memory+swap; v2's memory.swap.max is the swap alone.
        ("memory.swap.max", "33554432"),
        ("memory.min", "8388608"),
        ("memory.high", "50331648"),
        ("memory.oom.group", "1"),
        // runc's conversions: shares 512 -> weight 20; blkio 500 -> io 4950.
        ("cpu.weight", "20"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0"),
        ("cpuset.mems", "0"),
        ("pids.max", "42"),
        ("io.weight", "default 4950"),
        ("hugetlb.2MB.max", "4194304"),
    ];
    for (file, want) in expect {
        assert_eq!(read(&d.join(file)), want, "{file}");
    }
    if let Some((ma, mi)) = dev {
        let io_max = read(&d.join("io.max"));
        assert!(
            io_max.contains(&format!("{ma}:{mi} rbps=1048576")),
            "io.max: {io_max}"
        );
    }

    // update: flags, then a LinuxResources JSON on stdin.
    let out = b.tong(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "7",
        "--cpu-quota",
        "20000",
        &b.id,
    ]);
    assert!(out.status.success(), "update: {}", stderr(&out));
    assert_eq!(read(&d.join("memory.max")), "134217728");
    assert_eq!(read(&d.join("memory.swap.max")), "134217728");
    assert_eq!(read(&d.join("pids.max")), "7");
    assert_eq!(read(&d.join("cpu.max")), "20000 100000");
    let mut child = b
        .cmd(&["update", "-r", "-", &b.id])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 9}, "unified": {"memory.high": "max"}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "update -r -: {}", stderr(&out));
    assert_eq!(read(&d.join("pids.max")), "9");
    assert_eq!(read(&d.join("memory.high")), "max");

    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

/// runc's -1 for "unlimited" on `update`, in v2's words: "max".
#[test]
fn v2_update_takes_minus_one_for_unlimited() {
    require_v2!();
    let b = Bundle::new("v2upd-1", "sleep 1000");
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "swap": 134217728},
            "cpu": {"quota": 50000, "period": 100000},
            "pids": {"limit": 42}
        });
    });
    run_detached(&b);
    let out = b.tong(&["update", "--cpu-quota", "-1", "--pids-limit", "-1", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read(&cg(&b).join("cpu.max")), "max 100000");
    assert_eq!(read(&cg(&b).join("pids.max")), "max");
    let out = b.tong(&["update", "--memory", "-1", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read(&cg(&b).join("memory.max")), "max");
    if cg(&b).join("memory.swap.max").exists() {
        assert_eq!(read(&cg(&b).join("memory.swap.max")), "max");
    }
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn v2_cpu_idle() {
    require_v2!();
    if let Some(why) = host_lacks("cpu-idle") {
        return skip(why); // Linux 5.15 added it: Debian 11's 5.10 has none
    }
    let b = Bundle::new("v2idle", "sleep 1000");
    b.edit(|c| c["linux"]["resources"] = json!({"cpu": {"idle": 1}}));
    run_detached(&b);
    assert_eq!(read(&cg(&b).join("cpu.idle")), "1");
}

#[test]
fn v2_rdma_limit() {
    require_v2!();
    if let Some(why) = host_lacks("rdma-devices") {
        // The VM has no RDMA hardware either: hack/vm/test.sh lets this one skip.
        return skip(why);
    }
    let name = std::fs::read_dir("/sys/class/infiniband")
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let b = Bundle::new("v2rdma", "sleep 1000");
    b.edit(|c| {
        c["linux"]["resources"] =
            json!({"rdma": {name.clone(): {"hcaHandles": 3, "hcaObjects": 100}}})
    });
    run_detached(&b);
    let max = read(&cg(&b).join("rdma.max"));
    assert!(
        max.contains(&format!("{name} hca_handle=3 hca_object=100")),
        "{max}"
    );
}

#[test]
fn v2_device_filter_allows_and_denies() {
    require_v2!();
    let (ma, mi) = a_block_device().expect("a block device");
    // /dev/fuse (c 10:229) is bound in but not allowed: no capability check
    // guards opening it, so only the eBPF device program can refuse it. The
    // disk's node can be made (runc's default rules allow mknod of any
    // device) but not opened unless a rule allows it.
    let script = format!(
        "(: </dev/fuse) 2>/dev/null && echo fuse-open || echo fuse-denied; \
         head -c1 /dev/zero | wc -c; \
         mknod /dev/disk b {ma} {mi} && echo mknod-ok || echo mknod-denied; \
         head -c1 /dev/disk >/dev/null 2>&1 && echo disk-open || echo disk-denied"
    );
    let with_mknod = |c: &mut serde_json::Value| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/dev/fuse", "type": "bind", "source": "/dev/fuse", "options": ["bind"]}));
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_MKNOD".into());
        }
    };
    let b = Bundle::new("v2devdeny", &script);
    b.edit(with_mknod);
    assert_eq!(b.run_ok(), "fuse-denied\n1\nmknod-ok\ndisk-denied\n");
    let b = Bundle::new("v2devallow", &script);
    b.edit(|c| {
        with_mknod(c);
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .extend([
                json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}),
                json!({"allow": true, "type": "b", "major": ma, "minor": mi, "access": "r"}),
            ]);
    });
    assert_eq!(b.run_ok(), "fuse-open\n1\nmknod-ok\ndisk-open\n");
}

#[test]
fn v2_freezer_pauses_and_resumes() {
    require_v2!();
    let b = Bundle::new("v2pause", "while true; do echo tick; sleep 0.1; done");
    let mut run = b
        .cmd(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = run.stdout.take().unwrap();
    assert!(run.wait().unwrap().success());
    let mut buf = [0u8; 4096];
    assert!(pipe.read(&mut buf).unwrap() > 0, "the counter runs");
    let d = cg(&b);
    assert!(b.tong(&["pause", &b.id]).status.success());
    assert_eq!(b.status(), "paused");
    assert_eq!(read(&d.join("cgroup.freeze")), "1");
    assert!(
        read(&d.join("cgroup.events")).contains("frozen 1"),
        "cgroup.events: {}",
        read(&d.join("cgroup.events"))
    );
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    while pipe.read(&mut buf).is_ok() {}
    std::thread::sleep(std::time::Duration::from_millis(500));
    let e = pipe.read(&mut buf).unwrap_err();
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::WouldBlock,
        "a frozen container wrote output"
    );
    assert!(b.tong(&["resume", &b.id]).status.success());
    assert_eq!(b.status(), "running");
    assert_eq!(read(&d.join("cgroup.freeze")), "0");
    assert!(read(&d.join("cgroup.events")).contains("frozen 0"));
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .unwrap();
    assert!(pipe.read(&mut buf).unwrap() > 0, "resumed, it writes again");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}

#[test]
fn v2_events_stats_and_oom_through_memory_events() {
    require_v2!();
    let b = Bundle::new(
        "v2events",
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
    run_detached(&b);
    let d = cg(&b);
    assert_eq!(read(&d.join("memory.swap.max")), "0");

    let out = b.tong(&["events", "--stats", &b.id]);
    assert!(out.status.success(), "events --stats: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["data"]["pids"]["limit"], 9);
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 16777216, "{v}");
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(
        v["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
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
    std::fs::OpenOptions::new()
        .write(true)
        .open(b.rootfs().join("tmp/go"))
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let oom: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(oom, json!({"type": "oom", "id": b.id}));
    // The kernel's own count agrees.
    let me = read(&d.join("memory.events"));
    let kills: u64 = me
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "memory.events: {me}");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    assert!(
        events.wait().unwrap().success(),
        "events ends with the container"
    );
    b.assert_nothing_left();
}

#[test]
fn v2_nested_cgroups_path() {
    require_v2!();
    let b = Bundle::new("v2nested", "sleep 1000");
    let rel = format!("{CGROUP_PARENT}/{}/a/b", b.id);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/{rel}").into();
        c["linux"]["resources"] = json!({"pids": {"limit": 21}, "memory": {"limit": 33554432}});
    });
    run_detached(&b);
    let d = Path::new("/sys/fs/cgroup").join(&rel);
    let pid = init_pid(&b);
    assert_eq!(read(&d.join("cgroup.procs")), pid.to_string());
    assert_eq!(
        read(&PathBuf::from(format!("/proc/{pid}/cgroup"))),
        format!("0::/{rel}")
    );
    // The controllers reach the leaf through every level's subtree_control.
    assert_eq!(read(&d.join("pids.max")), "21");
    assert_eq!(read(&d.join("memory.max")), "33554432");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    assert!(!d.exists(), "leaf cgroup left behind");
    // The intermediate levels are ours to remove (runc leaves them too).
    let _ = std::fs::remove_dir(d.parent().unwrap());
    let _ = std::fs::remove_dir(cg(&b));
}

/// runc enables every available controller down to the container's cgroup,
/// so a container started without limits still has memory and pids stats,
/// and `update` can set a first limit later (what `docker update` and
/// `podman stats` rely on).
#[test]
fn v2_controllers_without_limits_for_stats_and_update() {
    require_v2!();
    let b = Bundle::new("v2nolimits", "sleep 1000");
    // A parent of its own: no other test's limits may enable controllers for it.
    let parent =
        Path::new("/sys/fs/cgroup").join(format!("tong-test-nolimits-{}", std::process::id()));
    let d = parent.join(&b.id);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] =
            format!("/{}", d.strip_prefix("/sys/fs/cgroup").unwrap().display()).into();
        c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    struct Cleanup(Bundle, PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.0.tong(&["delete", "--force", &self.0.id]);
            let _ = std::fs::remove_dir(&self.1);
        }
    }
    let b = Cleanup(b, parent);
    let b = &b.0;
    run_detached(b);
    let ctl = read(&d.join("cgroup.controllers"));
    for c in ["cpu", "memory", "pids"] {
        assert!(
            ctl.split(' ').any(|x| x == c),
            "{c} not enabled for the container: cgroup.controllers = {ctl:?}"
        );
    }
    let out = b.tong(&["events", "--stats", &b.id]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
    let out = b.tong(&["update", "--memory", "64m", "--pids-limit", "11", &b.id]);
    assert!(out.status.success(), "update: {}", stderr(&out));
    assert_eq!(read(&d.join("memory.max")), "67108864");
    assert_eq!(read(&d.join("pids.max")), "11");
}

#[test]
fn v2_exec_into_sub_cgroup() {
    require_v2!();
    let b = Bundle::new("v2execsub", "echo ready; sleep 1000");
    let (_child, _lines) = run_until_ready(&b);
    std::fs::create_dir(cg(&b).join("sub")).unwrap();
    // On v2 there is one hierarchy: a bare path, seen from the container's
    // cgroup namespace.
    let out = b.tong(&["exec", "--cgroup", "sub", &b.id, "cat", "/proc/self/cgroup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0::/sub\n");
    let out = b.tong(&["exec", "--cgroup", "../escape", &b.id, "true"]);
    assert!(!out.status.success(), "an escaping --cgroup was accepted");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
}

/// Issue 19: on v2 an exec'd process is born in the container's cgroup
/// (CLONE_INTO_CGROUP, cgroup namespace joined after the clone) instead of
/// being moved there by a `cgroup.procs` write, which waits for an RCU
/// grace period; it still sees itself at its cgroup namespace's root.
#[test]
fn v2_exec_is_born_in_its_cgroup() {
    require_v2!();
    let b = Bundle::new("v2execborn", "echo ready; sleep 1000");
    let (_child, _lines) = run_until_ready(&b);
    let out = b.tong(&["--debug", "exec", &b.id, "cat", "/proc/self/cgroup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0::/\n");
    assert!(
        stderr(&out).contains("exec process cloned straight into its cgroup v2"),
        "exec was moved into its cgroup by a cgroup.procs write: {}",
        stderr(&out)
    );
    let out = b.tong(&["exec", "--cgroup", "sub2", &b.id, "true"]);
    assert!(
        !out.status.success(),
        "a missing --cgroup sub-cgroup was accepted"
    );
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
}

#[test]
fn v2_cgroup_namespace_shows_the_container_at_the_root() {
    require_v2!();
    let b = Bundle::new(
        "v2cgns",
        "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/mounts; cat /sys/fs/cgroup/pids.max",
    );
    b.edit(|c| c["linux"]["resources"] = json!({"pids": {"limit": 33}}));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0::/", "{out}");
    assert!(lines[1].contains(" cgroup2 "), "{out}");
    // Its own cgroup's files are the root's.
    assert_eq!(lines[2], "33", "{out}");
}

#[test]
fn v2_without_cgroup_namespace_binds_own_cgroup_read_only() {
    require_v2!();
    let b = Bundle::new(
        "v2nocgns",
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max; touch /sys/fs/cgroup/x 2>&1 || true",
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
        c["linux"]["resources"] = json!({"pids": {"limit": 34}});
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev"]);
            }
        }
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("0::/{CGROUP_PARENT}/{}", b.id), "{out}");
    assert_eq!(lines[1], "34", "{out}");
    assert!(lines[2].contains("Read-only file system"), "{out}");
}

/// An AppArmor profile loaded for one test and removed after it.
struct Profile(String);

impl Profile {
    /// Everything allowed but writes to /tmp/denied (a path inside the container).
    fn load(name: &str) -> Profile {
        let text = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  pivot_root,\n  deny /tmp/denied w,\n}}\n"
        );
        let mut p = Command::new("apparmor_parser")
            .arg("-r")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apparmor_parser");
        p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "apparmor_parser: {}", stderr(&out));
        Profile(name.to_owned())
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let text = format!("profile {} {{}}\n", self.0);
        if let Ok(mut p) = Command::new("apparmor_parser")
            .arg("-R")
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            if let Some(mut i) = p.stdin.take() {
                let _ = i.write_all(text.as_bytes());
            }
            let _ = p.wait();
        }
    }
}

#[test]
fn apparmor_profile_confines_init_and_exec() {
    require_apparmor!();
    let name = format!("tong-test-{}", std::process::id());
    let _p = Profile::load(&name);
    let b = Bundle::new(
        "aaprof",
        "cat /proc/self/attr/current; echo x > /tmp/allowed && echo allowed-ok; \
         echo x > /tmp/denied 2>/dev/null && echo denied-written || echo denied-refused; \
         echo ready; sleep 1000",
    );
    b.edit(|c| {
        c["process"]["apparmorProfile"] = name.clone().into();
        c["root"]["readonly"] = false.into();
    });
    let (_child, mut lines) = {
        // run_until_ready wants "ready" first: read our lines before it.
        let mut child = b
            .cmd(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, lines)
    };
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!(next().trim_end_matches('\0'), format!("{name} (enforce)"));
    assert_eq!(next(), "allowed-ok");
    assert_eq!(
        next(),
        "denied-refused",
        "the profile's deny rule did not hold"
    );
    assert_eq!(next(), "ready");
    // exec gets the container's profile…
    let out = b.tong(&["exec", &b.id, "cat", "/proc/self/attr/current"]);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    assert_eq!(
        stdout(&out).trim_end_matches('\0').trim(),
        format!("{name} (enforce)")
    );
    let out = b.tong(&["exec", &b.id, "sh", "-c", "echo y > /tmp/denied"]);
    assert!(!out.status.success(), "exec wrote what the profile denies");
    // … or the one --apparmor names.
    let out = b.tong(&[
        "exec",
        "--apparmor",
        "unconfined",
        &b.id,
        "cat",
        "/proc/self/attr/current",
    ]);
    assert!(out.status.success(), "exec --apparmor: {}", stderr(&out));
    assert_eq!(stdout(&out).trim_end_matches('\0').trim(), "unconfined");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
}

#[test]
fn apparmor_exec_flag_confines_an_unconfined_container() {
    require_apparmor!();
    let name = format!("tong-test-exec-{}", std::process::id());
    let _p = Profile::load(&name);
    let b = Bundle::new("aaexec", "echo ready; sleep 1000");
    b.edit(|c| c["root"]["readonly"] = false.into());
    let (_child, _lines) = run_until_ready(&b);
    let out = b.tong(&["exec", &b.id, "cat", "/proc/self/attr/current"]);
    assert_eq!(stdout(&out).trim_end_matches('\0').trim(), "unconfined");
    let out = b.tong(&[
        "exec",
        "--apparmor",
        &name,
        &b.id,
        "sh",
        "-c",
        "cat /proc/self/attr/current; echo x > /tmp/denied 2>/dev/null && echo written || echo refused",
    ]);
    assert!(out.status.success(), "exec --apparmor: {}", stderr(&out));
    let text = stdout(&out).replace('\0', "");
    assert_eq!(text, format!("{name} (enforce)\nrefused\n"));
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
}

#[test]
fn apparmor_unknown_profile_is_a_clear_error() {
    require_apparmor!();
    let b = Bundle::new("aaunknown", "true");
    b.edit(|c| c["process"]["apparmorProfile"] = "tong-no-such-profile".into());
    let out = b.create();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("tong-no-such-profile")
            && e.contains("/process/apparmorProfile")
            && !e.contains("not enabled"),
        "{e}"
    );
    b.assert_nothing_left();
}
