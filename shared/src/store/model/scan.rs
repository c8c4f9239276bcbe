//! Scan records: one per pass over a drive, with its totals and risk counts.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Risk;

/// Full enumeration or delta since the last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    /// Every file of the drive.
    Full,
    /// Files changed since the last deltaLink.
    Incremental,
}

/// Where a scan pass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// In progress (possibly across invocations).
    Running,
    /// Finished.
    Completed,
    /// Gave up; see the function's logs.
    Failed,
}

/// Counters of a scan pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanTotals {
    /// Files listed by delta.
    pub files_seen: u64,
    /// Files downloaded and scanned.
    pub scanned: u64,
    /// Files unchanged since their stored result (same cTag).
    pub skipped: u64,
    /// Files of a format the engine does not read.
    pub unsupported: u64,
    /// Files over the size cap.
    pub too_large: u64,
    /// Files that failed to download or scan.
    pub errors: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Total size of the files seen.
    pub bytes_total: u64,
}

/// Files per risk level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskCounts {
    /// Low-risk files.
    pub low: u64,
    /// Medium-risk files.
    pub medium: u64,
    /// High-risk files.
    pub high: u64,
    /// Critical-risk files.
    pub critical: u64,
}

impl RiskCounts {
    /// Counts one file of `risk`.
    pub fn add(&mut self, risk: Risk) {
        let count = match risk {
            Risk::Low => &mut self.low,
            Risk::Medium => &mut self.medium,
            Risk::High => &mut self.high,
            Risk::Critical => &mut self.critical,
        };
        *count += 1;
    }
}

/// The batch record of one scan pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// Scan id.
    pub scan_id: String,
    /// Drive scanned.
    pub drive_id: String,
    /// Full or incremental.
    pub kind: ScanKind,
    /// Where it stands.
    pub status: ScanStatus,
    /// Counters.
    pub totals: ScanTotals,
    /// Files per risk level.
    pub risk_counts: RiskCounts,
    /// Lambda invocations the pass has spanned.
    pub invocations: u32,
    /// Start.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End, once finished.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Wall time from start to end, once finished.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}
