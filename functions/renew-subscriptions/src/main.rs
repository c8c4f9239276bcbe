//! Lambda entry point of renew-subscriptions: wires the table, the secret and the HTTP
//! clients, then handles schedule and stream events until the deadline of each invocation.

use graphwatch_shared::clients::{self, SdkTimeouts};
use graphwatch_shared::config::Config;
use lambda_runtime::{service_fn, LambdaEvent};
use renew_subscriptions::App;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    graphwatch_shared::telemetry::init();
    let config = Config::from_env()?;
    let (store, secrets) = clients::store_and_secrets(&config, SdkTimeouts::STANDARD).await;
    let app = App::new(config, store, secrets)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = event.context.deadline();
        // boxed: under the runtime's own futures, a renewal run's would nest past the
        // compiler's query depth limit
        Box::pin(app.handle(event.payload, deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
