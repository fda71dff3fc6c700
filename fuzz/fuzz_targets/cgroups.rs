//! linux.resources: validation, then the pure translations to cgroup v1 and
//! v2 file writes, the device rules and the v2 device eBPF program.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxResources;
use tong::linux::cgroups::{devices_bpf, resources};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = tong::spec::from_json::<LinuxResources>(data, "resources") else {
        return;
    };
    let sizes = vec!["2MB".to_string(), "1GB".to_string()];
    let _ = tong::linux::cgroups::validate(&r);
    if resources::validate(&r, Some(&sizes)).is_err() {
        return;
    }
    let _ = resources::v1_writes(&r);
    let _ = resources::v2_writes(&r);
    let configured = r.devices().clone().unwrap_or_default();
    let rules = resources::device_rules(&configured, &[]);
    let _ = resources::v1_device_writes(&rules);
    let _ = devices_bpf::program(&rules);
    if let Some(s) = r.cpu().as_ref().and_then(|c| c.shares()) {
        let _ = resources::shares_to_weight(s);
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        let _ = resources::blkio_weight_to_io(w);
    }
});
