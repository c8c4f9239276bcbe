//! Lambda entry point of privacy-scan: wires the table, the secret and the HTTP clients,
//! then handles schedule and stream events with the invocation's deadline.

use graphwatch_shared::config::Config;
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::Store;
use lambda_runtime::{service_fn, LambdaEvent};
use privacy_scan::App;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    graphwatch_shared::telemetry::init();
    let config = Config::from_env()?;
    let (dynamodb, secretsmanager) = config.aws_clients().await;
    let store = Store::new(dynamodb, &config.table_name);
    let secrets = SecretsCache::new(secretsmanager, &config.secret_id, config.secret_cache_ttl);
    let app = App::new(config, store, secrets)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = event.context.deadline();
        app.handle(event.payload, deadline)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
