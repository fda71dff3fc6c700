//! `--probe`'s one real container round trip.

use super::*;
use crate::linux::cgroups;

/// `--probe`: one real container, created, started and deleted with the
/// `tong` binary at `tong`, in a private temporary state root and bundle
/// that are removed afterwards; the container's cgroup must be gone too.
pub fn round_trip(tong: &Path, rootless: bool, systemd: bool) -> Check {
    let id = format!("tong-check-{}", std::process::id());
    let dir = std::env::temp_dir().join(&id);
    let result = trip(tong, &dir, &id, rootless, systemd);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(cg) => Check::present(
            "round-trip",
            format!("created, started and deleted container {id}{cg}"),
        ),
        Err(e) => Check::short(
            "round-trip",
            Status::Missing,
            e,
            "tong could not run a container here",
            "run it again with --debug --log FILE on a `tong run` of your own",
        )
        .required(),
    }
}

fn trip(
    tong: &Path,
    dir: &Path,
    id: &str,
    rootless: bool,
    systemd: bool,
) -> Result<String, String> {
    let state = dir.join("state");
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| format!("mkdir {}: {e}", rootfs.display()))?;
    let mut globals: Vec<String> = vec!["--root".into(), state.display().to_string()];
    globals.push(format!("--rootless={rootless}"));
    if systemd {
        globals.push("--systemd-cgroup".into());
    }
    let run = |args: &[&str]| -> Result<(), String> {
        let log = dir.join("out");
        let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let e = f.try_clone().map_err(|e| e.to_string())?;
        let status = Command::new(tong)
            .args(&globals)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(e)
            .status()
            .map_err(|e| format!("{}: {e}", tong.display()))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!(
            "tong {}: {} ({status})",
            args.first().copied().unwrap_or(""),
            text.trim().replace('\n', " ")
        ))
    };
    run(&["spec", "--bundle", &bundle.display().to_string()])?;
    let cfg = bundle.join("config.json");
    let text = std::fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let mut c: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = serde_json::json!(["true"]);
    c["root"] = serde_json::json!({"path": "rootfs", "readonly": true});
    // The host's programs, read-only: `true` and its libraries.
    if let Some(mounts) = c["mounts"].as_array_mut() {
        for d in ["/bin", "/sbin", "/lib", "/lib64", "/usr"] {
            if Path::new(d).is_dir() {
                mounts.push(
                    serde_json::json!({"destination": d, "type": "bind", "source": d,
                    "options": ["rbind", "ro", "nosuid", "nodev"]}),
                );
                let _ = std::fs::create_dir_all(rootfs.join(&d[1..]));
            }
        }
    }
    let cg_path = if rootless {
        None
    } else if systemd {
        Some(format!("system.slice:tong-check:{id}"))
    } else {
        Some(format!("/{id}"))
    };
    if let Some(p) = &cg_path {
        c["linux"]["cgroupsPath"] = p.clone().into();
    }
    let text = serde_json::to_vec_pretty(&c).map_err(|e| e.to_string())?;
    std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let b = bundle.display().to_string();
    let steps = run(&["create", "--bundle", &b, id])
        .and_then(|()| run(&["start", id]))
        .and_then(|()| run(&["delete", "--force", id]));
    if steps.is_err() {
        let _ = run(&["delete", "--force", id]);
    }
    steps?;
    if run(&["state", id]).is_ok() {
        return Err(format!("{id} is still known after delete"));
    }
    // Nothing of the container's cgroup may stay.
    let cg = Cgroups::read();
    let left: Vec<PathBuf> = match (&cg_path, systemd) {
        (Some(p), false) => cg
            .mounts
            .iter()
            .map(|m| m.point.join(p.trim_start_matches('/')))
            .filter(|d| d.exists())
            .collect(),
        (Some(p), true) => {
            let unit = cgroups::systemd::parse_path(Some(p), id, false)
                .and_then(|u| cgroups::systemd::cgroup_path(&u))
                .map_err(|e| e.to_string())?;
            cg.v2()
                .map(|m| m.point.join(unit.trim_start_matches('/')))
                .filter(|d| d.exists())
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    };
    if let Some(d) = left.first() {
        return Err(format!("cgroup {} left behind after delete", d.display()));
    }
    Ok(match cg_path {
        Some(p) => format!(" (cgroup {p}, gone after delete)"),
        None => String::new(),
    })
}
