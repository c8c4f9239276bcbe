//! renew-subscriptions against DynamoDB Local, moto and the Graph emulator.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::*;
use graph_emulator::Fault;
use graphwatch_shared::store::{AuditKind, ConnectionStatus, SubscriptionAction};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const PATCH: &str = "PATCH /v1.0/subscriptions/{id}";
const CREATE: &str = "POST /v1.0/subscriptions";
const REAUTHORIZE: &str = "POST /v1.0/subscriptions/{id}/reauthorize";

fn schedule() -> serde_json::Value {
    event("schedule-renewal.json", |_| {})
}

/// 1,000 subscriptions over four tenants (and one revoked connection): far ones untouched,
/// due ones renewed once although two runs race, removed ones recreated with their drive
/// pending, throttled calls retried after `Retry-After`, the revoked connection marked
/// `needs_consent` and not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_population_is_renewed_once_recreated_and_consent_loss_is_not_retried() {
    let mut people = users(4, 1);
    let revoked = User {
        tenant_id: people[0].tenant_id.clone(),
        oid: "22222222-0000-4000-8000-000000000001".into(),
        upn: "revoked@tenant0.example".into(),
        drive_id: "b!drive-revoked".into(),
    };
    people.push(revoked.clone());
    let h = harness(people.clone(), &[]).await;
    let now = OffsetDateTime::now_utc();
    let far = now + Duration::days(20);
    let soon = now + Duration::days(2);
    let (mut due, mut untouched, mut consent_subs, mut removed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for user in &people {
        let token = h.connect(user).await;
        let (n_far, n_due) = if user.oid == revoked.oid { (24, 56) } else { (69, 161) };
        untouched.extend(h.subscribe(user, &token, n_far, far).await);
        let subs = h.subscribe(user, &token, n_due, soon).await;
        if user.oid == revoked.oid {
            consent_subs = subs;
        } else {
            removed.extend(subs.iter().take(25).cloned());
            due.extend(subs);
        }
    }
    assert_eq!(due.len() + untouched.len() + consent_subs.len(), 1000);
    // 10% of the population removed on Graph, 10% of the calls throttled
    assert_eq!(removed.len(), 100);
    for sub in &removed {
        h.remove_on_graph(&sub.id).await;
    }
    h.emulator
        .inject_fault(Fault::Throttle {
            count: 100,
            retry_after_secs: 2,
            route_prefix: Some("/v1.0/subscriptions".into()),
        })
        .await
        .unwrap();
    h.emulator.revoke_refresh_tokens(&revoked.oid).await.unwrap();
    let patched_before = h.count(PATCH, 200);
    let created_before = h.count(CREATE, 201);

    // two instances run at once
    let second = h.another_app();
    let started = Instant::now();
    let (a, b) = tokio::join!(
        h.app.handle(schedule(), full_deadline()),
        second.handle(schedule(), full_deadline())
    );
    let elapsed = started.elapsed();
    let (a, b) = (a.unwrap(), b.unwrap());
    let both = |k: &str| field(&a, k) + field(&b, k);
    assert_eq!(both("renewed"), 544, "{a} {b}");
    assert_eq!(both("recreated"), 100, "{a} {b}");
    assert_eq!(both("failed"), 0, "{a} {b}");
    assert_eq!(both("remaining"), 0, "{a} {b}");
    // each run found the revoked connection's subscriptions waiting for consent
    assert_eq!(field(&a, "needs_consent"), 56);
    assert_eq!(field(&b, "needs_consent"), 56);
    assert!(both("consent_lost") >= 1);

    // Graph saw exactly one successful renewal per live due subscription
    assert_eq!(h.count(PATCH, 200) - patched_before, 544);
    assert_eq!(h.count(CREATE, 201) - created_before, 100);
    // every throttled call was retried after Retry-After
    assert_eq!(h.emulator.stats().throttled, 100);
    assert!(elapsed >= std::time::Duration::from_secs(2), "{elapsed:?}");

    let live = h.emulator_subscriptions().await;
    let removed_ids: HashSet<_> = removed.iter().map(|s| s.id.clone()).collect();
    let floor = OffsetDateTime::now_utc() + Duration::minutes(42_300) - Duration::hours(2);
    for sub in due.iter().filter(|s| !removed_ids.contains(&s.id)) {
        let stored = h.stored(&sub.id).await;
        assert!(stored.active && stored.expiration > floor, "{stored:?}");
        assert!(stored.last_renewed_at.is_some());
        assert_eq!(stored.version, sub.version + 2, "claimed once and written once");
        let graph_expiration = live[&sub.id]["expirationDateTime"].as_str().unwrap();
        assert_eq!(
            OffsetDateTime::parse(graph_expiration, &time::format_description::well_known::Rfc3339).unwrap(),
            stored.expiration
        );
    }
    for sub in &untouched {
        assert_eq!(&h.stored(&sub.id).await, sub, "far from expiry: untouched");
    }
    for sub in &consent_subs {
        assert_eq!(&h.stored(&sub.id).await, sub, "waiting for consent: untouched");
    }
    // removed ones: retired with a TTL, replaced by a live subscription, drive pending
    for sub in &removed {
        let old = h.stored(&sub.id).await;
        assert!(!old.active);
        assert!(h.ttl_of(&sub.id).await.unwrap() > OffsetDateTime::now_utc().unix_timestamp());
    }
    for user in people.iter().filter(|u| u.oid != revoked.oid) {
        let items = h.store.connection_items(&user.tenant_id, &user.oid).await.unwrap();
        let replacements: Vec<_> = items
            .subscriptions
            .iter()
            .filter(|s| s.active && !due.iter().chain(&untouched).any(|d| d.id == s.id))
            .collect();
        assert_eq!(replacements.len(), 25, "{}", user.upn);
        for new in replacements {
            assert!(live.contains_key(&new.id));
            assert!(removed.iter().any(|r| r.notification_url == new.notification_url));
            assert_eq!(new.client_state_sha256.len(), 64);
        }
        assert!(h.drive_pending(&user.drive_id).await, "{}", user.upn);
    }
    assert!(!h.drive_pending(&revoked.drive_id).await);

    // consent loss: recorded, audited, and not asked again by later runs
    let connection = h
        .store
        .get_connection(&revoked.tenant_id, &revoked.oid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.status, ConnectionStatus::NeedsConsent);
    let audit = h.store.audit_events(OffsetDateTime::now_utc()).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.kind == AuditKind::ConsentLost && e.subject.contains(&revoked.oid)));
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == AuditKind::SubscriptionRecreated)
            .count(),
        100
    );
    let refused = h.refused_refreshes();
    assert!((1..=2).contains(&refused), "{refused}");
    let again = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!(field(&again, "needs_consent"), 56);
    assert_eq!(field(&again, "renewed"), 0, "everything is renewed: {again}");
    assert_eq!(
        h.refused_refreshes(),
        refused,
        "no token request for a connection needing consent"
    );
}

/// A `reauthorize` action from the stream calls Graph's reauthorize and clears the action.
#[tokio::test]
async fn reauthorize_action() {
    let (h, user, token) = one_user().await;
    let sub = h
        .subscribe(&user, &token, 1, OffsetDateTime::now_utc() + Duration::days(20))
        .await
        .remove(0);
    let now = OffsetDateTime::now_utc();
    assert!(h
        .store
        .set_subscription_action(&sub.id, SubscriptionAction::Reauthorize, now)
        .await
        .unwrap());
    let answer = h.act(&sub.id, "reauthorize", "1").await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.count(REAUTHORIZE, 204), 1);
    let stored = h.stored(&sub.id).await;
    assert_eq!(stored.action, None);
    assert!(stored.last_reauthorized_at.is_some());
    assert_eq!(stored.expiration, sub.expiration, "reauthorized, not renewed");
    let audit = h.store.audit_events(now).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.kind == AuditKind::SubscriptionReauthorized && e.subject == sub.id));
    // a replayed record finds nothing to do
    let replay = h.act(&sub.id, "reauthorize", "1").await;
    assert_eq!(replay, json!({"batchItemFailures": []}));
    assert_eq!(h.count(REAUTHORIZE, 204), 1);
}

/// A `recreate` action replaces the subscription, retires the old record with a TTL and
/// marks the drive pending.
#[tokio::test]
async fn recreate_action() {
    let (h, user, token) = one_user().await;
    let sub = h
        .subscribe(&user, &token, 1, OffsetDateTime::now_utc() + Duration::days(20))
        .await
        .remove(0);
    h.remove_on_graph(&sub.id).await;
    let now = OffsetDateTime::now_utc();
    h.store
        .set_subscription_action(&sub.id, SubscriptionAction::Recreate, now)
        .await
        .unwrap();
    let answer = h.act(&sub.id, "recreate", "7").await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let old = h.stored(&sub.id).await;
    assert!(!old.active && old.action.is_none());
    assert!(h.ttl_of(&sub.id).await.is_some());
    let items = h.store.connection_items(&user.tenant_id, &user.oid).await.unwrap();
    let new = items.subscriptions.iter().find(|s| s.active).expect("a replacement");
    assert_ne!(new.id, sub.id);
    assert_eq!(new.notification_url, sub.notification_url);
    assert_ne!(new.client_state_sha256, sub.client_state_sha256, "a new clientState");
    let live = h.emulator_subscriptions().await;
    assert!(live.contains_key(&new.id) && !live.contains_key(&sub.id));
    assert!(h.drive_pending(&user.drive_id).await);
}

/// Renew and reauthorize are never made within 10 minutes of each other.
#[tokio::test]
async fn ten_minute_rule() {
    let (h, user, token) = one_user().await;
    let now = OffsetDateTime::now_utc();
    let mut subs = h.subscribe(&user, &token, 2, now + Duration::days(2)).await;
    let (mut renewed_recently, mut reauthorized_recently) = (subs.remove(0), subs.remove(0));
    // far from expiry, renewed 2 minutes ago, then asked to reauthorize
    renewed_recently.expiration = now + Duration::days(25);
    renewed_recently.last_renewed_at = Some(now - Duration::minutes(2));
    h.put(&renewed_recently).await;
    h.store
        .set_subscription_action(&renewed_recently.id, SubscriptionAction::Reauthorize, now)
        .await
        .unwrap();
    let answer = h.act(&renewed_recently.id, "reauthorize", "1").await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.count(REAUTHORIZE, 204), 0, "the renewal answered it already");
    assert_eq!(h.stored(&renewed_recently.id).await.action, None);

    // due, but reauthorized 2 minutes ago: the run leaves it for later
    reauthorized_recently.last_reauthorized_at = Some(now - Duration::minutes(2));
    h.put(&reauthorized_recently).await;
    let run = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!((field(&run, "renewed"), field(&run, "skipped")), (0, 1), "{run}");
    assert_eq!(h.count(PATCH, 200), 0);
    // eleven minutes later it is renewed
    reauthorized_recently.last_reauthorized_at = Some(now - Duration::minutes(11));
    h.put(&reauthorized_recently).await;
    let run = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!(field(&run, "renewed"), 1, "{run}");
    assert_eq!(h.count(PATCH, 200), 1);
}

/// A run with little time left stops taking work; the next run renews the rest, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_budget_exhaustion_resumes_next_run() {
    let (h, user, token) = one_user().await;
    let subs = h
        .subscribe(&user, &token, 200, OffsetDateTime::now_utc() + Duration::days(1))
        .await;
    h.emulator.inject_fault(Fault::Latency { ms: 700 }).await.unwrap();
    // the first run may work for a second and a half before the 60 s reserve
    let first = h.app.handle(schedule(), deadline_in(61.5)).await.unwrap();
    let done = field(&first, "renewed");
    assert!(done > 0 && done < 200, "{first}");
    assert_eq!(done + field(&first, "remaining"), 200, "{first}");
    // nothing at all with less than the reserve left
    let none = h.app.handle(schedule(), deadline_in(30.0)).await.unwrap();
    assert_eq!(
        (field(&none, "renewed"), field(&none, "remaining")),
        (0, 200 - done),
        "{none}"
    );
    let second = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!(field(&second, "renewed"), 200 - done, "{second}");
    assert_eq!(h.count(PATCH, 200), 200);
    for sub in &subs {
        assert_eq!(h.stored(&sub.id).await.version, sub.version + 2);
    }
}

/// A record whose Graph call keeps failing is reported; the others are processed.
#[tokio::test]
async fn stream_reports_transient_failures_per_record() {
    let (h, user, token) = one_user().await;
    let now = OffsetDateTime::now_utc();
    let subs = h.subscribe(&user, &token, 2, now + Duration::days(20)).await;
    for sub in &subs {
        h.store
            .set_subscription_action(&sub.id, SubscriptionAction::Reauthorize, now)
            .await
            .unwrap();
    }
    h.emulator
        .inject_fault(Fault::Fail {
            count: 6,
            retry_after_secs: Some(0),
            route_prefix: Some(format!("/v1.0/subscriptions/{}/reauthorize", subs[0].id)),
        })
        .await
        .unwrap();
    let answer = h
        .app
        .handle(
            stream_event(vec![
                action_record(&subs[0].id, "reauthorize", "100"),
                action_record(&subs[1].id, "reauthorize", "200"),
            ]),
            full_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "100"}]}));
    assert_eq!(
        h.stored(&subs[0].id).await.action,
        Some(SubscriptionAction::Reauthorize)
    );
    assert_eq!(h.stored(&subs[1].id).await.action, None);
    // the retried record succeeds
    let retry = h.act(&subs[0].id, "reauthorize", "100").await;
    assert_eq!(retry, json!({"batchItemFailures": []}));
    assert_eq!(h.count(REAUTHORIZE, 204), 2);
}

/// A rejected renewal is recorded on the item, audited, and backs off.
#[tokio::test]
async fn rejected_renewals_are_recorded_and_back_off() {
    let (h, user, token) = one_user().await;
    let mut sub = h
        .subscribe(&user, &token, 1, OffsetDateTime::now_utc() + Duration::days(2))
        .await
        .remove(0);
    // a resource whose lifetime graphwatch does not know cannot be renewed
    sub.resource = "/me/planner/tasks".into();
    sub.expiration = OffsetDateTime::now_utc() + Duration::minutes(30);
    h.put(&sub).await;
    let run = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!(field(&run, "failed"), 1, "{run}");
    let stored = h.stored(&sub.id).await;
    assert_eq!(stored.renewal_failures, 1);
    assert!(stored.last_error.as_deref().unwrap().contains("unknownLifetime"));
    let audit = h.store.audit_events(OffsetDateTime::now_utc()).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.kind == AuditKind::SubscriptionFailed && e.subject == sub.id));
    let again = h.app.handle(schedule(), full_deadline()).await.unwrap();
    assert_eq!(field(&again, "failed"), 0, "backing off: {again}");
    assert_eq!(h.stored(&sub.id).await.renewal_failures, 1);
}

/// The daily task marks every active drive pending and retires expired subscriptions of
/// connections that lost consent (with a TTL); malformed events are errors.
#[tokio::test]
async fn daily_task_and_malformed_events() {
    let people = users(2, 1);
    let h = harness(people.clone(), &[]).await;
    let now = OffsetDateTime::now_utc();
    let mut expired = Vec::new();
    for user in &people {
        let token = h.connect(user).await;
        let mut sub = h.subscribe(user, &token, 1, now + Duration::days(20)).await.remove(0);
        sub.expiration = now - Duration::hours(1);
        h.put(&sub).await;
        expired.push(sub);
    }
    let read = h
        .store
        .get_connection(&people[1].tenant_id, &people[1].oid)
        .await
        .unwrap()
        .unwrap();
    assert!(h
        .store
        .set_connection_status(&read, ConnectionStatus::NeedsConsent, now)
        .await
        .unwrap());
    let answer = h
        .app
        .handle(event("schedule-daily.json", |_| {}), full_deadline())
        .await
        .unwrap();
    assert_eq!(
        (field(&answer, "drives_marked"), field(&answer, "retired")),
        (2, 1),
        "{answer}"
    );
    for user in &people {
        assert!(h.drive_pending(&user.drive_id).await);
    }
    assert!(
        h.stored(&expired[0].id).await.active,
        "an active connection's is recreated by renewal"
    );
    assert!(h.ttl_of(&expired[0].id).await.is_none());
    assert!(!h.stored(&expired[1].id).await.active);
    assert!(h.ttl_of(&expired[1].id).await.unwrap() > now.unix_timestamp());

    for bad in [
        json!({}),
        json!({"task": "weekly"}),
        json!({"detail-type": "Object Created", "source": "aws.s3"}),
        json!({"Records": "nope"}),
    ] {
        let error = h.app.handle(bad.clone(), full_deadline()).await.unwrap_err();
        assert!(!error.to_string().is_empty(), "{bad}");
    }
}
