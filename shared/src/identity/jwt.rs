//! JSON Web Token checks against the identity platform's signing keys: OpenID Connect ID
//! tokens from sign-in, and the `validationTokens` of Graph rich notifications.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::DEFAULT_LOGIN_BASE_URL;

/// Application id Microsoft Graph signs rich-notification validation tokens as (`azp` / `appid`).
pub const GRAPH_NOTIFICATION_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";

/// Largest clock skew accepted on `exp` and `nbf`, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(24 * 3600);

/// Least time between two fetches caused by an unknown `kid`, so that tokens with forged
/// key ids cannot make us hammer the keys endpoint.
const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(300);

/// Why a token was refused. [`TokenError::check`] names the failed check for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed RS256 JWT with a `kid`, or a claim of the wrong type.
    #[error("token is malformed: {0}")]
    Malformed(String),
    /// Signed with a key the identity platform does not publish (checked after one refetch).
    #[error("token is signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("token signature is invalid")]
    Signature,
    /// `exp` has passed (beyond the allowed skew).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the allowed skew).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` is not the expected audience.
    #[error("token audience is wrong")]
    Audience,
    /// `iss` is not the issuer built from the token's `tid`.
    #[error("token issuer is wrong")]
    Issuer,
    /// `nonce` does not match the sign-in's nonce.
    #[error("token nonce does not match")]
    Nonce,
    /// A required claim is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(String),
    /// `azp` / `appid` is not Microsoft Graph's notification app.
    #[error("token was not issued to Microsoft Graph's notification app")]
    AuthorizedParty,
    /// The keys endpoint could not be reached or answered badly; retrying may succeed.
    #[error("signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl TokenError {
    /// Whether a retry may succeed (the keys could not be fetched).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::KeysUnavailable(_))
    }

    /// A short, stable name of the failed check, for logs.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "format",
            Self::UnknownKey(_) => "kid",
            Self::Signature => "signature",
            Self::Expired => "exp",
            Self::NotYetValid => "nbf",
            Self::Audience => "aud",
            Self::Issuer => "iss",
            Self::Nonce => "nonce",
            Self::MissingClaim(_) => "claims",
            Self::AuthorizedParty => "azp",
            Self::KeysUnavailable(_) => "jwks",
        }
    }
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => Self::Signature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidAudience => Self::Audience,
            ErrorKind::InvalidIssuer => Self::Issuer,
            ErrorKind::MissingRequiredClaim(c) => Self::MissingClaim(c.clone()),
            _ => Self::Malformed(e.to_string()),
        }
    }
}

/// Who signed in, from a validated ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// Tenant id (`tid`).
    pub tenant_id: String,
    /// User object id (`oid`), stable per user and tenant.
    pub user_oid: String,
    /// Display name (`name`), empty when absent.
    pub name: String,
    /// Sign-in name (`preferred_username`), empty when absent; for people to read only.
    pub preferred_username: String,
}

#[derive(Deserialize)]
struct IdClaims {
    iss: String,
    tid: Option<String>,
    oid: Option<String>,
    nonce: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

#[derive(Deserialize)]
struct ValidationClaims {
    iss: String,
    tid: Option<String>,
    azp: Option<String>,
    appid: Option<String>,
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
}

/// The identity platform's published signing keys (JWKS), cached in-process, and the
/// token checks that use them.
///
/// Keys are fetched on first use and again after a day; a token whose `kid` is unknown
/// causes one refetch (at most one such refetch per five minutes).
pub struct Jwks {
    http: reqwest::Client,
    url: String,
    login_base_url: String,
    cache: Mutex<KeyCache>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish()
    }
}

impl Jwks {
    /// Keys of `{login_base_url}/{tenant}/discovery/v2.0/keys`; the multi-tenant authorities
    /// `organizations` and `common` read the `common` keys (the same set).
    pub fn new(http: reqwest::Client, login_base_url: &str, tenant: &str) -> Self {
        // Pick the crypto backend explicitly, as the emulator does, so that another crate
        // enabling a second jsonwebtoken backend cannot make the choice ambiguous.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let login_base_url = login_base_url.trim_end_matches('/').to_owned();
        let tenant = if ["organizations", "common"].contains(&tenant.to_ascii_lowercase().as_str()) {
            "common"
        } else {
            tenant
        };
        Self {
            http,
            url: format!("{login_base_url}/{tenant}/discovery/v2.0/keys"),
            login_base_url,
            cache: Mutex::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
                last_unknown_kid_fetch: None,
            }),
        }
    }

    /// The keys endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, TokenError> {
        let unavailable = |e: reqwest::Error| TokenError::KeysUnavailable(e.without_url().to_string());
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }

    /// The key `kid`, fetching the key set when it is stale, or once more when `kid` is unknown.
    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        let mut cache = self.cache.lock().await;
        if cache.fetched_at.is_none_or(|at| at.elapsed() > KEYS_TTL) {
            cache.keys = self.fetch().await?;
            cache.fetched_at = Some(Instant::now());
        }
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        if cache
            .last_unknown_kid_fetch
            .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL)
        {
            return Err(TokenError::UnknownKey(kid.to_owned()));
        }
        cache.last_unknown_kid_fetch = Some(Instant::now());
        cache.keys = self.fetch().await?;
        cache.fetched_at = Some(Instant::now());
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| TokenError::UnknownKey(kid.to_owned()))
    }

    /// Verifies the RS256 signature, `exp`, `nbf` (with [`MAX_CLOCK_SKEW_SECS`]) and `aud`.
    async fn verify<T: DeserializeOwned>(&self, token: &str, audience: &str) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Malformed(format!(
                "algorithm {:?} is not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Malformed("the header has no kid".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = MAX_CLOCK_SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        Ok(jsonwebtoken::decode::<T>(token, &key, &validation)?.claims)
    }

    /// The v2.0 issuer of tenant `tid` at `login_base_url`.
    fn v2_issuer(login_base_url: &str, tid: &str) -> String {
        format!("{login_base_url}/{tid}/v2.0")
    }

    /// Validates an OpenID Connect ID token from the token endpoint: signature, `aud` ==
    /// `client_id`, `iss` == `{login}/{tid}/v2.0` built from the token's own `tid`, `nonce`,
    /// `exp`/`nbf` within [`MAX_CLOCK_SKEW_SECS`]. Returns who signed in.
    pub async fn validate_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<IdTokenClaims, TokenError> {
        let claims: IdClaims = self.verify(token, client_id).await?;
        let tid = claims.tid.ok_or_else(|| TokenError::MissingClaim("tid".into()))?;
        if claims.iss != Self::v2_issuer(&self.login_base_url, &tid) {
            return Err(TokenError::Issuer);
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(TokenError::Nonce);
        }
        let oid = claims.oid.ok_or_else(|| TokenError::MissingClaim("oid".into()))?;
        Ok(IdTokenClaims {
            tenant_id: tid,
            user_oid: oid,
            name: claims.name.unwrap_or_default(),
            preferred_username: claims.preferred_username.unwrap_or_default(),
        })
    }

    /// Validates one of the `validationTokens` of a Graph rich notification: signature,
    /// `exp`/`nbf`, `aud` == `app_id` (our client id), issuer in the v1 form
    /// `https://sts.windows.net/{tid}/` or the v2 form `{login}/{tid}/v2.0` (the configured
    /// login base or the public one, where Graph's tokens come from), and `azp` (v2) or
    /// `appid` (v1) == [`GRAPH_NOTIFICATION_APP_ID`].
    pub async fn validate_graph_validation_token(&self, token: &str, app_id: &str) -> Result<(), TokenError> {
        let claims: ValidationClaims = self.verify(token, app_id).await?;
        let tid = claims.tid.ok_or_else(|| TokenError::MissingClaim("tid".into()))?;
        let issuers = [
            format!("https://sts.windows.net/{tid}/"),
            Self::v2_issuer(&self.login_base_url, &tid),
            Self::v2_issuer(DEFAULT_LOGIN_BASE_URL, &tid),
        ];
        if !issuers.contains(&claims.iss) {
            return Err(TokenError::Issuer);
        }
        if claims.azp.or(claims.appid).as_deref() != Some(GRAPH_NOTIFICATION_APP_ID) {
            return Err(TokenError::AuthorizedParty);
        }
        Ok(())
    }
}
