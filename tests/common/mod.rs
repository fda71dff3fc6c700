//! Test harness: bundles made from Debian's busybox-static, a private state
//! root per test, and checks that nothing is left behind.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const TONG: &str = env!("CARGO_BIN_EXE_tong");
/// Every test cgroup lives under this parent, removed by the last bundle dropped.
pub const CGROUP_PARENT: &str = "tong-test";

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Bundle {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub id: String,
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "integration tests run real containers: run them as root"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "apt-get install busybox-static"
    );
}

fn make_rootfs(rootfs: &Path) {
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for app in String::from_utf8_lossy(&list.stdout).lines() {
        if app != "busybox" {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app)).unwrap();
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}

impl Bundle {
    /// A bundle whose process runs `sh -c script`.
    pub fn new(name: &str, script: &str) -> Bundle {
        require_root();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{name}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("tong-it-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make_rootfs(&dir.join("rootfs"));
        let out = Command::new(TONG)
            .args(["spec", "--bundle"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tong spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let b = Bundle {
            root: dir.join("state"),
            dir,
            id,
        };
        b.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
            c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{}", b.id).into();
        });
        b
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("config.json")).unwrap()).unwrap()
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    /// Adds a user namespace mapping container ids 0..65536 to host ids
    /// from `host_id`.
    pub fn with_userns(&self, host_id: u32) {
        self.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            let map = serde_json::json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        });
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// `tong --root <state> ARGS…`. Output goes through files, not pipes: a
    /// created container inherits tong's stdio and would hold a pipe open.
    pub fn tong(&self, args: &[&str]) -> Output {
        self.output(self.cmd(args))
    }

    /// `cmd`'s output, through files: a container `create` leaves running
    /// holds its stdio, so pipes would never reach EOF.
    pub fn output(&self, mut cmd: Command) -> Output {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out_path = self.dir.join(format!(".out-{n}"));
        let err_path = self.dir.join(format!(".err-{n}"));
        let status = cmd
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        let o = Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        };
        let _ = std::fs::remove_file(out_path);
        let _ = std::fs::remove_file(err_path);
        o
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(TONG);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.dir);
        c.stdin(Stdio::null());
        c
    }

    /// `tong run` of this bundle; returns the output.
    pub fn run(&self) -> Output {
        self.tong(&["run", "--bundle", self.dir.to_str().unwrap(), &self.id])
    }

    /// Runs the container and returns its stdout, asserting success.
    pub fn run_ok(&self) -> String {
        let out = self.run();
        assert!(
            out.status.success(),
            "tong run failed ({:?})\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn create(&self) -> Output {
        self.tong(&["create", "--bundle", self.dir.to_str().unwrap(), &self.id])
    }

    pub fn state(&self) -> Value {
        let out = self.tong(&["state", &self.id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_owned()
    }

    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_mounts()
            .into_iter()
            .map(|m| m.join(CGROUP_PARENT).join(&self.id))
            .collect()
    }

    /// Nothing of the container remains: state dir, cgroups, mounts of the rootfs.
    pub fn assert_nothing_left(&self) {
        let state = self.root.join(&self.id);
        assert!(!state.exists(), "state dir {} left behind", state.display());
        for d in self.cgroup_dirs() {
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let rootfs = self.rootfs();
        assert!(
            !mi.contains(rootfs.to_str().unwrap()),
            "a mount of {} is left behind",
            rootfs.display()
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.tong(&["delete", "--force", &self.id]);
        let _ = std::fs::remove_dir_all(&self.dir);
        for m in cgroup_mounts() {
            // Fails while other tests still have containers there; the last one wins.
            let _ = std::fs::remove_dir(m.join(CGROUP_PARENT));
        }
    }
}

/// A cgroup filesystem in the mount table: where, which kind, its options.
struct CgroupMount {
    point: PathBuf,
    /// `cgroup` (a v1 hierarchy) or `cgroup2`.
    fs: String,
    /// The superblock options: a v1 hierarchy's controllers are among them.
    options: String,
}

/// Every cgroup filesystem mounted on the host, from /proc/self/mountinfo.
/// What the host has is read from the mount table, never from a directory
/// existing: an engine can leave plain directories named like controllers on
/// the tmpfs at /sys/fs/cgroup (conmon does, for net_cls and others).
fn cgroup_fs() -> Vec<CgroupMount> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mut r = right.split(' ');
            let fs = r.next()?;
            let options = r.nth(1).unwrap_or_default();
            if fs != "cgroup" && fs != "cgroup2" {
                return None;
            }
            Some(CgroupMount {
                point: PathBuf::from(left.split(' ').nth(4)?),
                fs: fs.to_owned(),
                options: options.to_owned(),
            })
        })
        .collect()
}

/// Mount points of every cgroup hierarchy on the host.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    cgroup_fs().into_iter().map(|m| m.point).collect()
}

/// Where the cgroup v1 hierarchy carrying `controller` is mounted, if one is.
pub fn cgroup_v1_mount(controller: &str) -> Option<PathBuf> {
    cgroup_fs()
        .into_iter()
        .find(|m| m.fs == "cgroup" && m.options.split(',').any(|o| o == controller))
        .map(|m| m.point)
}

/// Whether a cgroup v1 hierarchy carries `controller` (a controller bound to
/// cgroup2, or absent, has none).
pub fn cgroup_v1_mounted(controller: &str) -> bool {
    cgroup_v1_mount(controller).is_some()
}

/// Whether cgroup v2 is the only cgroup filesystem, at /sys/fs/cgroup (the
/// unified layout of the VM test bed and every modern distribution).
pub fn cgroup_v2_only() -> bool {
    let m = cgroup_fs();
    m.len() == 1 && m[0].fs == "cgroup2" && m[0].point == Path::new("/sys/fs/cgroup")
}

/// Whether systemd is PID 1 (sd_booted(3): /run/systemd/system exists) and
/// the host is cgroup v2 only: what the systemd cgroup driver's tests need.
pub fn systemd_on_cgroup_v2() -> bool {
    Path::new("/run/systemd/system").is_dir() && cgroup_v2_only()
}

/// Reports that the running test cannot run on this host, as
/// `SKIP <test>: <reason>` on stderr; the caller then returns. Every skip of
/// every test file goes through here, so one pattern finds them all:
/// `hack/test.sh` and `hack/vm/test.sh` count these lines as skipped (not
/// passed), and the VM run fails when a test it exists for skips there. The
/// line is written to the process's stderr, past libtest's capture, so it is
/// seen without `--nocapture`; the test's name is libtest's name for the
/// thread it runs the test on.
pub fn skip(reason: impl std::fmt::Display) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed-test");
    // One line, whatever the reason holds (a runtime's stderr, say).
    let reason = reason.to_string().trim().replace('\n', " ");
    let _ = std::io::stderr().write_all(format!("SKIP {test}: {reason}\n").as_bytes());
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub type Lines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// Starts `tong run` in the background and returns once the container has
/// printed its first line, which must be `ready`.
pub fn run_until_ready(b: &Bundle) -> (std::process::Child, Lines) {
    use std::io::BufRead;
    let mut child = b
        .cmd(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    (child, lines)
}

/// Waits until the container's init has exited (it may linger as a zombie).
pub fn wait_init_exit(b: &Bundle) {
    let pid = b.state()["pid"].as_i64().unwrap_or(0);
    if pid > 0 {
        if let Ok(fd) = tong::linux::sys::pidfd_open(nix::unistd::Pid::from_raw(pid as i32)) {
            tong::process::wait_exit(std::os::fd::AsFd::as_fd(&fd));
        }
    }
}

/// Runs `tong --root <state> ARGS` with `file` open as fd 3 and `env` set.
pub fn tong_with_fd3(b: &Bundle, file: &Path, env: &str, args: &str) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec 3<{}; {env} exec {TONG} --root {} {args}",
            file.display(),
            b.root.display()
        ))
        .output()
        .unwrap()
}

/// The entries of a `--log-format json` log file.
pub fn log_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

impl Bundle {
    /// `tong --log <dir>/<name> --log-format json ARGS…`; returns the output
    /// and the log's path.
    pub fn tong_logged(&self, name: &str, args: &[&str]) -> (Output, PathBuf) {
        let log = self.dir.join(name);
        let l = log.to_str().unwrap().to_owned();
        let mut all = vec!["--log", l.as_str(), "--log-format", "json"];
        all.extend_from_slice(args);
        (self.tong(&all), log)
    }

    /// `tong [GLOBAL…] --log … run` of this bundle (see [`Bundle::tong_logged`]).
    pub fn run_logged(&self, global: &[&str], name: &str) -> (Output, PathBuf) {
        let mut args: Vec<&str> = global.to_vec();
        args.extend(["run", "--bundle", self.dir.to_str().unwrap(), &self.id]);
        self.tong_logged(name, &args)
    }
}

/// Runs `script` in a network namespace of the test's own (`unshare -n`),
/// where tong's "host" is that namespace: nothing touches the real host's.
pub fn in_private_netns(b: &Bundle, script: &str) -> std::process::Output {
    std::process::Command::new("unshare")
        .args(["--net", "sh", "-ec", script])
        .env("TONG", TONG)
        .env("ROOT", &b.root)
        .env("BUNDLE", &b.dir)
        .env("ID", &b.id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `tong check --format json` (with `--probe` when `probed`: `criu check`
/// and one container round trip), run once per test binary. Tests decide
/// their host skips from it, so a skip's reason is the sentence a user
/// sees in `tong check`.
fn host_report(probed: bool) -> &'static Value {
    use std::sync::OnceLock;
    static PLAIN: OnceLock<Value> = OnceLock::new();
    static PROBED: OnceLock<Value> = OnceLock::new();
    let cell = if probed { &PROBED } else { &PLAIN };
    cell.get_or_init(|| {
        let mut c = Command::new(TONG);
        c.args(["check", "--format", "json"]);
        if probed {
            c.arg("--probe");
        }
        let out = c.stdin(Stdio::null()).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tong check --format json: {e}\n{}{}",
                stdout(&out),
                stderr(&out)
            )
        })
    })
}

fn host_entry(report: &Value, id: &str) -> Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("tong check does not report {id:?}: add it to linux::host"))
}

/// The sentence of `tong check` for capability `id` when this host lacks it
/// (missing or limited); None when it is present.
pub fn host_lacks(id: &str) -> Option<String> {
    lacks_in(host_report(false), id)
}

/// [`host_lacks`] from `tong check --probe` (`criu check` runs).
pub fn host_lacks_probed(id: &str) -> Option<String> {
    lacks_in(host_report(true), id)
}

fn lacks_in(report: &Value, id: &str) -> Option<String> {
    let c = host_entry(report, id);
    (c["status"] != "present").then(|| c["sentence"].as_str().unwrap_or_default().to_owned())
}

/// For a test of a host without capability `id`: the reason to skip
/// (what the test needs, then `tong check`'s sentence) when it is present.
pub fn host_has(id: &str, need: &str) -> Option<String> {
    let c = host_entry(host_report(false), id);
    (c["status"] == "present").then(|| format!("{need}; tong check: {}", host_sentence(id)))
}

/// `tong check`'s sentence for capability `id`, whatever its status.
pub fn host_sentence(id: &str) -> String {
    host_entry(host_report(false), id)["sentence"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A fact `tong check` gives with capability `id` (`version` of a
/// controller: `v1` or `v2`); None when it gives none or has no such line.
pub fn host_fact(id: &str, key: &str) -> Option<String> {
    host_report(false)["checks"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)?["facts"][key]
        .as_str()
        .map(String::from)
}

/// For a test of cgroup v1 files: unless `ctl` is on a cgroup v1 hierarchy,
/// the reason to skip (what it needs, then `tong check`'s sentence for the
/// controller, or for the layout where cgroup v2 has no such controller).
pub fn host_lacks_v1(ctl: &str, need: &str) -> Option<String> {
    let id = format!("cgroup.{ctl}");
    if host_fact(&id, "version").as_deref() == Some("v1") {
        return None;
    }
    let listed = host_report(false)["checks"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["id"] == id.as_str()));
    let shown = if listed { id.as_str() } else { "cgroups" };
    Some(format!("{need}; tong check: {}", host_sentence(shown)))
}

/// The reason to skip a test that needs systemd as PID 1 with its bus and
/// cgroup v2 alone, from `tong check`.
pub fn host_lacks_systemd_v2() -> Option<String> {
    host_lacks("systemd").or_else(|| host_lacks("cgroups"))
}

/// Has `cmd` run under a seccomp filter that answers ENOSYS for `calls`, as
/// a kernel older than they are would (root needs no no_new_privs for it).
pub fn without_syscalls(cmd: &mut Command, calls: &[libc::c_long]) {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf: 0,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let n = calls.len() as u8;
    // Built before the fork: the child only points the kernel at it.
    let mut prog = vec![
        stmt(ld, 4),
        jeq(ARCH, 1),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    prog.push(stmt(ld, 0)); // seccomp_data.nr
    for (i, c) in calls.iter().enumerate() {
        prog.push(jeq(*c as u32, n - i as u8));
    }
    prog.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    // SAFETY: prctl only, async-signal-safe; the closure owns `prog`.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_mut_ptr(),
            };
            let r = libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &fprog as *const libc::sock_fprog,
            );
            if r == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
