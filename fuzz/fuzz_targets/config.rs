//! config.json: parse (with the compat mending of spec spellings oci-spec
//! refuses) and validate. Errors are fine; panics and hangs are not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = tong::spec::from_json::<Spec>(data, "config") {
        let _ = tong::spec::validate(&spec);
        let _ = tong::spec::namespaces(&spec);
        if let Some(p) = spec.process() {
            let _ = tong::spec::validate_process(p, "/process");
        }
    }
});
