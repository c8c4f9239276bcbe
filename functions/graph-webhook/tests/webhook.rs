//! graph-webhook's handler on DynamoDB Local, fed with the API Gateway events in `events/`.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use graph_emulator::{Emulator, EmulatorConfig, KeySlot, ValidationTokenSpec, DEMO_CLIENT_ID};
use graph_webhook::{App, Outcome};
use graphwatch_shared::clients;
use graphwatch_shared::identity::Jwks;
use graphwatch_shared::notify::client_state_sha256;
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::*;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const DRIVE: &str = "b!kX3dQ9vT2kOq7yN1mZ4sW8pL5rJ0hG6fE2cA9bD3xV7uY1tS4qR8nM5kJ2hF0gD";
const SUB: &str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";
const CLIENT_STATE: &str = "a7Jx1n0y9QmB2c8Vd4Lr6Tp3Sw5Zk0Hf7Ge1Ui9Oa2E";

fn event(name: &str) -> Value {
    let path = graphwatch_testkit::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

fn with_body(mut event: Value, body: &Value) -> Value {
    event["body"] = Value::String(body.to_string());
    event
}

fn body_text(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        Body::Empty => String::new(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => unreachable!("no other body kinds"),
    }
}

fn error_code(r: &Response<Body>) -> String {
    let v: Value = serde_json::from_str(&body_text(r)).unwrap();
    v["error"]["code"].as_str().unwrap().to_owned()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

struct Fixture {
    store: Store,
    app: App,
    emulator: Emulator,
    secret_id: String,
}

/// The handler over `store`, checking validation tokens with the emulator's keys and a
/// secret whose client id is the emulator's demo app.
fn app_over(store: Store, emulator: &Emulator, secret_id: &str) -> App {
    let secrets = SecretsCache::new(
        graphwatch_testkit::secretsmanager(),
        secret_id,
        StdDuration::from_secs(300),
    );
    let jwks = Jwks::new(clients::http_client().unwrap(), &emulator.login_base_url(), "common");
    App::new(store, secrets, jwks)
}

async fn fixture() -> Fixture {
    let emulator = graph_emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let backend = graphwatch_testkit::Backend::new("webhook", &emulator, json!({}), &[]).await;
    Fixture {
        app: app_over(backend.store.clone(), &emulator, &backend.secret_id),
        store: backend.store,
        emulator,
        secret_id: backend.secret_id,
    }
}

fn subscription(id: &str, resource: &str, drive_id: Option<&str>, client_state: &str) -> Subscription {
    Subscription {
        id: id.into(),
        tenant_id: TENANT.into(),
        user_oid: "3c5b8f2a-1d9e-4b7c-8a6f-2e4d1c9b7a05".into(),
        resource: resource.into(),
        change_type: "updated".into(),
        drive_id: drive_id.map(str::to_owned),
        notification_url: "https://api.example/webhooks/graph".into(),
        lifecycle_notification_url: Some("https://api.example/webhooks/lifecycle".into()),
        client_state_sha256: client_state_sha256(client_state),
        expiration: now() + Duration::days(20),
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

/// Registers an idle (not pending) drive with its subscription.
async fn idle_drive(store: &Store, sub_id: &str, drive_id: &str, client_state: &str) {
    let t = now();
    store
        .put_subscription(
            &subscription(
                sub_id,
                &format!("/drives/{drive_id}/root"),
                Some(drive_id),
                client_state,
            ),
            t,
        )
        .await
        .unwrap();
    store.register_drive(drive_id, TENANT, "user", t).await.unwrap();
    store
        .acquire_drive_lease(drive_id, "setup", t, t)
        .await
        .unwrap()
        .unwrap();
    assert!(store.release_drive_lease(drive_id, "setup", false).await.unwrap());
    assert!(!store.get_drive(drive_id).await.unwrap().unwrap().pending);
}

fn notification(sub: &str, client_state: &str, tenant: &str) -> Value {
    json!({
        "subscriptionId": sub,
        "subscriptionExpirationDateTime": "2026-12-23T10:00:00.0000000+00:00",
        "changeType": "updated",
        "resource": format!("/drives/{DRIVE}/root"),
        "clientState": client_state,
        "tenantId": tenant,
    })
}

#[tokio::test]
async fn handshake_echoes_the_decoded_token_as_text() {
    let f = fixture().await;
    let r = f.app.handle(request(&event("webhook-handshake.json"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        body_text(&r),
        "Validation: Testing client application at https://graph.microsoft.com"
    );

    let mut lifecycle = event("webhook-handshake.json");
    lifecycle["rawPath"] = json!("/webhooks/lifecycle");
    lifecycle["requestContext"]["http"]["path"] = json!("/webhooks/lifecycle");
    lifecycle["rawQueryString"] = json!("validationToken=a%2Bb%3Dc");
    let r = f.app.handle(request(&lifecycle)).await;
    assert_eq!((r.status().as_u16(), body_text(&r)), (200, "a+b=c".to_owned()));
}

#[tokio::test]
async fn handshake_refuses_long_tokens_and_control_characters() {
    let f = fixture().await;
    for query in [
        format!("validationToken={}", "a".repeat(4097)),
        "validationToken=abc%0D%0ASet-Cookie%3A%20x".to_owned(),
    ] {
        let mut e = event("webhook-handshake.json");
        e["rawQueryString"] = json!(query);
        let r = f.app.handle(request(&e)).await;
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(error_code(&r), "invalid_request");
        assert!(!body_text(&r).contains("Set-Cookie"));
    }
}

#[tokio::test]
async fn malformed_oversized_and_misrouted_requests_get_stable_errors() {
    let f = fixture().await;
    let base = event("webhook-change-batch.json");

    let mut e = base.clone();
    e["body"] = json!("{not json");
    let r = f.app.handle(request(&e)).await;
    assert_eq!(
        (r.status().as_u16(), error_code(&r)),
        (400, "invalid_payload".to_owned())
    );
    assert!(
        !body_text(&r).contains("line"),
        "no parser internals: {}",
        body_text(&r)
    );

    let r = f
        .app
        .handle(request(&with_body(
            base.clone(),
            &json!({"value": [{"changeType": "updated"}]}),
        )))
        .await;
    assert_eq!(error_code(&r), "invalid_payload", "subscriptionId is required");

    let huge = json!({"value": [], "padding": "x".repeat(1024 * 1024)});
    let r = f.app.handle(request(&with_body(base.clone(), &huge))).await;
    assert_eq!(
        (r.status().as_u16(), error_code(&r)),
        (413, "payload_too_large".to_owned())
    );

    let mut e = base.clone();
    e["rawPath"] = json!("/webhooks/other");
    e["requestContext"]["http"]["path"] = json!("/webhooks/other");
    assert_eq!(f.app.handle(request(&e)).await.status(), 404);
    let mut e = base;
    e["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(f.app.handle(request(&e)).await.status(), 405);
}

#[tokio::test]
async fn a_change_batch_marks_its_drive_pending_once() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let r = f.app.handle(request(&event("webhook-change-batch.json"))).await;
    assert_eq!(r.status(), 202);
    assert_eq!(body_text(&r), "");
    let d = f.store.get_drive(DRIVE).await.unwrap().unwrap();
    assert!(d.pending);
    assert_eq!(d.notification_count, 2);
    assert!(f
        .store
        .get_subscription(SUB)
        .await
        .unwrap()
        .unwrap()
        .last_notification_at
        .is_some());
}

/// `lastNotificationAt` is written with the first change, then at most once a minute.
#[tokio::test]
async fn the_subscription_stamp_is_written_at_most_once_a_minute() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let stamp = || async {
        f.store
            .get_subscription(SUB)
            .await
            .unwrap()
            .unwrap()
            .last_notification_at
    };
    let delivery = event("webhook-change-batch.json");
    assert_eq!(f.app.handle(request(&delivery)).await.status(), 202);
    let first = stamp().await.expect("stamped by the first delivery");
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    assert_eq!(f.app.handle(request(&delivery)).await.status(), 202);
    assert_eq!(stamp().await, Some(first), "not stamped again within a minute");
    // a subscription last stamped over a minute ago is stamped again
    let mut sub = f.store.get_subscription(SUB).await.unwrap().unwrap();
    sub.last_notification_at = Some(first - graph_webhook::STAMP_INTERVAL);
    f.store.put_subscription(&sub, now()).await.unwrap();
    assert_eq!(f.app.handle(request(&delivery)).await.status(), 202);
    assert!(stamp().await.unwrap() > first);
    assert_eq!(f.store.get_drive(DRIVE).await.unwrap().unwrap().notification_count, 6);
}

#[tokio::test]
async fn forged_unknown_and_cross_tenant_notifications_have_no_effect_and_are_audited() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let batch = json!({"value": [
        notification(SUB, "forged-client-state", TENANT),
        notification(SUB, CLIENT_STATE, "00000000-0000-0000-0000-000000000bad"),
        notification("no-such-subscription", CLIENT_STATE, TENANT),
        { "subscriptionId": SUB, "changeType": "updated", "tenantId": TENANT },
    ]});
    let outcome = f
        .app
        .process(&serde_json::from_value(batch.clone()).unwrap(), now())
        .await;
    assert_eq!(
        outcome,
        Outcome {
            rejected_client_state: 2,
            rejected_tenant: 1,
            rejected_unknown_subscription: 1,
            ..Default::default()
        }
    );
    let r = f
        .app
        .handle(request(&with_body(event("webhook-change-batch.json"), &batch)))
        .await;
    assert_eq!(r.status(), 202, "rejections never change the answer");

    let d = f.store.get_drive(DRIVE).await.unwrap().unwrap();
    assert!(!d.pending, "nothing forged reached the drive");
    assert_eq!(d.notification_count, 0);
    let audits = f.store.audit_events(now()).await.unwrap();
    let details: Vec<_> = audits
        .iter()
        .filter(|a| a.kind == AuditKind::NotificationRejected)
        .map(|a| a.detail.clone())
        .collect();
    assert_eq!(details.len(), 2, "one audit item per delivery: {details:?}");
    for reason in ["client_state_mismatch 2", "tenant_mismatch 1", "unknown_subscription 1"] {
        assert!(
            details.iter().all(|d| d.contains(reason)),
            "{reason} audited: {details:?}"
        );
    }
    assert!(
        !details.iter().any(|d| d.contains("forged-client-state")),
        "clientState values are never stored"
    );
}

#[tokio::test]
async fn a_forged_flood_costs_one_audit_item() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    // about 140 bytes each, so 5,000 stay under the 1 MiB body limit
    let forged: Vec<_> = (0..5_000)
        .map(|i| {
            json!({"subscriptionId": format!("00000000-0000-4000-8000-{i:012}"), "clientState": "guess",
                   "tenantId": TENANT, "changeType": "updated", "resource": "/drives/x/root"})
        })
        .collect();
    let batch = json!({ "value": forged });
    let r = f
        .app
        .handle(request(&with_body(event("webhook-change-batch.json"), &batch)))
        .await;
    assert_eq!(r.status(), 202);
    let rejected: Vec<_> = f
        .store
        .audit_events(now())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AuditKind::NotificationRejected)
        .collect();
    assert_eq!(rejected.len(), 1, "one audit item for 5,000 forged notifications");
    assert!(
        rejected[0].detail.starts_with("unknown_subscription 5000: "),
        "{}",
        rejected[0].detail
    );
    assert!(
        rejected[0].detail.ends_with("; and 4995 more"),
        "{}",
        rejected[0].detail
    );
    assert!(!f.store.get_drive(DRIVE).await.unwrap().unwrap().pending);
}

#[tokio::test]
async fn redeliveries_of_item_changes_collapse_to_one_record() {
    let f = fixture().await;
    let t = now();
    f.store
        .put_subscription(&subscription("mail-sub", "/users/u1/messages", None, "mail-state"), t)
        .await
        .unwrap();
    let mail = |etag: &str| {
        json!({
            "subscriptionId": "mail-sub", "clientState": "mail-state", "tenantId": TENANT,
            "changeType": "created", "resource": "Users/u1/Messages/AAMk1",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMk1", "@odata.etag": etag}
        })
    };
    let batch = json!({"value": [mail("W/\"1\""), mail("W/\"1\""), mail("W/\"2\"")]});
    let first = f.app.process(&serde_json::from_value(batch.clone()).unwrap(), t).await;
    assert_eq!((first.accepted, first.duplicates), (2, 1));
    let again = f.app.process(&serde_json::from_value(batch).unwrap(), t).await;
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    let kept = f.store.notification_records("mail-sub").await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept
        .iter()
        .all(|r| r.resource_id.as_deref() == Some("AAMk1") && r.change_type == "created"));
}

#[tokio::test]
async fn lifecycle_events_set_the_right_action() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let r = f.app.handle(request(&event("webhook-lifecycle-batch.json"))).await;
    assert_eq!(r.status(), 202);
    let sub = f.store.get_subscription(SUB).await.unwrap().unwrap();
    assert_eq!(sub.action, Some(SubscriptionAction::Reauthorize));
    assert!(
        f.store.get_drive(DRIVE).await.unwrap().unwrap().pending,
        "missed asks for a delta resync"
    );

    let removed = json!({"value": [{
        "subscriptionId": SUB, "clientState": CLIENT_STATE, "tenantId": TENANT,
        "lifecycleEvent": "subscriptionRemoved", "resource": format!("/drives/{DRIVE}/root")
    }]});
    let outcome = f.app.process(&serde_json::from_value(removed).unwrap(), now()).await;
    assert_eq!(outcome.lifecycle, 1);
    assert_eq!(
        f.store.get_subscription(SUB).await.unwrap().unwrap().action,
        Some(SubscriptionAction::Recreate)
    );
}

#[tokio::test]
async fn unreachable_dynamodb_answers_503_and_the_retry_is_accepted_once() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("l", "l", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{closed_port}"))
        .build();
    let down = app_over(
        Store::new(aws_sdk_dynamodb::Client::from_conf(conf), f.store.table()),
        &f.emulator,
        &f.secret_id,
    );
    let delivery = event("webhook-change-batch.json");
    let r = down.handle(request(&delivery)).await;
    assert_eq!(
        (r.status().as_u16(), error_code(&r)),
        (503, "upstream_unavailable".to_owned())
    );
    assert!(!body_text(&r).contains("127.0.0.1"), "no internals in the answer");

    // Graph retries the same delivery once DynamoDB is back
    assert_eq!(f.app.handle(request(&delivery)).await.status(), 202);
    let d = f.store.get_drive(DRIVE).await.unwrap().unwrap();
    assert!(d.pending);
    assert_eq!(d.notification_count, 2);
}

/// 10,000 notifications in batches of up to 100, sent concurrently, with 30% duplicates and
/// 5% forged: exactly one pending mark per changed drive, no forged effect, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_notifications_lose_nothing_and_act_once() {
    let f = fixture().await;
    let t = now();
    let drives: Vec<String> = (0..20).map(|i| format!("b!drive-{i:02}")).collect();
    for (i, d) in drives.iter().enumerate() {
        idle_drive(&f.store, &format!("drive-sub-{i:02}"), d, &format!("state-{i}")).await;
    }
    // a drive that only ever sees forged notifications
    idle_drive(&f.store, "victim-sub", "b!victim", "victim-state").await;
    for i in 0..20 {
        f.store
            .put_subscription(
                &subscription(
                    &format!("mail-sub-{i:02}"),
                    "/users/u/messages",
                    None,
                    &format!("mail-{i}"),
                ),
                t,
            )
            .await
            .unwrap();
    }

    // 7,000 originals (half drive, half mail), 3,000 duplicates of them, 500 of the originals forged
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut originals = Vec::new();
    let mut mail_expected = [0usize; 20];
    let mut drive_expected = [0u64; 20];
    let mut forged = 0;
    for k in 0..7000 {
        let i = next(20);
        if k % 14 == 0 {
            forged += 1;
            originals.push(json!({
                "subscriptionId": "victim-sub", "clientState": "guessed", "tenantId": TENANT,
                "changeType": "updated", "resource": "/drives/b!victim/root"
            }));
        } else if k % 2 == 0 {
            drive_expected[i] += 1;
            originals.push(json!({
                "subscriptionId": format!("drive-sub-{i:02}"), "clientState": format!("state-{i}"), "tenantId": TENANT,
                "changeType": "updated", "resource": format!("/drives/{}/root", drives[i])
            }));
        } else {
            mail_expected[i] += 1;
            originals.push(json!({
                "subscriptionId": format!("mail-sub-{i:02}"), "clientState": format!("mail-{i}"), "tenantId": TENANT,
                "changeType": "created", "resource": format!("Users/u/Messages/m{k}"),
                "resourceData": {"id": format!("m{k}"), "@odata.etag": "W/\"1\""}
            }));
        }
    }
    let mut all = originals.clone();
    for _ in 0..3000 {
        let dup = originals[next(originals.len())].clone();
        if dup["resourceData"].is_null() && dup["subscriptionId"] != "victim-sub" {
            // a drive notification carries no identity: a redelivery counts as a notification again
            let i: usize = dup["subscriptionId"].as_str().unwrap()[10..].parse().unwrap();
            drive_expected[i] += 1;
        }
        if dup["subscriptionId"] == "victim-sub" {
            forged += 1;
        }
        all.push(dup);
    }
    for i in (1..all.len()).rev() {
        all.swap(i, next(i + 1));
    }
    assert_eq!(all.len(), 10_000);

    let app = Arc::new(f.app);
    let _emulator = f.emulator;
    let template = event("webhook-change-batch.json");
    let mut tasks = Vec::new();
    for chunk in all.chunks(100) {
        let app = app.clone();
        let e = with_body(template.clone(), &json!({ "value": chunk }));
        tasks.push(async move {
            let batch = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
            app.process(&batch, OffsetDateTime::now_utc()).await
        });
    }
    let results = futures::future::join_all(tasks.into_iter().map(tokio::spawn)).await;
    let mut total = Outcome::default();
    for r in results {
        let o = r.unwrap();
        total.accepted += o.accepted;
        total.duplicates += o.duplicates;
        total.drives_marked += o.drives_marked;
        total.rejected_client_state += o.rejected_client_state;
        total.failed_writes += o.failed_writes;
    }
    assert_eq!(total.failed_writes, 0);
    assert_eq!(total.drives_marked, 20, "exactly one pending mark per changed drive");
    assert_eq!(total.rejected_client_state, forged);
    let store = &f.store;
    for (i, d) in drives.iter().enumerate() {
        let drive = store.get_drive(d).await.unwrap().unwrap();
        assert!(drive.pending);
        assert_eq!(
            drive.notification_count, drive_expected[i],
            "every drive notification counted once per delivery"
        );
        let kept = store.notification_records(&format!("mail-sub-{i:02}")).await.unwrap();
        assert_eq!(kept.len(), mail_expected[i], "every mail change kept exactly once");
    }
    let victim = store.get_drive("b!victim").await.unwrap().unwrap();
    assert!(!victim.pending && victim.notification_count == 0, "zero forged effects");
}

#[tokio::test]
async fn rich_notifications_need_valid_validation_tokens() {
    let f = fixture().await;
    idle_drive(&f.store, SUB, DRIVE, CLIENT_STATE).await;
    let spec = |claims: Value| ValidationTokenSpec {
        tenant_id: Some(TENANT.into()),
        app_id: Some(DEMO_CLIENT_ID.into()),
        claims: claims.as_object().cloned().unwrap_or_default(),
        ..Default::default()
    };
    let rich = |tokens: Vec<String>| -> graphwatch_shared::notify::NotificationBatch {
        serde_json::from_value(json!({
            "value": [notification(SUB, CLIENT_STATE, TENANT)],
            "validationTokens": tokens,
        }))
        .unwrap()
    };
    let expired = (OffsetDateTime::now_utc() - Duration::hours(2)).unix_timestamp();
    let refused = [
        (
            "wrong aud",
            f.emulator.validation_token(&ValidationTokenSpec {
                app_id: Some("00000000-0000-0000-0000-00000000beef".into()),
                ..spec(json!({}))
            }),
        ),
        (
            "wrong azp",
            f.emulator
                .validation_token(&spec(json!({"azp": "11111111-2222-3333-4444-555555555555"}))),
        ),
        (
            "expired",
            f.emulator.validation_token(&spec(
                json!({"exp": expired, "nbf": expired - 3600, "iat": expired - 3600}),
            )),
        ),
        (
            "unpublished key",
            f.emulator.validation_token(&ValidationTokenSpec {
                key: Some(KeySlot::Secondary),
                ..spec(json!({}))
            }),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    let valid = f.emulator.validation_token(&spec(json!({})));
    for (case, bad) in refused {
        // one bad token among good ones refuses the whole batch
        let outcome = f
            .app
            .process(&rich(vec![valid.clone(), bad]), OffsetDateTime::now_utc())
            .await;
        assert_eq!(
            outcome,
            Outcome {
                rejected_validation_token: 1,
                ..Default::default()
            },
            "{case}"
        );
    }
    assert_eq!(
        f.store.get_drive(DRIVE).await.unwrap().unwrap().notification_count,
        0,
        "nothing acted on"
    );
    assert_eq!(
        f.app
            .process(&rich(vec![]), OffsetDateTime::now_utc())
            .await
            .rejected_validation_token,
        1
    );
    let audits = f.store.audit_events(OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(
        audits
            .iter()
            .filter(|a| a.detail.starts_with("validation_token_invalid"))
            .count(),
        6
    );

    let v1 = f.emulator.validation_token(&ValidationTokenSpec {
        issuer: graph_emulator::IssuerVersion::V1,
        ..spec(json!({}))
    });
    let outcome = f.app.process(&rich(vec![valid, v1]), OffsetDateTime::now_utc()).await;
    assert_eq!(
        (outcome.accepted, outcome.drives_marked),
        (1, 1),
        "v1 and v2 issuers both pass"
    );
}
