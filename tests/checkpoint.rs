//! `checkpoint` and `restore` with CRIU (issue 17). Debian's criu 3.17 runs
//! only where `criu check` passes (the VM test bed's 6.1 kernel, not a 6.18
//! host): there these run and may not skip (`hack/vm/test.sh` lists this
//! file); elsewhere they report `SKIP` (`common::skip`), except the
//! plain-error tests, which run everywhere.

mod common;
use common::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether `criu check` passes here, and if not, criu's reason.
fn criu_check() -> &'static Result<(), String> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    CHECK.get_or_init(|| match Command::new("criu").arg("check").output() {
        Err(e) => Err(format!("no criu: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let text = format!("{}{}", stdout(&o), stderr(&o));
            Err(text
                .lines()
                .find(|l| l.contains("Error"))
                .unwrap_or(text.trim())
                .to_owned())
        }
    })
}

macro_rules! require_criu {
    () => {
        if let Some(why) = host_lacks_probed("criu") {
            return skip(why);
        }
    };
}

/// A container counting on a tmpfs: `/data/log` gets 1, 2, 3, … one line
/// every 0.1 s. Its stdio is the container's own /dev/null (criu cannot
/// dump a descriptor of a host file it does not see).
fn counter(name: &str) -> Bundle {
    with_data(
        name,
        "exec >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >> /data/log; sleep 0.1; done",
    )
}

/// A bundle running `script` with a tmpfs at /data.
fn with_data(name: &str, script: &str) -> Bundle {
    let b = Bundle::new(name, script);
    std::fs::create_dir_all(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
    });
    b
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn start(b: &Bundle) {
    ok(
        &b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]),
        "run -d",
    );
}

/// The counter's lines, read through `exec` in container `id`; none before
/// its first line (`run -d` can return before the shell wrote it).
fn count_log(b: &Bundle, id: &str) -> Vec<u64> {
    let o = b.tong(&[
        "exec",
        id,
        "sh",
        "-c",
        "[ ! -e /data/log ] || cat /data/log",
    ]);
    ok(&o, "exec cat /data/log");
    stdout(&o)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until the counter in `id` reached at least `n`; returns its log.
fn wait_count(b: &Bundle, id: &str, n: u64) -> Vec<u64> {
    let t = Instant::now();
    loop {
        let log = count_log(b, id);
        if log.last().is_some_and(|l| *l >= n) {
            return log;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "counter stuck at {log:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The log counted without a restart: 1, 2, 3, … with no gap or repeat.
fn assert_one_run(log: &[u64]) {
    for (i, v) in log.iter().enumerate() {
        assert_eq!(
            *v,
            i as u64 + 1,
            "the counter restarted or skipped: {log:?}"
        );
    }
}

fn timed(b: &Bundle, args: &[&str], what: &str) -> Duration {
    let t = Instant::now();
    ok(&b.tong(args), what);
    let d = t.elapsed();
    let _ = std::io::stderr().write_all(format!("{what}: {d:?}\n").as_bytes());
    d
}

fn checkpoint(b: &Bundle, id: &str, images: &Path, extra: &[&str]) {
    checkpoint_with(b, &[], id, images, extra)
}

fn checkpoint_with(b: &Bundle, global: &[&str], id: &str, images: &Path, extra: &[&str]) {
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["checkpoint", "--image-path", images.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.push(id);
    timed(b, &args, &format!("checkpoint {id} {extra:?}"));
}

fn restore(b: &Bundle, id: &str, images: &Path) -> i32 {
    restore_with(b, &[], id, images, &[])
}

/// `tong GLOBAL… restore -d … EXTRA… id`, checked like `restore`.
fn restore_with(b: &Bundle, global: &[&str], id: &str, images: &Path, extra: &[&str]) -> i32 {
    let pid_file = b.dir.join(format!("{id}.pid"));
    let mut args: Vec<&str> = global.to_vec();
    args.extend([
        "restore",
        "-d",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    args.push(id);
    timed(b, &args, &format!("restore {id}"));
    let st = state_of(b, id);
    assert_eq!(st["status"], "running", "{st}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"], pid, "pid file and state disagree");
    // The state names the restored init, start time and all.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.root.join(id).join("state.json")).unwrap())
            .unwrap();
    assert!(
        saved.get("creator").is_none(),
        "restore left its creator marker: {saved}"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved["start_time"], start);
    pid
}

fn state_of(b: &Bundle, id: &str) -> serde_json::Value {
    let o = b.tong(&["state", id]);
    ok(&o, "state");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The container is gone: no state, no cgroup.
fn assert_gone(b: &Bundle, id: &str, cgroup: &str) {
    assert!(!b.root.join(id).exists(), "state of {id} left behind");
    for m in cgroup_mounts() {
        let d = m.join(CGROUP_PARENT).join(cgroup);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
}

fn images(b: &Bundle, name: &str) -> PathBuf {
    b.dir.join(name)
}

#[test]
fn checkpoint_and_restore_continue_the_counter() {
    require_criu!();
    let b = counter("ckcount");
    start(&b);
    let before = wait_count(&b, &b.id, 5);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    // criu killed it; like runc, tong deleted the container.
    assert_gone(&b, &b.id, &b.id);
    assert!(img.join("inventory.img").exists());
    restore(&b, &b.id, &img);
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "lost the counter's state"
    );
    assert_one_run(&after);
    // exec, kill and delete treat it like any running container.
    ok(&b.tong(&["exec", &b.id, "true"]), "exec");
    ok(&b.tong(&["kill", &b.id, "KILL"]), "kill");
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

#[test]
fn restore_under_a_new_id() {
    require_criu!();
    let b = counter("cknewid");
    start(&b);
    let before = wait_count(&b, &b.id, 5);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    let new = format!("{}-moved", b.id);
    // Its own cgroup too: criu restores into it (cgroup root).
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{new}").into());
    restore(&b, &new, &img);
    assert!(!b.root.join(&b.id).exists());
    let pid = state_of(&b, &new)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(&new),
        "restored init is not in its new cgroup: {cg}"
    );
    let after = wait_count(&b, &new, before.len() as u64 + 3);
    assert_one_run(&after);
    ok(&b.tong(&["delete", "--force", &new]), "delete");
    assert_gone(&b, &new, &new);
    b.assert_nothing_left();
}

#[test]
fn leave_running_keeps_the_container() {
    require_criu!();
    let b = counter("ckleave");
    start(&b);
    wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &["--leave-running"]);
    assert_eq!(b.status(), "running");
    let n = count_log(&b, &b.id).len() as u64;
    let later = wait_count(&b, &b.id, n + 3);
    assert_one_run(&later);
    // The images restore the state of that moment, under a new id.
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    let new = format!("{}-copy", b.id);
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{new}").into());
    restore(&b, &new, &img);
    let log = wait_count(&b, &new, 3);
    assert_one_run(&log);
    ok(&b.tong(&["delete", "--force", &new]), "delete");
    assert_gone(&b, &new, &new);
}

#[test]
fn pre_dump_then_dump_with_parent_path() {
    require_criu!();
    let b = counter("ckpredump");
    start(&b);
    wait_count(&b, &b.id, 3);
    let pre = images(&b, "pre");
    checkpoint(&b, &b.id, &pre, &["--pre-dump"]);
    assert_eq!(b.status(), "running", "a pre-dump leaves it running");
    let before = wait_count(&b, &b.id, 6);
    let full = images(&b, "full");
    checkpoint(&b, &b.id, &full, &["--parent-path", "../pre"]);
    assert_gone(&b, &b.id, &b.id);
    restore(&b, &b.id, &full);
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

#[test]
fn bind_mount_is_restored_as_external() {
    require_criu!();
    let b = Bundle::new(
        "ckbind",
        "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i > /host/count; sleep 0.1; done",
    );
    let host = b.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(b.rootfs().join("host")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/host", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
    });
    let read = || -> u64 {
        std::fs::read_to_string(host.join("count"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    };
    start(&b);
    let t = Instant::now();
    while read() < 3 {
        assert!(t.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(100));
    }
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    let at = read();
    restore(&b, &b.id, &img);
    // It goes on writing to the host's directory, from where it stopped.
    let t = Instant::now();
    while read() < at + 3 {
        assert!(t.elapsed() < Duration::from_secs(60), "stuck at {}", read());
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Where `criu check` fails, a checkpoint fails with criu's own reason and
/// changes nothing; everywhere, a criu that is missing is named plainly.
#[test]
fn checkpoint_fails_plainly_and_leaves_nothing() {
    let b = counter("ckplain");
    start(&b);
    let img = images(&b, "img");
    let check = |o: &std::process::Output, want: &str| {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
        assert!(stderr(o).contains(want), "want {want:?} in: {}", stderr(o));
        assert!(!img.exists(), "image directory left behind");
        assert_eq!(b.status(), "running");
    };
    let o = b.tong(&[
        "--criu",
        "/no/such/criu",
        "checkpoint",
        "--image-path",
        img.to_str().unwrap(),
        &b.id,
    ]);
    check(&o, "criu binary \"/no/such/criu\" not found");
    match criu_check() {
        // No criu at all (Debian 11 has no package): the missing binary,
        // named as with --criu.
        Err(why) if why.starts_with("no criu: ") => {
            let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
            check(&o, "criu binary \"criu\" not found");
        }
        Err(why) => {
            let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
            // criu's words, as `criu check` says them.
            let reason = why.split_once("): ").map(|(_, r)| r).unwrap_or(why);
            check(&o, reason);
            assert!(
                stderr(&o).starts_with("tong: error: checkpoint failed: criu: "),
                "{}",
                stderr(&o)
            );
        }
        Ok(()) => {
            let _ = std::io::stderr().write_all(
                b"checkpoint_fails_plainly_and_leaves_nothing: criu works here; checked the missing-binary error\n",
            );
        }
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Errors that need no working criu: each names its cause, exits 1 and
/// leaves nothing behind.
#[test]
fn checkpoint_and_restore_refuse_plainly() {
    let b = counter("ckrefuse");
    ok(&b.create(), "create");
    let img = images(&b, "img");
    let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it is created, not running"),
        "{}",
        stderr(&o)
    );
    assert!(!img.exists());
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    // No image directory, then one that is no checkpoint.
    let new = format!("{}-r", b.id);
    for dir in [img.clone(), b.dir.clone()] {
        let o = b.tong(&[
            "restore",
            "-d",
            "--image-path",
            dir.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &new,
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is not a checkpoint image directory: it has no inventory.img"),
            "{}",
            stderr(&o)
        );
        assert!(!b.root.join(&new).exists());
    }
    let o = b.tong(&["checkpoint", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    b.assert_nothing_left();
    start(&b);
    let ps = ["--page-server", "127.0.0.1:1"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--manage-cgroups-mode", "bogus"],
            "invalid --manage-cgroups-mode \"bogus\"",
        ),
        (
            &["--empty-ns", "ipc"],
            "invalid --empty-ns \"ipc\": only network is supported",
        ),
        (
            &["--page-server", "nowhere"],
            "invalid --page-server \"nowhere\": want ADDRESS:PORT",
        ),
        (
            &["--lazy-pages"],
            "--lazy-pages needs --page-server ADDRESS:PORT",
        ),
        (
            &["--lazy-pages", ps[0], ps[1], "--pre-dump"],
            "--lazy-pages cannot be combined with --pre-dump",
        ),
        (
            &["--lazy-pages", ps[0], ps[1], "--leave-running"],
            "--lazy-pages cannot be combined with --leave-running",
        ),
        (
            &["--status-fd", "2"],
            "--status-fd 2 is only used with --lazy-pages",
        ),
        (
            &["--lazy-pages", ps[0], ps[1], "--status-fd", "99"],
            "invalid --status-fd 99: not an open file descriptor",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["checkpoint", "--image-path", img.to_str().unwrap()];
        args.extend_from_slice(flags);
        args.push(&b.id);
        let o = b.tong(&args);
        assert_eq!(o.status.code(), Some(1), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{flags:?}: {}", stderr(&o));
        assert!(!img.exists());
        assert_eq!(b.status(), "running");
    }
    // A status fd that is open but read-only: checked once criu is found
    // (on a host where criu is missing the missing binary is the error).
    if Path::new("/usr/sbin/criu").exists() {
        let o = tong_with_fd3(
            &b,
            Path::new("/dev/null"),
            "",
            &format!(
                "checkpoint --image-path {} --lazy-pages --page-server 127.0.0.1:1 --status-fd 3 {}",
                img.display(),
                b.id
            ),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("invalid --status-fd 3: not open for writing"),
            "{}",
            stderr(&o)
        );
        assert!(!img.exists());
        assert_eq!(b.status(), "running");
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    // Restore: --no-pivot, and a terminal container without a console
    // socket (checked before criu runs, against an image directory).
    let fake = images(&b, "fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("inventory.img"), b"").unwrap();
    let restore_err = |extra: &[&str], want: &str| {
        let mut args = vec![
            "restore",
            "-d",
            "--image-path",
            fake.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(&new);
        let o = b.tong(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{extra:?}: {}", stderr(&o));
        assert!(!b.root.join(&new).exists());
    };
    restore_err(&["--no-pivot"], "restore --no-pivot is not supported");
    let sock = b.dir.join("console.sock");
    restore_err(
        &["--console-socket", sock.to_str().unwrap()],
        "cannot use console socket if tong will not detach or allocate tty",
    );
    b.edit(|c| c["process"]["terminal"] = true.into());
    restore_err(
        &[],
        "cannot restore a terminal container without --console-socket (config field /process/terminal)",
    );
    b.assert_nothing_left();
}

/// A child process killed (and reaped) when the test ends, whatever happens.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Waits (bounded) for the child to exit; its status.
    fn wait(&mut self, what: &str) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(180),
                "{what} did not exit"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits until something listens on TCP `port` in this network namespace.
fn wait_listening(port: u16) {
    let want = format!(":{port:04X} 00000000:0000 0A");
    let t = Instant::now();
    while !std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .contains(&want)
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP port nothing uses now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A listening TCP server (busybox nc, on IPv6's dual stack) and a client
/// connected to it, both in the container's own network namespace: the client sends 1, 2, 3, … through
/// the connection, the server echoes each back, the client logs the echo.
/// Without `--tcp-established` criu refuses the connection (and the
/// container runs on); with it, the connection and the listening socket
/// survive checkpoint and restore.
#[test]
fn tcp_server_and_established_connection_survive() {
    require_criu!();
    let b = with_data(
        "cktcp",
        "exec </dev/null >/dev/null 2>&1; touch /data/log; ip link set lo up; nc -ll -p 8000 -e cat & \
         until grep -q ':1F40 0*:0000 0A' /proc/net/tcp /proc/net/tcp6; do sleep 0.1; done; \
         i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done | nc 127.0.0.1 8000 >> /data/log",
    );
    start(&b);
    wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--tcp-established"),
        "criu's reason should name --tcp-established: {}",
        stderr(&o)
    );
    assert!(!img.exists(), "a failed checkpoint left its images");
    assert_eq!(b.status(), "running");
    let n = count_log(&b, &b.id).len() as u64;
    let before = wait_count(&b, &b.id, n + 3);
    assert_one_run(&before);
    checkpoint(&b, &b.id, &img, &["--tcp-established"]);
    assert_gone(&b, &b.id, &b.id);
    let bundle = b.dir.to_str().unwrap();
    let pid_file = b.dir.join("r.pid");
    let mut args = vec!["restore", "-d", "--tcp-established", "--image-path"];
    args.extend([img.to_str().unwrap(), "--bundle", bundle]);
    args.extend(["--pid-file", pid_file.to_str().unwrap(), &b.id]);
    timed(&b, &args, "restore --tcp-established");
    // The echoes go on over the restored connection, with no gap.
    let after = wait_count(&b, &b.id, before.len() as u64 + 5);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    // The listening socket takes a new connection.
    let o = b.tong(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "grep -q ':1F40 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 || exit 2; \
         echo hello | nc 127.0.0.1 8000 > /data/reply & p=$!; \
         for n in $(seq 300); do grep -q hello /data/reply && { kill $p; exit 0; }; sleep 0.1; done; kill $p; exit 1",
    ]);
    ok(&o, "a new connection to the restored server");
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Lines of numbers read from a pty master by a thread, handed over as
/// they come.
fn tty_lines(master: std::fs::File) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(master).lines() {
            let Ok(line) = line else { return };
            if let Ok(n) = line.trim().parse() {
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next_line(rx: &std::sync::mpsc::Receiver<u64>) -> u64 {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("no line from the terminal within 60 s")
}

fn receive_master(listener: &std::os::unix::net::UnixListener) -> std::fs::File {
    use std::os::fd::AsFd;
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let (_, fd) = tong::linux::sys::recv_with_fd(conn.as_fd(), &mut buf).unwrap();
    std::fs::File::from(fd.expect("no fd with the console message"))
}

/// A terminal container: checkpointed with its pty, restored with a new
/// `--console-socket` that receives the new master, on which the output
/// goes on from where it stopped.
#[test]
fn terminal_container_restores_onto_a_new_console() {
    require_criu!();
    let b = Bundle::new(
        "cktty",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done",
    );
    b.edit(|c| c["process"]["terminal"] = true.into());
    let sock = b.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let bundle = b.dir.to_str().unwrap();
    ok(
        &b.tong(&[
            "run",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            bundle,
            &b.id,
        ]),
        "run -d with a terminal",
    );
    let master = receive_master(&listener);
    let keep = master.try_clone().unwrap();
    let rx = tty_lines(master);
    let mut last = 0;
    while last < 5 {
        let n = next_line(&rx);
        assert_eq!(n, last + 1, "the terminal skipped a line");
        last = n;
    }
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    assert_gone(&b, &b.id, &b.id);
    // What the old terminal still held, then it is closed.
    while let Ok(n) = rx.recv_timeout(Duration::from_millis(500)) {
        assert_eq!(n, last + 1);
        last = n;
    }
    drop(keep);
    let sock2 = b.dir.join("console2.sock");
    let listener2 = std::os::unix::net::UnixListener::bind(&sock2).unwrap();
    restore_with(
        &b,
        &[],
        &b.id,
        &img,
        &["--console-socket", sock2.to_str().unwrap()],
    );
    let rx2 = tty_lines(receive_master(&listener2));
    let first = next_line(&rx2);
    assert!(
        first > last,
        "the restored process restarted: {first} after {last}"
    );
    let mut prev = first;
    for _ in 0..3 {
        let n = next_line(&rx2);
        assert_eq!(n, prev + 1, "the restored terminal skipped a line");
        prev = n;
    }
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Without `--detach`, restore waits for the restored container and
/// returns its exit status, then deletes it.
#[test]
fn foreground_restore_returns_the_exit_status() {
    require_criu!();
    let b = with_data(
        "ckfg",
        "exec </dev/null >/dev/null 2>&1; i=0; while [ ! -e /data/stop ]; do i=$((i+1)); echo $i >> /data/log; sleep 0.1; done; exit 7",
    );
    start(&b);
    let before = wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    checkpoint(&b, &b.id, &img, &[]);
    let child = b
        .cmd(&[
            "restore",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let t = Instant::now();
    while !b.root.join(&b.id).join("state.json").exists()
        || b.tong(&["state", &b.id]).status.code() != Some(0)
        || b.status() != "running"
    {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "restore exited early"
        );
        assert!(t.elapsed() < Duration::from_secs(120), "restore never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_one_run(&after);
    ok(
        &b.tong(&["exec", &b.id, "touch", "/data/stop"]),
        "exec touch",
    );
    let st = child.wait("foreground restore");
    assert_eq!(st.code(), Some(7), "restore's exit status");
    b.assert_nothing_left();
}

/// Under `--systemd-cgroup` the restored container is in a transient scope
/// of its own, gone after delete.
#[test]
fn restore_under_the_systemd_driver() {
    require_criu!();
    if let Some(why) = host_lacks_systemd_v2() {
        return skip(why);
    }
    let b = counter("cksd");
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("system.slice:tongtest:{}", b.id).into());
    let unit = format!("tongtest-{}.scope", b.id);
    let known = |u: &str| {
        let o = Command::new("systemctl")
            .args(["list-units", "--all", "--no-legend", "--plain", u])
            .output()
            .unwrap();
        !stdout(&o).trim().is_empty()
    };
    let sd = ["--systemd-cgroup"];
    let mut run = sd.to_vec();
    run.extend(["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    ok(&b.tong(&run), "run -d --systemd-cgroup");
    let before = wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    checkpoint_with(&b, &sd, &b.id, &img, &[]);
    assert!(!b.root.join(&b.id).exists());
    assert!(!known(&unit), "{unit} left after the checkpoint");
    let pid = restore_with(&b, &sd, &b.id, &img, &[]);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/system.slice/{unit}"));
    let o = Command::new("systemctl")
        .args(["show", &unit, "-p", "ActiveState"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "ActiveState=active");
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    let mut del = sd.to_vec();
    del.extend(["delete", "--force", &b.id]);
    ok(&b.tong(&del), "delete");
    assert!(!known(&unit), "{unit} left after delete");
    assert!(!Path::new("/sys/fs/cgroup/system.slice")
        .join(&unit)
        .exists());
    assert!(!b.root.join(&b.id).exists());
}

/// `--page-server`: criu sends the pages to a `criu page-server` that
/// writes them into the same image directory; restore reads them there.
#[test]
fn checkpoint_to_a_page_server() {
    require_criu!();
    let b = counter("ckps");
    start(&b);
    let before = wait_count(&b, &b.id, 3);
    let img = images(&b, "img");
    std::fs::create_dir_all(&img).unwrap();
    let port = free_port();
    let mut server = Reaped(
        Command::new("criu")
            .args(["page-server", "--images-dir", img.to_str().unwrap()])
            .args(["--port", &port.to_string(), "-o", "page-server.log"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    let ps = format!("127.0.0.1:{port}");
    checkpoint(&b, &b.id, &img, &["--page-server", &ps]);
    assert!(server.wait("criu page-server").success());
    assert_gone(&b, &b.id, &b.id);
    restore(&b, &b.id, &img);
    let after = wait_count(&b, &b.id, before.len() as u64 + 3);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// Runs `cmd` under sh with fd 3 a pipe and stdout /dev/null; returns once
/// the command closed fd 3 (its status byte, then EOF, or its exit), with
/// what it wrote there.
fn with_status_fd(cmd: &str) -> (Vec<u8>, Reaped) {
    let (mut status_r, status_w) = std::io::pipe().unwrap();
    let child = Reaped(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec 3>&1 1>/dev/null; exec {cmd}"))
            .stdin(std::process::Stdio::null())
            .stdout(status_w)
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut byte = Vec::new();
        let _ = (&mut status_r).take(2).read_to_end(&mut byte);
        let _ = tx.send(byte);
    });
    let byte = rx
        .recv_timeout(Duration::from_secs(180))
        .unwrap_or_else(|_| panic!("no status byte within 180 s from {cmd}"));
    (byte, child)
}

/// Lazy migration: checkpoint `--lazy-pages` serves the memory from a page
/// server and writes a byte to `--status-fd` once that is ready; a restore
/// `--lazy-pages` (under a new id: the original is not gone until its last
/// page is fetched) takes the pages through `criu lazy-pages`.
#[test]
fn lazy_pages_with_status_fd() {
    require_criu!();
    let b = counter("cklazy");
    start(&b);
    let before = wait_count(&b, &b.id, 5);
    let img = images(&b, "img");
    let port = free_port();
    let ps = format!("127.0.0.1:{port}");
    let (ck_status, mut ck) = with_status_fd(&format!(
        "{TONG} --root {} checkpoint --image-path {} --lazy-pages --page-server {ps} --status-fd 3 {}",
        b.root.display(),
        img.display(),
        b.id
    ));
    assert_eq!(
        ck_status,
        [0],
        "the status fd should get one 0 byte, then EOF"
    );
    assert!(img.join("inventory.img").exists());
    // criu lazy-pages listens on lazy-pages.socket before it writes its
    // status byte; a restore started earlier finds no socket.
    let (lazy_status, mut lazy) = with_status_fd(&format!(
        "criu lazy-pages --page-server --address 127.0.0.1 --port {port} -D {} -o lazy-pages.log --status-fd 3",
        img.display()
    ));
    assert_eq!(lazy_status, [0], "criu lazy-pages: status byte");
    let new = format!("{}-lazy", b.id);
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{new}").into());
    restore_with(&b, &[], &new, &img, &["--lazy-pages"]);
    let after = wait_count(&b, &new, before.len() as u64 + 3);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_one_run(&after);
    assert!(ck.wait("checkpoint --lazy-pages").success());
    assert!(lazy.wait("criu lazy-pages").success());
    // The original is deleted once its pages are all fetched.
    assert!(!b.root.join(&b.id).exists());
    ok(&b.tong(&["delete", "--force", &new]), "delete");
    assert_gone(&b, &new, &new);
    assert_gone(&b, &b.id, &b.id);
}

/// A directory owned by `nobody` (65534), as another user's would be.
fn nobodys_dir(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
    std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
}

/// C1/C2 (issue 27): checkpoint into an `--image-path` or `--work-path`
/// owned by another user followed their symlinks: descriptors.json and
/// criu's dump.log overwrote a root-owned file. Such directories are refused
/// before anything is written; the container keeps running.
#[test]
fn c1_c2_checkpoint_refuses_another_users_directories() {
    let b = counter("ckc1");
    start(&b);
    let victim = b.dir.join("victim");
    std::fs::write(&victim, "root's\n").unwrap();
    let img = images(&b, "theirs-img");
    nobodys_dir(&img);
    std::os::unix::fs::symlink(&victim, img.join("descriptors.json")).unwrap();
    let o = b.tong(&["checkpoint", "--image-path", img.to_str().unwrap(), &b.id]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is owned by uid 65534, not by the caller"),
        "{}",
        stderr(&o)
    );
    let mine = images(&b, "my-img");
    let work = images(&b, "theirs-work");
    nobodys_dir(&work);
    std::os::unix::fs::symlink(&victim, work.join("dump.log")).unwrap();
    let o = b.tong(&[
        "checkpoint",
        "--image-path",
        mine.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        &b.id,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("work directory") && stderr(&o).contains("owned by uid 65534"),
        "{}",
        stderr(&o)
    );
    assert!(!mine.exists(), "image directory left behind");
    // Writable by others is refused too.
    let open = images(&b, "open-img");
    std::fs::create_dir(&open).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = b.tong(&["checkpoint", "--image-path", open.to_str().unwrap(), &b.id]);
    assert!(
        stderr(&o).contains("writable by group or others"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's\n");
    // A link to another user's directory is refused like the directory; a
    // link to one of the caller's is followed (containerd's `work` is a
    // link into /var/lib/containerd).
    let link = images(&b, "link-to-theirs");
    std::os::unix::fs::symlink(&work, &link).unwrap();
    let o = b.tong(&["checkpoint", "--image-path", link.to_str().unwrap(), &b.id]);
    assert!(stderr(&o).contains("owned by uid 65534"), "{}", stderr(&o));
    let real = images(&b, "real-work");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = images(&b, "link-to-mine");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = b.tong(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        images(&b, "img-beside-link").to_str().unwrap(),
        "--work-path",
        link.to_str().unwrap(),
        &b.id,
    ]);
    assert!(!stderr(&o).contains("work directory"), "{}", stderr(&o));
    assert_eq!(b.status(), "running");
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}

/// C4 (issue 27): restore read a descriptors.json that was a FIFO (and
/// hung) or /dev/zero (and read until memory ran out). It is read without
/// following links, as a regular file of bounded size, before anything is
/// made.
#[test]
fn c4_restore_reads_descriptors_only_from_a_small_regular_file() {
    let b = counter("ckc4");
    let img = images(&b, "img");
    std::fs::create_dir(&img).unwrap();
    std::fs::write(img.join("inventory.img"), "").unwrap();
    let d = img.join("descriptors.json");
    let restore = |b: &Bundle| {
        b.tong(&[
            "restore",
            "--detach",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
    };
    nix::unistd::mkfifo(&d, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let o = restore(&b);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("descriptors.json is not a regular file"),
        "{}",
        stderr(&o)
    );
    b.assert_nothing_left();
    std::fs::remove_file(&d).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &d).unwrap();
    let o = restore(&b);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("descriptors.json"), "{}", stderr(&o));
    b.assert_nothing_left();
    std::fs::remove_file(&d).unwrap();
    std::fs::write(&d, vec![b' '; 100_000]).unwrap();
    let o = restore(&b);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("more than the 65536"), "{}", stderr(&o));
    b.assert_nothing_left();
}

/// Issue 29: `checkpoint --pre-dump --parent-path BAD` fails (runc: the
/// parent must exist, relative to the image path) and the container runs on.
#[test]
fn a_bad_parent_path_fails_before_anything_is_dumped() {
    let b = counter("ckparent");
    start(&b);
    let img = images(&b, "img");
    for (parent, want) in [
        ("../no-such-parent", "no such file or directory"),
        ("/abs/parent", "must be relative to the image path"),
    ] {
        let o = b.tong(&[
            "checkpoint",
            "--pre-dump",
            "--image-path",
            img.to_str().unwrap(),
            "--parent-path",
            parent,
            &b.id,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("--parent-path") && e.contains(want), "{e}");
        assert!(!img.exists(), "image directory left behind");
        assert_eq!(b.status(), "running");
    }
    // A parent beside an image directory that does not exist yet is found
    // (criu opens it from the image directory once it is made).
    std::fs::create_dir(b.dir.join("pre")).unwrap();
    let o = b.tong(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        img.to_str().unwrap(),
        "--parent-path",
        "../pre",
        &b.id,
    ]);
    assert!(!stderr(&o).contains("--parent-path"), "{}", stderr(&o));
    ok(&b.tong(&["delete", "--force", &b.id]), "delete");
    b.assert_nothing_left();
}
