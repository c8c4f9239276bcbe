//! Connections: upsert, rotation, status, and what is filed under one.

use super::*;

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
