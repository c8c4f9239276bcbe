//! One pass over a drive, under its lease: where it starts (its checkpoint under the running
//! scan record, else the deltaLink, else a full enumeration), the delta pages with each
//! page's items handled concurrently ([`crate::item`]), a checkpoint after every page, a
//! pause when the invocation runs short of time, and the end of the pass (a full pass removes
//! the results of files it did not see; high and critical files are announced).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use graphwatch_shared::graph::{DriveItem, GraphError};
use graphwatch_shared::store::{Drive, FileResult, Risk, RiskCounts, ScanKind, ScanRecord, ScanStatus, ScanTotals};
use graphwatch_shared::tokens::TokenError;
use time::OffsetDateTime;

use crate::access::ConnKey;
use crate::item::ItemOutcome;
use crate::{alerts, App, Error, PassOutcome, TIME_RESERVE};

/// How long past the invocation's deadline a lease outlives a crashed invocation.
const LEASE_MARGIN: Duration = Duration::from_secs(120);
/// Consecutive `410 Gone` answers tolerated before the pass gives up.
const MAX_RESYNCS: u32 = 3;

/// The state of one pass shared by its file tasks.
pub(crate) struct Pass<'a> {
    pub(crate) drive_id: &'a str,
    pub(crate) conn: ConnKey,
    pub(crate) scan_id: String,
    pub(crate) full: bool,
    deadline: SystemTime,
    downloads: AtomicU64,
    stopping: AtomicBool,
}

impl Pass<'_> {
    /// Whether a download may start now: always while more than [`TIME_RESERVE`] is left,
    /// else only as the invocation's first (so that every invocation makes progress).
    pub(crate) fn may_download(&self) -> bool {
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

    /// Starts no more downloads in this pass (Graph asked to back off).
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

impl App {
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
        let (mut link, mut scan) = start(drive, resumed, now);
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
            let outcomes: Vec<Result<ItemOutcome, Error>> = futures::stream::iter(last_occurrences(page.items))
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
                    other => other.count(&mut scan.totals, &mut scan.risk_counts),
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
}

/// Where a pass starts and under which scan record: an interrupted pass resumes at its
/// checkpoint under its running record; otherwise a new record starts at the checkpoint (its
/// record is gone), the deltaLink (incremental) or a full enumeration.
fn start(drive: &Drive, resumed: Option<ScanRecord>, now: OffsetDateTime) -> (String, ScanRecord) {
    match (drive.checkpoint.clone(), resumed) {
        (Some(checkpoint), Some(scan)) => (checkpoint, scan),
        (checkpoint, _) => {
            let kind = if drive.delta_link.is_some() {
                ScanKind::Incremental
            } else {
                ScanKind::Full
            };
            let link = checkpoint
                .or_else(|| drive.delta_link.clone())
                .unwrap_or_else(|| full_delta_path(&drive.drive_id));
            (link, new_scan(&drive.drive_id, kind, now))
        }
    }
}

/// A page's items with repeats removed: an item may repeat within a page and its last
/// occurrence wins, in page order.
fn last_occurrences(items: Vec<DriveItem>) -> Vec<DriveItem> {
    let mut seen = HashSet::new();
    let mut items: Vec<DriveItem> = items.into_iter().rev().filter(|i| seen.insert(i.id.clone())).collect();
    items.reverse();
    items
}

/// What is left of the invocation.
pub(crate) fn time_left(deadline: SystemTime) -> Duration {
    deadline.duration_since(SystemTime::now()).unwrap_or_default()
}

fn full_delta_path(drive_id: &str) -> String {
    format!("/drives/{drive_id}/root/delta")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(delta_link: Option<&str>, checkpoint: Option<&str>) -> Drive {
        Drive {
            drive_id: "d".into(),
            tenant_id: "t".into(),
            user_oid: "u".into(),
            active: true,
            pending: true,
            delta_link: delta_link.map(Into::into),
            checkpoint: checkpoint.map(Into::into),
            current_scan_id: checkpoint.map(|_| "s".into()),
            lease_owner: None,
            lease_until: None,
            notification_count: 0,
            last_notification_at: None,
            last_pass_at: None,
        }
    }

    #[test]
    fn a_pass_starts_at_its_checkpoint_else_the_delta_link_else_a_full_enumeration() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let (link, scan) = start(&drive(None, None), None, now);
        assert_eq!((link.as_str(), scan.kind), ("/drives/d/root/delta", ScanKind::Full));
        assert_eq!((scan.status, scan.invocations), (ScanStatus::Running, 0));
        let (link, scan) = start(&drive(Some("delta"), None), None, now);
        assert_eq!((link.as_str(), scan.kind), ("delta", ScanKind::Incremental));
        // an interrupted pass resumes under its own record
        let running = new_scan("d", ScanKind::Full, now);
        let (link, scan) = start(&drive(Some("delta"), Some("next")), Some(running.clone()), now);
        assert_eq!((link.as_str(), scan), ("next", running.clone()));
        // its record gone: a new one, from the checkpoint
        let (link, scan) = start(&drive(Some("delta"), Some("next")), None, now);
        assert_eq!((link.as_str(), scan.kind), ("next", ScanKind::Incremental));
        assert_ne!(scan.scan_id, running.scan_id);
    }

    #[test]
    fn a_repeated_item_counts_once_at_its_last_place() {
        let item = |id: &str, name: &str| -> DriveItem {
            serde_json::from_value(serde_json::json!({"id": id, "name": name})).unwrap()
        };
        let items = last_occurrences(vec![item("1", "a"), item("2", "b"), item("1", "c"), item("3", "d")]);
        let names: Vec<_> = items
            .iter()
            .map(|i| (i.id.as_str(), i.name.as_deref().unwrap()))
            .collect();
        assert_eq!(names, [("2", "b"), ("1", "c"), ("3", "d")]);
    }
}
