//! graph-webhook: receives Microsoft Graph deliveries on `POST /webhooks/graph` and
//! `POST /webhooks/lifecycle`.
//!
//! - A request with `validationToken` is the subscription handshake: answered at once with
//!   the decoded token as `text/plain`, before any other work.
//! - Otherwise the body is a batch of change and lifecycle notifications. Each is checked
//!   (known subscription, clientState by SHA-256 in constant time, tenant) and recorded:
//!   drive changes mark the drive pending (the table stream wakes the scanner), other
//!   resources keep a notification record, lifecycle events set the subscription's `action`
//!   for the renewal function. Redeliveries are deduplicated.
//! - Rich notifications carry `validationTokens`: every one must pass (signature against the
//!   identity platform's keys, `aud` = our app id, issuer, Graph's app as `azp`/`appid`,
//!   expiry) or the whole batch is rejected and audited.
//! - 202 once everything accepted is recorded; 503 when a write failed (nothing is lost:
//!   Graph retries). Rejected items never change the answer, so forgers learn nothing.
//!
//! The work is split in three: `handler` (HTTP, the reads a delivery needs, the answer),
//! [`plan`] (pure: the delivery and its subscriptions → the effects to apply) and `apply`
//! (the effects written to the table, failures counted and their dedupe marks forgotten).

mod apply;
mod handler;
pub mod plan;

pub use handler::{answer_statelessly, App, MAX_BODY_BYTES};
pub use plan::{Outcome, RejectReason, STAMP_INTERVAL};
