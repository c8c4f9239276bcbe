//! privacy-scan: delta-syncs drives with pending work and scans their changed files.
//!
//! - **Triggers** ([`App::handle`]): the nightly schedule (`{"task":"nightly"}`) marks every
//!   active drive `pending`; a DynamoDB stream batch of drive items (filtered by the template
//!   to drives that just became pending) runs one pass per drive, reporting failed records as
//!   batch item failures so that only they are retried.
//! - **A pass** ([`App::scan_drive`]): takes the drive's lease (which clears `pending`, so
//!   notifications arriving during the pass start another one), follows the delta from the
//!   stored deltaLink (none: a full enumeration) page by page, checkpointing each page's link;
//!   `410 Gone` restarts from its `Location` as a full resync. Each page's files are handled
//!   with bounded concurrency: deleted items lose their result, folders are skipped, files
//!   whose cTag equals their stored result's are skipped, images are fetched with a ranged
//!   request for their first 64 KiB (extended while the metadata needs more), documents whole up to the size cap, unsupported types
//!   not at all. One [`FileResult`] per file (redacted samples only), one [`ScanRecord`] per
//!   pass, rewritten after every page. A full pass ends by removing the results of files it
//!   did not see. When less than [`TIME_RESERVE`] of the invocation is left, the pass stops
//!   between files, keeps its checkpoint and gives the lease up with work left (`pending`
//!   again), so the stream continues it in a new invocation under the same scan record.
//! - **Tokens**: the connection's refresh token is redeemed when the pass needs a token and
//!   again when Graph answers 401 (expired mid-pass); the rotated one is stored sealed
//!   ([`graphwatch_shared::tokens`]). `invalid_grant` marks the connection `needs_consent`
//!   and stops the pass cleanly.
//! - **Alerts**: a completed pass that scanned high or critical files posts one message to
//!   the Slack and/or Teams webhooks of the app secret ([`alerts`]).

pub mod alerts;
pub mod files;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use graphwatch_privacy::{needed_prefix, scan_bytes, FileReport, Format, Prefix, ScanOptions, Status};
use graphwatch_shared::config::Config;
use graphwatch_shared::graph::{self, DriveItem, GraphClient, GraphError, RetryPolicy};
use graphwatch_shared::identity::{AccessToken, IdentityClient};
use graphwatch_shared::secrets::{SecretsCache, SecretsError};
use graphwatch_shared::store::{
    Drive, FileResult, FileStatus, Risk, RiskCounts, ScanKind, ScanRecord, ScanStatus, ScanTotals, Store, StoreError,
};
use graphwatch_shared::tokens::{self, TokenError};
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use files::{Fetch, IMAGE_PREFIX};

/// Time kept free at the end of an invocation: a pass stops starting downloads once less is
/// left, checkpoints and hands the rest to a new invocation.
pub const TIME_RESERVE: Duration = Duration::from_secs(60);
/// How long past the invocation's deadline a lease outlives a crashed invocation.
const LEASE_MARGIN: Duration = Duration::from_secs(120);
/// A token this close to its expiry is refreshed before use.
const TOKEN_MARGIN: time::Duration = time::Duration::minutes(2);
/// Consecutive `410 Gone` answers tolerated before the pass gives up.
const MAX_RESYNCS: u32 = 3;
/// Times an image's prefix is extended when its metadata runs past what was fetched.
const MAX_PREFIX_EXTENSIONS: u32 = 3;

pub use graphwatch_shared::config::StartError;

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

/// A cached access token of one connection.
struct CachedToken {
    token: AccessToken,
    expires_at: OffsetDateTime,
}

/// The connection a drive belongs to: `(tenant id, user object id)`.
type ConnKey = (String, String);

/// The privacy-scan handler with its clients.
pub struct App {
    config: Config,
    store: Store,
    secrets: SecretsCache,
    graph: GraphClient,
    identity: IdentityClient,
    http: reqwest::Client,
    tokens: Mutex<HashMap<ConnKey, CachedToken>>,
}

/// The state of one pass shared by its file tasks.
struct Pass<'a> {
    drive_id: &'a str,
    conn: ConnKey,
    scan_id: String,
    full: bool,
    deadline: SystemTime,
    downloads: AtomicU64,
    stopping: AtomicBool,
}

impl Pass<'_> {
    /// Whether a download may start now: always while more than [`TIME_RESERVE`] is left,
    /// else only as the invocation's first (so that every invocation makes progress).
    fn may_download(&self) -> bool {
        if self.stopping.load(Ordering::SeqCst) {
            return false;
        }
        if time_left(self.deadline) >= TIME_RESERVE {
            self.downloads.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        self.downloads
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// What happened to one delta item.
enum ItemOutcome {
    /// A folder, the root, or a file gone before it could be fetched.
    Ignored,
    /// A deleted item: its result was removed.
    Removed,
    /// Already handled earlier in this pass (repeated item or continued page).
    AlreadyDone,
    /// Same cTag as its stored result.
    Unchanged { size: u64, risk: Risk },
    /// Scanned (or classified without download) and stored.
    Stored {
        size: u64,
        downloaded: u64,
        status: FileStatus,
        risk: Risk,
    },
    /// A transient failure; no result stored.
    Failed { size: u64, downloaded: u64 },
    /// Not done now: out of time, or Graph asked to back off.
    Deferred,
    /// The connection needs consent.
    ConsentLost,
}

fn time_left(deadline: SystemTime) -> Duration {
    deadline.duration_since(SystemTime::now()).unwrap_or_default()
}

fn full_delta_path(drive_id: &str) -> String {
    format!("/drives/{drive_id}/root/delta")
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
        let http = graph::http_client()?;
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
            let batch: aws_lambda_events::event::dynamodb::Event =
                serde_json::from_value(event).map_err(|e| Error::Event(format!("not a DynamoDB stream event: {e}")))?;
            return Ok(self.stream(batch, deadline).await);
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
            if self.store.mark_drive_pending(&drive.drive_id, 0, now).await?
                == graphwatch_shared::store::PendingMark::Marked
            {
                marked += 1;
            }
        }
        tracing::info!(drives = drives.len(), marked, "nightly: active drives marked pending");
        Ok(json!({ "marked": marked, "drives": drives.len() }))
    }

    /// Runs a pass per drive record; failed records become batch item failures.
    async fn stream(&self, batch: aws_lambda_events::event::dynamodb::Event, deadline: SystemTime) -> Value {
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
                            tracing::info!(drive_id, outcome = outcome_name(&outcome), "drive pass ended");
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
        let failures: Vec<Value> = failures.into_iter().map(|id| json!({ "itemIdentifier": id })).collect();
        json!({ "batchItemFailures": failures })
    }

    /// Runs one pass over a drive now (used by [`App::handle`] and by tests and dev tools).
    pub async fn scan_drive(&self, drive_id: &str, deadline: SystemTime) -> Result<PassOutcome, Error> {
        match self.store.get_drive(drive_id).await? {
            Some(d) if d.active => {}
            _ => return Ok(PassOutcome::NotWatched),
        }
        let owner = uuid::Uuid::new_v4().to_string();
        let now = OffsetDateTime::now_utc();
        let Some(drive) = self
            .store
            .acquire_drive_lease(drive_id, &owner, now, lease_until(deadline))
            .await?
        else {
            tracing::info!(
                drive_id,
                "drive is leased by another invocation; its pending work waits"
            );
            return Ok(PassOutcome::Busy);
        };
        let result = self.pass(&drive, &owner, deadline).await;
        if result.is_err() {
            if let Err(e) = self.store.release_drive_lease(drive_id, &owner, false).await {
                tracing::warn!(drive_id, error = %e, "lease not released after a failed pass");
            }
        }
        result
    }

    /// The pass itself, under the lease.
    async fn pass(&self, drive: &Drive, owner: &str, deadline: SystemTime) -> Result<PassOutcome, Error> {
        let drive_id = drive.drive_id.as_str();
        let conn = (drive.tenant_id.clone(), drive.user_oid.clone());
        // a connection that lost consent gets no scan record (the nightly pass marks its drives too)
        match self.access_token(&conn, None).await {
            Err(Error::Token(TokenError::NeedsConsent)) => {
                self.store.release_drive_lease(drive_id, owner, false).await?;
                tracing::warn!(drive_id, "drive not scanned: its connection needs consent");
                return Ok(PassOutcome::NeedsConsent);
            }
            other => other?,
        };
        let now = OffsetDateTime::now_utc();
        let resumed = match (&drive.checkpoint, &drive.current_scan_id) {
            (Some(_), Some(id)) => self
                .store
                .latest_scans(drive_id, 20)
                .await?
                .into_iter()
                .find(|s| &s.scan_id == id && s.status == ScanStatus::Running),
            _ => None,
        };
        let (mut link, mut scan) = match (drive.checkpoint.clone(), resumed) {
            (Some(checkpoint), Some(scan)) => (checkpoint, scan),
            (checkpoint, _) => {
                let kind = if drive.delta_link.is_some() {
                    ScanKind::Incremental
                } else {
                    ScanKind::Full
                };
                let link = checkpoint
                    .or_else(|| drive.delta_link.clone())
                    .unwrap_or_else(|| full_delta_path(drive_id));
                (link, new_scan(drive_id, kind, now))
            }
        };
        scan.invocations += 1;
        let mut pass = Pass {
            drive_id,
            conn,
            scan_id: scan.scan_id.clone(),
            full: scan.kind == ScanKind::Full,
            deadline,
            downloads: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        };
        self.checkpoint(&pass, owner, &link).await?;
        self.store.put_scan(&scan).await?;
        tracing::info!(drive_id, scan_id = scan.scan_id, kind = ?scan.kind, invocation = scan.invocations, "pass started");
        let mut resyncs = 0;
        loop {
            let current = link.as_str();
            let page = match self
                .graph_call(&pass.conn, |t| async move { self.graph.delta_page(&t, current).await })
                .await
            {
                Ok(page) => page,
                Err(Error::Graph(GraphError::Gone { location })) if resyncs < MAX_RESYNCS => {
                    resyncs += 1;
                    link = location.unwrap_or_else(|| full_delta_path(drive_id));
                    tracing::warn!(
                        drive_id,
                        scan_id = scan.scan_id,
                        "delta token expired (410): full resync"
                    );
                    scan.kind = ScanKind::Full;
                    pass.full = true;
                    self.checkpoint(&pass, owner, &link).await?;
                    continue;
                }
                Err(Error::Token(TokenError::NeedsConsent)) => return self.stop_for_consent(&pass, owner, scan).await,
                Err(e) => return Err(e),
            };
            resyncs = 0;
            // an item may repeat within a page: the last occurrence wins
            let mut seen = HashSet::new();
            let mut items: Vec<DriveItem> = page
                .items
                .into_iter()
                .rev()
                .filter(|i| seen.insert(i.id.clone()))
                .collect();
            items.reverse();
            let outcomes: Vec<Result<ItemOutcome, Error>> = futures::stream::iter(items)
                .map(|item| self.item(&pass, item))
                .buffer_unordered(self.config.limits.scan_concurrency.max(1))
                .collect()
                .await;
            let mut deferred = false;
            let mut consent_lost = false;
            for outcome in outcomes {
                match outcome? {
                    ItemOutcome::Deferred => deferred = true,
                    ItemOutcome::ConsentLost => consent_lost = true,
                    other => count(&mut scan.totals, &mut scan.risk_counts, other),
                }
            }
            if consent_lost {
                return self.stop_for_consent(&pass, owner, scan).await;
            }
            if deferred {
                // the page's link stays the checkpoint: its handled files are skipped next time
                return self.pause(&pass, owner, scan).await;
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    link = next;
                    self.checkpoint(&pass, owner, &link).await?;
                    self.store.put_scan(&scan).await?;
                    log_progress(drive_id, &scan);
                    if time_left(deadline) < TIME_RESERVE {
                        return self.pause(&pass, owner, scan).await;
                    }
                }
                (None, Some(delta_link)) => return self.complete(&pass, owner, scan, &delta_link).await,
                (None, None) => {
                    return Err(Error::Graph(GraphError::Protocol(
                        "a delta page with neither nextLink nor deltaLink".into(),
                    )))
                }
            }
        }
    }

    /// Saves the pass position and extends the lease.
    async fn checkpoint(&self, pass: &Pass<'_>, owner: &str, link: &str) -> Result<(), Error> {
        let saved = self
            .store
            .checkpoint_drive(pass.drive_id, owner, link, &pass.scan_id, lease_until(pass.deadline))
            .await?;
        if saved {
            Ok(())
        } else {
            Err(Error::LeaseLost(pass.drive_id.to_owned()))
        }
    }

    /// Stops for now: the checkpoint stays, the drive is pending again.
    async fn pause(&self, pass: &Pass<'_>, owner: &str, scan: ScanRecord) -> Result<PassOutcome, Error> {
        self.store.put_scan(&scan).await?;
        self.store.release_drive_lease(pass.drive_id, owner, true).await?;
        log_progress(pass.drive_id, &scan);
        tracing::info!(
            drive_id = pass.drive_id,
            scan_id = scan.scan_id,
            "pass paused; a new invocation continues it"
        );
        Ok(PassOutcome::Paused(scan))
    }

    /// Stops because the connection needs consent: the scan record is marked failed.
    async fn stop_for_consent(&self, pass: &Pass<'_>, owner: &str, mut scan: ScanRecord) -> Result<PassOutcome, Error> {
        finish(&mut scan, ScanStatus::Failed);
        self.store.put_scan(&scan).await?;
        self.store.release_drive_lease(pass.drive_id, owner, false).await?;
        tracing::warn!(
            drive_id = pass.drive_id,
            scan_id = scan.scan_id,
            "pass stopped: the connection needs consent"
        );
        Ok(PassOutcome::NeedsConsent)
    }

    /// Ends a pass: a full pass removes the results of files it did not see; the deltaLink
    /// is kept; high and critical files are announced.
    async fn complete(
        &self,
        pass: &Pass<'_>,
        owner: &str,
        mut scan: ScanRecord,
        delta_link: &str,
    ) -> Result<PassOutcome, Error> {
        let results = self.store.file_results(pass.drive_id).await?;
        let mut worst: Vec<FileResult> = Vec::new();
        for result in results {
            if result.scan_id != scan.scan_id {
                if pass.full {
                    self.store.delete_file_result(pass.drive_id, &result.item_id).await?;
                }
            } else if result.risk >= Risk::High && result.scanned_at >= scan.started_at {
                worst.push(result);
            }
        }
        finish(&mut scan, ScanStatus::Completed);
        self.store.put_scan(&scan).await?;
        if !self
            .store
            .complete_drive_pass(pass.drive_id, owner, delta_link, OffsetDateTime::now_utc())
            .await?
        {
            return Err(Error::LeaseLost(pass.drive_id.to_owned()));
        }
        log_progress(pass.drive_id, &scan);
        if !worst.is_empty() {
            worst.sort_by(FileResult::worst_first);
            self.alert(pass.drive_id, &scan, &worst).await;
        }
        Ok(PassOutcome::Completed(scan))
    }

    /// Posts the pass's alert to the configured webhooks; never fails.
    async fn alert(&self, drive_id: &str, scan: &ScanRecord, worst: &[FileResult]) {
        let secret = match self.secrets.get().await {
            Ok(secret) => secret,
            Err(e) => {
                tracing::error!(error = %e, "alert not sent: the secret is unreadable");
                return;
            }
        };
        let (slack, teams) = (secret.slack_webhook_url.as_deref(), secret.teams_webhook_url.as_deref());
        if slack.is_none() && teams.is_none() {
            return;
        }
        let text = alerts::message(drive_id, scan, worst);
        let delivered = alerts::send(&self.http, slack, teams, &text).await;
        tracing::info!(drive_id, files = worst.len(), delivered, "alert sent");
    }

    /// Handles one delta item.
    async fn item(&self, pass: &Pass<'_>, item: DriveItem) -> Result<ItemOutcome, Error> {
        let drive_id = pass.drive_id;
        if item.is_deleted() {
            self.store.delete_file_result(drive_id, &item.id).await?;
            return Ok(ItemOutcome::Removed);
        }
        if !item.is_file() {
            return Ok(ItemOutcome::Ignored);
        }
        let size = item.size.unwrap_or(0);
        let stored = self.store.get_file_result(drive_id, &item.id).await?;
        if let Some(mut stored) = stored.filter(|s| s.c_tag.is_some() && s.c_tag == item.c_tag) {
            if stored.scan_id == pass.scan_id {
                return Ok(ItemOutcome::AlreadyDone);
            }
            if pass.full {
                // a full pass marks what it saw, so that it can remove the rest at its end
                stored.scan_id = pass.scan_id.clone();
                self.store.put_file_result(&stored).await?;
            }
            return Ok(ItemOutcome::Unchanged {
                size,
                risk: stored.risk,
            });
        }
        let max = self.config.limits.max_file_size;
        let fetch = files::fetch_kind(
            item.name.as_deref().unwrap_or(""),
            item.file.as_ref().and_then(|f| f.mime_type.as_deref()),
        );
        let now = OffsetDateTime::now_utc();
        let (result, downloaded) = if fetch == Fetch::Unsupported {
            let report = FileReport::unread(Status::Unsupported, "file type not read (by its name and MIME type)");
            (files::file_result(drive_id, &item, &report, &pass.scan_id, now), 0)
        } else if size > max {
            let report = FileReport::unread(Status::TooLarge, &format!("file is larger than {max} bytes"));
            (files::file_result(drive_id, &item, &report, &pass.scan_id, now), 0)
        } else if !pass.may_download() {
            return Ok(ItemOutcome::Deferred);
        } else {
            match self.fetch_and_scan(pass, &item, fetch).await {
                Ok((mut report, downloaded)) => {
                    report.conceal();
                    (
                        files::file_result(drive_id, &item, &report, &pass.scan_id, now),
                        downloaded,
                    )
                }
                Err(Error::Graph(GraphError::NotFound { .. })) => return Ok(ItemOutcome::Ignored),
                Err(Error::Graph(GraphError::Throttled { retry_after })) => {
                    tracing::warn!(drive_id, ?retry_after, "Graph keeps throttling: pass paused");
                    pass.stopping.store(true, Ordering::SeqCst);
                    return Ok(ItemOutcome::Deferred);
                }
                Err(Error::Graph(e)) if e.is_transient() => {
                    tracing::warn!(drive_id, item_id = item.id, error = %e, "file not fetched");
                    return Ok(ItemOutcome::Failed { size, downloaded: 0 });
                }
                Err(Error::Graph(e)) => {
                    tracing::warn!(drive_id, item_id = item.id, error = %e, "file refused by Graph");
                    let why = format!("download refused: {e}");
                    (files::error_result(drive_id, &item, &why, &pass.scan_id, now), 0)
                }
                Err(Error::Token(TokenError::NeedsConsent)) => return Ok(ItemOutcome::ConsentLost),
                Err(e) => return Err(e),
            }
        };
        self.store.put_file_result(&result).await?;
        Ok(ItemOutcome::Stored {
            size,
            downloaded,
            status: result.status,
            risk: result.risk,
        })
    }

    /// Downloads what the engine needs of a file and scans it; returns the report and the
    /// bytes downloaded.
    async fn fetch_and_scan(
        &self,
        pass: &Pass<'_>,
        item: &DriveItem,
        fetch: Fetch,
    ) -> Result<(FileReport, u64), Error> {
        let max = self.config.limits.max_file_size;
        let url = self
            .graph_call(&pass.conn, |t| async move {
                self.graph.content_download_url(&t, pass.drive_id, &item.id).await
            })
            .await?;
        let opts = ScanOptions {
            max_size: max,
            ..ScanOptions::default()
        };
        let too_large = || FileReport::unread(Status::TooLarge, &format!("file is larger than {max} bytes"));
        let mut bytes = Vec::new();
        let mut total = None;
        if fetch == Fetch::Image {
            let mut want = IMAGE_PREFIX;
            for _ in 0..=MAX_PREFIX_EXTENSIONS {
                let have = bytes.len() as u64;
                let Some(part) = self.graph.download_capped(&url, Some((have, want - 1)), max).await? else {
                    return Ok((too_large(), have));
                };
                let whole = !part.partial;
                total = part.total_size;
                bytes.extend_from_slice(&part.bytes);
                let have = bytes.len() as u64;
                if whole || total.is_some_and(|t| t <= have) {
                    return Ok((scan(bytes, opts).await, have));
                }
                match needed_prefix(&bytes) {
                    Prefix::Complete => {
                        let report = scan(bytes.clone(), opts.clone()).await;
                        // JPEG metadata ends where the image data starts, so the prefix's verdict
                        // is the file's; other parsers (PNG, WebP) report a cut-off prefix as
                        // damaged: fetch the rest of those
                        if report.status == Status::Scanned || report.format == Format::Jpeg {
                            return Ok((report, have));
                        }
                        break;
                    }
                    Prefix::NeedMore(n) if n <= max => want = n.max(have + 1),
                    _ => break,
                }
            }
        }
        // the whole file (or its rest), up to the cap
        let have = bytes.len() as u64;
        let range = match total {
            Some(t) if have > 0 => Some((have, t.saturating_sub(1))),
            _ => {
                bytes.clear();
                None
            }
        };
        let downloaded_before = have;
        let Some(rest) = self
            .graph
            .download_capped(&url, range, max.saturating_sub(bytes.len() as u64))
            .await?
        else {
            return Ok((too_large(), downloaded_before));
        };
        let downloaded = downloaded_before + rest.bytes.len() as u64;
        bytes.extend_from_slice(&rest.bytes);
        Ok((scan(bytes, opts).await, downloaded))
    }

    /// Calls Graph with the connection's access token, refreshing it once on 401.
    async fn graph_call<T, F, Fut>(&self, conn: &ConnKey, call: F) -> Result<T, Error>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, GraphError>>,
    {
        let token = self.access_token(conn, None).await?;
        match call(token.clone()).await {
            Err(GraphError::Unauthorized { .. }) => {
                tracing::info!("access token refused (expired?): refreshing");
                let fresh = self.access_token(conn, Some(&token)).await?;
                Ok(call(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    /// The connection's cached access token, refreshed when close to expiry or when `stale`
    /// (a token Graph refused) is still the cached one. Refreshes are serialised: the refresh
    /// token rotates on every use.
    async fn access_token(&self, conn: &ConnKey, stale: Option<&AccessToken>) -> Result<AccessToken, Error> {
        let mut cache = self.tokens.lock().await;
        if let Some(cached) = cache.get(conn) {
            let refused = stale.is_some_and(|s| s.secret() == cached.token.secret());
            if !refused && cached.expires_at - TOKEN_MARGIN > OffsetDateTime::now_utc() {
                return Ok(cached.token.clone());
            }
        }
        let secret = self.secrets.get().await?;
        let fresh = tokens::connection_access_token(&self.store, &self.identity, &secret, &conn.0, &conn.1).await?;
        let token = fresh.access_token.clone();
        cache.insert(
            conn.clone(),
            CachedToken {
                token: fresh.access_token,
                expires_at: fresh.expires_at,
            },
        );
        Ok(token)
    }
}

/// Scans bytes on the blocking pool (the engine is CPU-bound).
async fn scan(bytes: Vec<u8>, opts: ScanOptions) -> FileReport {
    tokio::task::spawn_blocking(move || scan_bytes(&bytes, &opts))
        .await
        .unwrap_or_else(|e| FileReport::unread(Status::Corrupt, &format!("scanner failed: {e}")))
}

fn lease_until(deadline: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(deadline.max(SystemTime::now()) + LEASE_MARGIN)
}

fn new_scan(drive_id: &str, kind: ScanKind, now: OffsetDateTime) -> ScanRecord {
    ScanRecord {
        scan_id: uuid::Uuid::new_v4().to_string(),
        drive_id: drive_id.to_owned(),
        kind,
        status: ScanStatus::Running,
        totals: ScanTotals::default(),
        risk_counts: RiskCounts::default(),
        invocations: 0,
        started_at: now,
        ended_at: None,
        duration_ms: None,
    }
}

fn finish(scan: &mut ScanRecord, status: ScanStatus) {
    let now = OffsetDateTime::now_utc();
    scan.status = status;
    scan.ended_at = Some(now);
    scan.duration_ms = Some((now - scan.started_at).whole_milliseconds().max(0) as u64);
}

/// Adds one item's outcome to the pass counters.
fn count(totals: &mut ScanTotals, risks: &mut RiskCounts, outcome: ItemOutcome) {
    let risk = match outcome {
        ItemOutcome::Unchanged { size, risk } => {
            totals.files_seen += 1;
            totals.skipped += 1;
            totals.bytes_total += size;
            risk
        }
        ItemOutcome::Stored {
            size,
            downloaded,
            status,
            risk,
        } => {
            totals.files_seen += 1;
            totals.bytes_total += size;
            totals.bytes_downloaded += downloaded;
            match status {
                FileStatus::Unsupported => totals.unsupported += 1,
                FileStatus::TooLarge => totals.too_large += 1,
                FileStatus::Error => totals.errors += 1,
                // read, if only in part: the report says how far
                FileStatus::Scanned | FileStatus::Encrypted | FileStatus::Corrupt | FileStatus::TimedOut => {
                    totals.scanned += 1
                }
            }
            risk
        }
        ItemOutcome::Failed { size, downloaded } => {
            totals.files_seen += 1;
            totals.errors += 1;
            totals.bytes_total += size;
            totals.bytes_downloaded += downloaded;
            return;
        }
        _ => return,
    };
    risks.add(risk);
}

fn log_progress(drive_id: &str, scan: &ScanRecord) {
    let t = &scan.totals;
    tracing::info!(
        drive_id,
        scan_id = scan.scan_id,
        status = ?scan.status,
        files_seen = t.files_seen,
        scanned = t.scanned,
        skipped = t.skipped,
        unsupported = t.unsupported,
        too_large = t.too_large,
        errors = t.errors,
        bytes_downloaded = t.bytes_downloaded,
        bytes_total = t.bytes_total,
        "scan progress"
    );
}

fn outcome_name(outcome: &PassOutcome) -> &'static str {
    match outcome {
        PassOutcome::Completed(_) => "completed",
        PassOutcome::Paused(_) => "paused",
        PassOutcome::Busy => "busy",
        PassOutcome::NeedsConsent => "needs_consent",
        PassOutcome::NotWatched => "not_watched",
    }
}
