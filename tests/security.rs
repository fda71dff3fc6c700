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

/// With an LSM in the kernel, the exec label reaches /proc/self/attr of the
/// container's process. This kernel may have none: then the test says so.
#[test]
fn lsm_exec_label_reaches_the_process() {
    if tong::linux::lsm::apparmor_enabled() {
        let b = Bundle::new("aalabel", "cat /proc/self/attr/current");
        b.edit(|c| c["process"]["apparmorProfile"] = "unconfined".into());
        assert!(b.run_ok().starts_with("unconfined"));
    } else {
        eprintln!("skipped AppArmor label check: AppArmor is not enabled in this kernel");
    }
    if tong::linux::lsm::selinux_enabled() {
        let b = Bundle::new("selabel", "cat /proc/self/attr/current");
        let current = std::fs::read_to_string("/proc/self/attr/current").unwrap();
        let label = current.trim_end_matches('\0').trim().to_owned();
        b.edit(|c| c["process"]["selinuxLabel"] = label.clone().into());
        assert_eq!(b.run_ok().trim_end_matches('\0').trim(), label);
    } else {
        eprintln!("skipped SELinux label check: SELinux is not enabled in this kernel");
    }
}
