//! One delta item: what to do with it ([`decide`], pure: the item and its stored result →
//! remove, ignore, skip as unchanged, record without a download, or fetch and scan), doing it,
//! and what it adds to the pass's counters.

use graphwatch_privacy::{FileReport, Status};
use graphwatch_shared::graph::{DriveItem, GraphError};
use graphwatch_shared::store::{FileResult, FileStatus, Risk, RiskCounts, ScanTotals};
use graphwatch_shared::tokens::TokenError;
use time::OffsetDateTime;

use crate::fetch::{fetch_kind, too_large, Fetch};
use crate::files;
use crate::pass::Pass;
use crate::{App, Error};

/// What to do with one delta item, decided without any I/O.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// A deleted item: remove its result.
    Remove,
    /// A folder or the root: nothing to do.
    Ignore,
    /// Already handled earlier in this pass (repeated item or continued page).
    AlreadyDone,
    /// Same cTag as its stored result: not fetched. `Some(result)` when a full pass re-stamps
    /// the stored result with its scan id (so that it can remove the unseen rest at its end).
    Unchanged { risk: Risk, restamp: Option<FileResult> },
    /// Recorded without a download: an unsupported type, or over the size cap.
    Record(FileResult),
    /// Downloaded this way and scanned.
    Fetch(Fetch),
}

/// What happened to one delta item.
pub(crate) enum ItemOutcome {
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

/// Decides what to do with `item` of drive `drive_id` in pass `scan_id` (`full`: a full pass),
/// given its stored result (read for files only) and the size cap `max_size`.
pub(crate) fn decide(
    drive_id: &str,
    item: &DriveItem,
    stored: Option<FileResult>,
    scan_id: &str,
    full: bool,
    max_size: u64,
    now: OffsetDateTime,
) -> Step {
    if item.is_deleted() {
        return Step::Remove;
    }
    if !item.is_file() {
        return Step::Ignore;
    }
    if let Some(stored) = stored.filter(|s| s.c_tag.is_some() && s.c_tag == item.c_tag) {
        if stored.scan_id == scan_id {
            return Step::AlreadyDone;
        }
        return Step::Unchanged {
            risk: stored.risk,
            restamp: full.then(|| FileResult {
                scan_id: scan_id.to_owned(),
                ..stored
            }),
        };
    }
    let fetch = fetch_kind(
        item.name.as_deref().unwrap_or(""),
        item.file.as_ref().and_then(|f| f.mime_type.as_deref()),
    );
    let unread = if fetch == Fetch::Unsupported {
        FileReport::unread(Status::Unsupported, "file type not read (by its name and MIME type)")
    } else if item.size.unwrap_or(0) > max_size {
        too_large(max_size)
    } else {
        return Step::Fetch(fetch);
    };
    Step::Record(files::file_result(drive_id, item, &unread, scan_id, now))
}

impl ItemOutcome {
    /// Adds this outcome to the pass counters.
    pub(crate) fn count(self, totals: &mut ScanTotals, risks: &mut RiskCounts) {
        let risk = match self {
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
}

impl App {
    /// Handles one delta item.
    pub(crate) async fn item(&self, pass: &Pass<'_>, item: DriveItem) -> Result<ItemOutcome, Error> {
        let drive_id = pass.drive_id;
        let stored = if item.is_file() {
            self.store.get_file_result(drive_id, &item.id).await?
        } else {
            None
        };
        let max = self.config.limits.max_file_size;
        let size = item.size.unwrap_or(0);
        let now = OffsetDateTime::now_utc();
        let (result, downloaded) = match decide(drive_id, &item, stored, &pass.scan_id, pass.full, max, now) {
            Step::Remove => {
                self.store.delete_file_result(drive_id, &item.id).await?;
                return Ok(ItemOutcome::Removed);
            }
            Step::Ignore => return Ok(ItemOutcome::Ignored),
            Step::AlreadyDone => return Ok(ItemOutcome::AlreadyDone),
            Step::Unchanged { risk, restamp } => {
                if let Some(restamped) = restamp {
                    self.store.put_file_result(&restamped).await?;
                }
                return Ok(ItemOutcome::Unchanged { size, risk });
            }
            Step::Record(result) => (result, 0),
            Step::Fetch(_) if !pass.may_download() => return Ok(ItemOutcome::Deferred),
            Step::Fetch(fetch) => match self.fetch_and_scan(pass, &item, fetch).await {
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
                    pass.stop();
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
            },
        };
        self.store.put_file_result(&result).await?;
        Ok(ItemOutcome::Stored {
            size,
            downloaded,
            status: result.status,
            risk: result.risk,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: u64 = 1000;

    fn file(name: &str, size: u64, c_tag: &str) -> DriveItem {
        serde_json::from_value(json!({
            "id": "i", "name": name, "size": size, "cTag": c_tag, "file": {},
            "parentReference": {"path": "/drive/root:/Docs"}
        }))
        .unwrap()
    }

    fn stored(c_tag: &str, scan_id: &str) -> FileResult {
        let report = FileReport::unread(Status::Corrupt, "damaged");
        let mut result = files::file_result(
            "d",
            &file("a.txt", 10, c_tag),
            &report,
            scan_id,
            OffsetDateTime::UNIX_EPOCH,
        );
        result.risk = Risk::High;
        result
    }

    fn decide_now(item: &DriveItem, stored: Option<FileResult>, full: bool) -> Step {
        decide("d", item, stored, "now", full, MAX, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn deleted_items_lose_their_result_and_folders_are_ignored() {
        let deleted: DriveItem = serde_json::from_value(json!({"id": "i", "deleted": {}, "file": {}})).unwrap();
        assert_eq!(decide_now(&deleted, None, false), Step::Remove);
        let folder: DriveItem = serde_json::from_value(json!({"id": "i", "folder": {"childCount": 1}})).unwrap();
        assert_eq!(decide_now(&folder, None, true), Step::Ignore);
    }

    #[test]
    fn an_unchanged_ctag_is_not_fetched_and_a_full_pass_restamps_its_result() {
        let item = file("a.txt", 10, "c1");
        assert_eq!(decide_now(&item, Some(stored("c1", "now")), false), Step::AlreadyDone);
        assert_eq!(
            decide_now(&item, Some(stored("c1", "before")), false),
            Step::Unchanged {
                risk: Risk::High,
                restamp: None
            }
        );
        let Step::Unchanged {
            risk: Risk::High,
            restamp: Some(restamped),
        } = decide_now(&item, Some(stored("c1", "before")), true)
        else {
            panic!("a full pass restamps an unchanged result");
        };
        assert_eq!(restamped.scan_id, "now");
        // a changed cTag, or none stored, is fetched again
        assert_eq!(
            decide_now(&item, Some(stored("c0", "before")), false),
            Step::Fetch(Fetch::Document)
        );
        let mut untagged = stored("c1", "before");
        untagged.c_tag = None;
        let no_tag: DriveItem = serde_json::from_value(json!({"id": "i", "name": "a.txt", "file": {}})).unwrap();
        assert_eq!(decide_now(&no_tag, Some(untagged), false), Step::Fetch(Fetch::Document));
    }

    #[test]
    fn unsupported_and_oversized_files_are_recorded_without_a_download() {
        let Step::Record(mp4) = decide_now(&file("movie.mp4", MAX + 1, "c"), None, false) else {
            panic!("an unsupported file is recorded");
        };
        assert_eq!(
            (mp4.status, mp4.risk, mp4.scan_id.as_str()),
            (FileStatus::Unsupported, Risk::Medium, "now")
        );
        let Step::Record(big) = decide_now(&file("big.docx", MAX + 1, "c"), None, false) else {
            panic!("an oversized file is recorded");
        };
        assert_eq!(big.status, FileStatus::TooLarge);
        assert_eq!(
            decide_now(&file("photo.jpg", MAX, "c"), None, false),
            Step::Fetch(Fetch::Image)
        );
    }
}
