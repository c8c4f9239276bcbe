//! graphwatch's privacy engine: given a file's bytes, say what personal data and secrets it
//! holds and how risky it is. Pure Rust: no AWS, no network, no async runtime, so the Lambda
//! and the command-line scanner run exactly the same code.
//!
//! # What it does
//!
//! A scan [sniffs](sniff) the [`Format`] from the bytes (never from the file name), hands the
//! file to that format's extractor (image metadata in EXIF, XMP, IPTC and HEIF boxes; Office
//! Open XML parts, comments and tracked changes; PDF text, Info and XMP; plain text, UTF-16
//! included), runs the detectors over everything extracted ([`Kind`] lists what they find),
//! and scores the file: a [`FileReport`] with a [`Status`], a [`Risk`], the reasons for that
//! risk and the [`Finding`]s, each with a redacted value and its [`Source`] in the file.
//!
//! # Hostile input
//!
//! Every file is assumed to be crafted against the scanner. Each extractor works under the
//! caps of [`ScanOptions`] (size, time, zip entries, inflated bytes, XML and PDF nesting, PDF
//! objects, findings kept), and a file that breaks one ends with a [`Status`] such as
//! `too_large`, `corrupt` or `timed_out`, never a panic, a hang or unbounded memory. Findings
//! made before the problem are kept, and a file that could not be fully inspected is never
//! scored `low`. The extractors are fuzzed (`shared/privacy/fuzz`) and every input that once
//! broke them is a regression test.
//!
//! # Trade-offs
//!
//! - Detectors are patterns with checksums and context words, not a language model: fast
//!   (hundreds of MB/s per core) and predictable, at the price of missing names in prose.
//! - Plain text is streamed in overlapping chunks by [`scan_reader`], so memory stays flat
//!   however large the file; every other format is read whole (up to [`ScanOptions::max_size`])
//!   because its structure must be seen at once.
//! - A ranged download asks [`needed_prefix`] how much of an image it must fetch to see all of
//!   its metadata, instead of downloading whole photos.
//!
//! # Entry points
//!
//! - [`scan_bytes`]: a file held in memory; [`scan_reader`]: a file from a reader.
//! - [`scan_text`]: the detectors alone over text.
//! - [`needed_prefix`] and [`Prefix`]: how much of a file's beginning a ranged download needs.
//! - [`FileReport::unread`]: the report of a file deliberately not read (too large, wrong type).
//! - [`redact`]: the masking applied to every finding's value.
//!
//! The `corpus` feature (off by default) adds `corpus`, a seeded generator of labelled text and
//! documents for the engine's tests, benchmarks and accuracy figures; the production library
//! carries none of it.
//!
//! # Layout
//!
//! The public face lives in `options` ([`ScanOptions`]), `report` ([`FileReport`], [`Status`],
//! [`Risk`]), `finding` ([`Finding`], [`Kind`], [`Source`]), `sniff` ([`Format`]) and `scan`
//! (the entry points), all re-exported here. Everything else is machinery: `cx` (the per-file
//! context, its caps and stop reasons, the findings sink), the extractors (`image`, `ooxml`,
//! `pdf`, `text`, `xml`), `detect` and `risk`.

#![warn(missing_docs)]

#[cfg(feature = "corpus")]
pub mod corpus;
mod cx;
mod detect;
mod finding;
mod image;
mod ooxml;
mod options;
mod pdf;
mod report;
mod risk;
mod scan;
mod sniff;
mod text;
mod xml;

pub use finding::{redact, Finding, Kind, Source};
pub use options::ScanOptions;
pub use report::{FileReport, Risk, Status};
pub use scan::{needed_prefix, scan_bytes, scan_reader, scan_text, Prefix};
pub use sniff::{sniff, Format};
