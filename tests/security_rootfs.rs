//! Regression tests for attacks on the rootfs set-up (issue 11: F4, F6, F10):
//! each carries out the attack against a real container and checks that it
//! fails, and that nothing of it reaches the host.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Index of the config's mount at `dest`.
fn mount_index(b: &Bundle, dest: &str) -> usize {
    b.config()["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["destination"] == dest)
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// F4: a host-side loop swaps each device node tong just made in a shared
/// (bind-mounted) directory for a symlink to a host file. tong's chmod and
/// chown of the node must never follow it: that ran before pivot_root, on the
/// host, and turned the host file 0600 into 0666. Each round gives the loop
/// one chance per device; the host file's mode is checked after every round.
#[test]
fn f4_device_node_swapped_for_symlink_never_chmods_a_host_file() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    const DEVICES: usize = 64;
    const ROUNDS: usize = 25;
    let b = Bundle::new("f4devrace", "true");
    let shared = b.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let victim = b.dir.join("victim");
    std::fs::write(&victim, "host file").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/dev/shared", "type": "bind",
            "source": shared.to_str().unwrap(), "options": ["rbind"]
        }));
        c["linux"]["devices"] = (0..DEVICES)
            .map(|i| {
                json!({"path": format!("/dev/shared/d{i}"), "type": "c",
                       "major": 1, "minor": 3, "fileMode": 0o666})
            })
            .collect();
    });
    let swapped = Arc::new(AtomicUsize::new(0));
    for round in 0..ROUNDS {
        for e in std::fs::read_dir(&shared).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, swapped, shared, victim) = (
                stop.clone(),
                swapped.clone(),
                shared.clone(),
                victim.clone(),
            );
            std::thread::spawn(move || {
                let tmp = shared.join(".swap");
                // tong makes the nodes in order: wait for each, then replace
                // it with a symlink to the host file at once.
                for i in 0..DEVICES {
                    let node = shared.join(format!("d{i}"));
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match std::fs::symlink_metadata(&node) {
                            Ok(m) if m.file_type().is_char_device() => {
                                let _ = std::fs::remove_file(&tmp);
                                std::os::unix::fs::symlink(&victim, &tmp).unwrap();
                                if std::fs::rename(&tmp, &node).is_ok() {
                                    swapped.fetch_add(1, Ordering::Relaxed);
                                }
                                break;
                            }
                            Ok(_) => break,
                            Err(_) => continue,
                        }
                    }
                }
            })
        };
        let out = b.run();
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
        let _ = b.tong(&["delete", "--force", &b.id]);
        assert_eq!(
            mode(&victim),
            0o600,
            "round {round}: a host file was chmodded through a swapped device node\nstderr: {}",
            stderr(&out)
        );
        // tong either won the race or refused the replaced node, naming it.
        assert!(
            out.status.success() || stderr(&out).contains("/linux/devices/"),
            "round {round}: {}",
            stderr(&out)
        );
    }
    eprintln!(
        "{} device nodes swapped for symlinks in {ROUNDS} rounds",
        swapped.load(Ordering::Relaxed)
    );
}

/// F6: a read-only path reached through a symlink with more `..` than the
/// rootfs is deep. Like a chroot, `..` stops at the container's root, so the
/// path the container sees is made read-only; it used to be skipped silently.
#[test]
fn f6_readonly_path_through_escaping_symlink_is_read_only() {
    let b = Bundle::new("f6ro", "touch /etc/rw/f 2>&1; touch /rolink/g 2>&1; true");
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push("/rolink".into());
    });
    std::fs::create_dir(b.rootfs().join("etc/rw")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/rw", b.rootfs().join("rolink")).unwrap();
    let out = b.run_ok();
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert!(!b.rootfs().join("etc/rw/f").exists(), "{out}");
    assert!(!b.rootfs().join("etc/rw/g").exists(), "{out}");
}

/// F6: a masked path through `etc/esc -> ../../../../../etc`: the file the
/// container sees at /etc/secret must be masked, not left readable.
#[test]
fn f6_masked_path_through_escaping_symlink_is_masked() {
    let b = Bundle::new("f6mask", "cat /etc/secret; echo; stat -c %t:%T /etc/secret");
    std::fs::write(b.rootfs().join("etc/secret"), "hidden").unwrap();
    std::os::unix::fs::symlink("../../../../../etc", b.rootfs().join("etc/esc")).unwrap();
    b.edit(|c| {
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/etc/esc/secret".into());
    });
    let out = b.run_ok();
    assert_eq!(out, "\n1:3\n", "the secret is readable");
}

/// F6: masking fails closed. Only a path that does not exist is skipped; any
/// other failure to resolve it (here a symlink loop) stops the container,
/// naming the field.
#[test]
fn f6_unresolvable_masked_or_readonly_path_fails_create() {
    for field in ["maskedPaths", "readonlyPaths"] {
        let b = Bundle::new("f6loop", "true");
        std::os::unix::fs::symlink("loop2", b.rootfs().join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", b.rootfs().join("loop2")).unwrap();
        b.edit(|c| {
            let a = c["linux"][field].as_array_mut().unwrap();
            a.push("/loop1/x".into());
            // A missing path is still fine.
            a.push("/no/such/path".into());
        });
        let n = b.config()["linux"][field].as_array().unwrap().len() - 2;
        let out = b.create();
        assert_eq!(out.status.code(), Some(1), "{field}: create succeeded");
        let e = stderr(&out);
        assert!(
            e.contains(&format!("/linux/{field}/{n}")) && e.contains("too many"),
            "{field}: {e}"
        );
        b.assert_nothing_left();
    }
}

/// F10 (CVE-2019-19921 family): procfs and sysfs go only onto real
/// directories. A /proc or /sys in the image that is a symlink (absolute or
/// relative) or not a directory is refused, naming the mount's destination.
#[test]
fn f10_symlinked_proc_and_sys_are_refused() {
    for (dir, link) in [
        ("proc", Some("/fakeproc")),
        ("sys", Some("../../fakesys")),
        ("proc", None),
    ] {
        let b = Bundle::new("f10", "true");
        let fake = b.rootfs().join(format!("fake{dir}"));
        std::fs::create_dir(&fake).unwrap();
        std::fs::remove_dir(b.rootfs().join(dir)).unwrap();
        match link {
            Some(l) => std::os::unix::fs::symlink(l, b.rootfs().join(dir)).unwrap(),
            None => std::fs::write(b.rootfs().join(dir), "").unwrap(),
        }
        let n = mount_index(&b, &format!("/{dir}"));
        let out = b.create();
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "/{dir} -> {link:?} accepted");
        assert!(
            e.contains(&format!("/mounts/{n}/destination"))
                && e.contains("real directory")
                // runc's words, which tools match (issue 29).
                && e.contains("must be mounted on ordinary directory"),
            "{e}"
        );
        b.assert_nothing_left();
        assert_eq!(std::fs::read_dir(&fake).unwrap().count(), 0, "{e}");
    }
}

/// CVE-2019-16884 family: a fake /proc in the image must not redirect the
/// runtime's procfs writes (oom_score_adj, sysctls). A symlinked /proc is
/// refused outright (F10, above); a plain directory with fake files, left
/// without a procfs mount, must not receive the writes either.
/// (Moved here from tests/security.rs, which expected the symlink to be followed.)
#[test]
fn cve_2019_16884_fake_proc_does_not_redirect_writes() {
    let b = Bundle::new(
        "cve16884",
        "cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward",
    );
    b.edit(|c| {
        c["process"]["oomScoreAdj"] = 77.into();
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    // Symlinked: refused before anything is written.
    std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
    std::fs::create_dir(b.rootfs().join("fakeproc")).unwrap();
    std::os::unix::fs::symlink("/fakeproc", b.rootfs().join("proc")).unwrap();
    let out = b.create();
    assert_eq!(out.status.code(), Some(1), "symlinked /proc accepted");
    b.assert_nothing_left();
    assert_eq!(
        std::fs::read_dir(b.rootfs().join("fakeproc"))
            .unwrap()
            .count(),
        0,
        "something was written into the image"
    );

    // A plain directory of fake files and no procfs mount: the writes go to
    // the real procfs, the container reads its image's files untouched.
    std::fs::remove_file(b.rootfs().join("proc")).unwrap();
    for (f, v) in [
        ("proc/self/oom_score_adj", "fake-oom\n"),
        ("proc/sys/net/ipv4/ip_forward", "fake-fwd\n"),
    ] {
        let p = b.rootfs().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    }
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "proc");
    });
    assert_eq!(b.run_ok(), "fake-oom\nfake-fwd\n");
}

/// A mount target through a symlink with more `..` than the rootfs is deep:
/// `..` stops at the container's root like a chroot (as runc, crun and youki
/// do), so the mount lands inside the rootfs and never beside it.
/// (Moved here from tests/errors.rs, which expected such a target to be refused.)
#[test]
fn mount_target_dotdot_symlink_is_clamped_to_the_rootfs() {
    let b = Bundle::new("clamp", "grep -c ' /outside/x tmpfs ' /proc/mounts");
    let outside = b.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // rootfs/evil -> ../outside: on the host that is <bundle>/outside.
    std::os::unix::fs::symlink("../outside", b.rootfs().join("evil")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}));
    });
    assert_eq!(b.run_ok(), "1\n");
    assert!(
        !outside.join("x").exists(),
        "a directory was created outside the rootfs"
    );
    assert!(b.rootfs().join("outside/x").is_dir());
    b.assert_nothing_left();
}

/// Same class as F4: `tmpcopyup` copies the image's directory into the new
/// tmpfs before pivot_root. A host-side loop in a shared volume keeps
/// exchanging a subdirectory with a symlink to a host directory; the copy
/// must never follow it and bring the host's files into the container.
#[test]
fn tmpcopyup_never_follows_a_swapped_symlink_to_the_host() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const ROUNDS: usize = 60;
    let b = Bundle::new("copyrace", "ls -R /data/cache 2>&1; true");
    let shared = b.dir.join("shared");
    let cache = shared.join("cache");
    std::fs::create_dir_all(cache.join("sub/inner")).unwrap();
    std::fs::write(cache.join("sub/inner/file"), "image").unwrap();
    let host = b.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("HOSTSECRET"), "host").unwrap();
    std::os::unix::fs::symlink(&host, cache.join("other")).unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind",
                      "source": shared.to_str().unwrap(), "options": ["rbind"]}));
        m.push(
            json!({"destination": "/data/cache", "type": "tmpfs", "source": "tmpfs",
                      "options": ["tmpcopyup"]}),
        );
    });
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, cache) = (stop.clone(), cache.clone());
            std::thread::spawn(move || {
                let (a, z) = (cache.join("sub"), cache.join("other"));
                while !stop.load(Ordering::Relaxed) {
                    let _ = nix::fcntl::renameat2(
                        nix::fcntl::AT_FDCWD,
                        &a,
                        nix::fcntl::AT_FDCWD,
                        &z,
                        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                    );
                }
            })
        };
        let out = b.run();
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
        let _ = b.tong(&["delete", "--force", &b.id]);
        // Its contents in the container, or its names in tong's error: the
        // copy read the host directory.
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("HOSTSECRET"),
            "round {round}: a host directory was copied into the container\n{all}"
        );
    }
}

/// `tmpcopyup` still copies files, directories, symlinks and their modes.
#[test]
fn tmpcopyup_copies_files_dirs_links_and_modes() {
    let b = Bundle::new(
        "copyup",
        "grep -c ' /data tmpfs ' /proc/mounts; cat /data/d/f; stat -c '%n %a %F' /data/d /data/d/f /data/l; readlink /data/l",
    );
    std::fs::create_dir_all(b.rootfs().join("data/d")).unwrap();
    std::fs::write(b.rootfs().join("data/d/f"), "copied\n").unwrap();
    std::fs::set_permissions(
        b.rootfs().join("data/d/f"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::set_permissions(
        b.rootfs().join("data/d"),
        std::fs::Permissions::from_mode(0o710),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", b.rootfs().join("data/l")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs",
            "options": ["tmpcopyup"]
        }));
    });
    assert_eq!(
        b.run_ok(),
        "1\ncopied\n/data/d 710 directory\n/data/d/f 640 regular file\n/data/l 777 symbolic link\n/etc/passwd\n"
    );
}

/// A stand-in for the host's /dev: a tmpfs holding a `ptmx` character device
/// (5:2, mode 000 as the host's devpts makes it matter), `null`, and the
/// mount points of the spec's /dev mounts, bind-mounted at the container's
/// /dev. Unmounted when dropped.
struct StandInDev {
    dir: std::path::PathBuf,
}

impl StandInDev {
    fn bind_into(b: &Bundle) -> StandInDev {
        let dir = b.dir.join("host-dev");
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=755", "tong-test-dev"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs at {}", dir.display());
        let d = StandInDev { dir };
        for (name, major, minor, mode) in [("ptmx", 5, 2, 0o000), ("null", 1, 3, 0o666)] {
            nix::sys::stat::mknod(
                &d.dir.join(name),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(mode),
                nix::sys::stat::makedev(major, minor),
            )
            .unwrap();
        }
        for sub in ["pts", "shm", "mqueue"] {
            std::fs::create_dir(d.dir.join(sub)).unwrap();
        }
        let src = d.dir.to_str().unwrap().to_owned();
        b.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            let i = mounts
                .iter()
                .position(|m| m["destination"] == "/dev")
                .unwrap();
            mounts[i] = json!({"destination": "/dev", "type": "bind", "source": src,
                               "options": ["rbind", "nosuid", "noexec"]});
        });
        d
    }

    /// Every entry below the directory: name, file type, mode and device
    /// number. The mounts the container made there are gone from the host's
    /// view, so this is what was written into the directory itself.
    fn listing(&self) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        let mut todo = vec![self.dir.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let md = std::fs::symlink_metadata(e.path()).unwrap();
                let rel = e
                    .path()
                    .strip_prefix(&self.dir)
                    .unwrap()
                    .display()
                    .to_string();
                let ft = md.file_type();
                let kind = if ft.is_symlink() {
                    "symlink"
                } else if ft.is_char_device() {
                    "char"
                } else if ft.is_dir() {
                    "dir"
                } else {
                    "other"
                };
                out.push(format!("{rel} {kind} {:o} {}", md.mode(), md.rdev()));
                if md.is_dir() {
                    todo.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    fn assert_ptmx_untouched(&self) {
        let md = std::fs::symlink_metadata(self.dir.join("ptmx")).unwrap();
        assert!(
            md.file_type().is_char_device(),
            "the bound /dev's ptmx was replaced (a symlink: {})",
            md.file_type().is_symlink()
        );
    }
}

impl Drop for StandInDev {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Issue 33: with the host's /dev bound at /dev (`-v /dev:/dev`, privileged
/// set-ups, nested engines), `run` replaced the host's /dev/ptmx with a
/// symlink to pts/ptmx (non-root users lost their terminals) and added
/// fd/stdin/stdout/stderr links. Nothing the config does not name may be made
/// in a bound /dev; inside, /dev/ptmx is still the character device.
#[test]
fn a_bound_dev_is_left_as_it_was_by_run() {
    let b = Bundle::new(
        "devbind-run",
        "test -c /dev/ptmx && test ! -L /dev/ptmx && echo ok",
    );
    let dev = StandInDev::bind_into(&b);
    let before = dev.listing();
    assert_eq!(b.run_ok().trim(), "ok");
    dev.assert_ptmx_untouched();
    assert_eq!(dev.listing(), before, "run changed the bound /dev");
    drop(dev);
    b.assert_nothing_left();
}

#[test]
fn a_bound_dev_is_left_as_it_was_by_create_and_exec() {
    let b = Bundle::new("devbind-exec", "sleep 1000");
    let dev = StandInDev::bind_into(&b);
    let before = dev.listing();
    let out = b.create();
    assert!(out.status.success(), "{}", stderr(&out));
    dev.assert_ptmx_untouched();
    assert_eq!(dev.listing(), before, "create changed the bound /dev");
    assert!(b.tong(&["start", &b.id]).status.success());
    let out = b.tong(&["exec", &b.id, "sh", "-c", "test -c /dev/ptmx && echo ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    dev.assert_ptmx_untouched();
    assert_eq!(dev.listing(), before, "exec changed the bound /dev");
    assert!(b.tong(&["delete", "--force", &b.id]).status.success());
    assert_eq!(dev.listing(), before, "delete changed the bound /dev");
    drop(dev);
    b.assert_nothing_left();
}

/// `linux.devices` must be available in the container (the spec), so the one
/// node the config names is made in a bound /dev too — and nothing else.
/// (runc skips `linux.devices` when /dev is bound; see migrating-from-runc.md.)
#[test]
fn a_bound_dev_gets_only_the_configs_own_device() {
    let b = Bundle::new("devbind-cfg", "test -c /dev/tong-zero && echo ok");
    let dev = StandInDev::bind_into(&b);
    let mut before = dev.listing();
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/tong-zero", "type": "c", "major": 1,
                                        "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 0}]);
    });
    assert_eq!(b.run_ok().trim(), "ok");
    dev.assert_ptmx_untouched();
    before.push(format!(
        "tong-zero char {:o} {}",
        0o20640,
        nix::sys::stat::makedev(1, 5)
    ));
    before.sort();
    assert_eq!(dev.listing(), before);
    drop(dev);
    b.assert_nothing_left();
}
