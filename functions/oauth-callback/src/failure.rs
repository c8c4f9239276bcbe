//! How a failed request is answered: a stable error code with a fixed public message, as
//! JSON or as a small HTML page for browsers. The details of what failed go to the logs
//! here, never into the response.

use graphwatch_shared::graph::GraphError;
use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::secrets::SecretsError;
use graphwatch_shared::store::StoreError;
use lambda_http::{Body, Response};

use crate::CONNECT_PATH;

/// A failed request: a stable code and a fixed public message (details are logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    code: ErrorCode,
    message: &'static str,
}

impl Failure {
    /// The code with its default public message.
    pub(crate) fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: code.default_message(),
        }
    }

    /// The code with a message that tells the user what to do.
    pub(crate) fn with_message(code: ErrorCode, message: &'static str) -> Self {
        Self { code, message }
    }

    /// A failed DynamoDB call: 503 when a retry may succeed, else 500.
    pub(crate) fn store(e: StoreError) -> Self {
        tracing::error!(error = %e, "DynamoDB call failed");
        Self::new(if e.is_transient() {
            ErrorCode::UpstreamUnavailable
        } else {
            ErrorCode::InternalError
        })
    }

    /// The app secret could not be read (503) or is malformed (500).
    pub(crate) fn secrets(e: SecretsError) -> Self {
        tracing::error!(error = %e, "app secret unavailable");
        Self::new(match e {
            SecretsError::Unavailable { .. } => ErrorCode::UpstreamUnavailable,
            SecretsError::Malformed { .. } => ErrorCode::InternalError,
        })
    }

    /// A failed Graph call at `step`: 503 when a retry may succeed, else 500.
    pub(crate) fn graph(step: &'static str, e: GraphError) -> Self {
        tracing::error!(step, error = %e, "Graph call failed");
        Self::new(if e.is_transient() {
            ErrorCode::UpstreamUnavailable
        } else {
            ErrorCode::InternalError
        })
    }

    /// The answer: an HTML page with a link to start again for browsers, else JSON.
    pub(crate) fn response(self, html: bool, public_base_url: &str) -> Response<Body> {
        if !html {
            return http::error_with_message(self.code, self.message);
        }
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>graphwatch: sign-in failed</title></head>\
             <body><h1>Sign-in did not complete</h1><p>{}</p><p><a href=\"{}{CONNECT_PATH}\">Start again</a></p>\
             <p><small>Error code: {}</small></p></body></html>",
            escape(self.message),
            escape(public_base_url),
            serde_json::to_value(self.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        http::html(self.code.status(), body)
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
