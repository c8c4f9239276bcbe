//! Lambda entry point of graph-webhook: wires the table, the secret and the identity
//! platform's keys, and serves API Gateway requests.
//!
//! The AWS and HTTP clients (whose TLS trust stores take milliseconds to load) are built in
//! a background task started before the runtime asks for its first event, so that work
//! overlaps the Runtime API round trip instead of lengthening the init phase, and the
//! validation handshake, which needs none of them, never waits for it.

use std::convert::Infallible;

use graph_webhook::App;
use graphwatch_shared::clients::{self, SdkTimeouts};
use graphwatch_shared::config::Config;
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::identity::Jwks;
use lambda_http::{service_fn, Request};
use tokio::sync::OnceCell;

static APP: OnceCell<App> = OnceCell::const_new();

async fn app(config: &Config) -> Result<&'static App, reqwest::Error> {
    APP.get_or_try_init(|| async {
        // Graph waits 3 s for the answer: the tight profile bounds every DynamoDB call
        let (store, secrets) = clients::store_and_secrets(config, SdkTimeouts::WEBHOOK).await;
        // Graph signs validation tokens with the identity platform's common keys.
        let jwks = Jwks::new(clients::http_client()?, &config.login_base_url, "common");
        Ok(App::new(store, secrets, jwks))
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    graphwatch_shared::telemetry::init();
    let config: &'static Config = Box::leak(Box::new(Config::from_env()?));
    tokio::spawn(app(config));
    lambda_http::run(service_fn(move |req: Request| async move {
        if let Some(response) = graph_webhook::answer_statelessly(&req) {
            return Ok::<_, Infallible>(response);
        }
        Ok(match app(config).await {
            Ok(app) => app.handle(req).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client");
                http::error(ErrorCode::InternalError)
            }
        })
    }))
    .await
}
