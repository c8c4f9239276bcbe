//! The library every graphwatch Lambda function uses, in layers that only look down (a module
//! uses only modules of the layers below its own; `tests/layers.rs` checks it, and
//! `docs/architecture.md` draws it):
//!
//! 1. [`config`]: typed settings from the environment, and nothing else
//! 2. [`crypt`]: AES-256-GCM sealing of stored credentials; [`http`]: API Gateway response
//!    helpers with stable error codes; [`telemetry`]: structured JSON logs with request ids
//! 3. [`store`]: the single-table DynamoDB repository; [`secrets`]: the app secret from Secrets
//!    Manager, cached
//! 4. [`clients`]: builds every client from the settings (AWS SDK clients with timeouts, the
//!    store and the secrets cache on them, the HTTP client) and owns the start-up error
//! 5. [`identity`]: Microsoft identity platform: sign-in URL, code and refresh grants, JWT
//!    checks; [`notify`]: the Graph webhook protocol (handshake, payloads, clientState, dedupe keys)
//! 6. [`graph`]: a small typed Microsoft Graph client with bounded retries
//! 7. [`tokens`]: the one path that redeems a stored refresh token; [`subscriptions`]:
//!    creating (or adopting) Graph subscriptions, pacing writes per tenant
//!
//! The privacy engine is a crate of its own (`graphwatch-privacy`) that this one does not use:
//! only `privacy-scan` and the CLI compile it.

pub mod clients;
pub mod config;
pub mod crypt;
pub mod graph;
pub mod http;
pub mod identity;
pub mod notify;
pub mod secrets;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod tokens;
