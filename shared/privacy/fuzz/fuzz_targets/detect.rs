//! The detectors over arbitrary text: no panic, offsets inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for f in graphwatch_privacy::scan_text(text) {
        assert!(f.start <= f.end && f.end <= text.len());
    }
});
