//! Access tokens for a stored connection: unseal its refresh token, redeem it at the token
//! endpoint and store the rotated refresh token (sealed) before anything else happens, because
//! the one just used is spent.
//!
//! A refused refresh token (`invalid_grant`) marks the connection `needs_consent` and audits
//! `consent_lost`: the user must sign in again, and callers stop their work cleanly.
//! Refresh tokens rotate, so one process should not redeem the same connection's token twice
//! at once: callers serialise refreshes per connection (e.g. behind a mutex).

use std::time::Duration;

use time::OffsetDateTime;

use crate::crypt::CryptError;
use crate::identity::{AccessToken, IdentityClient, OAuthError, RefreshToken};
use crate::secrets::AppSecret;
use crate::store::{seal_context, AuditEvent, AuditKind, ConnectionStatus, Store, StoreError};

/// Lifetime assumed when the token endpoint does not say (`expires_in` absent).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A fresh access token for one connection.
pub struct ConnectionToken {
    /// The bearer token for Graph.
    pub access_token: AccessToken,
    /// When it expires (by our clock).
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for ConnectionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why no access token could be had for a connection.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No such connection is stored.
    #[error("connection {tenant_id}/{user_oid} is not stored")]
    UnknownConnection {
        /// Tenant id.
        tenant_id: String,
        /// User object id.
        user_oid: String,
    },
    /// The connection needs the user to sign in again: its status was already not `active`,
    /// or the refresh token was just refused (the status is now `needs_consent`).
    #[error("connection needs consent: the user must sign in again")]
    NeedsConsent,
    /// The stored refresh token cannot be unsealed (wrong or missing key version).
    #[error("stored refresh token cannot be unsealed: {0}")]
    Unseal(#[from] CryptError),
    /// The token endpoint failed otherwise (client credentials refused, unavailable, ...).
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// Whether a retry later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::OAuth(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Redeems the stored refresh token of connection `tenant_id`/`user_oid` for an access token
/// and stores the rotated refresh token, sealed with the secret's current key. On
/// `invalid_grant` the connection is set to `needs_consent`, `consent_lost` is audited and
/// [`TokenError::NeedsConsent`] returned; a connection that is not `active` is not tried.
pub async fn connection_access_token(
    store: &Store,
    identity: &IdentityClient,
    secret: &AppSecret,
    tenant_id: &str,
    user_oid: &str,
) -> Result<ConnectionToken, TokenError> {
    let connection = store
        .get_connection(tenant_id, user_oid)
        .await?
        .ok_or_else(|| TokenError::UnknownConnection {
            tenant_id: tenant_id.into(),
            user_oid: user_oid.into(),
        })?;
    if connection.status != ConnectionStatus::Active {
        return Err(TokenError::NeedsConsent);
    }
    let sealer = secret.sealer()?;
    let context = seal_context(tenant_id, user_oid);
    let refresh_token = RefreshToken::new(sealer.open_string(&connection.sealed_refresh_token, &context)?);
    let tokens = match identity.refresh(secret, &refresh_token).await {
        Ok(tokens) => tokens,
        Err(OAuthError::InvalidGrant { reason, codes }) => {
            let now = OffsetDateTime::now_utc();
            tracing::warn!(
                tenant_id,
                user_oid,
                ?reason,
                ?codes,
                "refresh token refused: connection needs consent"
            );
            store
                .set_connection_status(tenant_id, user_oid, ConnectionStatus::NeedsConsent, now)
                .await?;
            store
                .audit(&AuditEvent {
                    at: now,
                    kind: AuditKind::ConsentLost,
                    subject: context,
                    detail: format!("refresh token refused ({reason:?}, AADSTS {codes:?})"),
                })
                .await?;
            return Err(TokenError::NeedsConsent);
        }
        Err(e) => return Err(e.into()),
    };
    let now = OffsetDateTime::now_utc();
    if let Some(rotated) = &tokens.refresh_token {
        let sealed = sealer.seal(rotated.secret().as_bytes(), &context);
        store.store_refresh_token(tenant_id, user_oid, &sealed, now).await?;
    }
    Ok(ConnectionToken {
        access_token: tokens.access_token,
        expires_at: now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME),
    })
}
