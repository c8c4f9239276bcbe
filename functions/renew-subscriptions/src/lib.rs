//! renew-subscriptions: no Graph subscription ever lapses.
//!
//! One function, three triggers ([`App::handle`] tells them apart):
//!
//! - the EventBridge schedule (every 30 minutes, the `Scheduled Event` envelope): a
//!   **renewal run**. The sparse renewal index is queried for active subscriptions inside
//!   their renewal window (less than a quarter of the resource's maximum lifetime left, and
//!   at least an hour); each is claimed in the table (a conditional write on its version,
//!   so two concurrent runs never make the same Graph call), renewed to now + the maximum
//!   lifetime − a safety margin, and written back with its index keys in one conditional
//!   put. A `404` recreates the subscription (new clientState, only its SHA-256 stored),
//!   retires the old record (inactive, with a TTL) and marks the drive pending so a delta
//!   pass covers the gap; a `409` on create adopts Graph's subscription. `429`/`503` are
//!   retried after `Retry-After` (bounded) by the Graph client; what still fails
//!   transiently stays for the next run. Other `4xx` are recorded on the item (failure
//!   count, last error), audited, and retried by a later run with exponential backoff.
//! - `{"task":"daily"}`: every active drive is marked pending (a delta safety pass), and
//!   expired subscriptions of connections that lost consent are retired with a TTL.
//! - the table's stream (subscriptions gaining an `action`): `reauthorize` →
//!   `POST /subscriptions/{id}/reauthorize`, `recreate` → as for a 404, `renew` → renew.
//!   A record that fails transiently is reported as a batch item failure.
//!
//! Access tokens come from each connection's sealed refresh token, once per connection per
//! invocation; the rotated refresh token is stored. `invalid_grant` marks the connection
//! `needs_consent` (audited, logged with the connection's key) and its subscriptions wait
//! for the user to sign in again: no later run asks the token endpoint again for them.
//! Renew and reauthorize are never made within 10 minutes of each other on one
//! subscription. Graph writes run [`CONCURRENCY`] at a time and are paced per tenant by a
//! [`WriteLimiter`] (`SUBSCRIPTION_WRITES_PER_20S`, default 400, below Graph's 500). A run
//! takes no new work once less than [`RESERVE`] of the invocation remains and ends with one
//! summary log line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use futures::StreamExt as _;
use graphwatch_shared::config::Config;
use graphwatch_shared::graph::{self, GraphClient, GraphError, NewSubscription, RetryPolicy};
use graphwatch_shared::identity::{AccessToken, IdentityClient};
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::{
    AuditEvent, AuditKind, ConnectionStatus, Store, StoreError, Subscription, SubscriptionAction,
};
use graphwatch_shared::subscriptions::{self, TenantWrites, WriteLimiter};
use graphwatch_shared::tokens::{self, TokenError};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

/// Subscriptions worked on at once.
pub const CONCURRENCY: usize = 64;
/// A run takes no new work once less than this remains of the invocation.
pub const RESERVE: Duration = Duration::from_secs(60);
/// Renew and reauthorize are never made within this time of each other on one subscription.
pub const RENEW_REAUTHORIZE_GAP: time::Duration = time::Duration::minutes(10);
/// The smallest renewal window: a subscription is renewed when less than this is left.
pub const MIN_WINDOW: time::Duration = time::Duration::hours(1);
/// How long a claim holds a subscription (longer than the Graph calls it covers).
const CLAIM: time::Duration = time::Duration::minutes(5);
/// The longest maximum lifetime Graph grants (drive roots and lists): bounds the index query.
const LONGEST_LIFETIME: time::Duration = time::Duration::minutes(42_300);
/// First wait after a rejected operation; doubled for each further failure.
const FIRST_BACKOFF: time::Duration = time::Duration::minutes(30);
/// Longest wait after rejected operations.
const MAX_BACKOFF: time::Duration = time::Duration::hours(8);
/// Audit events written per batch.
const AUDIT_BATCH: usize = 25;
/// Longest `last_error` kept on an item.
const MAX_ERROR_LEN: usize = 300;

pub use graphwatch_shared::config::StartError;

/// A failed invocation (Lambda retries the scheduled ones; stream records are reported
/// one by one instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event is none of the function's triggers.
    #[error("unrecognised event: {0}")]
    UnknownEvent(String),
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The renewal window of `resource`: a quarter of its maximum lifetime, at least an hour.
/// `None` for a resource whose lifetime graphwatch does not know.
pub fn renewal_window(resource: &str) -> Option<time::Duration> {
    graph::max_lifetime(resource).map(|max| (max / 4_i32).max(MIN_WINDOW))
}

/// The wait before retrying a subscription that failed `failures` times in a row.
fn backoff(failures: u32) -> time::Duration {
    let doublings = failures.saturating_sub(1).min(8);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

fn truncated(text: &str) -> String {
    text.chars().take(MAX_ERROR_LEN).collect()
}

/// What happened to one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Renewed,
    Recreated,
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
struct Summary {
    renewed: AtomicU64,
    recreated: AtomicU64,
    reauthorized: AtomicU64,
    failed: AtomicU64,
    needs_consent: AtomicU64,
    remaining: AtomicU64,
    skipped: AtomicU64,
    consent_lost: AtomicU64,
}

impl Summary {
    fn count(&self, outcome: Outcome) {
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
    fn finish(&self, kind: &str, started: Instant) -> Value {
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

/// An access token for a connection, or why there is none.
#[derive(Clone)]
enum Access {
    Token(AccessToken),
    NeedsConsent,
    Unavailable,
}

/// Tenant id and user object id of a connection.
type ConnectionKey = (String, String);

/// State of one invocation: its claim owner, tokens per connection, counters.
struct Run {
    owner: String,
    deadline: SystemTime,
    tokens: Mutex<HashMap<ConnectionKey, Arc<OnceCell<Access>>>>,
    /// Audit events not written yet (written in batches).
    audit: Mutex<Vec<AuditEvent>>,
    summary: Summary,
}

impl Run {
    fn new(deadline: SystemTime) -> Self {
        Self {
            owner: uuid::Uuid::new_v4().to_string(),
            deadline,
            tokens: Mutex::default(),
            audit: Mutex::default(),
            summary: Summary::default(),
        }
    }

    /// Whether new work may start: more than [`RESERVE`] of the invocation is left.
    fn has_budget(&self) -> bool {
        self.deadline
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > RESERVE)
    }
}

/// A transient failure: the work stays for a later run or stream retry.
#[derive(Debug)]
struct Transient(String);

impl From<StoreError> for Transient {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

/// The renew-subscriptions function: configuration and clients, built once per Lambda instance.
pub struct App {
    store: Store,
    secrets: SecretsCache,
    identity: IdentityClient,
    graph: GraphClient,
    limiter: WriteLimiter,
}

impl App {
    /// Builds the function from its configuration, table and secret.
    pub fn new(config: Config, store: Store, secrets: SecretsCache) -> Result<App, StartError> {
        let http = graph::http_client()?;
        Ok(Self {
            identity: IdentityClient::new(http.clone(), &config)?,
            // a throttled renewal may wait longer than an HTTP request could
            graph: GraphClient::new(http, &config.graph_base_url).with_retry(RetryPolicy {
                max_retries: 5,
                max_wait: Duration::from_secs(30),
            }),
            limiter: WriteLimiter::new(config.limits.subscription_writes_per_20s),
            store,
            secrets,
        })
    }

    /// Handles any event this function receives: the EventBridge scheduled envelope (renewal run),
    /// {"task":"daily"}, or a DynamoDB stream event (returns {"batchItemFailures":[{"itemIdentifier": <SequenceNumber>}]}).
    pub async fn handle(&self, event: Value, deadline: SystemTime) -> Result<Value, Error> {
        if event.get("Records").is_some() {
            let event: StreamEvent = serde_json::from_value(event)
                .map_err(|e| Error::UnknownEvent(format!("not a DynamoDB stream event: {e}")))?;
            return Ok(self.stream(event, deadline).await);
        }
        if event.get("task").and_then(Value::as_str) == Some("daily") {
            return self.daily(deadline).await;
        }
        if event.get("detail-type").is_some() {
            let envelope: EventBridgeEvent<Value> = serde_json::from_value(event)
                .map_err(|e| Error::UnknownEvent(format!("not an EventBridge event: {e}")))?;
            if envelope.detail_type == "Scheduled Event" {
                return self.renewal_run(deadline).await;
            }
            return Err(Error::UnknownEvent(format!(
                "EventBridge detail-type {:?} is not a schedule",
                envelope.detail_type
            )));
        }
        Err(Error::UnknownEvent(
            "expected a schedule envelope, {\"task\":\"daily\"} or a DynamoDB stream event".into(),
        ))
    }

    /// The scheduled run: renews everything inside its window, soonest first.
    async fn renewal_run(&self, deadline: SystemTime) -> Result<Value, Error> {
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
        self.flush_audit(&run).await;
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

    /// Claims `sub`, makes the Graph call of `op`, and writes the result back.
    async fn act(&self, run: &Run, sub: Subscription, op: Op) -> Result<Outcome, Transient> {
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
                self.audit(run, AuditKind::SubscriptionFailed, &claimed.id, error.clone())
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
        let expiration =
            graph::subscription_expiration(&claimed.resource, now).ok_or_else(|| GraphError::Rejected {
                status: 400,
                code: "unknownLifetime".into(),
                message: format!("graphwatch does not know the lifetime of {}", claimed.resource),
            })?;
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
        self.audit(
            run,
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
        self.audit(
            run,
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
            expiration_date_time: graph::subscription_expiration(&old.resource, now).ok_or_else(|| {
                GraphError::Rejected {
                    status: 400,
                    code: "unknownLifetime".into(),
                    message: format!("graphwatch does not know the lifetime of {}", old.resource),
                }
            })?,
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
        self.audit(
            run,
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

    /// An access token for a connection, fetched once per invocation.
    async fn access(&self, run: &Run, tenant_id: &str, user_oid: &str) -> Access {
        let cell = run
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((tenant_id.to_owned(), user_oid.to_owned()))
            .or_default()
            .clone();
        cell.get_or_init(|| self.fetch_access(run, tenant_id, user_oid))
            .await
            .clone()
    }

    /// Redeems the connection's refresh token through [`tokens::access`], the one token path.
    async fn fetch_access(&self, run: &Run, tenant_id: &str, user_oid: &str) -> Access {
        let secret = match self.secrets.get().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "app secret unavailable");
                return Access::Unavailable;
            }
        };
        match tokens::access(&self.store, &self.identity, &secret, tenant_id, user_oid).await {
            Ok(tokens::Access::Token(token)) => Access::Token(token.access_token),
            Ok(tokens::Access::NeedsConsent { lost_now }) => {
                if lost_now {
                    run.summary.consent_lost.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(tenant_id, user_oid, "connection needs consent: its subscriptions wait");
                Access::NeedsConsent
            }
            Err(TokenError::UnknownConnection { .. }) => {
                tracing::warn!(
                    tenant_id,
                    user_oid,
                    "subscriptions of an unknown connection are left alone"
                );
                Access::NeedsConsent
            }
            Err(e) => {
                tracing::error!(tenant_id, user_oid, error = %e, "no access token");
                Access::Unavailable
            }
        }
    }

    /// The daily task: every active drive pending, expired subscriptions of connections
    /// that are not active retired (inactive records carry a TTL).
    async fn daily(&self, deadline: SystemTime) -> Result<Value, Error> {
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
        let mut status: HashMap<ConnectionKey, bool> = HashMap::new();
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
                self.audit(
                    &run,
                    AuditKind::SubscriptionRemoved,
                    &sub.id,
                    "expired while its connection was not active".into(),
                )
                .await;
            }
        }
        self.flush_audit(&run).await;
        if let Some(e) = failures.into_inner().unwrap_or_else(|p| p.into_inner()).pop() {
            return Err(e.into());
        }
        let drives_marked = marked.load(Ordering::Relaxed);
        let duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(drives_marked, retired, duration_ms, "daily summary");
        Ok(json!({ "drives_marked": drives_marked, "retired": retired, "duration_ms": duration_ms }))
    }

    /// Stream records: acts on subscriptions that gained an `action`; reports the records
    /// that failed transiently.
    async fn stream(&self, event: StreamEvent, deadline: SystemTime) -> Value {
        let started = Instant::now();
        let run = Run::new(deadline);
        let failures = Mutex::new(Vec::new());
        futures::stream::iter(event.records)
            .for_each_concurrent(CONCURRENCY, |record| {
                let (run, failures) = (&run, &failures);
                async move {
                    let sequence = record.change.sequence_number.clone();
                    match self.stream_record(run, record).await {
                        Ok(outcome) => run.summary.count(outcome),
                        Err(Transient(e)) => {
                            tracing::warn!(sequence_number = ?sequence, error = %e, "stream record failed; retried");
                            run.summary.count(Outcome::Deferred);
                            if let Some(sequence) = sequence {
                                failures.lock().unwrap_or_else(|p| p.into_inner()).push(sequence);
                            }
                        }
                    }
                }
            })
            .await;
        self.flush_audit(&run).await;
        run.summary.finish("stream", started);
        let failures: Vec<Value> = failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|s| json!({ "itemIdentifier": s }))
            .collect();
        json!({ "batchItemFailures": failures })
    }

    async fn stream_record(&self, run: &Run, record: EventRecord) -> Result<Outcome, Transient> {
        if record.change.new_image.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let image: Subscription = match serde_dynamo::from_item(record.change.new_image) {
            Ok(s) => s,
            Err(e) => {
                // not a subscription the filter should have passed: retrying cannot help
                tracing::error!(event_id = %record.event_id, error = %e, "stream record is not a subscription");
                return Ok(Outcome::Skipped);
            }
        };
        if image.action.is_none() {
            return Ok(Outcome::Skipped);
        }
        // act on the stored record: the image may be older than what happened since
        let Some(current) = self.store.get_subscription(&image.id).await? else {
            return Ok(Outcome::Skipped);
        };
        let Some(action) = current.action.filter(|_| current.active) else {
            return Ok(Outcome::Skipped);
        };
        if !run.has_budget() {
            return Err(Transient("invocation time nearly used up".into()));
        }
        let id = current.id.clone();
        let op = match action {
            SubscriptionAction::Renew => Op::Renew,
            SubscriptionAction::Reauthorize => Op::Reauthorize,
            SubscriptionAction::Recreate => Op::Recreate,
        };
        let outcome = self.act(run, current, op).await?;
        if outcome == Outcome::Skipped {
            // lost to a concurrent writer, or the 10-minute rule: is the action still waiting?
            let still = self.store.get_subscription(&id).await?;
            if still.is_some_and(|s| s.active && s.action == Some(action)) {
                return Err(Transient(format!("{action:?} still pending")));
            }
        }
        Ok(outcome)
    }

    /// Queues an audit event; they are written 25 at a time. A failure is logged, never fatal.
    async fn audit(&self, run: &Run, kind: AuditKind, subject: &str, detail: String) {
        let batch = {
            let mut queued = run.audit.lock().unwrap_or_else(|p| p.into_inner());
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
        self.write_audit(&batch).await;
    }

    /// Writes the audit events still queued at the end of an invocation.
    async fn flush_audit(&self, run: &Run) {
        let batch = std::mem::take(&mut *run.audit.lock().unwrap_or_else(|p| p.into_inner()));
        self.write_audit(&batch).await;
    }

    async fn write_audit(&self, events: &[AuditEvent]) {
        if let Err(e) = self.store.audit_many(events).await {
            tracing::warn!(error = %e, events = events.len(), "audit events not written");
        }
    }
}

/// The Graph operation of [`App::act`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
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

/// Reorders subscriptions (soonest expiry first) so that tenants take turns: one tenant's
/// exhausted write limit then holds back few of the tasks in flight.
fn interleave_tenants(subs: Vec<Subscription>) -> Vec<Subscription> {
    let mut order: Vec<String> = Vec::new();
    let mut queues: HashMap<String, std::collections::VecDeque<Subscription>> = HashMap::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_a_quarter_of_the_lifetime_and_at_least_an_hour() {
        assert_eq!(
            renewal_window("/drives/d/root"),
            Some(time::Duration::minutes(42_300 / 4))
        );
        assert_eq!(renewal_window("me/messages"), Some(time::Duration::minutes(10_080 / 4)));
        assert_eq!(renewal_window("communications/presences/x"), Some(MIN_WINDOW));
        assert_eq!(renewal_window("me/planner/tasks"), None);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), FIRST_BACKOFF);
        assert_eq!(backoff(2), FIRST_BACKOFF * 2);
        assert_eq!(backoff(3), FIRST_BACKOFF * 4);
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
