//! File results: what a scan found in one file, its status and its risk.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One kind of finding in a file, summarised (never raw values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSummary {
    /// Entity kind, e.g. `CREDIT_CARD`, `GPS_LOCATION`.
    pub kind: String,
    /// How many.
    pub count: u64,
    /// Highest confidence among them (65, 75 or 85).
    pub confidence: u8,
    /// A few redacted samples.
    pub samples: Vec<String>,
}

/// How far a file was read, stored as its snake_case name (`too_large`). The engine's statuses
/// plus `error`: a file Graph refused to hand over for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Read, and every part the engine understands inspected.
    Scanned,
    /// A format the engine does not read (not downloaded).
    Unsupported,
    /// Password-protected Office file or encrypted PDF.
    Encrypted,
    /// Over the size cap (or a decompression cap).
    TooLarge,
    /// Damaged or malformed; findings made before the damage are kept.
    Corrupt,
    /// The per-file time budget ran out.
    TimedOut,
    /// The download was refused for good (a 4xx other than 404).
    Error,
}

impl FileStatus {
    /// Every status.
    pub const ALL: [FileStatus; 7] = [
        FileStatus::Scanned,
        FileStatus::Unsupported,
        FileStatus::Encrypted,
        FileStatus::TooLarge,
        FileStatus::Corrupt,
        FileStatus::TimedOut,
        FileStatus::Error,
    ];

    /// The stored name, e.g. `too_large`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Scanned => "scanned",
            FileStatus::Unsupported => "unsupported",
            FileStatus::Encrypted => "encrypted",
            FileStatus::TooLarge => "too_large",
            FileStatus::Corrupt => "corrupt",
            FileStatus::TimedOut => "timed_out",
            FileStatus::Error => "error",
        }
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file's risk level, stored lowercase (`critical`). Ordered low < medium < high < critical,
/// so the worst sorts last (or first, reversed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Nothing sensitive, or only camera model, software and timestamps.
    Low,
    /// Contact details, author names, device serials, or a file that could not be inspected.
    Medium,
    /// GPS location, a single high-confidence identifier, deleted text kept in tracked changes.
    High,
    /// Secrets, bulk government or financial identifiers, identity bundles.
    Critical,
}

impl Risk {
    /// Every level, lowest first.
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    /// The stored name, e.g. `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a level in any case (`HIGH`, `high`), for command-line flags.
impl FromStr for Risk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Risk::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown risk level {s:?} (low, medium, high, critical)"))
    }
}

/// The stored result of scanning one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    /// Drive of the file.
    pub drive_id: String,
    /// Graph item id.
    pub item_id: String,
    /// File name.
    pub name: String,
    /// Folder path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Content tag at scan time: an equal cTag means unchanged content.
    pub c_tag: Option<String>,
    /// Entity tag at scan time.
    pub e_tag: Option<String>,
    /// How far the file was read.
    pub status: FileStatus,
    /// Risk level.
    pub risk: Risk,
    /// Human-readable reasons for the risk.
    pub reasons: Vec<String>,
    /// Findings by kind.
    pub findings: Vec<FindingSummary>,
    /// Latest scan pass that produced this result or, in a full pass, found it unchanged.
    pub scan_id: String,
    /// When it was scanned.
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}

impl FileResult {
    /// Worst first: higher risk, then folder path, then name. For `sort_by`.
    pub fn worst_first(&self, other: &FileResult) -> Ordering {
        other
            .risk
            .cmp(&self.risk)
            .then_with(|| self.path.cmp(&other.path))
            .then_with(|| self.name.cmp(&other.name))
    }
}

#[cfg(test)]
mod tests {
    use super::super::RiskCounts;
    use super::*;
    use serde_dynamo::AttributeValue;

    /// Each variant is stored as exactly the string written before the enums existed, so no
    /// stored item changes shape; and reads back as itself.
    #[test]
    fn statuses_and_risks_are_stored_as_their_names() {
        let statuses = [
            "scanned",
            "unsupported",
            "encrypted",
            "too_large",
            "corrupt",
            "timed_out",
            "error",
        ];
        for (status, name) in FileStatus::ALL.into_iter().zip(statuses) {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(serde_json::to_value(status).unwrap(), name);
            assert_eq!(
                serde_dynamo::to_attribute_value::<_, AttributeValue>(status).unwrap(),
                AttributeValue::S(name.into())
            );
            assert_eq!(serde_json::from_value::<FileStatus>(name.into()).unwrap(), status);
        }
        assert_eq!(FileStatus::ALL.len(), statuses.len());
        let risks = ["low", "medium", "high", "critical"];
        for (risk, name) in Risk::ALL.into_iter().zip(risks) {
            assert_eq!(risk.as_str(), name);
            assert_eq!(risk.to_string(), name);
            assert_eq!(serde_json::to_value(risk).unwrap(), name);
            assert_eq!(
                serde_dynamo::to_attribute_value::<_, AttributeValue>(risk).unwrap(),
                AttributeValue::S(name.into())
            );
            assert_eq!(serde_json::from_value::<Risk>(name.into()).unwrap(), risk);
            assert_eq!(name.parse::<Risk>().unwrap(), risk);
            assert_eq!(name.to_uppercase().parse::<Risk>().unwrap(), risk);
        }
        assert!("extreme".parse::<Risk>().is_err());
        assert!(serde_json::from_value::<Risk>("High".into()).is_err());
    }

    #[test]
    fn results_sort_worst_first_then_by_path_and_name() {
        let result = |path: &str, name: &str, risk| FileResult {
            drive_id: "d".into(),
            item_id: name.into(),
            name: name.into(),
            path: path.into(),
            size: 1,
            c_tag: None,
            e_tag: None,
            status: FileStatus::Scanned,
            risk,
            reasons: vec![],
            findings: vec![],
            scan_id: "s".into(),
            scanned_at: OffsetDateTime::UNIX_EPOCH,
        };
        let mut files = [
            result("/b", "x", Risk::Low),
            result("/a", "y", Risk::High),
            result("/b", "a", Risk::Critical),
            result("/a", "x", Risk::High),
        ];
        files.sort_by(FileResult::worst_first);
        let order: Vec<_> = files
            .iter()
            .map(|f| (f.risk, f.path.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (Risk::Critical, "/b", "a"),
                (Risk::High, "/a", "x"),
                (Risk::High, "/a", "y"),
                (Risk::Low, "/b", "x")
            ]
        );
    }

    #[test]
    fn risks_order_low_to_critical_and_count_in_their_field() {
        assert!(Risk::Low < Risk::Medium && Risk::Medium < Risk::High && Risk::High < Risk::Critical);
        let mut counts = RiskCounts::default();
        for risk in [
            Risk::Critical,
            Risk::High,
            Risk::High,
            Risk::Medium,
            Risk::Low,
            Risk::Low,
            Risk::Low,
        ] {
            counts.add(risk);
        }
        assert_eq!(
            counts,
            RiskCounts {
                low: 3,
                medium: 1,
                high: 2,
                critical: 1
            }
        );
    }
}
