//! The decide step of a delivery: the notifications, the subscriptions they name and the
//! time → the [`Plan`] of writes that records them. Pure (no I/O, no async, no AWS), so the
//! whole policy of the webhook reads here and `tests/plan.rs` checks it from JSON fixtures:
//! which notification is acted on, what each one writes, what is deduplicated, what is
//! counted. [`crate::apply`] carries a plan out against the table.
//!
//! What only the table can tell is left to the apply step, and the plan says how it bears
//! on the effects: whether a drive change's `SEEN#` dedupe mark is fresh (a redelivery of an
//! earlier delivery finds it taken) and whether a notification record was already kept.
//! Redeliveries within one delivery are plain to see and never reach the table.

use std::collections::{BTreeMap, HashMap, HashSet};

use graphwatch_shared::notify::{self, ChangeNotification, LifecycleEvent, NotificationBatch};
use graphwatch_shared::store::{NotificationRecord, Subscription, SubscriptionAction};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// A subscription's `lastNotificationAt` is written at most this often: it tells operators
/// whether a subscription still receives changes, and a busy one would otherwise cost a write
/// per delivery.
pub const STAMP_INTERVAL: time::Duration = time::Duration::minutes(1);

/// Rejected notifications a delivery's one audit item names; the rest are only counted. The
/// webhook is a public endpoint: a forged delivery of thousands of notifications costs one
/// audit write, however many it holds.
pub const AUDITED_REJECTIONS: usize = 5;

/// Characters kept of each forged value (subscription id, tenant, resource) an audit quotes.
const AUDITED_CHARS: usize = 64;

/// Why a notification was not acted on; serialised as its audit name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RejectReason {
    /// No subscription with that id is ours.
    UnknownSubscription,
    /// The clientState does not match the subscription's.
    ClientState,
    /// The tenant is not the subscription's connection's tenant.
    Tenant,
    /// A rich notification's validation token failed a check (the whole batch is refused).
    ValidationToken,
}

impl RejectReason {
    /// The name audit details start with.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownSubscription => "unknown_subscription",
            Self::ClientState => "client_state_mismatch",
            Self::Tenant => "tenant_mismatch",
            Self::ValidationToken => "validation_token_invalid",
        }
    }
}

impl Serialize for RejectReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What one delivery did; logged as one line per request.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Change notifications recorded.
    pub accepted: usize,
    /// Redeliveries of notifications already recorded.
    pub duplicates: usize,
    /// Lifecycle events recorded.
    pub lifecycle: usize,
    /// Drives that went from idle to pending.
    pub drives_marked: usize,
    /// Notifications not acted on, by reason.
    pub rejected_unknown_subscription: usize,
    /// See [`RejectReason::ClientState`].
    pub rejected_client_state: usize,
    /// See [`RejectReason::Tenant`].
    pub rejected_tenant: usize,
    /// See [`RejectReason::ValidationToken`].
    pub rejected_validation_token: usize,
    /// Writes that failed: the delivery is answered 503 so Graph retries it.
    pub failed_writes: usize,
}

impl Outcome {
    /// A delivery that could not be looked at (its subscriptions or the keys its validation
    /// tokens need could not be read): answered 503 so Graph retries it.
    pub fn retry() -> Self {
        Self {
            failed_writes: 1,
            ..Self::default()
        }
    }

    fn reject(&mut self, reason: RejectReason) {
        match reason {
            RejectReason::UnknownSubscription => self.rejected_unknown_subscription += 1,
            RejectReason::ClientState => self.rejected_client_state += 1,
            RejectReason::Tenant => self.rejected_tenant += 1,
            RejectReason::ValidationToken => self.rejected_validation_token += 1,
        }
    }
}

/// What a delivery is to write, decided before any write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The time every write records.
    #[serde(skip)]
    pub now: OffsetDateTime,
    /// `SEEN#` dedupe marks to take before any effect, one per distinct drive change that
    /// carries an item identity. A mark found taken is a redelivery (counted a duplicate), a
    /// fresh one an accepted change; effects name the marks they depend on.
    pub dedupe_marks: Vec<String>,
    /// The writes, applied concurrently once the marks are taken.
    pub effects: Vec<Effect>,
    /// What is known before any write: rejections, lifecycle events, redeliveries within the
    /// delivery, drive changes that need no mark. The apply step adds what the writes tell.
    pub counts: Outcome,
}

/// One write of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// `mark_drive_pending` for `count` notifications plus one for each of `marks` found
    /// fresh; nothing when that makes none. The fresh marks are forgotten if the write fails,
    /// so that Graph's retry of the delivery is not taken for a redelivery.
    MarkDrivePending {
        /// The drive.
        drive_id: String,
        /// Changes without an item identity and `missed` events: they always count.
        count: u64,
        /// Dedupe marks of changes that count only when fresh.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        marks: Vec<String>,
    },
    /// Keep a notification record of a non-drive resource, written only if absent: the
    /// record is its own dedupe mark.
    PutNotificationRecord {
        /// The record.
        record: NotificationRecord,
        /// A change (counted accepted, or a duplicate when already kept); a `missed` event's
        /// record is counted as a lifecycle event instead.
        change: bool,
    },
    /// Ask the renewal function to act, as a lifecycle event requested.
    SetSubscriptionAction {
        /// The subscription.
        subscription_id: String,
        /// What to do.
        action: SubscriptionAction,
    },
    /// Stamp a subscription's `lastNotificationAt` (due once [`STAMP_INTERVAL`] has passed).
    StampSubscription {
        /// The subscription.
        subscription_id: String,
        /// When not empty, its changes all carry dedupe marks: stamped only if one is fresh.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        marks: Vec<String>,
    },
    /// Audit `notification_rejected`, once per delivery (subject `BATCH`): the count per
    /// reason and the first [`AUDITED_REJECTIONS`] notifications, their values truncated,
    /// never the presented clientState. A failed audit is logged and does not change the answer.
    AuditRejection {
        /// `BATCH`.
        subject: String,
        /// What was rejected and why.
        detail: String,
    },
}

/// The plan for a delivery whose validation tokens passed (or that carried none), given the
/// subscriptions it names as read from the table (absent ones are unknown).
pub fn plan(batch: &NotificationBatch, subscriptions: &HashMap<String, Subscription>, now: OffsetDateTime) -> Plan {
    let mut planner = Planner::new(now);
    for (position, n) in batch.value.iter().enumerate() {
        match check(n, subscriptions.get(&n.subscription_id)) {
            Err(reason) => planner.reject(n, reason),
            Ok(sub) => match n.lifecycle_event {
                Some(event) => planner.lifecycle(n, sub, event, position),
                None => planner.change(n, sub, position),
            },
        }
    }
    planner.finish()
}

/// The plan for a delivery refused because a validation token failed `check`: nothing is
/// acted on, and one audit event covers the batch.
pub fn refused(batch: &NotificationBatch, check: &str, now: OffsetDateTime) -> Plan {
    let reason = RejectReason::ValidationToken;
    Plan {
        now,
        dedupe_marks: Vec::new(),
        effects: vec![Effect::AuditRejection {
            subject: "BATCH".into(),
            detail: format!(
                "{}: check {check}, {} notifications",
                reason.as_str(),
                batch.value.len()
            ),
        }],
        counts: Outcome {
            rejected_validation_token: batch.value.len(),
            ..Outcome::default()
        },
    }
}

/// A plan being built, one notification at a time.
struct Planner<'a> {
    now: OffsetDateTime,
    counts: Outcome,
    dedupe_marks: Vec<String>,
    /// Records and actions, in delivery order.
    effects: Vec<Effect>,
    /// Dedupe keys met so far: a key met again is a redelivery within the delivery.
    keys: HashSet<String>,
    /// Per drive: notifications that always count, and dedupe marks that count when fresh.
    drives: BTreeMap<&'a str, (u64, Vec<String>)>,
    /// Per subscription due a stamp: the marks it depends on (`None`: stamped whatever).
    stamps: BTreeMap<&'a str, Option<Vec<String>>>,
    /// The first rejected notifications, described for the delivery's audit item.
    rejected: Vec<String>,
}

impl<'a> Planner<'a> {
    fn new(now: OffsetDateTime) -> Self {
        Self {
            now,
            counts: Outcome::default(),
            dedupe_marks: Vec::new(),
            effects: Vec::new(),
            keys: HashSet::new(),
            drives: BTreeMap::new(),
            stamps: BTreeMap::new(),
            rejected: Vec::new(),
        }
    }

    fn reject(&mut self, n: &ChangeNotification, reason: RejectReason) {
        self.counts.reject(reason);
        if self.rejected.len() < AUDITED_REJECTIONS {
            self.rejected.push(format!(
                "SUB#{} {} (tenant {:?}, resource {:?})",
                truncated(&n.subscription_id),
                reason.as_str(),
                truncated(n.tenant_id.as_deref().unwrap_or("")),
                truncated(n.resource.as_deref().unwrap_or(""))
            ));
        }
    }

    fn lifecycle(&mut self, n: &ChangeNotification, sub: &'a Subscription, event: LifecycleEvent, position: usize) {
        self.counts.lifecycle += 1;
        let action = |action| Effect::SetSubscriptionAction {
            subscription_id: sub.id.clone(),
            action,
        };
        match event {
            LifecycleEvent::ReauthorizationRequired => self.effects.push(action(SubscriptionAction::Reauthorize)),
            LifecycleEvent::SubscriptionRemoved => self.effects.push(action(SubscriptionAction::Recreate)),
            // notifications were lost: a delta pass of the drive covers the gap
            LifecycleEvent::Missed => match drive_of(sub) {
                Some(drive_id) => self.drives.entry(drive_id).or_default().0 += 1,
                None => self.effects.push(Effect::PutNotificationRecord {
                    record: record(n, sub, "missed", None, position, self.now),
                    change: false,
                }),
            },
            LifecycleEvent::Unknown => tracing::info!(subscription = %sub.id, "unknown lifecycle event ignored"),
        }
    }

    fn change(&mut self, n: &ChangeNotification, sub: &'a Subscription, position: usize) {
        let key = n.dedupe_key();
        if let Some(key) = &key {
            if !self.keys.insert(key.clone()) {
                self.counts.duplicates += 1;
                return;
            }
        }
        // Drive changes with an item identity are deduplicated with a dedupe mark; other drive
        // changes need none (marking pending is idempotent); changes of other resources are
        // kept as records that are their own dedupe marks.
        let mark = match drive_of(sub) {
            Some(drive_id) => {
                let drive = self.drives.entry(drive_id).or_default();
                match key {
                    Some(key) => {
                        drive.1.push(key.clone());
                        self.dedupe_marks.push(key.clone());
                        Some(key)
                    }
                    None => {
                        drive.0 += 1;
                        self.counts.accepted += 1;
                        None
                    }
                }
            }
            None => {
                let change_type = n.change_type.as_deref().unwrap_or("updated");
                self.effects.push(Effect::PutNotificationRecord {
                    record: record(n, sub, change_type, key, position, self.now),
                    change: true,
                });
                None
            }
        };
        if sub
            .last_notification_at
            .is_none_or(|last| self.now - last >= STAMP_INTERVAL)
        {
            let marks = self.stamps.entry(sub.id.as_str()).or_insert_with(|| Some(Vec::new()));
            match (marks, mark) {
                (Some(marks), Some(mark)) => marks.push(mark),
                (marks, None) => *marks = None,
                (None, Some(_)) => {}
            }
        }
    }

    fn finish(self) -> Plan {
        let mut effects = self.effects;
        effects.extend(
            self.drives
                .into_iter()
                .map(|(drive_id, (count, marks))| Effect::MarkDrivePending {
                    drive_id: drive_id.to_owned(),
                    count,
                    marks,
                }),
        );
        effects.extend(self.stamps.into_iter().map(|(id, marks)| Effect::StampSubscription {
            subscription_id: id.to_owned(),
            marks: marks.unwrap_or_default(),
        }));
        let rejections = [
            (
                RejectReason::UnknownSubscription,
                self.counts.rejected_unknown_subscription,
            ),
            (RejectReason::ClientState, self.counts.rejected_client_state),
            (RejectReason::Tenant, self.counts.rejected_tenant),
        ];
        let total: usize = rejections.iter().map(|(_, n)| n).sum();
        if total > 0 {
            let per_reason: Vec<String> = rejections
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(reason, n)| format!("{} {n}", reason.as_str()))
                .collect();
            let unnamed = total - self.rejected.len();
            let more = if unnamed > 0 {
                format!("; and {unnamed} more")
            } else {
                String::new()
            };
            effects.push(Effect::AuditRejection {
                subject: "BATCH".into(),
                detail: format!("{}: {}{more}", per_reason.join(", "), self.rejected.join("; ")),
            });
        }
        Plan {
            now: self.now,
            dedupe_marks: self.dedupe_marks,
            effects,
            counts: self.counts,
        }
    }
}

/// At most [`AUDITED_CHARS`] characters of a value a forger chose.
fn truncated(value: &str) -> String {
    match value.char_indices().nth(AUDITED_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// The subscription a notification may act on, or why not.
fn check<'a>(n: &ChangeNotification, sub: Option<&'a Subscription>) -> Result<&'a Subscription, RejectReason> {
    let sub = sub.ok_or(RejectReason::UnknownSubscription)?;
    if !notify::client_state_matches(n.client_state.as_deref(), &sub.client_state_sha256) {
        return Err(RejectReason::ClientState);
    }
    if n.tenant_id.as_deref() != Some(sub.tenant_id.as_str()) {
        return Err(RejectReason::Tenant);
    }
    Ok(sub)
}

/// The drive a subscription watches, if it is a drive subscription.
fn drive_of(sub: &Subscription) -> Option<&str> {
    sub.drive_id.as_deref().or_else(|| notify::drive_id_of(&sub.resource))
}

/// The record kept for a notification of a non-drive resource. Without an item identity
/// (`key`), the record gets a key of its own from the time and its position in the
/// delivery: such notifications cannot be deduplicated.
fn record(
    n: &ChangeNotification,
    sub: &Subscription,
    change_type: &str,
    key: Option<String>,
    position: usize,
    now: OffsetDateTime,
) -> NotificationRecord {
    NotificationRecord {
        subscription_id: sub.id.clone(),
        dedupe_key: key.unwrap_or_else(|| format!("{change_type}-{}-{position}", now.unix_timestamp_nanos())),
        change_type: change_type.to_owned(),
        resource: n.resource.clone().unwrap_or_else(|| sub.resource.clone()),
        resource_id: n.resource_id().map(str::to_owned),
        tenant_id: sub.tenant_id.clone(),
        received_at: now,
    }
}
