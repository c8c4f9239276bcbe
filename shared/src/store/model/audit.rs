//! Audit events (`AUDIT#<day>`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
