//! oauth-callback: connects a Microsoft 365 account.
//!
//! - `GET /connect[?return_to=/path]` creates a one-time sign-in state (256-bit `state`,
//!   PKCE verifier, nonce, 10-minute TTL) and redirects to the identity platform's
//!   authorize endpoint (JSON `{"authorize_url"}` when the caller asks for JSON).
//!   `return_to` must be a same-site path.
//! - `GET /oauth/callback` consumes the state exactly once, redeems the code with the PKCE
//!   verifier, validates the ID token, applies the tenant allowlist, stores the connection
//!   (keyed by `tid` + `oid`, refresh token sealed), makes sure the user's drive has exactly
//!   one active drive-root subscription (created, kept, replaced when Graph lost it, or
//!   adopted on 409) and registers the drive pending so the first full scan runs. It answers
//!   302 to `return_to`, a small success page, or JSON.
//!
//! Every failure has a stable error code (JSON, or an HTML page for browsers); the failed
//! check goes to the logs, and no code, token, verifier, state or secret is ever logged.
//! A transient failure of Graph, DynamoDB or Secrets Manager answers 503
//! `upstream_unavailable`; each step is idempotent, so signing in again repairs whatever a
//! failed attempt left half-done.

use std::sync::Arc;

use graphwatch_shared::config::Config;
use graphwatch_shared::graph::{self, Drive, GraphClient, GraphError, NewSubscription};
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::{AccessToken, IdTokenClaims, IdentityClient, OAuthError, RefreshToken, Tokens};
use graphwatch_shared::secrets::{AppSecret, SecretsCache, SecretsError};
use graphwatch_shared::store::{
    seal_context, AuditEvent, AuditKind, Connection, ConnectionStatus, OAuthState, Store, StoreError, Subscription,
};
use graphwatch_shared::subscriptions::{self, CreateOutcome, TenantWrites};
use lambda_http::http::header::ACCEPT;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use time::OffsetDateTime;

/// How long a sign-in may take from `/connect` to the callback.
pub const STATE_TTL_SECONDS: i64 = 600;
/// Longest `return_to` accepted.
pub const MAX_RETURN_TO_LEN: usize = 512;
/// Path of the route that starts a sign-in.
pub const CONNECT_PATH: &str = "/connect";
/// Change type of drive-root subscriptions (the only one Graph supports for drives).
const DRIVE_CHANGE_TYPE: &str = "updated";
/// Longest error description from the identity platform that is logged.
const MAX_LOGGED_DESCRIPTION: usize = 300;

pub use graphwatch_shared::clients::StartError;

/// A failed request: a stable code and a fixed public message (details are logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failure {
    code: ErrorCode,
    message: &'static str,
}

impl Failure {
    fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: code.default_message(),
        }
    }

    fn with_message(code: ErrorCode, message: &'static str) -> Self {
        Self { code, message }
    }

    fn store(e: StoreError) -> Self {
        tracing::error!(error = %e, "DynamoDB call failed");
        Self::new(if e.is_transient() {
            ErrorCode::UpstreamUnavailable
        } else {
            ErrorCode::InternalError
        })
    }

    fn secrets(e: SecretsError) -> Self {
        tracing::error!(error = %e, "app secret unavailable");
        Self::new(match e {
            SecretsError::Unavailable { .. } => ErrorCode::UpstreamUnavailable,
            SecretsError::Malformed { .. } => ErrorCode::InternalError,
        })
    }

    fn graph(step: &'static str, e: GraphError) -> Self {
        tracing::error!(step, error = %e, "Graph call failed");
        Self::new(if e.is_transient() {
            ErrorCode::UpstreamUnavailable
        } else {
            ErrorCode::InternalError
        })
    }

    fn response(self, html: bool, public_base_url: &str) -> Response<Body> {
        if !html {
            return http::error_with_message(self.code, self.message);
        }
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>graphwatch: sign-in failed</title></head>\
             <body><h1>Sign-in did not complete</h1><p>{}</p><p><a href=\"{}{CONNECT_PATH}\">Start again</a></p>\
             <p><small>Error code: {}</small></p></body></html>",
            escape(self.message),
            escape(public_base_url),
            serde_json::to_value(self.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        http::html(self.code.status(), body)
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `return_to` if it is a same-site relative path: starts with one `/`, no backslash, no
/// control character, none of these hidden behind percent-encoding, and resolving to our
/// own origin. Everything else could send the user to another site after sign-in.
fn safe_return_to(raw: &str) -> Option<&str> {
    if raw.len() > MAX_RETURN_TO_LEN || !raw.starts_with('/') {
        return None;
    }
    let mut candidate = raw.to_owned();
    // a few rounds catch double and triple encoding
    for _ in 0..4 {
        if candidate.starts_with("//") || candidate.contains('\\') || candidate.chars().any(char::is_control) {
            return None;
        }
        let decoded = percent_encoding::percent_decode_str(&candidate)
            .decode_utf8()
            .ok()?
            .into_owned();
        if decoded == candidate {
            break;
        }
        candidate = decoded;
    }
    let base = url::Url::parse("https://graphwatch.invalid/").expect("a fixed URL parses");
    let resolved = base.join(raw).ok()?;
    (resolved.origin() == base.origin()).then_some(raw)
}

/// What happened to the drive's subscription during a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubscriptionOutcome {
    /// An active subscription existed and Graph still has it.
    Kept,
    /// A new subscription was created.
    Created,
    /// Graph already had one (409): it was taken over.
    Adopted,
}

/// The oauth-callback function: configuration and clients, built once per Lambda instance.
pub struct App {
    config: Config,
    store: Store,
    secrets: SecretsCache,
    identity: IdentityClient,
    graph: GraphClient,
}

impl App {
    /// Builds the function from its configuration, table and secret.
    pub fn new(config: Config, store: Store, secrets: SecretsCache) -> Result<Self, StartError> {
        let http = graphwatch_shared::clients::http_client()?;
        Ok(Self {
            identity: IdentityClient::new(http.clone(), &config)?,
            graph: GraphClient::new(http, &config.graph_base_url),
            config,
            store,
            secrets,
        })
    }

    /// Answers one API Gateway request.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let accept = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let wants_json = accept.contains("application/json");
        let wants_html = !wants_json && accept.contains("text/html");
        let path = req.uri().path();
        let connect = path.ends_with(CONNECT_PATH);
        if !connect && !path.ends_with(graphwatch_shared::identity::CALLBACK_PATH) {
            return http::error(ErrorCode::NotFound);
        }
        if req.method() != Method::GET {
            return http::error(ErrorCode::MethodNotAllowed);
        }
        let params = req.query_string_parameters();
        let result = if connect {
            self.connect(params.first("return_to").map(str::to_owned), wants_json)
                .await
        } else {
            self.callback(params, wants_json).await
        };
        result.unwrap_or_else(|failure| failure.response(wants_html, &self.config.public_base_url))
    }

    /// `GET /connect`: stores a one-time sign-in state and redirects to the authorize endpoint.
    async fn connect(&self, return_to: Option<String>, wants_json: bool) -> Result<Response<Body>, Failure> {
        let return_to = match return_to.as_deref() {
            None => None,
            Some(raw) => Some(safe_return_to(raw).ok_or_else(|| {
                tracing::warn!("refused a return_to that is not a same-site path");
                Failure::with_message(
                    ErrorCode::InvalidRequest,
                    "return_to must be a path on this site, such as /done.",
                )
            })?),
        };
        let secret = self.secrets.get().await.map_err(Failure::secrets)?;
        let sign_in = self.identity.sign_in(&secret.client_id);
        let expires_at = OffsetDateTime::now_utc().unix_timestamp() + STATE_TTL_SECONDS;
        let state = OAuthState {
            state: sign_in.state,
            pkce_verifier: sign_in.pkce_verifier,
            nonce: sign_in.nonce,
            return_to: return_to.map(str::to_owned),
            expires_at,
        };
        self.store.put_oauth_state(&state).await.map_err(Failure::store)?;
        tracing::info!(has_return_to = return_to.is_some(), "sign-in started");
        Ok(if wants_json {
            http::json(StatusCode::OK, &json!({ "authorize_url": sign_in.url }))
        } else {
            http::redirect(&sign_in.url)
        })
    }

    /// `GET /oauth/callback`: finishes a sign-in.
    async fn callback(
        &self,
        params: lambda_http::aws_lambda_events::query_map::QueryMap,
        wants_json: bool,
    ) -> Result<Response<Body>, Failure> {
        let now = OffsetDateTime::now_utc();
        if let Some(error) = params.first("error") {
            let description = params.first("error_description").unwrap_or_default();
            let state = params.first("state").map(str::to_owned);
            return Err(self.identity_platform_error(error, description, state, now).await);
        }
        let state = params.first("state").ok_or_else(|| {
            tracing::warn!("callback without state");
            Failure::new(ErrorCode::InvalidState)
        })?;
        let code = params.first("code").ok_or_else(|| {
            tracing::warn!("callback without code");
            Failure::new(ErrorCode::InvalidRequest)
        })?;
        let Some(sign_in) = self
            .store
            .consume_oauth_state(state, now)
            .await
            .map_err(Failure::store)?
        else {
            tracing::warn!("sign-in state is unknown, expired or already used");
            return Err(Failure::new(ErrorCode::InvalidState));
        };

        let (secret, tokens) = self.redeem(code, &sign_in.pkce_verifier).await?;
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            tracing::error!("the token endpoint issued no ID token: GRAPH_SCOPES must include openid");
            Failure::new(ErrorCode::IdTokenInvalid)
        })?;
        let who = self
            .identity
            .jwks()
            .validate_id_token(id_token, &secret.client_id, &sign_in.nonce)
            .await
            .map_err(|e| {
                if e.is_transient() {
                    tracing::error!(error = %e, "ID token keys unavailable");
                    Failure::new(ErrorCode::UpstreamUnavailable)
                } else {
                    tracing::warn!(check = e.check(), error = %e, "ID token refused");
                    Failure::new(ErrorCode::IdTokenInvalid)
                }
            })?;
        let allowed = &self.config.allowed_tenants;
        if !allowed.is_empty() && !allowed.iter().any(|t| t.eq_ignore_ascii_case(&who.tenant_id)) {
            tracing::warn!(tenant_id = %who.tenant_id, "tenant is not in ALLOWED_TENANTS");
            return Err(Failure::new(ErrorCode::TenantNotAllowed));
        }
        let refresh_token = tokens.refresh_token.as_ref().ok_or_else(|| {
            tracing::error!("the token endpoint issued no refresh token: GRAPH_SCOPES must include offline_access");
            Failure::new(ErrorCode::InternalError)
        })?;

        let drive = match self.graph.my_drive(&tokens.access_token).await {
            Ok(drive) => Some(drive),
            Err(GraphError::NotFound { .. }) => {
                tracing::warn!(tenant_id = %who.tenant_id, user_oid = %who.user_oid, "the user has no OneDrive: nothing to watch");
                None
            }
            Err(e) => return Err(Failure::graph("my_drive", e)),
        };
        let reconnected = self.save_connection(&who, &secret, refresh_token, &tokens, now).await?;
        let subscription = match &drive {
            Some(drive) => Some(self.watch_drive(&who, drive, &tokens.access_token, now).await?),
            None => None,
        };

        tracing::info!(
            tenant_id = %who.tenant_id,
            user_oid = %who.user_oid,
            reconnected,
            drive_id = drive.as_ref().map(|d| d.id.as_str()),
            subscription_id = subscription.as_ref().map(|s| s.id.as_str()),
            "account connected"
        );
        if wants_json {
            return Ok(http::json(
                StatusCode::OK,
                &json!({
                    "status": if reconnected { "reconnected" } else { "connected" },
                    "tenant_id": who.tenant_id,
                    "user_oid": who.user_oid,
                    "display_name": who.name,
                    "drive_id": drive.map(|d| d.id),
                    "subscription_id": subscription.map(|s| s.id),
                    "return_to": sign_in.return_to,
                }),
            ));
        }
        if let Some(path) = &sign_in.return_to {
            return Ok(http::redirect(path));
        }
        let watched = if drive.is_some() {
            "graphwatch now watches your OneDrive and runs a first full privacy scan."
        } else {
            "Your account has no OneDrive, so there is nothing to scan yet."
        };
        Ok(http::html(
            StatusCode::OK,
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>graphwatch: connected</title></head>\
                 <body><h1>Connected</h1><p>{} is connected. {watched}</p></body></html>",
                escape(if who.name.is_empty() { "Your account" } else { &who.name }),
            ),
        ))
    }

    /// An `error=` callback: consumes the state and says what happened and how to retry.
    async fn identity_platform_error(
        &self,
        error: &str,
        description: &str,
        state: Option<String>,
        now: OffsetDateTime,
    ) -> Failure {
        if let Some(state) = state {
            if let Err(e) = self.store.consume_oauth_state(&state, now).await {
                tracing::warn!(error = %e, "could not consume the state of a failed sign-in (it expires by itself)");
            }
        }
        let description: String = description.chars().take(MAX_LOGGED_DESCRIPTION).collect();
        tracing::warn!(idp_error = error, description = %description, "the identity platform reported a sign-in error");
        match error {
            "access_denied" => Failure::with_message(
                ErrorCode::SignInFailed,
                "You declined the permissions graphwatch needs, so nothing was connected. \
                 To connect, start again from /connect and accept.",
            ),
            "consent_required" | "interaction_required" => Failure::with_message(
                ErrorCode::SignInFailed,
                "Your organization requires an administrator to approve graphwatch. \
                 Ask an administrator to grant consent, then start again from /connect.",
            ),
            _ => Failure::new(ErrorCode::SignInFailed),
        }
    }

    /// Redeems the code; when the client credentials are refused, re-reads the secret once
    /// (it may have been rotated) and tries again if it changed.
    async fn redeem(&self, code: &str, verifier: &str) -> Result<(Arc<AppSecret>, Tokens), Failure> {
        let mut secret = self.secrets.get().await.map_err(Failure::secrets)?;
        let mut result = self.identity.exchange_code(&secret, code, verifier).await;
        if let Err(OAuthError::InvalidClient { .. }) = &result {
            let fresh = self.secrets.reload().await.map_err(Failure::secrets)?;
            if fresh.client_secret != secret.client_secret || fresh.client_id != secret.client_id {
                tracing::warn!("client credentials refused: retrying with the re-read secret");
                secret = fresh;
                result = self.identity.exchange_code(&secret, code, verifier).await;
            }
        }
        match result {
            Ok(tokens) => Ok((secret, tokens)),
            Err(e @ OAuthError::InvalidGrant { .. }) => {
                tracing::warn!(error = %e, "the identity platform rejected the code");
                Err(Failure::new(ErrorCode::CodeRejected))
            }
            Err(e @ (OAuthError::Transient(_) | OAuthError::Protocol(_))) => {
                tracing::error!(error = %e, "token endpoint failed");
                Err(Failure::new(ErrorCode::UpstreamUnavailable))
            }
            Err(e) => {
                tracing::error!(error = %e, "token endpoint refused our request: check the app registration and secret");
                Err(Failure::new(ErrorCode::InternalError))
            }
        }
    }

    /// Upserts the connection with the sealed refresh token and audits it; `true` on a reconnect.
    async fn save_connection(
        &self,
        who: &IdTokenClaims,
        secret: &AppSecret,
        refresh_token: &RefreshToken,
        tokens: &Tokens,
        now: OffsetDateTime,
    ) -> Result<bool, Failure> {
        let sealer = secret.sealer().map_err(|e| {
            tracing::error!(error = %e, "sealing keys unusable");
            Failure::new(ErrorCode::InternalError)
        })?;
        let context = seal_context(&who.tenant_id, &who.user_oid);
        let existing = self
            .store
            .get_connection(&who.tenant_id, &who.user_oid)
            .await
            .map_err(Failure::store)?;
        let scopes = if tokens.scopes.is_empty() {
            self.config.scopes.clone()
        } else {
            tokens.scopes.clone()
        };
        let connection = Connection {
            tenant_id: who.tenant_id.clone(),
            user_oid: who.user_oid.clone(),
            display_name: who.name.clone(),
            username: who.preferred_username.clone(),
            scopes,
            sealed_refresh_token: sealer.seal(refresh_token.secret().as_bytes(), &context),
            status: ConnectionStatus::Active,
            created_at: existing.map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let reconnected = self
            .store
            .upsert_connection(&connection)
            .await
            .map_err(Failure::store)?;
        let kind = if reconnected {
            AuditKind::Reconnected
        } else {
            AuditKind::Connected
        };
        self.audit(kind, context, format!("scopes: {}", connection.scopes.join(" ")), now)
            .await?;
        Ok(reconnected)
    }

    /// Makes sure the drive has one active drive-root subscription (kept, created, or
    /// adopted) stored with its renewal index, then registers the drive pending.
    async fn watch_drive(
        &self,
        who: &IdTokenClaims,
        drive: &Drive,
        token: &AccessToken,
        now: OffsetDateTime,
    ) -> Result<Subscription, Failure> {
        let (subscription, outcome) = self.drive_subscription(who, drive, token, now).await?;
        if outcome != SubscriptionOutcome::Kept {
            self.store
                .put_subscription(&subscription, now)
                .await
                .map_err(Failure::store)?;
            let detail = match outcome {
                SubscriptionOutcome::Adopted => "adopted the subscription Graph already had",
                _ => "created",
            };
            self.audit(
                AuditKind::SubscriptionCreated,
                subscription.id.clone(),
                format!("{detail}: {} until {}", subscription.resource, subscription.expiration),
                now,
            )
            .await?;
        }
        self.store
            .register_drive(&drive.id, &who.tenant_id, &who.user_oid, now)
            .await
            .map_err(Failure::store)?;
        Ok(subscription)
    }

    /// The drive's subscription: the stored active one if Graph still has it (one Graph
    /// lost is retired), else a new one (or Graph's existing one on 409).
    async fn drive_subscription(
        &self,
        who: &IdTokenClaims,
        drive: &Drive,
        token: &AccessToken,
        now: OffsetDateTime,
    ) -> Result<(Subscription, SubscriptionOutcome), Failure> {
        let base = &self.config.public_base_url;
        let resource = format!("/drives/{}/root", drive.id);
        let request = NewSubscription {
            change_type: DRIVE_CHANGE_TYPE.into(),
            notification_url: format!("{base}/webhooks/graph"),
            lifecycle_notification_url: Some(format!("{base}/webhooks/lifecycle")),
            expiration_date_time: graph::subscription_expiration(&resource, now)
                .expect("drive roots have a known lifetime"),
            resource,
            client_state: subscriptions::random_client_state(),
        };
        let items = self
            .store
            .connection_items(&who.tenant_id, &who.user_oid)
            .await
            .map_err(Failure::store)?;
        let stored = items
            .subscriptions
            .into_iter()
            .find(|s| s.active && s.resource == request.resource && s.notification_url == request.notification_url);
        if let Some(stored) = stored {
            match self.graph.get_subscription(token, &stored.id).await {
                Ok(_) => return Ok((stored, SubscriptionOutcome::Kept)),
                Err(GraphError::NotFound { .. }) => {
                    let retired = Subscription {
                        active: false,
                        version: stored.version + 1,
                        ..stored
                    };
                    self.store
                        .put_subscription(&retired, now)
                        .await
                        .map_err(Failure::store)?;
                    self.audit(
                        AuditKind::SubscriptionRemoved,
                        retired.id.clone(),
                        "Graph no longer had it; replaced at sign-in".into(),
                        now,
                    )
                    .await?;
                }
                Err(e) => return Err(Failure::graph("get_subscription", e)),
            }
        }
        let obtained = subscriptions::create_or_adopt(&self.graph, token, &request, &TenantWrites::unlimited())
            .await
            .map_err(|e| Failure::graph("create_subscription", e))?;
        let outcome = match obtained.outcome {
            CreateOutcome::Created => SubscriptionOutcome::Created,
            CreateOutcome::Adopted => SubscriptionOutcome::Adopted,
        };
        Ok((
            subscriptions::record(
                &obtained,
                &who.tenant_id,
                &who.user_oid,
                &request.resource,
                Some(&drive.id),
            ),
            outcome,
        ))
    }

    async fn audit(&self, kind: AuditKind, subject: String, detail: String, at: OffsetDateTime) -> Result<(), Failure> {
        let event = AuditEvent {
            at,
            kind,
            subject,
            detail,
        };
        self.store.audit(&event).await.map_err(Failure::store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_same_site_paths_only() {
        for ok in ["/", "/done", "/reports?drive=1&x=%20y", "/a/b#frag", "/@user"] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "http:/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%255Cevil.example",
            "/%252F/evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\r\nLocation: https://evil.example",
            "javascript:alert(1)",
            "/%ff",
            "",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN))), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
