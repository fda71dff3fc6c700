//! Container statistics in runc's `events` format, read from v1 or v2 files.

use super::apply::split;
use super::fs::check_dirs;
use super::hierarchies;
use crate::error::Result;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A limit file where "max" (or v1's huge number) means unlimited, reported as 0 like runc.
fn limit(dir: &Path, file: &str) -> u64 {
    match read(dir, file).map(|s| s.trim().to_owned()) {
        Some(s) if s == "max" => 0,
        Some(s) => s.parse().unwrap_or(0),
        None => 0,
    }
}

/// `key value` lines into a map.
fn kv(dir: &Path, file: &str) -> Map<String, Value> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v: u64 = it.next()?.parse().ok()?;
            Some((k.to_owned(), Value::from(v)))
        })
        .collect()
}

fn list(dir: &Path, file: &str) -> Vec<u64> {
    read(dir, file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// v1 blkio files: `maj:min Op value` lines.
fn blkio_entries(dir: &Path, file: &str) -> Vec<Value> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (ma, mi) = f.first()?.split_once(':')?;
            Some(json!({"major": ma.parse::<u64>().ok()?, "minor": mi.parse::<u64>().ok()?, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()?}))
        })
        .collect()
}

fn mem_entry(dir: &Path, prefix: &str) -> Value {
    json!({
        "limit": limit(dir, &format!("{prefix}.limit_in_bytes")),
        "usage": num(dir, &format!("{prefix}.usage_in_bytes")),
        "max": num(dir, &format!("{prefix}.max_usage_in_bytes")),
        "failcnt": num(dir, &format!("{prefix}.failcnt")),
    })
}

fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("hugetlb.")?
                        .strip_suffix(suffix)
                        .map(str::to_owned)
                })
                .filter(|s| !s.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes
}

/// Stats from v1 controller directories (`dir_of(controller)`).
pub fn v1(dir_of: &dyn Fn(&str) -> Option<std::path::PathBuf>) -> Value {
    let mut data = json!({});
    if let Some(d) = dir_of("cpuacct") {
        let stat = kv(&d, "cpuacct.stat");
        // USER_HZ ticks to nanoseconds.
        let ticks = |k: &str| stat.get(k).and_then(|v| v.as_u64()).unwrap_or(0) * 10_000_000;
        data["cpu"]["usage"] = json!({
            "total": num(&d, "cpuacct.usage"),
            "percpu": list(&d, "cpuacct.usage_percpu"),
            "percpu_kernel": list(&d, "cpuacct.usage_percpu_sys"),
            "percpu_user": list(&d, "cpuacct.usage_percpu_user"),
            "kernel": ticks("system"),
            "user": ticks("user"),
        });
    }
    if let Some(d) = dir_of("cpu") {
        let s = kv(&d, "cpu.stat");
        let g = |k: &str| s.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        data["cpu"]["throttling"] = json!({"periods": g("nr_periods"), "throttled_periods": g("nr_throttled"), "throttled_time": g("throttled_time")});
    }
    if let Some(d) = dir_of("memory") {
        let raw = kv(&d, "memory.stat");
        data["memory"] = json!({
            "cache": raw.get("total_cache").or(raw.get("cache")).cloned().unwrap_or(Value::from(0)),
            "usage": mem_entry(&d, "memory"),
            "swap": mem_entry(&d, "memory.memsw"),
            "kernel": mem_entry(&d, "memory.kmem"),
            "kernelTCP": mem_entry(&d, "memory.kmem.tcp"),
            "raw": raw,
        });
    }
    if let Some(d) = dir_of("pids") {
        data["pids"] = json!({"current": num(&d, "pids.current"), "limit": limit(&d, "pids.max")});
    }
    if let Some(d) = dir_of("blkio") {
        data["blkio"] = json!({
            "ioServiceBytesRecursive": blkio_entries(&d, "blkio.throttle.io_service_bytes_recursive"),
            "ioServicedRecursive": blkio_entries(&d, "blkio.throttle.io_serviced_recursive"),
        });
    }
    if let Some(d) = dir_of("hugetlb") {
        let mut h = Map::new();
        for size in hugetlb_sizes(&d, ".usage_in_bytes") {
            h.insert(
                size.clone(),
                json!({
                    "usage": num(&d, &format!("hugetlb.{size}.usage_in_bytes")),
                    "max": num(&d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                    "failcnt": num(&d, &format!("hugetlb.{size}.failcnt")),
                }),
            );
        }
        data["hugetlb"] = Value::Object(h);
    }
    data
}

/// Stats from a v2 directory.
pub fn v2(d: &Path) -> Value {
    let mut data = json!({});
    let cpu = kv(d, "cpu.stat");
    if !cpu.is_empty() {
        let g = |k: &str| cpu.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        data["cpu"] = json!({
            "usage": {"total": g("usage_usec") * 1000, "kernel": g("system_usec") * 1000, "user": g("user_usec") * 1000},
            "throttling": {"periods": g("nr_periods"), "throttled_periods": g("nr_throttled"), "throttled_time": g("throttled_usec") * 1000},
        });
    }
    if d.join("memory.current").exists() {
        let raw = kv(d, "memory.stat");
        let events = kv(d, "memory.events");
        let swap_events = kv(d, "memory.swap.events");
        data["memory"] = json!({
            "cache": raw.get("file").cloned().unwrap_or(Value::from(0)),
            "usage": {"usage": num(d, "memory.current"), "limit": limit(d, "memory.max"), "max": num(d, "memory.peak"),
                      "failcnt": events.get("max").cloned().unwrap_or(Value::from(0))},
            "swap": {"usage": num(d, "memory.swap.current"), "limit": limit(d, "memory.swap.max"),
                     "failcnt": swap_events.get("max").cloned().unwrap_or(Value::from(0))},
            "raw": raw,
        });
    }
    if d.join("pids.current").exists() {
        data["pids"] = json!({"current": num(d, "pids.current"), "limit": limit(d, "pids.max")});
    }
    if let Some(io) = read(d, "io.stat") {
        let mut bytes = Vec::new();
        let mut ios = Vec::new();
        for l in io.lines() {
            let mut f = l.split_whitespace();
            let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(ma), Ok(mi)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
                continue;
            };
            for kvp in f {
                let Some((k, v)) = kvp.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse::<u64>() else { continue };
                let (list, op) = match k {
                    "rbytes" => (&mut bytes, "Read"),
                    "wbytes" => (&mut bytes, "Write"),
                    "rios" => (&mut ios, "Read"),
                    "wios" => (&mut ios, "Write"),
                    _ => continue,
                };
                list.push(json!({"major": ma, "minor": mi, "op": op, "value": v}));
            }
        }
        data["blkio"] = json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios});
    }
    let sizes = hugetlb_sizes(d, ".current");
    if !sizes.is_empty() {
        let mut h = Map::new();
        for size in sizes {
            let ev = kv(d, &format!("hugetlb.{size}.events"));
            h.insert(
                size.clone(),
                json!({
                    "usage": num(d, &format!("hugetlb.{size}.current")),
                    "failcnt": ev.get("max").cloned().unwrap_or(Value::from(0)),
                }),
            );
        }
        data["hugetlb"] = Value::Object(h);
    }
    data
}

/// Statistics of the container's cgroup in runc's `events` format.
pub fn of(dirs: &[PathBuf]) -> Result<Value> {
    check_dirs(dirs)?;
    let hier = hierarchies()?;
    let s = split(dirs, &hier);
    let on_v1 = |ctrl: &str| {
        s.v1.iter()
            .find(|(cs, _)| cs.iter().any(|c| c == ctrl))
            .map(|(_, d)| d.to_path_buf())
    };
    let mut data = if s.v1.is_empty() {
        serde_json::json!({})
    } else {
        v1(&on_v1)
    };
    if let Some((d, _)) = s.v2 {
        // Hybrid: what v1 lacks (here hugetlb) comes from the unified hierarchy.
        if let (Some(obj), serde_json::Value::Object(v2)) = (data.as_object_mut(), v2(d)) {
            for (k, v) in v2 {
                obj.entry(k).or_insert(v);
            }
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tong-stats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in files {
            std::fs::write(d.join(f), v).unwrap();
        }
        d
    }

    #[test]
    fn v2_stats_from_fake_tree() {
        let d = tree("v2", &[
            ("cpu.stat", "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n"),
            ("memory.current", "4096\n"), ("memory.max", "max\n"), ("memory.stat", "anon 1\nfile 2\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.swap.current", "0\n"), ("memory.swap.max", "1000\n"),
            ("pids.current", "3\n"), ("pids.max", "10\n"),
            ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "0\n"), ("hugetlb.2MB.events", "max 4\n"),
        ]);
        let s = v2(&d);
        assert_eq!(s["cpu"]["usage"]["total"], 100_000);
        assert_eq!(s["cpu"]["usage"]["user"], 60_000);
        assert_eq!(s["cpu"]["throttling"]["throttled_periods"], 2);
        assert_eq!(s["memory"]["usage"]["usage"], 4096);
        assert_eq!(s["memory"]["usage"]["limit"], 0);
        assert_eq!(s["memory"]["usage"]["failcnt"], 3);
        assert_eq!(s["memory"]["swap"]["limit"], 1000);
        assert_eq!(s["memory"]["cache"], 2);
        assert_eq!(s["pids"], json!({"current": 3, "limit": 10}));
        assert_eq!(
            s["blkio"]["ioServiceBytesRecursive"][1],
            json!({"major": 8, "minor": 0, "op": "Write", "value": 20})
        );
        assert_eq!(s["blkio"]["ioServicedRecursive"][0]["value"], 1);
        assert_eq!(s["hugetlb"]["2MB"]["failcnt"], 4);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn v1_stats_from_fake_tree() {
        let d = tree(
            "v1",
            &[
                ("cpuacct.usage", "5000\n"),
                ("cpuacct.usage_percpu", "3000 2000 \n"),
                ("cpuacct.stat", "user 3\nsystem 2\n"),
                (
                    "cpu.stat",
                    "nr_periods 1\nnr_throttled 0\nthrottled_time 0\n",
                ),
                ("memory.usage_in_bytes", "100\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.failcnt", "0\n"),
                ("memory.max_usage_in_bytes", "200\n"),
                ("memory.stat", "cache 5\ntotal_cache 6\n"),
                ("pids.current", "2\n"),
                ("pids.max", "max\n"),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
                ),
                ("hugetlb.2MB.usage_in_bytes", "0\n"),
                ("hugetlb.2MB.max_usage_in_bytes", "0\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
            ],
        );
        let s = v1(&|_| Some(d.clone()));
        assert_eq!(s["cpu"]["usage"]["total"], 5000);
        assert_eq!(s["cpu"]["usage"]["percpu"], json!([3000, 2000]));
        assert_eq!(s["cpu"]["usage"]["user"], 30_000_000);
        assert_eq!(s["memory"]["usage"]["max"], 200);
        assert_eq!(s["memory"]["cache"], 6);
        assert_eq!(s["pids"], json!({"current": 2, "limit": 0}));
        assert_eq!(
            s["blkio"]["ioServiceBytesRecursive"][0],
            json!({"major": 8, "minor": 0, "op": "Read", "value": 4096})
        );
        assert_eq!(
            s["blkio"]["ioServiceBytesRecursive"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s["hugetlb"]["2MB"]["failcnt"], 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
