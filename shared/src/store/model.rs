//! The records kept in the table. Keys and index attributes are added by the store, so
//! these are plain data; timestamps are RFC 3339 text.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// State of a connected Microsoft 365 account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Tokens work; subscriptions are kept alive.
    Active,
    /// The refresh token was refused (revoked or expired): the user must sign in again.
    NeedsConsent,
    /// Disconnected on purpose.
    Revoked,
}

/// A connected account, keyed by tenant id and user object id (never by e-mail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Tenant id (`tid`).
    pub tenant_id: String,
    /// User object id (`oid`).
    pub user_oid: String,
    /// Display name from the ID token.
    pub display_name: String,
    /// Sign-in name (`preferred_username`), for people to read only.
    pub username: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The refresh token, sealed with [`crate::crypt::Sealer`].
    pub sealed_refresh_token: String,
    /// Current state.
    pub status: ConnectionStatus,
    /// First connected.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Connection {
    /// The context sealed values of this connection are bound to.
    pub fn seal_context(&self) -> String {
        seal_context(&self.tenant_id, &self.user_oid)
    }
}

/// The context a connection's sealed values are bound to.
pub fn seal_context(tenant_id: &str, user_oid: &str) -> String {
    format!("CONN#{tenant_id}#{user_oid}")
}

/// Everything filed under one connection.
#[derive(Debug, Default)]
pub struct ConnectionItems {
    /// Its subscriptions, active or retired.
    pub subscriptions: Vec<Subscription>,
    /// Its drives.
    pub drives: Vec<Drive>,
}

/// A sign-in in progress: what `/connect` created and `/oauth/callback` consumes once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// The random `state` value.
    pub state: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// OpenID Connect nonce expected in the ID token.
    pub nonce: String,
    /// Same-site path to return to after sign-in.
    pub return_to: Option<String>,
    /// Unix time after which the state is refused (also its TTL).
    pub expires_at: i64,
}

/// What the renewal function is asked to do with a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionAction {
    /// Renew now.
    Renew,
    /// `POST /subscriptions/{id}/reauthorize` (lifecycle `reauthorizationRequired`).
    Reauthorize,
    /// Create a new subscription and delta-sync the gap (`subscriptionRemoved` or 404).
    Recreate,
}

/// A Graph change-notification subscription we own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Graph's subscription id.
    pub id: String,
    /// Tenant of the owning connection.
    pub tenant_id: String,
    /// User object id of the owning connection.
    pub user_oid: String,
    /// Subscribed resource, e.g. `/drives/{id}/root`.
    pub resource: String,
    /// Change types, e.g. `updated`.
    pub change_type: String,
    /// Drive the resource belongs to, for drive subscriptions.
    pub drive_id: Option<String>,
    /// Where Graph delivers change notifications.
    pub notification_url: String,
    /// Where Graph delivers lifecycle notifications.
    pub lifecycle_notification_url: Option<String>,
    /// Hex SHA-256 of the subscription's clientState (the value itself is never stored).
    pub client_state_sha256: String,
    /// When Graph will drop the subscription unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// `false` once retired (replaced, removed or disconnected).
    pub active: bool,
    /// Latest notification received.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_notification_at: Option<OffsetDateTime>,
    /// Latest successful renewal.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_renewed_at: Option<OffsetDateTime>,
    /// Latest successful reauthorization.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_reauthorized_at: Option<OffsetDateTime>,
    /// Consecutive failed renewals.
    #[serde(default)]
    pub renewal_failures: u32,
    /// Latest failure, for operators.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Pending request for the renewal function.
    #[serde(default)]
    pub action: Option<SubscriptionAction>,
    /// Optimistic-concurrency version, bumped by every write.
    #[serde(default)]
    pub version: u64,
}

/// What [`crate::store::Store::mark_drive_pending`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingMark {
    /// The drive went from idle to pending: the scanner wakes.
    Marked,
    /// The drive was already pending: the notification joined the waiting work.
    AlreadyPending,
    /// No such drive.
    UnknownDrive,
}

/// A kept change notification of a non-drive resource, for consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Subscription it arrived on.
    pub subscription_id: String,
    /// Its dedupe key (hex SHA-256 of its identity).
    pub dedupe_key: String,
    /// Change type (`created`, `updated`, `deleted`) or lifecycle event (`missed`).
    pub change_type: String,
    /// Changed resource.
    pub resource: String,
    /// Id of the changed item, when Graph sent one.
    pub resource_id: Option<String>,
    /// Tenant.
    pub tenant_id: String,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

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

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A new account connected.
    Connected,
    /// A known account signed in again.
    Reconnected,
    /// An account was disconnected.
    Disconnected,
    /// A subscription was created.
    SubscriptionCreated,
    /// A subscription was renewed.
    SubscriptionRenewed,
    /// A subscription was reauthorized.
    SubscriptionReauthorized,
    /// A subscription was replaced by a new one.
    SubscriptionRecreated,
    /// A subscription was removed or retired.
    SubscriptionRemoved,
    /// A subscription operation failed.
    SubscriptionFailed,
    /// A notification was not acted on (forged, unknown, cross-tenant).
    NotificationRejected,
    /// A refresh token was refused: the user must consent again.
    ConsentLost,
}

/// One audit trail entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What.
    pub kind: AuditKind,
    /// What it concerns (connection key, subscription id, ...).
    pub subject: String,
    /// Details for people (never secrets or tokens).
    pub detail: String,
}

#[cfg(test)]
mod tests {
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
