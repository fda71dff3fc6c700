//! The host's mounts as the container's new mount namespace holds them,
//! read from /proc/self/mountinfo: the one that holds the rootfs is made
//! private when shared.

use crate::error::{Context, Result};
use nix::mount::{mount, MsFlags};
use std::path::{Path, PathBuf};

const NONE: Option<&str> = None;

/// Makes the mount that holds `rootfs` private, when it is shared.
pub(super) fn parent_mount_private(rootfs: &Path) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).ctx(format!("resolve rootfs {}", rootfs.display()))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx("read /proc/self/mountinfo")?;
    let Some((target, shared)) = holding_mount(&info, &rootfs) else {
        return Ok(());
    };
    if !shared {
        return Ok(());
    }
    mount(NONE, target.as_path(), NONE, MsFlags::MS_PRIVATE, NONE)
        .ctx(format!("make {} private", target.display()))
}

/// The mount point that holds `path` (the deepest, the topmost of a stack)
/// and whether it is shared, from mountinfo's text.
pub fn holding_mount(info: &str, path: &Path) -> Option<(PathBuf, bool)> {
    let mut best: Option<(PathBuf, bool)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(target) = fields.get(4).map(|t| unescape_mountinfo(t)) else {
            continue;
        };
        let target = PathBuf::from(target);
        if !path.starts_with(&target) {
            continue;
        }
        let shared = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .any(|f| f.starts_with("shared:"));
        let deeper = best
            .as_ref()
            .is_none_or(|(b, _)| target.components().count() >= b.components().count());
        if deeper {
            best = Some((target, shared));
        }
    }
    best
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
            .and_then(|n| u8::try_from(n).ok());
        match oct {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:5 / /var/lib/a\\040b rw - tmpfs tmpfs rw
41 27 0:6 / /var/lib rw shared:7 - tmpfs tmpfs rw
42 41 0:7 / /var/lib rw - tmpfs tmpfs rw
";

    #[test]
    fn the_deepest_topmost_mount_holds_a_path() {
        assert_eq!(
            holding_mount(INFO, Path::new("/srv/rootfs")),
            Some((PathBuf::from("/"), true))
        );
        assert_eq!(
            holding_mount(INFO, Path::new("/var/lib/x/rootfs")),
            Some((PathBuf::from("/var/lib"), false))
        );
        assert_eq!(
            holding_mount(INFO, Path::new("/var/lib/a b/rootfs")),
            Some((PathBuf::from("/var/lib/a b"), false))
        );
        assert_eq!(unescape_mountinfo("a\\134b\\777"), "a\\b\\777");
    }
}
