//! The identity client against the emulator: authorize URL, code and refresh grants with
//! their error classes, and ID-token / Graph validation-token checks.

mod common;

use graph_emulator::{
    EmulatorConfig, IssuerVersion, KeySlot, ValidationTokenSpec, DEMO_CLIENT_ID, DEMO_TENANT_ID, DEMO_USER_NAME,
    DEMO_USER_OID, DEMO_USER_UPN, KEY_1_KID, KEY_2_KID,
};
use graphwatch_shared::identity::{GrantFailure, Jwks, OAuthError, RefreshToken, TokenError};
use serde_json::{json, Value};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// ID-token claims as the emulator's token endpoint would issue them.
fn id_claims(env: &common::Env, nonce: &str) -> Value {
    let base = env.emulator.login_base_url();
    json!({
        "aud": DEMO_CLIENT_ID,
        "iss": format!("{base}/{DEMO_TENANT_ID}/v2.0"),
        "iat": now(),
        "nbf": now(),
        "exp": now() + 3600,
        "tid": DEMO_TENANT_ID,
        "oid": DEMO_USER_OID,
        "name": DEMO_USER_NAME,
        "preferred_username": DEMO_USER_UPN,
        "nonce": nonce,
        "ver": "2.0",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

fn keys_fetches(env: &common::Env) -> u64 {
    env.emulator
        .stats()
        .requests
        .iter()
        .filter(|r| r.route.ends_with("/discovery/v2.0/keys"))
        .map(|r| r.count)
        .sum()
}

#[tokio::test]
async fn authorize_url_carries_state_pkce_nonce_and_scopes() {
    let env = common::env(EmulatorConfig::default()).await;
    let a = env.identity.sign_in(DEMO_CLIENT_ID);
    let b = env.identity.sign_in(DEMO_CLIENT_ID);
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.pkce_verifier, b.pkce_verifier);
    assert!(a.state.len() >= 43, "256 bits of state");
    let url = url::Url::parse(&a.url).unwrap();
    assert_eq!(
        url.path(),
        "/organizations/oauth2/v2.0/authorize",
        "the configured tenant's authorize endpoint"
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], DEMO_CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["response_mode"], "query");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_ne!(
        q["code_challenge"], a.pkce_verifier,
        "the challenge is not the verifier"
    );
    assert_eq!(q["state"], a.state);
    assert_eq!(q["nonce"], a.nonce);
    assert_eq!(q["scope"], "openid profile offline_access User.Read Files.Read.All");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/callback", env.config.public_base_url)
    );
    assert!(!format!("{a:?}").contains(&a.pkce_verifier), "Debug hides the verifier");
}

#[tokio::test]
async fn code_exchange_returns_tokens_and_a_valid_id_token() {
    let env = common::env(EmulatorConfig::default()).await;
    let (tokens, nonce) = env.sign_in().await;
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.scopes.iter().any(|s| s == "Files.Read.All"));
    let who = env
        .identity
        .jwks()
        .validate_id_token(tokens.id_token.as_deref().unwrap(), DEMO_CLIENT_ID, &nonce)
        .await
        .unwrap();
    assert_eq!(who.tenant_id, DEMO_TENANT_ID);
    assert_eq!(who.user_oid, DEMO_USER_OID);
    assert_eq!(who.name, DEMO_USER_NAME);
    assert_eq!(who.preferred_username, DEMO_USER_UPN);
    let debug = format!("{tokens:?}");
    assert!(!debug.contains(tokens.access_token.secret()) && !debug.contains("eyJ"));
}

#[tokio::test]
async fn refresh_rotates_and_refused_grants_are_classified() {
    let env = common::env(EmulatorConfig::default()).await;
    let secret = common::app_secret();
    let (tokens, _) = env.sign_in().await;
    let first = tokens.refresh_token.unwrap();
    let rotated = env.identity.refresh(&secret, &first).await.unwrap();
    let second = rotated.refresh_token.unwrap();
    assert_ne!(first.secret(), second.secret(), "refresh tokens rotate");
    env.identity
        .refresh(&secret, &second)
        .await
        .expect("the rotated token works");
    let unknown = RefreshToken::new("never-issued".into());
    match env.identity.refresh(&secret, &unknown).await {
        Err(OAuthError::InvalidGrant {
            reason: GrantFailure::RefreshTokenExpired,
            codes,
        }) => assert_eq!(codes, [700082]),
        other => panic!("an unknown refresh token must be invalid_grant 700082, got {other:?}"),
    }
    let mut wrong = secret.clone();
    wrong.client_secret = "not-the-secret".into();
    assert!(matches!(
        env.identity.refresh(&wrong, &second).await,
        Err(OAuthError::InvalidClient { .. })
    ));
    env.emulator.revoke_refresh_tokens(DEMO_USER_UPN).await.unwrap();
    match env.identity.refresh(&secret, &second).await {
        Err(
            e @ OAuthError::InvalidGrant {
                reason: GrantFailure::Revoked,
                ..
            },
        ) => assert!(!e.is_transient()),
        other => panic!("a revoked grant must be invalid_grant 50173, got {other:?}"),
    }
}

#[tokio::test]
async fn code_reuse_pkce_mismatch_and_expired_codes_are_invalid_grant() {
    let env = common::env(EmulatorConfig::default()).await;
    let secret = common::app_secret();
    let grant = |e: Result<_, OAuthError>| match e {
        Err(OAuthError::InvalidGrant { reason, .. }) => reason,
        Err(other) => panic!("expected invalid_grant, got {other:?}"),
        Ok(_) => panic!("expected invalid_grant, got tokens"),
    };

    let sign_in = env.identity.sign_in(DEMO_CLIENT_ID);
    let code = env.authorize(&sign_in.url).await["code"].clone();
    let wrong_verifier = env.identity.sign_in(DEMO_CLIENT_ID).pkce_verifier;
    assert_eq!(
        grant(env.identity.exchange_code(&secret, &code, &wrong_verifier).await),
        GrantFailure::PkceMismatch
    );

    let sign_in = env.identity.sign_in(DEMO_CLIENT_ID);
    let code = env.authorize(&sign_in.url).await["code"].clone();
    env.identity
        .exchange_code(&secret, &code, &sign_in.pkce_verifier)
        .await
        .unwrap();
    assert_eq!(
        grant(env.identity.exchange_code(&secret, &code, &sign_in.pkce_verifier).await),
        GrantFailure::CodeReused
    );

    let sign_in = env.identity.sign_in(DEMO_CLIENT_ID);
    let code = env.authorize(&sign_in.url).await["code"].clone();
    env.emulator.advance_clock(11 * 60);
    assert_eq!(
        grant(env.identity.exchange_code(&secret, &code, &sign_in.pkce_verifier).await),
        GrantFailure::CodeExpired
    );
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transient() {
    let env = common::env(EmulatorConfig::default()).await;
    let mut config = env.config.clone();
    config.login_base_url = "http://127.0.0.1:9".into();
    let identity = graphwatch_shared::identity::IdentityClient::new(env.http.clone(), &config).unwrap();
    let e = identity
        .exchange_code(&common::app_secret(), "code", "verifier")
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    let e = identity
        .jwks()
        .validate_id_token(&env.emulator.sign_jwt(None, None, &json!({})), DEMO_CLIENT_ID, "n")
        .await
        .unwrap_err();
    assert!(e.is_transient() && e.check() == "jwks", "{e:?}");
}

#[tokio::test]
async fn id_tokens_failing_any_check_are_refused() {
    let env = common::env(EmulatorConfig::default()).await;
    let jwks = env.identity.jwks();
    let good = id_claims(&env, "n-1");
    let sign = |claims: &Value| env.emulator.sign_jwt(None, None, claims);
    let check = |r: Result<_, TokenError>| r.unwrap_err();

    jwks.validate_id_token(&sign(&good), DEMO_CLIENT_ID, "n-1")
        .await
        .unwrap();

    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "signed by the unpublished key under the published kid",
            env.emulator.sign_jwt(Some(KeySlot::Secondary), Some(KEY_1_KID), &good),
            TokenError::Signature,
        ),
        (
            "signed by an unpublished key",
            env.emulator.sign_jwt(Some(KeySlot::Secondary), None, &good),
            TokenError::UnknownKey(KEY_2_KID.into()),
        ),
        (
            "another audience",
            sign(&with(good.clone(), "aud", json!("another-app"))),
            TokenError::Audience,
        ),
        (
            "an issuer of another tenant",
            sign(&with(
                good.clone(),
                "iss",
                json!(format!(
                    "{}/00000000-0000-0000-0000-000000000001/v2.0",
                    env.emulator.login_base_url()
                )),
            )),
            TokenError::Issuer,
        ),
        (
            "a tid that is not the issuer's",
            sign(&with(
                good.clone(),
                "tid",
                json!("00000000-0000-0000-0000-000000000001"),
            )),
            TokenError::Issuer,
        ),
        (
            "the public login host as issuer",
            sign(&with(
                good.clone(),
                "iss",
                json!(format!("https://login.microsoftonline.com/{DEMO_TENANT_ID}/v2.0")),
            )),
            TokenError::Issuer,
        ),
        (
            "another nonce",
            sign(&with(good.clone(), "nonce", json!("n-2"))),
            TokenError::Nonce,
        ),
        (
            "no nonce",
            sign(&with(good.clone(), "nonce", Value::Null)),
            TokenError::Nonce,
        ),
        (
            "expired beyond the skew",
            sign(&with(good.clone(), "exp", json!(now() - 301 - 5))),
            TokenError::Expired,
        ),
        (
            "not valid yet beyond the skew",
            sign(&with(good.clone(), "nbf", json!(now() + 301 + 5))),
            TokenError::NotYetValid,
        ),
        (
            "no oid",
            sign(&with(good.clone(), "oid", Value::Null)),
            TokenError::MissingClaim("oid".into()),
        ),
        (
            "no tid",
            sign(&with(good.clone(), "tid", Value::Null)),
            TokenError::MissingClaim("tid".into()),
        ),
        (
            "no exp",
            sign(&with(good.clone(), "exp", Value::Null)),
            TokenError::MissingClaim("exp".into()),
        ),
    ];
    for (what, token, expected) in cases {
        assert_eq!(
            check(jwks.validate_id_token(&token, DEMO_CLIENT_ID, "n-1").await),
            expected,
            "{what}"
        );
    }

    // within the 300 s skew is accepted
    jwks.validate_id_token(
        &sign(&with(good.clone(), "exp", json!(now() - 200))),
        DEMO_CLIENT_ID,
        "n-1",
    )
    .await
    .unwrap();

    // not RS256, not a JWT
    let hs256 = {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "HS256", "kid": KEY_1_KID})),
            b64(&good)
        )
    };
    for bad in [hs256.as_str(), "not-a-jwt", ""] {
        assert_eq!(
            check(jwks.validate_id_token(bad, DEMO_CLIENT_ID, "n-1").await).check(),
            "format",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn unknown_kids_refetch_once_and_are_rate_limited() {
    let env = common::env(EmulatorConfig::default()).await;
    let jwks = Jwks::new(env.http.clone(), &env.emulator.login_base_url(), "organizations");
    assert!(jwks.url().ends_with("/common/discovery/v2.0/keys"));
    let good = id_claims(&env, "n");
    jwks.validate_id_token(&env.emulator.sign_jwt(None, None, &good), DEMO_CLIENT_ID, "n")
        .await
        .unwrap();
    assert_eq!(keys_fetches(&env), 1);

    // key rotation: the new kid is unknown, one refetch finds it
    env.emulator.rotate_keys();
    jwks.validate_id_token(&env.emulator.sign_jwt(None, None, &good), DEMO_CLIENT_ID, "n")
        .await
        .unwrap();
    assert_eq!(keys_fetches(&env), 2);

    // forged kids do not make us fetch again and again
    for kid in ["forged-1", "forged-2", "forged-3"] {
        let token = env.emulator.sign_jwt(None, Some(kid), &good);
        assert_eq!(
            jwks.validate_id_token(&token, DEMO_CLIENT_ID, "n").await.unwrap_err(),
            TokenError::UnknownKey(kid.into())
        );
    }
    assert_eq!(keys_fetches(&env), 2, "refetches on unknown kids are rate-limited");
}

#[tokio::test]
async fn graph_validation_tokens_are_checked() {
    let env = common::env(EmulatorConfig::default()).await;
    let jwks = env.identity.jwks();
    let token = |issuer, claims: Value, key| {
        env.emulator.validation_token(&ValidationTokenSpec {
            issuer,
            claims: claims.as_object().unwrap().clone(),
            key,
            ..Default::default()
        })
    };
    for issuer in [IssuerVersion::V1, IssuerVersion::V2] {
        jwks.validate_graph_validation_token(&token(issuer, json!({}), None), DEMO_CLIENT_ID)
            .await
            .unwrap();
    }
    // the v2 issuer at the configured login base is accepted too
    let at_login = json!({"iss": format!("{}/{DEMO_TENANT_ID}/v2.0", env.emulator.login_base_url())});
    jwks.validate_graph_validation_token(&token(IssuerVersion::V2, at_login, None), DEMO_CLIENT_ID)
        .await
        .unwrap();

    let cases = [
        (
            IssuerVersion::V2,
            json!({"aud": "someone-else"}),
            None,
            TokenError::Audience,
        ),
        (
            IssuerVersion::V2,
            json!({"azp": "another-app"}),
            None,
            TokenError::AuthorizedParty,
        ),
        (
            IssuerVersion::V1,
            json!({"appid": "another-app"}),
            None,
            TokenError::AuthorizedParty,
        ),
        (
            IssuerVersion::V2,
            json!({"azp": null}),
            None,
            TokenError::AuthorizedParty,
        ),
        (
            IssuerVersion::V2,
            json!({"iss": "https://evil.example/tenant/v2.0"}),
            None,
            TokenError::Issuer,
        ),
        (
            IssuerVersion::V1,
            json!({"iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000001/"}),
            None,
            TokenError::Issuer,
        ),
        (
            IssuerVersion::V2,
            json!({"exp": now() - 400}),
            None,
            TokenError::Expired,
        ),
        (
            IssuerVersion::V2,
            json!({}),
            Some(KeySlot::Secondary),
            TokenError::UnknownKey(KEY_2_KID.into()),
        ),
    ];
    for (issuer, claims, key, expected) in cases {
        let what = format!("{claims}");
        assert_eq!(
            jwks.validate_graph_validation_token(&token(issuer, claims, key), DEMO_CLIENT_ID)
                .await
                .unwrap_err(),
            expected,
            "{what}"
        );
    }
}
