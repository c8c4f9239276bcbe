//! Subscriptions: the renewal index, versions, batched reads, claims and backoff.

use super::*;

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
