//! The scheduled renewal run: the due list (active subscriptions inside their renewal
//! window, soonest first), tenants taking turns, [`CONCURRENCY`] at a time, and no new work
//! once less than [`RESERVE`] of the invocation is left. [`Run`] is the state one invocation
//! shares between its tasks (a renewal run's, a stream batch's or the daily task's).

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use futures::StreamExt as _;
use graphwatch_shared::store::{Subscription, SubscriptionAction};
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::AuditQueue;
use crate::operations::{Op, Transient};
use crate::summary::{Outcome, Summary};
use crate::tokens::Tokens;
use crate::{renewal_window, App, Error, CONCURRENCY, MIN_WINDOW, RESERVE};

/// The longest maximum lifetime Graph grants (drive roots and lists): bounds the index query.
const LONGEST_LIFETIME: time::Duration = time::Duration::minutes(42_300);

/// State of one invocation: its claim owner, tokens per connection, audit queue, counters.
pub(crate) struct Run {
    /// Owner of the claims this invocation takes.
    pub(crate) owner: String,
    deadline: SystemTime,
    /// Access tokens, one redemption per connection.
    pub(crate) tokens: Tokens,
    /// Audit events not written yet.
    pub(crate) audit: AuditQueue,
    /// Counters.
    pub(crate) summary: Summary,
}

impl Run {
    /// The state of an invocation ending at `deadline`.
    pub(crate) fn new(deadline: SystemTime) -> Self {
        Self {
            owner: uuid::Uuid::new_v4().to_string(),
            deadline,
            tokens: Tokens::default(),
            audit: AuditQueue::default(),
            summary: Summary::default(),
        }
    }

    /// Whether new work may start: more than [`RESERVE`] of the invocation is left.
    pub(crate) fn has_budget(&self) -> bool {
        self.deadline
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > RESERVE)
    }
}

impl App {
    /// The scheduled run: renews everything inside its window, soonest first.
    pub(crate) async fn renewal_run(&self, deadline: SystemTime) -> Result<Value, Error> {
        let started = Instant::now();
        let run = Run::new(deadline);
        let now = OffsetDateTime::now_utc();
        let candidates = self
            .store
            .subscriptions_due(now + LONGEST_LIFETIME / 4_i32, now)
            .await?;
        let due: Vec<Subscription> = candidates
            .into_iter()
            .filter(|s| {
                // unknown lifetimes are renewed (and fail, visibly) when an hour is left
                let window = renewal_window(&s.resource).unwrap_or(MIN_WINDOW);
                s.expiration < now + window
            })
            .collect();
        futures::stream::iter(interleave_tenants(due))
            .for_each_concurrent(CONCURRENCY, |sub| {
                let run = &run;
                async move {
                    let outcome = if run.has_budget() {
                        self.due_one(run, sub).await
                    } else {
                        Outcome::Deferred
                    };
                    run.summary.count(outcome);
                }
            })
            .await;
        run.audit.flush(&self.store).await;
        Ok(run.summary.finish("renewal", started))
    }

    /// One subscription of a renewal run: recreated when a `recreate` is pending, else renewed.
    async fn due_one(&self, run: &Run, sub: Subscription) -> Outcome {
        let id = sub.id.clone();
        let result = if sub.action == Some(SubscriptionAction::Recreate) {
            self.act(run, sub, Op::Recreate).await
        } else {
            self.act(run, sub, Op::Renew).await
        };
        result.unwrap_or_else(|Transient(e)| {
            tracing::warn!(subscription_id = %id, error = %e, "left for the next run");
            Outcome::Deferred
        })
    }
}

/// Reorders subscriptions (soonest expiry first) so that tenants take turns: one tenant's
/// exhausted write limit then holds back few of the tasks in flight.
fn interleave_tenants(subs: Vec<Subscription>) -> Vec<Subscription> {
    let mut order: Vec<String> = Vec::new();
    let mut queues: HashMap<String, VecDeque<Subscription>> = HashMap::new();
    let total = subs.len();
    for sub in subs {
        if !queues.contains_key(&sub.tenant_id) {
            order.push(sub.tenant_id.clone());
        }
        queues.entry(sub.tenant_id.clone()).or_default().push_back(sub);
    }
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for tenant in &order {
            if let Some(sub) = queues.get_mut(tenant).and_then(|q| q.pop_front()) {
                out.push(sub);
            }
        }
    }
    out
}
