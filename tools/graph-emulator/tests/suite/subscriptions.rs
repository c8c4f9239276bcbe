//! Subscriptions: handshake, limits, duplicates, renewal, removal, throttling, notifications.

use std::time::Duration;

use graph_emulator::{DeliveryKind, Emulator, EmulatorConfig, Fault, LifecycleEvent, DEMO_DRIVE_ID, DEMO_TENANT_ID};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

const RESOURCE: &str = "/drives/b!kX3dQ9vT2kOq7yN1mZ4sW8pL5rJ0hG6fE2cA9bD3xV7uY1tS4qR8nM5kJ2hF0gD/root";

fn subscription(emu: &Emulator, receiver: &Receiver, minutes: i64) -> Value {
    json!({
        "changeType": "updated",
        "notificationUrl": receiver.url("webhooks/graph"),
        "lifecycleNotificationUrl": receiver.url("webhooks/lifecycle"),
        "resource": RESOURCE,
        "expirationDateTime": in_minutes(emu, minutes),
        "clientState": "secret-client-state",
    })
}

async fn create(emu: &Emulator, token: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = graph(emu, Method::POST, "/subscriptions", token, Some(body)).await;
    (status, body)
}

fn quick_handshake() -> EmulatorConfig {
    EmulatorConfig {
        handshake_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_performs_the_validation_handshake_on_both_urls() {
    assert_eq!(RESOURCE, format!("/drives/{DEMO_DRIVE_ID}/root"));
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    let (status, created) = create(&emu, &token, subscription(&emu, &receiver, 60 * 24)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["resource"], RESOURCE);
    assert_eq!(created["changeType"], "updated");
    assert_eq!(created["clientState"], "secret-client-state");
    assert_eq!(created["applicationId"], graph_emulator::DEMO_CLIENT_ID);

    let handshakes = receiver.received();
    let paths: Vec<_> = handshakes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/webhooks/graph", "/webhooks/lifecycle"]);
    for h in &handshakes {
        assert!(h.content_type.starts_with("text/plain"));
        let token = &h.query["validationToken"];
        assert!(
            token.starts_with("Validation: Testing client application reachability"),
            "{token}"
        );
    }
    let validations: Vec<_> = emu
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Validation)
        .collect();
    assert_eq!(validations.len(), 2);
    assert!(validations.iter().all(|d| d.status == Some(200)));
    // The token travels URL-encoded.
    assert!(validations[0].target.contains("validationToken=Validation%3A+Testing"));

    let id = created["id"].as_str().unwrap();
    let (status, _, got) = graph(&emu, Method::GET, &format!("/subscriptions/{id}"), &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["id"], id);
    let (_, _, list) = graph(&emu, Method::GET, "/subscriptions", &token, None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_echo_fails_validation_and_creates_nothing() {
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::WrongToken).await;
    let token = access_token(&emu).await;
    let (status, body) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ValidationError");
    let (_, _, list) = graph(&emu, Method::GET, "/subscriptions", &token, None).await;
    assert_eq!(list["value"], json!([]));
}

#[tokio::test]
async fn a_slow_endpoint_past_the_handshake_timeout_fails_validation() {
    let emu = start(quick_handshake()).await;
    let receiver = Receiver::start(Handshake::Slow(Duration::from_millis(1500))).await;
    let token = access_token(&emu).await;
    let started = std::time::Instant::now();
    let (status, body) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ValidationError");
    assert!(body["error"]["message"].as_str().unwrap().contains("timeout"));
    assert!(started.elapsed() < Duration::from_millis(1450));
    let delivery = &emu.deliveries()[0];
    assert_eq!(delivery.error.as_deref(), Some("timed out"));
    assert_eq!(
        graph(&emu, Method::GET, "/subscriptions", &token, None).await.2["value"],
        json!([])
    );
}

#[tokio::test]
async fn the_default_handshake_timeout_is_ten_seconds() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    let slow = Receiver::start(Handshake::Slow(Duration::from_millis(10_500))).await;
    let started = std::time::Instant::now();
    let (status, body) = create(&emu, &token, subscription(&emu, &slow, 60)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_400),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn duplicates_conflict_and_limits_are_enforced() {
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    assert_eq!(
        create(&emu, &token, subscription(&emu, &receiver, 60)).await.0,
        StatusCode::CREATED
    );
    let (status, body) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Beyond the driveItem maximum of 42,300 minutes.
    let mut too_long = subscription(&emu, &receiver, 42_301);
    too_long["notificationUrl"] = receiver.url("other").into();
    let (status, body) = create(&emu, &token, too_long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("42300"));

    // clientState over 128 characters.
    let mut long_state = subscription(&emu, &receiver, 60);
    long_state["notificationUrl"] = receiver.url("other").into();
    long_state["clientState"] = "x".repeat(129).into();
    assert_eq!(create(&emu, &token, long_state).await.0, StatusCode::BAD_REQUEST);

    // Below 45 minutes is clamped up to 45.
    let mut short = subscription(&emu, &receiver, 5);
    short["notificationUrl"] = receiver.url("short").into();
    let (status, created) = create(&emu, &token, short).await;
    assert_eq!(status, StatusCode::CREATED);
    let expiry = time::OffsetDateTime::parse(
        created["expirationDateTime"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let minutes = (expiry - emu.now()).whole_seconds() as f64 / 60.0;
    assert!((44.9..=45.0).contains(&minutes), "{minutes}");

    // Presence allows at most 60 minutes.
    let presence = json!({"changeType": "updated", "notificationUrl": receiver.url("p"),
        "resource": "/communications/presences/abc", "expirationDateTime": in_minutes(&emu, 61)});
    assert_eq!(create(&emu, &token, presence).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn renew_reauthorize_delete_and_404_once_gone() {
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    let (_, created) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    let path = format!("/subscriptions/{}", created["id"].as_str().unwrap());

    let renew = json!({"expirationDateTime": in_minutes(&emu, 42_000)});
    let (status, _, renewed) = graph(&emu, Method::PATCH, &path, &token, Some(renew)).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_ne!(renewed["expirationDateTime"], created["expirationDateTime"]);
    let too_far = json!({"expirationDateTime": in_minutes(&emu, 50_000)});
    assert_eq!(
        graph(&emu, Method::PATCH, &path, &token, Some(too_far)).await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, _, _) = graph(&emu, Method::POST, &format!("{path}/reauthorize"), &token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Removed behind our back: renew answers 404 ResourceNotFound; drives get no subscriptionRemoved.
    emu.inject_fault(Fault::RemoveSubscription {
        subscription_id: created["id"].as_str().unwrap().into(),
        force: false,
    })
    .await
    .unwrap();
    let renew = json!({"expirationDateTime": in_minutes(&emu, 100)});
    let (status, _, body) = graph(&emu, Method::PATCH, &path, &token, Some(renew)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    assert!(emu.deliveries().iter().all(|d| d.kind != DeliveryKind::Lifecycle));

    let (_, again) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    let path = format!("/subscriptions/{}", again["id"].as_str().unwrap());
    assert_eq!(
        graph(&emu, Method::DELETE, &path, &token, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        graph(&emu, Method::GET, &path, &token, None).await.0,
        StatusCode::NOT_FOUND
    );

    // Expired subscriptions are gone too.
    let (_, third) = create(&emu, &token, subscription(&emu, &receiver, 45)).await;
    emu.advance_clock(46 * 60);
    let path = format!("/subscriptions/{}", third["id"].as_str().unwrap());
    assert_eq!(
        graph(&emu, Method::GET, &path, &token, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn subscription_writes_over_the_limit_get_429_with_retry_after() {
    let emu = start(EmulatorConfig {
        subscription_write_limit: 3,
        ..Default::default()
    })
    .await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    for i in 0..3 {
        let mut body = subscription(&emu, &receiver, 60);
        body["notificationUrl"] = receiver.url(&format!("n{i}")).into();
        assert_eq!(create(&emu, &token, body).await.0, StatusCode::CREATED);
    }
    let (status, headers, body) = graph(
        &emu,
        Method::POST,
        "/subscriptions",
        &token,
        Some(subscription(&emu, &receiver, 60)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let retry_after: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=21).contains(&retry_after));
    // Reads are not writes.
    assert_eq!(
        graph(&emu, Method::GET, "/subscriptions", &token, None).await.0,
        StatusCode::OK
    );
    emu.advance_clock(21);
    let (status, _) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(emu.stats().count("POST /v1.0/subscriptions", 429), 1);
}

#[tokio::test]
async fn drive_changes_notify_subscribers_and_lifecycle_events_are_sent() {
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    let (_, created) = create(&emu, &token, subscription(&emu, &receiver, 60)).await;
    let id = created["id"].as_str().unwrap();

    let change = emu.add_file(DEMO_DRIVE_ID, "/Docs", "a.txt", "hello").await.unwrap();
    assert_eq!(change.deliveries.len(), 1);
    assert_eq!(change.deliveries[0].status, Some(202));
    let notifications = receiver.notifications();
    assert_eq!(notifications.len(), 1);
    let n = &notifications[0]["value"][0];
    assert_eq!(n["subscriptionId"], id);
    assert_eq!(n["clientState"], "secret-client-state");
    assert_eq!(n["changeType"], "updated");
    assert_eq!(n["resource"], RESOURCE);
    assert_eq!(n["tenantId"], DEMO_TENANT_ID);
    assert_eq!(n["subscriptionExpirationDateTime"], created["expirationDateTime"]);
    assert!(n["resourceData"].is_null());

    emu.send_lifecycle_event(id, LifecycleEvent::ReauthorizationRequired)
        .await
        .unwrap();
    let lifecycle = receiver.received().into_iter().last().unwrap();
    assert_eq!(lifecycle.path, "/webhooks/lifecycle");
    let body: Value = serde_json::from_str(&lifecycle.body).unwrap();
    assert_eq!(body["value"][0]["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(body["value"][0]["subscriptionId"], id);
    // Drives do not get `missed` unless forced.
    assert!(emu.send_lifecycle_event(id, LifecycleEvent::Missed).await.is_err());
    emu.inject_fault(Fault::Lifecycle {
        subscription_id: id.into(),
        event: LifecycleEvent::Missed,
        force: true,
    })
    .await
    .unwrap();

    let kinds: Vec<_> = emu.deliveries().iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DeliveryKind::Validation,
            DeliveryKind::Validation,
            DeliveryKind::Change,
            DeliveryKind::Lifecycle,
            DeliveryKind::Lifecycle
        ]
    );
    // The same record over HTTP.
    let over_http: Vec<Value> = client()
        .get(format!("{}/_emulator/deliveries", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.len(), 5);
    assert_eq!(over_http[2]["kind"], "change");
    assert_eq!(over_http[2]["status"], 202);
    assert!(over_http[2]["latency_ms"].is_u64());
}

#[tokio::test]
async fn outlook_subscriptions_get_subscription_removed() {
    let emu = start(EmulatorConfig::default()).await;
    let receiver = Receiver::start(Handshake::Echo).await;
    let token = access_token(&emu).await;
    let body = json!({"changeType": "created", "notificationUrl": receiver.url("n"),
        "lifecycleNotificationUrl": receiver.url("l"), "resource": "me/messages",
        "expirationDateTime": in_minutes(&emu, 10_080)});
    let (status, created) = create(&emu, &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let response: Value = client()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"kind": "remove_subscription", "subscription_id": created["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["delivery"]["kind"], "lifecycle");
    let last: Value = serde_json::from_str(&receiver.received().last().unwrap().body).unwrap();
    assert_eq!(last["value"][0]["lifecycleEvent"], "subscriptionRemoved");
}
