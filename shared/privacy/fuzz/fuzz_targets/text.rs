//! Text formats through both entry points: in memory and streamed in small chunks must agree.
#![no_main]
use graphwatch_privacy::{scan_bytes, scan_reader, ScanOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ScanOptions { chunk_size: 1024, ..ScanOptions::default() };
    let a = scan_bytes(data, &opts);
    let b = scan_reader(data, &opts);
    if a.format.is_text() && !data.starts_with(b"\xFF\xFE") && !data.starts_with(b"\xFE\xFF") {
        assert_eq!(a.findings.len(), b.findings.len());
    }
});
