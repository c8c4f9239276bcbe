//! The audit trail, one event at a time and in bulk.

use super::*;

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
