//! Graph resources as graphwatch reads and writes them, and subscription lifetimes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The signed-in user (`GET /me`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// User principal name.
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

/// A OneDrive / SharePoint drive (`GET /me/drive`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drive {
    /// Drive id.
    pub id: String,
    /// `personal`, `business` or `documentLibrary`.
    #[serde(default)]
    pub drive_type: Option<String>,
}

/// A request to create a change-notification subscription.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription {
    /// Change types, e.g. `updated`.
    pub change_type: String,
    /// Where Graph delivers change notifications.
    pub notification_url: String,
    /// Where Graph delivers lifecycle notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_notification_url: Option<String>,
    /// The watched resource, e.g. `/drives/{id}/root`.
    pub resource: String,
    /// Requested expiration (at most the resource's [`max_lifetime`] ahead).
    #[serde(with = "time::serde::rfc3339")]
    pub expiration_date_time: OffsetDateTime,
    /// Secret echoed in every notification (at most 128 characters).
    pub client_state: String,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("resource", &self.resource)
            .field("change_type", &self.change_type)
            .field("expiration_date_time", &self.expiration_date_time)
            .finish_non_exhaustive()
    }
}

/// A subscription as Graph returns it.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphSubscription {
    /// Subscription id.
    pub id: String,
    /// The watched resource.
    pub resource: String,
    /// Change types.
    pub change_type: String,
    /// Where change notifications go.
    pub notification_url: String,
    /// Where lifecycle notifications go.
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    /// The clientState, when Graph returns it.
    #[serde(default)]
    pub client_state: Option<String>,
    /// When Graph drops the subscription unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expiration_date_time: OffsetDateTime,
}

impl std::fmt::Debug for GraphSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSubscription")
            .field("id", &self.id)
            .field("resource", &self.resource)
            .field("change_type", &self.change_type)
            .field("expiration_date_time", &self.expiration_date_time)
            .finish_non_exhaustive()
    }
}

/// Where an item sits (`parentReference`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReference {
    /// Drive id.
    #[serde(default)]
    pub drive_id: Option<String>,
    /// Parent item id.
    #[serde(default)]
    pub id: Option<String>,
    /// Parent path (`/drive/root:/Photos`).
    #[serde(default)]
    pub path: Option<String>,
}

/// The `file` facet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFacet {
    /// MIME type as Graph reports it.
    #[serde(default)]
    pub mime_type: Option<String>,
}

/// A drive item from a delta page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    /// Item id.
    pub id: String,
    /// Name (absent on some deleted items).
    #[serde(default)]
    pub name: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Content tag: changes when the content changes.
    #[serde(default)]
    pub c_tag: Option<String>,
    /// Entity tag: changes when anything changes.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// Where the item sits.
    #[serde(default)]
    pub parent_reference: Option<ItemReference>,
    /// Present on files.
    #[serde(default)]
    pub file: Option<FileFacet>,
    /// Present on folders.
    #[serde(default)]
    pub folder: Option<Value>,
    /// Present on the drive root.
    #[serde(default)]
    pub root: Option<Value>,
    /// Present on deleted items.
    #[serde(default)]
    pub deleted: Option<Value>,
    /// Last change.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_modified_date_time: Option<OffsetDateTime>,
}

impl DriveItem {
    /// Whether the item was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Whether the item is a file (not a folder, the root or a deletion).
    pub fn is_file(&self) -> bool {
        self.file.is_some() && !self.is_deleted()
    }
}

/// One page of a drive delta query.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeltaPage {
    /// Changed items (an item may repeat; the last occurrence wins).
    #[serde(rename = "value")]
    pub items: Vec<DriveItem>,
    /// The next page, when there is one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// On the last page: where the next delta query starts.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// Bytes of a downloaded file (or range of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The bytes received.
    pub bytes: Vec<u8>,
    /// Whether the server answered a range (206).
    pub partial: bool,
    /// Full size of the file, from `Content-Range` (ranged) or the body (whole).
    pub total_size: Option<u64>,
}

/// One request of a `$batch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRequest {
    /// Id, unique within the batch.
    pub id: String,
    /// HTTP method.
    pub method: String,
    /// URL relative to the Graph version root, e.g. `/subscriptions/{id}`.
    pub url: String,
    /// JSON body, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Headers (`Content-Type: application/json` is added when there is a body).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl BatchRequest {
    /// A request with an optional JSON body.
    pub fn new(id: impl Into<String>, method: &str, url: impl Into<String>, body: Option<Value>) -> Self {
        let mut headers = std::collections::BTreeMap::new();
        if body.is_some() {
            headers.insert("Content-Type".into(), "application/json".into());
        }
        Self {
            id: id.into(),
            method: method.into(),
            url: url.into(),
            body,
            headers,
        }
    }
}

/// One answer of a `$batch`; each request can fail or be throttled on its own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchResponse {
    /// Id of the request it answers.
    pub id: String,
    /// HTTP status.
    pub status: u16,
    /// Response headers (e.g. `Retry-After`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// JSON body, if any.
    #[serde(default)]
    pub body: Option<Value>,
}

/// The longest lifetime Graph grants a subscription to `resource` (without resource data),
/// or `None` for a resource graphwatch does not know.
///
/// Drive roots and SharePoint lists 42,300 minutes; Outlook messages, events and contacts
/// 10,080; users and groups 41,760; Teams chat and channel messages 4,320; presence 60.
pub fn max_lifetime(resource: &str) -> Option<Duration> {
    let r = resource.trim_matches('/').to_ascii_lowercase();
    let segments: Vec<&str> = r.split('/').collect();
    let last = *segments.last()?;
    let minutes = match segments.as_slice() {
        ["me", "drive", "root"] | ["drives", _, "root"] | ["users", _, "drive", "root"] | ["sites", _, "lists", _] => {
            42_300
        }
        ["users"] | ["groups"] => 41_760,
        _ if r.starts_with("communications/presences") => 60,
        _ if (r.starts_with("chats") || r.starts_with("teams")) && last.contains("messages") => 4_320,
        [first, ..]
            if (*first == "me" || *first == "users")
                && ["messages", "events", "contacts"].iter().any(|k| last.starts_with(k)) =>
        {
            10_080
        }
        _ => return None,
    };
    Some(Duration::minutes(minutes))
}

/// The expiration to ask for when creating or renewing a subscription to `resource` at
/// `now`: the maximum lifetime minus a safety margin (a tenth of it, at most an hour) that
/// absorbs clock skew between us and Graph.
pub fn subscription_expiration(resource: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let max = max_lifetime(resource)?;
    Some(now + max - (max / 10_i32).min(Duration::hours(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_follow_the_documented_table() {
        let cases = [
            ("/drives/b!x/root", 42_300),
            ("me/drive/root", 42_300),
            ("users/abc/drive/root", 42_300),
            ("sites/s/lists/l", 42_300),
            ("me/messages", 10_080),
            ("users/abc/events", 10_080),
            ("me/contacts", 10_080),
            ("me/mailFolders('Inbox')/messages", 10_080),
            ("users", 41_760),
            ("groups", 41_760),
            ("chats/getAllMessages", 4_320),
            ("teams/t/channels/c/messages", 4_320),
            ("communications/presences/abc", 60),
        ];
        for (resource, minutes) in cases {
            assert_eq!(max_lifetime(resource), Some(Duration::minutes(minutes)), "{resource}");
        }
        assert_eq!(max_lifetime("me/planner/tasks"), None);
    }

    #[test]
    fn expiration_keeps_a_margin_below_the_maximum() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            subscription_expiration("/drives/d/root", now),
            Some(now + Duration::minutes(42_300 - 60))
        );
        assert_eq!(
            subscription_expiration("communications/presences/x", now),
            Some(now + Duration::minutes(54))
        );
        assert_eq!(subscription_expiration("nothing/known", now), None);
    }
}
