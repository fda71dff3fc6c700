//! state.json: whatever deserialises must serialise and read back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tong::state::Saved;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = serde_json::from_slice::<Saved>(data) else {
        return;
    };
    let once = serde_json::to_value(&s).expect("serialise");
    let back: Saved = serde_json::from_value(once.clone()).expect("read back");
    assert_eq!(once, serde_json::to_value(&back).expect("serialise again"));
    let _ = tong::state::check_id(&s.id);
});
