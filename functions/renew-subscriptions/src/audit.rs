//! Audit events of one invocation, written in batches: a renewal run may touch thousands of
//! subscriptions, and one `BatchWriteItem` of 25 costs what one put does. A failure to write
//! is logged, never fatal: the work it records is done.

use std::sync::Mutex;

use graphwatch_shared::store::{AuditEvent, AuditKind, Store};
use time::OffsetDateTime;

/// Audit events written per batch (DynamoDB's `BatchWriteItem` limit).
const AUDIT_BATCH: usize = 25;

/// Audit events queued and not written yet.
#[derive(Default)]
pub(crate) struct AuditQueue(Mutex<Vec<AuditEvent>>);

impl AuditQueue {
    /// Queues an audit event, writing the queue once it holds [`AUDIT_BATCH`].
    pub(crate) async fn record(&self, store: &Store, kind: AuditKind, subject: &str, detail: String) {
        let batch = {
            let mut queued = self.0.lock().unwrap_or_else(|p| p.into_inner());
            queued.push(AuditEvent {
                at: OffsetDateTime::now_utc(),
                kind,
                subject: subject.to_owned(),
                detail,
            });
            if queued.len() < AUDIT_BATCH {
                return;
            }
            std::mem::take(&mut *queued)
        };
        write(store, &batch).await;
    }

    /// Writes the events still queued at the end of an invocation.
    pub(crate) async fn flush(&self, store: &Store) {
        let batch = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        write(store, &batch).await;
    }
}

async fn write(store: &Store, events: &[AuditEvent]) {
    if let Err(e) = store.audit_many(events).await {
        tracing::warn!(error = %e, events = events.len(), "audit events not written");
    }
}
