//! Notification dedupe marks and kept notification records.

use super::*;

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
