//! `linux.netDevices`: moving host network interfaces into the container's
//! network namespace (rtnetlink), renamed, with their permanent global
//! addresses, and up.
//!
//! The runtime does it from the host, between clone and Go: the move with
//! one RTM_NEWLINK (IFLA_NET_NS_FD and IFLA_IFNAME, which takes `%d`
//! templates) on a host socket; the addresses and the link state through a
//! netlink socket opened inside the container's namespace (a socket stays in
//! the namespace it was made in, so the runtime enters it only for socket()).

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;

/// Whether `n` can be an interface name (IFNAMSIZ, no '/' or blanks).
pub fn check_name(n: &str) -> std::result::Result<(), String> {
    if n.is_empty() || n.len() > 15 || n == "." || n == ".." {
        return Err(format!(
            "{n:?} is not a valid network interface name (1 to 15 bytes)"
        ));
    }
    if n.contains(['/', ':']) || n.chars().any(char::is_whitespace) {
        return Err(format!(
            "network interface name {n:?} contains '/', ':' or blanks"
        ));
    }
    Ok(())
}

fn attr(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend((len as u16).to_ne_bytes());
    out.extend(typ.to_ne_bytes());
    out.extend(data);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![0u8; 4]; // family AF_UNSPEC, pad, type
    b.extend(index.to_ne_bytes());
    b.extend(flags.to_ne_bytes());
    b.extend(change.to_ne_bytes());
    b
}

/// The attributes of a netlink message body after its fixed header.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let typ = u16::from_ne_bytes([b[2], b[3]]);
        if len < 4 || len > b.len() {
            break;
        }
        out.push((typ, &b[4..len]));
        let next = (len + 3) & !3;
        b = &b[next.min(b.len())..];
    }
    out
}

struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    fn new() -> std::result::Result<Netlink, Errno> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 0 })
    }

    fn send(&mut self, typ: u16, flags: u16, body: &[u8]) -> std::result::Result<u32, Errno> {
        self.seq += 1;
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend(((16 + body.len()) as u32).to_ne_bytes());
        m.extend(typ.to_ne_bytes());
        m.extend((flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend(self.seq.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(body);
        send(self.fd.as_raw_fd(), &m, MsgFlags::empty())?;
        Ok(self.seq)
    }

    /// Each message of our sequence until the end: (type, body).
    fn replies(&mut self, seq: u32) -> std::result::Result<Vec<(u16, Vec<u8>)>, Errno> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut b = &buf[..n];
            while b.len() >= 16 {
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let typ = u16::from_ne_bytes([b[4], b[5]]);
                let s = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if len < 16 || len > b.len() {
                    return Err(Errno::EBADMSG);
                }
                let body = &b[16..len];
                if s == seq {
                    match typ {
                        NLMSG_DONE => return Ok(out),
                        NLMSG_ERROR => {
                            let code = body
                                .get(..4)
                                .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                                .unwrap_or(0);
                            return if code == 0 {
                                Ok(out)
                            } else {
                                Err(Errno::from_raw(-code))
                            };
                        }
                        _ => out.push((typ, body.to_vec())),
                    }
                }
                b = &b[((len + 3) & !3).min(b.len())..];
            }
        }
    }

    fn request(&mut self, typ: u16, flags: u16, body: &[u8]) -> std::result::Result<(), Errno> {
        let seq = self.send(typ, flags | NLM_F_ACK, body)?;
        self.replies(seq).map(|_| ())
    }

    /// The permanent, global addresses of interface `index`, as RTM_NEWADDR bodies.
    fn permanent_addresses(&mut self, index: u32) -> std::result::Result<Vec<Vec<u8>>, Errno> {
        let seq = self.send(RTM_GETADDR, NLM_F_DUMP, &[0u8; 8])?;
        let mut out = Vec::new();
        for (_, body) in self.replies(seq)? {
            if body.len() < 8 {
                continue;
            }
            let ifa_index = u32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
            let mut flags = u32::from(body[2]);
            for (t, d) in attrs(&body[8..]) {
                if t == IFA_FLAGS && d.len() == 4 {
                    flags = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
                }
            }
            if ifa_index == index && body[3] == RT_SCOPE_UNIVERSE && flags & IFA_F_PERMANENT != 0 {
                out.push(body);
            }
        }
        Ok(out)
    }
}

impl Netlink {
    /// Every link of the socket's namespace: (index, name).
    fn links(&mut self) -> std::result::Result<Vec<(i32, String)>, Errno> {
        let seq = self.send(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0))?;
        let mut out = Vec::new();
        for (_, body) in self.replies(seq)? {
            if body.len() < 16 {
                continue;
            }
            let index = i32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
            for (t, d) in attrs(&body[16..]) {
                if t == IFLA_IFNAME {
                    let name = d.split(|&c| c == 0).next().unwrap_or_default();
                    out.push((index, String::from_utf8_lossy(name).into_owned()));
                }
            }
        }
        Ok(out)
    }

    /// Moves link `index` of this socket's namespace into `ns`, named `name`.
    fn move_link(
        &mut self,
        index: i32,
        ns: &OwnedFd,
        name: &str,
    ) -> std::result::Result<(), Errno> {
        let mut body = ifinfomsg(index, 0, 0);
        attr(
            &mut body,
            IFLA_NET_NS_FD,
            &(ns.as_raw_fd() as u32).to_ne_bytes(),
        );
        let mut ifname = name.as_bytes().to_vec();
        ifname.push(0);
        attr(&mut body, IFLA_IFNAME, &ifname);
        self.request(RTM_NEWLINK, 0, &body)
    }
}

/// Whether two namespace fds are the same namespace.
fn same_ns(a: &OwnedFd, b: &OwnedFd) -> Result<bool> {
    let (a, b) = (
        nix::sys::stat::fstat(a).ctx("stat a network namespace")?,
        nix::sys::stat::fstat(b).ctx("stat a network namespace")?,
    );
    Ok((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))
}

/// A device of `netDevices`, checked and ready to move.
struct Planned {
    host_name: String,
    new: String,
    index: u32,
    addrs: Vec<Vec<u8>>,
    at: String,
}

/// Opens a netlink socket inside the network namespace `ns`.
fn netlink_in(ns: &OwnedFd) -> Result<Netlink> {
    let home = open(
        "/proc/self/ns/net",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /proc/self/ns/net")?;
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .ctx("enter the container's network namespace")?;
    let nl = Netlink::new();
    nix::sched::setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
        .ctx("return to the runtime's network namespace")?;
    nl.ctx("netlink socket in the container's network namespace")
}

/// Moves every device of `linux.netDevices` into the network namespace of
/// `pid`. Everything is checked before any device moves, and what was moved
/// goes back when a later step fails: a virtual device left in the
/// container's namespace is destroyed with it.
pub fn move_all(spec: &Spec, pid: nix::unistd::Pid) -> Result<()> {
    let Some(devs) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .filter(|d| !d.is_empty())
    else {
        return Ok(());
    };
    let ns_path = format!("/proc/{}/ns/net", pid.as_raw());
    let ns = open(
        ns_path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open {ns_path}"))?;
    let home = open(
        "/proc/self/ns/net",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /proc/self/ns/net")?;
    if same_ns(&ns, &home)? {
        return Err(Error::field(
            "/linux/netDevices",
            "the container has no network namespace of its own (it is the runtime's): \
             netDevices would rename the host's own devices; add a network namespace",
        ));
    }
    let mut host = Netlink::new().ctx("netlink socket")?;
    let mut inside = netlink_in(&ns)?;
    let plan = plan(devs, &mut host, &mut inside)?;
    let mut moved: Vec<&Planned> = Vec::new();
    for p in &plan {
        let (name, new) = (&p.host_name, &p.new);
        let r = host
            .move_link(p.index as i32, &ns, new)
            .map_err(|e| match e {
                Errno::EEXIST => Error::new(format!(
                    "a network device named {new:?} already exists in the container's namespace"
                )),
                e => Error::sys(
                    format!("move {name} into the container's network namespace"),
                    e,
                ),
            });
        if r.is_ok() {
            moved.push(p);
        }
        if let Err(e) = r.and_then(|()| configure(p, &mut inside)) {
            move_back(&moved, &home, &mut host, &mut inside);
            return Err(e.at(p.at.clone()));
        }
    }
    Ok(())
}

/// Checks every device and name: each host device exists, and no new name
/// is taken in the container's namespace or given twice (`%d` templates are
/// the kernel's to resolve).
fn plan(
    devs: &std::collections::HashMap<String, oci_spec::runtime::LinuxNetDevice>,
    host: &mut Netlink,
    inside: &mut Netlink,
) -> Result<Vec<Planned>> {
    let taken: Vec<String> = inside
        .links()
        .ctx("list the container's network devices")?
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    let mut names: Vec<&String> = devs.keys().collect();
    names.sort();
    let mut plan: Vec<Planned> = Vec::new();
    for name in names {
        let at = format!("/linux/netDevices/{name}");
        let new = devs[name].name().clone().unwrap_or_else(|| name.clone());
        let index = nix::net::if_::if_nametoindex(name.as_str()).map_err(|e| {
            Error::sys(format!("no network device {name:?} on the host"), e).at(at.clone())
        })?;
        if !new.contains('%') && (taken.contains(&new) || plan.iter().any(|p| p.new == new)) {
            return Err(Error::field(
                at,
                format!(
                    "a network device named {new:?} already exists in the container's namespace"
                ),
            ));
        }
        let addrs = host
            .permanent_addresses(index)
            .map_err(|e| Error::sys(format!("list the addresses of {name}"), e).at(at.clone()))?;
        plan.push(Planned {
            host_name: name.clone(),
            new,
            index,
            addrs,
            at,
        });
    }
    Ok(plan)
}

/// A moved device gets its addresses back and is set up.
fn configure(p: &Planned, inside: &mut Netlink) -> Result<()> {
    let index = inside_index(p, inside)?;
    for a in &p.addrs {
        let mut a = a.clone();
        a[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        inside
            .request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &a)
            .ctx(format!("restore an address of {}", p.new))?;
    }
    let up = ifinfomsg(index, libc::IFF_UP as u32, libc::IFF_UP as u32);
    inside
        .request(RTM_NEWLINK, 0, &up)
        .ctx(format!("set {} up", p.new))
}

/// The index of a moved device in the container's namespace: the kernel
/// keeps the host's index unless it is taken there.
fn inside_index(p: &Planned, inside: &mut Netlink) -> Result<i32> {
    let links = inside.links().ctx("list the container's network devices")?;
    let by_index = links.iter().find(|(i, _)| *i == p.index as i32);
    let by_name = links.iter().find(|(_, n)| *n == p.new);
    match (by_name, by_index) {
        (Some((i, _)), _) => Ok(*i),
        (None, Some((i, _))) if p.new.contains('%') => Ok(*i),
        _ => Err(Error::new(format!(
            "{} moved, but is not found in the container's namespace",
            p.host_name
        ))),
    }
}

/// Best effort: each moved device back to the host under its old name,
/// with its addresses.
fn move_back(moved: &[&Planned], home: &OwnedFd, host: &mut Netlink, inside: &mut Netlink) {
    for p in moved.iter().rev() {
        let back = inside_index(p, inside).and_then(|i| {
            inside
                .move_link(i, home, &p.host_name)
                .ctx(format!("move {} back to the host", p.new))
        });
        if let Err(e) = back {
            crate::logging::warn(&e.to_string());
            continue;
        }
        let Ok(index) = nix::net::if_::if_nametoindex(p.host_name.as_str()) else {
            continue;
        };
        for a in &p.addrs {
            let mut a = a.clone();
            a[4..8].copy_from_slice(&index.to_ne_bytes());
            if let Err(e) = host.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &a) {
                crate::logging::warn(&format!(
                    "restore an address of {} on the host: {e}",
                    p.host_name
                ));
            }
        }
    }
}

/// Brings up `lo` of the caller's (new) network namespace, as runc and crun
/// do, so 127.0.0.1 and ::1 work in a container without other networking.
pub fn loopback_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx("socket for the loopback")?;
    crate::linux::sys::set_link_up(sock.as_fd(), "lo").ctx("set lo up")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes() {
        assert!(check_name("eth%d").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("sixteen-bytes-xx").is_err());
        let mut b = Vec::new();
        attr(&mut b, IFLA_IFNAME, b"eth0\0");
        attr(&mut b, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        assert_eq!(b.len(), 12 + 8);
        let a = attrs(&b);
        assert_eq!(a[0], (IFLA_IFNAME, &b"eth0\0"[..]));
        assert_eq!(a[1].0, IFLA_NET_NS_FD);
    }
}
