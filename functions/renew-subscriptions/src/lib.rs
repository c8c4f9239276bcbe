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
//! Access tokens come from [`graphwatch_shared::tokens`], the one path that redeems a refresh
//! token, once per connection per invocation. `invalid_grant` marks the connection
//! `needs_consent` (audited, logged with the connection's key) and its subscriptions wait
//! for the user to sign in again: no later run asks the token endpoint again for them.
//! Renew and reauthorize are never made within 10 minutes of each other on one
//! subscription. Graph writes run [`CONCURRENCY`] at a time and are paced per tenant by a
//! [`WriteLimiter`] (`SUBSCRIPTION_WRITES_PER_20S`, default 400, below Graph's 500). A run
//! takes no new work once less than [`RESERVE`] of the invocation remains and ends with one
//! summary log line.
//!
//! Modules: `run` (the renewal run and the state of an invocation), `operations` (renew,
//! reauthorize or recreate one subscription), `daily`, `stream`, `tokens` (the per-invocation
//! cache over the token path), `audit` (batched audit events), `summary` (outcomes and counters).

mod audit;
mod daily;
mod operations;
mod run;
mod stream;
mod summary;
mod tokens;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use graphwatch_shared::config::Config;
use graphwatch_shared::graph::{self, GraphClient, RetryPolicy};
use graphwatch_shared::identity::IdentityClient;
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::{Store, StoreError};
use graphwatch_shared::subscriptions::WriteLimiter;
use serde_json::Value;

/// Subscriptions worked on at once.
pub const CONCURRENCY: usize = 64;
/// A run takes no new work once less than this remains of the invocation.
pub const RESERVE: Duration = Duration::from_secs(60);
/// Renew and reauthorize are never made within this time of each other on one subscription.
pub const RENEW_REAUTHORIZE_GAP: time::Duration = time::Duration::minutes(10);
/// The smallest renewal window: a subscription is renewed when less than this is left.
pub const MIN_WINDOW: time::Duration = time::Duration::hours(1);

pub use graphwatch_shared::clients::StartError;

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
        let http = graphwatch_shared::clients::http_client()?;
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
    /// `{"task":"daily"}`, or a DynamoDB stream event (returns
    /// `{"batchItemFailures":[{"itemIdentifier": <SequenceNumber>}]}`).
    pub async fn handle(&self, event: Value, deadline: SystemTime) -> Result<Value, Error> {
        if event.get("Records").is_some() {
            let event: StreamEvent = serde_json::from_value(event)
                .map_err(|e| Error::UnknownEvent(format!("not a DynamoDB stream event: {e}")))?;
            let response = self.stream(event, deadline).await;
            return Ok(serde_json::to_value(response).expect("a batch response serialises"));
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
}
