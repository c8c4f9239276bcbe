//! One subscription, one Graph operation: claim it (a conditional write on its version, so
//! concurrent runs never make the same call), renew / reauthorize / recreate it, and write the
//! result back. A `404` on renew or reauthorize recreates; a rejection is recorded on the item
//! with exponential backoff; a transient failure gives the claim back for a later try.

use graphwatch_shared::graph::{self, GraphError, NewSubscription};
use graphwatch_shared::identity::AccessToken;
use graphwatch_shared::store::{AuditKind, StoreError, Subscription, SubscriptionAction};
use graphwatch_shared::subscriptions::{self, TenantWrites};
use time::OffsetDateTime;

use crate::run::Run;
use crate::summary::Outcome;
use crate::tokens::Access;
use crate::{App, RENEW_REAUTHORIZE_GAP};

/// How long a claim holds a subscription (longer than the Graph calls it covers).
const CLAIM: time::Duration = time::Duration::minutes(5);
/// First wait after a rejected operation; doubled for each further failure.
const FIRST_BACKOFF: time::Duration = time::Duration::minutes(30);
/// Longest wait after rejected operations.
const MAX_BACKOFF: time::Duration = time::Duration::hours(8);
/// Longest `last_error` kept on an item.
const MAX_ERROR_LEN: usize = 300;

/// The Graph operation of [`App::act`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Renew,
    Reauthorize,
    Recreate,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Renew => "renew",
            Self::Reauthorize => "reauthorize",
            Self::Recreate => "recreate",
        }
    }
}

/// A table failure after a Graph call: reported as transient so the work is retried.
fn store_failure(e: StoreError) -> GraphError {
    GraphError::Transient(format!("table: {e}"))
}

/// A transient failure: the work stays for a later run or stream retry.
#[derive(Debug)]
pub(crate) struct Transient(pub(crate) String);

impl From<StoreError> for Transient {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

/// The wait before retrying a subscription that failed `failures` times in a row.
fn backoff(failures: u32) -> time::Duration {
    let doublings = failures.saturating_sub(1).min(8);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

/// The expiration to ask of Graph for a subscription to `resource` made `now`; a rejection
/// (recorded on the item like Graph's own) when graphwatch does not know its lifetime.
fn expiration(resource: &str, now: OffsetDateTime) -> Result<OffsetDateTime, GraphError> {
    graph::subscription_expiration(resource, now).ok_or_else(|| GraphError::Rejected {
        status: 400,
        code: "unknownLifetime".into(),
        message: format!("graphwatch does not know the lifetime of {resource}"),
    })
}

fn truncated(text: &str) -> String {
    text.chars().take(MAX_ERROR_LEN).collect()
}

impl App {
    /// Claims `sub`, makes the Graph call of `op`, and writes the result back.
    pub(crate) async fn act(&self, run: &Run, sub: Subscription, op: Op) -> Result<Outcome, Transient> {
        let now = OffsetDateTime::now_utc();
        let within_gap = |t: Option<OffsetDateTime>| t.is_some_and(|t| now - t < RENEW_REAUTHORIZE_GAP);
        match op {
            Op::Renew if within_gap(sub.last_reauthorized_at) => return Ok(Outcome::Skipped),
            Op::Reauthorize if within_gap(sub.last_renewed_at) => {
                // the recent renewal answered the lifecycle event already
                self.finish(&sub, None, |s| s.action = None).await?;
                return Ok(Outcome::Skipped);
            }
            _ => {}
        }
        let token = match self.access(run, &sub.tenant_id, &sub.user_oid).await {
            Access::Token(token) => token,
            Access::NeedsConsent => return Ok(Outcome::NeedsConsent),
            Access::Unavailable => return Err(Transient("no access token".into())),
        };
        let Some(claimed) = self
            .store
            .claim_subscription(&sub.id, sub.version, &run.owner, now, now + CLAIM)
            .await?
        else {
            return Ok(Outcome::Skipped);
        };
        let writes = self.limiter.tenant(&claimed.tenant_id);
        let result = match op {
            Op::Renew => self
                .renew(run, &claimed, &token, &writes)
                .await
                .map(|_| Outcome::Renewed),
            Op::Reauthorize => self
                .reauthorize(run, &claimed, &token, &writes)
                .await
                .map(|_| Outcome::Reauthorized),
            Op::Recreate => self.recreate(run, &claimed, &token, &writes).await,
        };
        // Graph no longer has it: replace it
        let result = match result {
            Err(GraphError::NotFound { .. }) if op != Op::Recreate => {
                self.recreate(run, &claimed, &token, &writes).await
            }
            other => other,
        };
        match result {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.is_transient() => {
                // give the claim back so a stream retry need not wait for it to expire
                self.finish(&claimed, None, |_| {}).await?;
                Err(Transient(e.to_string()))
            }
            Err(e) => {
                let failures = claimed.renewal_failures + 1;
                let retry_at = now + backoff(failures);
                let error = truncated(&format!("{}: {e}", op.name()));
                tracing::warn!(
                    subscription_id = %claimed.id, failures, error = %error, retry_at = %retry_at,
                    "Graph rejected a subscription operation"
                );
                self.finish(&claimed, Some(retry_at), |s| {
                    s.renewal_failures += 1;
                    s.last_error = Some(error.clone());
                    // the stream does not bring an action back: the renewal runs take over
                    s.action = None;
                })
                .await?;
                run.audit
                    .record(&self.store, AuditKind::SubscriptionFailed, &claimed.id, error.clone())
                    .await;
                Ok(Outcome::Failed)
            }
        }
    }

    /// `PATCH /subscriptions/{id}` to now + the maximum lifetime − the margin.
    async fn renew(
        &self,
        run: &Run,
        claimed: &Subscription,
        token: &AccessToken,
        writes: &TenantWrites,
    ) -> Result<(), GraphError> {
        let now = OffsetDateTime::now_utc();
        let expiration = expiration(&claimed.resource, now)?;
        writes.acquire().await;
        let renewed = self.graph.renew_subscription(token, &claimed.id, expiration).await?;
        self.finish(claimed, None, |s| {
            s.expiration = renewed.expiration_date_time;
            s.last_renewed_at = Some(now);
            s.renewal_failures = 0;
            s.last_error = None;
            // a renewal also answers a pending reauthorization
            if matches!(
                s.action,
                Some(SubscriptionAction::Renew | SubscriptionAction::Reauthorize)
            ) {
                s.action = None;
            }
        })
        .await
        .map_err(store_failure)?;
        run.audit
            .record(
                &self.store,
                AuditKind::SubscriptionRenewed,
                &claimed.id,
                format!("until {}", renewed.expiration_date_time),
            )
            .await;
        Ok(())
    }

    /// `POST /subscriptions/{id}/reauthorize`.
    async fn reauthorize(
        &self,
        run: &Run,
        claimed: &Subscription,
        token: &AccessToken,
        writes: &TenantWrites,
    ) -> Result<(), GraphError> {
        writes.acquire().await;
        self.graph.reauthorize_subscription(token, &claimed.id).await?;
        let now = OffsetDateTime::now_utc();
        self.finish(claimed, None, |s| {
            s.last_reauthorized_at = Some(now);
            s.renewal_failures = 0;
            s.last_error = None;
            if s.action == Some(SubscriptionAction::Reauthorize) {
                s.action = None;
            }
        })
        .await
        .map_err(store_failure)?;
        run.audit
            .record(
                &self.store,
                AuditKind::SubscriptionReauthorized,
                &claimed.id,
                "reauthorized".into(),
            )
            .await;
        Ok(())
    }

    /// Replaces a subscription Graph no longer has: creates a new one (or adopts Graph's on
    /// 409), stores it, retires the old record and marks the drive pending.
    async fn recreate(
        &self,
        run: &Run,
        old: &Subscription,
        token: &AccessToken,
        writes: &TenantWrites,
    ) -> Result<Outcome, GraphError> {
        let now = OffsetDateTime::now_utc();
        let request = NewSubscription {
            change_type: old.change_type.clone(),
            notification_url: old.notification_url.clone(),
            lifecycle_notification_url: old.lifecycle_notification_url.clone(),
            resource: old.resource.clone(),
            expiration_date_time: expiration(&old.resource, now)?,
            client_state: subscriptions::random_client_state(),
        };
        let obtained = subscriptions::create_or_adopt(&self.graph, token, &request, writes).await?;
        let new = subscriptions::record(
            &obtained,
            &old.tenant_id,
            &old.user_oid,
            &old.resource,
            old.drive_id.as_deref(),
        );
        if new.id == old.id {
            // Graph still had it after all (adopted on 409): keep the record
            self.finish(old, None, |s| {
                s.expiration = new.expiration;
                s.client_state_sha256 = new.client_state_sha256.clone();
                s.last_renewed_at = Some(now);
                s.renewal_failures = 0;
                s.last_error = None;
                s.action = None;
            })
            .await
            .map_err(store_failure)?;
            return Ok(Outcome::Renewed);
        }
        self.store.put_subscription(&new, now).await.map_err(store_failure)?;
        self.finish(old, None, |s| {
            s.active = false;
            s.action = None;
        })
        .await
        .map_err(store_failure)?;
        if let Some(drive_id) = &old.drive_id {
            self.store
                .mark_drive_pending(drive_id, 0, now)
                .await
                .map_err(store_failure)?;
        }
        tracing::info!(old = %old.id, new = %new.id, drive_id = old.drive_id.as_deref(), "subscription recreated");
        run.audit
            .record(
                &self.store,
                AuditKind::SubscriptionRecreated,
                &old.id,
                format!("replaced by {} ({:?})", new.id, obtained.outcome),
            )
            .await;
        Ok(Outcome::Recreated)
    }

    /// Writes `claimed` back changed by `change`, dropping the claim (and keeping it out of
    /// renewal runs until `retry_at`, when given). When another writer changed the item
    /// meanwhile (the webhook set an action), the change is applied to the fresh record.
    async fn finish(
        &self,
        claimed: &Subscription,
        retry_at: Option<OffsetDateTime>,
        change: impl Fn(&mut Subscription),
    ) -> Result<(), StoreError> {
        let mut base = claimed.clone();
        for _ in 0..4 {
            let now = OffsetDateTime::now_utc();
            let mut next = base.clone();
            change(&mut next);
            next.version = base.version + 1;
            let written = match retry_at {
                Some(at) => {
                    self.store
                        .record_subscription_failure(&next, base.version, at, now)
                        .await?
                }
                None => {
                    self.store
                        .replace_subscription_if_version(&next, base.version, now)
                        .await?
                }
            };
            if written {
                return Ok(());
            }
            match self.store.get_subscription(&claimed.id).await? {
                Some(fresh) => base = fresh,
                None => return Ok(()),
            }
        }
        Err(StoreError::Unavailable(format!(
            "subscription {} kept changing under us",
            claimed.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), FIRST_BACKOFF);
        assert_eq!(backoff(2), FIRST_BACKOFF * 2);
        assert_eq!(backoff(3), FIRST_BACKOFF * 4);
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
