//! What a renewal run or a stream batch did: one outcome per subscription, counted, and
//! logged as one summary line that is also the invocation's answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{json, Value};

/// What happened to one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Renewed (or adopted from Graph on a recreate's 409).
    Renewed,
    /// Replaced by a new subscription.
    Recreated,
    /// Reauthorized.
    Reauthorized,
    /// Rejected by Graph: recorded on the item, retried later with backoff.
    Failed,
    /// Its connection needs the user's consent again.
    NeedsConsent,
    /// Not attempted or transiently failed: left for the next run (or stream retry).
    Deferred,
    /// Nothing to do (done by another run, or the 10-minute rule).
    Skipped,
}

/// Counters of one invocation, logged in one summary line.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    renewed: AtomicU64,
    recreated: AtomicU64,
    reauthorized: AtomicU64,
    failed: AtomicU64,
    needs_consent: AtomicU64,
    remaining: AtomicU64,
    skipped: AtomicU64,
    /// Connections whose consent loss this invocation recorded.
    pub(crate) consent_lost: AtomicU64,
}

impl Summary {
    /// Counts one subscription's outcome.
    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Renewed => &self.renewed,
            Outcome::Recreated => &self.recreated,
            Outcome::Reauthorized => &self.reauthorized,
            Outcome::Failed => &self.failed,
            Outcome::NeedsConsent => &self.needs_consent,
            Outcome::Deferred => &self.remaining,
            Outcome::Skipped => &self.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Logs the summary line and returns it as JSON.
    pub(crate) fn finish(&self, kind: &str, started: Instant) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            run = kind,
            renewed = get(&self.renewed),
            recreated = get(&self.recreated),
            reauthorized = get(&self.reauthorized),
            failed = get(&self.failed),
            needs_consent = get(&self.needs_consent),
            remaining = get(&self.remaining),
            skipped = get(&self.skipped),
            consent_lost = get(&self.consent_lost),
            duration_ms,
            "renewal summary"
        );
        json!({
            "renewed": get(&self.renewed),
            "recreated": get(&self.recreated),
            "reauthorized": get(&self.reauthorized),
            "failed": get(&self.failed),
            "needs_consent": get(&self.needs_consent),
            "remaining": get(&self.remaining),
            "skipped": get(&self.skipped),
            "consent_lost": get(&self.consent_lost),
            "duration_ms": duration_ms,
        })
    }
}
