//! Connections (`CONN#<tid>#<oid>`) and the sign-ins in progress that create them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Drive, Subscription};

/// State of a connected Microsoft 365 account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Tokens work; subscriptions are kept alive.
    Active,
    /// The refresh token was refused (revoked or expired): the user must sign in again.
    NeedsConsent,
    /// Disconnected on purpose.
    Revoked,
}

/// A connected account, keyed by tenant id and user object id (never by e-mail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Tenant id (`tid`).
    pub tenant_id: String,
    /// User object id (`oid`).
    pub user_oid: String,
    /// Display name from the ID token.
    pub display_name: String,
    /// Sign-in name (`preferred_username`), for people to read only.
    pub username: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The refresh token, sealed with [`crate::crypt::Sealer`].
    pub sealed_refresh_token: String,
    /// Current state.
    pub status: ConnectionStatus,
    /// First connected.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Connection {
    /// The context sealed values of this connection are bound to.
    pub fn seal_context(&self) -> String {
        seal_context(&self.tenant_id, &self.user_oid)
    }
}

/// The context a connection's sealed values are bound to.
pub fn seal_context(tenant_id: &str, user_oid: &str) -> String {
    format!("CONN#{tenant_id}#{user_oid}")
}

/// Everything filed under one connection.
#[derive(Debug, Default)]
pub struct ConnectionItems {
    /// Its subscriptions, active or retired.
    pub subscriptions: Vec<Subscription>,
    /// Its drives.
    pub drives: Vec<Drive>,
}

/// A sign-in in progress: what `/connect` created and `/oauth/callback` consumes once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// The random `state` value.
    pub state: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// OpenID Connect nonce expected in the ID token.
    pub nonce: String,
    /// Same-site path to return to after sign-in.
    pub return_to: Option<String>,
    /// Unix time after which the state is refused (also its TTL).
    pub expires_at: i64,
}
