//! The oauth-callback handler end to end: DynamoDB Local, moto and the Graph emulator.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{assert_error, event, json, location, param, set_query, text};
use graph_emulator::{
    Fault, SignInOutcome, DEMO_DRIVE_ID, DEMO_TENANT_ID, DEMO_USER_NAME, DEMO_USER_OID, DEMO_USER_UPN,
};
use graphwatch_shared::identity::{IdentityClient, RefreshToken};
use graphwatch_shared::notify::client_state_sha256;
use graphwatch_shared::secrets::AppSecret;
use graphwatch_shared::store::{seal_context, AuditKind, ConnectionStatus};
use time::OffsetDateTime;

fn app_secret() -> AppSecret {
    AppSecret::parse(
        "test",
        &serde_json::json!({
            "client_id": graph_emulator::DEMO_CLIENT_ID,
            "client_secret": graph_emulator::DEMO_CLIENT_SECRET,
            "sealing_keys": {"1": graphwatch_testkit::SEALING_KEY},
        })
        .to_string(),
    )
    .unwrap()
}

async fn audit_kinds(h: &common::Harness) -> Vec<AuditKind> {
    h.store
        .audit_events(OffsetDateTime::now_utc())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[tokio::test]
async fn connect_redirects_to_the_authorize_endpoint_with_a_stored_state() {
    let h = common::harness().await;
    let url = url::Url::parse(&h.connect().await).unwrap();
    assert!(url.as_str().starts_with(&format!(
        "{}/organizations/oauth2/v2.0/authorize?",
        h.config.login_base_url
    )));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_mode"], "query");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/callback", h.config.public_base_url)
    );
    assert_eq!(q["scope"], "openid profile offline_access User.Read Files.Read.All");
    let verifier = h.state_attribute(&q["state"], "pkce_verifier").await.unwrap();
    assert_ne!(verifier, q["code_challenge"]);
    assert_eq!(h.state_attribute(&q["state"], "nonce").await.unwrap(), q["nonce"]);

    // JSON callers get the URL in a body
    let response = h.app.handle(event("connect.json", common::accept_json)).await;
    assert_eq!(response.status(), 200);
    assert!(json(&response)["authorize_url"]
        .as_str()
        .unwrap()
        .contains("code_challenge="));

    // other routes and methods
    let response = h
        .app
        .handle(event("connect.json", |e| e["rawPath"] = "/elsewhere".into()))
        .await;
    assert_error(&response, 404, "not_found");
    let response = h
        .app
        .handle(event("connect.json", |e| {
            e["requestContext"]["http"]["method"] = "POST".into()
        }))
        .await;
    assert_error(&response, 405, "method_not_allowed");
}

#[tokio::test]
async fn happy_path_stores_everything_and_redirects_to_return_to() {
    let h = common::harness().await;
    let response = h.app.handle(event("connect-return-to.json", |_| {})).await;
    assert_eq!(response.status(), 302);
    let query = h.authorize(&location(&response)).await;
    let response = h.callback(&query, false).await;
    assert_eq!(response.status(), 302, "{}", text(&response));
    assert_eq!(location(&response), "/reports?view=risky");

    // the connection, with a sealed refresh token that is the emulator's live one
    let connection = h.demo_connection().await.unwrap();
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert_eq!(connection.display_name, DEMO_USER_NAME);
    assert_eq!(connection.username, DEMO_USER_UPN);
    assert!(connection.scopes.iter().any(|s| s == "Files.Read.All"));
    let secret = app_secret();
    let refresh_token = secret
        .sealer()
        .unwrap()
        .open_string(
            &connection.sealed_refresh_token,
            &seal_context(DEMO_TENANT_ID, DEMO_USER_OID),
        )
        .unwrap();
    let http = graphwatch_shared::clients::http_client().unwrap();
    let identity = IdentityClient::new(http, &h.config).unwrap();
    let refreshed = identity
        .refresh(&secret, &RefreshToken::new(refresh_token))
        .await
        .expect("the stored refresh token works at the identity platform");
    assert!(refreshed.refresh_token.is_some());

    // the subscription, in the emulator and in the table with its renewal index
    let live = h.emulator_subscriptions().await;
    assert_eq!(live.len(), 1, "{live:?}");
    let live = &live[0];
    assert_eq!(live["resource"], format!("/drives/{DEMO_DRIVE_ID}/root"));
    assert_eq!(live["changeType"], "updated");
    assert_eq!(
        live["notificationUrl"],
        format!("{}/webhooks/graph", h.config.public_base_url)
    );
    assert_eq!(
        live["lifecycleNotificationUrl"],
        format!("{}/webhooks/lifecycle", h.config.public_base_url)
    );
    let client_state = live["clientState"].as_str().unwrap();
    assert_eq!(client_state.len(), 43, "32 random bytes, URL-safe base64");
    let id = live["id"].as_str().unwrap();
    let stored = h.store.get_subscription(id).await.unwrap().unwrap();
    assert!(stored.active);
    assert_eq!(stored.client_state_sha256, client_state_sha256(client_state));
    assert_eq!(stored.drive_id.as_deref(), Some(DEMO_DRIVE_ID));
    assert_eq!(stored.tenant_id, DEMO_TENANT_ID);
    let lifetime = stored.expiration - OffsetDateTime::now_utc();
    assert!(
        lifetime > time::Duration::minutes(42_300 - 120) && lifetime < time::Duration::minutes(42_300),
        "maximum lifetime minus a margin, got {lifetime}"
    );
    let due = h
        .store
        .subscriptions_expiring_before(OffsetDateTime::now_utc() + time::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [id],
        "in the renewal index"
    );

    // the drive, pending its first full scan
    let drive = h.store.get_drive(DEMO_DRIVE_ID).await.unwrap().unwrap();
    assert!(drive.active && drive.pending);
    assert_eq!(drive.delta_link, None);
    let items = h.store.connection_items(DEMO_TENANT_ID, DEMO_USER_OID).await.unwrap();
    assert_eq!((items.subscriptions.len(), items.drives.len()), (1, 1));

    let kinds = audit_kinds(&h).await;
    assert!(kinds.contains(&AuditKind::Connected) && kinds.contains(&AuditKind::SubscriptionCreated));

    // the state is spent: a replay of the same callback is refused
    assert_error(&h.callback(&query, true).await, 400, "invalid_state");
}

#[tokio::test]
async fn success_page_and_json_answer() {
    let h = common::harness().await;
    let query = h.authorize(&h.connect().await).await;
    let page = h.callback(&query, false).await;
    assert_eq!(page.status(), 200);
    assert!(text(&page).contains("Connected") && text(&page).contains(DEMO_USER_NAME));

    let (_, response) = h.sign_in().await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    let body = json(&response);
    assert_eq!(body["status"], "reconnected");
    assert_eq!(body["tenant_id"], DEMO_TENANT_ID);
    assert_eq!(body["user_oid"], DEMO_USER_OID);
    assert_eq!(body["drive_id"], DEMO_DRIVE_ID);
    assert!(body["subscription_id"].is_string());
}

#[tokio::test]
async fn unknown_expired_and_missing_states_are_refused() {
    let h = common::harness().await;
    let unknown = [
        ("code".to_owned(), "abc".to_owned()),
        ("state".to_owned(), "never-issued".to_owned()),
    ];
    assert_error(&h.callback(&unknown, true).await, 400, "invalid_state");

    let query = h.authorize(&h.connect().await).await;
    let state = param(&query, "state");
    let past = (OffsetDateTime::now_utc().unix_timestamp() - 1).to_string();
    h.edit_state(state, "ttl", AttributeValue::N(past)).await;
    assert_error(&h.callback(&query, true).await, 400, "invalid_state");
    assert_eq!(
        h.state_attribute(state, "nonce").await,
        None,
        "the expired state is removed"
    );

    let no_state = [("code".to_owned(), "abc".to_owned())];
    assert_error(&h.callback(&no_state, true).await, 400, "invalid_state");
    assert!(h.demo_connection().await.is_none());
}

#[tokio::test]
async fn identity_platform_errors_are_explained_and_consume_the_state() {
    let h = common::harness().await;
    h.emulator
        .inject_fault(Fault::SignIn {
            user: DEMO_USER_UPN.into(),
            outcome: SignInOutcome::AccessDenied,
        })
        .await
        .unwrap();
    let query = h.authorize(&h.connect().await).await;
    assert_eq!(param(&query, "error"), "access_denied");
    let state = param(&query, "state").to_owned();
    assert!(h.state_attribute(&state, "nonce").await.is_some());

    // the sample event, with this sign-in's state; a browser gets a page
    let response = h
        .app
        .handle(event("oauth-callback-error.json", |e| {
            let mut pairs: Vec<(String, String)> = e["queryStringParameters"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            pairs
                .iter_mut()
                .filter(|(k, _)| k == "state")
                .for_each(|(_, v)| *v = state.clone());
            set_query(e, &pairs);
        }))
        .await;
    assert_eq!(response.status(), 400);
    let page = text(&response);
    assert!(page.contains("You declined") && page.contains("/connect"), "{page}");
    assert!(page.contains("sign_in_failed"));
    assert_eq!(h.state_attribute(&state, "nonce").await, None, "the state is consumed");

    // consent required, as JSON
    h.emulator
        .inject_fault(Fault::SignIn {
            user: DEMO_USER_UPN.into(),
            outcome: SignInOutcome::ConsentRequired,
        })
        .await
        .unwrap();
    let query = h.authorize(&h.connect().await).await;
    let response = h.callback(&query, true).await;
    assert_error(&response, 400, "sign_in_failed");
    assert!(json(&response)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("administrator"));
    assert!(h.demo_connection().await.is_none());
}

#[tokio::test]
async fn pkce_mismatch_and_reused_codes_are_code_rejected() {
    let h = common::harness().await;
    let query = h.authorize(&h.connect().await).await;
    let other_verifier = "x".repeat(43);
    h.edit_state(
        param(&query, "state"),
        "pkce_verifier",
        AttributeValue::S(other_verifier),
    )
    .await;
    assert_error(&h.callback(&query, true).await, 400, "code_rejected");

    let (used, response) = h.sign_in().await;
    assert_eq!(response.status(), 200);
    // a fresh state, but the code that was already redeemed
    let fresh = h.authorize(&h.connect().await).await;
    let replay = [
        ("code".to_owned(), param(&used, "code").to_owned()),
        ("state".to_owned(), param(&fresh, "state").to_owned()),
    ];
    assert_error(&h.callback(&replay, true).await, 400, "code_rejected");
}

#[tokio::test]
async fn id_token_failures_through_the_handler() {
    let h = common::harness().await;
    // the nonce kept with the state is not the one the ID token carries
    let query = h.authorize(&h.connect().await).await;
    h.edit_state(
        param(&query, "state"),
        "nonce",
        AttributeValue::S("another-nonce".into()),
    )
    .await;
    assert_error(&h.callback(&query, true).await, 401, "id_token_invalid");

    // an identity platform whose clock is two hours behind issues already-expired tokens
    h.emulator.advance_clock(-2 * 3600);
    let query = h.authorize(&h.connect().await).await;
    assert_error(&h.callback(&query, true).await, 401, "id_token_invalid");
    assert!(h.demo_connection().await.is_none());
    assert!(h.emulator_subscriptions().await.is_empty());
}

#[tokio::test]
async fn tenants_outside_the_allowlist_are_refused() {
    let h = common::harness_with(&[("ALLOWED_TENANTS", "11111111-2222-3333-4444-555555555555")]).await;
    let (_, response) = h.sign_in().await;
    assert_error(&response, 403, "tenant_not_allowed");
    assert!(h.demo_connection().await.is_none());
    assert!(h.emulator_subscriptions().await.is_empty());

    let h = common::harness_with(&[("ALLOWED_TENANTS", &DEMO_TENANT_ID.to_uppercase())]).await;
    assert_eq!(h.sign_in().await.1.status(), 200);
}

#[tokio::test]
async fn reconnect_is_idempotent() {
    let h = common::harness().await;
    let (_, first) = h.sign_in().await;
    let (_, second) = h.sign_in().await;
    assert_eq!(json(&first)["status"], "connected");
    assert_eq!(json(&second)["status"], "reconnected");
    assert_eq!(json(&first)["subscription_id"], json(&second)["subscription_id"]);
    assert_eq!(h.emulator_subscriptions().await.len(), 1);
    let items = h.store.connection_items(DEMO_TENANT_ID, DEMO_USER_OID).await.unwrap();
    assert_eq!(items.subscriptions.len(), 1);
    assert_eq!(items.drives.len(), 1);
    let kinds = audit_kinds(&h).await;
    assert_eq!(
        kinds.iter().filter(|k| **k == AuditKind::SubscriptionCreated).count(),
        1
    );
    assert!(kinds.contains(&AuditKind::Reconnected));
}

#[tokio::test]
async fn reconnect_replaces_a_subscription_graph_lost() {
    let h = common::harness().await;
    let (_, first) = h.sign_in().await;
    let old = json(&first)["subscription_id"].as_str().unwrap().to_owned();
    h.emulator
        .inject_fault(Fault::RemoveSubscription {
            subscription_id: old.clone(),
            force: false,
        })
        .await
        .unwrap();
    let (_, second) = h.sign_in().await;
    let new = json(&second)["subscription_id"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    assert!(
        !h.store.get_subscription(&old).await.unwrap().unwrap().active,
        "the lost one is retired"
    );
    assert!(h.store.get_subscription(&new).await.unwrap().unwrap().active);
    assert_eq!(h.emulator_subscriptions().await.len(), 1);
}

#[tokio::test]
async fn a_subscription_graph_has_but_the_table_lost_is_adopted() {
    let h = common::harness().await;
    let (_, first) = h.sign_in().await;
    let id = json(&first)["subscription_id"].as_str().unwrap().to_owned();
    // as if the first sign-in had failed between Graph's create and the table write
    h.dynamodb
        .delete_item()
        .table_name(h.store.table())
        .key("pk", AttributeValue::S(format!("SUB#{id}")))
        .key("sk", AttributeValue::S("SUB".into()))
        .send()
        .await
        .unwrap();
    let (_, second) = h.sign_in().await;
    assert_eq!(second.status(), 200, "{}", text(&second));
    assert_eq!(
        json(&second)["subscription_id"],
        id.as_str(),
        "Graph's 409 leads to adoption"
    );
    let live = h.emulator_subscriptions().await;
    assert_eq!(live.len(), 1);
    let stored = h.store.get_subscription(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.client_state_sha256,
        client_state_sha256(live[0]["clientState"].as_str().unwrap())
    );
}

#[tokio::test]
async fn return_to_must_be_a_same_site_path() {
    let h = common::harness().await;
    for bad in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/\t/evil.example",
    ] {
        let response = h
            .app
            .handle(event("connect-return-to.json", |e| {
                set_query(e, &[("return_to".into(), bad.into())]);
                common::accept_json(e);
            }))
            .await;
        assert_error(&response, 400, "invalid_request");
    }
}

#[tokio::test]
async fn graph_outage_is_upstream_unavailable_and_a_retry_repairs() {
    let h = common::harness().await;
    h.emulator
        .inject_fault(Fault::Fail {
            count: 10,
            retry_after_secs: Some(0),
            route_prefix: Some("/v1.0/subscriptions".into()),
        })
        .await
        .unwrap();
    let (_, response) = h.sign_in().await;
    assert_error(&response, 503, "upstream_unavailable");
    h.emulator.clear_faults();
    let (_, response) = h.sign_in().await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(h.emulator_subscriptions().await.len(), 1);
    assert_eq!(
        h.store
            .connection_items(DEMO_TENANT_ID, DEMO_USER_OID)
            .await
            .unwrap()
            .subscriptions
            .len(),
        1
    );
}

#[tokio::test]
async fn dynamodb_outage_is_upstream_unavailable() {
    let h = common::harness().await;
    let unreachable = aws_sdk_dynamodb::Client::from_conf(
        h.dynamodb
            .config()
            .to_builder()
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let secrets = graphwatch_shared::secrets::SecretsCache::new(
        graphwatch_testkit::secretsmanager(),
        &h.config.secret_id,
        h.config.secret_cache_ttl,
    );
    let app = oauth_callback::App::new(
        h.config.clone(),
        graphwatch_shared::store::Store::new(unreachable, h.store.table()),
        secrets,
    )
    .unwrap();
    let response = app.handle(event("connect.json", common::accept_json)).await;
    assert_error(&response, 503, "upstream_unavailable");
}
