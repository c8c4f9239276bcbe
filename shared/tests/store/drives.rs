//! Drives: registration, pending marks, the lease and its checkpoint.

use super::*;

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
