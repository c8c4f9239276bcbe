//! The TIFF/EXIF extractor: arbitrary bytes behind its magic; must end with a status, never panic,
//! and needed_prefix must agree to stop.
#![no_main]
use graphwatch_privacy::{needed_prefix, scan_bytes, ScanOptions};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"II*\0".to_vec();
    bytes.extend_from_slice(data);
    let opts = ScanOptions { max_time: Duration::from_secs(2), max_member_bytes: 16 << 20, max_total_bytes: 32 << 20, ..ScanOptions::default() };
    let r = scan_bytes(&bytes, &opts);
    assert!(r.status == graphwatch_privacy::Status::Scanned || r.risk >= graphwatch_privacy::Risk::Medium);
    let _ = needed_prefix(&bytes);
});
