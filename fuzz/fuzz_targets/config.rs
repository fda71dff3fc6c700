//! config.json: parse (with the compat mending of spec spellings oci-spec
//! refuses) and validate. Errors are fine; panics and hangs are not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = tong::spec::from_json::<Spec>(data, "config") {
        // The host checks run, as in create, on what spec/ accepted.
        if tong::spec::validate(&spec).is_ok() {
            let _ = tong::linux::validate::check_host(&spec);
        }
        let _ = tong::spec::namespaces(&spec);
        if let Some(p) = spec.process() {
            if tong::spec::validate_process(p, "/process").is_ok() {
                let _ = tong::linux::validate::check_process(p, "/process");
            }
        }
    }
});
