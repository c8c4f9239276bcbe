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
//!
//! Modules, one job each: `connect` starts a sign-in, `callback` finishes it, `drive` makes
//! sure the user's drive is watched, and `failure` turns every refused step into its answer.
//! This file holds the constants, the [`App`] and the routing of a request to its handler.

mod callback;
mod connect;
mod drive;
mod failure;

use graphwatch_shared::config::Config;
use graphwatch_shared::graph::GraphClient;
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::IdentityClient;
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::{AuditEvent, AuditKind, Store};
use lambda_http::http::header::ACCEPT;
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::failure::Failure;

/// How long a sign-in may take from `/connect` to the callback.
pub const STATE_TTL_SECONDS: i64 = 600;
/// Longest `return_to` accepted.
pub const MAX_RETURN_TO_LEN: usize = 512;
/// Path of the route that starts a sign-in.
pub const CONNECT_PATH: &str = "/connect";

pub use graphwatch_shared::clients::StartError;

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

    /// Appends one audit event (connections and subscriptions both leave a trail).
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
