//! What this host gives a runtime, from `tong check --format json`: the one
//! report every test suite of the repository takes its host skips from, so
//! a case's `SKIP name: reason` carries the sentence a user reads in
//! `tong check`. Reasons that are not the host's (a case runc, the oracle,
//! cannot pass: "no oracle: …") are the cases' own.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

pub struct Host {
    report: Value,
}

impl Host {
    /// Runs `<tong> check --format json` (its exit status only says whether
    /// tong can run containers here: the report is printed either way).
    pub fn read(tong: &Path) -> Result<Host, String> {
        let out = Command::new(tong)
            .args(["check", "--format", "json"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", tong.display()))?;
        let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "`{} check --format json` gave no report ({e}): {}",
                tong.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        if !report["checks"].is_array() {
            return Err(format!(
                "`{} check --format json` has no checks",
                tong.display()
            ));
        }
        Ok(Host { report })
    }

    /// A report without checks, for `--list` (which skips nothing).
    pub fn none() -> Host {
        Host {
            report: serde_json::json!({"checks": []}),
        }
    }

    fn entry(&self, id: &str) -> Option<&Value> {
        let checks = self.report["checks"].as_array()?;
        if checks.is_empty() {
            return None; // Host::none
        }
        Some(
            checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| {
                panic!("tong check does not report {id:?}: add it to linux::host")
            }),
        )
    }

    /// `tong check`'s sentence for `id` when this host lacks it (missing or
    /// limited): the reason to skip a case that needs it.
    pub fn lacks(&self, id: &str) -> Option<String> {
        let c = self.entry(id)?;
        (c["status"] != "present").then(|| self.sentence(id))
    }

    /// For a case that needs the host *without* `id`: what it needs, then
    /// `tong check`'s sentence, when `id` is present.
    pub fn has(&self, id: &str, need: &str) -> Option<String> {
        let c = self.entry(id)?;
        (c["status"] == "present").then(|| self.needs(need, id))
    }

    /// A skip reason for a case this host's layout does not fit: what the
    /// case needs, then the sentence of `tong check` that shows the layout.
    pub fn needs(&self, need: &str, id: &str) -> String {
        format!("{need}; tong check: {}", self.sentence(id))
    }

    pub fn sentence(&self, id: &str) -> String {
        self.entry(id)
            .and_then(|c| c["sentence"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// A fact of `id` (`mode` of `cgroups`, `version` of a controller).
    pub fn fact(&self, id: &str, key: &str) -> Option<String> {
        self.entry(id)?["facts"][key].as_str().map(String::from)
    }

    /// cgroup v2 alone (`tong check`'s cgroups mode).
    pub fn v2(&self) -> bool {
        self.fact("cgroups", "mode").as_deref() == Some("v2")
    }
}
