//! `$batch`, injected throttling and failures, added latency, and request statistics.

use std::time::{Duration, Instant};

use graph_emulator::{EmulatorConfig, Fault, Stats, DEMO_DRIVE_ID, DEMO_USER_OID};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no response {id}: {body}"))
}

#[tokio::test]
async fn batch_runs_requests_and_fails_dependents_of_a_failure_with_424() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    let requests = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me"},
        {"id": "2", "method": "GET", "url": "/drives/no-such-drive"},
        {"id": "3", "method": "GET", "url": "/me/drive", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": format!("/drives/{DEMO_DRIVE_ID}"), "dependsOn": ["1"]},
        {"id": "5", "method": "PATCH", "url": "/subscriptions/unknown",
         "body": {"expirationDateTime": "2030-01-01T00:00:00Z"}, "headers": {"Content-Type": "application/json"}},
    ]});
    let (status, _, body) = graph(&emu, Method::POST, "/$batch", &token, Some(requests)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(by_id(&body, "1")["status"], 200);
    assert_eq!(by_id(&body, "1")["body"]["id"], DEMO_USER_OID);
    assert_eq!(by_id(&body, "2")["status"], 404);
    assert_eq!(by_id(&body, "3")["status"], 424);
    assert_eq!(by_id(&body, "3")["body"]["error"]["code"], "FailedDependency");
    assert_eq!(by_id(&body, "4")["status"], 200);
    assert_eq!(by_id(&body, "4")["body"]["id"], DEMO_DRIVE_ID);
    assert_eq!(by_id(&body, "5")["status"], 404);
    assert_eq!(by_id(&body, "5")["body"]["error"]["code"], "ResourceNotFound");
}

#[tokio::test]
async fn batches_over_twenty_requests_or_with_bad_dependencies_are_rejected() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    let requests: Vec<Value> = (1..=21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    let (status, _, body) = graph(
        &emu,
        Method::POST,
        "/$batch",
        &token,
        Some(json!({"requests": requests})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(body["error"]["message"].as_str().unwrap().contains("20"));

    let twenty: Vec<Value> = (1..=20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    let (status, _, body) = graph(&emu, Method::POST, "/$batch", &token, Some(json!({"requests": twenty}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responses"].as_array().unwrap().len(), 20);

    let forward = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": "/me"},
    ]});
    assert_eq!(
        graph(&emu, Method::POST, "/$batch", &token, Some(forward)).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn injected_throttling_answers_429_with_retry_after_on_matching_routes_only() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    emu.inject_fault(Fault::Throttle {
        count: 2,
        retry_after_secs: 7,
        route_prefix: Some("/v1.0/subscriptions".into()),
    })
    .await
    .unwrap();
    assert_eq!(graph(&emu, Method::GET, "/me", &token, None).await.0, StatusCode::OK);
    for _ in 0..2 {
        let (status, headers, body) = graph(&emu, Method::GET, "/subscriptions", &token, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(body["error"]["code"], "TooManyRequests");
    }
    assert_eq!(
        graph(&emu, Method::GET, "/subscriptions", &token, None).await.0,
        StatusCode::OK
    );

    // Unscoped faults hit requests inside a batch one by one, each with its own Retry-After.
    emu.inject_fault(Fault::Throttle {
        count: 1,
        retry_after_secs: 3,
        route_prefix: None,
    })
    .await
    .unwrap();
    let batch = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/me"},
        {"id": "b", "method": "GET", "url": "/me"},
    ]});
    let (status, _, body) = graph(&emu, Method::POST, "/$batch", &token, Some(batch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id(&body, "a")["status"], 429);
    assert_eq!(by_id(&body, "a")["headers"]["Retry-After"], "3");
    assert_eq!(by_id(&body, "b")["status"], 200);

    let stats = emu.stats();
    assert_eq!(stats.count("GET /v1.0/subscriptions", 429), 2);
    assert_eq!(stats.count("GET /v1.0/subscriptions", 200), 1);
    assert_eq!(stats.throttled, 3);
    // Stats over HTTP match.
    let over_http: Stats = client()
        .get(format!("{}/_emulator/stats", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.count("GET /v1.0/me", 200), stats.count("GET /v1.0/me", 200));
}

#[tokio::test]
async fn injected_failures_latency_and_download_throttling() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    let base = emu.base_url();
    let response = client()
        .post(format!("{base}/_emulator/faults"))
        .json(&json!({"kind": "fail", "count": 1, "retry_after_secs": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, headers, body) = graph(&emu, Method::GET, "/me", &token, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(body["error"]["code"], "serviceNotAvailable");

    emu.inject_fault(Fault::Latency { ms: 300 }).await.unwrap();
    let started = Instant::now();
    assert_eq!(graph(&emu, Method::GET, "/me", &token, None).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let cleared = client()
        .delete(format!("{base}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let started = Instant::now();
    graph(&emu, Method::GET, "/me", &token, None).await;
    assert!(started.elapsed() < Duration::from_millis(300));

    let item = emu
        .add_file(DEMO_DRIVE_ID, "/", "f.bin", vec![1u8; 32])
        .await
        .unwrap()
        .item
        .unwrap();
    let (_, headers, _) = graph(
        &emu,
        Method::GET,
        &format!("/drives/{DEMO_DRIVE_ID}/items/{}/content", item["id"].as_str().unwrap()),
        &token,
        None,
    )
    .await;
    let url = headers[header::LOCATION].to_str().unwrap();
    emu.inject_fault(Fault::Throttle {
        count: 1,
        retry_after_secs: 1,
        route_prefix: Some("/_layouts/15/download.aspx".into()),
    })
    .await
    .unwrap();
    assert_eq!(
        client().get(url).send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(client().get(url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_graph_segments_and_control_errors() {
    let emu = start(EmulatorConfig::default()).await;
    let token = access_token(&emu).await;
    let (status, _, body) = graph(&emu, Method::GET, "/me/planner/tasks", &token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    let response = client()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"kind": "invalidate_delta", "drive_id": "missing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let clock: Value = client()
        .post(format!("{}/_emulator/clock", emu.base_url()))
        .json(&json!({"advance_secs": 86_400}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = time::OffsetDateTime::parse(
        clock["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(now - time::OffsetDateTime::now_utc() > time::Duration::hours(23));
}
