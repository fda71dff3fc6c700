//! runc compatibility (issue 14): each test gives tong the input runc 1.1.5
//! was given and expects what runc does with it.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::AsFd;
use std::process::Stdio;

/// A running container whose init sleeps.
fn running(name: &str) -> Bundle {
    let b = Bundle::new(name, "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    b
}

/// Adds a user 1000 with home /home/u to the rootfs.
fn add_user(b: &Bundle) {
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n",
    )
    .unwrap();
}

/// Reads a pty master until the slave side is gone (EIO).
fn drain(master: &mut std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

#[test]
fn exec_tty_in_the_foreground_proxies_a_pty_owned_by_the_user() {
    let b = running("exectty-fg");
    let pty = nix::pty::openpty(None, None).unwrap();
    tong::linux::sys::set_winsize(pty.slave.as_fd(), 31, 97).unwrap();
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut exec = b
        .cmd(&[
            "exec",
            "-t",
            "-u",
            "1000",
            &b.id,
            "sh",
            "-c",
            "tty; stty size; stat -c %u:%g $(tty); exit 3",
        ])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .unwrap();
    let status = exec.wait().unwrap();
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let out = drain(&mut master);
    assert_eq!(status.code(), Some(3), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out}");
    assert_eq!(lines[1], "31 97", "{out}");
    // Owned by the process's uid; the group is devpts' gid=5 (tty).
    assert_eq!(lines[2], "1000:5", "{out}");
}

#[test]
fn exec_process_json_without_user_runs_as_root() {
    let b = running("execnouser");
    let p = b.dir.join("process.json");
    std::fs::write(
        &p,
        json!({"args": ["/bin/id", "-u"], "cwd": "/", "env": ["PATH=/bin"]}).to_string(),
    )
    .unwrap();
    let out = b.tong(&["exec", "--process", p.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n");
}

#[test]
fn home_comes_from_the_containers_passwd() {
    let b = Bundle::new("home", "echo $HOME");
    add_user(&b);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    assert_eq!(b.run_ok(), "/home/u\n");

    let b = running("home-exec");
    add_user(&b);
    let home = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        all.extend([b.id.as_str(), "sh", "-c", "echo $HOME"]);
        let out = b.tong(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(home(&[]), "/root\n");
    assert_eq!(home(&["-u", "1000"]), "/home/u\n");
    // No passwd entry: "/".
    assert_eq!(home(&["-u", "2000"]), "/\n");
    // An explicit HOME wins.
    assert_eq!(home(&["-u", "1000", "-e", "HOME=/x"]), "/x\n");
}

#[test]
fn cwd_the_user_cannot_read_is_entered_as_root() {
    let b = Bundle::new("cwdperm", "pwd");
    let secret = b.rootfs().join("secret");
    std::fs::create_dir(&secret).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["cwd"] = "/secret".into();
    });
    assert_eq!(b.run_ok(), "/secret\n");
}

#[test]
fn missing_cwd_is_created() {
    let b = Bundle::new("cwdmissing", "pwd; stat -c %a .");
    b.edit(|c| {
        c["process"]["cwd"] = "/does/not/exist".into();
        c["root"]["readonly"] = true.into();
    });
    assert_eq!(b.run_ok(), "/does/not/exist\n755\n");
}

#[test]
fn exec_process_has_its_own_process_group_in_the_container() {
    let b = running("execpgrp");
    // Fields 5 and 6 of /proc/self/stat: process group and session.
    let out = b.tong(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "echo $$; cut -d' ' -f5,6 /proc/self/stat",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut l = text.lines();
    let sh = l.next().unwrap();
    assert_eq!(l.next().unwrap(), format!("{sh} {sh}"), "{text}");
}

#[test]
fn failed_exec_exits_255() {
    let b = running("exec255");
    let out = b.tong(&["exec", &b.id, "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let out = b.tong(&["exec", "--cgroup", "../up", &b.id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("../up is not a sub cgroup path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kill_signal_0_checks_liveness() {
    let b = running("kill0");
    let out = b.tong(&["kill", &b.id, "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "running");
    assert!(b.tong(&["kill", &b.id, "KILL"]).status.success());
    wait_init_exit(&b);
    let out = b.tong(&["kill", &b.id, "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ps_of_a_stopped_container_prints_the_header() {
    let b = Bundle::new("psstopped", "true");
    assert!(b.create().status.success());
    assert!(b.tong(&["start", &b.id]).status.success());
    wait_init_exit(&b);
    let out = b.tong(&["ps", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("PID"), "{text}");
    let out = b.tong(&["ps", "-f", "json", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "null\n");
}

#[test]
fn a_created_container_can_be_paused_and_resumed() {
    let b = Bundle::new("pausecreated", "true");
    assert!(b.create().status.success());
    let out = b.tong(&["pause", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "paused");
    let out = b.tong(&["resume", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "created");
}

#[test]
fn list_shows_the_owners_name() {
    let b = running("listowner");
    let out = b.tong(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text.lines().find(|l| l.starts_with(&b.id)).unwrap();
    assert!(row.ends_with(" root"), "{text}");
    let out = b.tong(&["list", "-f", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["owner"], "root", "{v}");
}

/// Options of the mount at `dir` as /proc/self/mountinfo shows them in the container.
const MOUNT_OPTS: &str = "grep \" $0 \" /proc/self/mountinfo | cut -d' ' -f6";

#[test]
fn readonly_paths_keep_the_flags_of_their_mount() {
    let b = Bundle::new("ropaths", "");
    b.edit(|c| {
        c["process"]["args"] = json!(["sh", "-c", MOUNT_OPTS, "/proc/sys"]);
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/proc" {
                m["options"] = json!(["nosuid", "noexec", "nodev"]);
            }
        }
        c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    });
    assert_eq!(b.run_ok(), "ro,nosuid,nodev,noexec,relatime\n");
}

/// A tmpfs on the host with nosuid,nodev,noexec,noatime; unmounted when dropped.
struct HostTmpfs(std::path::PathBuf);

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn read_only_bind_keeps_the_flags_of_its_source() {
    let b = Bundle::new("robind", "");
    let src = b.dir.join("src");
    std::fs::create_dir(&src).unwrap();
    use nix::mount::MsFlags as F;
    nix::mount::mount(
        Some("tmpfs"),
        &src,
        Some("tmpfs"),
        F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC | F::MS_NOATIME,
        None::<&str>,
    )
    .unwrap();
    let _guard = HostTmpfs(src.clone());
    b.edit(|c| {
        c["process"]["args"] = json!(["sh", "-c", MOUNT_OPTS, "/src"]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/src", "type": "bind", "source": src, "options": ["rbind", "ro"]
        }));
    });
    assert_eq!(b.run_ok(), "ro,nosuid,nodev,noexec,noatime\n");
}

#[test]
fn devices_outside_dev_are_created_where_the_config_says() {
    let b = Bundle::new("devpaths", "stat -c '%F %t,%T' /foo-dev /dev/sub/bar");
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/foo-dev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
            {"path": "/dev/sub/bar/", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666}
        ]);
    });
    assert_eq!(
        b.run_ok(),
        "character special file 1,3\ncharacter special file 1,5\n"
    );
}

#[test]
fn kernel_hostname_sysctl_is_refused() {
    let b = Bundle::new("sysctlhost", "hostname");
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"kernel.hostname": "x"});
    });
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field")
            && err.contains("/linux/sysctl/kernel.hostname"),
        "{err}"
    );
    b.assert_nothing_left();
}

#[test]
fn tmpfs_mode_option_sets_the_mounts_mode() {
    let b = Bundle::new("tmpfsmode", "stat -c %a /t");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/t", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "mode=712"]
        }));
    });
    assert_eq!(b.run_ok(), "712\n");
}

#[test]
fn hooks_without_env_inherit_as_in_runc() {
    let b = Bundle::new("hookenv", "cat /tmp/sc");
    let out_rt = b.dir.join("rt");
    let out_cc = b.dir.join("cc");
    let hook = |script: String| json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["process"]["env"] = json!(["PATH=/bin", "MARK=process"]);
        c["hooks"] = json!({
            // The runtime's environment.
            "createRuntime": [hook(format!("echo \"$MARK\" > {}", out_rt.display()))],
            // The container process's.
            "createContainer": [hook(format!("echo \"$MARK\" > {}", out_cc.display()))],
            "startContainer": [hook("echo \"$MARK $PATH\" > /tmp/sc".into())],
            // `env` given: exactly that.
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo \"[$MARK]\" >> {}", out_rt.display())], "env": []}],
        });
    });
    let out = b
        .cmd(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .env("MARK", "runtime")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "process /bin\n");
    assert_eq!(std::fs::read_to_string(out_rt).unwrap(), "runtime\n[]\n");
    assert_eq!(std::fs::read_to_string(out_cc).unwrap(), "process\n");
}

#[test]
fn start_container_hooks_run_under_the_containers_seccomp_filter() {
    let b = Bundle::new("hookseccomp", "cat /tmp/rc");
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
        c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args":
            ["sh", "-c", "mkdir /tmp/x 2>/dev/null; echo $? > /tmp/rc"]}]});
    });
    assert_eq!(b.run_ok(), "1\n");
}

#[test]
fn realtime_runtime_on_v1_gets_its_budget_from_the_parents() {
    let b = Bundle::new("rtbudget", "cat /sys/fs/cgroup/cpu/cpu.rt_runtime_us");
    if let Some(why) = host_lacks("rt-group-sched") {
        return skip(why);
    }
    let cpu_root = cgroup_v1_mount("cpu").expect("rt-group-sched is on a v1 cpu hierarchy");
    // A parent of its own, made with no budget, between tong-test and the container.
    let mid = format!("{}-rt", b.id);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{mid}/{}", b.id).into();
        c["linux"]["resources"]["cpu"] =
            json!({"realtimeRuntime": 1000, "realtimePeriod": 1000000});
    });
    let out = b.create();
    let cpu = cpu_root.join(CGROUP_PARENT).join(&mid).join(&b.id);
    let read = |p: &std::path::Path| -> u64 {
        std::fs::read_to_string(p.join("cpu.rt_runtime_us"))
            .map(|s| s.trim().parse().unwrap_or(0))
            .unwrap_or(0)
    };
    let (got, parent) = (read(&cpu), read(cpu.parent().unwrap()));
    let _ = b.tong(&["delete", "--force", &b.id]);
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(CGROUP_PARENT).join(&mid));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(got, 1000);
    assert!(parent >= 1000, "{parent}");
}

#[test]
fn blkio_weight_goes_to_bfq_where_the_kernel_has_only_bfq() {
    let b = Bundle::new("bfq", "true");
    let bfq_only = host_fact("io-weight", "kind").as_deref() == Some("bfq");
    let (true, Some(root)) = (bfq_only, cgroup_v1_mount("blkio")) else {
        return skip(format!(
            "needs a cgroup v1 blkio with only BFQ weights (blkio.bfq.weight without blkio.weight); tong check: {}",
            host_sentence("io-weight")
        ));
    };
    let blkio = root.join(CGROUP_PARENT).join(&b.id);
    b.edit(|c| c["linux"]["resources"]["blockIO"] = json!({"weight": 300}));
    let out = b.create();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = std::fs::read_to_string(blkio.join("blkio.bfq.weight")).unwrap();
    assert!(got.contains("300"), "{got}");
}

#[test]
fn events_print_type_id_data_in_runcs_order() {
    let b = running("eventsorder");
    let out = b.tong(&["events", "--stats", &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "{{\"type\":\"stats\",\"id\":\"{}\",\"data\":{{",
            b.id
        )),
        "{text}"
    );
}

/// `update --cpu-period --cpu-quota` under a parent with a CPU limit: the
/// kernel checks each write against the other value and the parent's
/// bandwidth, so period-then-quota can be refused where quota-then-period
/// passes; tong writes them in the order the kernel accepts.
#[test]
fn update_cpu_period_and_quota_in_the_order_the_kernel_accepts() {
    let Some(cpu) = cgroup_v1_mount("cpu") else {
        return skip(format!(
            "needs cpu on a cgroup v1 hierarchy (cgroup v2 has one cpu.max file); tong check: {}",
            host_sentence("cgroups")
        ));
    };
    if let Some(why) = host_lacks("cfs-bandwidth") {
        return skip(why);
    }
    let b = Bundle::new("cfsorder", "sleep 1000");
    let parent = format!("{}-p", b.id);
    let pdir = cpu.join(CGROUP_PARENT).join(&parent);
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join("cpu.cfs_quota_us"), "50000").unwrap();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{parent}/{}", b.id).into();
        c["linux"]["resources"]["cpu"] = json!({"quota": 40000, "period": 100000});
    });
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Period 40000 first would mean 40000/40000 = 1 CPU > the parent's 0.5.
    let out = b.tong(&[
        "update",
        "--cpu-period",
        "40000",
        "--cpu-quota",
        "20000",
        &b.id,
    ]);
    let dir = pdir.join(&b.id);
    let got = (
        std::fs::read_to_string(dir.join("cpu.cfs_period_us")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).unwrap_or_default(),
    );
    let _ = b.tong(&["delete", "--force", &b.id]);
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(CGROUP_PARENT).join(&parent));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((got.0.trim(), got.1.trim()), ("40000", "20000"));
}

/// A bind mount in a user-namespaced container whose source the mapped root
/// cannot reach (a 0700 host directory): runc opens mount sources before
/// joining the user namespace; tong clones them on the host side.
#[test]
fn userns_bind_source_the_mapped_root_cannot_open() {
    use std::os::unix::fs::PermissionsExt;
    let b = Bundle::new("usernsbind", "cat /data/secret.txt");
    b.with_userns(100000);
    let private = b.dir.join("private");
    std::fs::create_dir_all(private.join("data")).unwrap();
    std::fs::write(private.join("data/secret.txt"), "reached\n").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The mapped root must be able to use the rootfs itself.
    std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": private.join("data"), "options": ["rbind", "ro"]
        }));
    });
    assert_eq!(b.run_ok(), "reached\n");
}

/// The bind sources opened for a user-namespaced container are of its own
/// (locked) copy of the host's mounts: a host bind that is read-only stays
/// read-only for the container's root. (A detached clone made on the host
/// would not be locked: root in the container could remount it writable.)
#[test]
fn userns_bind_of_a_read_only_host_mount_stays_locked() {
    let b = Bundle::new(
        "usernslock",
        "mount -o remount,rw,bind /data 2>/dev/null && echo REMOUNTED; touch /data/x 2>/dev/null && echo WROTE; echo done",
    );
    b.with_userns(100000);
    std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
    let src = b.dir.join("ro-source");
    std::fs::create_dir_all(&src).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o777)).unwrap();
    let sh = |cmd: String| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .status()
            .unwrap();
        assert!(ok.success(), "{cmd}");
    };
    let s = src.display();
    sh(format!(
        "mount --bind {s} {s} && mount -o remount,ro,bind {s} {s}"
    ));
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": src, "options": ["rbind"]
        }));
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_SYS_ADMIN".into());
        }
    });
    let out = b.run();
    sh(format!("umount {s}"));
    assert_eq!(stdout(&out), "done\n", "{}", stderr(&out));
    assert!(!src.join("x").exists());
}

/// Unmounts everything at and below a test's host directory when dropped.
struct HostMounts(std::path::PathBuf);

impl Drop for HostMounts {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(&self.0)
            .status();
    }
}

/// Issue 29: a Kubernetes volume with `mountPropagation: Bidirectional`
/// (containerd's CRI: `rootfsPropagation: rshared` and an `rshared` bind):
/// a mount made inside the container appears on the host, as CSI node
/// plugins rely on. tong made `/` a slave first, so the volume became a
/// slave of the host's and the later `rshared` could not undo it.
#[test]
fn a_bidirectional_volumes_mounts_reach_the_host() {
    let b = Bundle::new(
        "bidir",
        "mount -t tmpfs inner /vol/inner && echo hi > /vol/inner/f && echo ok",
    );
    let vol = b.dir.join("vol");
    std::fs::create_dir_all(vol.join("inner")).unwrap();
    let v = vol.display();
    // Shared on the host, as kubelet's pod volume directories are.
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("mount --bind {v} {v} && mount --make-shared {v}"))
        .status()
        .unwrap();
    assert!(st.success());
    let _guard = HostMounts(vol.clone());
    b.edit(|c| {
        c["linux"]["rootfsPropagation"] = "rshared".into();
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rshared"]
        }));
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_SYS_ADMIN".into());
        }
    });
    assert_eq!(b.run_ok(), "ok\n");
    assert_eq!(
        std::fs::read_to_string(vol.join("inner/f")).unwrap_or_default(),
        "hi\n",
        "the container's mount at /vol/inner did not reach the host"
    );
}

/// Issue 29: a read-only `/dev` with `/dev/pts` below it. runc mounts /dev
/// writable and makes it read-only once what goes in it exists; tong failed
/// `mkdir /dev/pts: read-only file system`.
#[test]
fn a_read_only_dev_can_have_dev_pts_below_it() {
    let b = Bundle::new(
        "rodev",
        "grep -q ' /dev/pts devpts ' /proc/mounts && echo pts; \
         touch /dev/new 2>/dev/null || echo read-only; test -c /dev/null && echo null",
    );
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        let dev = mounts
            .iter_mut()
            .find(|m| m["destination"] == "/dev")
            .unwrap();
        dev["options"].as_array_mut().unwrap().push("ro".into());
    });
    assert_eq!(b.run_ok(), "pts\nread-only\nnull\n");
}
