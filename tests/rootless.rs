//! Rootless as engines run tong: as an unprivileged user, or as uid 0 of a
//! user namespace that user made (rootless podman, rootlesskit), without
//! `--root` and with `XDG_RUNTIME_DIR` set. The state, the seccomp cache and
//! every other file tong writes must then live in the user's own runtime
//! directory; cgroups the user cannot write are skipped with one warning;
//! device nodes are bound, not made; a sysfs the kernel refuses is bound.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The unprivileged user the tests run tong as.
const NOBODY: u32 = 65534;

fn chown_tree(p: &Path, id: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{id}:{id}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A bundle laid out as rootless podman lays it out: the user owns it; a
/// runtime directory (0700, the user's) is made for `XDG_RUNTIME_DIR`. The
/// config has no user namespace: the runtime already runs in one.
fn podman_like(name: &str, script: &str) -> (Bundle, PathBuf) {
    let b = Bundle::new(name, script);
    // Only uid and gid 0 are mapped: no tty group for devpts (podman, with a
    // whole subordinate range mapped, keeps it).
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "devpts" {
                let opts = m["options"].as_array_mut().unwrap();
                opts.retain(|o| o != "gid=5");
            }
        }
    });
    let xdg = b.dir.join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_tree(&b.dir, NOBODY);
    (b, xdg)
}

/// `tong ARGS` as uid 0 of a fresh user namespace made by an unprivileged
/// user (uid 0 inside is NOBODY outside), with only the environment a
/// rootless engine gives its runtime.
fn tong_in_userns(b: &Bundle, xdg: &Path, args: &[&str]) -> Output {
    tong_in_userns_from(b, xdg, args, &[])
}

/// [`tong_in_userns`] started from the cgroups whose `cgroup.procs` files
/// are given (root moves the process there before dropping privileges).
fn tong_in_userns_from(b: &Bundle, xdg: &Path, args: &[&str], procs: &[PathBuf]) -> Output {
    // Output through files: a created container inherits tong's stdio and
    // would hold a pipe open.
    let out_path = b.dir.join(".rl-out");
    let err_path = b.dir.join(".rl-err");
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"for f in $CG_PROCS; do echo $$ > "$f" || exit 99; done; exec "$@""#)
        .arg("sh")
        .env(
            "CG_PROCS",
            procs
                .iter()
                .map(|p| p.to_str().unwrap())
                .collect::<Vec<_>>()
                .join(" "),
        )
        .arg("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
            "USER=nobody",
        ])
        .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
        .arg(TONG)
        .args(args)
        .current_dir(&b.dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

fn run_args(b: &Bundle) -> Vec<String> {
    vec![
        "run".into(),
        "--bundle".into(),
        b.dir.to_str().unwrap().into(),
        b.id.clone(),
    ]
}

fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

#[test]
fn in_a_user_namespace_state_and_seccomp_cache_live_in_xdg_runtime_dir() {
    let (b, xdg) = podman_like(
        "rlxdg",
        "id -u; test -c /dev/null && echo hi > /dev/null && echo devices-ok",
    );
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["syncfs"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    let args = run_args(&b);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tong_in_userns(&b, &xdg, &args);
    let text = assert_ok(&out);
    assert_eq!(text.lines().collect::<Vec<_>>(), ["0", "devices-ok"]);
    // Cgroups this user cannot make: skipped with a single warning line.
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("cgroup")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("rootless"), "{err}");
    // The state root and the seccomp cache are the user's.
    let root = xdg.join("tong");
    let cache = root.join("@seccomp-cache");
    let meta = std::fs::symlink_metadata(&cache).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), NOBODY);
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    let meta = std::fs::metadata(&root).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (NOBODY, 0o711));
    assert!(!root.join(&b.id).exists(), "state left behind");
}

#[test]
fn in_a_user_namespace_create_state_list_delete_use_xdg_runtime_dir() {
    let (b, xdg) = podman_like("rlcycle", "sleep 1000");
    let dir = b.dir.to_str().unwrap().to_owned();
    // The user's own --log and --pid-file, as engines pass them.
    let pid_file = b.dir.join("pid");
    let out = tong_in_userns(
        &b,
        &xdg,
        &[
            "create",
            "--bundle",
            &dir,
            "--pid-file",
            pid_file.to_str().unwrap(),
            &b.id,
        ],
    );
    assert_ok(&out);
    assert!(xdg.join("tong").join(&b.id).join("state.json").exists());
    assert_eq!(
        std::fs::metadata(xdg.join("tong").join(&b.id))
            .unwrap()
            .uid(),
        NOBODY
    );
    let listed = assert_ok(&tong_in_userns(&b, &xdg, &["list", "-q"]));
    assert_eq!(listed.trim(), b.id);
    assert_ok(&tong_in_userns(&b, &xdg, &["start", &b.id]));
    let state: serde_json::Value =
        serde_json::from_str(&assert_ok(&tong_in_userns(&b, &xdg, &["state", &b.id]))).unwrap();
    assert_eq!(state["status"], "running");
    assert_ok(&tong_in_userns(&b, &xdg, &["delete", "--force", &b.id]));
    assert!(!xdg.join("tong").join(&b.id).exists());
}

#[test]
fn rootless_auto_with_an_explicit_root_skips_cgroups_in_a_user_namespace() {
    let (b, xdg) = podman_like("rlauto", "echo ran");
    let root = b.dir.join("state");
    let mut args = vec![
        "--root".to_owned(),
        root.to_str().unwrap().into(),
        "--rootless=auto".into(),
    ];
    args.extend(run_args(&b));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = assert_ok(&tong_in_userns(&b, &xdg, &args));
    assert_eq!(text.trim(), "ran");
    assert!(
        !xdg.join("tong").exists(),
        "--root given: XDG_RUNTIME_DIR unused"
    );
}

#[test]
fn rootless_false_in_a_user_namespace_makes_cgroup_errors_errors() {
    let (b, xdg) = podman_like("rlfalse", "echo ran");
    let mut args = vec!["--rootless=false".to_owned()];
    args.extend(run_args(&b));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tong_in_userns(&b, &xdg, &args);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("cgroup"), "{}", stderr(&out));
    // The attempt was made in the user's runtime directory, and undone.
    assert!(!xdg.join("tong").join(&b.id).exists());
}

#[test]
fn rootless_takes_only_a_boolean_or_auto() {
    let b = Bundle::new("rlbad", "true");
    let out = b.tong(&["--rootless=maybe", "list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--rootless"), "{}", stderr(&out));
}

/// Without CAP_MKNOD (as in a user namespace the runtime was started in),
/// the config's device nodes are bound from the host, as runc does.
#[test]
fn devices_are_bound_when_mknod_is_refused() {
    let b = Bundle::new(
        "rlmknod",
        "test -c /dev/null && test -c /dev/zero && head -c 3 /dev/zero | wc -c",
    );
    let out = Command::new("setpriv")
        .args(["--bounding-set=-mknod", "--inh-caps=-mknod", TONG, "--root"])
        .arg(&b.root)
        .args(run_args(&b))
        .current_dir(&b.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(assert_ok(&out).trim(), "3");
    b.assert_nothing_left();
}

/// A new user namespace that joins a network namespace it does not own (the
/// way slirp4netns and pasta namespaces are joined by path) may not mount a
/// sysfs: the host's /sys is bound instead, read-only as asked. On cgroup
/// v2 it may not mount cgroup2 either (EBUSY): the container's own cgroup
/// directory is bound there instead, as runc does, so the container still
/// sees its cgroup at the root (its init in `cgroup.procs`), not the host's.
#[test]
fn sysfs_is_bound_when_the_network_namespace_is_not_the_user_namespaces() {
    let v2_only = cgroup_v2_only();
    let b = Bundle::new(
        "rlsys",
        "test -d /sys/kernel && ls /sys/class/net | grep -qx lo && echo sys-ok; \
         touch /sys/kernel/x 2>/dev/null || echo read-only; \
         if [ -f /sys/fs/cgroup/cgroup.controllers ]; then \
           grep -qx 1 /sys/fs/cgroup/cgroup.procs && test ! -e /sys/fs/cgroup/init.scope && echo own-cgroup; \
         fi",
    );
    b.with_userns(200000);
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = format!("/proc/{}/ns/net", std::process::id()).into();
            }
        }
    });
    let out = b.run_ok();
    let mut want = vec!["sys-ok", "read-only"];
    if v2_only {
        want.push("own-cgroup");
    }
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    b.assert_nothing_left();
}

/// A cgroup subtree given to the user (chowned, as runc documents for
/// rootless on cgroup v1; delegated on v2) is used from its user namespace:
/// the limits are written there, the device rules, which the kernel takes
/// only from the initial user namespace, are left out (as runc does).
#[test]
fn a_cgroup_subtree_owned_by_the_user_is_used_from_its_user_namespace() {
    let (b, xdg) = podman_like("rlcg", "sleep 1000");
    // The subtree: the runtime starts in its leaf `runtime` (on cgroup v2
    // a user may move processes only between cgroups below one it owns),
    // the container goes next to it.
    let parent = format!("tong-test-rl-{}", b.id);
    let mut made = Vec::new();
    let mut procs = Vec::new();
    for m in cgroup_mounts() {
        let d = m.join(&parent);
        if std::fs::create_dir(&d).is_err() {
            continue;
        }
        made.push(d.clone());
        if m.join("cgroup.controllers").exists() {
            let _ = std::fs::write(d.join("cgroup.subtree_control"), "+memory +pids");
        }
        let leaf = d.join("runtime");
        std::fs::create_dir(&leaf).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(m.join(f)) {
                let _ = std::fs::write(d.join(f), &v);
                let _ = std::fs::write(leaf.join(f), v);
            }
        }
        chown_tree(&d, NOBODY);
        procs.push(leaf.join("cgroup.procs"));
    }
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/{parent}/{}", b.id).into();
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864},
            "devices": [{"allow": false, "access": "rwm"}]
        });
    });
    let dir = b.dir.to_str().unwrap().to_owned();
    let out = tong_in_userns_from(&b, &xdg, &["create", "--bundle", &dir, &b.id], &procs);
    let created = out.status.success();
    let limit = cgroup_mounts().iter().find_map(|m| {
        let d = m.join(&parent).join(&b.id);
        std::fs::read_to_string(d.join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(d.join("memory.max")))
            .ok()
    });
    let deleted = tong_in_userns(&b, &xdg, &["delete", "--force", &b.id]);
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d.join(&b.id));
        let _ = std::fs::remove_dir(d.join("runtime"));
        let _ = std::fs::remove_dir(d);
    }
    assert!(created, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(limit.as_deref().map(str::trim), Some("67108864"));
    assert_ok(&deleted);
}

/// A user with a systemd instance of its own (`loginctl enable-linger`),
/// whose `user@UID.service` delegates cpu, memory and pids on cgroup v2: the
/// set-up `tong --rootless` meets on a modern desktop or CI runner. Made for
/// one test, and removed (with its runtime directory) when dropped. None,
/// after the test's skip, where the host has no systemd or no cgroup v2
/// alone; in the VM that fails the run (`hack/vm/test.sh` lists the tests).
struct UserSession {
    name: String,
    uid: u32,
    /// Its group, which useradd numbers apart from the uid when that number
    /// is a group already (Debian 11's guest).
    gid: u32,
}

impl UserSession {
    fn new(tag: &str) -> Option<UserSession> {
        if let Some(why) = host_lacks_systemd_v2() {
            skip(why);
            return None;
        }
        let name = format!("tongrl{}{tag}", std::process::id());
        let ok = Command::new("useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", &name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {name}");
        let out = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid: u32 = stdout(&out).trim().parse().unwrap();
        let out = Command::new("id").args(["-g", &name]).output().unwrap();
        let gid: u32 = stdout(&out).trim().parse().unwrap();
        let s = UserSession { name, uid, gid };
        let ok = Command::new("loginctl")
            .args(["enable-linger", &s.name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "loginctl enable-linger");
        // Bounded wait for the user's systemd and its bus.
        let bus = s.run_dir().join("bus");
        for _ in 0..600 {
            if bus.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(bus.exists(), "no user bus at {}", bus.display());
        Some(s)
    }

    fn run_dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/user/{}", self.uid))
    }

    /// The user's own part of the cgroup tree, delegated to its systemd.
    fn cgroup(&self) -> PathBuf {
        let u = self.uid;
        PathBuf::from(format!(
            "/sys/fs/cgroup/user.slice/user-{u}.slice/user@{u}.service"
        ))
    }

    /// `tong ARGS` as the user, in a scope of its systemd instance (as
    /// `systemd-run --user --scope`, and podman, run things), with the
    /// environment a login session gives. `tong` is the user's copy.
    fn tong(&self, tong: &Path, dir: &Path, args: &[&str]) -> Output {
        let run = self.run_dir();
        let out_path = dir.join(".us-out");
        let err_path = dir.join(".us-err");
        let status = Command::new("runuser")
            .args(["-u", &self.name, "--", "env", "-i", "PATH=/usr/bin:/bin"])
            .arg(format!("XDG_RUNTIME_DIR={}", run.display()))
            .arg(format!(
                "DBUS_SESSION_BUS_ADDRESS=unix:path={}/bus",
                run.display()
            ))
            .args(["systemd-run", "--user", "--scope", "-q"])
            .arg(tong)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        }
    }

    /// A bundle as `tong spec --rootless` makes it for this user (its uid
    /// and gid mapped to root), owned by the user, with a 64 MiB memory
    /// limit and no cgroups path; and the user's copy of tong.
    fn bundle(&self, name: &str, script: &str) -> (Bundle, PathBuf) {
        let b = Bundle::new(name, script);
        let (uid, gid) = (self.uid, self.gid);
        b.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
            c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
            c["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["type"] == "devpts" {
                    let opts = m["options"].as_array_mut().unwrap();
                    opts.retain(|o| o != "gid=5");
                }
            }
        });
        let tong = b.dir.join("tong");
        std::fs::copy(TONG, &tong).unwrap();
        chown_tree(&b.dir, self.uid);
        (b, tong)
    }

    /// Directories named `name` anywhere under the user's cgroup.
    fn cgroups_named(&self, name: &str) -> Vec<PathBuf> {
        let out = Command::new("find")
            .arg(self.cgroup())
            .args(["-type", "d", "-name", name])
            .output()
            .unwrap();
        stdout(&out).lines().map(PathBuf::from).collect()
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        let _ = Command::new("loginctl")
            .args(["disable-linger", &self.name])
            .status();
        // Gone already when linger was its only hold: then this says so.
        let _ = Command::new("loginctl")
            .args(["terminate-user", &self.name])
            .stderr(Stdio::null())
            .status();
        // Bounded wait for its systemd to go, then the user.
        for _ in 0..300 {
            if !self.cgroup().exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// `tong --rootless` run by an ordinary user from its systemd instance's
/// delegated subtree (cgroup v2): the container's cgroup is made next to
/// the runtime's own, as runc does, and its memory limit applies, seen
/// from inside the container; nothing is left after it exits.
#[test]
fn a_user_under_its_systemd_instance_gets_its_memory_limit() {
    let Some(user) = UserSession::new("a") else {
        return;
    };
    let (b, tong) = user.bundle("rlusr", "cat /sys/fs/cgroup/memory.max");
    let dir = b.dir.to_str().unwrap().to_owned();
    let out = user.tong(
        &tong,
        &b.dir,
        &["--rootless=true", "run", "--bundle", &dir, &b.id],
    );
    assert_eq!(assert_ok(&out).trim(), "67108864", "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(user.cgroups_named(&b.id), Vec::<PathBuf>::new());
    assert!(!user.run_dir().join("tong").join(&b.id).exists());
}

/// The same with `--systemd-cgroup`: the container gets a scope of the
/// user's systemd instance (asked over the user's bus), under that
/// instance's cgroup, with the limit written there; delete stops it.
#[test]
fn a_user_with_systemd_cgroup_gets_a_scope_on_its_instance() {
    let Some(user) = UserSession::new("b") else {
        return;
    };
    let (b, tong) = user.bundle("rlsd", "sleep 1000");
    let dir = b.dir.to_str().unwrap().to_owned();
    let t = |args: &[&str]| {
        let mut a = vec!["--rootless=true", "--systemd-cgroup"];
        a.extend_from_slice(args);
        user.tong(&tong, &b.dir, &a)
    };
    let created = t(&["create", "--bundle", &dir, &b.id]);
    let scope = user
        .cgroup()
        .join("user.slice")
        .join(format!("tong-{}.scope", b.id));
    let limit = std::fs::read_to_string(scope.join("memory.max"));
    let procs = std::fs::read_to_string(scope.join("cgroup.procs"));
    let state = t(&["state", &b.id]);
    let deleted = t(&["delete", "--force", &b.id]);
    assert_ok(&created);
    assert_eq!(limit.as_deref().map(str::trim).ok(), Some("67108864"));
    let state: serde_json::Value = serde_json::from_str(&assert_ok(&state)).unwrap();
    let pid = state["pid"].as_u64().unwrap().to_string();
    assert!(
        procs.as_deref().unwrap_or("").lines().any(|l| l == pid),
        "init {pid} not in {}: {procs:?}",
        scope.display()
    );
    assert_ok(&deleted);
    assert!(!scope.exists(), "{} left after delete", scope.display());
    assert!(!user.run_dir().join("tong").join(&b.id).exists());
}
