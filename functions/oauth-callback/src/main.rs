//! Lambda entry point of oauth-callback: wires the table, the secret and the HTTP clients,
//! then serves API Gateway requests.

use std::convert::Infallible;

use graphwatch_shared::clients::{self, SdkTimeouts};
use graphwatch_shared::config::Config;
use lambda_http::{service_fn, Request};
use oauth_callback::App;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    graphwatch_shared::telemetry::init();
    let config = Config::from_env()?;
    let (store, secrets) = clients::store_and_secrets(&config, SdkTimeouts::STANDARD).await;
    let app = App::new(config, store, secrets)?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(app.handle(req).await)
    }))
    .await
}
