//! `tong check` (issue 31): its claims against what is true on this host,
//! its exit status, the rootless caller's view, and `--probe`'s round trip
//! leaving nothing behind.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn check(args: &[&str]) -> Output {
    Command::new(TONG)
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> (Value, Output) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = check(&all);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (v, out)
}

fn entry<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {r}"))
}

fn present(r: &Value, id: &str) -> bool {
    entry(r, id)["status"] == "present"
}

/// Root on this host runs containers: exit 0, the verdict first, one line
/// per capability in the text and the same lines in the JSON.
#[test]
fn text_and_json_say_the_same_and_exit_zero_where_containers_run() {
    require_root();
    // A container does run here: the verdict must agree.
    let b = Bundle::new("checkok", "true");
    b.run_ok();
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("tong can run containers here (as root)"),
        "{first}"
    );
    let (r, jout) = json(&[]);
    assert_eq!(jout.status.code(), Some(0));
    assert_eq!(r["ok"], true);
    assert_eq!(r["summary"], first);
    for c in r["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let line = format!("{id} ");
        let l = text
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("no line for {id} in:\n{text}"));
        assert!(l.contains(c["status"].as_str().unwrap()), "{l}");
        assert!(l.contains(c["found"].as_str().unwrap()), "{l}");
        if c["status"] != "present" {
            assert!(
                c["breaks"].is_string(),
                "{c}: a short capability says what breaks"
            );
        }
        assert!(c["sentence"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{id}: {}: ", c["status"].as_str().unwrap())));
    }
    // The syscalls every container needs are there, since one just ran.
    for id in [
        "syscall.clone3",
        "syscall.close_range",
        "syscall.pidfd_open",
        "namespaces",
    ] {
        assert!(present(&r, id), "{}", entry(&r, id));
    }
}

/// The cgroup mode and each controller's hierarchy, against the mount table.
#[test]
fn cgroup_mode_and_controllers_match_mountinfo() {
    let (r, _) = json(&[]);
    let mode = entry(&r, "cgroups")["facts"]["mode"]
        .as_str()
        .unwrap()
        .to_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let fs: Vec<&str> = mi
        .lines()
        .filter_map(|l| l.split_once(" - ")?.1.split(' ').next())
        .filter(|f| *f == "cgroup" || *f == "cgroup2")
        .collect();
    let want = match (fs.contains(&"cgroup"), fs.contains(&"cgroup2")) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "none",
    };
    assert_eq!(mode, want);
    assert_eq!(present(&r, "cgroups"), cgroup_v2_only());
    for ctl in [
        "cpu", "cpuset", "memory", "blkio", "pids", "devices", "freezer",
    ] {
        let id = format!("cgroup.{ctl}");
        let Some(c) = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
        else {
            assert_eq!(mode, "v2", "{id} is listed on a host with v1 hierarchies");
            continue;
        };
        let v1 = c["facts"]["version"] == "v1";
        assert_eq!(v1, cgroup_v1_mounted(ctl), "{c}");
        if v1 {
            let at = cgroup_v1_mount(ctl).unwrap();
            assert!(
                c["found"].as_str().unwrap().contains(at.to_str().unwrap()),
                "{c}"
            );
        }
    }
    // Swap accounting as the memory hierarchy shows it.
    if let Some(m) = cgroup_v1_mount("memory") {
        assert_eq!(
            present(&r, "swap-accounting"),
            m.join("memory.memsw.limit_in_bytes").exists()
        );
    }
}

/// AppArmor and SELinux as securityfs and selinuxfs show them (neither is
/// enabled on the development host; both lines must then say missing).
#[test]
fn lsms_as_the_kernel_shows_them() {
    let (r, _) = json(&[]);
    let aa = Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.starts_with('Y'));
    assert_eq!(present(&r, "apparmor"), aa, "{}", entry(&r, "apparmor"));
    assert_eq!(
        present(&r, "selinux"),
        Path::new("/sys/fs/selinux/enforce").exists()
    );
    if !aa {
        let s = entry(&r, "apparmor")["sentence"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            s,
            "apparmor: missing: AppArmor is not enabled in this kernel; a config with process.apparmorProfile fails; boot a kernel with apparmor=1 security=apparmor, or leave the profile out"
        );
    }
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .contains("\nSeccomp:");
    assert_eq!(present(&r, "seccomp"), seccomp);
}

/// The check writes nothing: not even the state root it was given.
#[test]
fn check_leaves_no_state() {
    let dir = std::env::temp_dir().join(format!("tong-check-none-{}", std::process::id()));
    let out = Command::new(TONG)
        .arg("--root")
        .arg(&dir)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.exists(), "{} made", dir.display());
    let bad = check(&["--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("invalid format option"),
        "{}",
        stderr(&bad)
    );
}

/// `--probe`: one real container made, started and deleted; its bundle,
/// state and cgroup are gone afterwards, and `criu check`'s answer is the
/// criu line's.
#[test]
fn probe_runs_one_container_and_leaves_nothing() {
    require_root();
    let child = Command::new(TONG)
        .args(["check", "--probe", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let trip = entry(&r, "round-trip");
    assert_eq!(trip["status"], "present", "{trip}");
    let id = format!("tong-check-{pid}");
    assert!(trip["found"].as_str().unwrap().contains(&id), "{trip}");
    assert!(
        !std::env::temp_dir().join(&id).exists(),
        "bundle left behind"
    );
    for m in cgroup_mounts() {
        assert!(
            !m.join(&id).exists(),
            "cgroup {} left behind",
            m.join(&id).display()
        );
    }
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&id),
        "a mount of {id} is left behind"
    );
    let criu = entry(&r, "criu");
    match Command::new("criu").arg("check").output() {
        Ok(o) => assert_eq!(criu["status"] == "present", o.status.success(), "{criu}"),
        Err(_) => assert_eq!(criu["status"], "missing"),
    }
}

/// As an unprivileged user: its own view (subordinate ids, runtime
/// directory, delegation), and exit 1 naming why when it has no runtime
/// directory for the state.
#[test]
fn rootless_caller_sees_its_own_view() {
    require_root();
    const NOBODY: u32 = 65534;
    let xdg = std::env::temp_dir().join(format!("tong-check-xdg-{}", std::process::id()));
    std::fs::create_dir_all(&xdg).unwrap();
    std::os::unix::fs::chown(&xdg, Some(NOBODY), Some(NOBODY)).unwrap();
    let as_nobody = |xdg: Option<&Path>| {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
        ]);
        if let Some(x) = xdg {
            c.arg(format!("XDG_RUNTIME_DIR={}", x.display()));
        }
        c.args([TONG, "check", "--format", "json"]);
        c.stdin(Stdio::null()).output().unwrap()
    };
    let out = as_nobody(Some(&xdg));
    let _ = std::fs::remove_dir(&xdg);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["caller"]["rootless"], true);
    assert_eq!(r["caller"]["euid"], NOBODY);
    assert!(
        present(&r, "xdg-runtime-dir"),
        "{}",
        entry(&r, "xdg-runtime-dir")
    );
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    let has_range = subuid
        .lines()
        .any(|l| l.starts_with("nobody:") || l.starts_with(&format!("{NOBODY}:")));
    assert_eq!(
        present(&r, "subordinate-ids"),
        has_range,
        "{}",
        entry(&r, "subordinate-ids")
    );
    let helpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"]
        .iter()
        .all(|p| Path::new(p).exists());
    assert_eq!(present(&r, "newuidmap"), helpers);
    // Nothing is delegated to nobody here unless cgroup v2 hands it a cgroup.
    assert!(entry(&r, "cgroup-delegation")["status"] != "missing");
    // Root's lines are not the user's: no rootless lines for root.
    let (root, _) = json(&[]);
    assert!(root["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "xdg-runtime-dir"));
    // Without a runtime directory the state has nowhere to go: exit 1, and
    // the first line says why.
    let out = as_nobody(None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], false);
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .contains("xdg-runtime-dir: missing: XDG_RUNTIME_DIR is not set"),
        "{}",
        r["summary"]
    );
}
