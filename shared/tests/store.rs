//! Every store access pattern against DynamoDB Local, failure paths included.

use graphwatch_shared::store::*;
use time::{Duration, OffsetDateTime};

async fn store() -> Store {
    let client = graphwatch_testkit::dynamodb();
    let table = graphwatch_testkit::unique_name("store");
    create_table(&client, &table).await.expect("create table");
    Store::new(client, table)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn connection(oid: &str, at: OffsetDateTime) -> Connection {
    Connection {
        tenant_id: "tenant-a".into(),
        user_oid: oid.into(),
        display_name: "Adele Vance".into(),
        username: "adele@contoso.example".into(),
        scopes: vec!["Files.Read.All".into()],
        sealed_refresh_token: "gw1.1.sealed".into(),
        status: ConnectionStatus::Active,
        created_at: at,
        updated_at: at,
    }
}

fn subscription(id: &str, expiration: OffsetDateTime) -> Subscription {
    Subscription {
        id: id.into(),
        tenant_id: "tenant-a".into(),
        user_oid: "user-1".into(),
        resource: "/drives/d1/root".into(),
        change_type: "updated".into(),
        drive_id: Some("d1".into()),
        notification_url: "https://api.example/webhooks/graph".into(),
        lifecycle_notification_url: Some("https://api.example/webhooks/lifecycle".into()),
        client_state_sha256: "ab".repeat(32),
        expiration,
        active: true,
        last_notification_at: None,
        last_renewed_at: None,
        last_reauthorized_at: None,
        renewal_failures: 0,
        last_error: None,
        action: None,
        version: 1,
    }
}

#[tokio::test]
async fn connections_upsert_rotate_and_change_status() {
    let store = store().await;
    let t = now();
    assert!(
        !store.upsert_connection(&connection("user-1", t)).await.unwrap(),
        "first connect is new"
    );
    assert!(
        store.upsert_connection(&connection("user-1", t)).await.unwrap(),
        "second is a reconnect"
    );

    assert!(store
        .store_refresh_token("tenant-a", "user-1", "gw1.2.rotated", t)
        .await
        .unwrap());
    assert!(store
        .set_connection_status("tenant-a", "user-1", ConnectionStatus::NeedsConsent, t)
        .await
        .unwrap());
    let c = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    assert_eq!(c.sealed_refresh_token, "gw1.2.rotated");
    assert_eq!(c.status, ConnectionStatus::NeedsConsent);

    assert!(store.get_connection("tenant-a", "nobody").await.unwrap().is_none());
    assert!(
        !store.store_refresh_token("tenant-a", "nobody", "x", t).await.unwrap(),
        "never creates a connection"
    );
    assert!(!store
        .set_connection_status("tenant-a", "nobody", ConnectionStatus::Revoked, t)
        .await
        .unwrap());
}

#[tokio::test]
async fn oauth_state_is_consumed_exactly_once() {
    let store = store().await;
    let t = now();
    let st = OAuthState {
        state: "s-1".into(),
        pkce_verifier: "verifier".into(),
        nonce: "nonce".into(),
        return_to: Some("/done".into()),
        expires_at: (t + Duration::minutes(10)).unix_timestamp(),
    };
    store.put_oauth_state(&st).await.unwrap();
    assert_eq!(store.consume_oauth_state("s-1", t).await.unwrap(), Some(st));
    assert_eq!(
        store.consume_oauth_state("s-1", t).await.unwrap(),
        None,
        "replay is refused"
    );
    assert_eq!(store.consume_oauth_state("never-issued", t).await.unwrap(), None);

    let expired = OAuthState {
        state: "s-2".into(),
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        return_to: None,
        expires_at: (t - Duration::seconds(1)).unix_timestamp(),
    };
    store.put_oauth_state(&expired).await.unwrap();
    assert_eq!(
        store.consume_oauth_state("s-2", t).await.unwrap(),
        None,
        "expired but not yet swept by TTL"
    );
    assert_eq!(
        store
            .consume_oauth_state("s-2", t - Duration::minutes(5))
            .await
            .unwrap(),
        None,
        "and it was removed"
    );
}

#[tokio::test]
async fn notification_dedupe_accepts_a_key_once_per_day() {
    let store = store().await;
    let t = now();
    assert!(store.remember_notification("hash-1", t).await.unwrap());
    assert!(
        !store.remember_notification("hash-1", t).await.unwrap(),
        "duplicate refused"
    );
    assert!(store.remember_notification("hash-2", t).await.unwrap());
    assert!(
        store
            .remember_notification("hash-1", t + Duration::hours(25))
            .await
            .unwrap(),
        "expired key counts as new"
    );
    store.forget_notification("hash-2").await.unwrap();
    assert!(
        store.remember_notification("hash-2", t).await.unwrap(),
        "forgotten key is accepted again"
    );
}

#[tokio::test]
async fn renewal_index_spans_shards_and_respects_time_bounds() {
    let store = store().await;
    let t = now();
    let mut expected = Vec::new();
    for i in 0..40 {
        let exp = t + Duration::minutes(30 * i);
        let sub = subscription(&format!("sub-{i:02}"), exp);
        store.put_subscription(&sub, t).await.unwrap();
        if exp < t + Duration::hours(6) {
            expected.push(sub.id.clone());
        }
    }
    let mut retired = subscription("sub-retired", t);
    retired.active = false;
    store.put_subscription(&retired, t).await.unwrap();

    let due = store
        .subscriptions_expiring_before(t + Duration::hours(6))
        .await
        .unwrap();
    let ids: Vec<_> = due.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, expected, "exactly the active ones before the bound, soonest first");
    let shards: std::collections::HashSet<_> = ids.iter().map(|id| shard_of(id)).collect();
    assert!(shards.len() > 1, "the query crossed shards");
    assert!(
        store.subscriptions_expiring_before(t).await.unwrap().is_empty(),
        "bound is exclusive"
    );
}

#[tokio::test]
async fn subscription_versions_let_one_writer_win() {
    let store = store().await;
    let t = now();
    let sub = subscription("sub-v", t + Duration::hours(1));
    store.put_subscription(&sub, t).await.unwrap();

    let mut a = sub.clone();
    a.expiration = t + Duration::days(29);
    a.version = 2;
    let mut b = a.clone();
    b.expiration = t + Duration::days(28);
    assert!(store.replace_subscription_if_version(&a, 1, t).await.unwrap());
    assert!(
        !store.replace_subscription_if_version(&b, 1, t).await.unwrap(),
        "stale writer loses"
    );
    let stored = store.get_subscription("sub-v").await.unwrap().unwrap();
    assert_eq!(stored.expiration, a.expiration);

    // the renewal index follows the new expiration
    assert!(store
        .subscriptions_expiring_before(t + Duration::days(2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .subscriptions_expiring_before(t + Duration::days(30))
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(store
        .set_subscription_action("sub-v", SubscriptionAction::Reauthorize, t)
        .await
        .unwrap());
    let stored = store.get_subscription("sub-v").await.unwrap().unwrap();
    assert_eq!(stored.action, Some(SubscriptionAction::Reauthorize));
    assert_eq!(stored.version, 3, "an action bumps the version");
    assert!(!store
        .set_subscription_action("missing", SubscriptionAction::Recreate, t)
        .await
        .unwrap());
    assert!(store.stamp_subscription_notification("sub-v", t).await.unwrap());
    assert!(!store.stamp_subscription_notification("missing", t).await.unwrap());
}

#[tokio::test]
async fn batched_subscription_reads_skip_unknown_ids() {
    let store = store().await;
    let t = now();
    let ids: Vec<String> = (0..130).map(|i| format!("batch-{i}")).collect();
    for id in &ids {
        store
            .put_subscription(&subscription(id, t + Duration::days(1)), t)
            .await
            .unwrap();
    }
    let mut wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
    wanted.push("unknown");
    wanted.push("batch-0");
    let found = store.get_subscriptions(&wanted).await.unwrap();
    assert_eq!(found.len(), 130);
    assert!(!found.contains_key("unknown"));
    assert_eq!(found["batch-7"].resource, "/drives/d1/root");
}

#[tokio::test]
async fn drive_lease_checkpoint_and_pending() {
    let store = store().await;
    let t = now();
    assert_eq!(
        store.mark_drive_pending("d1", 1, t).await.unwrap(),
        PendingMark::UnknownDrive
    );
    store.register_drive("d1", "tenant-a", "user-1", t).await.unwrap();
    assert_eq!(
        store.mark_drive_pending("d1", 1, t).await.unwrap(),
        PendingMark::AlreadyPending,
        "registered pending"
    );
    assert_eq!(
        store.mark_drive_pending("d1", 2, t).await.unwrap(),
        PendingMark::AlreadyPending
    );
    let d = store.get_drive("d1").await.unwrap().unwrap();
    assert!(d.pending && d.active);
    assert_eq!(d.notification_count, 3);
    assert_eq!(d.delta_link, None);

    let lease = Duration::minutes(15);
    let held = store
        .acquire_drive_lease("d1", "run-a", t, t + lease)
        .await
        .unwrap()
        .expect("free lease");
    assert!(!held.pending, "taking the lease clears pending");
    assert_eq!(held.lease_owner.as_deref(), Some("run-a"));
    assert!(
        store
            .acquire_drive_lease("d1", "run-b", t, t + lease)
            .await
            .unwrap()
            .is_none(),
        "held by another owner"
    );
    assert!(store
        .acquire_drive_lease("missing", "run-b", t, t + lease)
        .await
        .unwrap()
        .is_none());

    assert!(store
        .checkpoint_drive("d1", "run-a", "https://graph/next?page=2", "scan-1", t + lease)
        .await
        .unwrap());
    assert!(
        !store
            .checkpoint_drive("d1", "run-b", "x", "scan-x", t + lease)
            .await
            .unwrap(),
        "only the owner writes"
    );
    assert!(store.release_drive_lease("d1", "run-a", true).await.unwrap());
    let d = store.get_drive("d1").await.unwrap().unwrap();
    assert!(d.pending, "continuation leaves pending for the stream");
    assert_eq!(d.checkpoint.as_deref(), Some("https://graph/next?page=2"));
    assert_eq!(d.current_scan_id.as_deref(), Some("scan-1"));

    // run-b takes over; an expired lease of run-b is taken by run-c
    assert!(store
        .acquire_drive_lease("d1", "run-b", t, t + lease)
        .await
        .unwrap()
        .is_some());
    let later = t + Duration::minutes(16);
    assert!(store
        .acquire_drive_lease("d1", "run-c", later, later + lease)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.mark_drive_pending("d1", 1, later).await.unwrap(),
        PendingMark::Marked,
        "idle to pending during a pass"
    );
    assert!(
        !store
            .complete_drive_pass("d1", "run-b", "https://graph/delta?token=1", later)
            .await
            .unwrap(),
        "lost lease"
    );
    assert!(store
        .complete_drive_pass("d1", "run-c", "https://graph/delta?token=1", later)
        .await
        .unwrap());
    let d = store.get_drive("d1").await.unwrap().unwrap();
    assert_eq!(d.delta_link.as_deref(), Some("https://graph/delta?token=1"));
    assert_eq!((d.checkpoint, d.lease_owner, d.current_scan_id), (None, None, None));
    assert!(d.pending, "the notification during the pass still waits");

    assert!(store.request_full_rescan("d1").await.unwrap());
    let d = store.get_drive("d1").await.unwrap().unwrap();
    assert!(d.pending && d.delta_link.is_none());
    assert!(!store.request_full_rescan("missing").await.unwrap());
}

#[tokio::test]
async fn connection_items_and_active_drives() {
    let store = store().await;
    let t = now();
    store.upsert_connection(&connection("user-1", t)).await.unwrap();
    store
        .put_subscription(&subscription("s-1", t + Duration::days(1)), t)
        .await
        .unwrap();
    let mut retired = subscription("s-0", t);
    retired.active = false;
    store.put_subscription(&retired, t).await.unwrap();
    store.register_drive("d1", "tenant-a", "user-1", t).await.unwrap();
    store.register_drive("d2", "tenant-b", "user-9", t).await.unwrap();

    let items = store.connection_items("tenant-a", "user-1").await.unwrap();
    let mut sub_ids: Vec<_> = items.subscriptions.iter().map(|s| s.id.as_str()).collect();
    sub_ids.sort();
    assert_eq!(sub_ids, ["s-0", "s-1"]);
    assert_eq!(items.drives.len(), 1);
    assert_eq!(items.drives[0].drive_id, "d1");

    let mut drives: Vec<_> = store
        .active_drives()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.drive_id)
        .collect();
    drives.sort();
    assert_eq!(drives, ["d1", "d2"]);
}

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

#[tokio::test]
async fn audit_events_are_kept_per_day_in_order() {
    let store = store().await;
    let t = now();
    for (i, kind) in [
        AuditKind::Connected,
        AuditKind::SubscriptionCreated,
        AuditKind::NotificationRejected,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .audit(&AuditEvent {
                at: t + Duration::milliseconds(i as i64),
                kind,
                subject: "CONN#tenant-a#user-1".into(),
                detail: format!("event {i}"),
            })
            .await
            .unwrap();
    }
    let events = store.audit_events(t).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            AuditKind::Connected,
            AuditKind::SubscriptionCreated,
            AuditKind::NotificationRejected
        ]
    );
    assert!(store.audit_events(t - Duration::days(2)).await.unwrap().is_empty());
}

#[tokio::test]
async fn unreachable_dynamodb_is_a_transient_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("l", "l", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "t");
    let err = store.mark_drive_pending("d1", 1, now()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    let missing_table = Store::new(graphwatch_testkit::dynamodb(), "no-such-table");
    let err = missing_table.get_drive("d1").await.unwrap_err();
    assert!(!err.is_transient(), "a missing table is not worth retrying: {err}");
}

#[tokio::test]
async fn notification_records_are_kept_once_per_subscription() {
    let store = store().await;
    let t = now();
    let record = |key: &str| NotificationRecord {
        subscription_id: "mail-sub".into(),
        dedupe_key: key.into(),
        change_type: "created".into(),
        resource: "Users/u1/Messages/m1".into(),
        resource_id: Some("m1".into()),
        tenant_id: "tenant-a".into(),
        received_at: t,
    };
    assert!(store.put_notification_record(&record("k1")).await.unwrap());
    assert!(
        !store.put_notification_record(&record("k1")).await.unwrap(),
        "a redelivery is refused"
    );
    assert!(store.put_notification_record(&record("k2")).await.unwrap());
    let mut week_later = record("k1");
    week_later.received_at = t + Duration::days(8);
    assert!(
        store.put_notification_record(&week_later).await.unwrap(),
        "an expired record counts as absent"
    );
    let kept = store.notification_records("mail-sub").await.unwrap();
    assert_eq!(
        kept.iter().map(|r| r.dedupe_key.as_str()).collect::<Vec<_>>(),
        ["k2", "k1"],
        "oldest first"
    );
    assert!(store.notification_records("other").await.unwrap().is_empty());
}

#[tokio::test]
async fn claims_failures_and_due_subscriptions() {
    let store = store().await;
    let t = now();
    let sub = subscription("sub-claim", t + Duration::hours(5));
    store.put_subscription(&sub, t).await.unwrap();
    let due = |store: Store, at: OffsetDateTime| async move {
        store
            .subscriptions_due(t + Duration::days(1), at)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(due(store.clone(), t).await, ["sub-claim"]);

    // one claim per version, none while an unexpired claim is held
    let claimed = store
        .claim_subscription("sub-claim", 1, "run-a", t, t + Duration::minutes(5))
        .await
        .unwrap()
        .expect("the first claim wins");
    assert_eq!(claimed.version, 2);
    assert!(store
        .claim_subscription("sub-claim", 1, "run-b", t, t + Duration::minutes(5))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .claim_subscription("sub-claim", 2, "run-b", t, t + Duration::minutes(5))
            .await
            .unwrap()
            .is_none(),
        "held by run-a"
    );
    assert!(due(store.clone(), t).await.is_empty(), "claimed: not due");
    assert_eq!(
        due(store.clone(), t + Duration::minutes(6)).await,
        ["sub-claim"],
        "an abandoned claim expires"
    );

    // a failure backs off until retry_at; a later replace drops it
    let mut failed = claimed.clone();
    failed.version = 3;
    failed.renewal_failures = 1;
    failed.last_error = Some("renew: HTTP 400".into());
    assert!(store
        .record_subscription_failure(&failed, 2, t + Duration::minutes(30), t)
        .await
        .unwrap());
    assert!(!store
        .record_subscription_failure(&failed, 2, t + Duration::minutes(30), t)
        .await
        .unwrap());
    assert!(due(store.clone(), t + Duration::minutes(29)).await.is_empty());
    assert_eq!(due(store.clone(), t + Duration::minutes(30)).await, ["sub-claim"]);
    assert_eq!(store.get_subscription("sub-claim").await.unwrap().unwrap(), failed);
    let mut renewed = failed.clone();
    renewed.version = 4;
    assert!(store.replace_subscription_if_version(&renewed, 3, t).await.unwrap());
    assert_eq!(due(store.clone(), t).await, ["sub-claim"]);
    assert_eq!(
        store
            .subscriptions_expiring_before(t + Duration::days(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn audit_events_in_bulk() {
    let store = store().await;
    let t = now();
    let events: Vec<AuditEvent> = (0..60)
        .map(|i| AuditEvent {
            at: t,
            kind: AuditKind::SubscriptionRenewed,
            subject: format!("sub-{i}"),
            detail: "until later".into(),
        })
        .collect();
    store.audit_many(&events).await.unwrap();
    store.audit_many(&[]).await.unwrap();
    let stored = store.audit_events(t).await.unwrap();
    assert_eq!(stored.len(), 60);
}
