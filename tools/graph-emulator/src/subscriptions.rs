//! Change-notification subscriptions: create (with the validation handshake), renew,
//! reauthorize, delete, get and list; lifetimes, duplicates and the write limit.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::errors::GraphError;
use crate::graph::{user_drive_id, Caller};
use crate::notifications::{self, LifecycleEvent};
use crate::state::{fmt_time, AppState, Shared};

/// Graph sets shorter requested lifetimes to this minimum.
const MIN_LIFETIME: time::Duration = time::Duration::minutes(45);
/// Longest accepted `clientState`.
const MAX_CLIENT_STATE: usize = 128;

/// The kind of resource a subscription watches; decides its maximum lifetime and lifecycle events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    /// A OneDrive / SharePoint drive root (`driveItem`).
    DriveRoot,
    /// A SharePoint list.
    List,
    /// Outlook messages, events or contacts.
    Outlook,
    /// Users or groups.
    Directory,
    /// Teams chat or channel messages.
    TeamsMessages,
    /// Presence.
    Presence,
}

impl ResourceKind {
    /// Classifies a resource path (`/drives/{id}/root`, `me/messages`, ...).
    fn classify(resource: &str) -> Option<Self> {
        let r = resource.trim_matches('/').to_ascii_lowercase();
        let segments: Vec<&str> = r.split('/').collect();
        let last = *segments.last()?;
        Some(match segments.as_slice() {
            ["me", "drive", "root"] | ["drives", _, "root"] | ["users", _, "drive", "root"] => Self::DriveRoot,
            ["sites", _, "lists", _] => Self::List,
            ["users"] | ["groups"] => Self::Directory,
            _ if r.starts_with("communications/presences") => Self::Presence,
            _ if (r.starts_with("chats") || r.starts_with("teams")) && last.contains("messages") => Self::TeamsMessages,
            _ if (segments[0] == "me" || segments[0] == "users")
                && ["messages", "events", "contacts"].iter().any(|k| last.starts_with(k)) =>
            {
                Self::Outlook
            }
            _ => return None,
        })
    }

    /// Maximum lifetime in minutes (documented per resource).
    fn max_minutes(self, include_resource_data: bool) -> i64 {
        match self {
            Self::DriveRoot | Self::List => 42_300,
            Self::Outlook if include_resource_data => 1_440,
            Self::Outlook => 10_080,
            Self::Directory => 41_760,
            Self::TeamsMessages => 4_320,
            Self::Presence => 60,
        }
    }

    /// Whether Graph sends this lifecycle event for the resource (drives get only
    /// `reauthorizationRequired`).
    pub(crate) fn supports(self, event: LifecycleEvent) -> bool {
        match self {
            Self::DriveRoot | Self::List => event == LifecycleEvent::ReauthorizationRequired,
            _ => true,
        }
    }
}

/// A live subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub creator_id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: OffsetDateTime,
    pub include_resource_data: bool,
    pub kind: ResourceKind,
    /// The drive watched, for drive-root subscriptions.
    pub drive_id: Option<String>,
}

impl Subscription {
    pub(crate) fn json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": fmt_time(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": self.include_resource_data,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationQueryOptions": null,
            "notificationUrlAppId": null,
        })
    }
}

/// Subscription routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/subscriptions", post(create).get(list))
        .route("/v1.0/subscriptions/{id}", get(get_one).patch(renew).delete(delete))
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
}

/// Drops subscriptions whose expiration has passed (Graph deletes them).
fn purge_expired(shared: &Shared) {
    let mut st = shared.lock();
    let now = st.now();
    st.subscriptions.retain(|_, s| s.expiration > now);
}

/// Counts a subscription write against the per-app, per-tenant limit; 429 when over it.
fn count_write(shared: &Shared, caller: &Caller) -> Result<(), GraphError> {
    let window = time::Duration::try_from(shared.config.subscription_write_window).expect("window fits");
    let mut st = shared.lock();
    let now = st.now();
    let log = st
        .subscription_writes
        .entry((caller.app_id.clone(), caller.tenant_id.clone()))
        .or_default();
    while log.front().is_some_and(|t| *t <= now - window) {
        log.pop_front();
    }
    if log.len() >= shared.config.subscription_write_limit {
        let oldest = *log.front().expect("non-empty when over the limit");
        let wait = (oldest + window - now).whole_seconds().max(0) as u64 + 1;
        return Err(GraphError::throttled(wait));
    }
    log.push_back(now);
    Ok(())
}

fn not_found(id: &str) -> GraphError {
    GraphError::not_found(
        "ResourceNotFound",
        format!("The object was not found. Subscription '{id}' does not exist."),
    )
}

/// Checks a requested expiration: past → 400, beyond the maximum → 400, below 45 min → clamped.
fn checked_expiration(
    shared: &Shared,
    requested: &str,
    kind: ResourceKind,
    include_resource_data: bool,
) -> Result<OffsetDateTime, GraphError> {
    let requested = OffsetDateTime::parse(requested, &Rfc3339).map_err(|_| {
        GraphError::bad_request(
            "InvalidRequest",
            format!("expirationDateTime '{requested}' is not a valid ISO 8601 date and time."),
        )
    })?;
    let now = shared.now();
    if requested <= now {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            "Subscription expiration can only be in the future.",
        ));
    }
    let max = kind.max_minutes(include_resource_data);
    if requested > now + time::Duration::minutes(max) {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            format!("Subscription expiration can only be {max} minutes in the future."),
        ));
    }
    Ok(requested.max(now + MIN_LIFETIME))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    #[serde(default)]
    include_resource_data: bool,
}

fn required(value: Option<String>, name: &str) -> Result<String, GraphError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GraphError::bad_request("InvalidRequest", format!("The property '{name}' is required.")))
}

async fn create(
    State(shared): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateRequest>,
) -> Result<Response, GraphError> {
    count_write(&shared, &caller)?;
    purge_expired(&shared);
    let resource = required(req.resource, "resource")?;
    let change_type = required(req.change_type, "changeType")?;
    let notification_url = required(req.notification_url, "notificationUrl")?;
    let expiration = required(req.expiration_date_time, "expirationDateTime")?;
    let kind = ResourceKind::classify(&resource).ok_or_else(|| {
        GraphError::bad_request(
            "InvalidRequest",
            format!("Resource '{resource}' is not supported for change notifications."),
        )
    })?;
    if kind == ResourceKind::DriveRoot && change_type != "updated" {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            format!("ChangeType '{change_type}' is not supported for resource '{resource}'; drive items support only 'updated'."),
        ));
    }
    for url in std::iter::once(&notification_url).chain(req.lifecycle_notification_url.iter()) {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(GraphError::bad_request(
                "InvalidRequest",
                format!("The notification URL '{url}' must be an absolute HTTPS URL."),
            ));
        }
    }
    if req
        .client_state
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE)
    {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            format!("clientState cannot be more than {MAX_CLIENT_STATE} characters."),
        ));
    }
    let expiration = checked_expiration(&shared, &expiration, kind, req.include_resource_data)?;
    let drive_id = match kind {
        ResourceKind::DriveRoot => Some(resolve_drive(&shared, &caller, &resource)?),
        _ => None,
    };
    let normalized = resource.trim_matches('/').to_ascii_lowercase();
    let duplicate = shared.lock().subscriptions.values().any(|s| {
        s.app_id == caller.app_id
            && s.tenant_id == caller.tenant_id
            && s.resource.trim_matches('/').eq_ignore_ascii_case(&normalized)
            && s.change_type == change_type
            && s.notification_url == notification_url
    });
    if duplicate {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Conflict",
            "A subscription with the same resource, changeType and notificationUrl already exists for this application.",
        ));
    }
    for url in std::iter::once(&notification_url).chain(req.lifecycle_notification_url.iter()) {
        notifications::validate_endpoint(&shared, url)
            .await
            .map_err(|message| GraphError::bad_request("ValidationError", message))?;
    }
    let subscription = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: caller.app_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        creator_id: caller.user_oid.clone().unwrap_or_else(|| caller.app_id.clone()),
        resource,
        change_type,
        notification_url,
        lifecycle_url: req.lifecycle_notification_url,
        client_state: req.client_state,
        expiration,
        include_resource_data: req.include_resource_data,
        kind,
        drive_id,
    };
    let body = subscription.json();
    shared
        .lock()
        .subscriptions
        .insert(subscription.id.clone(), subscription);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The drive a drive-root resource names; the caller must be able to see it.
fn resolve_drive(shared: &Shared, caller: &Caller, resource: &str) -> Result<String, GraphError> {
    let segments: Vec<&str> = resource.trim_matches('/').split('/').collect();
    let drive_id = match segments.as_slice() {
        [me, ..] if me.eq_ignore_ascii_case("me") => user_drive_id(shared, &caller.tenant_id, caller.user()?)?,
        [users, user, ..] if users.eq_ignore_ascii_case("users") => user_drive_id(shared, &caller.tenant_id, user)?,
        [_, drive, ..] => drive.to_string(),
        _ => unreachable!("classified as a drive root"),
    };
    let st = shared.lock();
    crate::drive::visible_drive(&st, caller, &drive_id)?;
    Ok(drive_id)
}

/// Runs `f` on the caller's subscription `id`, or answers 404 `ResourceNotFound`.
fn with_own<T>(
    shared: &Shared,
    caller: &Caller,
    id: &str,
    f: impl FnOnce(&mut Subscription) -> T,
) -> Result<T, GraphError> {
    purge_expired(shared);
    let mut st = shared.lock();
    st.subscriptions
        .get_mut(id)
        .filter(|s| s.app_id == caller.app_id && s.tenant_id == caller.tenant_id)
        .map(f)
        .ok_or_else(|| not_found(id))
}

async fn get_one(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    with_own(&shared, &caller, &id, |s| s.json()).map(Json)
}

async fn list(State(shared): State<AppState>, caller: Caller) -> Json<Value> {
    purge_expired(&shared);
    let st = shared.lock();
    let value: Vec<Value> = st
        .subscriptions
        .values()
        .filter(|s| s.app_id == caller.app_id && s.tenant_id == caller.tenant_id)
        .map(|s| {
            let mut v = s.json();
            v.as_object_mut().expect("object").remove("@odata.context");
            v
        })
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
        "value": value,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenewRequest {
    expiration_date_time: Option<String>,
}

async fn renew(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<RenewRequest>,
) -> Result<Json<Value>, GraphError> {
    count_write(&shared, &caller)?;
    let (kind, include_data) = with_own(&shared, &caller, &id, |s| (s.kind, s.include_resource_data))?;
    let requested = required(req.expiration_date_time, "expirationDateTime")?;
    let expiration = checked_expiration(&shared, &requested, kind, include_data)?;
    with_own(&shared, &caller, &id, |s| {
        s.expiration = expiration;
        s.json()
    })
    .map(Json)
}

async fn reauthorize(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    count_write(&shared, &caller)?;
    with_own(&shared, &caller, &id, |_| StatusCode::NO_CONTENT)
}

async fn delete(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    count_write(&shared, &caller)?;
    with_own(&shared, &caller, &id, |_| ())?;
    shared.lock().subscriptions.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_classified_with_documented_lifetimes() {
        let cases = [
            ("/drives/b!x/root", 42_300),
            ("me/drive/root", 42_300),
            ("users/abc/drive/root", 42_300),
            ("sites/s/lists/l", 42_300),
            ("me/messages", 10_080),
            ("users/abc/events", 10_080),
            ("me/mailFolders('Inbox')/messages", 10_080),
            ("users", 41_760),
            ("groups", 41_760),
            ("chats/getAllMessages", 4_320),
            ("teams/t/channels/c/messages", 4_320),
            ("communications/presences/abc", 60),
        ];
        for (resource, minutes) in cases {
            let kind = ResourceKind::classify(resource).unwrap_or_else(|| panic!("{resource}"));
            assert_eq!(kind.max_minutes(false), minutes, "{resource}");
        }
        assert_eq!(ResourceKind::Outlook.max_minutes(true), 1_440);
        assert_eq!(ResourceKind::classify("me/planner/tasks"), None);
    }
}
