//! Graph subscriptions (`SUB#<id>`) and the kept notifications of non-drive resources.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
