//! The Microsoft identity platform (v2.0 endpoints): discovery, JWKS, authorize and token.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::{SignInOutcome, TenantConfig, UserConfig, GRAPH_RESOURCE};
use crate::errors::{error_page, AadError};
use crate::state::{found, random_token, AppState, Shared};

/// Lifetime of an authorization code.
const CODE_LIFETIME: time::Duration = time::Duration::minutes(10);
/// Refresh tokens expire after this much inactivity.
const REFRESH_INACTIVITY: time::Duration = time::Duration::days(90);
/// Lifetime of ID tokens.
const ID_TOKEN_LIFETIME: time::Duration = time::Duration::hours(1);
/// OpenID Connect scopes (not Graph permissions).
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// Graph permissions granted for `.default` and when no Graph scope is named.
const DEFAULT_GRAPH_SCOPES: &str = "Files.Read.All Sites.Read.All User.Read";
/// Application permissions (`roles`) of app-only tokens.
const APP_ROLES: [&str; 3] = ["Files.Read.All", "Sites.Read.All", "User.Read.All"];

/// An issued authorization code.
pub(crate) struct AuthCode {
    client_id: String,
    redirect_uri: String,
    tenant_id: String,
    oid: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    challenge: Option<(String, String)>,
    issued: OffsetDateTime,
    redeemed: bool,
}

/// A live refresh token's grant.
pub(crate) struct RefreshGrant {
    client_id: String,
    tenant_id: String,
    oid: String,
    scopes: Vec<String>,
    issued: OffsetDateTime,
    last_used: OffsetDateTime,
    revoked: bool,
}

/// Identity routes, mounted at the root (`/{tenant}/...`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
}

/// Whether the path segment names a multi-tenant authority rather than a tenant id.
fn is_multi_tenant(tenant: &str) -> bool {
    ["common", "organizations"].contains(&tenant.to_ascii_lowercase().as_str())
}

fn check_tenant(shared: &Shared, tenant: &str) -> Result<(), AadError> {
    if is_multi_tenant(tenant) || shared.tenant(tenant).is_some() {
        Ok(())
    } else {
        Err(AadError::new(
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ))
    }
}

async fn openid_configuration(
    State(shared): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, AadError> {
    check_tenant(&shared, &tenant)?;
    let base = &shared.base_url;
    let issuer_tenant = if is_multi_tenant(&tenant) {
        "{tenantid}"
    } else {
        &tenant
    };
    Ok(Json(json!({
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "userinfo_endpoint": format!("{}/oidc/userinfo", shared.graph_base()),
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "tid", "oid", "name", "preferred_username", "ver"],
        "request_uri_parameter_supported": false,
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com",
    })))
}

async fn jwks(State(shared): State<AppState>, Path(tenant): Path<String>) -> Result<Json<Value>, AadError> {
    check_tenant(&shared, &tenant)?;
    let published = shared.lock().published_keys.clone();
    Ok(Json(
        serde_json::to_value(shared.keys.jwks(&published)).expect("JWKS serializes"),
    ))
}

/// Whether `uri` may be used as a redirect URI for the app.
fn redirect_allowed(shared: &Shared, registered: &[String], uri: &str) -> bool {
    if registered.iter().any(|r| r == uri) {
        return true;
    }
    shared.config.any_loopback_redirect
        && url::Url::parse(uri).is_ok_and(|u| {
            u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("localhost") | Some("[::1]"))
        })
}

/// Builds the redirect back to the app with the given query parameters.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(redirect_uri).expect("registered redirect URIs are URLs");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    found(url.as_str())
}

/// Resolves the user who signs in: `login_hint`, else the tenant's (or first tenant's) first user.
fn sign_in_user<'a>(
    shared: &'a Shared,
    tenant: &str,
    login_hint: Option<&String>,
) -> Option<(&'a TenantConfig, &'a UserConfig)> {
    let tenant_filter = (!is_multi_tenant(tenant)).then_some(tenant);
    match login_hint {
        Some(hint) => shared.user(tenant_filter, hint),
        None => {
            let t = match tenant_filter {
                Some(id) => shared.tenant(id)?,
                None => shared.config.tenants.first()?,
            };
            t.users.first().map(|u| (t, u))
        }
    }
}

async fn authorize(
    State(shared): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = check_tenant(&shared, &tenant) {
        return error_page(e.code, &e.description);
    }
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    let Some(app) = shared.config.apps.iter().find(|a| a.client_id == client_id) else {
        return error_page(
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect_allowed(&shared, &app.redirect_uris, &redirect_uri) {
        return error_page(
            50011,
            &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
        );
    }
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let fail = |error: &str, description: String| {
        redirect_with(
            &redirect_uri,
            &[("error", error), ("error_description", &description), ("state", state)],
        )
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type must be 'code' for this emulator.".into(),
        );
    }
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (None, _) => None,
        (Some(c), method) => {
            let method = method.map(String::as_str).unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return fail(
                    "invalid_request",
                    format!("AADSTS501491: Invalid code_challenge_method '{method}'."),
                );
            }
            Some((c.clone(), method.to_string()))
        }
    };
    let Some((user_tenant, user)) = sign_in_user(&shared, &tenant, q.get("login_hint")) else {
        return error_page(
            50034,
            &format!(
                "The user account {} does not exist in the {tenant} directory.",
                q.get("login_hint").map(String::as_str).unwrap_or("(none)")
            ),
        );
    };
    match shared.sign_in_outcome(user) {
        SignInOutcome::AccessDenied => {
            return fail(
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.".into(),
            )
        }
        SignInOutcome::ConsentRequired => {
            return fail(
                "consent_required",
                format!("AADSTS65001: The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource."),
            )
        }
        SignInOutcome::Allow => {}
    }
    let code = random_token(48);
    {
        let mut st = shared.lock();
        let issued = st.now();
        st.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.clone(),
                tenant_id: user_tenant.id.clone(),
                oid: user.oid.clone(),
                scopes: split_scopes(q.get("scope").map(String::as_str).unwrap_or("openid")),
                nonce: q.get("nonce").cloned(),
                challenge,
                issued,
                redeemed: false,
            },
        );
    }
    redirect_with(&redirect_uri, &[("code", &code), ("state", state)])
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_string).collect()
}

/// Graph permissions among `scopes`, in short form (`Files.Read.All`).
fn graph_scopes(scopes: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in scopes {
        let short = s
            .strip_prefix(GRAPH_RESOURCE)
            .map_or(s.as_str(), |r| r.trim_start_matches('/'));
        if OIDC_SCOPES.contains(&short) {
            continue;
        }
        if short == ".default" {
            out.extend(DEFAULT_GRAPH_SCOPES.split(' '));
        } else {
            out.push(short);
        }
    }
    if out.is_empty() {
        return "User.Read".into();
    }
    out.sort_unstable();
    out.dedup();
    out.join(" ")
}

/// Client id and secret from HTTP Basic (form-urlencoded parts, as RFC 6749 §2.3.1 says) or the body.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

async fn token(
    State(shared): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Json<Value>, AadError> {
    check_tenant(&shared, &tenant)?;
    let (client_id, secret) = client_credentials(&headers, &form);
    let client_id = client_id.ok_or_else(|| {
        AadError::invalid_request(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    })?;
    let app = shared
        .config
        .apps
        .iter()
        .find(|a| a.client_id == client_id)
        .ok_or_else(|| {
            AadError::new(
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
            )
        })?;
    match secret {
        None => {
            return Err(AadError::new(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ))
        }
        Some(s) if s != app.client_secret => {
            return Err(AadError::new(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            ))
        }
        Some(_) => {}
    }
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or_default();
    match grant_type {
        "authorization_code" => redeem_code(&shared, &client_id, &form),
        "refresh_token" => redeem_refresh_token(&shared, &client_id, &form),
        "client_credentials" => app_token(&shared, &tenant, &client_id, &form),
        other => Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
    .map(Json)
}

fn redeem_code(shared: &Shared, client_id: &str, form: &HashMap<String, String>) -> Result<Value, AadError> {
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let (tenant_id, oid, scopes, nonce) = {
        let mut st = shared.lock();
        let now = st.now();
        let entry = st.codes.get_mut(code).ok_or_else(|| {
            AadError::invalid_grant(
                9002313,
                "Invalid request. Request is malformed or invalid: the authorization code is not valid.",
            )
        })?;
        if entry.redeemed {
            return Err(AadError::invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        entry.redeemed = true;
        if now - entry.issued > CODE_LIFETIME {
            return Err(AadError::invalid_grant(
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
        if entry.client_id != client_id {
            return Err(AadError::invalid_grant(
                70000,
                "Provided grant is invalid or malformed: the code was issued to another client.",
            ));
        }
        if form.get("redirect_uri") != Some(&entry.redirect_uri) {
            return Err(AadError::invalid_grant(
                50011,
                "The redirect URI specified in the request does not match the redirect URI of the authorization request.",
            ));
        }
        if let Some((challenge, method)) = &entry.challenge {
            let verifier = form.get("code_verifier").map(String::as_str).unwrap_or_default();
            let computed = if method == "S256" {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_string()
            };
            if verifier.is_empty() || computed != *challenge {
                return Err(AadError::invalid_grant(
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ));
            }
        }
        (
            entry.tenant_id.clone(),
            entry.oid.clone(),
            entry.scopes.clone(),
            entry.nonce.clone(),
        )
    };
    Ok(issue_user_tokens(
        shared,
        client_id,
        &tenant_id,
        &oid,
        &scopes,
        nonce.as_deref(),
    ))
}

fn redeem_refresh_token(shared: &Shared, client_id: &str, form: &HashMap<String, String>) -> Result<Value, AadError> {
    let token = form.get("refresh_token").map(String::as_str).unwrap_or_default();
    let (tenant_id, oid, scopes) = {
        let mut st = shared.lock();
        let now = st.now();
        let grant = st.refresh_tokens.get(token).ok_or_else(|| {
            AadError::invalid_grant(
                700082,
                "The refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            )
        })?;
        if grant.revoked {
            return Err(AadError::invalid_grant(
                50173,
                format!("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}'.", crate::state::fmt_time(grant.issued)),
            ));
        }
        if now - grant.last_used > REFRESH_INACTIVITY {
            return Err(AadError::invalid_grant(
                700082,
                format!("The refresh token has expired due to inactivity. The token was issued on {} and was inactive for 90.00:00:00.", crate::state::fmt_time(grant.issued)),
            ));
        }
        if grant.client_id != client_id {
            return Err(AadError::invalid_grant(
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to another client.",
            ));
        }
        // As the identity platform does: every use returns a fresh refresh token, and the old
        // one is not revoked (it stays valid until 90 days of inactivity or a revocation).
        let grant = st.refresh_tokens.get_mut(token).expect("checked above");
        grant.last_used = now;
        let scopes = form
            .get("scope")
            .map(|s| split_scopes(s))
            .unwrap_or_else(|| grant.scopes.clone());
        (grant.tenant_id.clone(), grant.oid.clone(), scopes)
    };
    Ok(issue_user_tokens(shared, client_id, &tenant_id, &oid, &scopes, None))
}

fn app_token(
    shared: &Shared,
    tenant: &str,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Value, AadError> {
    if is_multi_tenant(tenant) {
        return Err(AadError::invalid_request(
            900023,
            format!(
                "Specified tenant identifier '{tenant}' is not valid for the client credentials flow; use a tenant id."
            ),
        ));
    }
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    if !scope.ends_with("/.default") {
        return Err(AadError::new(
            "invalid_scope",
            1002012,
            format!("The provided value for scope '{scope}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        ));
    }
    let tenant_id = shared.tenant(tenant).map(|t| t.id.clone()).unwrap_or_default();
    let (now, lifetime) = (shared.now(), shared.config.access_token_lifetime);
    let service_principal = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, client_id.as_bytes());
    let claims = json!({
        "aud": GRAPH_RESOURCE,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(),
        "exp": now.unix_timestamp() + lifetime.as_secs() as i64,
        "appid": client_id,
        "idtyp": "app",
        "oid": service_principal.to_string(),
        "sub": service_principal.to_string(),
        "roles": APP_ROLES,
        "tid": tenant_id,
        "uti": random_token(16),
        "ver": "1.0",
    });
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": sign_current(shared, &claims),
    }))
}

/// Signs with the key currently used for signing.
fn sign_current(shared: &Shared, claims: &Value) -> String {
    let slot = shared.lock().signing_key;
    shared.keys.sign(slot, slot.kid(), claims)
}

/// Issues an access token (and refresh/ID tokens when `offline_access`/`openid` were granted).
fn issue_user_tokens(
    shared: &Shared,
    client_id: &str,
    tenant_id: &str,
    oid: &str,
    scopes: &[String],
    nonce: Option<&str>,
) -> Value {
    let user = shared.user(Some(tenant_id), oid).map(|(_, u)| u.clone());
    let (upn, name) = user.map(|u| (u.upn, u.display_name)).unwrap_or_default();
    let now = shared.now();
    let lifetime = shared.config.access_token_lifetime.as_secs();
    let scp = graph_scopes(scopes);
    let access_claims = json!({
        "aud": GRAPH_RESOURCE,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(),
        "exp": now.unix_timestamp() + lifetime as i64,
        "appid": client_id,
        "idtyp": "user",
        "name": name,
        "oid": oid,
        "scp": scp,
        "sub": pairwise_sub(oid, "00000003-0000-0000-c000-000000000000"),
        "tid": tenant_id,
        "upn": upn,
        "uti": random_token(16),
        "ver": "1.0",
    });
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut granted: Vec<String> = scp.split(' ').map(str::to_string).collect();
    granted.extend(OIDC_SCOPES.iter().filter(|s| has(s)).map(|s| s.to_string()));
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": sign_current(shared, &access_claims),
    });
    if has("offline_access") {
        let refresh = random_token(64);
        shared.lock().refresh_tokens.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                tenant_id: tenant_id.to_string(),
                oid: oid.to_string(),
                scopes: scopes.to_vec(),
                issued: now,
                last_used: now,
                revoked: false,
            },
        );
        body["refresh_token"] = refresh.into();
    }
    if has("openid") {
        let mut id_claims = json!({
            "aud": client_id,
            "iss": format!("{}/{tenant_id}/v2.0", shared.base_url),
            "iat": now.unix_timestamp(),
            "nbf": now.unix_timestamp(),
            "exp": (now + ID_TOKEN_LIFETIME).unix_timestamp(),
            "name": name,
            "oid": oid,
            "preferred_username": upn,
            "sub": pairwise_sub(oid, client_id),
            "tid": tenant_id,
            "uti": random_token(16),
            "ver": "2.0",
        });
        if let Some(nonce) = nonce {
            id_claims["nonce"] = nonce.into();
        }
        if has("email") {
            id_claims["email"] = upn.into();
        }
        body["id_token"] = sign_current(shared, &id_claims).into();
    }
    body
}

/// A pairwise subject: stable per user and app, different across apps.
fn pairwise_sub(oid: &str, client_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{oid}:{client_id}").as_bytes()))
}

/// Marks every refresh token of a user (object id or UPN, any tenant) as revoked.
pub(crate) fn revoke_refresh_tokens(shared: &Shared, user: &str) -> Option<usize> {
    let (_, user) = shared.user(None, user)?;
    let mut st = shared.lock();
    let mut count = 0;
    for grant in st.refresh_tokens.values_mut().filter(|g| g.oid == user.oid) {
        grant.revoked = true;
        count += 1;
    }
    Some(count)
}
