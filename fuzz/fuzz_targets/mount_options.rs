//! A mount's `options`: the input is split on NUL bytes into the list.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tong::linux::rootfs::options::MountOptions;

fuzz_target!(|data: &[u8]| {
    let opts: Vec<String> = data
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if let Ok(o) = MountOptions::parse(&opts) {
        let _ = o.is_bind();
        let _ = o.needs_mounted_fd();
        let _ = o.remount_flags();
        let _ = o.data_string();
    }
    for o in &opts {
        let _ = tong::linux::rootfs::options::propagation_flag(o);
    }
});
