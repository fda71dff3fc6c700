//! Mount options of config.json, split into what each kernel interface takes.
//!
//! runc's extensions that podman and docker send (`tmpcopyup`, `rro`, …) are
//! handled here and never reach mount(2) as data.

use crate::error::Result;
use crate::linux::sys::mount_attr as attr;
use nix::mount::MsFlags;

/// Parsed mount options.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    /// Flags for mount(2).
    pub flags: MsFlags,
    /// Every flag an option names, set or cleared (`nosuid` and `suid` alike).
    pub named: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (`rro`, `rnosuid`, …) for mount_setattr(2).
    pub rec_set: u64,
    pub rec_clr: u64,
    /// Filesystem-specific data (`mode=755`, `size=65536k`, …).
    pub data: Vec<String>,
    /// Copy the target's original contents into a new tmpfs.
    pub tmpcopyup: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true), recursive): the bind
    /// mount shows ids through a mapping (see idmap.rs).
    pub idmap: Option<bool>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            named: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
            data: Vec::new(),
            tmpcopyup: false,
            idmap: None,
        }
    }
}

/// The propagation flag of an option like `rslave`.
pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// (set?, flag) for plain mount(2) options.
fn flag(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "suid" => (false, F::MS_NOSUID),
        "nosuid" => (true, F::MS_NOSUID),
        "dev" => (false, F::MS_NODEV),
        "nodev" => (true, F::MS_NODEV),
        "exec" => (false, F::MS_NOEXEC),
        "noexec" => (true, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        _ => return None,
    })
}

/// (set?, attribute) for recursive mount_setattr options.
fn rec_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (true, attr::RDONLY),
        "rrw" => (false, attr::RDONLY),
        "rnosuid" => (true, attr::NOSUID),
        "rsuid" => (false, attr::NOSUID),
        "rnodev" => (true, attr::NODEV),
        "rdev" => (false, attr::NODEV),
        "rnoexec" => (true, attr::NOEXEC),
        "rexec" => (false, attr::NOEXEC),
        "rnodiratime" => (true, attr::NODIRATIME),
        "rdiratime" => (false, attr::NODIRATIME),
        "rrelatime" => (true, attr::RELATIME),
        "rnorelatime" => (false, attr::RELATIME),
        "rnoatime" => (true, attr::NOATIME),
        "ratime" => (false, attr::NOATIME),
        "rstrictatime" => (true, attr::STRICTATIME),
        "rnostrictatime" => (false, attr::STRICTATIME),
        "rnosymfollow" => (true, attr::NOSYMFOLLOW),
        "rsymfollow" => (false, attr::NOSYMFOLLOW),
        _ => return None,
    })
}

/// Whether `opt` is a recursive attribute (`rro`, `rnosuid`, …), which
/// only mount_setattr(2) applies.
pub fn is_recursive_attr(opt: &str) -> bool {
    rec_attr(opt).is_some()
}

impl MountOptions {
    pub fn parse(opts: &[String]) -> Result<MountOptions> {
        let mut o = MountOptions::default();
        for opt in opts {
            let opt = opt.as_str();
            if let Some((set, f)) = flag(opt) {
                o.named |= f;
                if set {
                    o.flags |= f;
                } else {
                    o.flags &= !f;
                }
            } else if let Some(p) = propagation_flag(opt) {
                o.propagation.push(p);
            } else if let Some((set, a)) = rec_attr(opt) {
                // The atime modes share one field: choosing one clears the others.
                let is_atime_mode = matches!(opt, "rnoatime" | "rstrictatime" | "rrelatime");
                if set {
                    o.rec_set |= a;
                    o.rec_clr |= if is_atime_mode { attr::ATIME_MASK } else { a };
                } else {
                    o.rec_clr |= a;
                    o.rec_set &= !a;
                }
            } else if opt == "tmpcopyup" {
                o.tmpcopyup = true;
            } else if opt == "idmap" {
                o.idmap = Some(o.idmap.unwrap_or(false));
            } else if opt == "ridmap" {
                o.idmap = Some(true);
            } else {
                o.data.push(opt.to_owned());
            }
        }
        Ok(o)
    }

    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that a bind mount needs a second, remount call to apply.
    /// Whether anything is applied to the mount after it is made
    /// (propagation, recursive attributes).
    pub fn needs_mounted_fd(&self) -> bool {
        !self.propagation.is_empty() || self.rec_set != 0 || self.rec_clr != 0
    }

    pub fn remount_flags(&self) -> MsFlags {
        self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }

    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

/// Every mount option name tong understands, for `tong features`.
pub const KNOWN: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn splits_flags_data_and_propagation() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw", "nodev", "dev"]);
        assert_eq!(o.flags, MsFlags::empty());
    }

    #[test]
    fn bind_and_remount() {
        let o = p(&["rbind", "ro", "nosuid"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.remount_flags(), MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
    }

    #[test]
    fn runc_extensions_never_reach_data() {
        let o = p(&["rro", "tmpcopyup", "rnoexec"]);
        assert!(o.data.is_empty());
        assert!(o.tmpcopyup);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOEXEC);
        assert_eq!(p(&["rbind", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(true));
        assert!(p(&["idmap"]).data.is_empty());
    }

    #[test]
    fn every_known_option_is_handled_not_passed_as_data() {
        for o in KNOWN {
            let p = MountOptions::parse(&[o.to_string()]).unwrap();
            assert!(p.data.is_empty(), "{o} would reach mount(2) as data");
        }
    }
}
