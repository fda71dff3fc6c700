//! One case's bundle and the OCI operations on it, through the runtime's
//! runc-compatible command line.

use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub type Res = Result<(), String>;

/// What all cases share: the runtime, the work directory, the checker.
pub struct Env {
    pub runtime: PathBuf,
    pub work: PathBuf,
    pub state_root: PathBuf,
    pub checker: PathBuf,
    /// The runner's own namespaces (`net:[…]`), which are the host's.
    pub host_ns: Value,
    /// The runtime's systemd cgroup driver (`--systemd-cgroup`): cgroupsPath
    /// is `conformance.slice:cf:<id>`, the container's cgroup the scope
    /// `cf-<id>.scope` in the slice `conformance.slice`.
    pub systemd: bool,
}

/// The slice the containers' scopes go in with `--systemd-cgroup`.
pub const SLICE: &str = "conformance.slice";

/// Whether the host has the unified cgroup hierarchy only (cgroup v2): a
/// cgroup2 mount at /sys/fs/cgroup. Read from the mount table, never from a
/// file existing: on a hybrid host /sys/fs/cgroup is a tmpfs where engines
/// can leave anything.
pub fn v2() -> bool {
    cgroup_mounts()
        .iter()
        .any(|m| m.point == Path::new("/sys/fs/cgroup") && m.fs == "cgroup2")
}

/// A cgroup filesystem in the mount table.
struct CgroupMount {
    point: PathBuf,
    /// `cgroup` (a v1 hierarchy) or `cgroup2`.
    fs: String,
}

/// The cgroup filesystems of /proc/self/mountinfo.
fn cgroup_mounts() -> Vec<CgroupMount> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mi.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fs = right.split(' ').next()?;
            if fs != "cgroup" && fs != "cgroup2" {
                return None;
            }
            Some(CgroupMount {
                point: PathBuf::from(left.split(' ').nth(4)?),
                fs: fs.to_owned(),
            })
        })
        .collect()
}

/// Busybox applets the cases' scripts use.
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "touch", "ls", "mkdir", "id", "true", "false", "test", "grep",
    "ps", "hostname", "env", "stat", "readlink", "wc", "head", "rm", "mount",
];

/// How long one runtime operation or a wait for `stopped` may take before
/// the case fails (a hang is a failure, not a stuck suite).
const LIMIT: Duration = Duration::from_secs(30);

pub struct Ctx<'a> {
    pub env: &'a Env,
    pub id: String,
    pub bundle: PathBuf,
    pub config: Value,
    /// Helper processes (namespace holders) killed when the case ends.
    pub helpers: Vec<std::process::Child>,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, name: &str) -> Result<Ctx<'a>, String> {
        let id = format!("cf-{name}");
        let bundle = env.work.join(name);
        let _ = fs::remove_dir_all(&bundle);
        let rootfs = bundle.join("rootfs");
        for d in [
            "bin",
            "dev",
            "proc",
            "sys",
            "tmp",
            "etc",
            "root",
            "conformance",
        ] {
            fs::create_dir_all(rootfs.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        set_mode(&rootfs.join("tmp"), 0o1777)?;
        link_or_copy(Path::new("/bin/busybox"), &rootfs.join("bin/busybox"))?;
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))
                .map_err(|e| format!("symlink {a}: {e}"))?;
        }
        link_or_copy(&env.checker, &rootfs.join("checker"))?;
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .map_err(|e| e.to_string())?;
        fs::write(rootfs.join("etc/group"), "root:x:0:\n").map_err(|e| e.to_string())?;
        let config = base_config(&id, env.systemd);
        Ok(Ctx {
            env,

            id,
            bundle,
            config,
            helpers: Vec::new(),
        })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    pub fn args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    /// Writes config.json into the bundle, and the copy plus host facts the
    /// checker reads into the rootfs.
    pub fn write_config(&self) -> Res {
        let text = serde_json::to_vec_pretty(&self.config).map_err(|e| e.to_string())?;
        fs::write(self.bundle.join("config.json"), &text).map_err(|e| e.to_string())?;
        let cdir = self.rootfs().join("conformance");
        if cdir.is_dir() {
            fs::write(cdir.join("config.json"), &text).map_err(|e| e.to_string())?;
            let mut paths = serde_json::Map::new();
            for ns in self.config["linux"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(p) = ns["path"].as_str() {
                    if let Ok(t) = fs::read_link(p) {
                        paths.insert(p.into(), t.to_string_lossy().into_owned().into());
                    }
                }
            }
            let host = json!({"ns": self.env.host_ns, "paths": paths});
            fs::write(cdir.join("host.json"), host.to_string()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.env.runtime);
        c.arg("--root").arg(&self.env.state_root);
        if self.env.systemd {
            c.arg("--systemd-cgroup");
        }
        c.args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs an operation with its output in files: a container's init may
    /// inherit the runtime's stdout and keep a pipe open forever.
    pub fn op(&self, args: &[&str]) -> Result<Output, String> {
        let tag = args.first().copied().unwrap_or("op");
        let out_path = self.bundle.join(format!("{tag}.stdout"));
        let err_path = self.bundle.join(format!("{tag}.stderr"));
        let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let err = fs::File::create(&err_path).map_err(|e| e.to_string())?;
        let mut child = self
            .cmd(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.env.runtime.display()))?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("`{}` did not finish in {LIMIT:?}", args.join(" ")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(e.to_string()),
            }
        };
        Ok(Output {
            status,
            stdout: fs::read(&out_path).unwrap_or_default(),
            stderr: fs::read(&err_path).unwrap_or_default(),
        })
    }

    /// An operation that must succeed.
    pub fn ok(&self, args: &[&str]) -> Result<Output, String> {
        let o = self.op(args)?;
        if o.status.success() {
            Ok(o)
        } else {
            Err(format!(
                "`{}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
    }

    /// An operation that must fail.
    pub fn must_fail(&self, args: &[&str]) -> Res {
        let o = self.op(args)?;
        if o.status.success() {
            Err(format!("`{}` succeeded but must fail", args.join(" ")))
        } else {
            Ok(())
        }
    }

    pub fn create(&self) -> Res {
        self.write_config()?;
        let b = self.bundle.to_string_lossy().into_owned();
        self.ok(&["create", "--bundle", &b, &self.id]).map(drop)
    }

    pub fn start(&self) -> Res {
        self.ok(&["start", &self.id]).map(drop)
    }

    pub fn state(&self) -> Result<Value, String> {
        let o = self.ok(&["state", &self.id])?;
        serde_json::from_slice(&o.stdout).map_err(|e| format!("state is not JSON: {e}"))
    }

    pub fn status(&self) -> Result<String, String> {
        Ok(self.state()?["status"].as_str().unwrap_or("").to_string())
    }

    pub fn kill(&self, sig: &str) -> Res {
        self.ok(&["kill", &self.id, sig]).map(drop)
    }

    pub fn delete(&self) -> Res {
        self.ok(&["delete", &self.id]).map(drop)
    }

    /// Polls `state` until the container is stopped.
    pub fn wait_stopped(&self) -> Res {
        let start = Instant::now();
        loop {
            let s = self.status()?;
            if s == "stopped" {
                return Ok(());
            }
            if start.elapsed() > LIMIT {
                return Err(format!("still {s} after {LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Polls the container's stdout until it holds `needle`: a workload
    /// says when it is ready (e.g. its signal trap is set), so a test acts
    /// on it only then.
    pub fn wait_output(&self, needle: &str) -> Res {
        let start = Instant::now();
        loop {
            if self.output().contains(needle) {
                return Ok(());
            }
            if start.elapsed() > LIMIT {
                return Err(format!("no {needle:?} on stdout after {LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What the container's process wrote to its stdout (create's stdout).
    pub fn output(&self) -> String {
        fs::read_to_string(self.bundle.join("create.stdout")).unwrap_or_default()
    }

    /// create, start, wait, delete: the checker's report.
    pub fn run_to_exit(&self) -> Result<String, String> {
        self.create()?;
        self.start()?;
        self.wait_stopped()?;
        let out = self.output();
        self.delete()?;
        Ok(out)
    }

    /// The container's cgroup relative to a hierarchy's root.
    pub fn cgroup_rel(&self) -> String {
        if self.env.systemd {
            format!("{SLICE}/{}", self.unit())
        } else {
            format!("conformance/{}", self.id)
        }
    }

    /// The systemd unit of the container (with `--systemd-cgroup`).
    pub fn unit(&self) -> String {
        format!("cf-{}.scope", self.id)
    }

    /// The directory of the container's cgroup in a v1 controller, or in
    /// the unified hierarchy on a cgroup v2 host.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        let root = Path::new("/sys/fs/cgroup");
        if v2() {
            root.join(self.cgroup_rel())
        } else {
            root.join(controller).join(self.cgroup_rel())
        }
    }

    pub fn cgroup_file(&self, controller: &str, file: &str) -> Result<String, String> {
        let p = self.cgroup_dir(controller).join(file);
        fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("read {}: {e}", p.display()))
    }

    /// The runtime left nothing of this container: no state, no cgroup, no
    /// mount of its rootfs.
    pub fn nothing_left(&self) -> Res {
        if self.op(&["state", &self.id])?.status.success() {
            return Err("`state` still knows the container".into());
        }
        for c in ["memory", "pids", "cpu", "devices", "freezer"] {
            let d = self.cgroup_dir(c);
            if d.exists() {
                return Err(format!("cgroup {} left behind", d.display()));
            }
        }
        if self.env.systemd && unit_known(&self.unit()) {
            return Err(format!("systemd unit {} left behind", self.unit()));
        }
        let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if mi.contains(&*self.rootfs().to_string_lossy()) {
            return Err("a mount of the rootfs is left behind".into());
        }
        Ok(())
    }

    /// Starts a process holding new namespaces of the given unshare(1) kinds
    /// (`--net`, `--ipc`, `--uts`) and returns its pid.
    pub fn ns_holder(&mut self, kinds: &[&str]) -> Result<u32, String> {
        let child = Command::new("unshare")
            .args(kinds)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let pid = child.id();
        self.helpers.push(child);
        // unshare(1) execs sleep once the namespaces exist.
        let start = Instant::now();
        let exe = fs::read_link("/proc/self/exe").unwrap_or_default();
        while fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default() == exe
            || fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim()
                != "sleep"
        {
            if start.elapsed() > LIMIT {
                return Err("namespace holder did not start".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(pid)
    }

    /// Removes whatever the case left: the container, helpers, the bundle.
    pub fn cleanup(&mut self) {
        if let Ok(s) = self.state() {
            if let Some(pid) = s["pid"].as_i64().filter(|p| *p > 0) {
                if s["status"] != "stopped" {
                    let _ = self.op(&["kill", &self.id, "KILL"]);
                }
                let _ = pid;
            }
            let _ = self.wait_stopped();
            let _ = self.op(&["delete", "--force", &self.id]);
        }
        for h in &mut self.helpers {
            let _ = h.kill();
            let _ = h.wait();
        }
        if self.env.systemd && self.cgroup_dir("memory").exists() {
            // What the runtime left, so that the next runs start clean.
            let _ = Command::new("systemctl")
                .args(["stop", &self.unit()])
                .output();
        }
        for c in cgroup_controllers() {
            let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join(self.cgroup_rel()));
        }
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(self.cgroup_rel()));
        let _ = fs::remove_dir_all(&self.bundle);
    }
}

/// Whether systemd knows the unit at all (loaded, active or failed).
pub fn unit_known(unit: &str) -> bool {
    Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain", unit])
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
}

pub fn cgroup_controllers() -> Vec<String> {
    fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn set_mode(p: &Path, mode: u32) -> Res {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn link_or_copy(from: &Path, to: &Path) -> Res {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {}: {e}", from.display()))
}

/// runc's `spec` defaults, with the checker as the process.
/// With `systemd`, the cgroupsPath is runc's `slice:prefix:name`.
pub fn base_config(id: &str, systemd: bool) -> Value {
    let cgroups_path = if systemd {
        format!("{SLICE}:cf:{id}")
    } else {
        format!("/conformance/{id}")
    };
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/checker"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Judges a checker report: every line ok (skips allowed), `done` reached,
/// and each expected pointer verified.
pub fn judge(report: &str, expect: &[String]) -> Res {
    if !report.lines().any(|l| l == "done") {
        return Err(format!(
            "the checker did not finish; it printed: {}",
            report.trim()
        ));
    }
    let bad: Vec<&str> = report.lines().filter(|l| l.starts_with("not ok")).collect();
    if !bad.is_empty() {
        return Err(bad.join("; "));
    }
    for e in expect {
        let line = format!("ok {e}");
        if !report.lines().any(|l| l == line) {
            return Err(format!("the checker did not verify {e}"));
        }
    }
    Ok(())
}
