//! The conformance checker: runs as the container's process, reads the
//! config.json the runtime was given (`/conformance/config.json`) and what
//! the runner saw on the host (`/conformance/host.json`), and verifies from
//! inside that the container is what the config asks for.
//!
//! Output, one line per verified config field, named by its JSON pointer:
//! `ok /hostname`, `not ok /process/env/2: expected …, got …`, `skip /x: why`,
//! then `done`. The runner judges; the exit status is not observable through
//! the OCI operations.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

type Check = Result<(), String>;

fn report(pointer: &str, r: Check) {
    match r {
        Ok(()) => println!("ok {pointer}"),
        Err(e) => println!("not ok {pointer}: {e}"),
    }
}

fn skip(pointer: &str, why: &str) {
    println!("skip {pointer}: {why}");
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, want: T, got: T) -> Check {
    if want == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))
}

/// The value of a `Key:\tvalue` line of /proc/self/status.
fn status_field(key: &str) -> Result<String, String> {
    let s = read("/proc/self/status")?;
    s.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("no {key} in /proc/self/status"))
}

struct MountInfo {
    point: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Vec<MountInfo> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let g: Vec<&str> = post.split(' ').collect();
            Some(MountInfo {
                point: unescape(f.get(4)?),
                opts: f.get(5)?.split(',').map(String::from).collect(),
                optional: f[6..].iter().map(|s| s.to_string()).collect(),
                fstype: g.first()?.to_string(),
            })
        })
        .collect()
}

/// The mount that is visible at `point` (the last one mounted there).
fn mount_at<'a>(mi: &'a [MountInfo], point: &str) -> Option<&'a MountInfo> {
    let point = if point.len() > 1 {
        point.trim_end_matches('/')
    } else {
        point
    };
    mi.iter().rev().find(|m| m.point == point)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_mask(names: &[String]) -> Result<u64, String> {
    let mut m = 0u64;
    for n in names {
        let i = CAPS
            .iter()
            .position(|c| c == n)
            .ok_or_else(|| format!("unknown capability {n}"))?;
        m |= 1 << i;
    }
    Ok(m)
}

fn cap_names(mask: u64) -> Vec<&'static str> {
    (0..CAPS.len())
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| CAPS[i])
        .collect()
}

fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

fn ns_link(name: &str) -> Result<String, String> {
    fs::read_link(format!("/proc/self/ns/{name}"))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("readlink /proc/self/ns/{name}: {e}"))
}

/// The kernel's name for a spec namespace type.
fn ns_file(t: &str) -> &str {
    match t {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

fn errno_of<T>(r: std::io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// Calls a syscall the rule names and returns its errno (None: it succeeded).
fn probe(name: &str) -> Option<Option<i32>> {
    Some(match name {
        "mkdir" | "mkdirat" => {
            let r = fs::create_dir("/tmp/.seccomp-probe");
            let _ = fs::remove_dir("/tmp/.seccomp-probe");
            errno_of(r)
        }
        "chdir" => errno_of(std::env::set_current_dir(".")),
        "getcwd" => errno_of(std::env::current_dir()),
        "symlink" | "symlinkat" => {
            let r = std::os::unix::fs::symlink("x", "/tmp/.seccomp-link");
            let _ = fs::remove_file("/tmp/.seccomp-link");
            errno_of(r)
        }
        "uname" => {
            let mut u: libc::utsname = unsafe { std::mem::zeroed() };
            // SAFETY: uname fills the struct it is given.
            let r = unsafe { libc::uname(&mut u) };
            (r != 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
        _ => return None,
    })
}

fn personality(p: libc::c_ulong) -> Result<i32, i32> {
    // SAFETY: personality only reads or sets the calling process's domain.
    let r = unsafe { libc::personality(p) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

fn check_seccomp(c: &Value) {
    let s = &c["linux"]["seccomp"];
    report(
        "/linux/seccomp",
        status_field("Seccomp").and_then(|v| expect_eq("Seccomp mode", "2", v.as_str())),
    );
    let default_ret = s["defaultErrnoRet"].as_i64().unwrap_or(libc::EPERM as i64) as i32;
    let _ = default_ret;
    for (i, rule) in s["syscalls"].as_array().into_iter().flatten().enumerate() {
        let p = format!("/linux/seccomp/syscalls/{i}");
        let action = rule["action"].as_str().unwrap_or("");
        let names = strs(&rule["names"]);
        let want = rule["errnoRet"].as_i64().unwrap_or(libc::EPERM as i64) as i32;
        let args = rule["args"].as_array().cloned().unwrap_or_default();
        if action != "SCMP_ACT_ERRNO" {
            skip(&p, "only SCMP_ACT_ERRNO rules are probed");
            continue;
        }
        if !args.is_empty() {
            // One argument condition on personality(2) is probed both ways.
            let a = &args[0];
            if names == ["personality"]
                && args.len() == 1
                && a["index"] == 0
                && a["op"] == "SCMP_CMP_EQ"
            {
                let v = a["value"].as_u64().unwrap_or(0) as libc::c_ulong;
                let hit = personality(v);
                let miss = personality(0xffff_ffff);
                report(
                    &p,
                    match (hit, miss) {
                        (Err(e), Ok(_)) => expect_eq("errno of the matching call", want, e),
                        (h, m) => Err(format!(
                            "matching call gave {h:?}, non-matching call gave {m:?}"
                        )),
                    },
                );
            } else {
                skip(&p, "argument conditions are probed only on personality");
            }
            continue;
        }
        match names.iter().find_map(|n| probe(n)) {
            Some(Some(e)) => report(&p, expect_eq("errno", want, e)),
            Some(None) => report(&p, Err(format!("{names:?} succeeded"))),
            None => skip(&p, "no probe for these syscalls"),
        }
    }
}

fn check_mount(i: usize, m: &Value, mi: &[MountInfo]) {
    let p = format!("/mounts/{i}");
    let dest = m["destination"].as_str().unwrap_or("");
    let Some(found) = mount_at(mi, dest) else {
        return report(&p, Err(format!("nothing is mounted at {dest}")));
    };
    let opts = strs(&m["options"]);
    let is_bind = opts.iter().any(|o| o == "bind" || o == "rbind") || m["type"] == "bind";
    let mut r = Ok(());
    if let Some(t) = m["type"].as_str() {
        if !is_bind && t != "none" && found.fstype != t {
            r = Err(format!("{dest}: type expected {t}, got {}", found.fstype));
        }
    }
    for o in &opts {
        let flag = match o.as_str() {
            "ro" | "nosuid" | "nodev" | "noexec" | "noatime" | "nodiratime" => o.as_str(),
            "rw" => "rw",
            "rro" => "ro",
            _ => {
                // Only tmpfs's mode= is the mode of the mount's root.
                if let Some(mode) = o.strip_prefix("mode=").filter(|_| found.fstype == "tmpfs") {
                    // tmpfs omits its default mode from mountinfo: stat instead.
                    let want = u32::from_str_radix(mode, 8).unwrap_or(u32::MAX);
                    let got = fs::metadata(dest).map(|m| m.mode() & 0o7777).unwrap_or(0);
                    if r.is_ok() && want != got {
                        r = Err(format!("{dest}: mode {got:o}, wanted {mode}"));
                    }
                }
                continue;
            }
        };
        if r.is_ok() && !found.opts.iter().any(|x| x == flag) {
            r = Err(format!(
                "{dest}: option {o} not in effect ({:?})",
                found.opts
            ));
        }
    }
    report(&p, r);
}

fn check_path_ro(path: &str, mi: &[MountInfo]) -> Check {
    match mount_at(mi, path) {
        Some(m) if m.opts.iter().any(|o| o == "ro") => Ok(()),
        Some(m) => Err(format!("{path} mounted with {:?}", m.opts)),
        None => Err(format!("{path} is not a read-only mount")),
    }
}

fn check_masked(path: &str) -> Check {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(_) => return Ok(()), // absent paths need no masking
    };
    if md.is_dir() {
        let n = fs::read_dir(path)
            .map_err(|e| format!("list {path}: {e}"))?
            .count();
        expect_eq("entries in masked dir", 0, n)
    } else {
        let content = fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
        expect_eq("bytes read from masked file", 0, content.len())
    }
}

fn check_device(d: &Value) -> Check {
    let path = d["path"].as_str().unwrap_or("");
    let md = fs::symlink_metadata(path).map_err(|e| format!("stat {path}: {e}"))?;
    let ft = md.file_type();
    let want_type = d["type"].as_str().unwrap_or("");
    let type_ok = match want_type {
        "c" | "u" => ft.is_char_device(),
        "b" => ft.is_block_device(),
        "p" => ft.is_fifo(),
        _ => false,
    };
    if !type_ok {
        return Err(format!("{path}: not of type {want_type}"));
    }
    if want_type != "p" {
        let rdev = md.rdev();
        let (maj, min) = (libc::major(rdev) as i64, libc::minor(rdev) as i64);
        expect_eq(
            "major:minor",
            (
                d["major"].as_i64().unwrap_or(-1),
                d["minor"].as_i64().unwrap_or(-1),
            ),
            (maj, min),
        )?;
    }
    if let Some(mode) = d["fileMode"].as_u64() {
        expect_eq("file mode", mode as u32, md.mode() & 0o7777)?;
    }
    if let Some(uid) = d["uid"].as_u64() {
        expect_eq("owner uid", uid as u32, md.uid())?;
    }
    if let Some(gid) = d["gid"].as_u64() {
        expect_eq("owner gid", gid as u32, md.gid())?;
    }
    Ok(())
}

fn main() {
    let c: Value = match fs::read("/conformance/config.json")
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            println!("not ok /: cannot read /conformance/config.json: {e}");
            println!("done");
            return;
        }
    };
    let host: Value = fs::read("/conformance/host.json")
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mi = mountinfo();
    let proc_ = &c["process"];

    // process
    let args: Vec<String> = std::env::args().collect();
    report(
        "/process/args",
        expect_eq("argv", strs(&proc_["args"]), args),
    );
    for (i, e) in strs(&proc_["env"]).iter().enumerate() {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        report(
            &format!("/process/env/{i}"),
            expect_eq(k, Some(v.to_string()), std::env::var(k).ok()),
        );
    }
    let getcwd_filtered = c["linux"]["seccomp"]["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| {
            r["action"] != "SCMP_ACT_ALLOW" && strs(&r["names"]).iter().any(|n| n == "getcwd")
        });
    if getcwd_filtered {
        skip("/process/cwd", "getcwd is filtered by seccomp");
    } else if let Some(cwd) = proc_["cwd"].as_str() {
        report(
            "/process/cwd",
            std::env::current_dir()
                .map_err(|e| e.to_string())
                .and_then(|d| expect_eq("cwd", cwd, &d.to_string_lossy())),
        );
    }
    report(
        "/process/terminal",
        expect_eq(
            "stdin is a terminal",
            proc_["terminal"].as_bool().unwrap_or(false),
            // SAFETY: isatty only inspects fd 0.
            unsafe { libc::isatty(0) } == 1,
        ),
    );
    let u = &proc_["user"];
    for (key, field) in [("uid", "Uid"), ("gid", "Gid")] {
        if let Some(want) = u[key].as_u64() {
            report(
                &format!("/process/user/{key}"),
                status_field(field).and_then(|v| {
                    let ids: Vec<u64> = v
                        .split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect();
                    expect_eq("real, effective, saved, fs ids", vec![want; 4], ids)
                }),
            );
        }
    }
    if let Some(gids) = u["additionalGids"].as_array() {
        let want: BTreeSet<u64> = gids.iter().filter_map(|g| g.as_u64()).collect();
        report(
            "/process/user/additionalGids",
            status_field("Groups").and_then(|v| {
                let got: BTreeSet<u64> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if want.is_subset(&got) {
                    Ok(())
                } else {
                    Err(format!("groups {got:?} lack some of {want:?}"))
                }
            }),
        );
    }
    if let Some(umask) = u["umask"].as_u64() {
        report(
            "/process/user/umask",
            status_field("Umask").and_then(|v| {
                expect_eq(
                    "umask",
                    umask as u32,
                    u32::from_str_radix(&v, 8).unwrap_or(u32::MAX),
                )
            }),
        );
    }
    let caps = &proc_["capabilities"];
    // What execve(2) leaves of the configured sets: root gets its bounding
    // and inheritable sets as permitted and effective (limited to the old
    // permitted set under no_new_privs); anyone else keeps only ambient.
    let set_mask = |k: &str| cap_mask(&strs(&caps[k])).unwrap_or(0);
    let after_exec = if u["uid"].as_u64().unwrap_or(0) == 0 {
        let m = set_mask("bounding") | set_mask("inheritable");
        if proc_["noNewPrivileges"].as_bool().unwrap_or(false) {
            m & set_mask("permitted")
        } else {
            m
        }
    } else {
        set_mask("ambient")
    };
    for (set, field) in [
        ("bounding", "CapBnd"),
        ("effective", "CapEff"),
        ("inheritable", "CapInh"),
        ("permitted", "CapPrm"),
        ("ambient", "CapAmb"),
    ] {
        if caps.get(set).is_some() {
            report(
                &format!("/process/capabilities/{set}"),
                cap_mask(&strs(&caps[set])).and_then(|configured| {
                    let want = match set {
                        "effective" | "permitted" => after_exec,
                        _ => configured,
                    };
                    let got = status_field(field)
                        .and_then(|v| u64::from_str_radix(&v, 16).map_err(|e| e.to_string()))?;
                    expect_eq(set, cap_names(want), cap_names(got))
                }),
            );
        }
    }
    for (i, rl) in proc_["rlimits"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let t = rl["type"].as_str().unwrap_or("");
        let r = match rlimit_resource(t) {
            None => Err(format!("unknown rlimit {t}")),
            Some(res) => {
                let mut cur = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: getrlimit fills the struct it is given.
                if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
                    Err(format!(
                        "getrlimit {t}: {}",
                        std::io::Error::last_os_error()
                    ))
                } else {
                    expect_eq(
                        t,
                        (
                            rl["soft"].as_u64().unwrap_or(0),
                            rl["hard"].as_u64().unwrap_or(0),
                        ),
                        (cur.rlim_cur, cur.rlim_max),
                    )
                }
            }
        };
        report(&format!("/process/rlimits/{i}"), r);
    }
    if let Some(nnp) = proc_["noNewPrivileges"].as_bool() {
        report(
            "/process/noNewPrivileges",
            status_field("NoNewPrivs")
                .and_then(|v| expect_eq("NoNewPrivs", if nnp { "1" } else { "0" }, v.as_str())),
        );
    }
    if let Some(adj) = proc_["oomScoreAdj"].as_i64() {
        report(
            "/process/oomScoreAdj",
            read("/proc/self/oom_score_adj")
                .and_then(|v| expect_eq("oom_score_adj", adj.to_string(), v.trim().to_string())),
        );
    }
    if let Some(profile) = proc_["apparmorProfile"].as_str() {
        // "profile (enforce)": the label, then the mode.
        let cur =
            read("/proc/self/attr/apparmor/current").or_else(|_| read("/proc/self/attr/current"));
        report(
            "/process/apparmorProfile",
            cur.and_then(|c| {
                expect_eq(
                    "AppArmor label",
                    profile,
                    c.split(" (").next().unwrap_or("").trim(),
                )
            }),
        );
    }
    if let Some(label) = proc_["selinuxLabel"].as_str() {
        report(
            "/process/selinuxLabel",
            read("/proc/self/attr/current")
                .and_then(|c| expect_eq("SELinux label", label, c.trim_end_matches(['\0', '\n']))),
        );
    }

    // hostname, domainname, root
    for (key, file) in [("hostname", "hostname"), ("domainname", "domainname")] {
        if let Some(want) = c[key].as_str() {
            report(
                &format!("/{key}"),
                read(&format!("/proc/sys/kernel/{file}"))
                    .and_then(|v| expect_eq(key, want, v.trim_end_matches('\n'))),
            );
        }
    }
    if let Some(ro) = c["root"]["readonly"].as_bool() {
        report(
            "/root/readonly",
            match mount_at(&mi, "/") {
                None => Err("no mount at /".into()),
                Some(m) => expect_eq("/ is read-only", ro, m.opts.iter().any(|o| o == "ro")),
            },
        );
    }

    // mounts
    for (i, m) in c["mounts"].as_array().into_iter().flatten().enumerate() {
        check_mount(i, m, &mi);
    }

    // linux
    let l = &c["linux"];
    let mut listed = BTreeSet::new();
    for (i, ns) in l["namespaces"].as_array().into_iter().flatten().enumerate() {
        let t = ns["type"].as_str().unwrap_or("");
        listed.insert(ns_file(t).to_string());
        let p = format!("/linux/namespaces/{i}");
        let r = ns_link(ns_file(t)).and_then(|own| {
            if let Some(path) = ns["path"].as_str() {
                let want = host["paths"][path].as_str().unwrap_or("?");
                expect_eq("joined namespace", want, own.as_str())
            } else {
                let h = host["ns"][ns_file(t)].as_str().unwrap_or("");
                if own == h {
                    Err(format!("{t} namespace is the host's ({own})"))
                } else {
                    Ok(())
                }
            }
        });
        report(&p, r);
    }
    for t in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"] {
        if listed.contains(t) {
            continue;
        }
        if let Some(h) = host["ns"][t].as_str() {
            report(
                &format!("/linux/namespaces#host-{t}"),
                ns_link(t)
                    .and_then(|own| expect_eq("unlisted namespace is the host's", h, own.as_str())),
            );
        }
    }
    for (key, file) in [("uidMappings", "uid_map"), ("gidMappings", "gid_map")] {
        let map = read(&format!("/proc/self/{file}")).unwrap_or_default();
        let rows: Vec<Vec<u64>> = map
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .collect();
        for (i, m) in l[key].as_array().into_iter().flatten().enumerate() {
            let want = vec![
                m["containerID"].as_u64().unwrap_or(0),
                m["hostID"].as_u64().unwrap_or(0),
                m["size"].as_u64().unwrap_or(0),
            ];
            report(
                &format!("/linux/{key}/{i}"),
                if rows.contains(&want) {
                    Ok(())
                } else {
                    Err(format!("{want:?} not in {file}: {rows:?}"))
                },
            );
        }
    }
    if let Some(sysctl) = l["sysctl"].as_object() {
        for (k, v) in sysctl {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            report(
                &format!("/linux/sysctl/{k}"),
                read(&path)
                    .and_then(|got| expect_eq(k, norm(v.as_str().unwrap_or("")), norm(&got))),
            );
        }
    }
    for (i, p) in strs(&l["maskedPaths"]).iter().enumerate() {
        report(&format!("/linux/maskedPaths/{i}"), check_masked(p));
    }
    for (i, p) in strs(&l["readonlyPaths"]).iter().enumerate() {
        if fs::symlink_metadata(p).is_ok() {
            report(&format!("/linux/readonlyPaths/{i}"), check_path_ro(p, &mi));
        }
    }
    for (i, d) in l["devices"].as_array().into_iter().flatten().enumerate() {
        report(&format!("/linux/devices/{i}"), check_device(d));
    }
    // The default devices and /dev symlinks every Linux container gets.
    for (path, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let d = serde_json::json!({"path": path, "type": "c", "major": maj, "minor": min});
        report(&format!("/linux/devices#default{path}"), check_device(&d));
    }
    if fs::metadata("/dev/ptmx").is_ok() {
        report(
            "/linux/devices#default/dev/ptmx",
            fs::read_link("/dev/ptmx")
                .map(|t| t.to_string_lossy().into_owned())
                .or_else(|_| {
                    fs::metadata("/dev/ptmx").map(|m| {
                        if libc::major(m.rdev()) == 5 {
                            "char 5:2".into()
                        } else {
                            "other".into()
                        }
                    })
                })
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    if t == "pts/ptmx" || t == "/dev/pts/ptmx" || t == "char 5:2" {
                        Ok(())
                    } else {
                        Err(format!("/dev/ptmx is {t}"))
                    }
                }),
        );
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        report(
            &format!("/linux#devsymlink{link}"),
            fs::read_link(link)
                .map_err(|e| format!("readlink {link}: {e}"))
                .and_then(|t| expect_eq(link, target, &t.to_string_lossy())),
        );
    }
    if let Some(prop) = l["rootfsPropagation"].as_str() {
        report(
            "/linux/rootfsPropagation",
            match mount_at(&mi, "/") {
                None => Err("no mount at /".into()),
                Some(m) => {
                    let shared = m.optional.iter().any(|o| o.starts_with("shared:"));
                    let slave = m.optional.iter().any(|o| o.starts_with("master:"));
                    let unbindable = m.optional.iter().any(|o| o == "unbindable");
                    let ok = match prop {
                        "shared" | "rshared" => shared,
                        "slave" | "rslave" => slave && !shared,
                        "private" | "rprivate" => !shared && !slave,
                        "unbindable" | "runbindable" => unbindable,
                        _ => false,
                    };
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("/ propagation fields {:?} for {prop}", m.optional))
                    }
                }
            },
        );
    }
    if let Some(domain) = l["personality"]["domain"].as_str() {
        let want = if domain == "LINUX32" { 8 } else { 0 };
        report(
            "/linux/personality",
            personality(0xffff_ffff)
                .map_err(|e| format!("errno {e}"))
                .and_then(|p| expect_eq("execution domain", want, p & 0xff)),
        );
    }
    if let Some(offsets) = l["timeOffsets"].as_object() {
        let text = read("/proc/self/timens_offsets").unwrap_or_default();
        let got: HashMap<String, (i64, i64)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.to_string(),
                    (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?),
                ))
            })
            .collect();
        for (clock, o) in offsets {
            let want = (
                o["secs"].as_i64().unwrap_or(0),
                o["nanosecs"].as_i64().unwrap_or(0),
            );
            report(
                &format!("/linux/timeOffsets/{clock}"),
                expect_eq(clock, Some(&want), got.get(clock)),
            );
        }
    }
    if let Some(path) = l["cgroupsPath"].as_str() {
        let own_ns = listed.contains("cgroup");
        report(
            "/linux/cgroupsPath",
            read("/proc/self/cgroup").and_then(|t| {
                let systemd = systemd_cgroup(path);
                let want = if own_ns {
                    "/"
                } else {
                    systemd.as_deref().unwrap_or(path)
                };
                let line = t
                    .lines()
                    .find(|l| {
                        l.split(':')
                            .nth(1)
                            .is_some_and(|c| c.split(',').any(|x| x == "memory"))
                    })
                    .or_else(|| t.lines().find(|l| l.starts_with("0::")))
                    .ok_or("no memory or unified line in /proc/self/cgroup")?;
                expect_eq(
                    "cgroup of the process",
                    want,
                    line.splitn(3, ':').nth(2).unwrap_or(""),
                )
            }),
        );
    }
    if l["seccomp"].is_object() {
        check_seccomp(&c);
    }
    println!("done");
}

/// runc's systemd cgroupsPath `slice:prefix:name` as the cgroup it names:
/// `a-b.slice:p:n` is `/a.slice/a-b.slice/p-n.scope` (None: not that form).
fn systemd_cgroup(path: &str) -> Option<String> {
    let [slice, prefix, name] = path.split(':').collect::<Vec<_>>()[..] else {
        return None;
    };
    let mut out = String::new();
    let mut acc = String::new();
    for part in slice.strip_suffix(".slice")?.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        out.push_str(&format!("/{acc}.slice"));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Some(format!("{out}/{unit}"))
}
