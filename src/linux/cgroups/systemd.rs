//! The systemd cgroup driver (`--systemd-cgroup`): systemd owns the cgroup
//! tree, so the container's cgroup is a transient scope systemd makes for us
//! (`StartTransientUnit` with the init's pid, `Delegate=yes`), with the
//! resources it has properties for; the fs driver then writes the rest
//! inside the delegated scope.
//!
//! The bus client is rustbus, a synchronous pure-Rust D-Bus library: tong
//! clones while it runs, so no library with an executor thread of its own
//! (zbus) may be in the process, and libdbus would have to be linked
//! statically from source.
//!
//! Path parsing, slice expansion and every resource conversion are pure and
//! unit-tested; only [`Bus`] talks to systemd.

use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;

/// Where a container's cgroup lives under systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. `system.slice` (empty when the unit is a slice).
    pub slice: String,
    /// The unit: `prefix-name.scope`, or `name` when it ends with `.slice`.
    pub unit: String,
}

/// runc's cgroupsPath format `slice:prefix:name`, with runc's defaults for
/// an empty path or empty parts (slice `system.slice`, or `user.slice`
/// rootless; prefix `tong`; name the container id). A name ending in
/// `.slice` names a slice (as kubelet does for pods).
pub fn parse_path(path: Option<&str>, id: &str, rootless: bool) -> Result<UnitPath> {
    let bad = |why: &str| {
        Error::field(
            "/linux/cgroupsPath",
            format!(
                "{:?} is not a systemd cgroupsPath (slice:prefix:name): {why}",
                path.unwrap_or_default()
            ),
        )
    };
    let (slice, prefix, name) = match path.filter(|p| !p.is_empty()) {
        None => ("", "tong", id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            match parts[..] {
                [s, p, n] => (s, p, n),
                _ => return Err(bad("expected three parts separated by ':'")),
            }
        }
    };
    let slice = if slice.is_empty() {
        if rootless {
            "user.slice"
        } else {
            "system.slice"
        }
    } else {
        slice
    };
    if !slice.ends_with(".slice") || slice.contains('/') {
        return Err(bad("the slice must be a unit name ending in .slice"));
    }
    let name = if name.is_empty() { id } else { name };
    if name.contains('/') {
        return Err(bad("the name must not contain '/'"));
    }
    if name.ends_with(".slice") {
        return Ok(UnitPath {
            slice: slice.to_owned(),
            unit: name.to_owned(),
        });
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(UnitPath {
        slice: slice.to_owned(),
        unit,
    })
}

/// The directories of a slice: `a-b-c.slice` lives at
/// `a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || {
        Error::field(
            "/linux/cgroupsPath",
            format!("invalid slice name {slice:?}"),
        )
    };
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if base == "-" {
        return Ok(String::new());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad());
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    Ok(out)
}

/// The unit's cgroup, relative to a hierarchy's root: `/<slices>/<unit>`.
pub fn cgroup_path(p: &UnitPath) -> Result<String> {
    let slices = expand_slice(&p.slice)?;
    Ok(if p.unit.ends_with(".slice") {
        let own = expand_slice(&p.unit)?;
        // A slice's own path already holds its parents.
        format!("/{own}")
    } else if slices.is_empty() {
        format!("/{}", p.unit)
    } else {
        format!("/{slices}/{}", p.unit)
    })
}

/// A property value, in the D-Bus type systemd expects for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    U64(u64),
    /// `ay`: a CPU or NUMA node bitmask.
    Bytes(Vec<u8>),
    /// `au`: pids.
    U32s(Vec<u32>),
    /// `a(ss)`: DeviceAllow entries.
    Pairs(Vec<(String, String)>),
}

/// systemd's "no limit".
const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// A cpuset list ("0-3,8") as systemd's bitmask: bit n of byte n/8.
pub fn cpuset_mask(list: &str, at: &str) -> Result<Vec<u8>> {
    let cpus = crate::linux::sched::cpu_list(list).map_err(|m| Error::field(at, m))?;
    let mut mask: Vec<u8> = Vec::new();
    for n in cpus {
        if mask.len() <= n / 8 {
            mask.resize(n / 8 + 1, 0);
        }
        mask[n / 8] |= 1 << (n % 8);
    }
    Ok(mask)
}

/// CPU shares (v1, 2..262144) as a v2 CPUWeight (1..10000), as runc maps them.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// The resources systemd has properties for, named and typed as systemd
/// wants them, converted as runc converts them. `v2` selects the unified
/// hierarchy's names (CPUWeight, MemoryMax…) over v1's.
pub fn properties(r: &LinuxResources, v2: bool, devices: &str) -> Result<Vec<(String, Value)>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| out.push((k.to_owned(), v));
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            put(
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(limit(l)),
            );
        }
        if v2 {
            if let Some(low) = m.reservation().filter(|l| *l > 0) {
                put("MemoryLow", Value::U64(low as u64));
            }
            // The spec's swap is memory+swap; v2's swap.max is swap alone.
            if let Some(s) = m.swap().filter(|s| *s != 0) {
                let swap = match (s, m.limit()) {
                    (s, _) if s < 0 => INFINITY,
                    (s, Some(l)) if l > 0 => (s - l).max(0) as u64,
                    (s, _) => s as u64,
                };
                put("MemorySwapMax", Value::U64(swap));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            if v2 {
                put("CPUWeight", Value::U64(shares_to_weight(s)));
            } else {
                put("CPUShares", Value::U64(s));
            }
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            let per_sec = if q < 0 {
                INFINITY
            } else {
                let p = period.unwrap_or(100_000);
                // systemd keeps CPUQuota as whole percents: round up to
                // 10 ms a second so the kernel gets at least the quota asked.
                let us = (q as u64).saturating_mul(1_000_000) / p;
                us.div_ceil(10_000) * 10_000
            };
            put("CPUQuotaPerSecUSec", Value::U64(per_sec));
        }
        if let Some(p) = period {
            put("CPUQuotaPeriodUSec", Value::U64(p));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            put(
                "AllowedCPUs",
                Value::Bytes(cpuset_mask(cpus, "/linux/resources/cpu/cpus")?),
            );
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            put(
                "AllowedMemoryNodes",
                Value::Bytes(cpuset_mask(mems, "/linux/resources/cpu/mems")?),
            );
        }
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        put(
            "TasksMax",
            Value::U64(if l <= 0 { INFINITY } else { l as u64 }),
        );
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        if v2 {
            // blkio 10..1000 onto io 1..10000.
            let w = u64::from(w).clamp(10, 1000);
            put("IOWeight", Value::U64(1 + (w - 10) * 9999 / 990));
        } else {
            put("BlockIOWeight", Value::U64(u64::from(w)));
        }
    }
    if let Some(rules) = r.devices() {
        let (policy, allow) = device_properties(rules, devices, &node_known);
        put("DevicePolicy", Value::Str(policy.into()));
        if !allow.is_empty() {
            put("DeviceAllow", Value::Pairs(allow));
        }
    }
    Ok(out)
}

/// Whether the host has the device a `/dev/{char,block}/M:m` path names:
/// the udev link, or the kernel's own entry under /sys (a host without
/// udev has no links), as runc looks.
fn node_known(path: &std::path::Path) -> bool {
    path.exists()
        || path
            .strip_prefix("/")
            .is_ok_and(|rel| std::path::Path::new("/sys").join(rel).exists())
}

/// Device rules as systemd's DevicePolicy and DeviceAllow: `strict` with
/// the allowed nodes, or `auto` with nothing when everything is allowed.
/// Rules are applied in order, so only allows after the last blanket deny
/// count; specific denies after allows cannot be expressed and are left to
/// the fs driver's device filter, which is installed in the scope as well.
/// `proc_devices` is /proc/devices, for the driver names of wildcard minors.
fn device_properties(
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    proc_devices: &str,
    exists: &dyn Fn(&std::path::Path) -> bool,
) -> (&'static str, Vec<(String, String)>) {
    let mut allow: Vec<(String, String)> = Vec::new();
    for r in rules {
        let typ = r
            .typ()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_else(|| "a".into());
        let wild = r.major().is_none() && r.minor().is_none();
        if !r.allow() {
            if typ == "a" && wild {
                allow.clear();
            }
            continue;
        }
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let kinds: &[&str] = match typ.as_str() {
            "c" => &["char"],
            "b" => &["block"],
            _ if wild => return ("auto", Vec::new()),
            _ => &["char", "block"],
        };
        for kind in kinds {
            let node = match (r.major(), r.minor()) {
                (None, _) => Some(format!("{kind}-*")),
                (Some(ma), None) => {
                    driver_name(proc_devices, kind, ma).map(|n| format!("{kind}-{n}"))
                }
                // A device the host lacks (no tun module: 10:200) is left
                // out, as runc leaves it: systemd warns about it, and the fs
                // driver's device filter has the rule anyway.
                (Some(ma), Some(mi)) => Some(format!("/dev/{kind}/{ma}:{mi}"))
                    .filter(|n| exists(std::path::Path::new(n))),
            };
            if let Some(n) = node {
                allow.push((n, access.clone()));
            }
        }
    }
    ("strict", allow)
}

/// The driver registered for `major` in /proc/devices' `kind` section.
fn driver_name(proc_devices: &str, kind: &str, major: i64) -> Option<String> {
    let header = if kind == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    proc_devices
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (m, name) = l.trim().split_once(' ')?;
            (m.parse::<i64>().ok()? == major).then(|| name.trim().to_owned())
        })
}

/// Extra unit properties from `org.systemd.property.<Name>` annotations (as
/// runc allows): `true`/`false`, a number, or a quoted string.
pub fn annotation_properties(a: &HashMap<String, String>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut keys: Vec<&String> = a.keys().collect();
    keys.sort();
    for k in keys {
        let Some(name) = k.strip_prefix("org.systemd.property.") else {
            continue;
        };
        let v = a[k].trim();
        let at = format!("/annotations/{}", k.replace('~', "~0").replace('/', "~1"));
        let value = match v {
            "true" | "yes" => Value::Bool(true),
            "false" | "no" => Value::Bool(false),
            _ if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => {
                Value::Str(v[1..v.len() - 1].to_owned())
            }
            _ => Value::U64(v.parse().map_err(|_| {
                Error::field(
                    at.clone(),
                    format!(
                        "systemd property {name}: {v:?} is not a boolean, number or \"string\""
                    ),
                )
            })?),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::field(
                at,
                format!("invalid systemd property name {name:?}"),
            ));
        }
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// Whether systemd is this host's init (as sd_booted(3) tells).
pub fn running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// A blocking connection to systemd's manager on the system bus.
pub struct Bus {
    conn: Conn,
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn bus_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("systemd: {what}: {e}"))
}

/// The bus socket: the system bus, or the user's bus when rootless
/// (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, as runc).
fn bus_path(rootless: bool) -> Result<std::path::PathBuf> {
    if !rootless {
        return Ok("/run/dbus/system_bus_socket".into());
    }
    if let Ok(addr) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        return session_addr_path(&addr).ok_or_else(|| {
            Error::new(format!(
                "systemd: DBUS_SESSION_BUS_ADDRESS {addr:?}: no unix:path= address in it"
            ))
        });
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => Ok(std::path::Path::new(&d).join("bus")),
        None => Err(Error::new(
            "systemd: rootless: no user bus (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR set)",
        )),
    }
}

/// The socket path of the first `unix:path=` address of a D-Bus address
/// list (`unix:path=/run/user/1000/bus;…`, options after commas).
pub fn session_addr_path(addr: &str) -> Option<std::path::PathBuf> {
    addr.split(';').find_map(|a| {
        let opts = a.strip_prefix("unix:")?;
        opts.split(',')
            .find_map(|o| o.strip_prefix("path="))
            .map(Into::into)
    })
}

/// A minimal D-Bus client connection over rustbus's wire format. Not
/// rustbus's own connection: that one claims `getuid()` in the EXTERNAL
/// handshake, which in a user namespace (rootless podman runs the runtime
/// as uid 0 of its own) is not the uid the bus sees, and the bus refuses it.
/// Here the handshake names no identity, so the bus takes the socket's
/// credentials, the user's host uid (runc asks `busctl` for that uid).
struct Conn {
    stream: std::os::unix::net::UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply.
    signals: std::collections::VecDeque<rustbus::message_builder::MarshalledMessage>,
}

impl Conn {
    fn connect(path: &std::path::Path) -> Result<Conn> {
        use std::io::Write;
        let what = format!("connect to the bus {}", path.display());
        let stream =
            std::os::unix::net::UnixStream::connect(path).map_err(|e| bus_err(&what, e))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| bus_err(&what, e))?;
        let mut c = Conn {
            stream,
            serial: 0,
            signals: Default::default(),
        };
        // EXTERNAL without an initial response: the server asks (DATA), we
        // answer with an empty identity, it takes the peer's credentials.
        (&c.stream)
            .write_all(b"\0AUTH EXTERNAL\r\n")
            .map_err(|e| bus_err(&what, e))?;
        let mut line = c.auth_line(&what)?;
        if line.starts_with("DATA") {
            (&c.stream)
                .write_all(b"DATA\r\n")
                .map_err(|e| bus_err(&what, e))?;
            line = c.auth_line(&what)?;
        }
        if !line.starts_with("OK") {
            return Err(bus_err(&what, format!("authentication refused: {line}")));
        }
        (&c.stream)
            .write_all(b"BEGIN\r\n")
            .map_err(|e| bus_err(&what, e))?;
        let mut hello = rustbus::standard_messages::hello();
        c.send_and_wait(&mut hello).map_err(|e| bus_err(&what, e))?;
        Ok(c)
    }

    /// One line of the authentication exchange, read byte by byte (what
    /// follows BEGIN is binary and must stay in the socket).
    fn auth_line(&mut self, what: &str) -> Result<String> {
        use std::io::Read;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 4096 {
                return Err(bus_err(what, "authentication line too long"));
            }
            match (&self.stream).read(&mut b) {
                Ok(0) => return Err(bus_err(what, "the bus closed the connection")),
                Ok(_) => line.push(b[0]),
                Err(e) => return Err(bus_err(what, e)),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    fn send(&mut self, m: &rustbus::message_builder::MarshalledMessage) -> std::io::Result<u32> {
        use std::io::Write;
        self.serial += 1;
        let mut buf = Vec::new();
        rustbus::wire::marshal::marshal(m, self.serial, &mut buf).map_err(io_err)?;
        buf.extend_from_slice(m.get_buf());
        (&self.stream).write_all(&buf)?;
        Ok(self.serial)
    }

    /// The next message from the bus, whole.
    fn recv(&mut self) -> std::io::Result<rustbus::message_builder::MarshalledMessage> {
        use rustbus::wire::unmarshal;
        use std::io::Read;
        let mut buf = vec![0u8; 16];
        (&self.stream).read_exact(&mut buf)?;
        let (_, header) = unmarshal::unmarshal_header(&buf, 0).map_err(io_err)?;
        let (_, fields_len) =
            rustbus::wire::util::parse_u32(&buf[unmarshal::HEADER_LEN..], header.byteorder)
                .map_err(io_err)?;
        let head = unmarshal::HEADER_LEN + 4 + fields_len as usize;
        let total = head.div_ceil(8) * 8 + header.body_len as usize;
        if total > 128 << 20 {
            return Err(io_err("message too long"));
        }
        buf.resize(total, 0);
        (&self.stream).read_exact(&mut buf[16..])?;
        let (hdr_len, header) = unmarshal::unmarshal_header(&buf, 0).map_err(io_err)?;
        let (dyn_len, dynheader) =
            unmarshal::unmarshal_dynamic_header(&header, &buf, hdr_len).map_err(io_err)?;
        let (_, msg) =
            unmarshal::unmarshal_next_message(&header, dynheader, &buf, hdr_len + dyn_len)
                .map_err(io_err)?;
        Ok(msg)
    }

    /// Sends a call and reads until its reply; signals read meanwhile are kept.
    fn send_and_wait(
        &mut self,
        m: &mut rustbus::message_builder::MarshalledMessage,
    ) -> std::io::Result<rustbus::message_builder::MarshalledMessage> {
        let serial = self.send(m)?;
        loop {
            let msg = self.recv()?;
            match msg.typ {
                rustbus::MessageType::Signal => self.signals.push_back(msg),
                rustbus::MessageType::Reply | rustbus::MessageType::Error
                    if msg.dynheader.response_serial == Some(serial) =>
                {
                    return Ok(msg)
                }
                _ => {}
            }
        }
    }

    /// The next signal, or an error once `end` has passed.
    fn wait_signal(
        &mut self,
        end: std::time::Instant,
    ) -> std::io::Result<rustbus::message_builder::MarshalledMessage> {
        loop {
            if let Some(s) = self.signals.pop_front() {
                return Ok(s);
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            let msg = self.recv();
            self.stream.set_read_timeout(Some(TIMEOUT))?;
            let msg = msg?;
            if msg.typ == rustbus::MessageType::Signal {
                return Ok(msg);
            }
        }
    }
}

fn io_err(e: impl std::fmt::Debug) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

impl Bus {
    /// Connects to the system bus (the user's bus when rootless).
    pub fn connect(rootless: bool) -> Result<Bus> {
        if !running() {
            return Err(Error::new(
                "systemd cgroup driver: systemd is not running on this host (no /run/systemd/system)",
            ));
        }
        let conn = Conn::connect(&bus_path(rootless)?)?;
        let mut bus = Bus { conn };
        // Job signals are only sent to subscribers.
        bus.call("Subscribe", |_| Ok(()))?;
        let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'";
        let mut m = rustbus::standard_messages::add_match(rule);
        bus.send_and_wait(&mut m, "AddMatch")?;
        Ok(bus)
    }

    fn send_and_wait(
        &mut self,
        m: &mut rustbus::message_builder::MarshalledMessage,
        what: &str,
    ) -> Result<rustbus::message_builder::MarshalledMessage> {
        let reply = self.conn.send_and_wait(m).map_err(|e| bus_err(what, e))?;
        if reply.typ == rustbus::MessageType::Error {
            let name = reply.dynheader.error_name.clone().unwrap_or_default();
            let text: String = reply
                .body
                .parser()
                .get::<&str>()
                .map(str::to_owned)
                .unwrap_or_default();
            return Err(Error::new(format!("systemd: {what}: {text} ({name})")));
        }
        Ok(reply)
    }

    /// A call to the manager; `args` pushes the parameters.
    fn call(
        &mut self,
        method: &str,
        args: impl FnOnce(
            &mut rustbus::message_builder::MarshalledMessageBody,
        ) -> std::result::Result<(), rustbus::wire::errors::MarshalError>,
    ) -> Result<rustbus::message_builder::MarshalledMessage> {
        let mut m = rustbus::MessageBuilder::new()
            .call(method)
            .with_interface("org.freedesktop.systemd1.Manager")
            .on("/org/freedesktop/systemd1")
            .at("org.freedesktop.systemd1")
            .build();
        args(&mut m.body).map_err(|e| bus_err(method, e))?;
        self.send_and_wait(&mut m, method)
    }

    /// Waits for the job to finish; its result must be "done".
    fn wait_job(&mut self, job: &str, what: &str) -> Result<()> {
        let end = std::time::Instant::now() + TIMEOUT;
        loop {
            let sig = self.conn.wait_signal(end).map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::WouldBlock
                {
                    Error::new(format!("systemd: {what}: timed out waiting for job {job}"))
                } else {
                    bus_err(what, e)
                }
            })?;
            if sig.dynheader.member.as_deref() != Some("JobRemoved") {
                continue;
            }
            let Ok((_, path, unit, result)) = sig
                .body
                .parser()
                .get4::<u32, rustbus::wire::ObjectPath<&str>, &str, &str>()
            else {
                continue;
            };
            if path.as_ref() != job {
                continue;
            }
            return match result {
                "done" => Ok(()),
                r => Err(Error::new(format!(
                    "systemd: {what}: job for {unit} ended with result {r:?}"
                ))),
            };
        }
    }

    /// The manager's own cgroup (`ControlGroup`): `/` for the system
    /// instance, `/user.slice/user-UID.slice/user@UID.service` for a user's,
    /// under which that instance's slices and scopes live.
    pub fn manager_cgroup(&mut self) -> Result<String> {
        let mut m = rustbus::MessageBuilder::new()
            .call("Get")
            .with_interface("org.freedesktop.DBus.Properties")
            .on("/org/freedesktop/systemd1")
            .at("org.freedesktop.systemd1")
            .build();
        m.body
            .push_param2("org.freedesktop.systemd1.Manager", "ControlGroup")
            .map_err(|e| bus_err("get ControlGroup", e))?;
        let reply = self.send_and_wait(&mut m, "get the manager's ControlGroup")?;
        let v = reply
            .body
            .parser()
            .get::<rustbus::wire::unmarshal::traits::Variant>()
            .map_err(|e| bus_err("ControlGroup reply", format!("{e:?}")))?;
        let cg: &str = v
            .get()
            .map_err(|e| bus_err("ControlGroup reply", format!("{e:?}")))?;
        Ok(cg.to_owned())
    }

    /// Starts a transient unit with these properties and waits until it runs.
    pub fn start_unit(&mut self, unit: &str, props: &[(String, Value)]) -> Result<()> {
        let props = to_param(props)?;
        let aux = rustbus::params::Param::Container(rustbus::params::Container::Array(
            rustbus::params::Array {
                element_sig: sig("(sa(sv))")?,
                values: vec![],
            },
        ));
        let reply = self.call("StartTransientUnit", |b| {
            b.push_param2(unit, "replace")?;
            b.push_old_param(&props)?;
            b.push_old_param(&aux)
        })?;
        let job: String = reply
            .body
            .parser()
            .get::<rustbus::wire::ObjectPath<&str>>()
            .map(|p| p.as_ref().to_owned())
            .map_err(|e| bus_err("StartTransientUnit reply", e))?;
        self.wait_job(&job, &format!("start {unit}"))
    }

    /// Changes properties of a running unit (runtime only, not persisted).
    pub fn set_properties(&mut self, unit: &str, props: &[(String, Value)]) -> Result<()> {
        let props = to_param(props)?;
        self.call("SetUnitProperties", |b| {
            b.push_param2(unit, true)?;
            b.push_old_param(&props)
        })?;
        Ok(())
    }

    /// Stops the unit and forgets a failed state, so nothing of it stays in
    /// `systemctl list-units`. A unit that is already gone is fine.
    pub fn stop_unit(&mut self, unit: &str) -> Result<()> {
        match self.call("StopUnit", |b| b.push_param2(unit, "replace")) {
            Ok(reply) => {
                if let Ok(job) = reply.body.parser().get::<rustbus::wire::ObjectPath<&str>>() {
                    let job = job.as_ref().to_owned();
                    // "done", or "canceled"/"failed" for a unit whose processes
                    // were already gone: stopped either way.
                    let _ = self.wait_job(&job, &format!("stop {unit}"));
                }
            }
            Err(e) if e.msg.contains("NoSuchUnit") || e.msg.contains("not loaded") => {}
            Err(e) => return Err(e),
        }
        let _ = self.call("ResetFailedUnit", |b| b.push_param(unit));
        Ok(())
    }
}

fn sig(s: &str) -> Result<rustbus::signature::Type> {
    rustbus::signature::Type::parse_description(s)
        .map_err(|e| bus_err("signature", format!("{e:?}")))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::new("systemd: empty signature"))
}

/// Properties as the `a(sv)` parameter of the manager's calls.
fn to_param(props: &[(String, Value)]) -> Result<rustbus::params::Param<'static, 'static>> {
    use rustbus::params::{Array, Base, Container, Param, Variant};
    let base = |b: Base<'static>| Param::Base(b);
    let mut values = Vec::new();
    for (k, v) in props {
        let (sig_text, value) = match v {
            Value::Str(s) => ("s", base(Base::String(s.clone()))),
            Value::Bool(b) => ("b", base(Base::Boolean(*b))),
            Value::U64(n) => ("t", base(Base::Uint64(*n))),
            Value::Bytes(bytes) => (
                "ay",
                Param::Container(Container::Array(Array {
                    element_sig: sig("y")?,
                    values: bytes.iter().map(|b| base(Base::Byte(*b))).collect(),
                })),
            ),
            Value::U32s(n) => (
                "au",
                Param::Container(Container::Array(Array {
                    element_sig: sig("u")?,
                    values: n.iter().map(|p| base(Base::Uint32(*p))).collect(),
                })),
            ),
            Value::Pairs(pairs) => (
                "a(ss)",
                Param::Container(Container::Array(Array {
                    element_sig: sig("(ss)")?,
                    values: pairs
                        .iter()
                        .map(|(a, b)| {
                            Param::Container(Container::Struct(vec![
                                base(Base::String(a.clone())),
                                base(Base::String(b.clone())),
                            ]))
                        })
                        .collect(),
                })),
            ),
        };
        values.push(Param::Container(Container::Struct(vec![
            base(Base::String(k.clone())),
            Param::Container(Container::Variant(Box::new(Variant {
                sig: sig(sig_text)?,
                value,
            }))),
        ])));
    }
    Ok(Param::Container(Container::Array(Array {
        element_sig: sig("(sv)")?,
        values,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_bus_address_path() {
        assert_eq!(
            session_addr_path("unix:path=/run/user/1000/bus"),
            Some("/run/user/1000/bus".into())
        );
        assert_eq!(
            session_addr_path("unix:guid=1234,path=/tmp/b;unix:path=/x"),
            Some("/tmp/b".into())
        );
        assert_eq!(
            session_addr_path("tcp:host=h;unix:path=/x,guid=2"),
            Some("/x".into())
        );
        assert_eq!(session_addr_path("unix:abstract=/tmp/dbus-x"), None);
    }

    #[test]
    fn paths_as_runc_parses_them() {
        let p = parse_path(Some("system.slice:docker:abc"), "id", false).unwrap();
        assert_eq!(p.unit, "docker-abc.scope");
        assert_eq!(cgroup_path(&p).unwrap(), "/system.slice/docker-abc.scope");
        let p = parse_path(None, "c1", false).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("system.slice", "tong-c1.scope")
        );
        let p = parse_path(Some("::"), "c1", true).unwrap();
        // An explicit empty prefix means none (runc).
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("user.slice", "c1.scope")
        );
        let p = parse_path(Some(":cri-containerd:"), "c1", false).unwrap();
        assert_eq!(p.unit, "cri-containerd-c1.scope");
        let p = parse_path(
            Some("kubepods-besteffort-pod12.slice:cri-containerd:abc"),
            "x",
            false,
        )
        .unwrap();
        assert_eq!(
            cgroup_path(&p).unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        // A name that is a slice: the container gets the slice itself.
        let p = parse_path(Some("kubepods.slice::kubepods-pod1.slice"), "x", false).unwrap();
        assert_eq!(
            cgroup_path(&p).unwrap(),
            "/kubepods.slice/kubepods-pod1.slice"
        );
        let p = parse_path(Some("-.slice::c"), "x", false).unwrap();
        assert_eq!(cgroup_path(&p).unwrap(), "/c.scope");
        for bad in [
            "a:b",
            "a:b:c:d",
            "/x/y",
            "system:p:n",
            "a/b.slice:p:n",
            "s.slice:p:a/b",
        ] {
            assert!(parse_path(Some(bad), "x", false).is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_expand_to_their_parents() {
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("system.slice").unwrap(), "system.slice");
        assert_eq!(expand_slice("-.slice").unwrap(), "");
        for bad in ["a--b.slice", "-a.slice", "a-.slice", "a", ".slice"] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn get<'a>(p: &'a [(String, Value)], k: &str) -> Option<&'a Value> {
        p.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    #[test]
    fn resources_become_runcs_properties() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1048576, "reservation": 4096, "swap": 2097152},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-2,9", "mems": "0"},
            "pids": {"limit": 100},
            "blockIO": {"weight": 500}
        }));
        let p = properties(&r, true, "").unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(1048576)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(4096)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(1048576)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100000)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&Value::Bytes(vec![0b111, 0b10]))
        );
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Value::Bytes(vec![1])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(100)));
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
        let v1 = properties(&r, false, "").unwrap();
        assert_eq!(get(&v1, "CPUShares"), Some(&Value::U64(1024)));
        assert_eq!(get(&v1, "MemoryLimit"), Some(&Value::U64(1048576)));
    }

    #[test]
    fn edges_of_each_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        // Quota without period: the default period; fractions of a percent
        // round up to 10 ms a second.
        let p = properties(&res(serde_json::json!({"cpu": {"quota": 12345}})), true, "").unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(130000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), None);
        let p = properties(
            &res(serde_json::json!({"cpu": {"quota": -1}, "memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0}})),
            true,
            "",
        )
        .unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert!(cpuset_mask("3-1", "/x").is_err());
        assert!(cpuset_mask("a", "/x").is_err());
        assert_eq!(cpuset_mask("0,8,16", "/x").unwrap(), vec![1, 1, 1]);
    }

    #[test]
    fn device_nodes_the_host_lacks_are_left_out_as_runc_does() {
        let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_value(serde_json::json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
            ]))
            .unwrap();
        let no_tun = |p: &std::path::Path| p != std::path::Path::new("/dev/char/10:200");
        let (policy, allow) = device_properties(&rules, "", &no_tun);
        assert_eq!(policy, "strict");
        assert_eq!(allow, vec![("/dev/char/1:3".to_owned(), "rwm".to_owned())]);
    }

    #[test]
    fn device_rules_become_a_policy() {
        let devices = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        let r = res(serde_json::json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "b", "access": "r"}
        ]}));
        let p = properties(&r, true, devices).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        // A device the host lacks is left out (see the test above).
        let mut want = vec![
            ("char-pts".to_owned(), "rwm".to_owned()),
            ("block-*".into(), "r".into()),
        ];
        if node_known(std::path::Path::new("/dev/char/1:3")) {
            want.insert(0, ("/dev/char/1:3".into(), "rwm".into()));
        }
        assert_eq!(get(&p, "DeviceAllow"), Some(&Value::Pairs(want)));
        let all = res(serde_json::json!({"devices": [{"allow": true, "access": "rwm"}]}));
        let p = properties(&all, true, devices).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
        assert_eq!(get(&p, "DeviceAllow"), None);
    }

    #[test]
    fn annotations_pass_extra_properties() {
        let a: HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopUSec", "5000000"),
            ("org.systemd.property.CollectMode", "\"inactive-or-failed\""),
            ("org.systemd.property.IgnoreSIGPIPE", "false"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = annotation_properties(&a).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(get(&p, "TimeoutStopUSec"), Some(&Value::U64(5000000)));
        assert_eq!(
            get(&p, "CollectMode"),
            Some(&Value::Str("inactive-or-failed".into()))
        );
        let bad: HashMap<String, String> =
            [("org.systemd.property.X".to_owned(), "what".to_owned())].into();
        assert!(annotation_properties(&bad).is_err());
    }

    #[test]
    fn properties_marshal_as_a_sv() {
        let p = to_param(&[
            ("Delegate".into(), Value::Bool(true)),
            ("PIDs".into(), Value::U32s(vec![1])),
            ("AllowedCPUs".into(), Value::Bytes(vec![3])),
            (
                "DeviceAllow".into(),
                Value::Pairs(vec![("char-pts".into(), "rwm".into())]),
            ),
        ])
        .unwrap();
        let mut s = String::new();
        p.make_signature(&mut s);
        assert_eq!(s, "a(sv)");
    }
}
