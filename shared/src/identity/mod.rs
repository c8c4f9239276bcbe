//! The Microsoft identity platform (v2.0 endpoints): the authorize URL of a sign-in
//! (state, PKCE S256, nonce), the authorization-code and refresh-token grants through the
//! `oauth2` crate, and JWT checks against the cached signing keys ([`Jwks`]).
//!
//! Nothing here logs or prints a secret: tokens are `oauth2` secret types whose `Debug`
//! output is redacted, and [`SignIn`] and [`Tokens`] redact theirs too.

mod jwt;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

pub use jwt::{IdTokenClaims, Jwks, TokenError, GRAPH_NOTIFICATION_APP_ID, MAX_CLOCK_SKEW_SECS};
pub use oauth2::{AccessToken, RefreshToken};

use crate::config::Config;
use crate::secrets::AppSecret;

/// Path of the OAuth redirect URI under the public base URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Random bytes in a sign-in `state` (256 bits).
const STATE_BYTES: u32 = 32;
/// Random bytes in an OpenID Connect nonce.
const NONCE_BYTES: u32 = 32;

/// A sign-in about to start: where to send the browser and what to keep until the callback.
pub struct SignIn {
    /// The authorize URL (`response_type=code`, `response_mode=query`, PKCE S256, nonce).
    pub url: String,
    /// The `state` parameter (256 random bits, URL-safe base64).
    pub state: String,
    /// The PKCE code verifier whose S256 challenge is in the URL.
    pub pkce_verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("pkce_verifier", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What the token endpoint issued.
pub struct Tokens {
    /// Access token for Microsoft Graph.
    pub access_token: AccessToken,
    /// The new refresh token (rotated on every use: store it, the old one is spent).
    pub refresh_token: Option<RefreshToken>,
    /// The OpenID Connect ID token (with the `openid` scope), to validate with [`Jwks::validate_id_token`].
    pub id_token: Option<String>,
    /// Lifetime of the access token.
    pub expires_in: Option<Duration>,
    /// Scopes granted.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the identity platform refused a grant (`invalid_grant`), from its AADSTS codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFailure {
    /// AADSTS50173: the grant was revoked (password change, admin action).
    Revoked,
    /// AADSTS700082: the refresh token expired by inactivity or was already used.
    RefreshTokenExpired,
    /// AADSTS70008: the authorization code (or refresh token) expired.
    CodeExpired,
    /// AADSTS54005: the authorization code was already redeemed.
    CodeReused,
    /// AADSTS501481: the PKCE verifier does not match the challenge.
    PkceMismatch,
    /// Another `invalid_grant` reason (see the codes).
    Other,
}

impl GrantFailure {
    fn from_codes(codes: &[u32]) -> Self {
        codes
            .iter()
            .find_map(|code| match code {
                50173 => Some(Self::Revoked),
                700082 => Some(Self::RefreshTokenExpired),
                70008 => Some(Self::CodeExpired),
                54005 => Some(Self::CodeReused),
                501481 => Some(Self::PkceMismatch),
                _ => None,
            })
            .unwrap_or(Self::Other)
    }
}

/// A failed grant at the token endpoint. Messages carry the platform's error and AADSTS
/// codes, never a code, token or secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`: the code or refresh token is no good; the user must sign in again.
    #[error("invalid_grant ({reason:?}, AADSTS {codes:?})")]
    InvalidGrant {
        /// The reason, from the codes.
        reason: GrantFailure,
        /// AADSTS error codes.
        codes: Vec<u32>,
    },
    /// `invalid_client` / `unauthorized_client`: our client id or secret is refused.
    #[error("{error} (AADSTS {codes:?}): the app's client credentials were refused")]
    InvalidClient {
        /// The OAuth error code.
        error: String,
        /// AADSTS error codes.
        codes: Vec<u32>,
    },
    /// Another error answer (`invalid_request`, `invalid_scope`, ...).
    #[error("{error} (AADSTS {codes:?})")]
    Rejected {
        /// The OAuth error code.
        error: String,
        /// AADSTS error codes.
        codes: Vec<u32>,
    },
    /// Network failure, 5xx, 429 or `temporarily_unavailable`: retrying may succeed.
    #[error("token endpoint unavailable: {0}")]
    Transient(String),
    /// An answer that is not what the protocol says (not JSON, missing fields).
    #[error("token endpoint answer not understood: {0}")]
    Protocol(String),
}

impl OAuthError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// The token endpoint's error body, with Microsoft's `error_codes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AadErrorResponse {
    error: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

impl std::fmt::Display for AadErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (AADSTS {:?})", self.error, self.error_codes)
    }
}

impl oauth2::ErrorResponse for AadErrorResponse {}

/// The token response's OpenID Connect field.
#[derive(Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField(<redacted>)")
    }
}

impl ExtraTokenFields for IdTokenField {}

type TokenBody = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// The `oauth2` client with Microsoft's error body and the ID-token field, before endpoints are set.
type BareClient = oauth2::Client<
    AadErrorResponse,
    TokenBody,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// [`BareClient`] with the authorize and token endpoints set.
type OAuthClient = oauth2::Client<
    AadErrorResponse,
    TokenBody,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A transport failure or an answer that says "try later", as the `oauth2` crate's HTTP client error.
#[derive(Debug, thiserror::Error)]
enum HttpFailure {
    #[error("{0}")]
    Network(#[from] reqwest::Error),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
}

/// Our reqwest client as the `oauth2` crate's HTTP client (its bundled one is for an older reqwest).
struct OAuthHttp(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpFailure;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// Sends an `oauth2` request with our reqwest client; 5xx and 429 become transport errors
/// so that they stay distinguishable from the platform's error answers.
async fn send(http: &reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpFailure> {
    let response = http.execute(request.try_into()?).await?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(HttpFailure::Status(status));
    }
    let headers = response.headers().clone();
    let mut out = http::Response::new(response.bytes().await?.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn classify(e: RequestTokenError<HttpFailure, AadErrorResponse>) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error.as_str() {
            "invalid_grant" => OAuthError::InvalidGrant {
                reason: GrantFailure::from_codes(&r.error_codes),
                codes: r.error_codes,
            },
            "invalid_client" | "unauthorized_client" => OAuthError::InvalidClient {
                error: r.error,
                codes: r.error_codes,
            },
            "temporarily_unavailable" => OAuthError::Transient(r.to_string()),
            _ => OAuthError::Rejected {
                error: r.error,
                codes: r.error_codes,
            },
        },
        RequestTokenError::Request(HttpFailure::Network(e)) => OAuthError::Transient(e.without_url().to_string()),
        RequestTokenError::Request(status) => OAuthError::Transient(status.to_string()),
        // the parse error names the path of the bad field, never the body
        RequestTokenError::Parse(e, _) => OAuthError::Protocol(e.path().to_string()),
        RequestTokenError::Other(message) => OAuthError::Protocol(message),
    }
}

/// A client of the identity platform for one deployment (login base, tenant, redirect URI, scopes).
pub struct IdentityClient {
    http: OAuthHttp,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    redirect_url: RedirectUrl,
    scopes: Vec<String>,
    jwks: Jwks,
}

impl std::fmt::Debug for IdentityClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityClient")
            .field("token_url", &self.token_url.as_str())
            .field("redirect_url", &self.redirect_url.as_str())
            .finish_non_exhaustive()
    }
}

impl IdentityClient {
    /// A client for `config`'s login base, tenant (`AUTH_TENANT`), scopes and redirect URI
    /// (`PUBLIC_BASE_URL` + [`CALLBACK_PATH`]). `http` should not follow redirects.
    pub fn new(http: reqwest::Client, config: &Config) -> Result<Self, url::ParseError> {
        let authority = format!("{}/{}", config.login_base_url, config.auth_tenant);
        Ok(Self {
            auth_url: AuthUrl::new(format!("{authority}/oauth2/v2.0/authorize"))?,
            token_url: TokenUrl::new(format!("{authority}/oauth2/v2.0/token"))?,
            redirect_url: RedirectUrl::new(format!("{}{CALLBACK_PATH}", config.public_base_url))?,
            scopes: config.scopes.clone(),
            jwks: Jwks::new(http.clone(), &config.login_base_url, &config.auth_tenant),
            http: OAuthHttp(http),
        })
    }

    /// The redirect URI registered for the app.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_url.as_str()
    }

    /// The signing keys, for [`Jwks::validate_id_token`] and Graph validation tokens.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    fn client(&self, client_id: &str, client_secret: Option<&str>) -> OAuthClient {
        let client: OAuthClient = BareClient::new(ClientId::new(client_id.to_owned()))
            .set_auth_uri(self.auth_url.clone())
            .set_token_uri(self.token_url.clone())
            .set_redirect_uri(self.redirect_url.clone())
            // Microsoft documents client_secret in the body (client_secret_post).
            .set_auth_type(AuthType::RequestBody);
        match client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.to_owned())),
            None => client,
        }
    }

    /// Starts a sign-in: fresh `state` (256 bits), PKCE verifier with its S256 challenge and
    /// nonce, and the authorize URL asking for the configured scopes with `response_mode=query`.
    pub fn sign_in(&self, client_id: &str) -> SignIn {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random_len(NONCE_BYTES);
        let (url, state) = self
            .client(client_id, None)
            .authorize_url(|| CsrfToken::new_random_len(STATE_BYTES))
            .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query")
            .add_extra_param("nonce", nonce.secret())
            .url();
        SignIn {
            url: url.into(),
            state: state.into_secret(),
            pkce_verifier: verifier.into_secret(),
            nonce: nonce.into_secret(),
        }
    }

    /// Redeems an authorization code with its PKCE verifier (authorization-code grant).
    pub async fn exchange_code(&self, app: &AppSecret, code: &str, pkce_verifier: &str) -> Result<Tokens, OAuthError> {
        let body = self
            .client(&app.client_id, Some(&app.client_secret))
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        Ok(Self::tokens(body))
    }

    /// Redeems a refresh token for new tokens with the configured scopes. Refresh tokens
    /// rotate: store [`Tokens::refresh_token`], the one passed in is spent.
    pub async fn refresh(&self, app: &AppSecret, refresh_token: &RefreshToken) -> Result<Tokens, OAuthError> {
        let body = self
            .client(&app.client_id, Some(&app.client_secret))
            .exchange_refresh_token(refresh_token)
            .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        Ok(Self::tokens(body))
    }

    fn tokens(body: TokenBody) -> Tokens {
        Tokens {
            access_token: body.access_token().clone(),
            refresh_token: body.refresh_token().cloned(),
            id_token: body.extra_fields().id_token.clone(),
            expires_in: body.expires_in(),
            scopes: body
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        }
    }
}
