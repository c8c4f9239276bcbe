//! The HTTP API on loopback: each request to a route of `template.yaml` becomes the API Gateway
//! HTTP API (payload 2.0) event API Gateway would send, handed to the function's handler; a
//! path without a route gets API Gateway's own 404. `POST /_dev/schedules/{name}` fires a
//! schedule now.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::future::BoxFuture;
use lambda_http::Body;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::Schedules;

/// Largest request body API Gateway HTTP APIs accept (10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A function behind HTTP routes, called in-process.
pub type HttpHandler = Arc<dyn Fn(lambda_http::Request) -> BoxFuture<'static, http::Response<Body>> + Send + Sync>;

/// What the API server dispatches to.
pub struct Api {
    /// Route key (`GET /connect`) → handler.
    pub routes: HashMap<String, HttpHandler>,
    /// Schedules fired by `POST /_dev/schedules/{name}`.
    pub schedules: Arc<Schedules>,
}

/// The axum router of the local API.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/_dev/schedules/{name}", post(fire_schedule))
        .fallback(invoke)
        .with_state(Arc::new(api))
}

async fn fire_schedule(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    match api.schedules.fire(&name).await {
        Some(Ok(result)) => (StatusCode::OK, axum::Json(result)).into_response(),
        Some(Err(e)) => (StatusCode::BAD_GATEWAY, axum::Json(json!({"error": e.to_string()}))).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such schedule", "schedules": api.schedules.names()})),
        )
            .into_response(),
    }
}

async fn invoke(State(api): State<Arc<Api>>, request: Request) -> Response {
    let key = format!("{} {}", request.method(), request.uri().path());
    let Some(handler) = api.routes.get(&key).cloned() else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({"message": "Request Entity Too Large"})),
        )
            .into_response();
    };
    let event = gateway_event(&key, &parts.uri, &parts.headers, &body);
    let lambda_request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not build the API Gateway event");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let response = handler(lambda_request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

/// The API Gateway HTTP API payload 2.0 event for a request.
fn gateway_event(route_key: &str, uri: &http::Uri, headers: &HeaderMap, body: &[u8]) -> Value {
    let mut joined: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split("; ").map(str::to_owned));
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value)
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v)
            })
            .or_insert_with(|| v.into_owned());
    }
    let (method, path) = route_key.split_once(' ').unwrap_or(("GET", "/"));
    let now = OffsetDateTime::now_utc();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": joined,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "body": if body.is_empty() { Value::Null } else { json!(body) },
        "isBase64Encoded": encoded,
    })
}
