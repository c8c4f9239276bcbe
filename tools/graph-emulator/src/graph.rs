//! Graph v1.0 basics: access-token checks, `/me`, `/users/{id}/drive`, `/drives/{id}`, unknown routes.

use axum::extract::{FromRequestParts, OriginalUri, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::{GRAPH_APP_ID, GRAPH_RESOURCE};
use crate::errors::GraphError;
use crate::state::{AppState, Shared};

/// Who is calling Graph, from a verified access token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    /// The signed-in user's object id; `None` for app-only tokens.
    pub user_oid: Option<String>,
}

impl Caller {
    /// The signed-in user's object id, or 400 for app-only tokens (as Graph answers `/me`).
    pub(crate) fn user(&self) -> Result<&str, GraphError> {
        self.user_oid.as_deref().ok_or_else(|| {
            GraphError::bad_request(
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, GraphError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
        authenticate(shared, token)
    }
}

/// Verifies a Graph access token: signature by a published key, audience, lifetime.
fn authenticate(shared: &Shared, token: &str) -> Result<Caller, GraphError> {
    let (published, now) = {
        let st = shared.lock();
        (st.published_keys.clone(), st.now().unix_timestamp())
    };
    let claims = shared
        .keys
        .verify(token, &published)
        .map_err(|e| GraphError::unauthenticated(format!("Access token validation failure. Invalid token: {e}.")))?;
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud != GRAPH_RESOURCE && aud != GRAPH_APP_ID && aud != format!("{GRAPH_RESOURCE}/") {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid audience.",
        ));
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= now {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if claims["nbf"].as_i64().unwrap_or(0) > now + 300 {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token is not yet valid.",
        ));
    }
    let text = |k: &str| claims[k].as_str().map(str::to_string);
    Ok(Caller {
        tenant_id: text("tid").unwrap_or_default(),
        app_id: text("appid").or_else(|| text("azp")).unwrap_or_default(),
        user_oid: (text("idtyp").as_deref() != Some("app")).then(|| text("oid")).flatten(),
    })
}

/// `/me`, `/me/drive`, `/users/{id}/drive`, `/drives/{id}`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/drive", get(my_drive))
        .route("/v1.0/users/{user}/drive", get(user_drive))
        .route("/v1.0/drives/{drive}", get(drive))
}

async fn me(State(shared): State<AppState>, caller: Caller) -> Result<Json<Value>, GraphError> {
    let oid = caller.user()?;
    let (_, user) = shared
        .user(Some(&caller.tenant_id), oid)
        .ok_or_else(|| user_not_found(oid))?;
    let (given, surname) = user.display_name.split_once(' ').unwrap_or((&user.display_name, ""));
    Ok(Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": given,
        "surname": surname,
        "jobTitle": null,
        "mail": user.upn,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "userPrincipalName": user.upn,
        "id": user.oid,
    })))
}

fn user_not_found(user: &str) -> GraphError {
    GraphError::not_found(
        "Request_ResourceNotFound",
        format!("Resource '{user}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// The drive id of a user (object id or UPN) in the caller's tenant.
pub(crate) fn user_drive_id(shared: &Shared, tenant: &str, user: &str) -> Result<String, GraphError> {
    let (_, u) = shared.user(Some(tenant), user).ok_or_else(|| user_not_found(user))?;
    u.drive_id
        .clone()
        .ok_or_else(|| GraphError::not_found("ResourceNotFound", "User's mysite not found."))
}

async fn my_drive(State(shared): State<AppState>, caller: Caller) -> Result<Json<Value>, GraphError> {
    let drive_id = user_drive_id(&shared, &caller.tenant_id, caller.user()?)?;
    drive_json(&shared, &caller, &drive_id).map(Json)
}

async fn user_drive(
    State(shared): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let drive_id = user_drive_id(&shared, &caller.tenant_id, &user)?;
    drive_json(&shared, &caller, &drive_id).map(Json)
}

async fn drive(
    State(shared): State<AppState>,
    caller: Caller,
    Path(drive_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    drive_json(&shared, &caller, &drive_id).map(Json)
}

fn drive_json(shared: &Shared, caller: &Caller, drive_id: &str) -> Result<Value, GraphError> {
    let st = shared.lock();
    let drive = crate::drive::visible_drive(&st, caller, drive_id)?;
    Ok(drive.json(&shared.base_url))
}

/// Unknown Graph paths: 400 `BadRequest` as Graph answers an unknown segment.
pub(crate) async fn unknown_segment(OriginalUri(uri): OriginalUri) -> GraphError {
    let segment = uri.path().rsplit('/').next().unwrap_or_default().to_string();
    GraphError::bad_request("BadRequest", format!("Resource not found for the segment '{segment}'."))
}
