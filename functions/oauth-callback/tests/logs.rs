//! Nothing secret reaches the logs: no authorization code, token, PKCE verifier, state,
//! nonce, clientState or client secret, on success or on failure; failures name their check.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use common::param;
use graph_emulator::DEMO_CLIENT_SECRET;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current-thread runtime: the thread-local subscriber sees the handler, the emulator and the clients
#[tokio::test]
async fn no_secret_is_logged() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        // our code at every level; dependencies at the production default (info): the AWS
        // SDK's and hyper's trace output includes raw bodies by design
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,oauth_callback=trace,graphwatch_shared=trace,graph_emulator=trace,reqwest=debug",
        ))
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = common::harness().await;
    let mut secrets: Vec<(&str, String)> = vec![("client secret", DEMO_CLIENT_SECRET.into())];

    // a successful sign-in
    let authorize_url = h.connect().await;
    let authorize: std::collections::HashMap<_, _> = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let state = authorize["state"].clone();
    secrets.push((
        "PKCE verifier",
        h.state_attribute(&state, "pkce_verifier").await.unwrap(),
    ));
    secrets.push(("nonce", authorize["nonce"].clone()));
    secrets.push(("state", state));
    let query = h.authorize(&authorize_url).await;
    secrets.push(("code", param(&query, "code").into()));
    assert_eq!(h.callback(&query, true).await.status(), 200);
    let live = h.emulator_subscriptions().await;
    secrets.push(("clientState", live[0]["clientState"].as_str().unwrap().into()));
    let connection = h
        .store
        .get_connection(graph_emulator::DEMO_TENANT_ID, graph_emulator::DEMO_USER_OID)
        .await
        .unwrap()
        .unwrap();
    let sealer = graphwatch_shared::secrets::AppSecret::parse(
        "test",
        &serde_json::json!({"client_id": "c", "client_secret": "s", "sealing_keys": {"1": graphwatch_testkit::SEALING_KEY}})
            .to_string(),
    )
    .unwrap()
    .sealer()
    .unwrap();
    secrets.push((
        "refresh token",
        sealer
            .open_string(&connection.sealed_refresh_token, &connection.seal_context())
            .unwrap(),
    ));

    // failures: replayed state, rejected code, refused ID token
    h.callback(&query, true).await;
    let query = h.authorize(&h.connect().await).await;
    let code = param(&query, "code").to_owned();
    h.edit_state(
        param(&query, "state"),
        "pkce_verifier",
        AttributeValue::S("y".repeat(43)),
    )
    .await;
    assert_eq!(h.callback(&query, true).await.status(), 400);
    secrets.push(("rejected code", code));
    let query = h.authorize(&h.connect().await).await;
    h.edit_state(param(&query, "state"), "nonce", AttributeValue::S("z".repeat(43)))
        .await;
    assert_eq!(h.callback(&query, true).await.status(), 401);
    secrets.push(("code of a refused ID token", param(&query, "code").into()));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("account connected"), "the success is logged");
    assert!(
        logs.contains("\"check\":\"nonce\""),
        "the failed ID-token check is logged"
    );
    assert!(logs.contains("PkceMismatch"), "the rejected code's reason is logged");
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "the {what} was logged");
    }
    assert!(!logs.contains("eyJ"), "a JWT was logged");
}
