//! Scan records and file results.

use super::*;

fn file_result(i: usize, t: OffsetDateTime) -> FileResult {
    FileResult {
        drive_id: "d1".into(),
        item_id: format!("item-{i:04}"),
        name: format!("file-{i}.docx"),
        path: "/drive/root:/Documents".into(),
        size: 1234,
        c_tag: Some(format!("ctag-{i}")),
        e_tag: None,
        status: FileStatus::Scanned,
        risk: Risk::High,
        reasons: vec!["3 credit card numbers (Luhn-valid, with context)".into()],
        findings: vec![FindingSummary {
            kind: "CREDIT_CARD".into(),
            count: 3,
            confidence: 85,
            // padding makes ~4 KB items, so 300 of them span several 1 MB query pages
            samples: vec![format!("4111…1111{}", "x".repeat(4000))],
        }],
        scan_id: "scan-1".into(),
        scanned_at: t,
    }
}

#[tokio::test]
async fn file_results_and_scans_paginate_past_one_megabyte() {
    let store = store().await;
    let t = now();
    for i in 0..300 {
        store.put_file_result(&file_result(i, t)).await.unwrap();
    }
    let all = store.file_results("d1").await.unwrap();
    assert_eq!(all.len(), 300, "every page was followed");
    assert_eq!(
        store.get_file_result("d1", "item-0007").await.unwrap(),
        Some(file_result(7, t))
    );
    store.delete_file_result("d1", "item-0007").await.unwrap();
    assert_eq!(store.get_file_result("d1", "item-0007").await.unwrap(), None);

    for (i, kind) in [ScanKind::Full, ScanKind::Incremental].into_iter().enumerate() {
        store
            .put_scan(&ScanRecord {
                scan_id: format!("scan-{i}"),
                drive_id: "d1".into(),
                kind,
                status: ScanStatus::Completed,
                totals: ScanTotals {
                    files_seen: 300,
                    ..Default::default()
                },
                risk_counts: RiskCounts {
                    high: 300,
                    ..Default::default()
                },
                invocations: 1,
                started_at: t + Duration::minutes(i as i64),
                ended_at: Some(t + Duration::minutes(i as i64 + 1)),
                duration_ms: Some(60_000),
            })
            .await
            .unwrap();
    }
    let scans = store.latest_scans("d1", 5).await.unwrap();
    assert_eq!(
        scans.iter().map(|s| s.scan_id.as_str()).collect::<Vec<_>>(),
        ["scan-1", "scan-0"],
        "newest first"
    );
    assert_eq!(
        store.file_results("d1").await.unwrap().len(),
        299,
        "scan records are not file results"
    );
}
