//! Regression tests for attacks on the rootfs set-up (issue 11: F4, F6, F10):
//! each carries out the attack against a real container and checks that it
//! fails, and that nothing of it reaches the host.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

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
