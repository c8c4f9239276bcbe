//! privacy-scan end to end: DynamoDB Local, moto, the Graph emulator and the privacy engine.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{engine_risk, far_deadline, padded_jpeg, pdf, sample, xlsx, Options, DRIVE};
use graph_emulator::{Fault, DEMO_USER_OID};
use graphwatch_privacy::corpus;
use graphwatch_shared::store::{ConnectionStatus, FileStatus, Risk, ScanKind, ScanStatus};
use privacy_scan::PassOutcome;
use serde_json::json;

const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// Seeds the drive: exif samples, generated documents with known findings, an unsupported file.
async fn seed(h: &common::Harness) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/Photos", "DSCN0010.jpg", sample("jpg/gps/DSCN0010.jpg")),
        ("/Photos", "DSCN0012.jpg", sample("jpg/gps/DSCN0012.jpg")),
        ("/Photos", "lens.jpeg", sample("jpg/tests/32-lens_data.jpeg")),
        ("/Photos", "no_exif.jpg", sample("jpg/xmp/no_exif.jpg")),
        ("/Photos", "IMG_5195.HEIC", sample("heic/IMG_5195.HEIC")),
        ("/Docs", "report.docx", corpus::docx(7, 4_000)),
        ("/Docs", "accounts.xlsx", xlsx()),
        ("/Docs", "patient.pdf", pdf()),
        (
            "/Docs",
            "deploy.txt",
            format!("aws_access_key_id = {AWS_KEY}\n").into_bytes(),
        ),
        ("/Docs", "shopping.txt", b"apples, pears and a loaf of bread\n".to_vec()),
        ("/Videos", "holiday.mp4", vec![0u8; 50_000]),
    ];
    let mut out = Vec::new();
    for (folder, name, bytes) in files {
        h.add(folder, name, bytes.clone()).await;
        out.push((format!("{folder}/{name}"), bytes));
    }
    out
}

#[tokio::test]
async fn full_scan_stores_the_right_risk_for_each_file() {
    let h = common::harness().await;
    let files = seed(&h).await;
    let scan = h.pass().await;
    assert_eq!((scan.kind, scan.status), (ScanKind::Full, ScanStatus::Completed));
    assert_eq!(scan.totals.files_seen, files.len() as u64);
    assert_eq!(scan.totals.unsupported, 1);
    assert_eq!(scan.totals.scanned, files.len() as u64 - 1);
    assert_eq!(scan.totals.errors, 0);
    for (path, bytes) in &files {
        let r = h.result(path).await.unwrap_or_else(|| panic!("no result for {path}"));
        if path.ends_with(".mp4") {
            assert_eq!((r.status, r.risk), (FileStatus::Unsupported, Risk::Medium));
        } else {
            // the ranged prefix of a photo must score as the whole file does
            assert_eq!(r.risk, engine_risk(bytes), "{path}: {:?}", r.reasons);
        }
    }
    let harness = &h;
    let risk = |path: &'static str| async move { harness.result(path).await.unwrap().risk };
    assert_eq!(risk("/Photos/DSCN0010.jpg").await, Risk::High);
    assert_eq!(risk("/Docs/deploy.txt").await, Risk::Critical);
    assert_eq!(risk("/Docs/shopping.txt").await, Risk::Low);
    let gps = h.result("/Photos/DSCN0010.jpg").await.unwrap();
    assert!(gps.findings.iter().any(|f| f.kind == "GPS_LOCATION"), "{gps:?}");
    // only redacted samples are stored
    let secret = h.result("/Docs/deploy.txt").await.unwrap();
    let stored = serde_json::to_string(&secret).unwrap();
    assert!(secret.findings.iter().any(|f| f.kind == "SECRET_AWS_ACCESS_KEY"));
    assert!(!stored.contains(AWS_KEY), "{stored}");
    // the unsupported file was never downloaded
    let mp4 = h.emulator.item_id(DRIVE, "/Videos/holiday.mp4").unwrap();
    assert!(!h
        .emulator
        .stats()
        .requests
        .iter()
        .any(|r| r.route.contains("/content") && r.route.contains(&mp4)));
    let drive = h.store.get_drive(DRIVE).await.unwrap().unwrap();
    assert!(drive.delta_link.is_some() && drive.checkpoint.is_none() && drive.lease_owner.is_none());
    assert_eq!(h.store.latest_scans(DRIVE, 10).await.unwrap(), vec![scan]);
}

#[tokio::test]
async fn an_incremental_pass_rescans_only_the_changed_file_and_skips_unchanged_ctags() {
    let h = common::harness().await;
    seed(&h).await;
    let first = h.pass().await;
    let before = h.result("/Docs/report.docx").await.unwrap();

    h.add(
        "/Docs",
        "shopping.txt",
        format!("card 4111 1111 1111 1111 and {AWS_KEY}").into_bytes(),
    )
    .await;
    let served = h.served();
    let second = h.pass().await;
    assert_eq!(second.kind, ScanKind::Incremental);
    assert_eq!((second.totals.files_seen, second.totals.scanned), (1, 1));
    assert_eq!(h.result("/Docs/shopping.txt").await.unwrap().risk, Risk::Critical);
    assert!(h.served() > served);
    // untouched results keep the scan that produced them
    assert_eq!(h.result("/Docs/report.docx").await.unwrap(), before);
    assert_eq!(before.scan_id, first.scan_id);

    // a full rescan sees every file with its stored cTag: nothing is downloaded again
    assert!(h.store.request_full_rescan(DRIVE).await.unwrap());
    let served = h.served();
    let third = h.pass().await;
    assert_eq!(third.kind, ScanKind::Full);
    assert_eq!(third.totals.skipped, third.totals.files_seen);
    assert_eq!(third.totals.scanned, 0);
    assert_eq!(h.served(), served);
    assert_eq!(h.store.file_results(DRIVE).await.unwrap().len(), 11);
}

#[tokio::test]
async fn gone_delta_token_resyncs_and_removes_results_of_vanished_files() {
    let h = common::harness().await;
    seed(&h).await;
    h.pass().await;
    let gone = h.emulator.item_id(DRIVE, "/Docs/patient.pdf").unwrap();
    h.emulator.delete_item(DRIVE, &gone).await.unwrap();
    h.add("/Docs", "new.txt", b"call me on jane.doe@example.com".to_vec())
        .await;
    h.emulator.invalidate_delta_tokens(DRIVE).await.unwrap();

    let scan = h.pass().await;
    assert_eq!(scan.kind, ScanKind::Full);
    let resyncs: u64 = h
        .emulator
        .stats()
        .requests
        .iter()
        .filter(|r| r.status == 410)
        .map(|r| r.count)
        .sum();
    assert_eq!(resyncs, 1);
    assert!(h.store.get_file_result(DRIVE, &gone).await.unwrap().is_none());
    assert!(h.result("/Docs/new.txt").await.is_some());
    assert_eq!(scan.totals.scanned, 1);
    assert_eq!(scan.totals.skipped, 10);
    assert_eq!(h.store.file_results(DRIVE).await.unwrap().len(), 11);
}

#[tokio::test]
async fn a_deleted_file_loses_its_result() {
    let h = common::harness().await;
    seed(&h).await;
    h.pass().await;
    let id = h.emulator.item_id(DRIVE, "/Docs/deploy.txt").unwrap();
    assert!(h.store.get_file_result(DRIVE, &id).await.unwrap().is_some());
    h.emulator.delete_item(DRIVE, &id).await.unwrap();
    let scan = h.pass().await;
    assert_eq!(scan.kind, ScanKind::Incremental);
    assert!(h.store.get_file_result(DRIVE, &id).await.unwrap().is_none());
    assert_eq!(h.store.file_results(DRIVE).await.unwrap().len(), 10);
}

#[tokio::test]
async fn a_drive_under_lease_is_left_pending_for_later() {
    let h = common::harness().await;
    h.add("/Docs", "a.txt", b"hello".to_vec()).await;
    let now = time::OffsetDateTime::now_utc();
    let other = h
        .store
        .acquire_drive_lease(DRIVE, "other-invocation", now, now + time::Duration::minutes(10))
        .await
        .unwrap();
    assert!(other.is_some());
    h.store.mark_drive_pending(DRIVE, 1, now).await.unwrap();

    assert_eq!(
        h.app.scan_drive(DRIVE, far_deadline()).await.unwrap(),
        PassOutcome::Busy
    );
    let drive = h.store.get_drive(DRIVE).await.unwrap().unwrap();
    assert!(drive.pending);
    assert_eq!(drive.lease_owner.as_deref(), Some("other-invocation"));
    assert!(h.store.latest_scans(DRIVE, 10).await.unwrap().is_empty());

    h.store
        .release_drive_lease(DRIVE, "other-invocation", false)
        .await
        .unwrap();
    h.pass().await;
    assert!(!h.store.get_drive(DRIVE).await.unwrap().unwrap().pending);
}

#[tokio::test]
async fn a_pass_continues_across_invocations_under_one_scan_record() {
    let h = common::harness_with(Options {
        delta_page_size: Some(3),
        ..Options::default()
    })
    .await;
    let files = seed(&h).await;
    // no time left at all: each invocation fetches one file, then hands over
    let mut invocations = 0;
    let scan = loop {
        invocations += 1;
        assert!(invocations < 50, "the pass makes no progress");
        match h.app.scan_drive(DRIVE, SystemTime::now()).await.unwrap() {
            PassOutcome::Paused(_) => {
                let drive = h.store.get_drive(DRIVE).await.unwrap().unwrap();
                assert!(drive.pending && drive.checkpoint.is_some() && drive.lease_owner.is_none());
            }
            PassOutcome::Completed(scan) => break scan,
            other => panic!("{other:?}"),
        }
    };
    assert!(invocations >= 10, "{invocations}");
    assert_eq!(scan.invocations, invocations);
    assert_eq!(scan.status, ScanStatus::Completed);
    assert_eq!(scan.totals.files_seen, files.len() as u64);
    assert_eq!(scan.totals.scanned + scan.totals.unsupported, files.len() as u64);
    assert_eq!(h.store.latest_scans(DRIVE, 10).await.unwrap(), vec![scan]);
    assert_eq!(h.store.file_results(DRIVE).await.unwrap().len(), files.len());
}

#[tokio::test]
async fn an_access_token_expiring_mid_pass_is_refreshed_and_the_rotated_token_stored() {
    let h = common::harness_with(Options {
        delta_page_size: Some(4),
        ..Options::default()
    })
    .await;
    let files = seed(&h).await;
    let sealed = h.sealed_refresh_token().await;
    assert!(matches!(
        h.app.scan_drive(DRIVE, SystemTime::now()).await.unwrap(),
        PassOutcome::Paused(_)
    ));
    let after_first = h.sealed_refresh_token().await;
    assert_ne!(after_first, sealed, "the rotated refresh token is stored");
    // the cached access token expires while the pass is half done
    h.emulator.advance_clock(2 * 3600);
    let scan = h.pass().await;
    assert_eq!(scan.totals.errors, 0);
    assert_eq!(scan.totals.files_seen, files.len() as u64);
    assert_ne!(h.sealed_refresh_token().await, after_first);
    let refused: Vec<_> = h
        .emulator
        .stats()
        .requests
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert!(!refused.is_empty(), "the expired token was refused at least once");
}

#[tokio::test]
async fn a_refused_refresh_token_stops_the_pass_and_marks_the_connection() {
    let h = common::harness().await;
    seed(&h).await;
    h.emulator.revoke_refresh_tokens(DEMO_USER_OID).await.unwrap();
    assert_eq!(
        h.app.scan_drive(DRIVE, far_deadline()).await.unwrap(),
        PassOutcome::NeedsConsent
    );
    let connection = h
        .store
        .get_connection(&h.tenant_id, DEMO_USER_OID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.status, ConnectionStatus::NeedsConsent);
    assert!(h.store.latest_scans(DRIVE, 10).await.unwrap().is_empty());
    assert!(h.store.get_drive(DRIVE).await.unwrap().unwrap().lease_owner.is_none());
    assert!(h.store.file_results(DRIVE).await.unwrap().is_empty());
    // later passes do not try the refused token again
    let token_calls = |h: &common::Harness| -> u64 {
        h.emulator
            .stats()
            .requests
            .iter()
            .filter(|r| r.route.ends_with("/token"))
            .map(|r| r.count)
            .sum()
    };
    let before = token_calls(&h);
    assert_eq!(
        h.app.scan_drive(DRIVE, far_deadline()).await.unwrap(),
        PassOutcome::NeedsConsent
    );
    assert_eq!(token_calls(&h), before);
}

#[tokio::test]
async fn throttling_mid_pass_honours_retry_after_and_completes() {
    let h = common::harness().await;
    let files = seed(&h).await;
    h.emulator
        .inject_fault(Fault::Throttle {
            count: 4,
            retry_after_secs: 1,
            route_prefix: Some(format!("/v1.0/drives/{DRIVE}/items")),
        })
        .await
        .unwrap();
    let started = Instant::now();
    let scan = h.pass().await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(h.emulator.stats().throttled, 4);
    assert_eq!(scan.totals.errors, 0);
    assert_eq!(scan.totals.scanned + scan.totals.unsupported, files.len() as u64);
}

#[tokio::test]
async fn photos_are_read_with_ranged_requests() {
    let h = common::harness().await;
    let photos = [
        ("a.jpg", padded_jpeg("jpg/gps/DSCN0010.jpg", 3 << 20)),
        ("b.jpg", padded_jpeg("jpg/gps/DSCN0021.jpg", 5 << 20)),
        ("c.jpg", padded_jpeg("jpg/tests/87_OSError.jpg", 2 << 20)),
    ];
    let total: usize = photos.iter().map(|(_, b)| b.len()).sum();
    for (name, bytes) in &photos {
        h.add("/Camera", name, bytes.clone()).await;
    }
    let scan = h.pass().await;
    let served = h.served();
    assert!(served < total as u64 / 10, "served {served} of {total}");
    assert_eq!(scan.totals.bytes_downloaded, served);
    assert_eq!(scan.totals.bytes_total, total as u64);
    let ranged: u64 = h
        .emulator
        .stats()
        .requests
        .iter()
        .filter(|r| r.status == 206)
        .map(|r| r.count)
        .sum();
    assert_eq!(ranged, 3);
    for (name, bytes) in &photos {
        let r = h.result(&format!("/Camera/{name}")).await.unwrap();
        assert_eq!(r.risk, engine_risk(bytes), "{name}");
        assert_eq!(r.risk, Risk::High);
    }
}

#[tokio::test]
async fn high_risk_files_are_announced_and_a_failing_webhook_does_not_fail_the_scan() {
    let (base, received) = common::webhook_receiver().await;
    let h = common::harness_with(Options {
        slack: Some(format!("{base}/ok")),
        teams: Some(format!("{base}/broken")),
        ..Options::default()
    })
    .await;
    seed(&h).await;
    let scan = h.pass().await;
    assert_eq!(scan.status, ScanStatus::Completed);
    let slack = received.bodies("/ok");
    assert_eq!(slack.len(), 1, "one message per pass");
    let text = slack[0]["text"].as_str().unwrap();
    assert!(text.contains("/Docs/deploy.txt") && text.contains("CRITICAL"), "{text}");
    assert!(text.contains("/Photos/DSCN0010.jpg") && text.contains("HIGH"), "{text}");
    assert!(!text.contains("shopping.txt"), "{text}");
    assert!(!text.contains(AWS_KEY));
    // the broken receiver got the first attempt and two retries
    assert_eq!(received.bodies("/broken").len(), 3);

    // a pass without new high-risk files sends nothing
    h.add("/Docs", "plain.txt", b"nothing to see".to_vec()).await;
    h.pass().await;
    assert_eq!(received.bodies("/ok").len(), 1);
}

#[tokio::test]
async fn stream_and_schedule_events_are_handled() {
    let h = common::harness().await;
    h.add("/Docs", "deploy.txt", format!("key {AWS_KEY}").into_bytes())
        .await;
    let mut event = common::event("stream-drive-pending.json");
    let mut broken = event["Records"][0].clone();
    broken["dynamodb"]["NewImage"]["drive_id"] = json!({"N": "12"});
    broken["dynamodb"]["SequenceNumber"] = json!("999");
    event["Records"].as_array_mut().unwrap().push(broken);
    let answer = h.app.handle(event, far_deadline()).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "999"}]}));
    assert_eq!(h.result("/Docs/deploy.txt").await.unwrap().risk, Risk::Critical);

    // a stream record that arrives with no time left is handed back for a retry
    let answer = h
        .app
        .handle(common::event("stream-drive-pending.json"), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), 1);

    let answer = h
        .app
        .handle(common::event("schedule-nightly-scan.json"), far_deadline())
        .await
        .unwrap();
    assert_eq!(answer, json!({"marked": 1, "drives": 1}));
    assert!(h.store.get_drive(DRIVE).await.unwrap().unwrap().pending);

    let error = h
        .app
        .handle(json!({"task": "daily"}), far_deadline())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("nightly"), "{error}");
}
