//! privacy-scan: delta-syncs drives with pending work and scans their changed files.
//!
//! - **Triggers** ([`App::handle`], here): the nightly schedule (`{"task":"nightly"}`) marks
//!   every active drive `pending`; a DynamoDB stream batch of drive items (filtered by the
//!   template to drives that just became pending) runs one pass per drive, reporting failed
//!   records as batch item failures so that only they are retried.
//! - **A pass** (`pass.rs`, [`App::scan_drive`]): takes the drive's lease (which clears
//!   `pending`, so notifications arriving during the pass start another one), follows the delta
//!   from the stored deltaLink (none: a full enumeration) page by page, checkpointing each
//!   page's link; `410 Gone` restarts from its `Location` as a full resync. One [`ScanRecord`]
//!   per pass, rewritten after every page. A full pass ends by removing the results of files it
//!   did not see. When less than [`TIME_RESERVE`] of the invocation is left, the pass stops
//!   between files, keeps its checkpoint and gives the lease up with work left (`pending`
//!   again), so the stream continues it in a new invocation under the same scan record.
//! - **An item** (`item.rs`): each page's items are handled with bounded concurrency: deleted
//!   items lose their result, folders are skipped, files whose cTag equals their stored
//!   result's are skipped, unsupported types and files over the size cap are recorded
//!   without a download, the rest are fetched (`fetch.rs`: a ranged prefix of 64 KiB for
//!   images, extended while the metadata needs more; documents whole up to the size cap) and
//!   scanned. One [`FileResult`](graphwatch_shared::store::FileResult) per file ([`files`],
//!   redacted samples only).
//! - **Tokens** (`access.rs`): the connection's refresh token is redeemed when the pass needs a
//!   token and again when Graph answers 401 (expired mid-pass); the rotated one is stored
//!   sealed ([`graphwatch_shared::tokens`]). `invalid_grant` marks the connection
//!   `needs_consent` and stops the pass cleanly.
//! - **Alerts** ([`alerts`]): a completed pass that scanned high or critical files posts one
//!   message to the Slack and/or Teams webhooks of the app secret.

mod access;
pub mod alerts;
mod fetch;
pub mod files;
mod item;
mod pass;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use graphwatch_shared::config::Config;
use graphwatch_shared::graph::{GraphClient, GraphError, RetryPolicy};
use graphwatch_shared::identity::IdentityClient;
use graphwatch_shared::secrets::{SecretsCache, SecretsError};
use graphwatch_shared::store::{PendingMark, ScanRecord, Store, StoreError};
use graphwatch_shared::tokens::TokenError;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use pass::time_left;

/// Time kept free at the end of an invocation: a pass stops starting downloads once less is
/// left, checkpoints and hands the rest to a new invocation.
pub const TIME_RESERVE: Duration = Duration::from_secs(60);

pub use graphwatch_shared::clients::StartError;

/// Why an invocation or a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event is neither `{"task":"nightly"}` nor a DynamoDB stream batch.
    #[error("unrecognised event: {0}")]
    Event(String),
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Graph failed (after the client's retries).
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    /// No access token could be had for the drive's connection.
    #[error("access token: {0}")]
    Token(#[from] TokenError),
    /// The app secret could not be read.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// Another invocation took the drive's lease over (ours had expired).
    #[error("lease on drive {0} lost")]
    LeaseLost(String),
}

/// How a call to [`App::scan_drive`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PassOutcome {
    /// The pass finished: the drive has a new deltaLink.
    Completed(ScanRecord),
    /// The pass stopped early (time nearly up, or Graph asked to back off) with its
    /// checkpoint kept and the drive `pending` again, to be continued by a new invocation.
    Paused(ScanRecord),
    /// Another invocation holds the drive's lease: nothing done, `pending` left as it is.
    Busy,
    /// The drive's connection needs the user to sign in again: the pass stopped.
    NeedsConsent,
    /// No such drive, or it is no longer watched.
    NotWatched,
}

impl PassOutcome {
    /// A short name for logs.
    fn name(&self) -> &'static str {
        match self {
            PassOutcome::Completed(_) => "completed",
            PassOutcome::Paused(_) => "paused",
            PassOutcome::Busy => "busy",
            PassOutcome::NeedsConsent => "needs_consent",
            PassOutcome::NotWatched => "not_watched",
        }
    }
}

/// The privacy-scan handler with its clients.
pub struct App {
    config: Config,
    store: Store,
    secrets: SecretsCache,
    graph: GraphClient,
    identity: IdentityClient,
    http: reqwest::Client,
    tokens: Mutex<HashMap<access::ConnKey, access::CachedToken>>,
}

/// The drive fields the stream handler reads from a record's new image.
#[derive(Deserialize)]
struct StreamItem {
    sk: String,
    #[serde(default)]
    drive_id: Option<String>,
}

impl App {
    /// Builds the handler from its configuration, table and secret.
    pub fn new(config: Config, store: Store, secrets: SecretsCache) -> Result<App, StartError> {
        let http = graphwatch_shared::clients::http_client()?;
        let graph = GraphClient::new(http.clone(), &config.graph_base_url).with_retry(RetryPolicy {
            max_retries: 5,
            max_wait: Duration::from_secs(30),
        });
        let identity = IdentityClient::new(http.clone(), &config)?;
        Ok(App {
            config,
            store,
            secrets,
            graph,
            identity,
            http,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Handles any event this function receives: `{"task":"nightly"}` (answers
    /// `{"marked": n, "drives": m}`) or a DynamoDB stream event (answers
    /// `{"batchItemFailures":[{"itemIdentifier": <SequenceNumber>}]}`).
    pub async fn handle(&self, event: Value, deadline: SystemTime) -> Result<Value, Error> {
        if event.get("task").and_then(Value::as_str) == Some("nightly") {
            return self.nightly().await;
        }
        if event.get("Records").is_some() {
            let batch: dynamodb::Event =
                serde_json::from_value(event).map_err(|e| Error::Event(format!("not a DynamoDB stream event: {e}")))?;
            let response = self.stream(batch, deadline).await;
            return Ok(serde_json::to_value(response).expect("a batch response serialises"));
        }
        Err(Error::Event(
            "expected {\"task\":\"nightly\"} or a DynamoDB stream event with Records".into(),
        ))
    }

    /// Marks every active drive pending, for a delta safety pass.
    async fn nightly(&self) -> Result<Value, Error> {
        let now = OffsetDateTime::now_utc();
        let drives = self.store.active_drives().await?;
        let mut marked = 0;
        for drive in drives.iter().filter(|d| d.active) {
            if self.store.mark_drive_pending(&drive.drive_id, 0, now).await? == PendingMark::Marked {
                marked += 1;
            }
        }
        tracing::info!(drives = drives.len(), marked, "nightly: active drives marked pending");
        Ok(json!({ "marked": marked, "drives": drives.len() }))
    }

    /// Runs a pass per drive record; failed records become batch item failures.
    async fn stream(&self, batch: dynamodb::Event, deadline: SystemTime) -> DynamoDbEventResponse {
        let mut failures = Vec::new();
        let mut done: HashMap<String, bool> = HashMap::new();
        for record in batch.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            if record.change.new_image.is_empty() {
                continue; // a removed item
            }
            let item: StreamItem = match serde_dynamo::from_item(record.change.new_image) {
                Ok(item) => item,
                Err(e) => {
                    tracing::error!(sequence, error = %e, "stream record is not a table item");
                    failures.push(sequence);
                    continue;
                }
            };
            let Some(drive_id) = item.drive_id.filter(|_| item.sk == "DRIVE") else {
                tracing::debug!(sk = item.sk, "stream record ignored: not a drive");
                continue;
            };
            let ok = match done.get(&drive_id) {
                Some(ok) => *ok,
                None if time_left(deadline) < TIME_RESERVE => false,
                None => {
                    let ok = match self.scan_drive(&drive_id, deadline).await {
                        Ok(outcome) => {
                            tracing::info!(drive_id, outcome = outcome.name(), "drive pass ended");
                            true
                        }
                        Err(e) => {
                            tracing::error!(drive_id, error = %e, "drive pass failed");
                            false
                        }
                    };
                    done.insert(drive_id, ok);
                    ok
                }
            };
            if !ok {
                failures.push(sequence);
            }
        }
        batch_response(failures)
    }
}

/// The stream answer: the records Lambda retries (by their sequence numbers).
fn batch_response(failures: Vec<String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|sequence| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_response_lists_failed_sequence_numbers() {
        let response = serde_json::to_value(batch_response(vec!["11".into(), "12".into()])).unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "11"}, {"itemIdentifier": "12"}]})
        );
        let none = serde_json::to_value(batch_response(Vec::new())).unwrap();
        assert_eq!(none, json!({"batchItemFailures": []}));
    }
}
