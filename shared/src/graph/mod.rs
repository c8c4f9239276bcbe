//! A small typed Microsoft Graph client on reqwest.
//!
//! - the user and their drive (`/me`, `/me/drive`);
//! - subscriptions: create, get, list, renew (`PATCH`), reauthorize, delete;
//! - drive delta pages (`410 Gone` → [`GraphError::Gone`] with the resync `Location`);
//! - file content: the pre-authenticated download URL (the `302` is not followed) and
//!   ranged downloads from it (no bearer token is sent there);
//! - `$batch` of up to 20 requests.
//!
//! Every call honours `Retry-After` on 429 and 503 with a bounded wait and a bounded number
//! of retries ([`RetryPolicy`]); a longer `Retry-After` is returned to the caller as
//! [`GraphError::Throttled`] instead of being slept through.

mod model;

use std::time::Duration;

use reqwest::header::{CONTENT_RANGE, LOCATION, RANGE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

pub use model::*;

use crate::identity::AccessToken;

/// Most requests one `$batch` may hold.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// How throttled (429), unavailable (5xx) and failed-to-connect calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest single wait; a longer `Retry-After` ends the call with [`GraphError::Throttled`].
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three retries, waiting at most 5 s each: fits in an HTTP API request.
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_secs(5),
        }
    }
}

/// A failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 404: the resource (subscription, item, drive) does not exist.
    #[error("not found ({code})")]
    NotFound {
        /// Graph's error code.
        code: String,
    },
    /// 409: e.g. a subscription with the same resource, changeType and notificationUrl exists.
    #[error("conflict ({code})")]
    Conflict {
        /// Graph's error code.
        code: String,
    },
    /// 410: the delta token is no longer valid; resync from `location`.
    #[error("gone: resync required")]
    Gone {
        /// Where to restart (the `Location` header).
        location: Option<String>,
    },
    /// 429 (or 503) still answered after the allowed retries, or a `Retry-After` longer than we wait.
    #[error("throttled (retry after {retry_after:?})")]
    Throttled {
        /// Graph's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// 401: the access token is missing, expired or refused.
    #[error("unauthorized ({code})")]
    Unauthorized {
        /// Graph's error code.
        code: String,
    },
    /// Another 4xx.
    #[error("HTTP {status} {code}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Graph's error code.
        code: String,
        /// Graph's message.
        message: String,
    },
    /// Network failure or 5xx after the allowed retries.
    #[error("Graph unavailable: {0}")]
    Transient(String),
    /// An answer that is not what the API says (bad JSON, missing header).
    #[error("unexpected Graph answer: {0}")]
    Protocol(String),
}

impl GraphError {
    /// Whether retrying later may succeed (throttling, 5xx, network).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient(_))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response.headers().get(name)?.to_str().ok().map(str::to_owned)
}

fn network(e: reqwest::Error) -> GraphError {
    // without_url: pre-authenticated download URLs carry a credential in their query
    GraphError::Transient(e.without_url().to_string())
}

/// Maps an unsuccessful answer to its error.
async fn failure(response: reqwest::Response) -> GraphError {
    let status = response.status();
    let retry = retry_after(&response);
    let location = header(&response, LOCATION);
    let detail = response
        .json::<ErrorBody>()
        .await
        .map(|b| b.error)
        .unwrap_or(ErrorDetail {
            code: String::new(),
            message: String::new(),
        });
    match status {
        StatusCode::NOT_FOUND => GraphError::NotFound { code: detail.code },
        StatusCode::CONFLICT => GraphError::Conflict { code: detail.code },
        StatusCode::GONE => GraphError::Gone { location },
        StatusCode::UNAUTHORIZED => GraphError::Unauthorized { code: detail.code },
        StatusCode::TOO_MANY_REQUESTS => GraphError::Throttled { retry_after: retry },
        s if s.is_server_error() => GraphError::Transient(format!("HTTP {} {}", s.as_u16(), detail.code)),
        s => GraphError::Rejected {
            status: s.as_u16(),
            code: detail.code,
            message: detail.message,
        },
    }
}

/// A Microsoft Graph client for one Graph base URL (`https://graph.microsoft.com/v1.0`).
/// Calls take the caller's access token, so one client serves every connection.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
}

impl GraphClient {
    /// A client of `graph_base_url` (including the version) with the default [`RetryPolicy`].
    /// `http` should come from [`crate::clients::http_client`].
    pub fn new(http: reqwest::Client, graph_base_url: &str) -> Self {
        Self {
            http,
            base_url: graph_base_url.trim_end_matches('/').to_owned(),
            retry: RetryPolicy::default(),
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// An absolute URL for a path (`/me`) or a link Graph returned (`@odata.nextLink`,
    /// a deltaLink); links outside the Graph base are refused so that a tampered stored
    /// link cannot send our bearer token elsewhere.
    fn url(&self, path_or_link: &str) -> Result<String, GraphError> {
        if path_or_link.starts_with('/') {
            Ok(format!("{}{path_or_link}", self.base_url))
        } else if path_or_link.starts_with(&format!("{}/", self.base_url)) {
            Ok(path_or_link.to_owned())
        } else {
            Err(GraphError::Protocol("a link outside the Graph base URL".into()))
        }
    }

    /// Sends a request, retrying 429/5xx answers (honouring `Retry-After` up to the policy's
    /// wait) and connection failures; returns the first other answer.
    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&AccessToken>,
        body: Option<&Value>,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response, GraphError> {
        let mut attempt = 0;
        loop {
            let mut request = self.http.request(method.clone(), url);
            if let Some(token) = token {
                request = request.bearer_auth(token.secret());
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some((first, last)) = range {
                request = request.header(RANGE, format!("bytes={first}-{last}"));
            }
            let (wait, error) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Ok(response);
                    }
                    (retry_after(&response), failure(response).await)
                }
                // connection failures: the request never reached Graph
                Err(e) if e.is_connect() => (None, network(e)),
                Err(e) => return Err(network(e)),
            };
            let backoff = Duration::from_millis(200 * 2u64.pow(attempt) + rand::random_range(0..100));
            let wait = wait.unwrap_or(backoff);
            if attempt >= self.retry.max_retries || wait > self.retry.max_wait {
                return Err(match error {
                    GraphError::Transient(_) if wait > self.retry.max_wait => GraphError::Throttled {
                        retry_after: Some(wait),
                    },
                    other => other,
                });
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "Graph call retried");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends a request and decodes a successful JSON answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_or_link: &str,
        token: &AccessToken,
        body: Option<&Value>,
    ) -> Result<T, GraphError> {
        let url = self.url(path_or_link)?;
        let response = self.send(method, &url, Some(token), body, None).await?;
        if !response.status().is_success() {
            return Err(failure(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| GraphError::Protocol(e.without_url().to_string()))
    }

    /// Sends a request whose successful answer has no body (204).
    async fn call_no_content(&self, method: Method, path: &str, token: &AccessToken) -> Result<(), GraphError> {
        let url = self.url(path)?;
        let response = self.send(method, &url, Some(token), None, None).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure(response).await)
        }
    }

    /// The signed-in user (`GET /me`).
    pub async fn me(&self, token: &AccessToken) -> Result<User, GraphError> {
        self.call(Method::GET, "/me", token, None).await
    }

    /// The signed-in user's OneDrive (`GET /me/drive`); [`GraphError::NotFound`] when they have none.
    pub async fn my_drive(&self, token: &AccessToken) -> Result<Drive, GraphError> {
        self.call(Method::GET, "/me/drive", token, None).await
    }

    /// Creates a subscription (`POST /subscriptions`); Graph first runs the validation
    /// handshake against the notification URLs. [`GraphError::Conflict`] when the same
    /// resource, changeType and notificationUrl is already subscribed by this app.
    pub async fn create_subscription(
        &self,
        token: &AccessToken,
        request: &NewSubscription,
    ) -> Result<GraphSubscription, GraphError> {
        let body = serde_json::to_value(request).map_err(|e| GraphError::Protocol(e.to_string()))?;
        self.call(Method::POST, "/subscriptions", token, Some(&body)).await
    }

    /// A subscription by id (`GET /subscriptions/{id}`); [`GraphError::NotFound`] when gone.
    pub async fn get_subscription(&self, token: &AccessToken, id: &str) -> Result<GraphSubscription, GraphError> {
        self.call(Method::GET, &format!("/subscriptions/{id}"), token, None)
            .await
    }

    /// Every subscription of this app visible to the token (`GET /subscriptions`, all pages).
    pub async fn list_subscriptions(&self, token: &AccessToken) -> Result<Vec<GraphSubscription>, GraphError> {
        let mut all = Vec::new();
        let mut next = Some("/subscriptions".to_owned());
        while let Some(link) = next {
            let page: Collection<GraphSubscription> = self.call(Method::GET, &link, token, None).await?;
            all.extend(page.value);
            next = page.next_link;
        }
        Ok(all)
    }

    /// Renews a subscription to `expiration` (`PATCH /subscriptions/{id}`);
    /// [`GraphError::NotFound`] when Graph has dropped it (create a new one).
    pub async fn renew_subscription(
        &self,
        token: &AccessToken,
        id: &str,
        expiration: OffsetDateTime,
    ) -> Result<GraphSubscription, GraphError> {
        let expiration = expiration
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| GraphError::Protocol(e.to_string()))?;
        let body = json!({ "expirationDateTime": expiration });
        self.call(Method::PATCH, &format!("/subscriptions/{id}"), token, Some(&body))
            .await
    }

    /// Reauthorizes a subscription (`POST /subscriptions/{id}/reauthorize`), after a
    /// `reauthorizationRequired` lifecycle event.
    pub async fn reauthorize_subscription(&self, token: &AccessToken, id: &str) -> Result<(), GraphError> {
        self.call_no_content(Method::POST, &format!("/subscriptions/{id}/reauthorize"), token)
            .await
    }

    /// Deletes a subscription (`DELETE /subscriptions/{id}`).
    pub async fn delete_subscription(&self, token: &AccessToken, id: &str) -> Result<(), GraphError> {
        self.call_no_content(Method::DELETE, &format!("/subscriptions/{id}"), token)
            .await
    }

    /// One page of a drive delta query: `link` is a path to start from
    /// (`/drives/{id}/root/delta`) or a stored `@odata.nextLink` / `@odata.deltaLink`.
    /// [`GraphError::Gone`] carries the `Location` to resync from.
    pub async fn delta_page(&self, token: &AccessToken, link: &str) -> Result<DeltaPage, GraphError> {
        self.call(Method::GET, link, token, None).await
    }

    /// The short-lived pre-authenticated download URL of a file: the `Location` of
    /// `GET /drives/{drive}/items/{item}/content`, whose `302` is not followed.
    pub async fn content_download_url(
        &self,
        token: &AccessToken,
        drive_id: &str,
        item_id: &str,
    ) -> Result<String, GraphError> {
        let url = self.url(&format!("/drives/{drive_id}/items/{item_id}/content"))?;
        let response = self.send(Method::GET, &url, Some(token), None, None).await?;
        match response.status() {
            s if s.is_redirection() => {
                header(&response, LOCATION).ok_or_else(|| GraphError::Protocol("a redirect without Location".into()))
            }
            s if s.is_success() => Err(GraphError::Protocol(
                "content was served directly instead of redirected".into(),
            )),
            _ => Err(failure(response).await),
        }
    }

    /// Downloads from a pre-authenticated URL (no bearer token is sent): the whole file, or
    /// bytes `first..=last` of it (206 with `Content-Range`; a server that ignores the
    /// range answers the whole file, with `partial == false`).
    pub async fn download(&self, url: &str, range: Option<(u64, u64)>) -> Result<Download, GraphError> {
        self.download_capped(url, range, u64::MAX)
            .await?
            .ok_or_else(|| GraphError::Protocol("download larger than memory".into()))
    }

    /// Like [`GraphClient::download`], reading the body chunk by chunk and giving up once it
    /// is longer than `max_bytes`: `None` then (the file is over a size cap), so no more than
    /// `max_bytes` and one chunk are ever held.
    pub async fn download_capped(
        &self,
        url: &str,
        range: Option<(u64, u64)>,
        max_bytes: u64,
    ) -> Result<Option<Download>, GraphError> {
        let mut response = self.send(Method::GET, url, None, None, range).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(failure(response).await);
        }
        let partial = status == StatusCode::PARTIAL_CONTENT;
        let range_total = header(&response, CONTENT_RANGE)
            .and_then(|v| v.rsplit_once('/').and_then(|(_, total)| total.parse::<u64>().ok()));
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        let total_size = if partial { range_total } else { Some(bytes.len() as u64) };
        Ok(Some(Download {
            bytes,
            partial,
            total_size,
        }))
    }

    /// Sends up to [`MAX_BATCH_REQUESTS`] requests as one `POST /$batch`; answers come back
    /// in the order of `requests`, each with its own status (each can be throttled).
    ///
    /// # Panics
    /// When `requests` holds more than [`MAX_BATCH_REQUESTS`].
    pub async fn batch(
        &self,
        token: &AccessToken,
        requests: &[BatchRequest],
    ) -> Result<Vec<BatchResponse>, GraphError> {
        assert!(
            requests.len() <= MAX_BATCH_REQUESTS,
            "a $batch holds at most {MAX_BATCH_REQUESTS} requests"
        );
        #[derive(Deserialize)]
        struct Answers {
            responses: Vec<BatchResponse>,
        }
        let body = json!({ "requests": requests });
        let mut answers: Answers = self.call(Method::POST, "/$batch", token, Some(&body)).await?;
        answers
            .responses
            .sort_by_key(|a| requests.iter().position(|r| r.id == a.id).unwrap_or(usize::MAX));
        Ok(answers.responses)
    }
}
