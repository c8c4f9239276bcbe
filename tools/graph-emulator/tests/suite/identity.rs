//! Identity platform: discovery, JWKS, authorize, code + PKCE, refresh rotation, revocation.

use std::time::Duration;

use base64::Engine as _;
use graph_emulator::{
    EmulatorConfig, Fault, KeySlot, SignInOutcome, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS,
    DEMO_TENANT_ID, DEMO_USER_OID, DEMO_USER_UPN,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn jwks(emu: &graph_emulator::Emulator) -> JwkSet {
    client()
        .get(format!("{}/{DEMO_TENANT_ID}/discovery/v2.0/keys", emu.login_base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies a token against the published JWKS the way a relying party does.
async fn verify(emu: &graph_emulator::Emulator, token: &str, aud: &str) -> Result<Value, String> {
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let set = jwks(emu).await;
    let jwk = set.find(&kid).ok_or(format!("unknown kid {kid}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn discovery_document_points_at_the_tenant_endpoints() {
    let emu = start(EmulatorConfig::default()).await;
    let base = emu.login_base_url();
    let doc: Value = client()
        .get(format!("{base}/{DEMO_TENANT_ID}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{base}/{DEMO_TENANT_ID}/v2.0"));
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{DEMO_TENANT_ID}/oauth2/v2.0/token")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/{DEMO_TENANT_ID}/discovery/v2.0/keys"));
    let set = jwks(&emu).await;
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.keys[0].common.key_id.as_deref(), Some("emu-key-1"));

    let unknown = client()
        .get(format!(
            "{base}/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([90002]));
}

#[tokio::test]
async fn code_flow_issues_signed_tokens_with_the_documented_claims() {
    let emu = start(EmulatorConfig::default()).await;
    let redirect = authorize(&emu, &[]).await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let query = location_query(&redirect);
    assert_eq!(query["state"], "st-123");
    assert!(redirect.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with(DEMO_REDIRECT_URIS[0]));

    let (status, tokens) = token_request(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", DEMO_REDIRECT_URIS[0]),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["refresh_token"].is_string());

    let id = verify(&emu, tokens["id_token"].as_str().unwrap(), DEMO_CLIENT_ID)
        .await
        .unwrap();
    assert_eq!(id["iss"], format!("{}/{DEMO_TENANT_ID}/v2.0", emu.login_base_url()));
    assert_eq!(id["tid"], DEMO_TENANT_ID);
    assert_eq!(id["oid"], DEMO_USER_OID);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["preferred_username"], DEMO_USER_UPN);
    assert_eq!(id["ver"], "2.0");
    assert!(id["sub"].is_string() && id["name"].is_string());
    assert!(id["exp"].as_i64().unwrap() > id["iat"].as_i64().unwrap());

    let access = verify(
        &emu,
        tokens["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await
    .unwrap();
    assert_eq!(access["tid"], DEMO_TENANT_ID);
    assert_eq!(access["oid"], DEMO_USER_OID);
    assert_eq!(access["scp"], "Files.Read.All");

    let (status, _, me) = graph(&emu, Method::GET, "/me", tokens["access_token"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], DEMO_USER_OID);
    assert_eq!(me["userPrincipalName"], DEMO_USER_UPN);
}

#[tokio::test]
async fn pkce_mismatch_and_code_reuse_are_rejected() {
    let emu = start(EmulatorConfig::default()).await;
    let code = location_query(&authorize(&emu, &[]).await)["code"].clone();
    let (status, body) = token_request(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT_URIS[0]),
            ("code_verifier", "a-different-verifier-that-is-long-enough-0123456789"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([501481]));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS501481:"));
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }

    let code = location_query(&authorize(&emu, &[]).await)["code"].clone();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", DEMO_REDIRECT_URIS[0]),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(token_request(&emu, &redeem).await.0, StatusCode::OK);
    let (status, body) = token_request(&emu, &redeem).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([54005]));
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let emu = start(EmulatorConfig::default()).await;
    let code = location_query(&authorize(&emu, &[]).await)["code"].clone();
    emu.advance_clock(601);
    let (status, body) = token_request(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT_URIS[0]),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([70008]));
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let emu = start(EmulatorConfig::default()).await;
    let response = authorize(&emu, &[("redirect_uri", "https://evil.example/callback")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    assert!(response.text().await.unwrap().contains("AADSTS50011"));

    let loopback = authorize(&emu, &[("redirect_uri", "http://127.0.0.1:4567/cb")]).await;
    assert_eq!(loopback.status(), StatusCode::BAD_REQUEST);

    let dev = start(EmulatorConfig {
        any_loopback_redirect: true,
        ..Default::default()
    })
    .await;
    let loopback = authorize(&dev, &[("redirect_uri", "http://127.0.0.1:4567/cb")]).await;
    assert_eq!(loopback.status(), StatusCode::FOUND);
    assert!(location_query(&loopback).contains_key("code"));
}

#[tokio::test]
async fn configured_users_can_decline_or_lack_consent() {
    let emu = start(EmulatorConfig::default()).await;
    for (outcome, error, code) in [
        (SignInOutcome::AccessDenied, "access_denied", "AADSTS65004"),
        (SignInOutcome::ConsentRequired, "consent_required", "AADSTS65001"),
    ] {
        emu.inject_fault(Fault::SignIn {
            user: DEMO_USER_UPN.into(),
            outcome,
        })
        .await
        .unwrap();
        let response = authorize(&emu, &[("login_hint", DEMO_USER_UPN)]).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let query = location_query(&response);
        assert_eq!(query["error"], error);
        assert!(query["error_description"].starts_with(code));
        assert_eq!(query["state"], "st-123");
        assert!(!query.contains_key("code"));
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_is_not_revoked() {
    let emu = start(EmulatorConfig::default()).await;
    let first = sign_in(&emu).await;
    let old = first["refresh_token"].as_str().unwrap();
    let (status, second) = token_request(&emu, &[("grant_type", "refresh_token"), ("refresh_token", old)]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(second["access_token"].is_string());

    // "The Microsoft identity platform doesn't revoke old refresh tokens when used to fetch
    // new access tokens": the old one still works, and yields yet another new token.
    let (status, third) = token_request(&emu, &[("grant_type", "refresh_token"), ("refresh_token", old)]).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_ne!(third["refresh_token"], second["refresh_token"]);

    let (status, body) = token_request(
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", "never-issued")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([700082]));

    // HTTP Basic client authentication, as the oauth2 crate sends it.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_CLIENT_ID}:{}", urlencode(DEMO_CLIENT_SECRET)));
    let response = client()
        .post(format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", emu.login_base_url()))
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", new)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn revoked_refresh_tokens_fail_with_50173() {
    let emu = start(EmulatorConfig::default()).await;
    let tokens = sign_in(&emu).await;
    emu.revoke_refresh_tokens(DEMO_USER_OID).await.unwrap();
    let (status, body) = token_request(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([50173]));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS50173:"));
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let emu = start(EmulatorConfig::default()).await;
    let response = client()
        .post(format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", emu.login_base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
}

#[tokio::test]
async fn client_credentials_give_app_only_tokens() {
    let emu = start(EmulatorConfig::default()).await;
    let (status, body) = token_request(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let (status, _, drive) = graph(&emu, Method::GET, &format!("/users/{DEMO_USER_UPN}/drive"), token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(drive["id"], graph_emulator::DEMO_DRIVE_ID);
    let (status, _, me) = graph(&emu, Method::GET, "/me", token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{me}");

    let (status, body) = token_request(
        &emu,
        &[("grant_type", "client_credentials"), ("scope", "Files.Read.All")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn graph_rejects_missing_expired_and_unknown_key_tokens() {
    let emu = start(EmulatorConfig {
        access_token_lifetime: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let token = access_token(&emu).await;
    let (status, _, body) = graph(&emu, Method::GET, "/me/drive", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, headers, body) = graph(&emu, Method::GET, "/me/drive", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    assert!(body["error"]["innerError"]["request-id"].is_string());

    emu.advance_clock(61);
    let (status, _, body) = graph(&emu, Method::GET, "/me/drive", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"));

    // A well-formed token signed by the not-yet-published key is refused.
    let now = emu.now().unix_timestamp();
    let claims = json!({"aud": "https://graph.microsoft.com", "tid": DEMO_TENANT_ID, "oid": DEMO_USER_OID,
                        "appid": DEMO_CLIENT_ID, "scp": "Files.Read.All", "iat": now, "nbf": now, "exp": now + 600});
    let unpublished = emu.sign_jwt(Some(KeySlot::Secondary), None, &claims);
    assert_eq!(
        graph(&emu, Method::GET, "/me", &unpublished, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let own = emu.sign_jwt(None, None, &claims);
    assert_eq!(graph(&emu, Method::GET, "/me", &own, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn key_rotation_publishes_and_signs_with_the_second_key() {
    let emu = start(EmulatorConfig::default()).await;
    emu.rotate_keys();
    let set = jwks(&emu).await;
    let kids: Vec<_> = set.keys.iter().filter_map(|k| k.common.key_id.clone()).collect();
    assert_eq!(kids, ["emu-key-1", "emu-key-2"]);
    let tokens = sign_in(&emu).await;
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("emu-key-2"));
    assert!(verify(&emu, tokens["id_token"].as_str().unwrap(), DEMO_CLIENT_ID)
        .await
        .is_ok());
}

#[tokio::test]
async fn validation_tokens_carry_graph_claims_in_both_issuer_forms() {
    let emu = start(EmulatorConfig::default()).await;
    for (issuer, iss, app_claim) in [
        (
            graph_emulator::IssuerVersion::V2,
            format!("https://login.microsoftonline.com/{DEMO_TENANT_ID}/v2.0"),
            "azp",
        ),
        (
            graph_emulator::IssuerVersion::V1,
            format!("https://sts.windows.net/{DEMO_TENANT_ID}/"),
            "appid",
        ),
    ] {
        let token = emu.validation_token(&graph_emulator::ValidationTokenSpec {
            issuer,
            ..Default::default()
        });
        let claims = verify(&emu, &token, DEMO_CLIENT_ID).await.unwrap();
        assert_eq!(claims["iss"], iss);
        assert_eq!(claims[app_claim], graph_emulator::GRAPH_NOTIFICATION_APP_ID);
    }
    // Overrides, over HTTP.
    let response: Value = client()
        .post(format!("{}/_emulator/validation-tokens", emu.base_url()))
        .json(&json!({"claims": {"aud": "someone-else", "azp": null}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = verify(&emu, response["token"].as_str().unwrap(), "someone-else")
        .await
        .unwrap();
    assert!(claims.get("azp").is_none());
}
