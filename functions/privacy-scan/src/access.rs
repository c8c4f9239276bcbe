//! Access tokens for a pass: one cached token per connection for the invocation, refreshed
//! through [`graphwatch_shared::tokens`] when close to expiry or when Graph refuses it, and
//! Graph calls that retry once with a fresh token on 401.

use std::future::Future;

use graphwatch_shared::graph::GraphError;
use graphwatch_shared::identity::AccessToken;
use graphwatch_shared::tokens;
use time::OffsetDateTime;

use crate::{App, Error};

/// A token this close to its expiry is refreshed before use.
const TOKEN_MARGIN: time::Duration = time::Duration::minutes(2);

/// The connection a drive belongs to: `(tenant id, user object id)`.
pub(crate) type ConnKey = (String, String);

/// A cached access token of one connection.
pub(crate) struct CachedToken {
    token: AccessToken,
    expires_at: OffsetDateTime,
}

impl App {
    /// Calls Graph with the connection's access token, refreshing it once on 401.
    pub(crate) async fn graph_call<T, F, Fut>(&self, conn: &ConnKey, call: F) -> Result<T, Error>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, GraphError>>,
    {
        let token = self.access_token(conn, None).await?;
        match call(token.clone()).await {
            Err(GraphError::Unauthorized { .. }) => {
                tracing::info!("access token refused (expired?): refreshing");
                let fresh = self.access_token(conn, Some(&token)).await?;
                Ok(call(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    /// The connection's cached access token, refreshed when close to expiry or when `stale`
    /// (a token Graph refused) is still the cached one. Refreshes are serialised: the refresh
    /// token rotates on every use.
    pub(crate) async fn access_token(&self, conn: &ConnKey, stale: Option<&AccessToken>) -> Result<AccessToken, Error> {
        let mut cache = self.tokens.lock().await;
        if let Some(cached) = cache.get(conn) {
            let refused = stale.is_some_and(|s| s.secret() == cached.token.secret());
            if !refused && cached.expires_at - TOKEN_MARGIN > OffsetDateTime::now_utc() {
                return Ok(cached.token.clone());
            }
        }
        let secret = self.secrets.get().await?;
        let fresh = tokens::connection_access_token(&self.store, &self.identity, &secret, &conn.0, &conn.1).await?;
        let token = fresh.access_token.clone();
        cache.insert(
            conn.clone(),
            CachedToken {
                token: fresh.access_token,
                expires_at: fresh.expires_at,
            },
        );
        Ok(token)
    }
}
