//! Regression tests for runc's published CVEs: each carries out the attack
//! inside a real container and checks that it fails.

mod common;
use common::*;
use serde_json::json;

/// A created container: its init is still tong, waiting for `start`.
fn created(name: &str) -> Bundle {
    let b = Bundle::new(name, "true");
    let out = b.create();
    assert!(out.status.success(), "{}", stderr(&out));
    b
}

/// CVE-2019-5736: a process in the container opens the runtime's binary
/// through /proc/<pid>/exe of a tong process inside it, to overwrite it.
/// Step a regression would let through: opening /proc/1/exe (tong) at all.
#[test]
fn cve_2019_5736_tong_binary_unreachable_through_proc_exe() {
    let b = created("cve5736");
    let out = b.tong(&["exec", &b.id, "sh", "-c",
        "readlink /proc/1/exe; (cat /proc/1/exe > /dev/null) 2>&1 && echo READ-OK; (echo x >> /proc/1/exe) 2>&1 && echo WRITE-OK; true"]);
    let text = stdout(&out);
    assert!(
        !text.contains("READ-OK") && !text.contains("WRITE-OK"),
        "{text}"
    );
    assert!(
        text.contains("Permission denied") || text.contains("Operation not permitted"),
        "{text}"
    );
}

/// CVE-2016-9962: a process in the container attaches to (or reads the memory
/// of) a tong process in its pid namespace. Step a regression would let
/// through: reading /proc/1/environ or /proc/1/mem, which need ptrace access.
#[test]
fn cve_2016_9962_tong_processes_cannot_be_traced() {
    let b = created("cve9962");
    let out = b.tong(&["exec", &b.id, "sh", "-c",
        "(cat /proc/1/environ > /dev/null) 2>&1 && echo ENV-OK; (head -c1 /proc/1/mem > /dev/null) 2>&1 && echo MEM-OK; true"]);
    let text = stdout(&out);
    assert!(
        !text.contains("ENV-OK") && !text.contains("MEM-OK"),
        "{text}"
    );
}

/// CVE-2024-21626: a cwd through a leaked runtime fd puts the process outside
/// its root. Step a regression would let through: accepting such a cwd, or
/// any fd beyond stdio reaching the process.
#[test]
fn cve_2024_21626_no_leaked_fds_and_no_fd_cwd() {
    let b = Bundle::new("cve21626", "ls /proc/self/fd | wc -l");
    // ls opens one fd of its own.
    assert_eq!(b.run_ok().trim(), "4");
    for cwd in ["/proc/self/fd/7", "/proc/thread-self/fd/3"] {
        b.edit(|c| c["process"]["cwd"] = cwd.into());
        let out = b.create();
        assert_eq!(out.status.code(), Some(1), "cwd {cwd} accepted");
        assert!(stderr(&out).contains("/process/cwd"), "{}", stderr(&out));
        b.assert_nothing_left();
    }
}

/// CVE-2023-25809: without a cgroup namespace the host's cgroups are bound in;
/// they must not be writable even when the config forgets "ro".
#[test]
fn cve_2023_25809_cgroupfs_read_only_without_cgroupns() {
    if let Some(why) = host_lacks_v1(
        "memory",
        "needs a cgroup v1 memory hierarchy; v2: modern_host v2_without_cgroup_namespace_binds_own_cgroup_read_only",
    ) {
        return skip(why);
    }
    let b = Bundle::new(
        "cve25809",
        "grep ' /sys/fs/cgroup/memory ' /proc/mounts; touch /sys/fs/cgroup/memory/x 2>&1 || true",
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev"]);
            }
        }
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .nth(3)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{out}"
    );
    assert!(lines[1].contains("Read-only file system"), "{out}");
}

/// CVE-2025-52565: /dev/console in an image that brings its own /dev is a
/// symlink to a procfs file; binding the pty "over /dev/console" would land
/// on that file and make it writable. Step a regression would let through:
/// following the last component of /dev/console.
#[test]
fn cve_2025_52565_console_symlink_is_not_followed() {
    use std::os::unix::net::UnixListener;
    let b = Bundle::new("cve52565", "true");
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        // The image's own /dev, no tmpfs over it.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
    });
    std::os::unix::fs::symlink("/proc/sysrq-trigger", b.rootfs().join("dev/console")).unwrap();
    let sock = b.dir.join("console.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let out = b.tong(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("refusing to mount the console"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

/// With AppArmor in the kernel, the exec profile reaches /proc/self/attr of
/// the container's process. This kernel may have none: then the test skips.
#[test]
fn apparmor_exec_label_reaches_the_process() {
    if let Some(why) = host_lacks("apparmor") {
        return skip(why);
    }
    let b = Bundle::new("aalabel", "cat /proc/self/attr/current");
    b.edit(|c| c["process"]["apparmorProfile"] = "unconfined".into());
    assert!(b.run_ok().starts_with("unconfined"));
}

/// The same for SELinux's exec label.
#[test]
fn selinux_exec_label_reaches_the_process() {
    if let Some(why) = host_lacks("selinux") {
        return skip(why);
    }
    let b = Bundle::new("selabel", "cat /proc/self/attr/current");
    let current = std::fs::read_to_string("/proc/self/attr/current").unwrap();
    let label = current.trim_end_matches('\0').trim().to_owned();
    b.edit(|c| c["process"]["selinuxLabel"] = label.clone().into());
    assert_eq!(b.run_ok().trim_end_matches('\0').trim(), label);
}

/// A host directory with a program the container must never reach; its
/// twin of the same name in the rootfs says the lookup stayed inside.
fn victim_and_decoy(b: &Bundle) -> std::path::PathBuf {
    let victim = std::env::temp_dir().join(format!("tong-victim-{}", b.id));
    std::fs::create_dir_all(&victim).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (dir, word) in [(&victim, "ESCAPED"), (&b.rootfs().join("bin"), "INSIDE")] {
        let p = dir.join("tongprobe");
        std::fs::write(&p, format!("#!/bin/sh\necho {word}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    victim
}

/// A PATH whose first entries walk out of every fd number tong could hold
/// (`/proc/self/fd/N/../..` reaches the host's / through a directory fd).
fn escaping_path(victim: &std::path::Path) -> String {
    let up = "/..".repeat(16);
    let mut dirs: Vec<String> = (3..64)
        .map(|n| format!("/proc/self/fd/{n}{up}{}", victim.display()))
        .collect();
    dirs.push("/bin".into());
    dirs.join(":")
}

/// F1 (issue 11): the init held the host's cgroup v2 directory (and other
/// runtime fds) while PATH was searched and execve ran, so a PATH through
/// /proc/self/fd/N ran a host program. Step a regression would let through:
/// any runtime directory fd open during the program lookup of create/start.
#[test]
fn f1_init_program_lookup_cannot_walk_runtime_fds() {
    let b = Bundle::new("f1init", "true");
    let victim = victim_and_decoy(&b);
    let path = escaping_path(&victim);
    b.edit(|c| {
        c["process"]["args"] = json!(["tongprobe"]);
        c["process"]["env"] = json!([format!("PATH={path}")]);
    });
    let out = b.run_ok();
    std::fs::remove_dir_all(&victim).unwrap();
    assert_eq!(out, "INSIDE\n");
}

/// F1 for `exec`: its child held the host's /proc (for LSM labels) while it
/// looked the program up. Step a regression would let through: a host
/// directory fd open in the exec'd process during lookup.
#[test]
fn f1_exec_program_lookup_cannot_walk_runtime_fds() {
    let b = Bundle::new("f1exec", "echo ready; sleep 1000");
    let victim = victim_and_decoy(&b);
    let path = escaping_path(&victim);
    let (mut child, _lines) = run_until_ready(&b);
    let out = b.tong(&["exec", "--env", &format!("PATH={path}"), &b.id, "tongprobe"]);
    let _ = b.tong(&["kill", &b.id, "KILL"]);
    let _ = child.wait();
    std::fs::remove_dir_all(&victim).unwrap();
    assert_eq!(stdout(&out), "INSIDE\n", "{}", stderr(&out));
}

/// F1b: with a strict allowlist (no close_range, fcntl or openat), tong's
/// own calls after the filter made every container fail. After the filter
/// only execve may be needed, with and without no_new_privs.
#[test]
fn f1b_strict_seccomp_allowlist_needs_only_execve() {
    for nnp in [false, true] {
        let b = Bundle::new(&format!("f1b{nnp}"), "true");
        b.edit(|c| {
            c["process"]["args"] = json!(["/bin/echo", "confined"]);
            c["process"]["noNewPrivileges"] = nnp.into();
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["execve", "brk", "arch_prctl", "set_tid_address",
                    "write", "writev", "exit_group", "exit", "mprotect", "readlink",
                    "prlimit64", "getrandom", "rseq", "set_robust_list", "clock_gettime",
                    "getuid", "geteuid", "getpid",
                    // glibc before 2.35 (a static busybox of Debian 11)
                    // checks the kernel version at start.
                    "uname"],
                    "action": "SCMP_ACT_ALLOW"}]
            });
        });
        assert_eq!(b.run_ok(), "confined\n", "noNewPrivileges {nnp}");
    }
}

/// F2: a created container's waiting init held host fds (cgroup v2 dir, the
/// lock, cgroup tasks files) and its exe was the host's tong binary, both
/// reachable from a process with CAP_SYS_PTRACE. Step a regression would let
/// through: a directory or cgroup/lock fd in the waiting init, or an exe
/// that can be reopened for writing.
#[test]
fn f2_waiting_init_holds_nothing_of_the_host() {
    let b = created("f2");
    let script = "for f in /proc/1/fd/*; do [ -d $f/ ] && echo DIR $f; \
        readlink $f | grep -E 'cgroup|lock' && echo HOSTFILE; done; \
        readlink /proc/1/exe; (echo x >> /proc/1/exe) 2>/dev/null && echo WROTE; echo done";
    let out = b.tong(&["exec", "--cap", "CAP_SYS_PTRACE", &b.id, "sh", "-c", script]);
    // What the container reaches through /proc/1/exe is on a read-only mount,
    // so it cannot be reopened for writing once tong stops running it.
    let pid = b.state()["pid"].as_i64().unwrap();
    let exe = nix::sys::statvfs::statvfs(format!("/proc/{pid}/exe").as_str()).unwrap();
    let _ = b.tong(&["delete", "--force", &b.id]);
    let text = stdout(&out);
    assert!(text.ends_with("done\n"), "{text}{}", stderr(&out));
    assert!(
        !text.contains("DIR") && !text.contains("HOSTFILE"),
        "{text}"
    );
    assert!(!text.contains(TONG), "host binary path shown: {text}");
    assert!(!text.contains("WROTE"), "{text}");
    // Without mount_setattr (Linux < 5.12) the bind is made by a child
    // (f2_without_mount_setattr_…): read-only there too.
    assert!(
        exe.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the waiting init runs a writable binary"
    );
    b.assert_nothing_left();
}

/// F2 on a kernel without mount_setattr (Linux < 5.12; here a seccomp
/// filter answering ENOSYS): the runtime still runs from a read-only bind of
/// its binary, made by a child in a mount namespace of its own, and that
/// bind never appears among the host's mounts. Step a regression would let
/// through: a memfd copy of the binary (4 MB copied per command), or the
/// bind propagating to the host.
#[test]
fn f2_without_mount_setattr_the_runtime_runs_from_a_read_only_bind() {
    require_root();
    let exe_path = std::fs::canonicalize(TONG).unwrap();
    let binds = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4) == exe_path.to_str())
            .count()
    };
    let before = binds();
    let b = Bundle::new("f2old", "true");
    let mut cmd = b.cmd(&["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    without_syscalls(&mut cmd, &[libc::SYS_mount_setattr]);
    let out = b.output(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state()["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let ro = nix::sys::statvfs::statvfs(exe.as_str())
        .unwrap()
        .flags()
        .contains(nix::sys::statvfs::FsFlags::ST_RDONLY);
    let link = std::fs::read_link(&exe).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&exe).is_ok();
    let after = binds();
    let _ = b.tong(&["delete", "--force", &b.id]);
    assert!(
        ro,
        "the waiting init runs {} from a writable mount",
        link.display()
    );
    assert!(
        !link.to_string_lossy().contains("memfd"),
        "{}",
        link.display()
    );
    assert!(!writable, "{exe} opened for writing");
    assert_eq!(
        before,
        after,
        "a bind of {} reached the host",
        exe_path.display()
    );
    b.assert_nothing_left();
}

/// F3: uid or gid 4294967295 is "unchanged" to setresuid, so the process
/// stayed root. Step a regression would let through: any id above 2^31-1.
#[test]
fn f3_ids_out_of_range_are_refused() {
    let big = u32::MAX;
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 4] = [
        ("/process/user/uid", |c| {
            c["process"]["user"]["uid"] = u32::MAX.into()
        }),
        ("/process/user/gid", |c| {
            c["process"]["user"]["gid"] = u32::MAX.into()
        }),
        ("/process/user/additionalGids/1", |c| {
            c["process"]["user"]["additionalGids"] = json!([1, 2147483648u32])
        }),
        ("/linux/uidMappings/0/hostID", |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 4294967295u32, "size": 1}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
        }),
    ];
    for (at, edit) in cases {
        let b = Bundle::new("f3", "id -u; touch /etc/owned");
        b.edit(edit);
        let out = b.run();
        assert_eq!(out.status.code(), Some(1), "{at}: {}", stdout(&out));
        assert!(stderr(&out).contains(at), "{at}: {}", stderr(&out));
        assert!(!b.rootfs().join("etc/owned").exists());
        b.assert_nothing_left();
    }
    let b = Bundle::new("f3exec", "echo ready; sleep 1000");
    let (mut child, _lines) = run_until_ready(&b);
    let out = b.tong(&["exec", "--user", &format!("{big}:{big}"), &b.id, "id", "-u"]);
    let _ = b.tong(&["kill", &b.id, "KILL"]);
    let _ = child.wait();
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stderr(&out).contains("out of range"), "{}", stderr(&out));
}

/// F7: the pid file's temporary name was created following a planted
/// symlink, overwriting its target. Step a regression would let through:
/// opening the temporary file without O_EXCL|O_NOFOLLOW.
#[test]
fn f7_pid_file_never_writes_through_a_planted_symlink() {
    let dir = std::env::temp_dir().join(format!("tong-f7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("victim");
    std::fs::write(&target, "precious").unwrap();
    let pidfile = dir.join("pid");
    // Every name the temporary file could take, for this process.
    for name in [
        ".pid.tmp".to_string(),
        format!(".pid.{}.tmp", std::process::id()),
    ] {
        std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
    }
    let r = tong::container::write_pid_file(&pidfile, nix::unistd::Pid::from_raw(4242));
    let kept = std::fs::read_to_string(&target).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(r.is_err(), "wrote through a planted symlink");
    assert_eq!(kept, "precious");
}

/// F8: LISTEN_FDS without LISTEN_PID (or with another process's) handed the
/// caller's fd 3, a host directory here, to the container. Step a regression
/// would let through: honouring LISTEN_FDS not meant for this very process.
#[test]
fn f8_listen_fds_need_listen_pid_of_tong() {
    for env in ["LISTEN_FDS=1", "LISTEN_FDS=1 LISTEN_PID=1"] {
        let b = Bundle::new(
            "f8",
            "echo fds:$LISTEN_FDS; ls /proc/self/fd | tr '\\n' ' '",
        );
        let out = tong_with_fd3(
            &b,
            std::path::Path::new("/"),
            env,
            &format!("run --bundle {} {}", b.dir.display(), b.id),
        );
        // fds 0-2 and ls's own directory fd (3): nothing passed.
        assert_eq!(stdout(&out), "fds:\n0 1 2 3 ", "{env}: {}", stderr(&out));
    }
}

/// F9: a cache entry compiled from a permissive profile, copied under a
/// strict profile's key, made the next container run with the permissive
/// filter. Step a regression would let through: trusting an intact entry
/// without checking which profile it was compiled from.
#[test]
fn f9_swapped_seccomp_cache_entry_is_not_used() {
    let profile = |action: &str| {
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}]})
    };
    let b = Bundle::new("f9", "mkdir /tmp/x 2>/dev/null && echo made || echo denied");
    let cache = b.root.join("@seccomp-cache");
    let entries = || -> std::collections::BTreeSet<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["linux"]["seccomp"] = profile("SCMP_ACT_LOG");
    });
    assert_eq!(b.run_ok(), "made\n");
    let permissive = entries();
    b.edit(|c| c["linux"]["seccomp"] = profile("SCMP_ACT_ERRNO"));
    assert_eq!(b.run_ok(), "denied\n");
    let strict: Vec<_> = entries().difference(&permissive).cloned().collect();
    assert_eq!(
        (permissive.len(), strict.len()),
        (1, 1),
        "one entry per profile"
    );
    std::fs::copy(permissive.iter().next().unwrap(), &strict[0]).unwrap();
    assert_eq!(b.run_ok(), "denied\n", "swapped cache entry was loaded");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
    // The cache's name is not a container id, so no container can take it.
    let out = b.tong(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "@seccomp-cache",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid container id"),
        "{}",
        stderr(&out)
    );
}

/// `tong ARGS…` for this bundle under an address-space limit of 256 MiB:
/// a runtime that sizes its memory by the config's length aborts there.
fn tong_in_256_mib(b: &Bundle, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("prlimit")
        .arg("--as=268435456")
        .arg(TONG)
        .arg("--root")
        .arg(&b.root)
        .args(args)
        .current_dir(&b.dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "tong was killed ({:?}): {}",
        out.status,
        stderr(&out)
    );
    out
}

/// V6 (issue 27): 50 000 ranges of `0-8191` in `execCPUAffinity.initial`
/// (350 KB) expanded into a list of 400 million CPUs (3 GiB) and tong
/// aborted. A list is bounded by what a kernel can have, whatever its length.
#[test]
fn v6_a_long_cpu_list_costs_no_more_than_the_cpus_it_names() {
    let b = Bundle::new("v6cpu", "echo ok");
    let list = vec!["0-8191"; 50_000].join(",");
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": list}));
    let out = tong_in_256_mib(&b, &["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    b.assert_nothing_left();
}

/// V6 for `linux.memoryPolicy.nodes`: refused or applied, never an abort.
#[test]
fn v6_a_long_node_list_costs_no_more_than_the_nodes_it_names() {
    let b = Bundle::new("v6nodes", "echo ok");
    let list = vec!["0-1023"; 50_000].join(",");
    b.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": list}));
    let out = tong_in_256_mib(&b, &["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("/linux/memoryPolicy"),
            "{}",
            stderr(&out)
        );
    }
    b.assert_nothing_left();
    // A node no kernel can have is refused by the list itself.
    b.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0,1024"}));
    let out = b.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/linux/memoryPolicy/nodes") && stderr(&out).contains("below 1024"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

/// Issue 27: the seccomp cache under the state root grew by one entry per
/// distinct profile for the life of the host. It keeps the 64 most recently
/// used, and drops the temporary files of writers that died mid-write.
#[test]
fn the_seccomp_cache_keeps_only_the_most_recently_used_profiles() {
    let b = Bundle::new("seccache", "echo ok");
    let cache = b.root.join("@seccomp-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    let name = |i: usize| cache.join(format!("{i:064x}"));
    for i in 0..70 {
        let f = std::fs::File::create(name(i)).unwrap();
        f.set_modified(day_ago + std::time::Duration::from_secs(i as u64))
            .unwrap();
    }
    let dead_writer = cache.join(format!(".{:064x}.999999999", 1));
    std::fs::write(&dead_writer, "half").unwrap();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]});
    });
    assert_eq!(b.run_ok(), "ok\n");
    let left = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(left, 64, "the cache holds {left} entries");
    // 70 stale + the new one: the seven least recently used went.
    for i in 0..7 {
        assert!(!name(i).exists(), "entry {i} (least recently used) kept");
    }
    for i in 7..70 {
        assert!(name(i).exists(), "entry {i} removed");
    }
    assert!(!dead_writer.exists(), "a dead writer's temporary file kept");
}

/// N1 (issue 27): a config whose network namespace path is the runtime's
/// own: netDevices then renamed (and "moved" into the same namespace) the
/// host's own interfaces. Refused; the device keeps its name.
#[test]
fn n1_net_devices_need_a_network_namespace_of_the_containers_own() {
    let b = Bundle::new("n1", "true");
    b.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = "RUNTIMES_NETNS".into();
            }
        }
        c["linux"]["netDevices"] = json!({"tv0": {"name": "ctr0"}});
    });
    let out = in_private_netns(
        &b,
        "ip link add tv0 type veth peer name tv1
         sed -i \"s|RUNTIMES_NETNS|/proc/$$/ns/net|\" $BUNDLE/config.json
         rc=0; $TONG --root $ROOT run --bundle $BUNDLE $ID || rc=$?
         ip link show tv0 >/dev/null
         ! ip link show ctr0 2>/dev/null
         exit $rc",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("/linux/netDevices") && e.contains("no network namespace of its own"),
        "{e}"
    );
    b.assert_nothing_left();
}

/// N4/N6 (issue 27): a create that failed after moving some devices (the
/// next one's new name taken, as `lo`) destroyed the moved ones with the
/// container's namespace. Every name is checked before any device moves.
#[test]
fn n6_a_taken_name_fails_before_any_device_moves() {
    let b = Bundle::new("n6", "true");
    b.edit(|c| c["linux"]["netDevices"] = json!({"ta0": {"name": "ctr0"}, "tb0": {"name": "lo"}}));
    let out = in_private_netns(
        &b,
        "ip link add ta0 type veth peer name ta1
         ip addr add 10.98.0.1/24 dev ta0
         ip link add tb0 type veth peer name tb1
         rc=0; $TONG --root $ROOT run --bundle $BUNDLE $ID || rc=$?
         ip addr show ta0
         ip link show tb0 >/dev/null
         exit $rc",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/linux/netDevices/tb0") && stderr(&out).contains("already exists"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("inet 10.98.0.1/24"),
        "{}",
        stdout(&out)
    );
    b.assert_nothing_left();
}

/// N4 (issue 27): a device that fails to move after another one moved (a
/// name the kernel refuses: two `%d`) sends the moved one back to the
/// host, with its name and address.
#[test]
fn n4_moved_devices_come_back_when_a_later_one_fails() {
    let b = Bundle::new("n4", "true");
    b.edit(|c| {
        c["linux"]["netDevices"] = json!({"ta0": {"name": "ctr0"}, "tb0": {"name": "x%d%d"}})
    });
    let out = in_private_netns(
        &b,
        "ip link add ta0 type veth peer name ta1
         ip addr add 10.98.0.1/24 dev ta0
         ip link add tb0 type veth peer name tb1
         rc=0; $TONG --root $ROOT run --bundle $BUNDLE $ID || rc=$?
         ip addr show ta0
         exit $rc",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/linux/netDevices/tb0"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("inet 10.98.0.1/24"),
        "{}",
        stdout(&out)
    );
    b.assert_nothing_left();
}

/// D4 (issue 27): a `--root` owned by another user held that user's planted
/// state, and root's `delete` ran its poststop hook as uid 0 (runc too). A
/// state root, or a container directory, that is not the caller's alone is
/// refused, naming the path; the planted hook never runs.
#[test]
fn d4_another_users_state_root_is_refused() {
    let b = Bundle::new("d4", "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The state as tong wrote it, with a poststop hook added, under a root
    // that `nobody` owns.
    let theirs = b.dir.join("their-root");
    std::fs::create_dir(&theirs).unwrap();
    let planted = theirs.join(&b.id);
    std::fs::create_dir(&planted).unwrap();
    for f in std::fs::read_dir(b.root.join(&b.id)).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), planted.join(f.file_name())).unwrap();
        }
    }
    let ran = b.dir.join("hook-ran");
    let config = planted.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    c["hooks"] = json!({"poststop": [{"path": "/bin/sh",
        "args": ["sh", "-c", format!("touch {}", ran.display())]}]});
    std::fs::write(&config, c.to_string()).unwrap();
    for p in [&theirs, &planted] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    let as_root = |args: &[&str]| {
        std::process::Command::new(TONG)
            .arg("--root")
            .arg(&theirs)
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        vec!["delete", "--force", &b.id],
        vec!["state", &b.id],
        vec!["list"],
    ] {
        let out = as_root(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "state root {} is owned by uid 65534",
                theirs.display()
            )),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(!ran.exists(), "the planted poststop hook ran as root");
    // Ours, but writable by others: refused too.
    std::os::unix::fs::chown(&theirs, Some(0), Some(0)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = as_root(&["delete", "--force", &b.id]);
    assert!(
        stderr(&out).contains("writable by group or others"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o711)).unwrap();
    let out = as_root(&["delete", "--force", &b.id]);
    assert!(
        stderr(&out).contains("container state directory") && stderr(&out).contains("uid 65534"),
        "{}",
        stderr(&out)
    );
    assert!(!ran.exists(), "the planted poststop hook ran as root");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    b.assert_nothing_left();
}
