//! AES-256-GCM sealing of stored credentials (refresh tokens and the like), with aws-lc-rs
//! (the cryptography the AWS SDK and rustls already link), which also draws each nonce.
//!
//! A sealed value is one printable string, the *envelope*:
//! `gw1.<key version>.<base64url nonce>.<base64url ciphertext+tag>`.
//! The key version travels with the ciphertext, so keys can be rotated: new values are
//! sealed with the current key, old values still open with the key they name.
//! Every seal binds an *associated context* (for example the connection key), so a
//! sealed value copied onto another record does not open there.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const ENVELOPE_PREFIX: &str = "gw1";

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptError {
    /// The envelope is not of the `gw1.<version>.<nonce>.<ciphertext>` form.
    #[error("sealed value is malformed")]
    Malformed,
    /// The envelope names a key version that the secret does not hold.
    #[error("sealed with key version {0}, which is not configured")]
    UnknownKeyVersion(u32),
    /// Authentication failed: tampered data, wrong key or wrong context.
    #[error("sealed value failed authentication (tampered, wrong key or wrong context)")]
    Invalid,
    /// A key is not 32 bytes of base64, or the current version has no key.
    #[error("sealing key configuration is invalid: {0}")]
    BadKey(String),
}

/// Seals and opens credentials with a versioned set of AES-256-GCM keys.
#[derive(Clone)]
pub struct Sealer {
    keys: Arc<BTreeMap<u32, RandomizedNonceKey>>,
    current: u32,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

impl Sealer {
    /// Builds a sealer from raw 32-byte keys by version; `current` seals new values.
    pub fn new(keys: BTreeMap<u32, [u8; 32]>, current: u32) -> Result<Self, CryptError> {
        if !keys.contains_key(&current) {
            return Err(CryptError::BadKey(format!("no key for the current version {current}")));
        }
        let keys = keys
            .into_iter()
            .map(|(v, k)| {
                let key = RandomizedNonceKey::new(&AES_256_GCM, &k)
                    .map_err(|_| CryptError::BadKey(format!("key {v} is refused by AES-256-GCM")))?;
                Ok((v, key))
            })
            .collect::<Result<_, CryptError>>()?;
        Ok(Self {
            keys: Arc::new(keys),
            current,
        })
    }

    /// Builds a sealer from base64-encoded keys as stored in the app secret.
    pub fn from_base64(keys: &BTreeMap<u32, String>, current: u32) -> Result<Self, CryptError> {
        let mut raw = BTreeMap::new();
        for (version, b64) in keys {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| CryptError::BadKey(format!("key {version} is not base64")))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| CryptError::BadKey(format!("key {version} is not 32 bytes")))?;
            raw.insert(*version, key);
        }
        Self::new(raw, current)
    }

    /// The key version new values are sealed with.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Seals `plaintext`, bound to `context`, with the current key.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut ciphertext = plaintext.to_vec();
        let nonce = self.keys[&self.current]
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut ciphertext)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        format!(
            "{ENVELOPE_PREFIX}.{}.{}.{}",
            self.current,
            URL_SAFE_NO_PAD.encode(nonce.as_ref()),
            URL_SAFE_NO_PAD.encode(ciphertext)
        )
    }

    /// Opens an envelope made by [`Sealer::seal`] with the same `context`.
    pub fn open(&self, envelope: &str, context: &str) -> Result<Vec<u8>, CryptError> {
        let mut parts = envelope.split('.');
        let (Some(ENVELOPE_PREFIX), Some(version), Some(nonce), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptError::Malformed);
        };
        let version: u32 = version.parse().map_err(|_| CryptError::Malformed)?;
        let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| CryptError::Malformed)?;
        let mut ciphertext = URL_SAFE_NO_PAD.decode(ciphertext).map_err(|_| CryptError::Malformed)?;
        if nonce.len() != NONCE_LEN {
            return Err(CryptError::Malformed);
        }
        let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| CryptError::Malformed)?;
        let key = self.keys.get(&version).ok_or(CryptError::UnknownKeyVersion(version))?;
        let len = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| CryptError::Invalid)?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    /// Opens an envelope and returns it as UTF-8 text.
    pub fn open_string(&self, envelope: &str, context: &str) -> Result<String, CryptError> {
        String::from_utf8(self.open(envelope, context)?).map_err(|_| CryptError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(versions: &[(u32, u8)], current: u32) -> Sealer {
        let keys = versions.iter().map(|&(v, b)| (v, [b; 32])).collect();
        Sealer::new(keys, current).unwrap()
    }

    #[test]
    fn round_trip_and_fresh_nonce_each_time() {
        let s = sealer(&[(1, 7)], 1);
        let a = s.seal(b"refresh-token", "CONN#t#o");
        let b = s.seal(b"refresh-token", "CONN#t#o");
        assert_ne!(a, b, "two seals of the same value must differ");
        assert!(a.starts_with("gw1.1."));
        assert_eq!(s.open_string(&a, "CONN#t#o").unwrap(), "refresh-token");
        assert!(!a.contains("refresh-token"));
    }

    #[test]
    fn tampering_is_detected() {
        let s = sealer(&[(1, 7)], 1);
        let sealed = s.seal(b"secret", "ctx");
        let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
        let mut ct = URL_SAFE_NO_PAD.decode(&parts[3]).unwrap();
        ct[0] ^= 1;
        parts[3] = URL_SAFE_NO_PAD.encode(ct);
        assert_eq!(s.open(&parts.join("."), "ctx"), Err(CryptError::Invalid));
    }

    #[test]
    fn wrong_context_or_wrong_key_fails() {
        let s = sealer(&[(1, 7)], 1);
        let sealed = s.seal(b"secret", "CONN#a");
        assert_eq!(s.open(&sealed, "CONN#b"), Err(CryptError::Invalid));
        let other = sealer(&[(1, 8)], 1);
        assert_eq!(other.open(&sealed, "CONN#a"), Err(CryptError::Invalid));
    }

    #[test]
    fn unknown_version_and_malformed_envelopes() {
        let old = sealer(&[(3, 1)], 3);
        let sealed = old.seal(b"x", "c");
        let s = sealer(&[(1, 7)], 1);
        assert_eq!(s.open(&sealed, "c"), Err(CryptError::UnknownKeyVersion(3)));
        for bad in [
            "",
            "gw1",
            "gw1.1.a.b.c",
            "gw2.1.AAAA.AAAA",
            "gw1.x.AAAA.AAAA",
            "gw1.1.!!.AAAA",
        ] {
            assert_eq!(s.open(bad, "c"), Err(CryptError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let v1 = sealer(&[(1, 7)], 1);
        let old = v1.seal(b"old", "c");
        let rotated = sealer(&[(1, 7), (2, 9)], 2);
        let new = rotated.seal(b"new", "c");
        assert!(new.starts_with("gw1.2."));
        assert_eq!(rotated.open_string(&old, "c").unwrap(), "old");
        assert_eq!(rotated.open_string(&new, "c").unwrap(), "new");
        assert_eq!(v1.open(&new, "c"), Err(CryptError::UnknownKeyVersion(2)));
    }

    #[test]
    fn key_configuration_is_checked() {
        let mut keys = BTreeMap::new();
        keys.insert(1, "c2hvcnQ=".to_owned());
        assert!(matches!(Sealer::from_base64(&keys, 1), Err(CryptError::BadKey(_))));
        keys.insert(1, base64::engine::general_purpose::STANDARD.encode([0u8; 32]));
        assert!(matches!(Sealer::from_base64(&keys, 2), Err(CryptError::BadKey(_))));
        assert_eq!(Sealer::from_base64(&keys, 1).unwrap().current_version(), 1);
    }

    /// Envelopes sealed by the `aes-gcm` crate before sealing moved to aws-lc-rs: stored
    /// refresh tokens sealed then must still open.
    #[test]
    fn values_sealed_by_the_previous_implementation_still_open() {
        let keys = BTreeMap::from([
            (1, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned()),
            (2, base64::engine::general_purpose::STANDARD.encode([0x5a; 32])),
        ]);
        let s = Sealer::from_base64(&keys, 2).unwrap();
        let context = "CONN#tenant-1#oid-1";
        assert_eq!(
            s.open_string(
                "gw1.2.GLQbzP5MzWuGcPmV.Ij43V0NvHoO6M5mDLg_EAOYaUeyIYkCZnPF5t3h7sk4miQsnoC11u-Fnfik",
                context
            )
            .unwrap(),
            "0.AQ-refresh-token ünïcode"
        );
        assert_eq!(
            s.open("gw1.1.E3v9FLzxtHqg6_FX.4Wo_xDtAbwTguaKjkH9H2w", context)
                .unwrap(),
            b""
        );
        assert_eq!(
            s.open("gw1.1.E3v9FLzxtHqg6_FX.4Wo_xDtAbwTguaKjkH9H2w", "CONN#tenant-1#oid-2"),
            Err(CryptError::Invalid)
        );
    }
}
