//! Structured JSON logs for the Lambda functions.
//!
//! One JSON object per line on stdout (CloudWatch keeps them as they are), with the level,
//! target, fields and the current spans; `lambda_runtime` opens a span per invocation that
//! carries the `requestId`, so every line of an invocation names its request.
//! `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) sets the level, `info` by default.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber; call once at the top of `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .map_err(|_| ())
                .and_then(|level| EnvFilter::try_new(level.to_lowercase()).map_err(|_| ()))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .init();
}
