//! The entry points: scan a file held in memory, a reader, or text alone, and tell a ranged
//! download how much of a file it needs. Each sniffs, dispatches to its format's extractor under
//! a fresh [`Cx`], and turns how the extractor stopped into a scored [`FileReport`].

use crate::cx::{Cx, Res, Sink, Stop};
use crate::finding::{Finding, Source};
use crate::options::ScanOptions;
use crate::report::{FileReport, Status};
use crate::sniff::{sniff, Format};
use crate::{detect, image, ooxml, pdf, risk, text};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// How much of a file's beginning a caller must hold to see all of its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefix {
    /// The bytes given already hold all the metadata: scan them.
    Complete,
    /// At least this many bytes from the start are needed (ask again once you have them).
    NeedMore(u64),
    /// Only the whole file will do (documents, text, TIFF).
    WholeFile,
}

/// Tells a caller holding only the first bytes of a file (a ranged download) whether image
/// metadata is complete or how many bytes are needed; documents and text need the whole file.
pub fn needed_prefix(bytes: &[u8]) -> Prefix {
    image::needed_prefix(bytes)
}

/// Runs the detectors over text alone (source `text`, offsets into `text`).
pub fn scan_text(text: &str) -> Vec<Finding> {
    let mut sink = Sink::new(usize::MAX);
    detect::detect(text.as_bytes(), &Source::Text, 0, &mut sink);
    sink.findings
}

/// Scans a whole file held in memory: sniffs the format, extracts, detects and scores.
pub fn scan_bytes(bytes: &[u8], opts: &ScanOptions) -> FileReport {
    let format = sniff(bytes);
    if bytes.len() as u64 > opts.max_size {
        return finish(
            format,
            Err(Stop::TooLarge(format!("file is larger than {} bytes", opts.max_size))),
            Sink::new(0),
        );
    }
    let mut cx = Cx::new(opts);
    let result = extract(bytes, format, &mut cx);
    finish(format, result, cx.sink)
}

/// Scans from a reader. Plain text is streamed in overlapping chunks, so memory does not grow
/// with the size of the input; other formats are read up to [`ScanOptions::max_size`].
pub fn scan_reader(mut r: impl Read, opts: &ScanOptions) -> FileReport {
    let mut head = Vec::with_capacity(64 << 10);
    if let Err(e) = (&mut r).take(64 << 10).read_to_end(&mut head) {
        return finish(
            Format::Unknown,
            Err(Stop::Corrupt(format!("read error: {e}"))),
            Sink::new(0),
        );
    }
    let format = sniff(&head);
    if format.is_text() && !text::is_utf16(&head) {
        let mut cx = Cx::new(opts);
        let result = text::stream(head, r, &mut cx);
        return finish(format, result, cx.sink);
    }
    let mut bytes = head;
    let limit = opts.max_size.saturating_add(1).saturating_sub(bytes.len() as u64);
    if let Err(e) = r.take(limit).read_to_end(&mut bytes) {
        return finish(format, Err(Stop::Corrupt(format!("read error: {e}"))), Sink::new(0));
    }
    scan_bytes(&bytes, opts)
}

/// Dispatches to the extractor for `format`.
fn extract(bytes: &[u8], format: Format, cx: &mut Cx) -> Res {
    match format {
        f if f.is_image() => image::scan(bytes, f, &Source::Metadata, cx),
        f if f.is_text() => text::scan(bytes, &Source::Text, cx),
        Format::Docx | Format::Xlsx | Format::Pptx => ooxml::scan(bytes, format, cx),
        Format::Ole => ooxml::scan_ole(bytes),
        Format::Pdf => pdf::scan(bytes, cx),
        Format::Zip => Err(Stop::Unsupported("zip archive that is not an Office document".into())),
        _ => Err(Stop::Unsupported("unrecognised format".into())),
    }
}

/// Scores a finished scan: its status from how it stopped, its risk and reasons, findings in order.
pub(crate) fn finish(format: Format, result: Res, sink: Sink) -> FileReport {
    let (status, why) = match result {
        Ok(()) => (Status::Scanned, None),
        Err(Stop::Unsupported(w)) => (Status::Unsupported, Some(w)),
        Err(Stop::Encrypted(w)) => (Status::Encrypted, Some(w)),
        Err(Stop::TooLarge(w)) => (Status::TooLarge, Some(w)),
        Err(Stop::Corrupt(w)) => (Status::Corrupt, Some(w)),
        Err(Stop::TimedOut) => (Status::TimedOut, Some("time budget per file exhausted".into())),
    };
    let (risk, reasons) = risk::assess(status, why.as_deref(), &sink);
    let mut findings = sink.findings;
    findings.sort_by(|a, b| (&a.source, a.start, a.kind).cmp(&(&b.source, b.start, b.kind)));
    FileReport {
        status,
        format,
        risk,
        reasons,
        findings,
    }
}
