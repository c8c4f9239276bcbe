//! One finding: what was found ([`Kind`]), where ([`Source`]) and its masked value
//! ([`redact`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What was found. Serialized with Presidio's entity names where Presidio has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Payment card number (Luhn-valid, known issuer prefix).
    CreditCard,
    /// International bank account number (mod-97, per-country length).
    IbanCode,
    /// E-mail address.
    EmailAddress,
    /// Telephone number in a known numbering plan.
    PhoneNumber,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// US social security number.
    UsSsn,
    /// UK NHS number (mod 11).
    UkNhs,
    /// UK national insurance number.
    UkNino,
    /// Bitcoin address (base58check or bech32/bech32m).
    Crypto,
    /// Date next to a birth-date context word.
    DateOfBirth,
    /// A place name from XMP or IPTC metadata.
    Location,
    /// AWS access key id.
    SecretAwsAccessKey,
    /// PEM private key block.
    SecretPrivateKey,
    /// GitHub token.
    SecretGithubToken,
    /// Slack token.
    SecretSlackToken,
    /// Azure storage account key.
    SecretAzureStorageKey,
    /// JSON Web Token.
    SecretJwt,
    /// `password = ...` style assignment.
    SecretPasswordAssignment,
    /// GPS position in image metadata.
    GpsLocation,
    /// Camera body or lens serial number.
    DeviceSerial,
    /// Author, creator, artist, owner or last editor.
    Author,
    /// Author of a document comment.
    CommentAuthor,
    /// Deleted text kept in tracked changes.
    TrackedChanges,
    /// An embedded preview image.
    EmbeddedThumbnail,
    /// When a photo was taken or a document created.
    CaptureTime,
    /// Camera make and model.
    CameraModel,
    /// Software that wrote the file.
    Software,
}

impl Kind {
    /// The serialized name, e.g. `CREDIT_CARD`.
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            CreditCard => "CREDIT_CARD",
            IbanCode => "IBAN_CODE",
            EmailAddress => "EMAIL_ADDRESS",
            PhoneNumber => "PHONE_NUMBER",
            IpAddress => "IP_ADDRESS",
            UsSsn => "US_SSN",
            UkNhs => "UK_NHS",
            UkNino => "UK_NINO",
            Crypto => "CRYPTO",
            DateOfBirth => "DATE_OF_BIRTH",
            Location => "LOCATION",
            SecretAwsAccessKey => "SECRET_AWS_ACCESS_KEY",
            SecretPrivateKey => "SECRET_PRIVATE_KEY",
            SecretGithubToken => "SECRET_GITHUB_TOKEN",
            SecretSlackToken => "SECRET_SLACK_TOKEN",
            SecretAzureStorageKey => "SECRET_AZURE_STORAGE_KEY",
            SecretJwt => "SECRET_JWT",
            SecretPasswordAssignment => "SECRET_PASSWORD_ASSIGNMENT",
            GpsLocation => "GPS_LOCATION",
            DeviceSerial => "DEVICE_SERIAL",
            Author => "AUTHOR",
            CommentAuthor => "COMMENT_AUTHOR",
            TrackedChanges => "TRACKED_CHANGES",
            EmbeddedThumbnail => "EMBEDDED_THUMBNAIL",
            CaptureTime => "CAPTURE_TIME",
            CameraModel => "CAMERA_MODEL",
            Software => "SOFTWARE",
        }
    }

    /// Whether the kind is a secret (`SECRET_*`).
    pub fn is_secret(self) -> bool {
        self.name().starts_with("SECRET_")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where in a file a finding was made; serialized as `text`, `metadata`, `comment`,
/// `tracked_change`, `thumbnail` or `embedded:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The file's text (for plain text, the file itself).
    Text,
    /// Metadata: EXIF, XMP, IPTC, document properties, PDF Info.
    Metadata,
    /// A document comment.
    Comment,
    /// A tracked change (deleted or inserted text, revision author).
    TrackedChange,
    /// The embedded thumbnail of an image and its own metadata.
    Thumbnail,
    /// A file embedded in a document (e.g. `word/media/image1.jpeg`).
    Embedded(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Text => f.write_str("text"),
            Source::Metadata => f.write_str("metadata"),
            Source::Comment => f.write_str("comment"),
            Source::TrackedChange => f.write_str("tracked_change"),
            Source::Thumbnail => f.write_str("thumbnail"),
            Source::Embedded(name) => write!(f, "embedded:{name}"),
        }
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "text" => Source::Text,
            "metadata" => Source::Metadata,
            "comment" => Source::Comment,
            "tracked_change" => Source::TrackedChange,
            "thumbnail" => Source::Thumbnail,
            _ => match s.strip_prefix("embedded:") {
                Some(name) => Source::Embedded(name.to_string()),
                None => return Err(format!("unknown source {s:?}")),
            },
        })
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One thing found in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// 65 (pattern), 75 (pattern + checksum or context), 85 (pattern + checksum + context).
    pub confidence: u8,
    /// Where it was found.
    pub source: Source,
    /// Byte offset of the match in its source's text (0 for metadata fields).
    pub start: usize,
    /// Byte offset one past the match.
    pub end: usize,
    /// The value with all but the first and last few characters masked.
    pub redacted: String,
    /// The raw value; empty (and not serialized) once [`FileReport::conceal`](crate::FileReport::conceal) ran.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Latitude in decimal degrees, for `GPS_LOCATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in decimal degrees, for `GPS_LOCATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

impl Finding {
    /// A finding for `value`, redacted; `start`/`end` are offsets in the source's text.
    pub fn new(kind: Kind, confidence: u8, source: Source, start: usize, end: usize, value: &str) -> Finding {
        Finding {
            kind,
            confidence,
            source,
            start,
            end,
            redacted: redact(value),
            value: value.to_string(),
            lat: None,
            lon: None,
        }
    }
}

/// Masks a value, keeping at most the first and last few characters (none for short values).
pub fn redact(value: &str) -> String {
    let n = value.chars().count();
    let keep = match n {
        0..=4 => 0,
        5..=8 => 1,
        9..=16 => 2,
        _ => 4,
    };
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let shown = i < keep || i >= n - keep || c == ' ' || c == '-' || c == '@' || c == '.' && keep > 0;
            if shown {
                c
            } else {
                '*'
            }
        })
        .collect()
}
