//! The control API under `/_emulator/`, and the operations it shares with [`crate::Emulator`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::GRAPH_NOTIFICATION_APP_ID;
use crate::errors::ControlError;
use crate::faults::{self, Fault};
use crate::keys::KeySlot;
use crate::notifications::{self, Delivery};
use crate::state::{fmt_time, AppState, Shared, Stats};

/// The result of a drive change made through the control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemChange {
    /// The added or replaced item as Graph shows it (`None` after a delete).
    pub item: Option<Value>,
    /// Change notifications sent because of the change.
    pub deliveries: Vec<Delivery>,
}

/// Which issuer form a rich-notification validation token uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerVersion {
    /// `https://sts.windows.net/{tid}/` with `appid`.
    V1,
    /// `https://login.microsoftonline.com/{tid}/v2.0` with `azp`.
    #[default]
    V2,
}

/// What to put in a Graph rich-notification `validationTokens` JWT.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ValidationTokenSpec {
    /// Tenant (`tid`); the first configured tenant when absent.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Audience: the subscribing app's id; the first configured app when absent.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Issuer form.
    #[serde(default)]
    pub issuer: IssuerVersion,
    /// Signing key; the current signing key when absent.
    #[serde(default)]
    pub key: Option<KeySlot>,
    /// `kid` header override (e.g. an unpublished one).
    #[serde(default)]
    pub kid: Option<String>,
    /// Claims to set or (with `null`) remove after the defaults are filled in.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// A request to sign arbitrary claims (`POST /_emulator/jwt`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtSpec {
    /// Signing key; the current signing key when absent.
    #[serde(default)]
    pub key: Option<KeySlot>,
    /// `kid` header override.
    #[serde(default)]
    pub kid: Option<String>,
    /// The claims.
    pub claims: Value,
}

/// Adds or replaces a file and notifies the drive's subscribers.
pub(crate) async fn put_file(
    shared: &Shared,
    drive_id: &str,
    folder: &str,
    name: &str,
    content: Vec<u8>,
    mime: Option<String>,
) -> Result<ItemChange, ControlError> {
    let item = {
        let mut st = shared.lock();
        let now = st.now();
        let drive = drive_mut(&mut st, drive_id)?;
        let id = drive.upsert_file(folder, name, content, mime, now)?;
        drive.live_item_json(&id, &shared.base_url)
    };
    let deliveries = notifications::notify_drive_change(shared, drive_id).await;
    Ok(ItemChange { item, deliveries })
}

/// Deletes an item (and its children) and notifies the drive's subscribers.
pub(crate) async fn delete_item(shared: &Shared, drive_id: &str, item_id: &str) -> Result<ItemChange, ControlError> {
    {
        let mut st = shared.lock();
        let now = st.now();
        drive_mut(&mut st, drive_id)?.delete_item(item_id, now)?;
    }
    let deliveries = notifications::notify_drive_change(shared, drive_id).await;
    Ok(ItemChange { item: None, deliveries })
}

fn drive_mut<'a>(st: &'a mut crate::state::State, drive_id: &str) -> Result<&'a mut crate::drive::Drive, ControlError> {
    st.drives
        .get_mut(drive_id)
        .ok_or_else(|| ControlError::not_found(format!("drive {drive_id} not found")))
}

/// Signs `claims` with a key, putting `kid` (default: the key's own) in the header.
pub(crate) fn sign_jwt(shared: &Shared, key: Option<KeySlot>, kid: Option<&str>, claims: &Value) -> String {
    let slot = key.unwrap_or_else(|| shared.lock().signing_key);
    shared.keys.sign(slot, kid.unwrap_or(slot.kid()), claims)
}

/// Mints a Graph rich-notification validation token.
pub(crate) fn validation_token(shared: &Shared, spec: &ValidationTokenSpec) -> String {
    let tenant = spec
        .tenant_id
        .clone()
        .or_else(|| shared.config.tenants.first().map(|t| t.id.clone()))
        .unwrap_or_default();
    let app = spec
        .app_id
        .clone()
        .or_else(|| shared.config.apps.first().map(|a| a.client_id.clone()))
        .unwrap_or_default();
    let now = shared.now().unix_timestamp();
    let mut claims = json!({
        "aud": app,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": tenant,
    });
    match spec.issuer {
        IssuerVersion::V1 => {
            claims["iss"] = format!("https://sts.windows.net/{tenant}/").into();
            claims["appid"] = GRAPH_NOTIFICATION_APP_ID.into();
            claims["appidacr"] = "2".into();
            claims["ver"] = "1.0".into();
        }
        IssuerVersion::V2 => {
            claims["iss"] = format!("https://login.microsoftonline.com/{tenant}/v2.0").into();
            claims["azp"] = GRAPH_NOTIFICATION_APP_ID.into();
            claims["azpacr"] = "2".into();
            claims["ver"] = "2.0".into();
        }
    }
    let object = claims.as_object_mut().expect("claims are an object");
    for (k, v) in &spec.claims {
        if v.is_null() {
            object.remove(k);
        } else {
            object.insert(k.clone(), v.clone());
        }
    }
    sign_jwt(shared, spec.key, spec.kid.as_deref(), &claims)
}

/// Publishes the secondary key and signs with it from now on.
pub(crate) fn rotate_keys(shared: &Shared) -> Value {
    let mut st = shared.lock();
    st.signing_key = KeySlot::Secondary;
    st.published_keys = vec![KeySlot::Primary, KeySlot::Secondary];
    json!({
        "signing_kid": st.signing_key.kid(),
        "published": st.published_keys.iter().map(|k| k.kid()).collect::<Vec<_>>(),
    })
}

/// Moves the emulator clock forward (or back, with a negative value).
pub(crate) fn advance_clock(shared: &Shared, seconds: i64) -> String {
    let mut st = shared.lock();
    st.clock_offset += time::Duration::seconds(seconds);
    fmt_time(st.now())
}

/// Control routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/drives/{drive}/items", post(add_item).get(item_by_path))
        .route(
            "/_emulator/drives/{drive}/items/{item}",
            axum::routing::delete(remove_item),
        )
        .route("/_emulator/faults", post(inject_fault).delete(clear_faults))
        .route("/_emulator/deliveries", get(deliveries).delete(clear_deliveries))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/clock", get(clock).post(advance))
        .route("/_emulator/jwt", post(jwt))
        .route("/_emulator/validation-tokens", post(mint_validation_token))
        .route("/_emulator/keys/rotate", post(rotate))
        .route("/_emulator/subscriptions", get(subscriptions))
}

#[derive(Deserialize)]
struct AddItem {
    name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    content_base64: String,
    #[serde(default)]
    mime_type: Option<String>,
}

async fn add_item(
    State(shared): State<AppState>,
    Path(drive_id): Path<String>,
    Json(req): Json<AddItem>,
) -> Result<Response, ControlError> {
    let content = base64::engine::general_purpose::STANDARD
        .decode(req.content_base64.trim())
        .map_err(|e| ControlError::bad_request(format!("content_base64: {e}")))?;
    let change = put_file(&shared, &drive_id, &req.path, &req.name, content, req.mime_type).await?;
    Ok((StatusCode::CREATED, Json(change)).into_response())
}

async fn item_by_path(
    State(shared): State<AppState>,
    Path(drive_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ControlError> {
    let path = q.get("path").map(String::as_str).unwrap_or("/");
    let mut st = shared.lock();
    let drive = drive_mut(&mut st, &drive_id)?;
    drive
        .item_by_path(path)
        .and_then(|id| drive.live_item_json(&id, &shared.base_url))
        .map(Json)
        .ok_or_else(|| ControlError::not_found(format!("no item at {path}")))
}

async fn remove_item(
    State(shared): State<AppState>,
    Path((drive_id, item_id)): Path<(String, String)>,
) -> Result<Json<ItemChange>, ControlError> {
    delete_item(&shared, &drive_id, &item_id).await.map(Json)
}

async fn inject_fault(State(shared): State<AppState>, Json(fault): Json<Fault>) -> Result<Json<Value>, ControlError> {
    faults::apply(&shared, fault).await.map(Json)
}

async fn clear_faults(State(shared): State<AppState>) -> StatusCode {
    faults::clear(&shared);
    StatusCode::NO_CONTENT
}

async fn deliveries(State(shared): State<AppState>) -> Json<Vec<Delivery>> {
    Json(shared.lock().deliveries.clone())
}

async fn clear_deliveries(State(shared): State<AppState>) -> StatusCode {
    shared.lock().deliveries.clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(shared): State<AppState>) -> Json<Stats> {
    Json(Stats::from_state(&shared.lock()))
}

async fn clock(State(shared): State<AppState>) -> Json<Value> {
    Json(json!({ "now": fmt_time(shared.now()) }))
}

#[derive(Deserialize)]
struct Advance {
    advance_secs: i64,
}

async fn advance(State(shared): State<AppState>, Json(req): Json<Advance>) -> Json<Value> {
    Json(json!({ "now": advance_clock(&shared, req.advance_secs) }))
}

async fn jwt(State(shared): State<AppState>, Json(spec): Json<JwtSpec>) -> Json<Value> {
    Json(json!({ "token": sign_jwt(&shared, spec.key, spec.kid.as_deref(), &spec.claims) }))
}

async fn mint_validation_token(State(shared): State<AppState>, Json(spec): Json<ValidationTokenSpec>) -> Json<Value> {
    Json(json!({ "token": validation_token(&shared, &spec) }))
}

async fn rotate(State(shared): State<AppState>) -> Json<Value> {
    Json(rotate_keys(&shared))
}

async fn subscriptions(State(shared): State<AppState>) -> Json<Value> {
    let st = shared.lock();
    Json(Value::Array(st.subscriptions.values().map(|s| s.json()).collect()))
}
