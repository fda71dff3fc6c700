//! Where a container's cgroup lives under systemd: runc's
//! `slice:prefix:name` cgroupsPath as a unit and its place in the tree.

use crate::error::{Error, Result};

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
    if !slice.ends_with(".slice") || !is_unit_name(slice) || expand_slice(slice).is_err() {
        return Err(bad("the slice must be a unit name of the form a-b.slice"));
    }
    let name = if name.is_empty() { id } else { name };
    if !is_unit_name(name) {
        return Err(bad(
            "the name must be a systemd unit-name component ([A-Za-z0-9:_.\\-], no '..')",
        ));
    }
    if !prefix.is_empty() && !is_unit_name(prefix) {
        return Err(bad(
            "the prefix must be a systemd unit-name component ([A-Za-z0-9:_.\\-], no '..')",
        ));
    }
    if name.ends_with(".slice") {
        if expand_slice(name).is_err() {
            return Err(bad("a slice name must be of the form a-b.slice"));
        }
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
    if unit.len() > UNIT_NAME_MAX {
        return Err(bad(&format!(
            "the unit name {unit:?} is longer than systemd's {UNIT_NAME_MAX} bytes"
        )));
    }
    Ok(UnitPath {
        slice: slice.to_owned(),
        unit,
    })
}

/// systemd's longest unit name (UNIT_NAME_MAX, 256 with the NUL).
const UNIT_NAME_MAX: usize = 255;

/// Whether `s` may be (part of) a systemd unit name: systemd's characters
/// `[A-Za-z0-9:_.\-\\]`, within its length, and never `..` or a leading
/// `.`: the unit's cgroup is a directory named after it, and a component
/// that is a path (`/`, `..`) would reach some other cgroup.
fn is_unit_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= UNIT_NAME_MAX
        && !s.starts_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Issue 27 S1/S8: a prefix, name or slice that is a path reached an
    /// existing, unrelated cgroup (`victim/pre-x.scope`), which the clean-up
    /// of the failed create then removed. Each part must be a unit-name
    /// component (runc refuses such a prefix too).
    #[test]
    fn parts_that_are_not_unit_name_components_are_refused() {
        let long = "n".repeat(250);
        for bad in [
            "system.slice:../../victim/pre:x",
            "system.slice:..:x",
            "system.slice:p:..",
            "system.slice:p:.hidden",
            "system.slice:p:a b",
            "system.slice:p:\u{e9}t\u{e9}",
            "system.slice:p/q:x",
            "system.slice::../x",
            "../system.slice:p:x",
            "a..b.slice:p:x",
            "a-.slice:p:x",
            "kubepods.slice::a--b.slice",
            "kubepods.slice::../x.slice",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("system.slice:pre:{long}")])
        {
            let e = parse_path(Some(&bad), "x", false).unwrap_err();
            assert_eq!(
                e.pointer.as_deref(),
                Some("/linux/cgroupsPath"),
                "{bad}: {e}"
            );
        }
        // The id given as the default name is checked as well.
        assert!(parse_path(None, "../x", false).is_err());
        // What runc's users send still parses.
        for good in [
            "system.slice:docker:0123abc",
            "machine.slice:libpod:a_b-c.d",
            "kubepods-burstable-pod1_2.slice:cri-containerd:abc",
            "user.slice:podman:x\\x2d",
        ] {
            assert!(parse_path(Some(good), "x", false).is_ok(), "{good}");
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
}
