//! The library every graphwatch Lambda function uses.
//!
//! - [`config`]: typed settings from the environment
//! - [`clients`]: the AWS SDK clients (with timeouts), the HTTP client and the start-up error
//! - [`store`]: the single-table DynamoDB repository
//! - [`secrets`]: the app secret from Secrets Manager, cached
//! - [`crypt`]: AES-256-GCM sealing of stored credentials
//! - [`http`]: API Gateway response helpers with stable error codes
//! - [`identity`]: Microsoft identity platform: sign-in URL, code and refresh grants, JWT checks
//! - [`graph`]: a small typed Microsoft Graph client with bounded retries
//! - [`notify`]: the Graph webhook protocol (handshake, payloads, clientState, dedupe keys)
//! - [`subscriptions`]: creating (or adopting) Graph subscriptions, pacing writes per tenant
//! - [`telemetry`]: structured JSON logs with request ids
//! - [`tokens`]: access tokens for a stored connection (refresh, store the rotated token)
//! - [`privacy`]: the privacy scanning engine (the `graphwatch-privacy` crate)

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

pub use graphwatch_privacy as privacy;
