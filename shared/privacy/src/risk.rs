//! File risk: one table of rules per kind, plus combinations. Documented in docs/privacy.md.

use crate::cx::Sink;
use crate::{Kind, Risk, Status};
use std::collections::BTreeMap;

/// One row of the risk table: the level of a kind found once (at the given minimum confidence),
/// and the level once `bulk` or more are found.
struct Rule {
    kinds: &'static [Kind],
    /// Level for findings at confidence >= 75 (checksum or context).
    strong: Risk,
    /// Level for findings at confidence 65 (pattern alone).
    weak: Risk,
    /// Count at which the level rises to `bulk_level`.
    bulk: usize,
    bulk_level: Risk,
}

use Kind::*;
use Risk::*;

/// The risk table. Order is irrelevant; the highest level wins.
const RULES: &[Rule] = &[
    Rule {
        kinds: &[
            SecretAwsAccessKey,
            SecretPrivateKey,
            SecretGithubToken,
            SecretSlackToken,
            SecretAzureStorageKey,
            SecretJwt,
            SecretPasswordAssignment,
        ],
        strong: Critical,
        weak: Critical,
        bulk: 1,
        bulk_level: Critical,
    },
    Rule {
        kinds: &[CreditCard, IbanCode, UsSsn, UkNhs, UkNino],
        strong: High,
        weak: Medium,
        bulk: 10,
        bulk_level: Critical,
    },
    Rule {
        kinds: &[Crypto],
        strong: High,
        weak: Medium,
        bulk: 10,
        bulk_level: High,
    },
    Rule {
        kinds: &[GpsLocation],
        strong: High,
        weak: High,
        bulk: 1,
        bulk_level: High,
    },
    Rule {
        kinds: &[TrackedChanges],
        strong: High,
        weak: High,
        bulk: 1,
        bulk_level: High,
    },
    Rule {
        kinds: &[DateOfBirth],
        strong: Medium,
        weak: Medium,
        bulk: 10,
        bulk_level: High,
    },
    Rule {
        kinds: &[EmailAddress, PhoneNumber],
        strong: Medium,
        weak: Medium,
        bulk: 50,
        bulk_level: High,
    },
    Rule {
        kinds: &[IpAddress],
        strong: Medium,
        weak: Low,
        bulk: 50,
        bulk_level: Medium,
    },
    Rule {
        kinds: &[DeviceSerial, Author, CommentAuthor, Location],
        strong: Medium,
        weak: Medium,
        bulk: 1,
        bulk_level: Medium,
    },
    Rule {
        kinds: &[CameraModel, Software, CaptureTime, EmbeddedThumbnail],
        strong: Low,
        weak: Low,
        bulk: 1,
        bulk_level: Low,
    },
];

fn label(kind: Kind, n: usize) -> String {
    let s = match kind {
        CreditCard => "credit card number",
        IbanCode => "IBAN",
        EmailAddress => "e-mail address",
        PhoneNumber => "phone number",
        IpAddress => "IP address",
        UsSsn => "US social security number",
        UkNhs => "NHS number",
        UkNino => "national insurance number",
        Crypto => "bitcoin address",
        DateOfBirth => "date of birth",
        Location => "place name",
        SecretAwsAccessKey => "AWS access key",
        SecretPrivateKey => "private key",
        SecretGithubToken => "GitHub token",
        SecretSlackToken => "Slack token",
        SecretAzureStorageKey => "Azure storage key",
        SecretJwt => "JSON web token",
        SecretPasswordAssignment => "password assignment",
        GpsLocation => "GPS location",
        DeviceSerial => "device serial number",
        Author => "author name",
        CommentAuthor => "comment author",
        TrackedChanges => "tracked deletion",
        EmbeddedThumbnail => "embedded thumbnail",
        CaptureTime => "timestamp",
        CameraModel => "camera model",
        Software => "software name",
    };
    let plural = if n == 1 {
        ""
    } else if s.ends_with('s') {
        "es"
    } else {
        "s"
    };
    format!("{n} {s}{plural}")
}

/// Scores a file from its status and finding counts; returns the risk and the reasons.
pub(crate) fn assess(status: Status, why: Option<&str>, sink: &Sink) -> (Risk, Vec<String>) {
    let mut per_kind: BTreeMap<Kind, (usize, usize, u8)> = BTreeMap::new(); // (all, strong, max conf)
    for (&(kind, conf), &n) in &sink.counts {
        let e = per_kind.entry(kind).or_default();
        e.0 += n;
        if conf >= 75 {
            e.1 += n;
        }
        e.2 = e.2.max(conf);
    }
    let mut reasons: Vec<(Risk, String)> = Vec::new();
    for (&kind, &(all, strong, max_conf)) in &per_kind {
        let Some(rule) = RULES.iter().find(|r| r.kinds.contains(&kind)) else {
            continue;
        };
        let level = if all >= rule.bulk {
            rule.bulk_level.max(rule.weak)
        } else {
            Low
        };
        let level = level.max(if strong > 0 { rule.strong } else { rule.weak });
        let qual = match max_conf {
            85.. => "validated, with context",
            75.. => "validated or with context",
            _ => "pattern only",
        };
        let metadata = matches!(rule.strong, Low)
            || matches!(
                kind,
                GpsLocation | DeviceSerial | Author | CommentAuthor | Location | TrackedChanges
            );
        let text = if metadata {
            label(kind, all)
        } else {
            format!("{} ({qual})", label(kind, all))
        };
        reasons.push((level, text));
    }
    let strong = |k: Kind| per_kind.get(&k).is_some_and(|e| e.1 > 0);
    let government = [CreditCard, IbanCode, UsSsn, UkNhs, UkNino].into_iter().any(strong);
    let personal = [DateOfBirth, EmailAddress, PhoneNumber]
        .into_iter()
        .any(|k| per_kind.contains_key(&k));
    if government && personal {
        reasons.push((
            Critical,
            "identity bundle: an identifier together with contact details or a birth date".into(),
        ));
    }
    if per_kind.contains_key(&DateOfBirth) && [EmailAddress, PhoneNumber].iter().any(|k| per_kind.contains_key(k)) {
        reasons.push((High, "profile: a birth date together with contact details".into()));
    }
    if let Some(why) = why.filter(|_| status != Status::Scanned) {
        reasons.push((
            Medium,
            format!("{}: {why}; contents not fully inspected", status.name()),
        ));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    let risk = reasons.first().map_or(Low, |r| r.0);
    let risk = if status == Status::Scanned {
        risk
    } else {
        risk.max(Medium)
    };
    (risk, reasons.into_iter().map(|r| r.1).collect())
}
