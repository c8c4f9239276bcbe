//! The privacy scanning engine (pure Rust, no AWS, no network).
//!
//! Give it the bytes of a file ([`scan_bytes`]) or a reader ([`scan_reader`]); it sniffs the
//! format from the bytes, extracts text and metadata (images, Office Open XML, PDF, plain text),
//! runs the detectors ([`scan_text`] on its own) and scores the file ([`FileReport`]).
//! Hostile input is expected: every extractor works under the caps of [`ScanOptions`] and a bad
//! file ends with a [`Status`], never a panic or a hang.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

pub mod corpus;
mod detect;
mod image;
mod ooxml;
mod pdf;
mod risk;
mod sniff;
mod text;
mod xml;

pub use sniff::sniff;

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
    /// Chunk size for streamed plain text in [`scan_reader`]. Default 1 MiB.
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

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The file was read and every part the engine understands was inspected.
    Scanned,
    /// The format is not one the engine reads.
    Unsupported,
    /// The document is encrypted (password-protected Office file or encrypted PDF).
    Encrypted,
    /// The file exceeds [`ScanOptions::max_size`] or a decompression cap.
    TooLarge,
    /// The file is damaged or malformed; findings made before the damage are kept.
    Corrupt,
    /// The per-file time budget ran out; findings made before are kept.
    TimedOut,
}

impl Status {
    /// The serialized name, e.g. `too_large`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Scanned => "scanned",
            Status::Unsupported => "unsupported",
            Status::Encrypted => "encrypted",
            Status::TooLarge => "too_large",
            Status::Corrupt => "corrupt",
            Status::TimedOut => "timed_out",
        }
    }
}

/// The file format, sniffed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG/JFIF/EXIF image.
    Jpeg,
    /// PNG image.
    Png,
    /// TIFF (and TIFF-based raw formats such as DNG).
    Tiff,
    /// WebP image.
    Webp,
    /// HEIF/HEIC/AVIF image.
    Heif,
    /// Word document (Office Open XML).
    Docx,
    /// Excel workbook (Office Open XML).
    Xlsx,
    /// PowerPoint presentation (Office Open XML).
    Pptx,
    /// OLE compound file (legacy Office, or an encrypted Office Open XML package).
    Ole,
    /// PDF document.
    Pdf,
    /// Plain text (UTF-8, UTF-16 or single-byte).
    Text,
    /// Comma- or tab-separated values.
    Csv,
    /// JSON.
    Json,
    /// HTML or XHTML.
    Html,
    /// Markdown.
    Markdown,
    /// E-mail message (RFC 5322, `.eml`).
    Email,
    /// A zip archive that is not an Office document.
    Zip,
    /// Anything else.
    Unknown,
}

impl Format {
    /// Whether the format is text that can be streamed in chunks.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Format::Text | Format::Csv | Format::Json | Format::Html | Format::Markdown | Format::Email
        )
    }

    /// Whether the format is an image.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Tiff | Format::Webp | Format::Heif
        )
    }
}

/// A file's risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Nothing sensitive, or only camera model / software / timestamps.
    Low,
    /// Contact details, author names, device serials, or a file that could not be inspected.
    Medium,
    /// GPS location, a single high-confidence identifier, deleted text kept in tracked changes.
    High,
    /// Secrets, bulk government or financial identifiers, identity bundles.
    Critical,
}

impl std::str::FromStr for Risk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Risk::Low),
            "medium" => Ok(Risk::Medium),
            "high" => Ok(Risk::High),
            "critical" => Ok(Risk::Critical),
            _ => Err(format!("unknown risk level {s:?} (low, medium, high, critical)")),
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        })
    }
}

/// What was found. Serialized with Presidio's entity names where Presidio has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Payment card number (Luhn-valid, known issuer prefix).
    CreditCard,
    /// International bank account number (mod-97, per-country length).
    IbanCode,
    /// E-mail address.
    EmailAddress,
    /// Telephone number in a known numbering plan.
    PhoneNumber,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// US social security number.
    UsSsn,
    /// UK NHS number (mod 11).
    UkNhs,
    /// UK national insurance number.
    UkNino,
    /// Bitcoin address (base58check or bech32/bech32m).
    Crypto,
    /// Date next to a birth-date context word.
    DateOfBirth,
    /// A place name from XMP or IPTC metadata.
    Location,
    /// AWS access key id.
    SecretAwsAccessKey,
    /// PEM private key block.
    SecretPrivateKey,
    /// GitHub token.
    SecretGithubToken,
    /// Slack token.
    SecretSlackToken,
    /// Azure storage account key.
    SecretAzureStorageKey,
    /// JSON Web Token.
    SecretJwt,
    /// `password = ...` style assignment.
    SecretPasswordAssignment,
    /// GPS position in image metadata.
    GpsLocation,
    /// Camera body or lens serial number.
    DeviceSerial,
    /// Author, creator, artist, owner or last editor.
    Author,
    /// Author of a document comment.
    CommentAuthor,
    /// Deleted text kept in tracked changes.
    TrackedChanges,
    /// An embedded preview image.
    EmbeddedThumbnail,
    /// When a photo was taken or a document created.
    CaptureTime,
    /// Camera make and model.
    CameraModel,
    /// Software that wrote the file.
    Software,
}

impl Kind {
    /// The serialized name, e.g. `CREDIT_CARD`.
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            CreditCard => "CREDIT_CARD",
            IbanCode => "IBAN_CODE",
            EmailAddress => "EMAIL_ADDRESS",
            PhoneNumber => "PHONE_NUMBER",
            IpAddress => "IP_ADDRESS",
            UsSsn => "US_SSN",
            UkNhs => "UK_NHS",
            UkNino => "UK_NINO",
            Crypto => "CRYPTO",
            DateOfBirth => "DATE_OF_BIRTH",
            Location => "LOCATION",
            SecretAwsAccessKey => "SECRET_AWS_ACCESS_KEY",
            SecretPrivateKey => "SECRET_PRIVATE_KEY",
            SecretGithubToken => "SECRET_GITHUB_TOKEN",
            SecretSlackToken => "SECRET_SLACK_TOKEN",
            SecretAzureStorageKey => "SECRET_AZURE_STORAGE_KEY",
            SecretJwt => "SECRET_JWT",
            SecretPasswordAssignment => "SECRET_PASSWORD_ASSIGNMENT",
            GpsLocation => "GPS_LOCATION",
            DeviceSerial => "DEVICE_SERIAL",
            Author => "AUTHOR",
            CommentAuthor => "COMMENT_AUTHOR",
            TrackedChanges => "TRACKED_CHANGES",
            EmbeddedThumbnail => "EMBEDDED_THUMBNAIL",
            CaptureTime => "CAPTURE_TIME",
            CameraModel => "CAMERA_MODEL",
            Software => "SOFTWARE",
        }
    }

    /// Whether the kind is a secret (`SECRET_*`).
    pub fn is_secret(self) -> bool {
        self.name().starts_with("SECRET_")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where in a file a finding was made; serialized as `text`, `metadata`, `comment`,
/// `tracked_change`, `thumbnail` or `embedded:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The file's text (for plain text, the file itself).
    Text,
    /// Metadata: EXIF, XMP, IPTC, document properties, PDF Info.
    Metadata,
    /// A document comment.
    Comment,
    /// A tracked change (deleted or inserted text, revision author).
    TrackedChange,
    /// The embedded thumbnail of an image and its own metadata.
    Thumbnail,
    /// A file embedded in a document (e.g. `word/media/image1.jpeg`).
    Embedded(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Text => f.write_str("text"),
            Source::Metadata => f.write_str("metadata"),
            Source::Comment => f.write_str("comment"),
            Source::TrackedChange => f.write_str("tracked_change"),
            Source::Thumbnail => f.write_str("thumbnail"),
            Source::Embedded(name) => write!(f, "embedded:{name}"),
        }
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "text" => Source::Text,
            "metadata" => Source::Metadata,
            "comment" => Source::Comment,
            "tracked_change" => Source::TrackedChange,
            "thumbnail" => Source::Thumbnail,
            _ => match s.strip_prefix("embedded:") {
                Some(name) => Source::Embedded(name.to_string()),
                None => return Err(format!("unknown source {s:?}")),
            },
        })
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One thing found in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// 65 (pattern), 75 (pattern + checksum or context), 85 (pattern + checksum + context).
    pub confidence: u8,
    /// Where it was found.
    pub source: Source,
    /// Byte offset of the match in its source's text (0 for metadata fields).
    pub start: usize,
    /// Byte offset one past the match.
    pub end: usize,
    /// The value with all but the first and last few characters masked.
    pub redacted: String,
    /// The raw value; empty (and not serialized) once [`FileReport::conceal`] ran.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Latitude in decimal degrees, for `GPS_LOCATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in decimal degrees, for `GPS_LOCATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

impl Finding {
    /// A finding for `value`, redacted; `start`/`end` are offsets in the source's text.
    pub fn new(kind: Kind, confidence: u8, source: Source, start: usize, end: usize, value: &str) -> Finding {
        Finding {
            kind,
            confidence,
            source,
            start,
            end,
            redacted: redact(value),
            value: value.to_string(),
            lat: None,
            lon: None,
        }
    }
}

/// Masks a value, keeping at most the first and last few characters (none for short values).
pub fn redact(value: &str) -> String {
    let n = value.chars().count();
    let keep = match n {
        0..=4 => 0,
        5..=8 => 1,
        9..=16 => 2,
        _ => 4,
    };
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let shown = i < keep || i >= n - keep || c == ' ' || c == '-' || c == '@' || c == '.' && keep > 0;
            if shown {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The result of scanning one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// How the scan ended.
    pub status: Status,
    /// The sniffed format.
    pub format: Format,
    /// The file's risk; never `low` unless the status is `scanned`.
    pub risk: Risk,
    /// Why the file got its risk, most serious first.
    pub reasons: Vec<String>,
    /// What was found (at most [`ScanOptions::max_findings`]).
    pub findings: Vec<Finding>,
}

impl FileReport {
    /// Drops the raw values, keeping only the redacted forms (what is stored or printed).
    pub fn conceal(&mut self) {
        for f in &mut self.findings {
            f.value.clear();
        }
    }

    /// The report of a file that was deliberately not read (its name or type says the engine
    /// cannot read it, or its declared size is over the cap): `status` with its usual risk
    /// and `why` as the reason. `Scanned` is not a status a file gets unread; it is reported
    /// as `Corrupt`.
    pub fn unread(status: Status, why: &str) -> FileReport {
        let why = why.to_string();
        let stop = match status {
            Status::Unsupported => Stop::Unsupported(why),
            Status::Encrypted => Stop::Encrypted(why),
            Status::TooLarge => Stop::TooLarge(why),
            Status::TimedOut => Stop::TimedOut,
            Status::Corrupt | Status::Scanned => Stop::Corrupt(why),
        };
        finish(Format::Unknown, Err(stop), Sink::new(0))
    }
}

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

/// Why an extractor stopped early.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stop {
    Unsupported(String),
    Encrypted(String),
    TooLarge(String),
    Corrupt(String),
    TimedOut,
}

pub(crate) type Res<T = ()> = Result<T, Stop>;

/// Shorthand for a `Corrupt` stop.
pub(crate) fn corrupt<T>(why: impl Into<String>) -> Res<T> {
    Err(Stop::Corrupt(why.into()))
}

/// Collected findings, capped, with full counts per kind for the risk.
pub(crate) struct Sink {
    pub findings: Vec<Finding>,
    pub max: usize,
    pub counts: std::collections::BTreeMap<(Kind, u8), usize>,
}

impl Sink {
    pub fn new(max: usize) -> Sink {
        Sink {
            findings: Vec::new(),
            max,
            counts: Default::default(),
        }
    }

    pub fn push(&mut self, f: Finding) {
        self.push_with(f.kind, f.confidence, || f);
    }

    /// Counts a finding and builds it only if there is room to keep it.
    pub fn push_with(&mut self, kind: Kind, confidence: u8, make: impl FnOnce() -> Finding) {
        *self.counts.entry((kind, confidence)).or_default() += 1;
        if self.findings.len() < self.max {
            self.findings.push(make());
        }
    }

    /// Pushes a metadata-style finding unless the same kind and value is already there.
    pub fn push_unique(&mut self, f: Finding) {
        if !self
            .findings
            .iter()
            .any(|g| g.kind == f.kind && g.value == f.value && g.lat == f.lat)
        {
            self.push(f);
        }
    }
}

/// The context of one scan: options, deadline, findings.
pub(crate) struct Cx<'o> {
    pub opts: &'o ScanOptions,
    deadline: Instant,
    pub sink: Sink,
    /// Bytes inflated so far from this file (zip members, PDF streams, PNG text).
    pub inflated: u64,
    /// Nesting of embedded files (a thumbnail, an image inside a document).
    pub depth: u8,
}

impl<'o> Cx<'o> {
    pub fn new(opts: &'o ScanOptions) -> Cx<'o> {
        Cx {
            opts,
            deadline: Instant::now() + opts.max_time,
            sink: Sink::new(opts.max_findings),
            inflated: 0,
            depth: 0,
        }
    }

    /// Fails with `TimedOut` once the time budget is spent.
    pub fn tick(&self) -> Res {
        if Instant::now() > self.deadline {
            Err(Stop::TimedOut)
        } else {
            Ok(())
        }
    }

    /// Runs the detectors over extracted text from `source`.
    pub fn detect(&mut self, text: &[u8], source: &Source) -> Res {
        self.tick()?;
        detect::detect(text, source, 0, &mut self.sink);
        Ok(())
    }

    /// Inflates a zlib/deflate stream under the per-member and per-file caps.
    pub fn inflate(&mut self, data: &[u8], zlib: bool) -> Res<Vec<u8>> {
        let room = self
            .opts
            .max_member_bytes
            .min(self.opts.max_total_bytes.saturating_sub(self.inflated));
        let mut out = Vec::new();
        let res = if zlib {
            flate2::read::ZlibDecoder::new(data)
                .take(room + 1)
                .read_to_end(&mut out)
        } else {
            flate2::read::DeflateDecoder::new(data)
                .take(room + 1)
                .read_to_end(&mut out)
        };
        if out.len() as u64 > room {
            return Err(Stop::TooLarge(format!("decompressed data exceeds {room} bytes")));
        }
        self.inflated += out.len() as u64;
        match res {
            Ok(_) => Ok(out),
            // A truncated stream still yields what was inflated before the damage.
            Err(_) if !out.is_empty() => Ok(out),
            Err(e) => corrupt(format!("bad compressed data: {e}")),
        }
    }
}

/// Dispatches to the extractor for `format`.
pub(crate) fn extract(bytes: &[u8], format: Format, cx: &mut Cx) -> Res {
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

fn finish(format: Format, result: Res, sink: Sink) -> FileReport {
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
