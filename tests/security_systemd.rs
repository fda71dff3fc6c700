//! Issue 27 S1–S9: the systemd driver attacked through its config and its
//! bus. A private dbus-daemon carries a small stand-in for systemd (it
//! owns `org.freedesktop.systemd1`, makes a scope's cgroup and moves its
//! pids in, refuses names systemd refuses and units that exist) and an
//! attacker's connection; tong finds it through `DBUS_SYSTEM_BUS_ADDRESS`,
//! in a mount namespace of its own whose `/run/systemd/system` says
//! systemd is running. So these run on any host with dbus-daemon, systemd
//! or not, and touch no real unit.

mod common;
use common::*;
use rustbus::message_builder::MarshalledMessage as Msg;
use rustbus::wire::ObjectPath;
use rustbus::MessageType;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A bus connection, as small as tong's own: EXTERNAL as root, then
/// marshalled messages.
struct Conn {
    s: UnixStream,
    serial: u32,
    name: String,
}

impl Conn {
    fn connect(path: &Path) -> Conn {
        let mut s = UnixStream::connect(path).unwrap();
        let uid_hex: String = nix::unistd::getuid()
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        s.write_all(format!("\0AUTH EXTERNAL {uid_hex}\r\n").as_bytes())
            .unwrap();
        let mut line = Vec::new();
        let mut b = [0u8];
        while !line.ends_with(b"\r\n") {
            s.read_exact(&mut b).unwrap();
            line.push(b[0]);
        }
        assert!(
            line.starts_with(b"OK"),
            "{}",
            String::from_utf8_lossy(&line)
        );
        s.write_all(b"BEGIN\r\n").unwrap();
        let mut c = Conn {
            s,
            serial: 0,
            name: String::new(),
        };
        let r = c.call(&mut rustbus::standard_messages::hello());
        c.name = r.body.parser().get::<&str>().unwrap().to_owned();
        c
    }

    fn send(&mut self, m: &Msg) -> u32 {
        self.serial += 1;
        let mut buf = Vec::new();
        rustbus::wire::marshal::marshal(m, self.serial, &mut buf).unwrap();
        if let Some(name) = &m.dynheader.error_name {
            add_error_name(&mut buf, name);
        }
        buf.extend_from_slice(m.get_buf());
        self.s.write_all(&buf).unwrap();
        self.serial
    }

    /// The next message, or None when nothing came for a while.
    fn recv(&mut self, wait: Duration) -> Option<Msg> {
        use rustbus::wire::unmarshal;
        self.s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 16];
        match self.s.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("bus: {e}"),
        }
        self.s.set_read_timeout(None).unwrap();
        let (_, h) = unmarshal::unmarshal_header(&buf, 0).unwrap();
        let (_, fields) =
            rustbus::wire::util::parse_u32(&buf[unmarshal::HEADER_LEN..], h.byteorder).unwrap();
        let head = unmarshal::HEADER_LEN + 4 + fields as usize;
        buf.resize(head.div_ceil(8) * 8 + h.body_len as usize, 0);
        self.s.read_exact(&mut buf[16..]).unwrap();
        let (hl, h) = unmarshal::unmarshal_header(&buf, 0).unwrap();
        let (dl, dh) = unmarshal::unmarshal_dynamic_header(&h, &buf, hl).unwrap();
        let (_, m) = unmarshal::unmarshal_next_message(&h, dh, &buf, hl + dl).unwrap();
        Some(m)
    }

    /// A call and its reply (calls to this connection meanwhile are lost:
    /// used before serving, and by the attacker, who is never called).
    fn call(&mut self, m: &mut Msg) -> Msg {
        let serial = self.send(m);
        loop {
            let r = self.recv(Duration::from_secs(30)).expect("no reply");
            if r.dynheader.response_serial == Some(serial) {
                assert_ne!(r.typ, MessageType::Error, "{:?}", r.dynheader.error_name);
                return r;
            }
        }
    }
}

/// rustbus 0.19 leaves the ERROR_NAME header field out, and the bus drops
/// a connection that sends an error without one: added to the marshalled
/// header (little-endian, as rustbus writes it) by hand.
fn add_error_name(buf: &mut Vec<u8>, name: &str) {
    let fields_len = u32::from_le_bytes(buf[12..16].try_into().unwrap()) as usize;
    buf.truncate(16 + fields_len);
    pad8(buf);
    buf.extend_from_slice(&[4, 1, b's', 0]);
    buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    let fields_len = (buf.len() - 16) as u32;
    buf[12..16].copy_from_slice(&fields_len.to_le_bytes());
    pad8(buf);
}

fn pad8(buf: &mut Vec<u8>) {
    buf.resize(buf.len().next_multiple_of(8), 0);
}

/// What the stand-in does besides being systemd.
#[derive(Clone, Default)]
struct Script {
    /// Units that exist already: starting one fails as systemd's does.
    existing: Vec<String>,
    /// Before a start job ends, the attacker sends tong `JobRemoved` for
    /// that job with result "failed": on systemd's path and interface, and
    /// on others.
    forge: bool,
    /// Before the start is even answered, the attacker sends tong this many
    /// signals of 4 KiB.
    flood: usize,
}

/// A private dbus-daemon with the stand-in serving on it.
struct Bus {
    daemon: Child,
    dir: PathBuf,
    socket: PathBuf,
    /// What the stand-in was asked: "StartTransientUnit u", "StopUnit u", …
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The slice this test's units live in, its own (tests run in
    /// parallel, and each removes its slice's cgroups at the end).
    slice: String,
}

impl Bus {
    /// None (and a skip reported) where there is no dbus-daemon.
    fn start(name: &str, script: Script) -> Option<Bus> {
        require_root();
        if Command::new("dbus-daemon")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("dbus-daemon is not installed (apt-get install dbus-daemon)");
            return None;
        }
        if !Path::new("/run/systemd").is_dir() {
            skip("no /run/systemd to hide behind a tmpfs in a private mount namespace");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("tong-sdbus-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("bus");
        // Anyone may connect, own and send: the attacker is an ordinary
        // client. Limits high enough that the flood reaches tong whole.
        let conf = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000</limit>
</busconfig>
"#,
            socket.display()
        );
        std::fs::write(dir.join("bus.conf"), conf).unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", dir.join("bus.conf").display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The address is printed once the socket listens.
        let mut first = [0u8; 1];
        daemon
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        let mut systemd = Conn::connect(&socket);
        let mut own = rustbus::standard_messages::request_name("org.freedesktop.systemd1", 0);
        systemd.call(&mut own);
        let attacker = Conn::connect(&socket);
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || serve(systemd, attacker, &script, &log, &stop))
        };
        Some(Bus {
            daemon,
            dir,
            socket,
            log,
            stop,
            thread: Some(thread),
            slice: format!("tongtest_{name}.slice"),
        })
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// `tong --systemd-cgroup ARGS` on this bus, with systemd "running";
    /// `data_kib` bounds tong's heap (RLIMIT_DATA).
    fn tong(&self, b: &Bundle, data_kib: Option<u64>, args: &[&str]) -> Output {
        let limit = data_kib.map_or(String::new(), |k| format!("ulimit -d {k} && "));
        let script = format!(
            "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && {limit}exec \"$@\""
        );
        let out = self.dir.join("out");
        let err = self.dir.join("err");
        let status = Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                "sh",
                TONG,
            ])
            .arg("--root")
            .arg(&b.root)
            .arg("--systemd-cgroup")
            .args(args)
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", self.socket.display()),
            )
            .current_dir(&b.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(out).unwrap(),
            stderr: std::fs::read(err).unwrap(),
        }
    }

    fn create(&self, b: &Bundle, data_kib: Option<u64>) -> Output {
        self.tong(
            b,
            data_kib,
            &["create", "--bundle", b.dir.to_str().unwrap(), &b.id],
        )
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        remove_tree(&self.slice);
    }
}

/// Removes `rel` (and what is below it) from every cgroup hierarchy.
fn remove_tree(rel: &str) {
    fn rm(d: &Path) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(d);
    }
    for m in cgroup_mounts() {
        rm(&m.join(rel));
    }
}

/// Makes `rel` in every hierarchy, as systemd makes a unit's cgroup (v1
/// cpusets filled from their parent, or no task could join).
fn make_cgroup(rel: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for m in cgroup_mounts() {
        let mut d = m.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            let parent = d.clone();
            d.push(part);
            if std::fs::create_dir(&d).is_ok() {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    if let Ok(v) = std::fs::read_to_string(parent.join(f)) {
                        let _ = std::fs::write(d.join(f), v.trim());
                    }
                }
            }
        }
        dirs.push(d);
    }
    dirs
}

/// A unit's cgroup below the hierarchies' roots, as systemd names it.
fn unit_cgroup(slice: &str, unit: &str) -> String {
    fn expand(slice: &str) -> String {
        let base = slice.trim_end_matches(".slice");
        if base == "-" {
            return String::new();
        }
        let mut out = Vec::new();
        let mut pre = String::new();
        for p in base.split('-') {
            if !pre.is_empty() {
                pre.push('-');
            }
            pre.push_str(p);
            out.push(format!("{pre}.slice"));
        }
        out.join("/")
    }
    if unit.ends_with(".slice") {
        expand(unit)
    } else {
        format!("{}/{unit}", expand(slice))
    }
}

fn job_removed(job: &str, unit: &str, result: &str, path: &str, iface: &str) -> Msg {
    let mut s = rustbus::MessageBuilder::new()
        .signal(iface, "JobRemoved", path)
        .build();
    s.body
        .push_param4(7u32, ObjectPath::new(job).unwrap(), unit, result)
        .unwrap();
    s
}

/// The stand-in's loop: systemd's manager, as much of it as tong asks.
fn serve(
    mut sd: Conn,
    mut attacker: Conn,
    script: &Script,
    log: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut jobs = 0;
    while !stop.load(Ordering::SeqCst) {
        let Some(call) = sd.recv(Duration::from_millis(50)) else {
            continue;
        };
        if call.typ != MessageType::Call {
            continue;
        }
        let member = call.dynheader.member.clone().unwrap_or_default();
        let mut p = call.body.parser();
        let unit = match member.as_str() {
            "StartTransientUnit" | "StopUnit" | "ResetFailedUnit" | "SetUnitProperties" => {
                p.get::<&str>().unwrap_or_default().to_owned()
            }
            _ => String::new(),
        };
        log.lock()
            .unwrap()
            .push(format!("{member} {unit}").trim().to_owned());
        let mut reply = call.dynheader.make_response();
        let fail = |name: &str, text: String| {
            let mut e = call.dynheader.make_error_response(name, Some(text));
            e.typ = MessageType::Error;
            e
        };
        jobs += 1;
        let job = format!("/org/freedesktop/systemd1/job/{jobs}");
        let mut end = None;
        match member.as_str() {
            "Subscribe" | "ResetFailedUnit" | "SetUnitProperties" => {}
            "StartTransientUnit" => {
                if unit.contains('/') || unit.starts_with('.') {
                    reply = fail(
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        format!("Invalid unit name or type {unit}"),
                    );
                } else if script.existing.contains(&unit) {
                    reply = fail(
                        "org.freedesktop.systemd1.UnitExists",
                        format!("Unit {unit} already exists."),
                    );
                } else {
                    // ("s", "replace", a(sv) properties, …): the slice and
                    // the pids to move.
                    let mut p = call.body.parser();
                    let _ = p.get2::<&str, &str>();
                    let props: Vec<(&str, rustbus::wire::unmarshal::traits::Variant)> =
                        p.get().unwrap();
                    let mut slice = "-.slice".to_owned();
                    let mut pids = Vec::new();
                    for (k, v) in props {
                        match k {
                            "Slice" => slice = v.get::<&str>().unwrap().to_owned(),
                            "PIDs" => pids = v.get::<Vec<u32>>().unwrap(),
                            _ => {}
                        }
                    }
                    for d in make_cgroup(&unit_cgroup(&slice, &unit)) {
                        for pid in &pids {
                            let _ = std::fs::write(d.join("cgroup.procs"), pid.to_string());
                        }
                    }
                    reply
                        .body
                        .push_param(ObjectPath::new(job.as_str()).unwrap())
                        .unwrap();
                    let tong = call.dynheader.sender.clone().unwrap_or_default();
                    let big = "x".repeat(4096);
                    for _ in 0..script.flood {
                        let mut s = rustbus::MessageBuilder::new()
                            .signal("org.example.Flood", "Noise", "/org/example")
                            .to(tong.clone())
                            .build();
                        s.body.push_param(big.as_str()).unwrap();
                        attacker.send(&s);
                    }
                    if script.flood > 0 {
                        // Once the bus answers the attacker, it has passed
                        // on all it sent before.
                        attacker.call(&mut rustbus::standard_messages::list_names());
                    }
                    end = Some((unit.clone(), tong));
                }
            }
            "StopUnit" => {
                reply
                    .body
                    .push_param(ObjectPath::new(job.as_str()).unwrap())
                    .unwrap();
                end = Some((unit.clone(), String::new()));
            }
            _ => {
                reply = fail(
                    "org.freedesktop.DBus.Error.UnknownMethod",
                    format!("no {member} here"),
                );
            }
        }
        sd.send(&reply);
        if let Some((unit, tong)) = end {
            if script.forge && !tong.is_empty() {
                for (path, iface) in [
                    (
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                    ),
                    ("/org/example", "org.example.Fake"),
                ] {
                    let mut s = job_removed(&job, &unit, "failed", path, iface);
                    s.dynheader.destination = Some(tong.clone());
                    attacker.send(&s);
                }
                attacker.call(&mut rustbus::standard_messages::list_names());
            }
            sd.send(&job_removed(
                &job,
                &unit,
                "done",
                "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager",
            ));
        }
    }
}

fn bundle(name: &str, cgroups_path: &str) -> Bundle {
    let b = Bundle::new(name, "sleep 1000");
    b.edit(|c| c["linux"]["cgroupsPath"] = cgroups_path.into());
    b
}

/// S1/S8: a prefix that is a path (`../…/victim/pre`) named an existing,
/// unrelated cgroup, which the clean-up of the refused create removed
/// (and a `delete -f` after a killed create would have emptied). runc
/// refuses such a prefix too.
#[test]
fn s1_a_cgroups_path_part_that_is_a_path_reaches_no_other_cgroup() {
    let Some(bus) = Bus::start("s1", Script::default()) else {
        return;
    };
    let slice = &bus.slice;
    let victim = make_cgroup(&format!("{slice}/victim/pre-x.scope"));
    let b = bundle("sds1", &format!("{slice}:../{slice}/victim/pre:x"));
    let out = bus.create(&b, None);
    assert!(!out.status.success(), "created");
    assert!(
        stderr(&out).contains("/linux/cgroupsPath"),
        "{}",
        stderr(&out)
    );
    for d in &victim {
        assert!(d.is_dir(), "{} was removed", d.display());
    }
    assert!(
        !bus.log().iter().any(|l| l.starts_with("StopUnit")),
        "{:?}",
        bus.log()
    );
    b.assert_nothing_left();
}

/// S2/S3: a cgroupsPath naming a unit that exists (someone's scope, or a
/// slice such as system.slice as `-.slice::system.slice`): systemd refuses
/// to start it, and the failed create must neither stop that unit nor
/// remove anything of its cgroup. (runc stops it.)
#[test]
fn s2_s3_a_unit_that_exists_is_never_stopped_or_removed() {
    let script = Script {
        existing: vec!["tong-victim.scope".into(), "tongtest_s2.slice".into()],
        ..Default::default()
    };
    let Some(bus) = Bus::start("s2", script) else {
        return;
    };
    let slice = &bus.slice;
    let victim = make_cgroup(&format!("{slice}/tong-victim.scope"));
    for path in [format!("{slice}:tong:victim"), format!("-.slice::{slice}")] {
        let b = bundle("sds2", &path);
        let out = bus.create(&b, None);
        assert!(!out.status.success(), "{path}: created");
        assert!(
            stderr(&out).contains("already exists"),
            "{path}: {}",
            stderr(&out)
        );
        let log = bus.log();
        assert!(
            !log.iter().any(|l| l.starts_with("StopUnit")),
            "{path}: {log:?}"
        );
        for d in &victim {
            assert!(d.is_dir(), "{path}: {} was removed", d.display());
        }
        b.assert_nothing_left();
    }
}

/// S6/S7: anyone on the bus can send tong a `JobRemoved` for its job, on
/// systemd's path and interface or any other; tong believed the first
/// that named its job (here "failed", and the create failed). Only
/// systemd's own, from the name owning org.freedesktop.systemd1, counts.
#[test]
fn s6_s7_job_signals_from_others_than_systemd_are_not_believed() {
    let script = Script {
        forge: true,
        ..Default::default()
    };
    let Some(bus) = Bus::start("s6", script) else {
        return;
    };
    let slice = &bus.slice;
    let b = bundle("sds6", &format!("{slice}:tong:"));
    let out = bus.create(&b, None);
    assert!(out.status.success(), "create: {}", stderr(&out));
    assert_eq!(b.status(), "created");
    let unit = format!("tong-{}.scope", b.id);
    let pid = b.state()["pid"].as_i64().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&unit), "init is not in its unit: {own}");
    let out = bus.tong(&b, None, &["delete", "-f", &b.id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    assert!(
        bus.log().contains(&format!("StopUnit {unit}")),
        "{:?}",
        bus.log()
    );
    b.assert_nothing_left();
    for m in cgroup_mounts() {
        let d = m.join(slice).join(&unit);
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

/// S9: while tong waited for systemd's answer, every signal sent to it was
/// kept: an unprivileged flood grew it without bound (899 MB for 4 KiB
/// signals). Here ~32 MiB of them arrive before the answer, and tong's
/// heap is bounded to 16 MiB: only what it awaits may be kept.
#[test]
fn s9_a_flood_of_signals_while_tong_waits_is_dropped() {
    let script = Script {
        flood: 8_000,
        ..Default::default()
    };
    let Some(bus) = Bus::start("s9", script) else {
        return;
    };
    let slice = &bus.slice;
    let b = bundle("sds9", &format!("{slice}:tong:"));
    let out = bus.create(&b, Some(16 * 1024));
    assert!(
        out.status.success(),
        "create with a 16 MiB heap under a flood: {:?} {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(b.status(), "created");
    let out = bus.tong(&b, None, &["delete", "-f", &b.id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    b.assert_nothing_left();
}
