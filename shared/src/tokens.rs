//! Access tokens for a stored connection: the one place that redeems a refresh token.
//!
//! The connection is read, its sealed refresh token opened and redeemed at the token endpoint,
//! and the rotated refresh token sealed (with the secret's current key) and stored. Every write
//! holds only while the connection is as it was read (its `updated_at`): a caller holding a
//! stale refresh token must never undo a newer sign-in. The rules, and why:
//!
//! - **Only `active` connections are tried.** Any other status is [`Access::NeedsConsent`]
//!   without a request: a refused token is not asked about again until the user signs in.
//! - **A rotated token whose write loses is dropped.** The connection changed since it was read
//!   (the user reconnected, or another process stored its own rotation), so the stored token is
//!   the newer one and stays. Nothing is lost: the identity platform does not revoke a refresh
//!   token when it is redeemed, so the token just used and the stored one both stay valid.
//! - **A rotated token that cannot be stored (DynamoDB failing) still gives its access token**,
//!   and the failure is logged. For the reason above the stored token stays usable; failing
//!   the caller would only make it redeem again and lose the work it can do now.
//! - **`invalid_grant` marks the connection `needs_consent` only if it is unchanged since it
//!   was read**, and only the caller whose write marks it audits `consent_lost` (once per loss,
//!   however many callers race). If the write loses, the connection is read again: one that is
//!   `active` again (reconnected meanwhile) is tried once more with its newer token; any other
//!   status is `needs_consent` already. An audit that cannot be written is logged, not
//!   returned: consent is lost either way, and callers act on the status.
//! - **An unknown connection is [`TokenError::UnknownConnection`]**, and nothing is written (a
//!   conditional write never creates a connection). Callers decide what it means for their work.
//!
//! Refresh tokens rotate, so one process should not redeem the same connection's token twice at
//! once: callers serialise refreshes per connection (behind a mutex, or one per invocation).

use std::time::Duration;

use time::OffsetDateTime;

use crate::crypt::CryptError;
use crate::identity::{AccessToken, IdentityClient, OAuthError, RefreshToken};
use crate::secrets::AppSecret;
use crate::store::{AuditEvent, AuditKind, Connection, ConnectionStatus, Store, StoreError};

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

/// What asking for a connection's access token came to.
#[derive(Debug)]
pub enum Access {
    /// A fresh access token.
    Token(ConnectionToken),
    /// The user must sign in again. `lost_now` when this call's refused refresh token marked
    /// the connection `needs_consent` (and audited it); `false` when it already was not active.
    NeedsConsent {
        /// This call recorded the loss of consent.
        lost_now: bool,
    },
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
    /// The connection kept changing while its refresh tokens were refused; a retry may succeed.
    #[error("connection {0} changed while its refresh token was refused")]
    Changed(String),
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
            Self::Changed(_) => true,
            Self::OAuth(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// An access token for connection `tenant_id`/`user_oid`, by the rules of the module doc;
/// [`TokenError::NeedsConsent`] when the user must sign in again.
pub async fn connection_access_token(
    store: &Store,
    identity: &IdentityClient,
    secret: &AppSecret,
    tenant_id: &str,
    user_oid: &str,
) -> Result<ConnectionToken, TokenError> {
    match access(store, identity, secret, tenant_id, user_oid).await? {
        Access::Token(token) => Ok(token),
        Access::NeedsConsent { .. } => Err(TokenError::NeedsConsent),
    }
}

/// Reads connection `tenant_id`/`user_oid` and [`redeem`]s it.
pub async fn access(
    store: &Store,
    identity: &IdentityClient,
    secret: &AppSecret,
    tenant_id: &str,
    user_oid: &str,
) -> Result<Access, TokenError> {
    let connection = read(store, tenant_id, user_oid).await?;
    redeem(store, identity, secret, connection).await
}

/// An access token for `connection` as it was read, by the rules of the module doc: its
/// status decides whether it is tried, its `updated_at` whether what follows is written.
pub async fn redeem(
    store: &Store,
    identity: &IdentityClient,
    secret: &AppSecret,
    mut connection: Connection,
) -> Result<Access, TokenError> {
    // a second try only after a reconnect raced a refusal: its refresh token is newer
    for _ in 0..2 {
        if connection.status != ConnectionStatus::Active {
            return Ok(Access::NeedsConsent { lost_now: false });
        }
        match redeem_once(store, identity, secret, &connection).await? {
            Some(access) => return Ok(access),
            None => connection = read(store, &connection.tenant_id, &connection.user_oid).await?,
        }
    }
    Err(TokenError::Changed(connection.seal_context()))
}

async fn read(store: &Store, tenant_id: &str, user_oid: &str) -> Result<Connection, TokenError> {
    store
        .get_connection(tenant_id, user_oid)
        .await?
        .ok_or_else(|| TokenError::UnknownConnection {
            tenant_id: tenant_id.into(),
            user_oid: user_oid.into(),
        })
}

/// One redemption of `connection`'s refresh token; `None` when it was refused but the
/// connection changed since it was read (so nothing was marked).
async fn redeem_once(
    store: &Store,
    identity: &IdentityClient,
    secret: &AppSecret,
    connection: &Connection,
) -> Result<Option<Access>, TokenError> {
    let key = connection.seal_context();
    let sealer = secret.sealer()?;
    let refresh_token = RefreshToken::new(sealer.open_string(&connection.sealed_refresh_token, &key)?);
    let tokens = match identity.refresh(secret, &refresh_token).await {
        Ok(tokens) => tokens,
        Err(OAuthError::InvalidGrant { reason, codes }) => {
            let now = OffsetDateTime::now_utc();
            if !store
                .set_connection_status(connection, ConnectionStatus::NeedsConsent, now)
                .await?
            {
                tracing::info!(connection = %key, "refresh token refused, but the connection changed since it was read");
                return Ok(None);
            }
            tracing::warn!(
                connection = %key, ?reason, aadsts = ?codes,
                "refresh token refused: connection needs consent until the user signs in again"
            );
            let event = AuditEvent {
                at: now,
                kind: AuditKind::ConsentLost,
                subject: key.clone(),
                detail: format!("refresh token refused ({reason:?}, AADSTS {codes:?})"),
            };
            if let Err(e) = store.audit(&event).await {
                tracing::warn!(connection = %key, error = %e, "consent_lost not audited");
            }
            return Ok(Some(Access::NeedsConsent { lost_now: true }));
        }
        Err(e) => return Err(e.into()),
    };
    let now = OffsetDateTime::now_utc();
    if let Some(rotated) = &tokens.refresh_token {
        let sealed = sealer.seal(rotated.secret().as_bytes(), &key);
        match store.store_refresh_token(connection, &sealed, now).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(connection = %key, "rotated refresh token dropped: the stored one is newer"),
            Err(e) => tracing::warn!(connection = %key, error = %e, "rotated refresh token not stored"),
        }
    }
    Ok(Some(Access::Token(ConnectionToken {
        access_token: tokens.access_token,
        expires_at: now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME),
    })))
}
