//! The token path against DynamoDB Local, moto and the Graph emulator's identity platform:
//! a caller holding a stale read of a connection (its refresh token since replaced by a
//! sign-in) never marks it `needs_consent` and never overwrites its newer refresh token.

use graph_emulator::{Emulator, EmulatorConfig, DEMO_TENANT_ID, DEMO_USER_OID, DEMO_USER_UPN};
use graphwatch_shared::identity::IdentityClient;
use graphwatch_shared::store::{AuditKind, Connection, ConnectionStatus};
use graphwatch_shared::tokens::{self, Access, TokenError};
use graphwatch_testkit::Backend;
use serde_json::json;
use time::OffsetDateTime;

const TOKEN_ROUTE: &str = "POST /{tenant}/oauth2/v2.0/token";

struct Env {
    emulator: Emulator,
    backend: Backend,
    identity: IdentityClient,
}

/// The emulator, a table and a secret, and the demo user signed in.
async fn env() -> Env {
    let emulator = graph_emulator::start(
        EmulatorConfig {
            any_loopback_redirect: true,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let backend = Backend::new("tokens", &emulator, json!({}), &[]).await;
    let identity = IdentityClient::new(backend.http.clone(), &backend.config).unwrap();
    let env = Env {
        emulator,
        backend,
        identity,
    };
    env.sign_in().await;
    env
}

impl Env {
    /// Signs the demo user in (again), storing the connection as oauth-callback does.
    async fn sign_in(&self) {
        self.backend.connect(DEMO_TENANT_ID, DEMO_USER_OID, DEMO_USER_UPN).await;
    }

    async fn connection(&self) -> Connection {
        self.backend
            .store
            .get_connection(DEMO_TENANT_ID, DEMO_USER_OID)
            .await
            .unwrap()
            .unwrap()
    }

    /// An access token for `read`, the connection as the caller read it.
    async fn redeem(&self, read: Connection) -> Access {
        let b = &self.backend;
        tokens::redeem(&b.store, &self.identity, &b.secret, read).await.unwrap()
    }

    async fn access_token(&self) -> Result<tokens::ConnectionToken, TokenError> {
        let b = &self.backend;
        tokens::connection_access_token(&b.store, &self.identity, &b.secret, DEMO_TENANT_ID, DEMO_USER_OID).await
    }

    fn refused(&self) -> u64 {
        self.emulator.stats().count(TOKEN_ROUTE, 400)
    }

    async fn consent_lost_audits(&self) -> usize {
        let events = self
            .backend
            .store
            .audit_events(OffsetDateTime::now_utc())
            .await
            .unwrap();
        events.iter().filter(|e| e.kind == AuditKind::ConsentLost).count()
    }
}

/// Read → the user's tokens are revoked and the user signs in again → the stale token is
/// refused: the reconnected connection is not marked, and its newer token is used instead.
#[tokio::test]
async fn a_stale_refusal_never_marks_a_reconnected_connection() {
    let env = env().await;
    let stale = env.connection().await;
    env.emulator.revoke_refresh_tokens(DEMO_USER_OID).await.unwrap();
    env.sign_in().await;

    let access = env.redeem(stale.clone()).await;
    assert!(matches!(access, Access::Token(_)), "{access:?}");
    assert_eq!(env.refused(), 1, "the stale token was refused once");
    let stored = env.connection().await;
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_ne!(stored.sealed_refresh_token, stale.sealed_refresh_token);
    assert_eq!(env.consent_lost_audits().await, 0);
    env.access_token().await.expect("the stored refresh token works");
}

/// Read → the user signs in again → the stale (still valid) token is redeemed: its rotated
/// token is dropped and the sign-in's refresh token stays.
#[tokio::test]
async fn a_stale_rotation_never_overwrites_a_newer_refresh_token() {
    let env = env().await;
    let stale = env.connection().await;
    env.sign_in().await;
    let reconnected = env.connection().await;
    assert_ne!(reconnected.sealed_refresh_token, stale.sealed_refresh_token);

    let access = env.redeem(stale).await;
    assert!(matches!(access, Access::Token(_)), "{access:?}");
    assert_eq!(env.connection().await, reconnected, "the newer refresh token stays");

    // the fresh read's rotation is stored
    env.access_token().await.unwrap();
    let rotated = env.connection().await;
    assert_ne!(rotated.sealed_refresh_token, reconnected.sealed_refresh_token);
    assert!(rotated.updated_at > reconnected.updated_at);
}

/// Two callers read the connection, its tokens are revoked, both are refused: one marks it
/// and audits `consent_lost`, the other finds it marked; later calls ask nothing.
#[tokio::test]
async fn racing_refusals_mark_and_audit_once() {
    let env = env().await;
    let (a, b) = (env.connection().await, env.connection().await);
    env.emulator.revoke_refresh_tokens(DEMO_USER_OID).await.unwrap();

    assert!(matches!(env.redeem(a).await, Access::NeedsConsent { lost_now: true }));
    assert!(matches!(env.redeem(b).await, Access::NeedsConsent { lost_now: false }));
    assert_eq!(env.connection().await.status, ConnectionStatus::NeedsConsent);
    assert_eq!(env.consent_lost_audits().await, 1);
    assert_eq!(env.refused(), 2);

    assert!(matches!(env.access_token().await, Err(TokenError::NeedsConsent)));
    assert_eq!(env.refused(), 2, "a connection needing consent is not tried");
}

/// An unknown connection is an error of its own, and nothing is written for it.
#[tokio::test]
async fn an_unknown_connection_is_reported_and_not_created() {
    let env = env().await;
    let b = &env.backend;
    let result = tokens::access(&b.store, &env.identity, &b.secret, DEMO_TENANT_ID, "nobody").await;
    assert!(
        matches!(result, Err(TokenError::UnknownConnection { .. })),
        "{result:?}"
    );
    assert!(b
        .store
        .get_connection(DEMO_TENANT_ID, "nobody")
        .await
        .unwrap()
        .is_none());
}
