//! Access tokens of one invocation: each connection's refresh token is redeemed once, through
//! [`graphwatch_shared::tokens`] (the one token path), and the answer shared by every task of
//! the invocation that needs it. A connection needing consent (or unknown) leaves its
//! subscriptions alone; one whose token cannot be had now leaves them for a later run.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use graphwatch_shared::identity::AccessToken;
use graphwatch_shared::tokens::{self, TokenError};
use tokio::sync::OnceCell;

use crate::run::Run;
use crate::App;

/// An access token for a connection, or why there is none.
#[derive(Clone)]
pub(crate) enum Access {
    /// A fresh access token.
    Token(AccessToken),
    /// The user must sign in again (or the connection is unknown): its subscriptions wait.
    NeedsConsent,
    /// No token now (secret, table or token endpoint failing): retried by a later run.
    Unavailable,
}

/// Tenant id and user object id of a connection.
type ConnectionKey = (String, String);

/// One invocation's access tokens, by connection.
#[derive(Default)]
pub(crate) struct Tokens(Mutex<HashMap<ConnectionKey, Arc<OnceCell<Access>>>>);

impl App {
    /// An access token for a connection, fetched once per invocation.
    pub(crate) async fn access(&self, run: &Run, tenant_id: &str, user_oid: &str) -> Access {
        let cell = run
            .tokens
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((tenant_id.to_owned(), user_oid.to_owned()))
            .or_default()
            .clone();
        cell.get_or_init(|| self.fetch_access(run, tenant_id, user_oid))
            .await
            .clone()
    }

    /// Redeems the connection's refresh token through [`tokens::access`], the one token path.
    async fn fetch_access(&self, run: &Run, tenant_id: &str, user_oid: &str) -> Access {
        let secret = match self.secrets.get().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "app secret unavailable");
                return Access::Unavailable;
            }
        };
        match tokens::access(&self.store, &self.identity, &secret, tenant_id, user_oid).await {
            Ok(tokens::Access::Token(token)) => Access::Token(token.access_token),
            Ok(tokens::Access::NeedsConsent { lost_now }) => {
                if lost_now {
                    run.summary.consent_lost.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(tenant_id, user_oid, "connection needs consent: its subscriptions wait");
                Access::NeedsConsent
            }
            Err(TokenError::UnknownConnection { .. }) => {
                tracing::warn!(
                    tenant_id,
                    user_oid,
                    "subscriptions of an unknown connection are left alone"
                );
                Access::NeedsConsent
            }
            Err(e) => {
                tracing::error!(tenant_id, user_oid, error = %e, "no access token");
                Access::Unavailable
            }
        }
    }
}
