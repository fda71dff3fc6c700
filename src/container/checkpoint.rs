//! `checkpoint` and `restore`: the container's process tree dumped to and
//! restored from image files by CRIU (`criu swrk`, see linux::criu).
//! tong tells criu what it cannot see itself: the bind mounts and masked
//! files (external mounts), namespaces joined by path, the container's
//! cgroup, the engine's stdio pipes and the console.

use super::status::{status_of, Op};
use super::{cgroup_of, Ctx};
use crate::error::{Context, Error, Result};
use crate::linux::criu::{self, Notify, Opts, ReqType, Swrk};
use crate::linux::ownfiles;
use crate::logging;
use crate::state::{Dir, Saved};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// criu 3.0 is the first with everything tong asks of it over RPC.
const MIN_CRIU: u32 = 30000;
pub(super) const DESCRIPTORS: &str = "descriptors.json";

/// The criu flags `checkpoint` and `restore` share.
#[derive(Default, Debug, Clone)]
pub struct CriuFlags {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub lazy_pages: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
}

#[derive(Default, Debug, Clone)]
pub struct CheckpointOpts {
    pub id: String,
    pub criu: CriuFlags,
    pub parent_path: Option<String>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
}

/// runc's default image directory: `checkpoint` in the working directory.
pub(super) fn image_dir(f: &CriuFlags) -> Result<PathBuf> {
    match &f.image_path {
        Some(p) => Ok(p.clone()),
        None => Ok(std::env::current_dir()
            .ctx("current directory")?
            .join("checkpoint")),
    }
}

pub(super) fn open_dir(p: &Path) -> Result<OwnedFd> {
    open(
        p,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(format!("open {}", p.display()))
}

/// `--empty-ns` names: runc takes `network`.
fn empty_ns_mask(names: &[String]) -> Result<u32> {
    let mut m = 0u32;
    for n in names {
        m |= match n.as_str() {
            "network" | "net" => libc::CLONE_NEWNET as u32,
            other => {
                return Err(Error::new(format!(
                    "invalid --empty-ns {other:?}: only network is supported"
                )))
            }
        };
    }
    Ok(m)
}

/// Flags checked before anything is made.
pub(super) fn validate_flags(f: &CriuFlags) -> Result<()> {
    if let Some(m) = &f.manage_cgroups_mode {
        criu::cg_mode(m)?;
    }
    empty_ns_mask(&f.empty_ns).map(|_| ())
}

fn page_server(ps: &str) -> Result<(String, i32)> {
    ps.rsplit_once(':')
        .and_then(|(a, p)| Some((a.to_owned(), p.parse::<i32>().ok()?)))
        .ok_or_else(|| Error::new(format!("invalid --page-server {ps:?}: want ADDRESS:PORT")))
}

/// The criu version (see `criu::version`), refused below 3.0.
pub(super) fn check_criu(criu: &str) -> Result<u32> {
    let v = criu::version(criu)?;
    if v < MIN_CRIU {
        return Err(Error::new(format!(
            "criu {}.{}.{} is too old: checkpoint/restore needs criu 3.0 or newer",
            v / 10000,
            v / 100 % 100,
            v % 100
        )));
    }
    Ok(v)
}

/// criu 3.15 and newer report a ready lazy page server with the
/// `status-ready` notification; older ones write to a status fd of theirs.
const CRIU_STATUS_READY: u32 = 31500;

/// Checkpoint flag combinations tong (or criu) cannot do, each refused
/// naming its flag before anything is made. As runc, `--status-fd` is the
/// lazy page server's: runc ignores it without `--lazy-pages`; tong says so.
fn validate_checkpoint(o: &CheckpointOpts) -> Result<()> {
    validate_flags(&o.criu)?;
    if let Some(ps) = &o.page_server {
        page_server(ps)?;
    }
    if o.criu.lazy_pages {
        if o.pre_dump {
            return Err(Error::new(
                "--lazy-pages cannot be combined with --pre-dump: a pre-dump copies memory only",
            ));
        }
        if o.leave_running {
            return Err(Error::new(
                "--lazy-pages cannot be combined with --leave-running: the pages are served from the stopped container",
            ));
        }
        if o.page_server.is_none() {
            return Err(Error::new(
                "--lazy-pages needs --page-server ADDRESS:PORT: the address criu serves the pages on for the restoring side's `criu lazy-pages`",
            ));
        }
    }
    if let Some(n) = o.status_fd {
        if !o.criu.lazy_pages {
            return Err(Error::new(format!(
                "--status-fd {n} is only used with --lazy-pages (criu writes to it when the lazy page server is ready)"
            )));
        }
        if n < 0 || !crate::linux::sys::fd_is_open(n) {
            return Err(Error::new(format!(
                "invalid --status-fd {n}: not an open file descriptor"
            )));
        }
    }
    Ok(())
}

/// The options both operations set from the shared flags.
pub(super) fn base_opts(
    f: &CriuFlags,
    images: BorrowedFd,
    work: Option<BorrowedFd>,
    log: &str,
) -> Result<Opts> {
    Ok(Opts {
        images_dir_fd: images.as_raw_fd(),
        work_dir_fd: work.map(|w| w.as_raw_fd()),
        log_file: log.into(),
        tcp_established: f.tcp_established,
        ext_unix_sk: f.ext_unix_sk,
        shell_job: f.shell_job,
        file_locks: f.file_locks,
        lazy_pages: f.lazy_pages,
        auto_dedup: f.auto_dedup,
        manage_cgroups_mode: f
            .manage_cgroups_mode
            .as_deref()
            .map(criu::cg_mode)
            .transpose()?,
        empty_ns: empty_ns_mask(&f.empty_ns)?,
        ..Default::default()
    })
}

/// A mount destination as criu sees it: absolute, cleaned lexically.
pub(super) fn clean_dest(d: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in d.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The config's bind mounts: (destination, source).
pub(super) fn bind_mounts(config: &Spec) -> Vec<(String, String)> {
    config
        .mounts()
        .iter()
        .flatten()
        .filter(|m| {
            m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
        })
        .filter_map(|m| {
            Some((
                clean_dest(m.destination().to_str()?),
                m.source().as_ref()?.to_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Namespaces the config joins by path: (runtime-spec type, path).
pub(super) fn joined_namespaces(config: &Spec) -> Vec<(String, String)> {
    crate::spec::namespaces(config)
        .into_iter()
        .filter_map(|(_, t, path)| Some((spec_ns_type(t).to_owned(), path?.to_str()?.to_owned())))
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

/// A namespace type as config.json spells it.
fn spec_ns_type(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The config's masked paths, when it has the list (even empty).
pub(super) fn masked_paths(config: &Spec) -> Option<&[String]> {
    config.linux().as_ref()?.masked_paths().as_deref()
}

/// criu's names for namespaces, and the key runc's images use for an
/// external one (`extRootNetNS`).
pub(super) fn criu_ns(t: &str) -> Option<(&'static str, &'static str)> {
    Some(match t {
        "network" => ("net", "extRootNetNS"),
        "pid" => ("pid", "extRootPidNS"),
        "ipc" => ("ipc", ""),
        "uts" => ("uts", ""),
        "mount" => ("mnt", ""),
        "user" => ("user", ""),
        "time" => ("time", ""),
        _ => return None,
    })
}

/// What criu's failure means, in its own words (the log's error lines).
pub(super) fn criu_failure(what: &str, resp: &criu::Resp, log: &Path) -> Error {
    let mut msg = format!("{what} failed");
    if let Some(m) = &resp.cr_errmsg {
        msg.push_str(&format!(": {m}"));
    } else if let Some(e) = resp.cr_errno.filter(|e| *e != 0) {
        msg.push_str(&format!(
            ": {}",
            crate::error::errno_text(nix::errno::Errno::from_raw(e))
        ));
    }
    match criu::log_reason(log) {
        Some(r) => msg.push_str(&format!(": criu: {r}")),
        None => msg.push_str(&format!(" (see {})", log.display())),
    }
    Error::new(msg)
}

/// Directories `checkpoint` made, removed again if it fails.
struct Made(Vec<PathBuf>);

impl Made {
    fn mkdir(&mut self, p: &Path) -> Result<()> {
        if p.is_dir() {
            return Ok(());
        }
        let mut missing = vec![];
        let mut q = Some(p);
        while let Some(d) = q {
            if d.as_os_str().is_empty() || d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            q = d.parent();
        }
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .ctx(format!("create {}", p.display()))?;
        self.0.extend(missing);
        Ok(())
    }

    fn undo(self) {
        // Innermost first: each was made by us, with what criu put in it.
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `checkpoint`: dumps a running container's processes to the image
/// directory; unless `--leave-running` or `--pre-dump`, the container is
/// then gone (criu killed it and tong deletes it, as runc does).
pub fn checkpoint(ctx: &Ctx, criu_bin: &str, o: &CheckpointOpts) -> Result<()> {
    let t = Instant::now();
    let dir = Dir::open(&ctx.root, &o.id)?;
    let s = dir.load()?;
    status_of(&dir.path, &s).0.check(Op::Checkpoint, &o.id)?;
    validate_checkpoint(o)?;
    if o.pre_dump && o.leave_running {
        logging::warn("--leave-running is implied by --pre-dump");
    }
    // The status fd is the caller's, given to tong to write one byte to
    // and close, as runc does.
    let status = match o.status_fd {
        Some(n) => {
            let (fd, flags) = crate::linux::sys::adopt_fd(n)
                .map_err(|e| Error::new(format!("invalid --status-fd {n}: {e}")))?;
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                return Err(Error::new(format!(
                    "invalid --status-fd {n}: not open for writing"
                )));
            }
            Some(fd)
        }
        None => None,
    };
    let images = image_dir(&o.criu)?;
    check_parent(&images, o.parent_path.as_deref())?;
    let mut made = Made(vec![]);
    let r = dump(ctx, criu_bin, o, &s, status, &images, &mut made);
    if let Err(e) = r {
        made.undo();
        return Err(e);
    }
    logging::stage("checkpoint", t);
    if !o.leave_running && !o.pre_dump {
        let t = Instant::now();
        drop(dir);
        super::delete::delete(ctx, &o.id, true)?;
        logging::stage("delete after checkpoint", t);
    }
    Ok(())
}

/// `--parent-path`: an earlier pre-dump's directory, relative to the image
/// directory (criu opens it from there), checked before anything is dumped
/// so a bad one leaves the container as it was.
fn check_parent(images: &Path, parent: Option<&str>) -> Result<()> {
    let Some(p) = parent else {
        return Ok(());
    };
    if Path::new(p).is_absolute() {
        return Err(Error::new(format!(
            "invalid --parent-path {p}: it must be relative to the image path"
        )));
    }
    // criu opens it from the image directory, which may not exist yet: a
    // leading `..` of a directory still to be made is taken lexically.
    let mut full = images.to_path_buf();
    for c in Path::new(p).components() {
        match c {
            std::path::Component::ParentDir if !full.exists() => {
                full.pop();
            }
            c => full.push(c),
        }
    }
    match std::fs::metadata(&full) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::new(format!(
            "invalid --parent-path {p}: {} is not a directory",
            full.display()
        ))),
        Err(e) => Err(Error::from(e).context(format!(
            "invalid --parent-path {p}: parent image {}",
            full.display()
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn dump(
    ctx: &Ctx,
    criu_bin: &str,
    o: &CheckpointOpts,
    s: &Saved,
    mut status: Option<OwnedFd>,
    images: &Path,
    made: &mut Made,
) -> Result<()> {
    made.mkdir(images)?;
    let images_fd = ownfiles::open_private_dir(images, "image directory")?;
    let work = match &o.criu.work_path {
        Some(w) => {
            made.mkdir(w)?;
            Some(ownfiles::open_private_dir(w, "work directory")?)
        }
        None => None,
    };
    // After the directories: their errors do not depend on criu.
    let tv = Instant::now();
    let version = check_criu(criu_bin)?;
    logging::stage("criu version", tv);
    let log = o
        .criu
        .work_path
        .as_deref()
        .unwrap_or(images)
        .join(if o.pre_dump {
            "pre-dump.log"
        } else {
            "dump.log"
        });
    let mut opts = base_opts(
        &o.criu,
        images_fd.as_fd(),
        work.as_ref().map(|w| w.as_fd()),
        &log.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )?;
    opts.pid = Some(s.pid);
    opts.root = Some(s.rootfs.to_string_lossy().into_owned());
    opts.leave_running = o.leave_running || o.pre_dump;
    // runc always offers the pty master as external: a terminal container's
    // master is the engine's.
    opts.orphan_pts_master = true;
    if let Some(p) = &o.parent_path {
        opts.parent_img = Some(p.clone());
        opts.track_mem = true;
    }
    if o.pre_dump {
        opts.track_mem = true;
    }
    if let Some(ps) = &o.page_server {
        let (addr, port) = ps
            .rsplit_once(':')
            .and_then(|(a, p)| Some((a.to_owned(), p.parse::<i32>().ok()?)))
            .ok_or_else(|| {
                Error::new(format!("invalid --page-server {ps:?}: want ADDRESS:PORT"))
            })?;
        opts.page_server = Some((addr, port));
    }
    // A newer criu notifies `status-ready` (tong writes the byte), an
    // older one writes to the fd itself.
    let criu_writes_status = version < CRIU_STATUS_READY;
    if criu_writes_status {
        opts.status_fd = status.as_ref().map(|f| f.as_raw_fd());
    }
    opts.freeze_cgroup = cgroup_of(ctx, s)
        .criu_freezer()
        .map(|d| d.to_string_lossy().into_owned());
    for (dest, _) in bind_mounts(&s.config) {
        opts.ext_mnt.push((dest.clone(), dest));
    }
    // Masked files are binds of the host's /dev/null: one external id.
    if let Some(masked) = masked_paths(&s.config) {
        for p in masked {
            let in_ct = format!("/proc/{}/root{}", s.pid, clean_dest(p));
            if std::fs::metadata(&in_ct).is_ok_and(|m| !m.is_dir()) {
                opts.ext_mnt.push((clean_dest(p), "/dev/null".into()));
            }
        }
    }
    for (t, path) in joined_namespaces(&s.config) {
        if let Some((name, key)) = criu_ns(&t) {
            if key.is_empty() {
                continue;
            }
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(&path)
                .ctx(format!("stat {t} namespace {path}"))?
                .ino();
            opts.external.push(format!("{name}[{ino}]:{key}"));
        }
    }
    // The engine's stdio of the init: restore hands it new pipes for these.
    let fds: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{}/fd/{i}", s.pid))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    ownfiles::write_at(
        images_fd.as_fd(),
        DESCRIPTORS,
        &serde_json::to_vec(&fds).map_err(|e| Error::new(e.to_string()))?,
    )
    .map_err(|e| e.context(format!("in {}", images.display())))?;

    let mut pass: Vec<BorrowedFd> = vec![images_fd.as_fd()];
    pass.extend(work.as_ref().map(|w| w.as_fd()));
    let criu_status = if criu_writes_status {
        status.take()
    } else {
        None
    };
    pass.extend(criu_status.as_ref().map(|f| f.as_fd()));
    let t = if o.pre_dump {
        ReqType::PreDump
    } else {
        ReqType::Dump
    };
    let tc = Instant::now();
    let mut on_notify = |n: Notify| -> Result<()> {
        if n.script == "status-ready" {
            if let Some(fd) = status.take() {
                // Written, then closed: the reader sees the byte, then EOF.
                nix::unistd::write(&fd, &[0u8]).ctx("write to --status-fd")?;
            }
        }
        Ok(())
    };
    let resp = Swrk::start(criu_bin, &pass)?.call(t, Some(&opts), &mut on_notify)?;
    logging::stage("criu dump", tc);
    if !resp.success {
        let e = criu_failure(
            if o.pre_dump { "pre-dump" } else { "checkpoint" },
            &resp,
            &log,
        );
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What criu is told about the config: bind mounts by type or option,
    /// cleaned destinations, namespaces joined by a non-empty path under
    /// their config.json names, the masked paths.
    #[test]
    fn reads_the_typed_config() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc//hosts", "type": "bind", "source": "/h/hosts"},
                {"destination": "/data/../vol", "source": "/h/vol", "options": ["rbind", "ro"]},
                {"destination": "/b", "source": "/h/b", "options": ["bind"]},
                {"destination": "/nosrc", "type": "bind"},
                {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
            ],
            "linux": {
                "namespaces": [
                    {"type": "network", "path": "/run/netns/x"},
                    {"type": "mount"},
                    {"type": "ipc", "path": ""},
                    {"type": "user", "path": "/proc/9/ns/user"}
                ],
                "maskedPaths": ["/proc/kcore"]
            }
        }))
        .unwrap();
        assert_eq!(
            bind_mounts(&spec),
            vec![
                ("/etc/hosts".to_string(), "/h/hosts".to_string()),
                ("/vol".into(), "/h/vol".into()),
                ("/b".into(), "/h/b".into()),
            ]
        );
        assert_eq!(
            joined_namespaces(&spec),
            vec![
                ("network".to_string(), "/run/netns/x".to_string()),
                ("user".into(), "/proc/9/ns/user".into()),
            ]
        );
        assert_eq!(masked_paths(&spec), Some(&["/proc/kcore".to_string()][..]));
        let none: Spec =
            serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2"})).unwrap();
        assert!(bind_mounts(&none).is_empty());
        assert!(joined_namespaces(&none).is_empty());
        assert_eq!(masked_paths(&none), None);
    }
}
