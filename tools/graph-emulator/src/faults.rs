//! Fault injection and request accounting: the middleware every request passes through.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::SignInOutcome;
use crate::drive::DOWNLOAD_PATH;
use crate::errors::{ControlError, GraphError};
use crate::notifications::{self, LifecycleEvent};
use crate::state::{AppState, Shared};

/// A fault or administrative event to inject (`POST /_emulator/faults`, tagged by `kind`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer the next `count` matching Graph requests 429 with `Retry-After: retry_after_secs`.
    Throttle {
        /// How many requests to throttle.
        count: u32,
        /// Seconds put in `Retry-After`.
        retry_after_secs: u64,
        /// Only requests whose path starts with this (`/v1.0/subscriptions`,
        /// `/_layouts/15/download.aspx`); all Graph requests when absent.
        #[serde(default)]
        route_prefix: Option<String>,
    },
    /// Answer the next `count` matching Graph requests 503 `serviceNotAvailable`.
    Fail {
        /// How many requests to fail.
        count: u32,
        /// Seconds put in `Retry-After`, if any.
        #[serde(default)]
        retry_after_secs: Option<u64>,
        /// Only requests whose path starts with this; all Graph requests when absent.
        #[serde(default)]
        route_prefix: Option<String>,
    },
    /// Delay every Graph request (and download) by `ms` milliseconds; 0 removes the delay.
    Latency {
        /// Added latency in milliseconds.
        ms: u64,
    },
    /// Remove a subscription, sending `subscriptionRemoved` where the resource gets it.
    RemoveSubscription {
        /// Subscription id.
        subscription_id: String,
        /// Send `subscriptionRemoved` even if the resource does not get it from Graph.
        #[serde(default)]
        force: bool,
    },
    /// Revoke every refresh token of a user (object id or UPN): refreshes fail with 50173.
    RevokeRefreshTokens {
        /// Object id or UPN.
        user: String,
    },
    /// Send a lifecycle event to a subscription's `lifecycleNotificationUrl`.
    Lifecycle {
        /// Subscription id.
        subscription_id: String,
        /// The event.
        event: LifecycleEvent,
        /// Send even if the resource does not get this event from Graph.
        #[serde(default)]
        force: bool,
    },
    /// Invalidate every delta token of a drive: later delta calls get 410 `resyncRequired`.
    InvalidateDelta {
        /// Drive id.
        drive_id: String,
    },
    /// Change what the authorize endpoint does for a user.
    SignIn {
        /// Object id or UPN.
        user: String,
        /// The new outcome.
        outcome: SignInOutcome,
    },
}

/// A pending throttle or failure fault.
#[derive(Debug, Clone)]
struct CountedFault {
    status: StatusCode,
    remaining: u32,
    retry_after_secs: Option<u64>,
    route_prefix: Option<String>,
}

/// Active request faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    counted: Vec<CountedFault>,
    latency: Duration,
}

impl Faults {
    /// The fault to apply to a request to `path`, consuming one use of it.
    fn take(&mut self, path: &str) -> Option<CountedFault> {
        let index = self.counted.iter().position(|f| match &f.route_prefix {
            Some(prefix) => path.starts_with(prefix.as_str()),
            // Unscoped faults hit the requests inside a batch, not the batch itself.
            None => path != "/v1.0/$batch",
        })?;
        let fault = &mut self.counted[index];
        fault.remaining -= 1;
        let taken = fault.clone();
        if fault.remaining == 0 {
            self.counted.remove(index);
        }
        Some(taken)
    }
}

/// Applies an administrative fault or event; returns a JSON summary.
pub(crate) async fn apply(shared: &Shared, fault: Fault) -> Result<Value, ControlError> {
    let counted = |status, count, retry_after_secs, route_prefix| {
        if count == 0 {
            return Err(ControlError::bad_request("count must be at least 1"));
        }
        shared.lock().faults.counted.push(CountedFault {
            status,
            remaining: count,
            retry_after_secs,
            route_prefix,
        });
        Ok(json!({ "queued": count }))
    };
    match fault {
        Fault::Throttle {
            count,
            retry_after_secs,
            route_prefix,
        } => counted(
            StatusCode::TOO_MANY_REQUESTS,
            count,
            Some(retry_after_secs),
            route_prefix,
        ),
        Fault::Fail {
            count,
            retry_after_secs,
            route_prefix,
        } => counted(StatusCode::SERVICE_UNAVAILABLE, count, retry_after_secs, route_prefix),
        Fault::Latency { ms } => {
            shared.lock().faults.latency = Duration::from_millis(ms);
            Ok(json!({ "latency_ms": ms }))
        }
        Fault::RemoveSubscription { subscription_id, force } => {
            let removed = shared
                .lock()
                .subscriptions
                .remove(&subscription_id)
                .ok_or_else(|| ControlError::not_found(format!("subscription {subscription_id} not found")))?;
            let event = LifecycleEvent::SubscriptionRemoved;
            let delivery = if (force || removed.kind.supports(event)) && removed.lifecycle_url.is_some() {
                Some(notifications::send_lifecycle(shared, &removed, event, force).await?)
            } else {
                None
            };
            Ok(json!({ "removed": subscription_id, "delivery": delivery }))
        }
        Fault::RevokeRefreshTokens { user } => {
            let revoked = crate::identity::revoke_refresh_tokens(shared, &user)
                .ok_or_else(|| ControlError::not_found(format!("user {user} not found")))?;
            Ok(json!({ "revoked": revoked }))
        }
        Fault::Lifecycle {
            subscription_id,
            event,
            force,
        } => {
            let subscription = shared
                .lock()
                .subscriptions
                .get(&subscription_id)
                .cloned()
                .ok_or_else(|| ControlError::not_found(format!("subscription {subscription_id} not found")))?;
            let delivery = notifications::send_lifecycle(shared, &subscription, event, force).await?;
            Ok(json!({ "delivery": delivery }))
        }
        Fault::InvalidateDelta { drive_id } => {
            shared
                .lock()
                .drives
                .get_mut(&drive_id)
                .ok_or_else(|| ControlError::not_found(format!("drive {drive_id} not found")))?
                .invalidate_delta_tokens();
            Ok(json!({ "invalidated": drive_id }))
        }
        Fault::SignIn { user, outcome } => {
            let oid = shared
                .user(None, &user)
                .map(|(_, u)| u.oid.clone())
                .ok_or_else(|| ControlError::not_found(format!("user {user} not found")))?;
            shared.lock().sign_in.insert(oid, outcome);
            Ok(json!({ "user": user, "outcome": outcome }))
        }
    }
}

/// Removes every pending request fault and the added latency.
pub(crate) fn clear(shared: &Shared) {
    shared.lock().faults = Faults::default();
}

/// Whether faults apply to a path: Graph calls and content downloads.
fn faultable(path: &str) -> bool {
    path.starts_with("/v1.0/") || path == DOWNLOAD_PATH
}

/// Middleware: added latency and queued 429/503 answers for Graph requests.
pub(crate) async fn inject(State(shared): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !faultable(&path) {
        return next.run(req).await;
    }
    let (latency, fault) = {
        let mut st = shared.lock();
        (st.faults.latency, st.faults.take(&path))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    let error = if fault.status == StatusCode::TOO_MANY_REQUESTS {
        GraphError::throttled(fault.retry_after_secs.unwrap_or(1))
    } else {
        let error = GraphError::new(
            fault.status,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Retry the request later.",
        );
        match fault.retry_after_secs {
            Some(secs) => error.with_header(header::RETRY_AFTER, secs.to_string()),
            None => error,
        }
    };
    error.into_response()
}

/// Middleware: counts every request by matched route and answered status.
pub(crate) async fn count(State(shared): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", req.method(), p.as_str()))
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    *shared
        .lock()
        .request_counts
        .entry((route, response.status().as_u16()))
        .or_default() += 1;
    response
}
