//! Creating Graph subscriptions the way every graphwatch function does it, and pacing
//! subscription writes per tenant.
//!
//! - [`create_or_adopt`]: `POST /subscriptions` with a fresh clientState; on `409` the
//!   existing subscription (same resource, changeType and notificationUrl) is adopted when
//!   Graph tells its clientState, else deleted and created again.
//! - [`record`]: the table record of a created or adopted subscription (only the SHA-256 of
//!   its clientState is kept).
//! - [`WriteLimiter`]: a sliding-window limit of subscription writes per tenant, kept below
//!   Graph's own (about 500 per 20 s per app per tenant) so Graph never has to throttle us.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::TryRng;

use crate::graph::{GraphClient, GraphError, GraphSubscription, NewSubscription};
use crate::identity::AccessToken;
use crate::notify::client_state_sha256;
use crate::store::Subscription;

/// The window of Graph's subscription write limit.
pub const WRITE_WINDOW: Duration = Duration::from_secs(20);

/// 32 random bytes, URL-safe base64 (43 characters): a subscription's clientState.
pub fn random_client_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source answers");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How [`create_or_adopt`] got its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Graph created a new subscription with our clientState.
    Created,
    /// Graph already had one (409) and told its clientState: it was taken over.
    Adopted,
}

/// A subscription Graph holds for us, with the clientState it was created with.
#[derive(Debug, Clone)]
pub struct Obtained {
    /// Graph's answer.
    pub subscription: GraphSubscription,
    /// The clientState Graph sends with its notifications (hash it before storing).
    pub client_state: String,
    /// Created or adopted.
    pub outcome: CreateOutcome,
}

/// Creates `request` (whose `client_state` should come from [`random_client_state`]); on
/// `409` adopts the existing subscription when Graph tells its clientState, else deletes it
/// and creates `request` again. Every write first takes a slot from `writes`.
pub async fn create_or_adopt(
    graph: &GraphClient,
    token: &AccessToken,
    request: &NewSubscription,
    writes: &TenantWrites,
) -> Result<Obtained, GraphError> {
    writes.acquire().await;
    match graph.create_subscription(token, request).await {
        Ok(subscription) => {
            return Ok(Obtained {
                subscription,
                client_state: request.client_state.clone(),
                outcome: CreateOutcome::Created,
            })
        }
        Err(GraphError::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }
    let same = |s: &GraphSubscription| {
        s.resource
            .trim_matches('/')
            .eq_ignore_ascii_case(request.resource.trim_matches('/'))
            && s.change_type == request.change_type
            && s.notification_url == request.notification_url
    };
    let existing = graph
        .list_subscriptions(token)
        .await?
        .into_iter()
        .find(same)
        // Graph's list lags its write: a retry will see it
        .ok_or_else(|| GraphError::Transient("Graph answered 409 but lists no matching subscription".into()))?;
    if let Some(client_state) = existing.client_state.clone() {
        return Ok(Obtained {
            subscription: existing,
            client_state,
            outcome: CreateOutcome::Adopted,
        });
    }
    writes.acquire().await;
    graph.delete_subscription(token, &existing.id).await?;
    writes.acquire().await;
    let subscription = graph.create_subscription(token, request).await?;
    Ok(Obtained {
        subscription,
        client_state: request.client_state.clone(),
        outcome: CreateOutcome::Created,
    })
}

/// The record to store for a subscription obtained for the connection `tenant_id` /
/// `user_oid` on `resource` (as we asked for it): active, version 0, no failures.
pub fn record(
    obtained: &Obtained,
    tenant_id: &str,
    user_oid: &str,
    resource: &str,
    drive_id: Option<&str>,
) -> Subscription {
    let s = &obtained.subscription;
    Subscription {
        id: s.id.clone(),
        tenant_id: tenant_id.to_owned(),
        user_oid: user_oid.to_owned(),
        resource: resource.to_owned(),
        change_type: s.change_type.clone(),
        drive_id: drive_id.map(str::to_owned),
        notification_url: s.notification_url.clone(),
        lifecycle_notification_url: s.lifecycle_notification_url.clone(),
        client_state_sha256: client_state_sha256(&obtained.client_state),
        expiration: s.expiration_date_time,
        active: true,
        last_notification_at: None,
        last_renewed_at: None,
        last_reauthorized_at: None,
        renewal_failures: 0,
        last_error: None,
        action: None,
        version: 0,
    }
}

/// Subscription writes allowed per tenant within [`WRITE_WINDOW`], shared by every task of
/// one function instance. A write waits until the tenant's window has room.
#[derive(Debug, Clone)]
pub struct WriteLimiter {
    per_window: usize,
    window: Duration,
    tenants: Arc<Mutex<HashMap<String, WriteLog>>>,
}

impl WriteLimiter {
    /// At most `per_window` writes per tenant in any [`WRITE_WINDOW`].
    pub fn new(per_window: u32) -> Self {
        Self::with_window(per_window, WRITE_WINDOW)
    }

    /// At most `per_window` writes per tenant in any `window`.
    pub fn with_window(per_window: u32, window: Duration) -> Self {
        Self {
            per_window: per_window.max(1) as usize,
            window,
            tenants: Arc::default(),
        }
    }

    /// The gate of one tenant's writes.
    pub fn tenant(&self, tenant_id: &str) -> TenantWrites {
        let log = self
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant_id.to_owned())
            .or_default()
            .clone();
        TenantWrites {
            limit: Some(Limit {
                per_window: self.per_window,
                window: self.window,
                log,
            }),
        }
    }
}

/// The write gate of one tenant (see [`WriteLimiter::tenant`]), or no limit at all.
#[derive(Debug, Clone)]
pub struct TenantWrites {
    limit: Option<Limit>,
}

#[derive(Debug, Clone)]
struct Limit {
    per_window: usize,
    window: Duration,
    log: WriteLog,
}

/// When a tenant's recent writes were made, oldest first.
type WriteLog = Arc<Mutex<VecDeque<Instant>>>;

impl TenantWrites {
    /// No pacing (a single sign-in makes a handful of writes).
    pub fn unlimited() -> Self {
        Self { limit: None }
    }

    /// Waits until one more write fits in the tenant's window, and takes it.
    pub async fn acquire(&self) {
        let Some(limit) = &self.limit else {
            return;
        };
        loop {
            let wait = {
                let mut log = limit.log.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while log.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
                    log.pop_front();
                }
                if log.len() < limit.per_window {
                    log.push_back(now);
                    return;
                }
                let oldest = *log.front().expect("full, so not empty");
                limit.window.saturating_sub(now.duration_since(oldest))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_are_random_url_safe_and_short_enough() {
        let a = random_client_state();
        assert_eq!(a.len(), 43);
        assert!(a.len() <= crate::notify::MAX_CLIENT_STATE_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, random_client_state());
    }

    #[tokio::test]
    async fn writes_wait_for_room_in_the_tenant_window() {
        let window = Duration::from_millis(300);
        let limiter = WriteLimiter::with_window(3, window);
        let a = limiter.tenant("a");
        let started = Instant::now();
        for _ in 0..3 {
            a.acquire().await;
        }
        // another tenant has a window of its own
        limiter.tenant("b").acquire().await;
        assert!(
            started.elapsed() < window / 2,
            "the first three of a tenant fit at once"
        );
        a.acquire().await;
        assert!(started.elapsed() >= window, "the fourth waits for the window");
        TenantWrites::unlimited().acquire().await;
    }
}
