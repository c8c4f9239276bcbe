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

    let read = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    let later = t + Duration::seconds(1);
    assert!(store.store_refresh_token(&read, "gw1.2.rotated", later).await.unwrap());
    let read = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    assert!(store
        .set_connection_status(&read, ConnectionStatus::NeedsConsent, later)
        .await
        .unwrap());
    let c = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    assert_eq!(c.sealed_refresh_token, "gw1.2.rotated");
    assert_eq!(c.status, ConnectionStatus::NeedsConsent);

    assert!(store.get_connection("tenant-a", "nobody").await.unwrap().is_none());
    let nobody = connection("nobody", t);
    assert!(
        !store.store_refresh_token(&nobody, "x", t).await.unwrap(),
        "never creates a connection"
    );
    assert!(!store
        .set_connection_status(&nobody, ConnectionStatus::Revoked, t)
        .await
        .unwrap());
    assert!(store.get_connection("tenant-a", "nobody").await.unwrap().is_none());
}

/// A write decided on an old read (a refused or rotated refresh token) loses to a sign-in
/// made since: `updated_at` is the connection's version.
#[tokio::test]
async fn connection_writes_hold_only_while_it_is_as_read() {
    let store = store().await;
    // sub-second digits with trailing zeros: the condition compares the stored text with the
    // read value written again, so both must serialise alike
    let t = now().replace_nanosecond(120_000_000).unwrap();
    store.upsert_connection(&connection("user-1", t)).await.unwrap();
    let stale = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();

    let mut reconnected = connection("user-1", t);
    reconnected.sealed_refresh_token = "gw1.1.newer".into();
    reconnected.updated_at = t + Duration::seconds(1);
    assert!(store.upsert_connection(&reconnected).await.unwrap());
    let later = t + Duration::seconds(2);
    assert!(
        !store.store_refresh_token(&stale, "gw1.2.stale", later).await.unwrap(),
        "a stale rotation never overwrites a newer refresh token"
    );
    assert!(
        !store
            .set_connection_status(&stale, ConnectionStatus::NeedsConsent, later)
            .await
            .unwrap(),
        "a stale refusal never marks a newer sign-in"
    );
    let fresh = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    assert_eq!(fresh, reconnected);

    assert!(store.store_refresh_token(&fresh, "gw1.2.rotated", later).await.unwrap());
    assert!(
        !store.store_refresh_token(&fresh, "gw1.3.again", later).await.unwrap(),
        "each write moves the version on"
    );
    let c = store.get_connection("tenant-a", "user-1").await.unwrap().unwrap();
    assert_eq!(
        (c.sealed_refresh_token.as_str(), c.updated_at),
        ("gw1.2.rotated", later)
    );
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
