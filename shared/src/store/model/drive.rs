//! Drives (`DRIVE#<driveId>`): the scanner's work queue, lease and checkpoint.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A drive being watched and scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drive {
    /// Graph drive id.
    pub drive_id: String,
    /// Tenant of the owning connection.
    pub tenant_id: String,
    /// User object id of the owning connection.
    pub user_oid: String,
    /// Still watched.
    pub active: bool,
    /// Work is waiting: the stream wakes the scanner.
    #[serde(default)]
    pub pending: bool,
    /// Where the next incremental pass starts; none means a full scan.
    #[serde(default)]
    pub delta_link: Option<String>,
    /// Where an interrupted pass resumes (a delta `nextLink`).
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Scan record of the pass in progress.
    #[serde(default)]
    pub current_scan_id: Option<String>,
    /// Who holds the scan lease.
    #[serde(default)]
    pub lease_owner: Option<String>,
    /// Unix time the lease ends.
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// Notifications received for the drive.
    #[serde(default)]
    pub notification_count: u64,
    /// Latest notification received.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_notification_at: Option<OffsetDateTime>,
    /// End of the latest completed pass.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_pass_at: Option<OffsetDateTime>,
}
