//! What a scan returns: how it ended ([`Status`]), the file's [`Risk`] and the [`FileReport`]
//! that carries them with the findings.

use crate::cx::{Sink, Stop};
use crate::finding::Finding;
use crate::scan::finish;
use crate::sniff::Format;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// The file exceeds [`ScanOptions::max_size`](crate::ScanOptions::max_size) or a decompression cap.
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
    /// What was found (at most [`ScanOptions::max_findings`](crate::ScanOptions::max_findings)).
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
