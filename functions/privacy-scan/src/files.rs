//! The stored form of a scanned file: the engine's report summarised (findings by kind with
//! redacted samples only, never raw values) and its status and risk converted to the stored
//! enums, here and nowhere else.

use std::collections::BTreeMap;

use graphwatch_privacy::{self as engine, FileReport, Status};
use graphwatch_shared::graph::DriveItem;
use graphwatch_shared::store::{FileResult, FileStatus, FindingSummary, Risk};
use time::OffsetDateTime;

/// Redacted samples kept per finding kind.
const SAMPLES_PER_KIND: usize = 3;

/// The folder path of an item (`/Photos/2024`), from its `parentReference.path`.
pub fn folder_path(item: &DriveItem) -> String {
    let raw = item
        .parent_reference
        .as_ref()
        .and_then(|p| p.path.as_deref())
        .unwrap_or("");
    let path = raw.split_once(':').map_or(raw, |(_, rest)| rest);
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

/// The stored form of a report: findings grouped by kind with counts, highest confidence
/// and a few redacted samples (never the raw values).
pub fn file_result(
    drive_id: &str,
    item: &DriveItem,
    report: &FileReport,
    scan_id: &str,
    now: OffsetDateTime,
) -> FileResult {
    let mut by_kind: BTreeMap<&'static str, FindingSummary> = BTreeMap::new();
    for f in &report.findings {
        let entry = by_kind.entry(f.kind.name()).or_insert_with(|| FindingSummary {
            kind: f.kind.name().to_owned(),
            count: 0,
            confidence: 0,
            samples: Vec::new(),
        });
        entry.count += 1;
        entry.confidence = entry.confidence.max(f.confidence);
        if entry.samples.len() < SAMPLES_PER_KIND && !entry.samples.contains(&f.redacted) {
            entry.samples.push(f.redacted.clone());
        }
    }
    FileResult {
        drive_id: drive_id.to_owned(),
        item_id: item.id.clone(),
        name: item.name.clone().unwrap_or_default(),
        path: folder_path(item),
        size: item.size.unwrap_or(0),
        c_tag: item.c_tag.clone(),
        e_tag: item.e_tag.clone(),
        status: stored_status(report.status),
        risk: stored_risk(report.risk),
        reasons: report.reasons.clone(),
        findings: by_kind.into_values().collect(),
        scan_id: scan_id.to_owned(),
        scanned_at: now,
    }
}

/// The report of a file that could not be downloaded for good (a 4xx other than 404):
/// status `error`, risk medium (never low: nothing was inspected).
pub fn error_result(drive_id: &str, item: &DriveItem, why: &str, scan_id: &str, now: OffsetDateTime) -> FileResult {
    let mut report = FileReport::unread(Status::Corrupt, why);
    report.risk = report.risk.max(engine::Risk::Medium);
    let mut result = file_result(drive_id, item, &report, scan_id, now);
    result.status = FileStatus::Error;
    result
}

/// The stored form of the engine's status (the one place where engine statuses become stored ones).
pub fn stored_status(status: Status) -> FileStatus {
    match status {
        Status::Scanned => FileStatus::Scanned,
        Status::Unsupported => FileStatus::Unsupported,
        Status::Encrypted => FileStatus::Encrypted,
        Status::TooLarge => FileStatus::TooLarge,
        Status::Corrupt => FileStatus::Corrupt,
        Status::TimedOut => FileStatus::TimedOut,
    }
}

/// The stored form of the engine's risk level (the one place where engine risks become stored ones).
pub fn stored_risk(risk: engine::Risk) -> Risk {
    match risk {
        engine::Risk::Low => Risk::Low,
        engine::Risk::Medium => Risk::Medium,
        engine::Risk::High => Risk::High,
        engine::Risk::Critical => Risk::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored names are the engine's names: results written before the stored enums
    /// existed read back unchanged.
    #[test]
    fn engine_statuses_and_risks_keep_their_names_when_stored() {
        let statuses = [
            Status::Scanned,
            Status::Unsupported,
            Status::Encrypted,
            Status::TooLarge,
            Status::Corrupt,
            Status::TimedOut,
        ];
        for status in statuses {
            assert_eq!(stored_status(status).as_str(), status.name());
        }
        for risk in [
            engine::Risk::Low,
            engine::Risk::Medium,
            engine::Risk::High,
            engine::Risk::Critical,
        ] {
            assert_eq!(stored_risk(risk).as_str(), risk.to_string());
        }
    }

    #[test]
    fn a_refused_download_is_an_error_of_at_least_medium_risk() {
        let item: DriveItem = serde_json::from_value(serde_json::json!({"id": "1", "name": "a.docx"})).unwrap();
        let result = error_result("d", &item, "download refused: 403", "s", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(result.status, FileStatus::Error);
        assert!(result.risk >= Risk::Medium, "{result:?}");
        assert!(
            result.reasons.iter().any(|r| r.contains("download refused: 403")),
            "{result:?}"
        );
    }

    #[test]
    fn folder_path_drops_the_drive_prefix() {
        let item: DriveItem = serde_json::from_value(serde_json::json!({
            "id": "1", "parentReference": {"path": "/drive/root:/Photos/2024"}
        }))
        .unwrap();
        assert_eq!(folder_path(&item), "/Photos/2024");
        let root: DriveItem = serde_json::from_value(serde_json::json!({
            "id": "2", "parentReference": {"path": "/drive/root:"}
        }))
        .unwrap();
        assert_eq!(folder_path(&root), "/");
    }
}
