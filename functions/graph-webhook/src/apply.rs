//! The apply step of a delivery: carries a [`Plan`] out against the table and counts what
//! the writes tell. First the plan's `SEEN#` dedupe marks are taken, then every effect still
//! due is written, [`WRITE_CONCURRENCY`] at a time. A failed write is counted (the delivery
//! is answered 503 and Graph retries it) and the fresh dedupe marks that effect depended on
//! are forgotten, so that the retry is not taken for a redelivery.

use std::collections::HashSet;

use futures::stream::{self, StreamExt};
use graphwatch_shared::store::{AuditEvent, AuditKind, PendingMark, Store, StoreError};
use time::OffsetDateTime;

use crate::plan::{Effect, Outcome, Plan};

/// Writes in flight at once while recording a delivery.
const WRITE_CONCURRENCY: usize = 32;

/// What an applied [`Effect`] did.
enum Applied {
    /// A drive was marked; `true` when it went from idle to pending.
    DriveMarked(bool),
    /// A record was written (`fresh`) or was already kept (a redelivery).
    Recorded { fresh: bool, change: bool },
    /// Any other effect.
    Done,
}

/// Applies `plan` and returns its counts completed with what the writes told.
pub(crate) async fn apply(store: &Store, plan: Plan) -> Outcome {
    let Plan {
        now,
        dedupe_marks,
        effects,
        counts: mut out,
    } = plan;

    let taken: Vec<(String, Result<bool, StoreError>)> = stream::iter(dedupe_marks)
        .map(|key| async move {
            let taken = store.remember_notification(&key, now).await;
            (key, taken)
        })
        .buffered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut fresh = HashSet::new();
    for (key, taken) in taken {
        match taken {
            Ok(true) => {
                out.accepted += 1;
                fresh.insert(key);
            }
            Ok(false) => out.duplicates += 1,
            Err(e) => {
                tracing::error!(error = %e, "cannot record dedupe key");
                out.failed_writes += 1;
            }
        }
    }

    let results: Vec<_> = stream::iter(effects.into_iter().filter_map(|effect| due(effect, &fresh)))
        .map(|(effect, marks)| async move { (write(store, effect, now).await, marks) })
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    for (result, marks) in results {
        match result {
            Ok(Applied::DriveMarked(marked)) => out.drives_marked += usize::from(marked),
            Ok(Applied::Recorded {
                fresh: true,
                change: true,
            }) => out.accepted += 1,
            Ok(Applied::Recorded {
                fresh: false,
                change: true,
            }) => out.duplicates += 1,
            Ok(Applied::Recorded { change: false, .. } | Applied::Done) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot record notification effect");
                out.failed_writes += 1;
                for key in marks {
                    if let Err(e) = store.forget_notification(&key).await {
                        tracing::error!(error = %e, "cannot forget dedupe key of a failed effect");
                    }
                }
            }
        }
    }
    out
}

/// The effect as due once the dedupe marks are taken, with the fresh marks it depends on;
/// `None` when they leave it nothing to do (every change behind it was a redelivery).
fn due(effect: Effect, fresh: &HashSet<String>) -> Option<(Effect, Vec<String>)> {
    match effect {
        Effect::MarkDrivePending { drive_id, count, marks } => {
            let marks: Vec<String> = marks.into_iter().filter(|key| fresh.contains(key)).collect();
            let count = count + marks.len() as u64;
            let effect = Effect::MarkDrivePending {
                drive_id,
                count,
                marks: Vec::new(),
            };
            (count > 0).then_some((effect, marks))
        }
        Effect::StampSubscription { ref marks, .. }
            if !marks.is_empty() && !marks.iter().any(|key| fresh.contains(key)) =>
        {
            None
        }
        effect => Some((effect, Vec::new())),
    }
}

/// Writes one effect.
async fn write(store: &Store, effect: Effect, now: OffsetDateTime) -> Result<Applied, StoreError> {
    match effect {
        Effect::MarkDrivePending { drive_id, count, .. } => {
            match store.mark_drive_pending(&drive_id, count, now).await? {
                PendingMark::Marked => Ok(Applied::DriveMarked(true)),
                PendingMark::AlreadyPending => Ok(Applied::DriveMarked(false)),
                PendingMark::UnknownDrive => {
                    tracing::warn!(drive = %drive_id, "notification for a drive that is not registered");
                    Ok(Applied::DriveMarked(false))
                }
            }
        }
        Effect::PutNotificationRecord { record, change } => {
            let fresh = store.put_notification_record(&record).await?;
            Ok(Applied::Recorded { fresh, change })
        }
        Effect::SetSubscriptionAction {
            subscription_id,
            action,
        } => {
            store.set_subscription_action(&subscription_id, action, now).await?;
            Ok(Applied::Done)
        }
        Effect::StampSubscription { subscription_id, .. } => {
            store.stamp_subscription_notification(&subscription_id, now).await?;
            Ok(Applied::Done)
        }
        Effect::AuditRejection { subject, detail } => {
            let event = AuditEvent {
                at: now,
                kind: AuditKind::NotificationRejected,
                subject,
                detail,
            };
            // a lost audit line is no reason for Graph to redeliver
            if let Err(e) = store.audit(&event).await {
                tracing::error!(error = %e, "cannot audit rejected notifications");
            }
            Ok(Applied::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(count: u64, marks: &[&str]) -> Effect {
        Effect::MarkDrivePending {
            drive_id: "b!d".into(),
            count,
            marks: marks.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn stamp(marks: &[&str]) -> Effect {
        Effect::StampSubscription {
            subscription_id: "s".into(),
            marks: marks.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn fresh_marks_count_and_are_forgotten_if_the_write_fails() {
        let fresh: HashSet<String> = ["k1".to_owned(), "k3".to_owned()].into();
        assert_eq!(
            due(mark(2, &["k1", "k2", "k3"]), &fresh),
            Some((mark(4, &[]), vec!["k1".to_owned(), "k3".to_owned()]))
        );
        assert_eq!(due(mark(1, &["k2"]), &fresh), Some((mark(1, &[]), vec![])));
        assert_eq!(due(mark(0, &["k2"]), &fresh), None, "only redeliveries: no mark");
    }

    #[test]
    fn a_stamp_that_depends_on_marks_needs_one_fresh() {
        let fresh: HashSet<String> = ["k1".to_owned()].into();
        assert_eq!(due(stamp(&[]), &fresh), Some((stamp(&[]), vec![])));
        assert_eq!(due(stamp(&["k2", "k1"]), &fresh), Some((stamp(&["k2", "k1"]), vec![])));
        assert_eq!(due(stamp(&["k2"]), &fresh), None);
    }
}
