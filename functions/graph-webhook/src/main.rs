//! Lambda entry point of graph-webhook: wires the table and serves API Gateway requests.
//!
//! The AWS clients (whose TLS trust store takes milliseconds to load) are built in a
//! background task started before the runtime asks for its first event, so that work
//! overlaps the Runtime API round trip instead of lengthening the init phase.

use std::convert::Infallible;

use graph_webhook::App;
use graphwatch_shared::config::Config;
use graphwatch_shared::store::Store;
use lambda_http::{service_fn, Request};
use tokio::sync::OnceCell;

static APP: OnceCell<App> = OnceCell::const_new();

async fn app(config: &Config) -> &'static App {
    APP.get_or_init(|| async {
        let (dynamodb, _) = config.aws_clients().await;
        App::new(Store::new(dynamodb, &config.table_name))
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    graphwatch_shared::telemetry::init();
    let config: &'static Config = Box::leak(Box::new(Config::from_env()?));
    tokio::spawn(app(config));
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(app(config).await.handle(req).await)
    }))
    .await
}
