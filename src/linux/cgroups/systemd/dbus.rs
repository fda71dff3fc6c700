//! The D-Bus connection to systemd's manager: the real [`super::Bus`].
//!
//! The wire format is rustbus's, a synchronous pure-Rust D-Bus library:
//! tong clones while it runs, so no library with an executor thread of its
//! own (zbus) may be in the process, and libdbus would have to be linked
//! statically from source.

use super::{Bus, JobEnd, Value};
use crate::error::{Error, Result};

/// Whether systemd is this host's init (as sd_booted(3) tells).
pub fn running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// A blocking connection to systemd's manager on the system bus.
pub struct DBus {
    conn: Conn,
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn bus_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("systemd: {what}: {e}"))
}

/// The bus socket: the system bus (`DBUS_SYSTEM_BUS_ADDRESS` when set, as
/// libdbus and runc's godbus read it), or the user's bus when rootless
/// (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, as runc).
pub fn bus_path(rootless: bool) -> Result<std::path::PathBuf> {
    if !rootless {
        return match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
            Ok(addr) => session_addr_path(&addr).ok_or_else(|| {
                Error::new(format!(
                    "systemd: DBUS_SYSTEM_BUS_ADDRESS {addr:?}: no unix:path= address in it"
                ))
            }),
            Err(_) => Ok("/run/dbus/system_bus_socket".into()),
        };
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
///
/// Anyone on the bus may send us a signal (issue 27 S6/S7/S9): only the
/// `JobRemoved` signals of the connection owning `org.freedesktop.systemd1`, on
/// its manager's path and interface, are believed, and of those only a
/// bounded number is kept while a reply is awaited; the rest is dropped as
/// it is read, an oversized message without being held.
struct Conn {
    stream: std::os::unix::net::UnixStream,
    serial: u32,
    /// The unique name owning `org.freedesktop.systemd1`, the sender of
    /// its reply to `Subscribe` (empty until then): the only sender whose
    /// job signals count.
    systemd: String,
    /// systemd's job ends read while waiting for a reply, by job path.
    jobs: std::collections::VecDeque<(String, JobEnd)>,
}

type Msg = rustbus::message_builder::MarshalledMessage;

/// More `JobRemoved` signals than one create could be waiting for: on a
/// busy host systemd reports every job to every subscriber.
const JOBS_KEPT: usize = 256;

/// The largest message tong reads whole: its replies and systemd's job
/// signals are a few hundred bytes.
const MESSAGE_MAX: usize = 64 << 10;

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
            systemd: String::new(),
            jobs: Default::default(),
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

    fn send(&mut self, m: &Msg) -> std::io::Result<u32> {
        use std::io::Write;
        self.serial += 1;
        let mut buf = Vec::new();
        rustbus::wire::marshal::marshal(m, self.serial, &mut buf).map_err(io_err)?;
        buf.extend_from_slice(m.get_buf());
        (&self.stream).write_all(&buf)?;
        Ok(self.serial)
    }

    /// The next message from the bus, read before `end`; None for one
    /// too long to be meant for us, whose bytes are read and dropped.
    fn recv(&mut self, end: std::time::Instant) -> std::io::Result<Option<Msg>> {
        use rustbus::wire::unmarshal;
        let mut buf = vec![0u8; 16];
        self.read_by(&mut buf, end)?;
        let (_, header) = unmarshal::unmarshal_header(&buf, 0).map_err(io_err)?;
        let (_, fields_len) =
            rustbus::wire::util::parse_u32(&buf[unmarshal::HEADER_LEN..], header.byteorder)
                .map_err(io_err)?;
        let head = (unmarshal::HEADER_LEN + 4).saturating_add(fields_len as usize);
        let total = (head.div_ceil(8) * 8).saturating_add(header.body_len as usize);
        if total > MESSAGE_MAX {
            let mut left = total - buf.len();
            let mut sink = [0u8; 8192];
            while left > 0 {
                let n = left.min(sink.len());
                self.read_by(&mut sink[..n], end)?;
                left -= n;
            }
            return Ok(None);
        }
        buf.resize(total, 0);
        self.read_by(&mut buf[16..], end)?;
        let (hdr_len, header) = unmarshal::unmarshal_header(&buf, 0).map_err(io_err)?;
        let (dyn_len, dynheader) =
            unmarshal::unmarshal_dynamic_header(&header, &buf, hdr_len).map_err(io_err)?;
        let (_, msg) =
            unmarshal::unmarshal_next_message(&header, dynheader, &buf, hdr_len + dyn_len)
                .map_err(io_err)?;
        Ok(Some(msg))
    }

    /// Fills `buf`, or fails once `end` has passed: a peer that keeps
    /// sending never holds us past it.
    fn read_by(&mut self, buf: &mut [u8], end: std::time::Instant) -> std::io::Result<()> {
        use std::io::Read;
        let mut got = 0;
        while got < buf.len() {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            match (&self.stream).read(&mut buf[got..]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A job end reported by systemd itself: a `JobRemoved` signal from
    /// the owner of its name, on its manager's path and interface.
    fn job_removed(&self, m: &Msg) -> Option<(String, JobEnd)> {
        let h = &m.dynheader;
        if m.typ != rustbus::MessageType::Signal
            || self.systemd.is_empty()
            || h.sender.as_deref() != Some(self.systemd.as_str())
            || h.object.as_deref() != Some("/org/freedesktop/systemd1")
            || h.interface.as_deref() != Some("org.freedesktop.systemd1.Manager")
            || h.member.as_deref() != Some("JobRemoved")
        {
            return None;
        }
        let (_, job, unit, result) = m
            .body
            .parser()
            .get4::<u32, rustbus::wire::ObjectPath<&str>, &str, &str>()
            .ok()?;
        Some((
            job.as_ref().to_owned(),
            JobEnd {
                unit: unit.to_owned(),
                result: result.to_owned(),
            },
        ))
    }

    /// Sends a call and reads until its reply, within [`TIMEOUT`]; job
    /// ends read meanwhile are kept (a bounded number), all else dropped.
    fn send_and_wait(&mut self, m: &mut Msg) -> std::io::Result<Msg> {
        let end = std::time::Instant::now() + TIMEOUT;
        let serial = self.send(m)?;
        loop {
            let Some(msg) = self.recv(end)? else { continue };
            match msg.typ {
                rustbus::MessageType::Reply | rustbus::MessageType::Error
                    if msg.dynheader.response_serial == Some(serial) =>
                {
                    return Ok(msg)
                }
                _ => {
                    if let Some(j) = self.job_removed(&msg) {
                        if self.jobs.len() == JOBS_KEPT {
                            self.jobs.pop_front();
                        }
                        self.jobs.push_back(j);
                    }
                }
            }
        }
    }

    /// How systemd says `job` ended, or an error once `end` has passed.
    fn wait_job(&mut self, job: &str, end: std::time::Instant) -> std::io::Result<JobEnd> {
        if let Some(i) = self.jobs.iter().position(|(j, _)| j == job) {
            if let Some((_, e)) = self.jobs.remove(i) {
                return Ok(e);
            }
        }
        self.jobs.clear();
        loop {
            let Some(msg) = self.recv(end)? else { continue };
            match self.job_removed(&msg) {
                Some((j, e)) if j == job => return Ok(e),
                _ => {}
            }
        }
    }
}

fn io_err(e: impl std::fmt::Debug) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

impl DBus {
    /// Connects to the system bus (the user's bus when rootless).
    pub fn connect(rootless: bool) -> Result<DBus> {
        if !running() {
            return Err(Error::new(
                "systemd cgroup driver: systemd is not running on this host (no /run/systemd/system)",
            ));
        }
        let conn = Conn::connect(&bus_path(rootless)?)?;
        let mut bus = DBus { conn };
        // Job signals are only sent to subscribers. The bus names the sender
        // of every message: the reply's is the connection owning
        // org.freedesktop.systemd1, started for the call if it had to be (a
        // user's systemd may own it on the user bus only once asked).
        let reply = bus.call("Subscribe", |_| Ok(()))?;
        bus.conn.systemd = reply.dynheader.sender.clone().unwrap_or_default();
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
}

impl Bus for DBus {
    fn manager_cgroup(&mut self) -> Result<String> {
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

    fn start_transient_unit(&mut self, unit: &str, props: &[(String, Value)]) -> Result<String> {
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
        reply
            .body
            .parser()
            .get::<rustbus::wire::ObjectPath<&str>>()
            .map(|p| p.as_ref().to_owned())
            .map_err(|e| bus_err("StartTransientUnit reply", e))
    }

    fn set_unit_properties(&mut self, unit: &str, props: &[(String, Value)]) -> Result<()> {
        let props = to_param(props)?;
        self.call("SetUnitProperties", |b| {
            b.push_param2(unit, true)?;
            b.push_old_param(&props)
        })?;
        Ok(())
    }

    fn stop_unit(&mut self, unit: &str) -> Result<Option<String>> {
        match self.call("StopUnit", |b| b.push_param2(unit, "replace")) {
            Ok(reply) => Ok(reply
                .body
                .parser()
                .get::<rustbus::wire::ObjectPath<&str>>()
                .ok()
                .map(|job| job.as_ref().to_owned())),
            Err(e) if e.msg.contains("NoSuchUnit") || e.msg.contains("not loaded") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn reset_failed_unit(&mut self, unit: &str) -> Result<()> {
        self.call("ResetFailedUnit", |b| b.push_param(unit))
            .map(drop)
    }

    fn wait_job(&mut self, job: &str, what: &str) -> Result<JobEnd> {
        let end = std::time::Instant::now() + TIMEOUT;
        self.conn.wait_job(job, end).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.kind() == std::io::ErrorKind::WouldBlock
            {
                Error::new(format!("systemd: {what}: timed out waiting for job {job}"))
            } else {
                bus_err(what, e)
            }
        })
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
            Value::U32(n) => ("u", base(Base::Uint32(*n))),
            Value::I64(n) => ("x", base(Base::Int64(*n))),
            Value::I32(n) => ("i", base(Base::Int32(*n))),
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
