//! `GET /oauth/callback`: finishes a sign-in. It consumes the state exactly once, turns an
//! identity-platform error into advice, redeems the code with the PKCE verifier, validates
//! the ID token and the tenant allowlist, saves the connection (refresh token sealed) with
//! its audit event, then hands the user's drive to `drive` to be watched.

use std::sync::Arc;

use graphwatch_shared::graph::GraphError;
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::{IdTokenClaims, OAuthError, RefreshToken, Tokens};
use graphwatch_shared::secrets::AppSecret;
use graphwatch_shared::store::{seal_context, AuditKind, Connection, ConnectionStatus};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::failure::{escape, Failure};
use crate::App;

/// Longest error description from the identity platform that is logged.
const MAX_LOGGED_DESCRIPTION: usize = 300;

impl App {
    /// `GET /oauth/callback`: finishes a sign-in.
    pub(crate) async fn callback(&self, params: QueryMap, wants_json: bool) -> Result<Response<Body>, Failure> {
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
}
