//! Loading and validating `config.json`.
//!
//! Deserialisation errors and validation errors both name the JSON pointer of
//! the offending field, so a user can find the bad line at once. What is
//! checked here is what the config says by itself (and that the rootfs is a
//! directory); its checks against this host are `linux/validate.rs`, which
//! container/ runs after loading. Nothing here imports from `linux/`.

mod compat;

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A loaded bundle: its directory, its config, and the absolute rootfs path.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Turns a serde_path_to_error path into a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut p = String::new();
    for seg in path.iter() {
        p.push('/');
        match seg {
            Segment::Seq { index } => p.push_str(&index.to_string()),
            Segment::Map { key } => p.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => p.push_str(variant),
            Segment::Unknown => p.push('?'),
        }
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

/// Deserialises JSON into `T`, naming the failing field's pointer on error.
/// Every document tong reads (config, process, resources) is an object; a
/// serde error about its first element would name the wrong thing.
pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(Error::new(format!(
                "invalid {what}: expected a JSON object at the top level"
            )))
        }
        None => return Err(Error::new(format!("invalid {what}: the file is empty"))),
    }
    match parse_json(bytes, what) {
        Ok(v) => Ok(v),
        // Spellings of the spec that oci-spec refuses (see compat.rs).
        Err(e) => match compat::mend(bytes) {
            Some((mended, warnings)) => {
                let v = parse_json(&mended, what)?;
                for w in warnings {
                    crate::logging::warn(&w);
                }
                Ok(v)
            }
            None => Err(e),
        },
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        Error::field(pointer, format!("invalid {what}: {inner}"))
    })
}

impl Bundle {
    /// Reads `<dir>/config.json` and validates it.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| Error::from(e).context(format!("bundle {}", dir.display())))?;
        let cfg = dir.join("config.json");
        let bytes = std::fs::read(&cfg)
            .map_err(|e| Error::from(e).context(format!("open {}", cfg.display())))?;
        let spec: Spec = from_json(&bytes, "config.json")?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::field("/root", "root must be set"))?;
        let rootfs = dir.join(root.path());
        match std::fs::metadata(&rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::field(
                    "/root/path",
                    format!("rootfs {} is not a directory", rootfs.display()),
                ))
            }
            Err(e) => {
                return Err(Error::from(e)
                    .context(format!("rootfs {}", rootfs.display()))
                    .at("/root/path"))
            }
        }
        validate(&spec)?;
        Ok(Bundle { dir, rootfs, spec })
    }
}

/// The namespaces a config asks for, with their index in `/linux/namespaces`.
pub fn namespaces(spec: &Spec) -> Vec<(usize, LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|v| {
            v.iter()
                .enumerate()
                .map(|(i, n)| (i, n.typ(), n.path().clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the config has a namespace of type `t`, new or joined.
pub fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|(_, typ, _)| *typ == t)
}

/// Whether the config asks for a new namespace of type `t` (one without a
/// `path` to join).
pub fn new_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|(_, typ, p)| *typ == t && p.is_none())
}

/// Name of a namespace type as it appears in config.json and /proc/self/ns.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Checks what the config says by itself; `linux/validate.rs` then checks
/// it against this host.
pub fn validate(spec: &Spec) -> Result<()> {
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::field(
            "/ociVersion",
            format!(
                "unsupported ociVersion {:?}: tong supports 1.x",
                spec.version()
            ),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::field("/process", "process property must not be empty"))?;
    validate_process(process, "/process")?;
    // Network devices are moved out of the host's namespace, never into it.
    let net_devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .is_some_and(|d| !d.is_empty());
    if net_devices && !has_ns(spec, LinuxNamespaceType::Network) {
        return Err(Error::field(
            "/linux/netDevices",
            "network devices can only be moved into a network namespace of the container's own",
        ));
    }

    let mut seen = HashSet::new();
    for (i, typ, _) in namespaces(spec) {
        if !seen.insert(typ as i32) {
            return Err(Error::field(
                format!("/linux/namespaces/{i}/type"),
                format!("duplicate namespace {:?}", ns_name(typ)),
            ));
        }
    }
    if !has_ns(spec, LinuxNamespaceType::Mount) {
        return Err(Error::field(
            "/linux/namespaces",
            "a mount namespace is required to set up the rootfs",
        ));
    }
    let has_user = has_ns(spec, LinuxNamespaceType::User);
    if let Some(linux) = spec.linux() {
        let uid_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        let gid_maps = linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if (uid_maps || gid_maps) && !has_user {
            return Err(Error::field(
                "/linux/uidMappings",
                "user namespace mappings specified, but user namespace isn't enabled in the config",
            ));
        }
        check_mappings(
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            "/linux/uidMappings",
        )?;
        check_mappings(
            linux.gid_mappings().as_deref().unwrap_or(&[]),
            "/linux/gidMappings",
        )?;
        if new_ns(spec, LinuxNamespaceType::User) && (!uid_maps || !gid_maps) {
            return Err(Error::field(
                "/linux/uidMappings",
                "user namespaces enabled, but no uid and gid mappings are set",
            ));
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                check_sysctl(spec, key)
                    .map_err(|m| Error::field(format!("/linux/sysctl/{key}"), m))?;
            }
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !has_ns(spec, LinuxNamespaceType::Time)
        {
            return Err(Error::field(
                "/linux/timeOffsets",
                "time offsets specified, but time namespace isn't enabled in the config",
            ));
        }
    }
    for (field, value) in [
        ("/hostname", spec.hostname()),
        ("/domainname", spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(spec, LinuxNamespaceType::Uts) {
            return Err(Error::field(
                field,
                format!(
                    "unable to set {} without a private UTS namespace",
                    &field[1..]
                ),
            ));
        }
    }
    if let Some(mounts) = spec.mounts() {
        for (i, m) in mounts.iter().enumerate() {
            if !m.destination().is_absolute() {
                return Err(Error::field(
                    format!("/mounts/{i}/destination"),
                    format!(
                        "mount destination {} is not an absolute path",
                        m.destination().display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks what a process (from config.json or `exec`) says by itself;
/// `linux/validate.rs` checks its LSM and scheduling fields against this host.
pub fn validate_process(process: &Process, at: &str) -> Result<()> {
    let args = process.args().as_deref().unwrap_or(&[]);
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::field(format!("{at}/args"), "args must not be empty"));
    }
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(Error::field(
            format!("{at}/cwd"),
            format!(
                "cwd {:?} is not an absolute path",
                cwd.display().to_string()
            ),
        ));
    }
    // CVE-2024-21626: a cwd through a runtime fd would leave the process outside its root.
    let c = cwd.to_string_lossy();
    if c.starts_with("/proc/self/fd") || c.starts_with("/proc/thread-self/fd") {
        return Err(Error::field(
            format!("{at}/cwd"),
            format!("cwd {c:?} refers to a file descriptor and is not allowed"),
        ));
    }
    // setresuid(-1) means "unchanged": an id of 4294967295 would leave the
    // process root. Like runc, only 0..=2^31-1 are ids.
    let user = process.user();
    check_id(user.uid(), &format!("{at}/user/uid"))?;
    check_id(user.gid(), &format!("{at}/user/gid"))?;
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        check_id(*g, &format!("{at}/user/additionalGids/{i}"))?;
    }
    let mut types = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !types.insert(format!("{:?}", r.typ())) {
            return Err(Error::field(
                format!("{at}/rlimits/{i}/type"),
                format!("duplicate rlimit {:?}", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(Error::field(
                format!("{at}/rlimits/{i}"),
                "rlimit soft value is greater than hard value",
            ));
        }
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                return Err(Error::field(
                    format!("{at}/env/{i}"),
                    format!("environment variable {e:?} has no '='"),
                ));
            }
        }
    }
    Ok(())
}

/// The largest uid or gid tong sets or maps (runc's bound: ids are int32).
pub const MAX_ID: u32 = i32::MAX as u32;

fn check_id(id: u32, at: &str) -> Result<()> {
    if id > MAX_ID {
        return Err(Error::field(
            at,
            format!("id {id} is out of range (0 to {MAX_ID})"),
        ));
    }
    Ok(())
}

/// Each mapping's first ids are valid ids and its range is not empty and
/// stays below the kernel's (u32) id space.
fn check_mappings(maps: &[oci_spec::runtime::LinuxIdMapping], at: &str) -> Result<()> {
    for (i, m) in maps.iter().enumerate() {
        check_id(m.container_id(), &format!("{at}/{i}/containerID"))?;
        check_id(m.host_id(), &format!("{at}/{i}/hostID"))?;
        let fits = |start: u32| {
            m.size() > 0 && u64::from(start) + u64::from(m.size()) <= u64::from(u32::MAX)
        };
        if !fits(m.container_id()) || !fits(m.host_id()) {
            return Err(Error::field(
                format!("{at}/{i}/size"),
                format!(
                    "mapping size {} is empty or runs past the id space",
                    m.size()
                ),
            ));
        }
    }
    Ok(())
}

/// runc's rule: a sysctl is only allowed when the namespace it lives in is private.
fn check_sysctl(spec: &Spec, key: &str) -> std::result::Result<(), String> {
    use LinuxNamespaceType as T;
    if key == "kernel.hostname" {
        // runc: the dedicated field sets it; a sysctl would fight it.
        return Err(format!(
            "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
        ));
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        T::Ipc
    } else if key.starts_with("net.") {
        T::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        T::Uts
    } else {
        return Err(format!("sysctl {key:?} is not whitelisted"));
    };
    if has_ns(spec, need) {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key:?} is not allowed as it conflicts with the host's {} namespace",
            ns_name(need)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let spec: Spec = from_json(v.to_string().as_bytes(), "config.json")?;
        validate(&spec)
    }

    #[test]
    fn base_is_valid() {
        check(base()).unwrap();
    }

    #[test]
    fn bad_namespace_type_names_pointer() {
        let mut v = base();
        v["linux"]["namespaces"][2]["type"] = "bogus".into();
        let e = check(v).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/linux/namespaces/2/type"));
    }

    #[test]
    fn duplicate_namespace() {
        let mut v = base();
        v["linux"]["namespaces"][2]["type"] = "pid".into();
        let e = check(v).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/linux/namespaces/2/type"));
        assert!(e.msg.contains("duplicate namespace"));
    }

    #[test]
    fn wrong_major_version() {
        let mut v = base();
        v["ociVersion"] = "2.0.0".into();
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/ociVersion")
        );
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = base();
        v["hostname"] = "x".into();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "mount"}]);
        let e = check(v).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/hostname"));
    }

    #[test]
    fn missing_process_fields() {
        let mut v = base();
        v["process"]["args"] = serde_json::json!([]);
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/process/args")
        );
        let mut v = base();
        v["process"]["cwd"] = "rel".into();
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/process/cwd")
        );
        let mut v = base();
        v["process"]["cwd"] = "/proc/self/fd/7".into();
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/process/cwd")
        );
    }

    #[test]
    fn sysctl_needs_namespace() {
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        let e = check(v).unwrap_err();
        assert_eq!(
            e.pointer.as_deref(),
            Some("/linux/sysctl/net.ipv4.ip_forward")
        );
    }

    #[test]
    fn user_mappings_need_userns() {
        let mut v = base();
        v["linux"]["uidMappings"] = serde_json::json!([{"containerID":0,"hostID":1000,"size":1}]);
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/linux/uidMappings")
        );
    }

    #[test]
    fn relative_mount_destination() {
        let mut v = base();
        v["mounts"] =
            serde_json::json!([{"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}]);
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/mounts/0/destination")
        );
    }

    #[test]
    fn wrong_json_type_names_pointer() {
        let mut v = base();
        v["process"]["user"]["uid"] = "root".into();
        assert_eq!(
            check(v).unwrap_err().pointer.as_deref(),
            Some("/process/user/uid")
        );
    }
}
