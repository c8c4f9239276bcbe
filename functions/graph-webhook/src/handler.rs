//! The HTTP face of the webhook: routes, the validation handshake, the body's size and
//! shape, the rich-notification validation tokens, and the answer. A delivery that passes
//! is read (its subscriptions, in one batched get), planned ([`crate::plan`]) and applied
//! ([`crate::apply`]); one log line per delivery tells what it did.

use std::time::Instant;

use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::Jwks;
use graphwatch_shared::notify::{self, NotificationBatch};
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::Store;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::apply::apply;
use crate::plan::{self, Outcome};

/// Largest delivery body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The function's state: the table, and what rich notifications are checked with (the app
/// id from the secret, the identity platform's signing keys).
pub struct App {
    store: Store,
    secrets: SecretsCache,
    jwks: Jwks,
}

impl App {
    /// A handler over `store`, checking validation tokens with `secrets` and `jwks`.
    pub fn new(store: Store, secrets: SecretsCache, jwks: Jwks) -> Self {
        Self { store, secrets, jwks }
    }

    /// Answers one API Gateway request.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        if let Some(response) = answer_statelessly(&req) {
            return response;
        }
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            tracing::warn!(bytes = body.len(), "delivery body too large");
            return http::error(ErrorCode::PayloadTooLarge);
        }
        let batch: NotificationBatch = match serde_json::from_slice(body) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(problem = %e, "delivery is not a notification batch");
                return http::error(ErrorCode::InvalidPayload);
            }
        };
        let started = Instant::now();
        let outcome = self.process(&batch, OffsetDateTime::now_utc()).await;
        tracing::info!(
            notifications = batch.value.len(),
            accepted = outcome.accepted,
            duplicates = outcome.duplicates,
            lifecycle = outcome.lifecycle,
            drives_marked = outcome.drives_marked,
            rejected_unknown_subscription = outcome.rejected_unknown_subscription,
            rejected_client_state = outcome.rejected_client_state,
            rejected_tenant = outcome.rejected_tenant,
            rejected_validation_token = outcome.rejected_validation_token,
            failed_writes = outcome.failed_writes,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "delivery processed"
        );
        if outcome.failed_writes > 0 {
            http::error(ErrorCode::UpstreamUnavailable)
        } else {
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(Body::Empty)
                .expect("an empty 202 builds")
        }
    }

    /// Checks and records a batch: validation tokens, the subscriptions read, then the
    /// [`plan::plan`] applied.
    pub async fn process(&self, batch: &NotificationBatch, now: OffsetDateTime) -> Outcome {
        if let Some(tokens) = &batch.validation_tokens {
            match self.check_validation_tokens(tokens).await {
                Ok(()) => {}
                Err(TokenCheck::Retry) => return Outcome::retry(),
                Err(TokenCheck::Refused(check)) => return apply(&self.store, plan::refused(batch, check, now)).await,
            }
        }
        let ids: Vec<&str> = batch.value.iter().map(|n| n.subscription_id.as_str()).collect();
        match self.store.get_subscriptions(&ids).await {
            Ok(subscriptions) => apply(&self.store, plan::plan(batch, &subscriptions, now)).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot read subscriptions");
                Outcome::retry()
            }
        }
    }

    /// Checks every validation token of a rich notification batch.
    async fn check_validation_tokens(&self, tokens: &[String]) -> Result<(), TokenCheck> {
        if tokens.is_empty() {
            return Err(TokenCheck::Refused("present but empty"));
        }
        let app = self.secrets.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the app secret");
            TokenCheck::Retry
        })?;
        for token in tokens {
            if let Err(e) = self.jwks.validate_graph_validation_token(token, &app.client_id).await {
                if e.is_transient() {
                    tracing::error!(error = %e, "cannot fetch the identity platform's keys");
                    return Err(TokenCheck::Retry);
                }
                tracing::warn!(check = e.check(), "validation token refused");
                return Err(TokenCheck::Refused(e.check()));
            }
        }
        Ok(())
    }
}

/// Answers what needs no state: unknown routes and methods, and the validation handshake
/// (answered before any other work, as Graph requires). `None` for a notification delivery.
pub fn answer_statelessly(req: &Request) -> Option<Response<Body>> {
    let path = req.uri().path();
    if !(path.ends_with("/webhooks/graph") || path.ends_with("/webhooks/lifecycle")) {
        return Some(http::error(ErrorCode::NotFound));
    }
    if req.method() != Method::POST {
        return Some(http::error(ErrorCode::MethodNotAllowed));
    }
    let query = req.uri().query().unwrap_or("");
    let (_, token) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "validationToken")?;
    Some(match notify::check_validation_token(&token) {
        Ok(token) => http::text(StatusCode::OK, token),
        Err(e) => {
            tracing::warn!(problem = %e, "validation handshake refused");
            http::error(ErrorCode::InvalidRequest)
        }
    })
}

/// Why validation tokens did not pass.
enum TokenCheck {
    /// The secret or the keys could not be read: answer 503 so Graph retries.
    Retry,
    /// A token failed the named check.
    Refused(&'static str),
}
