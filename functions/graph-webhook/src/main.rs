//! Lambda entry point of graph-webhook: wires the table and serves API Gateway requests.

use std::convert::Infallible;

use graph_webhook::App;
use graphwatch_shared::config::Config;
use graphwatch_shared::store::Store;
use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    graphwatch_shared::telemetry::init();
    let config = Config::from_env()?;
    let (dynamodb, _) = config.aws_clients().await;
    let app = App::new(Store::new(dynamodb, &config.table_name));
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(app.handle(req).await)
    }))
    .await
}
