//! Differences from runc found by hack/cri-e2e.sh (kubelet's path: the CRI
//! plugin of containerd, the runc v2 shim, then the runtime), each pinned
//! here with real containers.

mod common;
use common::*;
use std::process::Command;

/// `tong exec` started with the caller's oom_score_adj raised to 7, as the
/// shim's is (containerd's + 1): output of `cat /proc/self/oom_score_adj`.
fn exec_oom_score_adj(b: &Bundle, process: Option<&str>) -> String {
    let mut args = vec![
        "--root".to_string(),
        b.root.display().to_string(),
        "exec".into(),
    ];
    if let Some(p) = process {
        args.extend(["--process".into(), p.to_string()]);
    }
    args.push(b.id.clone());
    if process.is_none() {
        args.extend(["cat".into(), "/proc/self/oom_score_adj".into()]);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo 7 > /proc/self/oom_score_adj && exec \"$@\"")
        .arg("sh")
        .arg(TONG)
        .args(&args)
        .current_dir(&b.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// kubelet gives each container the oom_score_adj of its QoS class
/// (BestEffort 1000, Guaranteed -997); ExecSync (probes, `kubectl exec`)
/// runs through the shim's `exec --process`. As with runc, every exec'd
/// process gets the container's `process.oomScoreAdj`, not the shim's own
/// score, whatever the exec's process.json says.
#[test]
fn exec_gets_the_containers_oom_score_adj() {
    let b = Bundle::new("execoom", "sleep 1000");
    b.edit(|c| c["process"]["oomScoreAdj"] = 123.into());
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(exec_oom_score_adj(&b, None), "123", "exec with flags");
    let mut p = b.config()["process"].clone();
    p["args"] = serde_json::json!(["cat", "/proc/self/oom_score_adj"]);
    p.as_object_mut().unwrap().remove("oomScoreAdj");
    let none = b.dir.join("p-none.json");
    std::fs::write(&none, p.to_string()).unwrap();
    assert_eq!(
        exec_oom_score_adj(&b, Some(none.to_str().unwrap())),
        "123",
        "process.json without oomScoreAdj"
    );
    p["oomScoreAdj"] = 200.into();
    let other = b.dir.join("p-200.json");
    std::fs::write(&other, p.to_string()).unwrap();
    assert_eq!(
        exec_oom_score_adj(&b, Some(other.to_str().unwrap())),
        "123",
        "process.json with another oomScoreAdj"
    );
}

/// A container without `process.oomScoreAdj` leaves exec'd processes with
/// the caller's score (nothing is written), as runc.
#[test]
fn exec_without_oom_score_adj_keeps_the_callers() {
    let b = Bundle::new("execoom0", "sleep 1000");
    b.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("oomScoreAdj");
    });
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(exec_oom_score_adj(&b, None), "7");
}
