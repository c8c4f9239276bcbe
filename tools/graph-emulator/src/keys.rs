//! The two fixed RSA signing keys (RS256), the JWKS document and JWT signing/verification.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const KEY_1_PEM: &[u8] = include_bytes!("../keys/signing-key-1.pem");
const KEY_2_PEM: &[u8] = include_bytes!("../keys/signing-key-2.pem");

/// `kid` of the key that signs tokens from the start.
pub const KEY_1_KID: &str = "emu-key-1";
/// `kid` of the second key: unpublished until [`crate::Emulator::rotate_keys`].
pub const KEY_2_KID: &str = "emu-key-2";

/// One of the emulator's two signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySlot {
    /// `emu-key-1`, published and used for signing at start.
    Primary,
    /// `emu-key-2`, published and used for signing after a key rotation.
    Secondary,
}

impl KeySlot {
    /// The key's `kid`.
    pub fn kid(self) -> &'static str {
        match self {
            KeySlot::Primary => KEY_1_KID,
            KeySlot::Secondary => KEY_2_KID,
        }
    }
}

struct KeyPair {
    encoding: EncodingKey,
    jwk: Jwk,
    decoding: DecodingKey,
}

/// The signing keys.
pub(crate) struct Keys {
    primary: KeyPair,
    secondary: KeyPair,
}

impl Keys {
    /// Loads the embedded PEM keys.
    pub(crate) fn load() -> anyhow::Result<Self> {
        // Pick the crypto provider explicitly so that other crates enabling another
        // jsonwebtoken backend in the same build cannot make provider selection ambiguous.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        Ok(Self {
            primary: key_pair(KEY_1_PEM, KEY_1_KID)?,
            secondary: key_pair(KEY_2_PEM, KEY_2_KID)?,
        })
    }

    fn pair(&self, slot: KeySlot) -> &KeyPair {
        match slot {
            KeySlot::Primary => &self.primary,
            KeySlot::Secondary => &self.secondary,
        }
    }

    /// Signs `claims` (RS256) with the key in `slot`, putting `kid` in the header.
    pub(crate) fn sign(&self, slot: KeySlot, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.pair(slot).encoding)
            .expect("signing JSON claims with an RSA key cannot fail")
    }

    /// The JWKS of the given published slots.
    pub(crate) fn jwks(&self, published: &[KeySlot]) -> JwkSet {
        JwkSet {
            keys: published.iter().map(|s| self.pair(*s).jwk.clone()).collect(),
        }
    }

    /// Verifies an RS256 token against the published keys and returns its claims.
    /// Lifetime is not checked here (the emulator has its own clock).
    pub(crate) fn verify(&self, token: &str, published: &[KeySlot]) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("token has no kid")?;
        let slot = published
            .iter()
            .find(|s| s.kid() == kid)
            .ok_or_else(|| format!("signing key {kid} is not published"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &self.pair(*slot).decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

fn key_pair(pem: &[u8], kid: &str) -> anyhow::Result<KeyPair> {
    let encoding = EncodingKey::from_rsa_pem(pem)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
    let decoding = DecodingKey::from_jwk(&jwk)?;
    Ok(KeyPair {
        encoding,
        jwk,
        decoding,
    })
}
