//! Spellings of the spec that the oci-spec crate does not accept, mended
//! before it parses: scheduler flags it names differently
//! (`SCHED_FLAG_RESET_ON_FORK`, `SCHED_FLAG_DL_OVERRUN`), and capability
//! names it does not know, which config.md says a runtime logs as a
//! warning instead of failing on.
//!
//! Only a document that failed to parse comes here, so the common path
//! keeps serde's messages with lines and columns.

use oci_spec::runtime::Capability;
use serde_json::Value;
use std::str::FromStr;

/// Mends `bytes` (a config.json or a process.json) and returns the new
/// document with the warnings to log, or None when there was nothing to mend.
pub fn mend(bytes: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    let mut warnings = Vec::new();
    let mut changed = false;
    if v.get("process").is_some_and(Value::is_object) {
        changed |= mend_process(&mut v["process"], &mut warnings);
    }
    // A process.json is a process at its root.
    if v.get("args").is_some() || v.get("capabilities").is_some() || v.get("scheduler").is_some() {
        changed |= mend_process(&mut v, &mut warnings);
    }
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok().map(|b| (b, warnings))
}

fn mend_process(p: &mut Value, warnings: &mut Vec<String>) -> bool {
    let mut changed = false;
    if let Some(flags) = p
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(Value::as_array_mut)
    {
        for f in flags.iter_mut() {
            // oci-spec's names for two of the spec's flags.
            let ours = match f.as_str() {
                Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
                Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
                _ => continue,
            };
            *f = ours.into();
            changed = true;
        }
    }
    if let Some(caps) = p.get_mut("capabilities").and_then(Value::as_object_mut) {
        for (set, list) in caps.iter_mut() {
            let Some(list) = list.as_array_mut() else {
                continue;
            };
            list.retain(|c| {
                let Some(name) = c.as_str() else {
                    return true;
                };
                if serde_json::from_value::<Capability>(c.clone()).is_ok()
                    || Capability::from_str(name).is_ok()
                {
                    return true;
                }
                warnings.push(format!(
                    "unknown capability {name:?} in the {set} set is not granted"
                ));
                changed = true;
                false
            });
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mends_flags_and_drops_unknown_caps() {
        let doc = serde_json::json!({"process": {
            "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]},
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_NO_SUCH_THING"]}
        }});
        let (out, warnings) = mend(doc.to_string().as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["process"]["scheduler"]["flags"],
            serde_json::json!(["SCHED_RESET_ON_FORK", "SCHED_FLAG_D_L_OVERRUN"])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            serde_json::json!(["CAP_CHOWN"])
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("CAP_NO_SUCH_THING"), "{warnings:?}");
        let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0},
            "scheduler": v["process"]["scheduler"].clone()}))
        .unwrap();
        assert_eq!(
            p.scheduler()
                .as_ref()
                .unwrap()
                .flags()
                .as_ref()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn nothing_to_mend() {
        assert!(mend(br#"{"process": {"args": ["sh"]}}"#).is_none());
        assert!(mend(b"not json").is_none());
    }
}
