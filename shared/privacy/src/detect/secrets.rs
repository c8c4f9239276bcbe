//! Secrets: an Aho-Corasick pass over literal prefixes (and, for password assignments, the
//! `:` or `=` that must follow the keyword), then an anchored check at each hit.

use super::{checks, hit, Ctx, Hit};
use crate::Kind;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine;
use regex::bytes::Regex;
use std::sync::LazyLock;

#[derive(Clone, Copy)]
enum Lit {
    Aws,
    Pem,
    Github,
    GithubPat,
    Slack,
    Azure,
    Jwt,
    Password,
}

const LITERALS: &[(&str, Lit)] = &[
    ("AKIA", Lit::Aws),
    ("ASIA", Lit::Aws),
    ("AGPA", Lit::Aws),
    ("AIDA", Lit::Aws),
    ("AROA", Lit::Aws),
    ("ANPA", Lit::Aws),
    ("-----BEGIN", Lit::Pem),
    ("ghp_", Lit::Github),
    ("gho_", Lit::Github),
    ("ghu_", Lit::Github),
    ("ghs_", Lit::Github),
    ("ghr_", Lit::Github),
    ("github_pat_", Lit::GithubPat),
    ("xox", Lit::Slack),
    ("AccountKey=", Lit::Azure),
    ("eyJ", Lit::Jwt),
];

/// The password keywords, as written. They are found from the `:` or `=` after them: searching
/// for them directly would stop at every "p" of the prose.
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "Password",
    "PASSWORD",
    "passwd",
    "Passwd",
    "PASSWD",
    "pwd",
    "Pwd",
    "PWD",
    "passphrase",
    "Passphrase",
    "PASSPHRASE",
];

static AC: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(LITERALS.iter().map(|(l, _)| l))
        .expect("secret automaton")
});

/// Standard base64 that accepts non-zero trailing bits.
static LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect($pat));
    };
}

re!(AWS, r"(?-u)^(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z2-7]{16}");
re!(PEM, r"(?-u)^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----");
re!(PEM_END, r"(?-u)-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----");
re!(GITHUB, r"(?-u)^gh[pousr]_[A-Za-z0-9]{36}");
re!(GITHUB_PAT, r"(?-u)^github_pat_[A-Za-z0-9_]{82}");
re!(SLACK, r"(?-u)^xox[abposre]-[0-9]{6,}-[0-9A-Za-z-]{8,}");
re!(AZURE, r"(?-u)^AccountKey=([A-Za-z0-9+/]{86}==)");
re!(
    JWT,
    r"(?-u)^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"
);
re!(
    PASSWORD,
    r#"(?i-u)^(?:password|passwd|pwd|passphrase)["']?[ \t]*[:=][ \t]*(?:"([^"\s]{4,128})"|'([^'\s]{4,128})'|([^\s"',;<>]{6,128}))"#
);

/// Finds secrets in `text`.
pub(super) fn find(text: &[u8], ctx: &mut Ctx, hits: &mut Vec<Hit>) {
    let alnum = |p: usize| text.get(p).is_some_and(|c| c.is_ascii_alphanumeric());
    let passwords = password_keywords(text);
    let mut password = passwords.iter().copied().peekable();
    let mut literal = next_literal(text, 0);
    let mut pos = 0;
    loop {
        if literal.is_some_and(|(s, _)| s < pos) {
            literal = next_literal(text, pos);
        }
        while password.next_if(|&s| s < pos).is_some() {}
        let (s, lit) = match (literal, password.peek()) {
            (Some((s, lit)), Some(&p)) if s < p => (s, lit),
            (_, Some(&p)) => (p, Lit::Password),
            (Some(l), None) => l,
            (None, None) => break,
        };
        pos = s + 1;
        let rest = &text[s..];
        let left_ok = s == 0 || !alnum(s - 1);
        let found = match lit {
            Lit::Aws if left_ok => AWS
                .find(rest)
                .filter(|r| !alnum(s + r.end()))
                .map(|r| (Kind::SecretAwsAccessKey, false, 0, r.end())),
            Lit::Pem => PEM.find(rest).map(|head| {
                let window = &rest[..rest.len().min(64 << 10)];
                match PEM_END.find_at(window, head.end()) {
                    Some(end) => (Kind::SecretPrivateKey, true, 0, end.end()),
                    None => (Kind::SecretPrivateKey, false, 0, head.end()),
                }
            }),
            Lit::Github if left_ok => GITHUB.find(rest).filter(|r| !alnum(s + r.end())).map(|r| {
                let tok = &rest[..r.end()];
                (
                    Kind::SecretGithubToken,
                    checks::github_checksum(&tok[4..34]) == tok[34..40],
                    0,
                    r.end(),
                )
            }),
            Lit::GithubPat if left_ok => GITHUB_PAT
                .find(rest)
                .map(|r| (Kind::SecretGithubToken, false, 0, r.end())),
            Lit::Slack if left_ok => SLACK.find(rest).map(|r| (Kind::SecretSlackToken, false, 0, r.end())),
            Lit::Azure => AZURE.captures(rest).and_then(|c| {
                let key = c.get(1)?;
                let raw = LENIENT.decode(key.as_bytes()).ok()?;
                (raw.len() == 64).then_some((Kind::SecretAzureStorageKey, true, key.start(), key.end()))
            }),
            Lit::Jwt if left_ok => JWT
                .find(rest)
                .map(|r| (Kind::SecretJwt, jwt_header_ok(rest), 0, r.end())),
            Lit::Password => PASSWORD.captures(rest).and_then(|c| {
                let v = c.get(1).or(c.get(2)).or(c.get(3))?;
                (!placeholder(v.as_bytes())).then_some((Kind::SecretPasswordAssignment, false, v.start(), v.end()))
            }),
            _ => None,
        };
        if let Some((kind, checksum, a, b)) = found {
            hits.push(hit(kind, checksum, s + a, s + b, ctx));
            pos = s + b;
        }
    }
}

/// The first literal at or after `pos` (the longest of those starting there).
fn next_literal(text: &[u8], pos: usize) -> Option<(usize, Lit)> {
    AC.find(&text[pos..])
        .map(|m| (pos + m.start(), LITERALS[m.pattern().as_usize()].1))
}

/// Where password keywords start, in order, counting only those followed by a `:` or `=`
/// (after an optional quote and blanks) as their pattern requires.
fn password_keywords(text: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for c in memchr::memchr2_iter(b':', b'=', text) {
        let mut k = c - text[..c].iter().rev().take_while(|&&b| b == b' ' || b == b'\t').count();
        if k > 0 && matches!(text[k - 1], b'"' | b'\'') {
            k -= 1;
        }
        if let Some(w) = PASSWORD_WORDS.iter().find(|w| text[..k].ends_with(w.as_bytes())) {
            out.push(k - w.len());
        }
    }
    out
}

fn jwt_header_ok(tok: &[u8]) -> bool {
    let head = tok.split(|&c| c == b'.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.strip_suffix(b"=").unwrap_or(head))
        .is_ok_and(|h| h.starts_with(b"{") && h.windows(5).any(|w| w == b"\"alg\""))
}

fn placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    v.iter().all(|&c| c == v[0])
        || lower.starts_with(b"${")
        || lower.starts_with(b"{{")
        || lower.starts_with(b"%")
        || matches!(
            &lower[..],
            b"password" | b"null" | b"none" | b"empty" | b"redacted" | b"secret" | b"undefined"
        )
}
