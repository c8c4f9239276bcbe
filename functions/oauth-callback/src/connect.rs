//! `GET /connect`: starts a sign-in. It checks that `return_to` stays on this site, stores a
//! one-time state (state, PKCE verifier, nonce) and sends the browser to the identity
//! platform's authorize endpoint.

use graphwatch_shared::http::{self, ErrorCode};
use graphwatch_shared::store::OAuthState;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::failure::Failure;
use crate::{App, MAX_RETURN_TO_LEN, STATE_TTL_SECONDS};

/// `return_to` if it is a same-site relative path: starts with one `/`, no backslash, no
/// control character, none of these hidden behind percent-encoding, and resolving to our
/// own origin. Everything else could send the user to another site after sign-in.
fn safe_return_to(raw: &str) -> Option<&str> {
    if raw.len() > MAX_RETURN_TO_LEN || !raw.starts_with('/') {
        return None;
    }
    let mut candidate = raw.to_owned();
    // a few rounds catch double and triple encoding
    for _ in 0..4 {
        if candidate.starts_with("//") || candidate.contains('\\') || candidate.chars().any(char::is_control) {
            return None;
        }
        let decoded = percent_encoding::percent_decode_str(&candidate)
            .decode_utf8()
            .ok()?
            .into_owned();
        if decoded == candidate {
            break;
        }
        candidate = decoded;
    }
    let base = url::Url::parse("https://graphwatch.invalid/").expect("a fixed URL parses");
    let resolved = base.join(raw).ok()?;
    (resolved.origin() == base.origin()).then_some(raw)
}

impl App {
    /// `GET /connect`: stores a one-time sign-in state and redirects to the authorize endpoint.
    pub(crate) async fn connect(&self, return_to: Option<String>, wants_json: bool) -> Result<Response<Body>, Failure> {
        let return_to = match return_to.as_deref() {
            None => None,
            Some(raw) => Some(safe_return_to(raw).ok_or_else(|| {
                tracing::warn!("refused a return_to that is not a same-site path");
                Failure::with_message(
                    ErrorCode::InvalidRequest,
                    "return_to must be a path on this site, such as /done.",
                )
            })?),
        };
        let secret = self.secrets.get().await.map_err(Failure::secrets)?;
        let sign_in = self.identity.sign_in(&secret.client_id);
        let expires_at = OffsetDateTime::now_utc().unix_timestamp() + STATE_TTL_SECONDS;
        let state = OAuthState {
            state: sign_in.state,
            pkce_verifier: sign_in.pkce_verifier,
            nonce: sign_in.nonce,
            return_to: return_to.map(str::to_owned),
            expires_at,
        };
        self.store.put_oauth_state(&state).await.map_err(Failure::store)?;
        tracing::info!(has_return_to = return_to.is_some(), "sign-in started");
        Ok(if wants_json {
            http::json(StatusCode::OK, &json!({ "authorize_url": sign_in.url }))
        } else {
            http::redirect(&sign_in.url)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_same_site_paths_only() {
        for ok in ["/", "/done", "/reports?drive=1&x=%20y", "/a/b#frag", "/@user"] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "http:/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%255Cevil.example",
            "/%252F/evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\r\nLocation: https://evil.example",
            "javascript:alert(1)",
            "/%ff",
            "",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN))), None);
    }
}
