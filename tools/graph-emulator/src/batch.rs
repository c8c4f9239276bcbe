//! JSON batching: `POST /v1.0/$batch` with up to 20 requests and `dependsOn`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tower::ServiceExt as _;

use crate::errors::GraphError;
use crate::state::AppState;

/// Most requests one batch may hold.
const MAX_BATCH: usize = 20;
/// Response headers copied into a batch response.
const KEPT_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::RETRY_AFTER,
    header::CONTENT_RANGE,
];

/// The `$batch` route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1.0/$batch", post(batch))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRequest {
    requests: Vec<BatchItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchItem {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("BadRequest", message)
}

async fn batch(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<BatchRequest>,
) -> Result<Json<Value>, GraphError> {
    if req.requests.is_empty() {
        return Err(bad("Invalid batch payload format: no requests."));
    }
    if req.requests.len() > MAX_BATCH {
        return Err(bad(format!(
            "Invalid batch payload format: the number of requests in a batch can't exceed {MAX_BATCH}."
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    for item in &req.requests {
        if seen.contains(&item.id.as_str()) {
            return Err(bad(format!(
                "Invalid batch payload format: duplicate request id '{}'.",
                item.id
            )));
        }
        if let Some(missing) = item.depends_on.iter().find(|d| !seen.contains(&d.as_str())) {
            return Err(bad(format!(
                "Invalid batch payload format: request '{}' depends on '{missing}', which is not an earlier request in the batch.",
                item.id
            )));
        }
        seen.push(&item.id);
    }
    let router = shared
        .router
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| GraphError::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", "Shutting down."))?;
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    for item in req.requests {
        let failed_dependency = item
            .depends_on
            .iter()
            .find(|d| !(200..300).contains(&statuses[d.as_str()]));
        let response = match failed_dependency {
            Some(dep) => json!({
                "id": item.id,
                "status": 424,
                "body": { "error": {
                    "code": "FailedDependency",
                    "message": format!("The request depends on request '{dep}', which failed."),
                }},
            }),
            None => run_one(router.clone(), &item, authorization.clone()).await,
        };
        statuses.insert(item.id, response["status"].as_u64().unwrap_or(500) as u16);
        responses.push(response);
    }
    Ok(Json(json!({ "responses": responses })))
}

/// Dispatches one batched request through the router, as if it came on its own.
async fn run_one(router: Router, item: &BatchItem, authorization: Option<header::HeaderValue>) -> Value {
    let error = |status: u16, message: String| {
        json!({ "id": item.id, "status": status,
                "body": { "error": { "code": "BadRequest", "message": message } } })
    };
    let url = item.url.trim();
    if url.contains("://") {
        return error(
            400,
            "Batch request URLs must be relative to the version (/me, /drives/{id}).".into(),
        );
    }
    let Ok(method) = item.method.to_ascii_uppercase().parse::<Method>() else {
        return error(400, format!("Invalid method '{}'.", item.method));
    };
    let uri = format!("/v1.0/{}", url.trim_start_matches('/'));
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(auth) = authorization {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    for (name, value) in &item.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match &item.body {
        Some(body) => {
            if !item.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
            }
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return error(400, format!("Invalid request: {e}.")),
    };
    let response = router.oneshot(request).await.expect("routers are infallible");
    let status = response.status().as_u16();
    let mut out_headers = Map::new();
    for name in KEPT_HEADERS {
        if let Some(v) = response.headers().get(&name).and_then(|v| v.to_str().ok()) {
            out_headers.insert(canonical(name.as_str()), v.into());
        }
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = json!({ "id": item.id, "status": status, "headers": out_headers });
    if !bytes.is_empty() {
        out["body"] = if is_json {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else {
            base64::engine::general_purpose::STANDARD.encode(&bytes).into()
        };
    }
    out
}

/// `content-type` → `Content-Type`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}
