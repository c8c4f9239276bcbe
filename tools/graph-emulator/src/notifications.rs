//! Outbound calls to subscribers: validation handshakes, change notifications and lifecycle
//! notifications. Every call is recorded as a [`Delivery`].

use std::time::{Duration, Instant};

use axum::http::header;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::ControlError;
use crate::state::{fmt_time, Shared};
use crate::subscriptions::Subscription;

/// Deliveries slower than this put a real endpoint into Graph's "slow" state.
const SLOW_DELIVERY: Duration = Duration::from_secs(3);

/// What an outbound call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// A validation handshake (`?validationToken=`).
    Validation,
    /// A change notification batch.
    Change,
    /// A lifecycle notification.
    Lifecycle,
}

/// A lifecycle event Graph sends to `lifecycleNotificationUrl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// The subscription needs `reauthorize` (or a renewal).
    ReauthorizationRequired,
    /// The subscription was removed; recreate it and resync.
    SubscriptionRemoved,
    /// Notifications were missed; resync.
    Missed,
}

impl LifecycleEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
        }
    }
}

/// One recorded outbound call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// What the call was.
    pub kind: DeliveryKind,
    /// URL called (for validations, including the `validationToken` query).
    pub target: String,
    /// Subscription concerned, when one exists yet.
    pub subscription_id: Option<String>,
    /// HTTP status answered, if any answer came.
    pub status: Option<u16>,
    /// Transport error or timeout, if no answer came.
    pub error: Option<String>,
    /// Time to the answer (or the failure), in milliseconds.
    pub latency_ms: u64,
    /// Whether the answer took longer than Graph's 3 s delivery budget.
    pub slow: bool,
    /// When the call was made (emulator clock).
    pub at: String,
    /// JSON body sent (`null` for validations).
    pub payload: Value,
}

fn record(
    shared: &Shared,
    kind: DeliveryKind,
    target: &str,
    subscription_id: Option<&str>,
    payload: Value,
    started: Instant,
    outcome: &Result<u16, String>,
) -> Delivery {
    let elapsed = started.elapsed();
    let mut st = shared.lock();
    let delivery = Delivery {
        kind,
        target: target.to_string(),
        subscription_id: subscription_id.map(str::to_string),
        status: outcome.as_ref().ok().copied(),
        error: outcome.as_ref().err().cloned(),
        latency_ms: elapsed.as_millis() as u64,
        slow: elapsed > SLOW_DELIVERY,
        at: fmt_time(st.now()),
        payload,
    };
    st.deliveries.push(delivery.clone());
    delivery
}

/// The validation handshake: POST `?validationToken=…` (text/plain); the endpoint must answer
/// 200, `text/plain`, the decoded token, within the handshake timeout.
pub(crate) async fn validate_endpoint(shared: &Shared, url: &str) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url::Url::parse(url).map_err(|e| format!("Invalid notification URL: {e}"))?;
    target.query_pairs_mut().append_pair("validationToken", &token);
    let started = Instant::now();
    let call = async {
        let response = shared
            .http
            .post(target.clone())
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body("")
            .send()
            .await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, content_type, body))
    };
    let answer = tokio::time::timeout(shared.config.handshake_timeout, call).await;
    let outcome = match &answer {
        Ok(Ok((status, _, _))) => Ok(*status),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    };
    record(
        shared,
        DeliveryKind::Validation,
        target.as_str(),
        None,
        Value::Null,
        started,
        &outcome,
    );
    let failed = |why: String| {
        Err(format!(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. {why}"
        ))
    };
    match answer {
        Err(_) => Err(format!(
            "Subscription validation request timeout. The notification endpoint {url} did not answer within {} s.",
            shared.config.handshake_timeout.as_secs_f32()
        )),
        Ok(Err(e)) => failed(format!("The request to {url} failed: {e}.")),
        Ok(Ok((status, _, _))) if status != 200 => failed(format!("It answered {status}.")),
        Ok(Ok((_, content_type, _))) if !content_type.starts_with("text/plain") => failed(format!(
            "The answer's Content-Type was '{content_type}', not text/plain."
        )),
        Ok(Ok((_, _, body))) if body != token => failed("The answer did not echo the validation token.".into()),
        Ok(Ok(_)) => Ok(()),
    }
}

/// POSTs a notification batch and records it.
async fn post(shared: &Shared, kind: DeliveryKind, target: &str, subscription_id: &str, payload: Value) -> Delivery {
    let started = Instant::now();
    let call = shared
        .http
        .post(target)
        .timeout(shared.config.delivery_timeout)
        .json(&payload)
        .send()
        .await;
    let outcome = call.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
    record(shared, kind, target, Some(subscription_id), payload, started, &outcome)
}

/// Sends an `updated` change notification to every live subscription on `drive_id`.
pub(crate) async fn notify_drive_change(shared: &Shared, drive_id: &str) -> Vec<Delivery> {
    let targets: Vec<Subscription> = {
        let st = shared.lock();
        let now = st.now();
        st.subscriptions
            .values()
            .filter(|s| s.drive_id.as_deref() == Some(drive_id) && s.expiration > now)
            .cloned()
            .collect()
    };
    let mut deliveries = Vec::new();
    for s in targets {
        let payload = json!({
            "value": [{
                "subscriptionId": s.id,
                "clientState": s.client_state,
                "changeType": "updated",
                "resource": s.resource,
                "tenantId": s.tenant_id,
                "subscriptionExpirationDateTime": fmt_time(s.expiration),
                "resourceData": null,
            }]
        });
        deliveries.push(post(shared, DeliveryKind::Change, &s.notification_url, &s.id, payload).await);
    }
    deliveries
}

/// Sends a lifecycle event for a subscription to its `lifecycleNotificationUrl`. Unless
/// `force`, refuses events the resource does not get (drives get only `reauthorizationRequired`).
pub(crate) async fn send_lifecycle(
    shared: &Shared,
    subscription: &Subscription,
    event: LifecycleEvent,
    force: bool,
) -> Result<Delivery, ControlError> {
    if !force && !subscription.kind.supports(event) {
        return Err(ControlError::bad_request(format!(
            "resource '{}' does not get '{}' lifecycle events (pass force to send anyway)",
            subscription.resource,
            event.as_str()
        )));
    }
    let target = subscription.lifecycle_url.as_deref().ok_or_else(|| {
        ControlError::bad_request(format!(
            "subscription {} has no lifecycleNotificationUrl",
            subscription.id
        ))
    })?;
    let payload = json!({
        "value": [{
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": fmt_time(subscription.expiration),
            "tenantId": subscription.tenant_id,
            "clientState": subscription.client_state,
            "lifecycleEvent": event.as_str(),
            "resource": subscription.resource,
        }]
    });
    Ok(post(shared, DeliveryKind::Lifecycle, target, &subscription.id, payload).await)
}
