//! CRIU's RPC: `criu swrk FD` over a SOCK_SEQPACKET socketpair, with the
//! protobuf messages of criu's rpc.proto (proto2) encoded and decoded here
//! by hand: only the handful of fields tong sends and reads, no generated
//! code and no protobuf crate. Field numbers are those of rpc.proto.

use crate::error::{Context, Error, Result};
use crate::linux::sys;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// criu_req_type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
    Version = 10,
}

/// criu_cg_mode, as runc's `--manage-cgroups-mode` names them.
pub fn cg_mode(name: &str) -> Result<u64> {
    Ok(match name {
        "ignore" => 0,
        "props" => 2,
        "soft" => 3,
        "full" => 4,
        "strict" => 5,
        other => {
            return Err(Error::new(format!(
                "invalid --manage-cgroups-mode {other:?}: want soft, full, strict, props or ignore"
            )))
        }
    })
}

/// The criu_opts tong sets. Fds are numbers in criu's fd table: they are
/// passed to it at the same numbers (see `Swrk::start`).
#[derive(Default, Debug, Clone)]
pub struct Opts {
    pub images_dir_fd: RawFd,
    pub work_dir_fd: Option<RawFd>,
    pub pid: Option<i32>,
    pub leave_running: bool,
    pub ext_unix_sk: bool,
    pub tcp_established: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub log_file: String,
    pub page_server: Option<(String, i32)>,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub auto_dedup: bool,
    /// (key, value) pairs of external mounts.
    pub ext_mnt: Vec<(String, String)>,
    /// cgroup_root: (controller, path).
    pub cg_root: Vec<(Option<String>, String)>,
    pub rst_sibling: bool,
    /// (key, fd) pairs.
    pub inherit_fd: Vec<(String, RawFd)>,
    pub manage_cgroups_mode: Option<u64>,
    pub external: Vec<String>,
    pub empty_ns: u32,
    /// (namespace, path).
    pub join_ns: Vec<(String, String)>,
    pub freeze_cgroup: Option<String>,
    pub lazy_pages: bool,
    pub status_fd: Option<RawFd>,
    pub orphan_pts_master: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// A protobuf message being written.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn uint(&mut self, field: u32, v: u64) {
        self.varint(u64::from(field) << 3);
        self.varint(v);
    }
    /// int32: negative values are sign-extended to ten bytes.
    fn int(&mut self, field: u32, v: i32) {
        self.uint(field, i64::from(v) as u64);
    }
    fn flag(&mut self, field: u32, v: bool) {
        if v {
            self.uint(field, 1);
        }
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint((u64::from(field) << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u32, m: Enc) {
        self.bytes(field, &m.0);
    }
}

impl Opts {
    fn encode(&self) -> Enc {
        let mut e = Enc::default();
        e.int(1, self.images_dir_fd);
        if let Some(p) = self.pid {
            e.int(2, p);
        }
        e.flag(3, self.leave_running);
        e.flag(4, self.ext_unix_sk);
        e.flag(5, self.tcp_established);
        e.flag(7, self.shell_job);
        e.flag(8, self.file_locks);
        e.int(9, 4);
        e.str(10, &self.log_file);
        if let Some((addr, port)) = &self.page_server {
            let mut ps = Enc::default();
            if !addr.is_empty() {
                ps.str(1, addr);
            }
            ps.int(2, *port);
            e.msg(11, ps);
        }
        e.flag(12, true); // notify_scripts: tong answers each notification
        if let Some(r) = &self.root {
            e.str(13, r);
        }
        if let Some(p) = &self.parent_img {
            e.str(14, p);
        }
        e.flag(15, self.track_mem);
        e.flag(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            e.int(17, fd);
        }
        for (k, v) in &self.ext_mnt {
            let mut m = Enc::default();
            m.str(1, k);
            m.str(2, v);
            e.msg(23, m);
        }
        for (ctrl, path) in &self.cg_root {
            let mut m = Enc::default();
            if let Some(c) = ctrl {
                m.str(1, c);
            }
            m.str(2, path);
            e.msg(25, m);
        }
        e.flag(26, self.rst_sibling);
        for (k, fd) in &self.inherit_fd {
            let mut m = Enc::default();
            m.str(1, k);
            m.int(2, *fd);
            e.msg(27, m);
        }
        if let Some(mode) = self.manage_cgroups_mode {
            e.uint(34, mode);
        }
        for x in &self.external {
            e.str(37, x);
        }
        if self.empty_ns != 0 {
            e.uint(38, u64::from(self.empty_ns));
        }
        for (ns, file) in &self.join_ns {
            let mut m = Enc::default();
            m.str(1, ns);
            m.str(2, file);
            e.msg(39, m);
        }
        if let Some(f) = &self.freeze_cgroup {
            e.str(44, f);
        }
        e.flag(48, self.lazy_pages);
        if let Some(fd) = self.status_fd {
            e.int(49, fd);
        }
        e.flag(50, self.orphan_pts_master);
        if let Some(p) = &self.lsm_profile {
            e.str(53, p);
        }
        if let Some(c) = &self.lsm_mount_context {
            e.str(63, c);
        }
        e
    }
}

fn request(t: ReqType, opts: Option<&Opts>, notify_success: Option<bool>) -> Vec<u8> {
    let mut e = Enc::default();
    e.uint(1, t as u64);
    if let Some(o) = opts {
        e.msg(2, o.encode());
    }
    if let Some(ok) = notify_success {
        e.uint(3, ok.into());
    }
    e.0
}

/// One field of a message being read.
enum Val<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

/// The fields of a protobuf message, in order; fixed-width fields (criu
/// sends none tong reads) are skipped.
fn fields(mut b: &[u8]) -> Result<Vec<(u32, Val<'_>)>> {
    fn varint(b: &mut &[u8]) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b
                .split_first()
                .ok_or_else(|| Error::new("criu sent a truncated message"))?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::new("criu sent a malformed varint"))
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let field = (key >> 3) as u32;
        match key & 7 {
            0 => out.push((field, Val::Int(varint(&mut b)?))),
            2 => {
                let n = varint(&mut b)? as usize;
                if n > b.len() {
                    return Err(Error::new("criu sent a truncated message"));
                }
                let (v, rest) = b.split_at(n);
                b = rest;
                out.push((field, Val::Bytes(v)));
            }
            1 if b.len() >= 8 => b = &b[8..],
            5 if b.len() >= 4 => b = &b[4..],
            w => {
                return Err(Error::new(format!(
                    "criu sent wire type {w} tong cannot read"
                )))
            }
        }
    }
    Ok(out)
}

/// What tong reads of a criu_resp.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resp {
    pub typ: u64,
    pub success: bool,
    pub restored_pid: Option<i32>,
    pub notify_script: Option<String>,
    pub notify_pid: Option<i32>,
    pub cr_errno: Option<i32>,
    pub cr_errmsg: Option<String>,
    /// major, minor, sublevel.
    pub version: Option<(i32, i32, i32)>,
}

fn decode(b: &[u8]) -> Result<Resp> {
    let mut r = Resp::default();
    let int = |v: &Val| match v {
        Val::Int(i) => *i,
        Val::Bytes(_) => 0,
    };
    for (f, v) in fields(b)? {
        match (f, &v) {
            (1, _) => r.typ = int(&v),
            (2, _) => r.success = int(&v) != 0,
            (4, Val::Bytes(m)) => {
                for (f, v) in fields(m)? {
                    if f == 1 {
                        r.restored_pid = Some(int(&v) as i32);
                    }
                }
            }
            (5, Val::Bytes(m)) => {
                for (f, v) in fields(m)? {
                    match (f, v) {
                        (1, Val::Bytes(s)) => {
                            r.notify_script = Some(String::from_utf8_lossy(s).into_owned())
                        }
                        (2, Val::Int(p)) => r.notify_pid = Some(p as i32),
                        _ => {}
                    }
                }
            }
            (7, _) => r.cr_errno = Some(int(&v) as i32),
            (9, Val::Bytes(s)) => r.cr_errmsg = Some(String::from_utf8_lossy(s).into_owned()),
            (10, Val::Bytes(m)) => {
                let mut ver = (0, 0, 0);
                for (f, v) in fields(m)? {
                    match f {
                        1 => ver.0 = int(&v) as i32,
                        2 => ver.1 = int(&v) as i32,
                        4 => ver.2 = int(&v) as i32,
                        _ => {}
                    }
                }
                r.version = Some(ver);
            }
            _ => {}
        }
    }
    Ok(r)
}

/// A notification from criu during a dump or restore: the script name
/// (`setup-namespaces`, `post-restore`, `orphan-pts-master`, …), the pid
/// criu gives with it, and for `orphan-pts-master` the pty master.
pub struct Notify<'a> {
    pub script: &'a str,
    pub pid: Option<i32>,
    pub fd: Option<OwnedFd>,
}

/// A running `criu swrk`.
pub struct Swrk {
    sock: OwnedFd,
    child: Child,
    criu: String,
}

fn spawn_error(criu: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(format!(
            "criu binary {criu:?} not found: install criu or name it with --criu PATH"
        ))
    } else {
        Error::from(e).context(format!("run {criu} swrk"))
    }
}

impl Swrk {
    /// Starts `criu swrk` with its end of the socket and `pass` (fds of
    /// ours) at the same numbers in its table; stdio is tong's, so the
    /// inherited stdio of a restored process is the engine's.
    pub fn start(criu: &str, pass: &[BorrowedFd]) -> Result<Swrk> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx("socketpair for criu")?;
        let mut keep: Vec<BorrowedFd> = pass.to_vec();
        keep.push(theirs.as_fd());
        // Inheritable only for this one spawn (tong has no other thread
        // that could fork meanwhile), close-on-exec again right after.
        let set = |cloexec: bool| -> Result<()> {
            for fd in &keep {
                let flags = if cloexec {
                    FdFlag::FD_CLOEXEC
                } else {
                    FdFlag::empty()
                };
                fcntl(fd, FcntlArg::F_SETFD(flags)).ctx("fcntl(F_SETFD) for criu")?;
            }
            Ok(())
        };
        set(false)?;
        let spawned = Command::new(criu)
            .arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(Stdio::inherit())
            .spawn();
        set(true)?;
        let child = spawned.map_err(|e| spawn_error(criu, e))?;
        drop(theirs);
        Ok(Swrk {
            sock: ours,
            child,
            criu: criu.to_owned(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn send(&self, msg: &[u8]) -> Result<()> {
        nix::sys::socket::send(
            self.sock.as_raw_fd(),
            msg,
            nix::sys::socket::MsgFlags::empty(),
        )
        .ctx("send request to criu")?;
        Ok(())
    }

    fn recv(&self) -> Result<(Resp, Option<OwnedFd>)> {
        let Some((buf, fd)) = sys::recv_message(self.sock.as_fd()).ctx("read criu's answer")?
        else {
            return Err(Error::new(format!(
                "{} exited without an answer",
                self.criu
            )));
        };
        Ok((decode(&buf)?, fd))
    }

    /// Sends one request and serves criu's notifications until its answer.
    /// A notification `on_notify` fails is answered as failed: criu then
    /// undoes what it did and reports the failure, and that error wins.
    pub fn call(
        mut self,
        t: ReqType,
        opts: Option<&Opts>,
        on_notify: &mut dyn FnMut(Notify) -> Result<()>,
    ) -> Result<Resp> {
        let r = self.exchange(t, opts, on_notify);
        // criu swrk exits after its answer (or once it sees our end close).
        drop(self.sock);
        let _ = self.child.wait();
        r
    }

    fn exchange(
        &mut self,
        t: ReqType,
        opts: Option<&Opts>,
        on_notify: &mut dyn FnMut(Notify) -> Result<()>,
    ) -> Result<Resp> {
        self.send(&request(t, opts, None))?;
        let mut failed: Option<Error> = None;
        loop {
            // An `orphan-pts-master` notification carries the master with
            // it (SCM_RIGHTS on the same message).
            let (resp, fd) = self.recv()?;
            if resp.typ != ReqType::Notify as u64 {
                if resp.typ != t as u64 {
                    return Err(Error::new(format!(
                        "criu answered request {} with type {}",
                        t as u64, resp.typ
                    )));
                }
                return match failed {
                    Some(e) => Err(e),
                    None => Ok(resp),
                };
            }
            let script = resp.notify_script.clone().unwrap_or_default();
            let ok = if failed.is_none() {
                match on_notify(Notify {
                    script: &script,
                    pid: resp.notify_pid,
                    fd,
                }) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            } else {
                false
            };
            self.send(&request(ReqType::Notify, None, Some(ok)))?;
        }
    }
}

/// The criu version, as `major * 10000 + minor * 100 + sublevel` (runc's
/// numbering), from `criu --version` ("Version: 3.17.1"): a fraction of
/// what a `criu swrk` VERSION request costs, which sets criu's kernel
/// detection going first (over a second under emulation).
pub fn version(criu: &str) -> Result<u32> {
    let out = Command::new(criu)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(criu, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        Error::new(format!(
            "{criu} --version printed no version ({}): is it criu?",
            text.trim()
        ))
    })
}

fn parse_version(text: &str) -> Option<u32> {
    let v = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))?;
    let mut n = v.trim().split('.').map(|x| x.parse::<u32>().ok());
    let major = n.next()??;
    let minor = n.next()??;
    let sub = n.next().flatten().unwrap_or(0);
    Some(major * 10000 + minor * 100 + sub)
}

/// criu's own reason for a failure: the `Error (...)` lines of its log
/// (the same lines `criu check` prints), else the last lines.
pub fn log_reason(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Error (") || l.starts_with("Error"))
        .map(|l| l.trim())
        .collect();
    let chosen: Vec<&str> = if errors.is_empty() {
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        all[all.len().saturating_sub(3)..].to_vec()
    } else {
        errors[errors.len().saturating_sub(6)..].to_vec()
    };
    // Drop criu's "(00.012345) " timestamps.
    let clean: Vec<String> = chosen
        .iter()
        .map(
            |l| match l.strip_prefix('(').and_then(|r| r.split_once(") ")) {
                Some((_, rest)) => rest.to_owned(),
                None => (*l).to_owned(),
            },
        )
        .collect();
    (!clean.is_empty()).then(|| clean.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_protoc() {
        // criu_req{type: DUMP, opts{images_dir_fd: 3, log_file: "d"}}:
        // 08 01 12 len (08 03 48 04 52 01 'd' 60 01)
        let o = Opts {
            images_dir_fd: 3,
            log_file: "d".into(),
            ..Default::default()
        };
        let b = request(ReqType::Dump, Some(&o), None);
        assert_eq!(
            b,
            [0x08, 1, 0x12, 9, 0x08, 3, 0x48, 4, 0x52, 1, b'd', 0x60, 1]
        );
        // A negative int32 takes ten bytes.
        let mut e = Enc::default();
        e.int(2, -1);
        assert_eq!(e.0.len(), 11);
        // Field 34 needs a two-byte key.
        let mut e = Enc::default();
        e.uint(34, 3);
        assert_eq!(e.0, [0x90, 0x02, 3]);
    }

    #[test]
    fn decodes_answers() {
        // type RESTORE, success, restore{pid: 300}
        let b = [0x08, 2, 0x10, 1, 0x22, 3, 0x08, 0xac, 0x02];
        let r = decode(&b).unwrap();
        assert_eq!(r.typ, 2);
        assert!(r.success);
        assert_eq!(r.restored_pid, Some(300));
        // NOTIFY with notify{script: "post-restore", pid: 7}
        let mut m = Enc::default();
        m.str(1, "post-restore");
        m.int(2, 7);
        let mut e = Enc::default();
        e.uint(1, 6);
        e.uint(2, 1);
        e.msg(5, m);
        let r = decode(&e.0).unwrap();
        assert_eq!(r.notify_script.as_deref(), Some("post-restore"));
        assert_eq!(r.notify_pid, Some(7));
        // failure with errno and message, then a version
        let mut v = Enc::default();
        v.int(1, 3);
        v.int(2, 17);
        v.int(4, 1);
        let mut e = Enc::default();
        e.uint(1, 10);
        e.uint(2, 1);
        e.int(7, 2);
        e.str(9, "no");
        e.msg(10, v);
        let r = decode(&e.0).unwrap();
        assert_eq!(r.cr_errno, Some(2));
        assert_eq!(r.cr_errmsg.as_deref(), Some("no"));
        assert_eq!(r.version, Some((3, 17, 1)));
        assert!(decode(&[0x08]).is_err());
        assert_eq!(parse_version("Version: 3.17.1\n"), Some(31701));
        assert_eq!(parse_version("Version: 4.0\nGitID: v4.0\n"), Some(40000));
        assert_eq!(parse_version("nonsense"), None);
        assert!(decode(&[0x12, 5, 1]).is_err());
    }

    #[test]
    fn reason_from_log() {
        let p = std::env::temp_dir().join(format!("tong-criu-log-{}", std::process::id()));
        std::fs::write(
            &p,
            "(00.000100) info\n(00.000200) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n(00.0003) Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.\n",
        )
        .unwrap();
        assert_eq!(
            log_reason(&p).unwrap(),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat."
        );
        let _ = std::fs::remove_file(p);
    }
}
