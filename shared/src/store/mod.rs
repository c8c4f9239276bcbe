//! The single-table DynamoDB repository.
//!
//! One table with `pk`/`sk`, two overloaded global secondary indexes (`gsi1`, `gsi2`),
//! a stream (`NEW_AND_OLD_IMAGES`) and TTL on `ttl`. Domain records are plain serde structs
//! ([`model`]); the store adds the keys and index attributes, and offers one method per
//! access pattern. [`Store`] is one type whose methods live with their entity: connections,
//! sign-in states, notifications, subscriptions, drives, scans and file results, audit. They
//! all stand on one core of plain and conditional writes, where a write that loses (state
//! replayed, lease held, duplicate notification, stale version) is an ordinary result
//! (`Option` / `bool`), not an error. The layout is documented in `docs/architecture.md`.

mod audit;
mod connections;
mod core;
mod drives;
mod keys;
pub mod model;
mod notifications;
mod scans;
mod states;
mod subscriptions;
mod table;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub use self::core::StoreError;
pub use keys::{shard_of, RENEWAL_SHARDS};
pub use model::*;
pub use table::{create_table, TableSpec, TABLE_SPEC};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The repository over one table.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// A repository over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}
