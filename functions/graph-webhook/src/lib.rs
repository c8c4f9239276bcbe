//! graph-webhook: receives Microsoft Graph deliveries on `POST /webhooks/graph` and
//! `POST /webhooks/lifecycle`.
//!
//! - A request with `validationToken` is the subscription handshake: answered at once with
//!   the decoded token as `text/plain`, before any other work.
//! - Otherwise the body is a batch of change and lifecycle notifications. Each is checked
//!   (known subscription, clientState by SHA-256 in constant time, tenant) and recorded:
//!   drive changes mark the drive pending (the table stream wakes the scanner), other
//!   resources keep a notification record, lifecycle events set the subscription's `action`
//!   for the renewal function. Redeliveries are deduplicated.
//! - Rich notifications carry `validationTokens`: every one must pass (signature against the
//!   identity platform's keys, `aud` = our app id, issuer, Graph's app as `azp`/`appid`,
//!   expiry) or the whole batch is rejected and audited.
//! - 202 once everything accepted is recorded; 503 when a write failed (nothing is lost:
//!   Graph retries). Rejected items never change the answer, so forgers learn nothing.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::Jwks;
use graphwatch_shared::notify::{self, ChangeNotification, LifecycleEvent, NotificationBatch};
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::{
    AuditEvent, AuditKind, NotificationRecord, PendingMark, Store, StoreError, Subscription, SubscriptionAction,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

/// Largest delivery body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Writes in flight at once while recording a delivery.
const WRITE_CONCURRENCY: usize = 32;

/// A subscription's `lastNotificationAt` is written at most this often: it tells operators
/// whether a subscription still receives changes, and a busy one would otherwise cost a write
/// per delivery.
pub const STAMP_INTERVAL: time::Duration = time::Duration::minutes(1);

/// Why a notification was not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
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
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownSubscription => "unknown_subscription",
            Self::ClientState => "client_state_mismatch",
            Self::Tenant => "tenant_mismatch",
            Self::ValidationToken => "validation_token_invalid",
        }
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
    fn reject(&mut self, reason: RejectReason) {
        match reason {
            RejectReason::UnknownSubscription => self.rejected_unknown_subscription += 1,
            RejectReason::ClientState => self.rejected_client_state += 1,
            RejectReason::Tenant => self.rejected_tenant += 1,
            RejectReason::ValidationToken => self.rejected_validation_token += 1,
        }
    }
}

/// One write that records accepted work.
enum Effect {
    /// Mark a drive pending for `count` notifications.
    MarkDrive { drive_id: String, count: u64 },
    /// Keep a notification record (its own dedupe mark); `change` tells a change from a lifecycle event.
    Record { record: NotificationRecord, change: bool },
    /// Ask the renewal function to act.
    Action {
        subscription_id: String,
        action: SubscriptionAction,
    },
    /// Stamp a subscription's latest notification.
    Stamp { subscription_id: String },
}

/// What an applied [`Effect`] did.
enum Applied {
    /// A drive was marked; `true` when it went from idle to pending.
    DriveMarked(bool),
    /// A record was written (`fresh`) or was already kept (a redelivery).
    Recorded { fresh: bool, change: bool },
    /// Any other effect.
    Done,
}

/// The function's state: the table, and what rich notifications are checked with (the app
/// id from the secret, the identity platform's signing keys).
pub struct App {
    store: Store,
    secrets: SecretsCache,
    jwks: Jwks,
}

impl App {
    /// A handler over `store`, checking validation tokens with `secrets` and `jwks`.
    pub fn new(store: Store, secrets: SecretsCache, jwks: Jwks) -> Self {
        Self { store, secrets, jwks }
    }

    /// Answers one API Gateway request.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        if let Some(response) = answer_statelessly(&req) {
            return response;
        }
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            tracing::warn!(bytes = body.len(), "delivery body too large");
            return http::error(ErrorCode::PayloadTooLarge);
        }
        let batch: NotificationBatch = match serde_json::from_slice(body) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(problem = %e, "delivery is not a notification batch");
                return http::error(ErrorCode::InvalidPayload);
            }
        };
        let started = Instant::now();
        let outcome = self.process(&batch, OffsetDateTime::now_utc()).await;
        tracing::info!(
            notifications = batch.value.len(),
            accepted = outcome.accepted,
            duplicates = outcome.duplicates,
            lifecycle = outcome.lifecycle,
            drives_marked = outcome.drives_marked,
            rejected_unknown_subscription = outcome.rejected_unknown_subscription,
            rejected_client_state = outcome.rejected_client_state,
            rejected_tenant = outcome.rejected_tenant,
            rejected_validation_token = outcome.rejected_validation_token,
            failed_writes = outcome.failed_writes,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "delivery processed"
        );
        if outcome.failed_writes > 0 {
            http::error(ErrorCode::UpstreamUnavailable)
        } else {
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(Body::Empty)
                .expect("an empty 202 builds")
        }
    }

    /// Checks and records a batch; see the module docs.
    pub async fn process(&self, batch: &NotificationBatch, now: OffsetDateTime) -> Outcome {
        let mut out = Outcome::default();
        if let Some(tokens) = &batch.validation_tokens {
            match self.check_validation_tokens(tokens).await {
                Ok(()) => {}
                Err(TokenCheck::Retry) => {
                    out.failed_writes += 1;
                    return out;
                }
                Err(TokenCheck::Refused(check)) => {
                    out.rejected_validation_token = batch.value.len();
                    let event = AuditEvent {
                        at: now,
                        kind: AuditKind::NotificationRejected,
                        subject: "BATCH".into(),
                        detail: format!(
                            "{}: check {check}, {} notifications",
                            RejectReason::ValidationToken.as_str(),
                            batch.value.len()
                        ),
                    };
                    if let Err(e) = self.store.audit(&event).await {
                        tracing::error!(error = %e, "cannot audit a rejected batch");
                    }
                    return out;
                }
            }
        }
        let ids: Vec<&str> = batch.value.iter().map(|n| n.subscription_id.as_str()).collect();
        let subs = match self.store.get_subscriptions(&ids).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read subscriptions");
                out.failed_writes += 1;
                return out;
            }
        };

        let mut rejected = Vec::new();
        let mut changes = Vec::new();
        let mut lifecycle = Vec::new();
        for n in &batch.value {
            match check(n, subs.get(&n.subscription_id)) {
                Err(reason) => rejected.push((n, reason)),
                Ok(sub) if n.lifecycle_event.is_some() => lifecycle.push((n, sub)),
                Ok(sub) => changes.push((n, sub)),
            }
        }
        for (_, reason) in &rejected {
            out.reject(*reason);
        }

        // Drive changes that carry an item identity are deduplicated with a dedupe mark first;
        // other drive changes need none (marking pending is idempotent); changes of other
        // resources are kept as records that are their own dedupe marks.
        let drive_keys: Vec<Option<String>> = changes
            .iter()
            .map(|(n, sub)| drive_of(sub).and_then(|_| n.dedupe_key()))
            .collect();
        let fresh: Vec<Result<bool, StoreError>> = stream::iter(drive_keys.clone())
            .map(|key| async move {
                match key {
                    Some(key) => self.store.remember_notification(&key, now).await,
                    None => Ok(true),
                }
            })
            .buffered(WRITE_CONCURRENCY)
            .collect()
            .await;

        let mut effects: Vec<(Effect, Vec<String>)> = Vec::new();
        let mut drive_groups: HashMap<String, (u64, Vec<String>)> = HashMap::new();
        let mut stamped = BTreeSet::new();
        for (i, (((n, sub), key), fresh)) in changes.iter().zip(drive_keys).zip(fresh).enumerate() {
            match fresh {
                Ok(true) => {}
                Ok(false) => {
                    out.duplicates += 1;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot record dedupe key");
                    out.failed_writes += 1;
                    continue;
                }
            }
            if sub.last_notification_at.is_none_or(|last| now - last >= STAMP_INTERVAL) {
                stamped.insert(sub.id.as_str());
            }
            match drive_of(sub) {
                Some(drive_id) => {
                    out.accepted += 1;
                    let group = drive_groups.entry(drive_id.to_owned()).or_default();
                    group.0 += 1;
                    group.1.extend(key);
                }
                None => {
                    let change_type = n.change_type.as_deref().unwrap_or("updated");
                    let record = record(n, sub, change_type, n.dedupe_key(), i, now);
                    effects.push((Effect::Record { record, change: true }, Vec::new()));
                }
            }
        }
        for (i, (n, sub)) in lifecycle.iter().enumerate() {
            out.lifecycle += 1;
            let effect = match n.lifecycle_event.expect("lifecycle notifications have an event") {
                LifecycleEvent::ReauthorizationRequired => Effect::Action {
                    subscription_id: sub.id.clone(),
                    action: SubscriptionAction::Reauthorize,
                },
                LifecycleEvent::SubscriptionRemoved => Effect::Action {
                    subscription_id: sub.id.clone(),
                    action: SubscriptionAction::Recreate,
                },
                LifecycleEvent::Missed => match drive_of(sub) {
                    Some(drive_id) => {
                        drive_groups.entry(drive_id.to_owned()).or_default().0 += 1;
                        continue;
                    }
                    None => Effect::Record {
                        record: record(n, sub, "missed", None, i, now),
                        change: false,
                    },
                },
                LifecycleEvent::Unknown => {
                    tracing::info!(subscription = %sub.id, "unknown lifecycle event ignored");
                    continue;
                }
            };
            effects.push((effect, Vec::new()));
        }
        effects.extend(
            drive_groups
                .into_iter()
                .map(|(drive_id, (count, keys))| (Effect::MarkDrive { drive_id, count }, keys)),
        );
        effects.extend(stamped.into_iter().map(|id| {
            let stamp = Effect::Stamp {
                subscription_id: id.to_owned(),
            };
            (stamp, Vec::new())
        }));

        let results: Vec<_> = stream::iter(effects)
            .map(|(effect, keys)| async move { (self.apply(effect, now).await, keys) })
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        for (result, keys) in results {
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
                    // so that Graph's retry of this delivery is not taken for a duplicate
                    for key in keys {
                        if let Err(e) = self.store.forget_notification(&key).await {
                            tracing::error!(error = %e, "cannot forget dedupe key of a failed effect");
                        }
                    }
                }
            }
        }

        let audits: Vec<AuditEvent> = rejected
            .iter()
            .map(|(n, reason)| AuditEvent {
                at: now,
                kind: AuditKind::NotificationRejected,
                subject: format!("SUB#{}", n.subscription_id),
                detail: format!(
                    "{}: tenant {:?}, resource {:?}",
                    reason.as_str(),
                    n.tenant_id.as_deref().unwrap_or(""),
                    n.resource.as_deref().unwrap_or("")
                ),
            })
            .collect();
        stream::iter(audits)
            .for_each_concurrent(WRITE_CONCURRENCY, |event| async move {
                if let Err(e) = self.store.audit(&event).await {
                    tracing::error!(error = %e, "cannot audit a rejected notification");
                }
            })
            .await;
        out
    }

    /// Checks every validation token of a rich notification batch.
    async fn check_validation_tokens(&self, tokens: &[String]) -> Result<(), TokenCheck> {
        if tokens.is_empty() {
            return Err(TokenCheck::Refused("present but empty"));
        }
        let app = self.secrets.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the app secret");
            TokenCheck::Retry
        })?;
        for token in tokens {
            if let Err(e) = self.jwks.validate_graph_validation_token(token, &app.client_id).await {
                if e.is_transient() {
                    tracing::error!(error = %e, "cannot fetch the identity platform's keys");
                    return Err(TokenCheck::Retry);
                }
                tracing::warn!(check = e.check(), "validation token refused");
                return Err(TokenCheck::Refused(e.check()));
            }
        }
        Ok(())
    }

    /// Applies one effect.
    async fn apply(&self, effect: Effect, now: OffsetDateTime) -> Result<Applied, StoreError> {
        match effect {
            Effect::MarkDrive { drive_id, count } => {
                match self.store.mark_drive_pending(&drive_id, count, now).await? {
                    PendingMark::Marked => Ok(Applied::DriveMarked(true)),
                    PendingMark::AlreadyPending => Ok(Applied::DriveMarked(false)),
                    PendingMark::UnknownDrive => {
                        tracing::warn!(drive = %drive_id, "notification for a drive that is not registered");
                        Ok(Applied::DriveMarked(false))
                    }
                }
            }
            Effect::Record { record, change } => {
                let fresh = self.store.put_notification_record(&record).await?;
                Ok(Applied::Recorded { fresh, change })
            }
            Effect::Action {
                subscription_id,
                action,
            } => {
                self.store
                    .set_subscription_action(&subscription_id, action, now)
                    .await?;
                Ok(Applied::Done)
            }
            Effect::Stamp { subscription_id } => {
                self.store
                    .stamp_subscription_notification(&subscription_id, now)
                    .await?;
                Ok(Applied::Done)
            }
        }
    }
}

/// Answers what needs no state: unknown routes and methods, and the validation handshake
/// (answered before any other work, as Graph requires). `None` for a notification delivery.
pub fn answer_statelessly(req: &Request) -> Option<Response<Body>> {
    let path = req.uri().path();
    if !(path.ends_with("/webhooks/graph") || path.ends_with("/webhooks/lifecycle")) {
        return Some(http::error(ErrorCode::NotFound));
    }
    if req.method() != Method::POST {
        return Some(http::error(ErrorCode::MethodNotAllowed));
    }
    let query = req.uri().query().unwrap_or("");
    let (_, token) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "validationToken")?;
    Some(match notify::check_validation_token(&token) {
        Ok(token) => http::text(StatusCode::OK, token),
        Err(e) => {
            tracing::warn!(problem = %e, "validation handshake refused");
            http::error(ErrorCode::InvalidRequest)
        }
    })
}

/// Why validation tokens did not pass.
enum TokenCheck {
    /// The secret or the keys could not be read: answer 503 so Graph retries.
    Retry,
    /// A token failed the named check.
    Refused(&'static str),
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
/// (`key`), the record gets a key of its own: such notifications cannot be deduplicated.
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
