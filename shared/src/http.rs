//! API Gateway (HTTP API, payload v2) response helpers.
//!
//! Errors are JSON `{"error": {"code": "...", "message": "..."}}` with a stable `code`
//! from [`ErrorCode`] and a fixed public message: internal details go to the logs, never
//! into a response.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// The stable error codes graphwatch's HTTP routes answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed (missing or invalid parameters).
    InvalidRequest,
    /// The OAuth `state` is unknown, expired or was already used.
    InvalidState,
    /// The identity platform refused the authorization code.
    CodeRejected,
    /// The ID token failed validation.
    IdTokenInvalid,
    /// The user's tenant may not connect to this deployment.
    TenantNotAllowed,
    /// The identity platform reported an error (for example, consent was denied).
    SignInFailed,
    /// A notification body is not valid JSON of the expected shape.
    InvalidPayload,
    /// The request body is larger than the route accepts.
    PayloadTooLarge,
    /// No such route.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A dependency (Graph, DynamoDB, Secrets Manager) failed; retrying may succeed.
    UpstreamUnavailable,
    /// An unexpected failure inside graphwatch.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidState
            | Self::CodeRejected
            | Self::InvalidPayload
            | Self::SignInFailed => StatusCode::BAD_REQUEST,
            Self::IdTokenInvalid => StatusCode::UNAUTHORIZED,
            Self::TenantNotAllowed => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The fixed, public description of the code.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is missing a parameter or has an invalid one.",
            Self::InvalidState => "This sign-in link is unknown, expired or already used. Start again from /connect.",
            Self::CodeRejected => "Microsoft rejected the sign-in code. Start again from /connect.",
            Self::IdTokenInvalid => "The identity token could not be verified. Start again from /connect.",
            Self::TenantNotAllowed => "Your organization is not allowed to connect to this deployment.",
            Self::SignInFailed => "Sign-in did not complete. Start again from /connect.",
            Self::InvalidPayload => "The request body is not a valid notification payload.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::NotFound => "No such route.",
            Self::MethodNotAllowed => "This route does not accept that method.",
            Self::UpstreamUnavailable => "A service graphwatch depends on is unavailable. Try again shortly.",
            Self::InternalError => "Something went wrong inside graphwatch.",
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: ErrorCode,
    message: &'a str,
}

/// A JSON error response with the code's status and public message.
pub fn error(code: ErrorCode) -> Response<Body> {
    error_with_message(code, code.default_message())
}

/// A JSON error response with a caller-chosen public message (never internal details).
pub fn error_with_message(code: ErrorCode, message: &str) -> Response<Body> {
    json(
        code.status(),
        &ErrorBody {
            error: ErrorDetail { code, message },
        },
    )
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let body = serde_json::to_string(body).expect("response bodies serialize to JSON");
    response(status, "application/json", body)
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", body.into())
}

/// An HTML response.
pub fn html(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    response(status, "text/html; charset=utf-8", body.into())
}

/// A 302 redirect to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("a redirect with a valid header builds")
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("a response with valid headers builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(r: &Response<Body>) -> serde_json::Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn errors_have_stable_codes_statuses_and_shape() {
        let cases = [
            (ErrorCode::InvalidState, 400, "invalid_state"),
            (ErrorCode::CodeRejected, 400, "code_rejected"),
            (ErrorCode::IdTokenInvalid, 401, "id_token_invalid"),
            (ErrorCode::TenantNotAllowed, 403, "tenant_not_allowed"),
            (ErrorCode::PayloadTooLarge, 413, "payload_too_large"),
            (ErrorCode::InvalidPayload, 400, "invalid_payload"),
            (ErrorCode::UpstreamUnavailable, 503, "upstream_unavailable"),
            (ErrorCode::InternalError, 500, "internal_error"),
        ];
        for (code, status, name) in cases {
            let r = error(code);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            let v = body_json(&r);
            assert_eq!(v["error"]["code"], name);
            assert_eq!(v["error"]["message"], code.default_message());
            assert_eq!(v.as_object().unwrap().len(), 1);
        }
    }

    #[test]
    fn redirect_and_text_helpers() {
        let r = redirect("/done");
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "/done");
        let t = text(StatusCode::OK, "token");
        assert_eq!(t.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert!(matches!(t.body(), Body::Text(s) if s == "token"));
    }
}
