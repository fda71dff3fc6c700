//! The resources systemd has properties for, named and typed as systemd
//! wants them and converted as runc converts them; the properties of a
//! container's transient unit. Pure: tested without a bus.

use super::UnitPath;
use crate::error::{Error, Result};
use crate::linux::cgroups::resources::{blkio_weight_to_io, shares_to_weight};
use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;

/// A property value, in the D-Bus type systemd expects for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    U64(u64),
    U32(u32),
    I64(i64),
    I32(i32),
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
            put("IOWeight", Value::U64(blkio_weight_to_io(w)));
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

/// Unit properties systemd types `i` (int32), which engines pass as bare
/// numbers; any other bare number goes as `t` (uint64: limits and times).
const INT32_PROPERTIES: &[&str] = &[
    "KillSignal",
    "FinalKillSignal",
    "RestartKillSignal",
    "WatchdogSignal",
    "Nice",
    "OOMScoreAdjust",
    "CPUSchedulingPolicy",
    "CPUSchedulingPriority",
    "IOSchedulingClass",
    "IOSchedulingPriority",
];

/// An annotation's value in GVariant's text format, as runc reads it:
/// `true`/`false`, a number (a `uint64`, systemd's type for limits and
/// times), a quoted string, or one of these with its type named first —
/// podman 5 sends `TimeoutStopUSec` as `uint64 10000000`.
fn annotation_value(v: &str) -> Option<Value> {
    let (ty, rest) = match v.split_once(char::is_whitespace) {
        Some((t, r)) => (Some(t), r.trim()),
        None => (None, v),
    };
    let quoted = |r: &str| {
        let q = r.chars().next()?;
        (r.len() >= 2 && (q == '"' || q == '\'') && r.ends_with(q))
            .then(|| r[1..r.len() - 1].to_owned())
    };
    let boolean = |r: &str| match r {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    };
    Some(match ty {
        None => match boolean(v) {
            Some(b) => Value::Bool(b),
            None => match quoted(v) {
                Some(s) => Value::Str(s),
                None => Value::U64(v.parse().ok()?),
            },
        },
        Some("uint64" | "@t") => Value::U64(rest.parse().ok()?),
        Some("uint32" | "@u") => Value::U32(rest.parse().ok()?),
        Some("int64" | "@x") => Value::I64(rest.parse().ok()?),
        Some("int32" | "@i") => Value::I32(rest.parse().ok()?),
        Some("boolean" | "@b") => Value::Bool(boolean(rest)?),
        Some("string" | "@s") => Value::Str(quoted(rest)?),
        Some(_) => return None,
    })
}

/// Extra unit properties from `org.systemd.property.<Name>` annotations (as
/// runc allows): see `annotation_value`.
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
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::field(
                at,
                format!("invalid systemd property name {name:?}"),
            ));
        }
        let bad = || {
            Error::field(
                at.clone(),
                format!(
                    "systemd property {name}: {v:?} is not a boolean, number or \"string\" (optionally typed as GVariant text, e.g. \"uint64 10000000\")"
                ),
            )
        };
        // `…Sec` in seconds becomes systemd's `…USec` (runc's rule: a
        // lowercase letter before "Sec", so `TimeoutStopSec`, not `USec`).
        if let Some(base) = name
            .strip_suffix("Sec")
            .filter(|b| b.ends_with(|c: char| c.is_ascii_lowercase()))
        {
            let secs = v.rsplit(char::is_whitespace).next().unwrap_or(v);
            let usec = secs
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1.8e13)
                .ok_or_else(bad)?;
            out.push((
                format!("{base}USec"),
                Value::U64((usec * 1e6).round() as u64),
            ));
            continue;
        }
        let mut value = annotation_value(v).ok_or_else(bad)?;
        // An untyped number goes as the type systemd declares for the
        // properties engines send (podman: `KillSignal` "15", an int32).
        if let (Value::U64(n), true) = (&value, INT32_PROPERTIES.contains(&name)) {
            value = Value::I32(i32::try_from(*n).map_err(|_| bad())?);
        }
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// The properties of a container's transient unit: the scope (or slice)
/// holding `pid`, delegated to us, with accounting on, the resources systemd
/// has properties for, and the config's `org.systemd.property.*`
/// annotations last (so they can override). `proc_devices` is
/// /proc/devices, for device rules.
pub fn unit_properties(
    u: &UnitPath,
    pid: u32,
    v2: bool,
    r: Option<&LinuxResources>,
    proc_devices: &str,
    annotations: &HashMap<String, String>,
) -> Result<Vec<(String, Value)>> {
    let mut props = vec![
        (
            "Description".to_owned(),
            Value::Str(format!("tong container {}", u.unit)),
        ),
        ("Delegate".into(), Value::Bool(true)),
        ("DefaultDependencies".into(), Value::Bool(false)),
        ("MemoryAccounting".into(), Value::Bool(true)),
        ("CPUAccounting".into(), Value::Bool(true)),
        ("TasksAccounting".into(), Value::Bool(true)),
        (
            if v2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            }
            .into(),
            Value::Bool(true),
        ),
    ];
    if u.unit.ends_with(".scope") {
        props.push(("Slice".into(), Value::Str(u.slice.clone())));
        props.push(("PIDs".into(), Value::U32s(vec![pid])));
    }
    if let Some(r) = r {
        props.extend(properties(r, v2, proc_devices)?);
    }
    props.extend(annotation_properties(annotations)?);
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn podman_5_annotations_get_systemds_types() {
        let a: HashMap<String, String> = [
            ("org.systemd.property.KillSignal", "15"),
            ("org.systemd.property.TimeoutStopUSec", "uint64 10000000"),
            ("org.systemd.property.RuntimeMaxSec", "2"),
            ("org.systemd.property.TimeoutStopSec", "1.5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = annotation_properties(&a).unwrap();
        assert_eq!(get(&p, "KillSignal"), Some(&Value::I32(15)));
        assert_eq!(get(&p, "TimeoutStopUSec"), Some(&Value::U64(1_500_000)));
        assert_eq!(get(&p, "RuntimeMaxUSec"), Some(&Value::U64(2_000_000)));
        let bad: HashMap<String, String> = [(
            "org.systemd.property.KillSignal".to_owned(),
            "99999999999".to_owned(),
        )]
        .into();
        assert!(annotation_properties(&bad).is_err());
    }

    #[test]
    fn annotations_typed_as_gvariant_text_as_podman_5_sends_them() {
        for (v, want) in [
            ("uint64 10000000", Some(Value::U64(10000000))),
            ("@t 7", Some(Value::U64(7))),
            ("uint32 3", Some(Value::U32(3))),
            ("int64 -2", Some(Value::I64(-2))),
            ("@i -1", Some(Value::I32(-1))),
            ("boolean true", Some(Value::Bool(true))),
            ("string 'x y'", Some(Value::Str("x y".into()))),
            ("'single'", Some(Value::Str("single".into()))),
            ("uint32 -3", None),
            ("float 1", None),
            ("uint64", None),
        ] {
            assert_eq!(annotation_value(v), want, "{v}");
        }
    }

    #[test]
    fn a_scope_holds_the_pid_and_a_slice_does_not() {
        let scope = UnitPath {
            slice: "system.slice".into(),
            unit: "tong-c1.scope".into(),
        };
        let a: HashMap<String, String> = [(
            "org.systemd.property.TimeoutStopUSec".to_owned(),
            "5".to_owned(),
        )]
        .into();
        let r = res(serde_json::json!({"pids": {"limit": 10}}));
        let p = unit_properties(&scope, 42, true, Some(&r), "", &a).unwrap();
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "IOAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "Slice"), Some(&Value::Str("system.slice".into())));
        assert_eq!(get(&p, "PIDs"), Some(&Value::U32s(vec![42])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(10)));
        assert_eq!(p.last().map(|(k, _)| k.as_str()), Some("TimeoutStopUSec"));
        let slice = UnitPath {
            slice: "kubepods.slice".into(),
            unit: "kubepods-pod1.slice".into(),
        };
        let p = unit_properties(&slice, 42, false, None, "", &HashMap::new()).unwrap();
        assert_eq!(get(&p, "PIDs"), None);
        assert_eq!(get(&p, "Slice"), None);
        assert_eq!(get(&p, "BlockIOAccounting"), Some(&Value::Bool(true)));
    }
}
