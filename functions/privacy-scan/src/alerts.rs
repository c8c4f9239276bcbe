//! Alerts on high and critical files: one message per completed pass to the Slack and/or
//! Microsoft Teams incoming webhooks named in the app secret. A failed post is logged and
//! retried at most twice; it never fails the scan.

use std::time::Duration;

use graphwatch_shared::store::{FileResult, ScanRecord};
use serde_json::{json, Value};

/// Files listed in one message, worst first.
const MAX_LISTED: usize = 10;
/// Retries after a failed post.
const RETRIES: u32 = 2;
/// Time allowed for one post.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// The message text: the pass summary and the worst files with their reasons.
pub fn message(drive_id: &str, scan: &ScanRecord, worst: &[FileResult]) -> String {
    let t = &scan.totals;
    let r = &scan.risk_counts;
    let mut text = format!(
        "graphwatch: {} high or critical file(s) in drive {drive_id} ({:?} scan {}: {} seen, {} scanned, \
         {} unchanged, {} unsupported, {} too large, {} errors; {} critical, {} high, {} medium, {} low)",
        worst.len(),
        scan.kind,
        scan.scan_id,
        t.files_seen,
        t.scanned,
        t.skipped,
        t.unsupported,
        t.too_large,
        t.errors,
        r.critical,
        r.high,
        r.medium,
        r.low,
    )
    .to_lowercase();
    for f in worst.iter().take(MAX_LISTED) {
        let path = if f.path == "/" {
            format!("/{}", f.name)
        } else {
            format!("{}/{}", f.path, f.name)
        };
        text.push_str(&format!(
            "\n- {} {path}: {}",
            f.risk.as_str().to_uppercase(),
            f.reasons.join("; ")
        ));
    }
    if worst.len() > MAX_LISTED {
        text.push_str(&format!("\n… and {} more", worst.len() - MAX_LISTED));
    }
    text
}

/// Slack's incoming-webhook body.
fn slack_body(text: &str) -> Value {
    json!({ "text": text })
}

/// A Teams incoming-webhook (connector) body.
fn teams_body(text: &str) -> Value {
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": "graphwatch privacy scan",
        "text": text.replace('\n', "\n\n"),
    })
}

/// Posts `text` to each configured webhook; returns how many accepted it.
pub async fn send(http: &reqwest::Client, slack: Option<&str>, teams: Option<&str>, text: &str) -> usize {
    let mut delivered = 0;
    for (target, url, body) in [("slack", slack, slack_body(text)), ("teams", teams, teams_body(text))] {
        if let Some(url) = url {
            if post(http, target, url, &body).await {
                delivered += 1;
            }
        }
    }
    delivered
}

/// One post with at most [`RETRIES`] retries; `false` when every attempt failed.
async fn post(http: &reqwest::Client, target: &str, url: &str, body: &Value) -> bool {
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
        let outcome = http.post(url).timeout(POST_TIMEOUT).json(body).send().await;
        match outcome {
            Ok(r) if r.status().is_success() => return true,
            // the URL is a credential: log the status or error kind only
            Ok(r) => tracing::warn!(
                target,
                attempt,
                status = r.status().as_u16(),
                "alert webhook refused the message"
            ),
            Err(e) => tracing::warn!(target, attempt, error = %e.without_url(), "alert webhook unreachable"),
        }
    }
    tracing::error!(target, "alert not delivered after retries; the scan is unaffected");
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use graphwatch_shared::store::{FileStatus, Risk, RiskCounts, ScanKind, ScanStatus, ScanTotals};
    use time::OffsetDateTime;

    fn result(path: &str, name: &str, risk: Risk) -> FileResult {
        FileResult {
            drive_id: "d".into(),
            item_id: name.into(),
            name: name.into(),
            path: path.into(),
            size: 1,
            c_tag: None,
            e_tag: None,
            status: FileStatus::Scanned,
            risk,
            reasons: vec!["GPS location in metadata".into()],
            findings: vec![],
            scan_id: "s".into(),
            scanned_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_message_lists_the_worst_files_and_caps_the_list() {
        let scan = ScanRecord {
            scan_id: "s".into(),
            drive_id: "d".into(),
            kind: ScanKind::Incremental,
            status: ScanStatus::Completed,
            totals: ScanTotals::default(),
            risk_counts: RiskCounts::default(),
            invocations: 1,
            started_at: OffsetDateTime::UNIX_EPOCH,
            ended_at: None,
            duration_ms: None,
        };
        let mut worst = vec![
            result("/", "a.jpg", Risk::High),
            result("/Photos", "b.jpg", Risk::Critical),
        ];
        worst.extend((0..12).map(|i| result("/More", &format!("{i}.jpg"), Risk::High)));
        let text = message("d", &scan, &worst);
        assert!(text.starts_with("graphwatch: 14 high or critical file(s) in drive d (incremental scan s"));
        assert!(text.contains("\n- HIGH /a.jpg: GPS location in metadata"), "{text}");
        assert!(text.contains("\n- CRITICAL /Photos/b.jpg: "), "{text}");
        assert!(text.ends_with("… and 4 more"), "{text}");
        assert_eq!(teams_body(&text)["@type"], "MessageCard");
    }
}
