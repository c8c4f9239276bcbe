//! The caps every scan runs under. Each one bounds a way a hostile file could spend memory or
//! time (zip bombs, deep nesting, object floods, findings floods); none is tuned for accuracy.

use std::time::Duration;

/// Limits applied to every scan; the defaults suit a Lambda with 1 GiB of memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Files larger than this are not read (status `too_large`). Default 100 MiB.
    pub max_size: u64,
    /// Wall-clock budget per file (status `timed_out` once spent). Default 10 s.
    pub max_time: Duration,
    /// Most entries a zip-based document may list. Default 10,000.
    pub max_zip_entries: usize,
    /// Most bytes inflated from one zip member or one PDF stream. Default 64 MiB.
    pub max_member_bytes: u64,
    /// Most bytes inflated from one file in total. Default 256 MiB.
    pub max_total_bytes: u64,
    /// Deepest XML element nesting accepted. Default 256.
    pub max_xml_depth: usize,
    /// Deepest PDF array/dictionary nesting accepted. Default 64.
    pub max_pdf_depth: usize,
    /// Most PDF objects parsed. Default 500,000.
    pub max_pdf_objects: usize,
    /// Most findings kept in a report (all are still counted for the risk). Default 10,000.
    pub max_findings: usize,
    /// Chunk size for streamed plain text in [`scan_reader`](crate::scan_reader). Default 1 MiB.
    pub chunk_size: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_size: 100 << 20,
            max_time: Duration::from_secs(10),
            max_zip_entries: 10_000,
            max_member_bytes: 64 << 20,
            max_total_bytes: 256 << 20,
            max_xml_depth: 256,
            max_pdf_depth: 64,
            max_pdf_objects: 500_000,
            max_findings: 10_000,
            chunk_size: 1 << 20,
        }
    }
}
