//! Bad input: a clear error with its cause and config field, exit status 1,
//! and nothing left behind.

mod common;
use common::*;
use serde_json::json;

/// Creates the container expecting failure; returns stderr.
fn create_fails(b: &Bundle) -> String {
    let out = b.create();
    assert_eq!(
        out.status.code(),
        Some(1),
        "create should fail; stdout: {}",
        stdout(&out)
    );
    b.assert_nothing_left();
    stderr(&out)
}

#[test]
fn missing_bundle_and_rootfs() {
    let b = Bundle::new("nobundle", "true");
    let out = b.tong(&["create", "--bundle", "/nonexistent/bundle", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bundle /nonexistent/bundle: no such file or directory"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();

    std::fs::remove_dir_all(b.rootfs()).unwrap();
    let e = create_fails(&b);
    assert!(
        e.contains("rootfs") && e.contains("no such file or directory") && e.contains("/root/path"),
        "{e}"
    );
}

#[test]
fn malformed_json() {
    let b = Bundle::new("badjson", "true");
    std::fs::write(b.dir.join("config.json"), "{\"ociVersion\": \"1.0.2\", ").unwrap();
    let e = create_fails(&b);
    assert!(e.contains("invalid config.json"), "{e}");
}

#[test]
fn schema_invalid_names_pointer() {
    let b = Bundle::new("schema", "true");
    b.edit(|c| c["linux"]["namespaces"][2]["type"] = "bogus".into());
    let e = create_fails(&b);
    assert!(
        e.contains("/linux/namespaces/2/type") && e.contains("bogus"),
        "{e}"
    );

    b.edit(|c| {
        c["linux"]["namespaces"][2]["type"] = "ipc".into();
        c["process"]["user"]["uid"] = "root".into();
    });
    let e = create_fails(&b);
    assert!(e.contains("/process/user/uid"), "{e}");
}

#[test]
fn unknown_oci_major_version() {
    let b = Bundle::new("version", "true");
    b.edit(|c| c["ociVersion"] = "2.0.0".into());
    let e = create_fails(&b);
    assert!(
        e.contains("unsupported ociVersion \"2.0.0\"") && e.contains("/ociVersion"),
        "{e}"
    );
}

#[test]
fn duplicate_and_unsafe_ids() {
    let b = Bundle::new("dupid", "sleep 1000");
    assert!(b.create().status.success());
    let out = b.create();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("container with id exists: {}", b.id)),
        "{}",
        stderr(&out)
    );
    // The first container is untouched.
    assert_eq!(b.status(), "created");
    assert!(b.tong(&["delete", &b.id]).status.success());
    for bad in ["../x", "a/b", "", ".."] {
        let out = b.tong(&["create", "--bundle", b.dir.to_str().unwrap(), bad]);
        assert_eq!(out.status.code(), Some(1), "id {bad:?} accepted");
        assert!(
            stderr(&out).contains("invalid container id"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    assert!(!b.root.join("x").exists() && !b.dir.join("x").exists());
    assert!(
        std::fs::read_dir(&b.root).unwrap().next().is_none(),
        "state root not empty"
    );
}

#[test]
fn namespace_path_that_is_not_a_namespace() {
    let b = Bundle::new("nspath", "true");
    b.edit(|c| c["linux"]["namespaces"][1]["path"] = "/etc/hostname".into());
    let e = create_fails(&b);
    assert!(
        e.contains("/etc/hostname is not a namespace") && e.contains("/linux/namespaces/1/path"),
        "{e}"
    );
    b.edit(|c| c["linux"]["namespaces"][1]["path"] = "/proc/self/ns/uts".into());
    let e = create_fails(&b);
    assert!(e.contains("namespace of another type"), "{e}");
}

#[test]
fn absolute_symlink_target_stays_in_rootfs() {
    let b = Bundle::new("abslink", "true");
    let host = b.dir.join("hostside");
    b.edit(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            format!("grep -c ' {}/x tmpfs ' /proc/mounts", host.display())
        ])
    });
    std::fs::create_dir_all(&host).unwrap();
    // An absolute link means the container's path, never the host's.
    std::os::unix::fs::symlink(&host, b.rootfs().join("abs")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/abs/x", "type": "tmpfs", "source": "tmpfs"}));
    });
    // Inside the container the tmpfs sits at <host path>/x of the container's tree.
    assert_eq!(b.run_ok(), "1\n");
    assert!(!host.join("x").exists(), "mount target created on the host");
    let inside = b.rootfs().join(host.strip_prefix("/").unwrap()).join("x");
    assert!(inside.exists(), "{} not created", inside.display());
}

#[test]
fn start_requires_created() {
    let b = Bundle::new("startstopped", "true");
    assert!(b.create().status.success());
    assert!(b.tong(&["start", &b.id]).status.success());
    wait_init_exit(&b);
    let out = b.tong(&["start", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot start a container that has stopped"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["start", "no-such-container"]);
    assert!(
        stderr(&out).contains("container \"no-such-container\" does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failure_inside_init_is_reported_and_cleaned_up() {
    let b = Bundle::new("childfail", "true");
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.no_such_sysctl": "1"}));
    let e = create_fails(&b);
    assert!(
        e.contains("/proc/sys/net/ipv4/no_such_sysctl: no such file or directory")
            && e.contains("/linux/sysctl/net.ipv4.no_such_sysctl"),
        "{e}"
    );
    // A missing cwd is created (runc); one that is a file cannot be entered.
    let b = Bundle::new("cwdfail", "true");
    b.edit(|c| c["process"]["cwd"] = "/etc/passwd".into());
    let e = create_fails(&b);
    assert!(
        e.contains("chdir to cwd (\"/etc/passwd\") set in config.json failed: not a directory"),
        "{e}"
    );
}

#[test]
fn failing_create_runtime_hook_aborts_cleanly() {
    let b = Bundle::new("hookfail", "true");
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook said no >&2; exit 3"]}]});
    });
    let e = create_fails(&b);
    assert!(
        e.contains("error running createRuntime hook #0 (/bin/sh): exit status 3")
            && e.contains("hook said no")
            && e.contains("/hooks/createRuntime/0"),
        "{e}"
    );
}

#[test]
fn sysctl_not_in_container_namespace() {
    let b = Bundle::new("sysctlns", "true");
    b.edit(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "10"}));
    let e = create_fails(&b);
    assert!(e.contains("/linux/sysctl/vm.swappiness"), "{e}");
}

#[test]
fn terminal_without_console_socket() {
    let b = Bundle::new("tty", "true");
    b.edit(|c| c["process"]["terminal"] = true.into());
    let e = create_fails(&b);
    assert!(
        e.contains("cannot allocate tty") && e.contains("/process/terminal"),
        "{e}"
    );
}

#[test]
fn lsm_labels_without_the_lsm_are_refused_clearly() {
    // This kernel has neither AppArmor nor SELinux: say so, like runc.
    let need = "needs a kernel without AppArmor and SELinux";
    if let Some(why) = host_has("apparmor", need).or_else(|| host_has("selinux", need)) {
        return skip(why);
    }
    let b = Bundle::new("apparmor", "true");
    b.edit(|c| c["process"]["apparmorProfile"] = "docker-default".into());
    let e = create_fails(&b);
    assert!(
        e.contains("AppArmor is not enabled") && e.contains("/process/apparmorProfile"),
        "{e}"
    );
    b.edit(|c| {
        c["process"]
            .as_object_mut()
            .unwrap()
            .remove("apparmorProfile");
        c["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0".into();
    });
    let e = create_fails(&b);
    assert!(
        e.contains("selinux is disabled") && e.contains("/process/selinuxLabel"),
        "{e}"
    );
    // A mount label alone is inert without SELinux.
    b.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("selinuxLabel");
        c["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0".into();
    });
    assert!(b.run().status.success());
    // exec's flags go through the same checks.
    b.edit(|c| c["process"]["args"] = json!(["sleep", "1000"]));
    assert!(b
        .tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .status
        .success());
    let out = b.tong(&["exec", "--apparmor", "x", &b.id, "true"]);
    assert!(
        stderr(&out).contains("AppArmor is not enabled"),
        "{}",
        stderr(&out)
    );
    let out = b.tong(&["exec", "--process-label", "x", &b.id, "true"]);
    assert!(
        stderr(&out).contains("selinux is disabled"),
        "{}",
        stderr(&out)
    );
}

/// A kernel without close_range (5.9) or clone3 (5.3), as tong sees it under
/// a seccomp filter that answers ENOSYS for both: `run` is refused before
/// anything is made, naming each missing call and its release, not with a
/// bare "function not implemented" from the first call that needs it.
#[test]
fn a_kernel_without_the_needed_calls_is_refused_naming_them() {
    require_root();
    let b = Bundle::new("oldkernel", "echo ran");
    let mut cmd = b.cmd(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    without_syscalls(&mut cmd, &[libc::SYS_close_range, libc::SYS_clone3]);
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}{}", stdout(&out));
    assert!(
        !stdout(&out).contains("ran"),
        "the container ran: {}",
        stdout(&out)
    );
    for want in [
        "close_range(2) (Linux 5.9), clone3(2) (Linux 5.3)",
        "or the seccomp filter tong runs under",
        "tong needs Linux 5.9 or later",
    ] {
        assert!(err.contains(want), "no {want:?} in: {err}");
    }
    assert!(!err.contains("pidfd_open"), "pidfd_open is there: {err}");
    b.assert_nothing_left();
}
