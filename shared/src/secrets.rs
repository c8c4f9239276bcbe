//! The app secret in AWS Secrets Manager, cached in-process.
//!
//! The secret is one JSON document (shape documented in `docs/secrets.md`):
//! `{"client_id", "client_secret", "sealing_keys": {"<version>": "<base64 32 bytes>"},
//! "current_sealing_key"?, "slack_webhook_url"?, "teams_webhook_url"?}`.
//! Reads are cached for a TTL (default 300 s); [`SecretsCache::reload`] forces a re-read,
//! for example after the identity platform rejects the client secret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::crypt::{CryptError, Sealer};

/// Why the app secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager could not be reached or refused the read.
    #[error("Secrets Manager read of {secret_id} failed: {detail}")]
    Unavailable {
        /// The secret id.
        secret_id: String,
        /// The SDK's error text.
        detail: String,
    },
    /// The secret is not JSON of the documented shape.
    #[error("secret {secret_id} is malformed: {detail}")]
    Malformed {
        /// The secret id.
        secret_id: String,
        /// What is wrong (never the secret's value).
        detail: String,
    },
}

/// The app secret's contents.
#[derive(Clone, Deserialize)]
pub struct AppSecret {
    /// Application (client) id of the Azure app registration.
    pub client_id: String,
    /// Client secret of the app registration.
    pub client_secret: String,
    /// Base64 AES-256 keys by version, for sealing stored credentials.
    pub sealing_keys: BTreeMap<u32, String>,
    /// Version that seals new values; the highest version when absent.
    #[serde(default)]
    pub current_sealing_key: Option<u32>,
    /// Slack incoming-webhook URL for high-risk findings.
    #[serde(default)]
    pub slack_webhook_url: Option<String>,
    /// Microsoft Teams incoming-webhook URL for high-risk findings.
    #[serde(default)]
    pub teams_webhook_url: Option<String>,
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSecret")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("sealing_key_versions", &self.sealing_keys.keys().collect::<Vec<_>>())
            .field("slack_webhook_url", &self.slack_webhook_url.as_ref().map(|_| "<set>"))
            .field("teams_webhook_url", &self.teams_webhook_url.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl AppSecret {
    /// Parses the secret's JSON text.
    pub fn parse(secret_id: &str, text: &str) -> Result<Self, SecretsError> {
        let secret: Self = serde_json::from_str(text).map_err(|e| SecretsError::Malformed {
            secret_id: secret_id.into(),
            // serde_json's messages name fields and positions, never values
            detail: e.to_string(),
        })?;
        secret.sealer().map_err(|e| SecretsError::Malformed {
            secret_id: secret_id.into(),
            detail: e.to_string(),
        })?;
        Ok(secret)
    }

    /// The sealer built from the secret's keys.
    pub fn sealer(&self) -> Result<Sealer, CryptError> {
        let current = self
            .current_sealing_key
            .or_else(|| self.sealing_keys.keys().next_back().copied())
            .ok_or_else(|| CryptError::BadKey("sealing_keys is empty".into()))?;
        Sealer::from_base64(&self.sealing_keys, current)
    }
}

struct Cached {
    fetched_at: Instant,
    secret: Arc<AppSecret>,
}

/// Reads the app secret through an in-process TTL cache.
pub struct SecretsCache {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
}

impl SecretsCache {
    /// A cache over `secret_id` whose entries live for `ttl`.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The secret, from the cache while it is younger than the TTL.
    pub async fn get(&self) -> Result<Arc<AppSecret>, SecretsError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fetched_at.elapsed() < self.ttl) {
            return Ok(c.secret.clone());
        }
        let secret = Arc::new(self.fetch().await?);
        *cached = Some(Cached {
            fetched_at: Instant::now(),
            secret: secret.clone(),
        });
        Ok(secret)
    }

    /// Re-reads the secret now, whatever the cache holds.
    pub async fn reload(&self) -> Result<Arc<AppSecret>, SecretsError> {
        self.cached.lock().await.take();
        self.get().await
    }

    async fn fetch(&self) -> Result<AppSecret, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretsError::Unavailable {
                secret_id: self.secret_id.clone(),
                detail: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let text = out.secret_string().ok_or_else(|| SecretsError::Malformed {
            secret_id: self.secret_id.clone(),
            detail: "the secret has no SecretString".into(),
        })?;
        AppSecret::parse(&self.secret_id, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_keys_and_picks_highest_version() {
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let text = format!(r#"{{"client_id":"c","client_secret":"s","sealing_keys":{{"1":"{key}","2":"{key}"}}}}"#);
        let s = AppSecret::parse("id", &text).unwrap();
        assert_eq!(s.sealer().unwrap().current_version(), 2);
        assert!(
            !format!("{s:?}").contains("\"s\""),
            "Debug must not print the client secret"
        );

        let bad = r#"{"client_id":"c","client_secret":"s","sealing_keys":{"1":"short"}}"#;
        assert!(matches!(
            AppSecret::parse("id", bad),
            Err(SecretsError::Malformed { .. })
        ));
        let empty = r#"{"client_id":"c","client_secret":"s","sealing_keys":{}}"#;
        assert!(matches!(
            AppSecret::parse("id", empty),
            Err(SecretsError::Malformed { .. })
        ));
        assert!(matches!(
            AppSecret::parse("id", "not json"),
            Err(SecretsError::Malformed { .. })
        ));
    }
}
