//! What `graphwatch dev` writes to `.graphwatch/dev.json` and `graphwatch report` reads: the
//! running local stack's URLs and ids.

use serde::{Deserialize, Serialize};

/// What `.graphwatch/dev.json` holds: the running stack's URLs and ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DevInfo {
    /// Base URL of the HTTP API.
    pub api: String,
    /// Graph base URL (with `/v1.0`).
    pub graph: String,
    /// Identity platform base URL.
    pub login: String,
    /// DynamoDB Local endpoint.
    pub dynamodb: String,
    /// Secrets Manager (moto) endpoint.
    pub secretsmanager: String,
    /// Table name.
    pub table: String,
    /// App secret id.
    pub secret_id: String,
    /// Demo tenant id.
    pub tenant_id: String,
    /// Demo app's client id.
    pub client_id: String,
    /// Demo user's UPN.
    pub user: String,
    /// Demo user's drive id.
    pub drive_id: String,
}
