//! linux.seccomp: parsed as the config's field is, then translated to a
//! libseccomp filter and compiled to BPF (nothing is loaded).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = tong::spec::from_json::<LinuxSeccomp>(data, "seccomp") {
        let _ = tong::linux::seccomp::compile(&s);
    }
});
