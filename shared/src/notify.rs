//! The Graph webhook protocol: validation handshake, notification payloads, clientState
//! checks, lifecycle events and dedupe keys. Pure functions; the graph-webhook function
//! does the I/O.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest `validationToken` answered; Graph's are far shorter.
pub const MAX_VALIDATION_TOKEN_LEN: usize = 4096;

/// Longest clientState Graph accepts.
pub const MAX_CLIENT_STATE_LEN: usize = 128;

/// Why a handshake token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Longer than [`MAX_VALIDATION_TOKEN_LEN`] bytes.
    #[error("validation token is too long")]
    TooLong,
    /// Contains control characters (it is echoed back as text).
    #[error("validation token contains control characters")]
    ControlCharacters,
}

/// Checks a URL-decoded `validationToken` before it is echoed back.
pub fn check_validation_token(token: &str) -> Result<&str, HandshakeError> {
    if token.len() > MAX_VALIDATION_TOKEN_LEN {
        Err(HandshakeError::TooLong)
    } else if token.chars().any(char::is_control) {
        Err(HandshakeError::ControlCharacters)
    } else {
        Ok(token)
    }
}

/// A delivery from Graph: `{"value": [...], "validationTokens": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationBatch {
    /// The notifications.
    pub value: Vec<ChangeNotification>,
    /// Present for rich notifications (with resource data): JWTs to validate.
    #[serde(default)]
    pub validation_tokens: Option<Vec<String>>,
}

/// A lifecycle event of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// Access must be reauthorized (or the subscription renewed) or it will be removed.
    ReauthorizationRequired,
    /// Graph removed the subscription: recreate it and delta-sync the gap.
    SubscriptionRemoved,
    /// Notifications were lost: resync the resource.
    Missed,
    /// An event this version does not know; accepted and ignored.
    #[serde(other)]
    Unknown,
}

/// One change or lifecycle notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    /// Optional notification id.
    #[serde(default)]
    pub id: Option<String>,
    /// The subscription it belongs to.
    pub subscription_id: String,
    /// The secret value set when the subscription was created.
    #[serde(default)]
    pub client_state: Option<String>,
    /// `created`, `updated` or `deleted` (absent on lifecycle events).
    #[serde(default)]
    pub change_type: Option<String>,
    /// The changed resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Tenant of the subscription.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Identity of the changed item (`id`, `@odata.etag`, ...), when Graph sends it.
    #[serde(default)]
    pub resource_data: Option<serde_json::Value>,
    /// Set on lifecycle notifications.
    #[serde(default)]
    pub lifecycle_event: Option<LifecycleEvent>,
}

impl ChangeNotification {
    /// The id of the changed item, when Graph sent resource data.
    pub fn resource_id(&self) -> Option<&str> {
        self.resource_data.as_ref()?.get("id")?.as_str()
    }

    /// A key that is the same for redeliveries of this notification and different for other
    /// changes: hex SHA-256 of subscription, resource, change type and the item's id and
    /// etag. `None` when the notification carries no item identity (drive notifications):
    /// two such notifications cannot be told apart, and their effect (marking the drive
    /// pending) is idempotent anyway.
    pub fn dedupe_key(&self) -> Option<String> {
        let data = self.resource_data.as_ref();
        let field = |name: &str| data.and_then(|d| d.get(name)).and_then(|v| v.as_str());
        let identity = [self.id.as_deref(), field("id"), field("@odata.etag")];
        if identity.iter().all(Option::is_none) {
            return None;
        }
        let mut h = Sha256::new();
        for part in [
            Some(self.subscription_id.as_str()),
            self.resource.as_deref(),
            self.change_type.as_deref(),
        ]
        .into_iter()
        .chain(identity)
        {
            h.update(part.unwrap_or("").as_bytes());
            h.update([0]);
        }
        Some(hex(&h.finalize()))
    }
}

/// Hex SHA-256 of a clientState, as stored in the subscription record.
pub fn client_state_sha256(client_state: &str) -> String {
    hex(&Sha256::digest(client_state.as_bytes()))
}

/// Whether a presented clientState hashes to the stored one (compared in constant time).
pub fn client_state_matches(presented: Option<&str>, stored_sha256: &str) -> bool {
    let Some(presented) = presented.filter(|p| p.len() <= MAX_CLIENT_STATE_LEN) else {
        return false;
    };
    let presented = client_state_sha256(presented);
    presented.as_bytes().ct_eq(stored_sha256.as_bytes()).into()
}

/// The drive id in a drive resource path (`/drives/{id}/root`, `drives/{id}/...`).
pub fn drive_id_of(resource: &str) -> Option<&str> {
    let rest = resource.trim_start_matches('/');
    let rest = rest.strip_prefix("drives/").or_else(|| rest.strip_prefix("Drives/"))?;
    rest.split('/').next().filter(|id| !id.is_empty())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_are_checked_before_echo() {
        assert_eq!(
            check_validation_token("Validation: Testing client"),
            Ok("Validation: Testing client")
        );
        assert_eq!(check_validation_token(&"a".repeat(4096)).map(str::len), Ok(4096));
        assert_eq!(check_validation_token(&"a".repeat(4097)), Err(HandshakeError::TooLong));
        assert_eq!(
            check_validation_token("a\r\nSet-Cookie: x"),
            Err(HandshakeError::ControlCharacters)
        );
        assert_eq!(
            check_validation_token("a\u{7f}"),
            Err(HandshakeError::ControlCharacters)
        );
    }

    #[test]
    fn client_state_is_compared_by_hash() {
        let stored = client_state_sha256("s3cret");
        assert!(client_state_matches(Some("s3cret"), &stored));
        assert!(!client_state_matches(Some("s3cret "), &stored));
        assert!(!client_state_matches(None, &stored));
        assert!(!client_state_matches(
            Some(&"x".repeat(129)),
            &client_state_sha256(&"x".repeat(129))
        ));
        assert_eq!(stored.len(), 64);
    }

    #[test]
    fn payloads_parse_as_graph_sends_them() {
        let batch: NotificationBatch = serde_json::from_str(
            r#"{"value":[
              {"subscriptionId":"s1","clientState":"c","changeType":"updated","resource":"drives/b!x/root",
               "tenantId":"t","subscriptionExpirationDateTime":"2026-12-01T00:00:00Z"},
              {"subscriptionId":"s2","clientState":"c","lifecycleEvent":"reauthorizationRequired","tenantId":"t"},
              {"subscriptionId":"s3","lifecycleEvent":"somethingNew"}
            ],"validationTokens":["a.b.c"]}"#,
        )
        .unwrap();
        assert_eq!(batch.value.len(), 3);
        assert_eq!(
            batch.value[1].lifecycle_event,
            Some(LifecycleEvent::ReauthorizationRequired)
        );
        assert_eq!(batch.value[2].lifecycle_event, Some(LifecycleEvent::Unknown));
        assert_eq!(batch.validation_tokens.as_deref(), Some(&["a.b.c".to_owned()][..]));
        assert!(serde_json::from_str::<NotificationBatch>(r#"{"value":[{"clientState":"c"}]}"#).is_err());
        assert!(serde_json::from_str::<NotificationBatch>(r#"{"value":{}}"#).is_err());
    }

    #[test]
    fn dedupe_keys_need_an_item_identity() {
        let n = |json: &str| serde_json::from_str::<ChangeNotification>(json).unwrap();
        let drive = n(r#"{"subscriptionId":"s","changeType":"updated","resource":"drives/d/root"}"#);
        assert_eq!(drive.dedupe_key(), None);
        let mail = r#"{"subscriptionId":"s","changeType":"created","resource":"Users/u/Messages/m1",
                      "resourceData":{"id":"m1","@odata.etag":"W/\"1\""}}"#;
        let key = n(mail).dedupe_key().unwrap();
        assert_eq!(key, n(mail).dedupe_key().unwrap(), "stable for redeliveries");
        assert_ne!(
            key,
            n(&mail.replace("W/\\\"1\\\"", "W/\\\"2\\\"")).dedupe_key().unwrap(),
            "new etag, new change"
        );
        assert_eq!(n(mail).resource_id(), Some("m1"));
    }

    #[test]
    fn drive_ids_come_from_drive_resources() {
        assert_eq!(drive_id_of("/drives/b!abc/root"), Some("b!abc"));
        assert_eq!(drive_id_of("drives/b!abc/items/1"), Some("b!abc"));
        assert_eq!(drive_id_of("me/drive/root"), None);
        assert_eq!(drive_id_of("Users/u/Messages"), None);
        assert_eq!(drive_id_of("/drives//root"), None);
    }
}
