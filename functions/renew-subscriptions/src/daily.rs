//! The daily task: every active drive marked pending (a delta safety pass), and expired
//! subscriptions of connections that are not active retired with a TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use futures::StreamExt as _;
use graphwatch_shared::store::{AuditKind, ConnectionStatus, Subscription};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::run::Run;
use crate::{App, Error, CONCURRENCY};

impl App {
    /// The daily task: every active drive pending, expired subscriptions of connections
    /// that are not active retired (inactive records carry a TTL).
    pub(crate) async fn daily(&self, deadline: SystemTime) -> Result<Value, Error> {
        let started = Instant::now();
        let run = Run::new(deadline);
        let now = OffsetDateTime::now_utc();
        let drives = self.store.active_drives().await?;
        let marked = AtomicU64::new(0);
        let failures = Mutex::new(Vec::new());
        futures::stream::iter(drives)
            .for_each_concurrent(CONCURRENCY, |drive| {
                let (marked, failures) = (&marked, &failures);
                async move {
                    match self.store.mark_drive_pending(&drive.drive_id, 0, now).await {
                        Ok(_) => {
                            marked.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.lock().unwrap_or_else(|p| p.into_inner()).push(e),
                    }
                }
            })
            .await;
        let mut retired = 0u64;
        let mut status: HashMap<(String, String), bool> = HashMap::new();
        for sub in self.store.subscriptions_expiring_before(now).await? {
            if !run.has_budget() {
                break;
            }
            let key = (sub.tenant_id.clone(), sub.user_oid.clone());
            let active = match status.get(&key) {
                Some(active) => *active,
                None => {
                    let active = self
                        .store
                        .get_connection(&key.0, &key.1)
                        .await?
                        .is_some_and(|c| c.status == ConnectionStatus::Active);
                    status.insert(key, active);
                    active
                }
            };
            // an active connection's expired subscription is recreated by the renewal run
            if active {
                continue;
            }
            let retired_sub = Subscription {
                active: false,
                version: sub.version + 1,
                ..sub.clone()
            };
            if self
                .store
                .replace_subscription_if_version(&retired_sub, sub.version, now)
                .await?
            {
                retired += 1;
                run.audit
                    .record(
                        &self.store,
                        AuditKind::SubscriptionRemoved,
                        &sub.id,
                        "expired while its connection was not active".into(),
                    )
                    .await;
            }
        }
        run.audit.flush(&self.store).await;
        if let Some(e) = failures.into_inner().unwrap_or_else(|p| p.into_inner()).pop() {
            return Err(e.into());
        }
        let drives_marked = marked.load(Ordering::Relaxed);
        let duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(drives_marked, retired, duration_ms, "daily summary");
        Ok(json!({ "drives_marked": drives_marked, "retired": retired, "duration_ms": duration_ms }))
    }
}
