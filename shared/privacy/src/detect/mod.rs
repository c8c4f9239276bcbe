//! The detectors: one pass per candidate family with cheap prefilters (regex DFAs, memchr,
//! Aho-Corasick), validation only on candidates, context words within 300 bytes.

mod candidates;
pub(crate) mod checks;
mod numeric;
mod phone;
mod secrets;

use crate::{Finding, Kind, Sink, Source};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use candidates::{Candidate, Family};
use regex::bytes::Regex;
use std::sync::LazyLock;

/// How far (bytes) a context word may be from a match to raise its confidence.
pub const CONTEXT_WINDOW: usize = 300;
/// How close before a match a context word must be for kinds that need one to be reported at
/// all (birth dates, bare digit strings): the same clause, e.g. "born on 3 March 1985".
pub const REQUIRED_CONTEXT_WINDOW: usize = 48;

/// A validated candidate, before overlap resolution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub kind: Kind,
    pub conf: u8,
    pub start: usize,
    pub end: usize,
}

/// Context words per kind (matched case-insensitively at word boundaries, plural `s` allowed).
const CONTEXT: &[(Kind, &[&str])] = &[
    (
        Kind::CreditCard,
        &[
            "credit",
            "card",
            "visa",
            "mastercard",
            "amex",
            "debit",
            "payment",
            "cc",
            "cardholder",
        ],
    ),
    (
        Kind::IbanCode,
        &["iban", "bank", "account", "transfer", "swift", "bic", "wire"],
    ),
    (Kind::EmailAddress, &["email", "e-mail", "mail", "contact", "reply"]),
    (
        Kind::PhoneNumber,
        &[
            "phone",
            "tel",
            "telephone",
            "mobile",
            "cell",
            "call",
            "fax",
            "whatsapp",
            "ring",
        ],
    ),
    (
        Kind::IpAddress,
        &["ip", "ipv4", "ipv6", "host", "server", "gateway", "addr"],
    ),
    (Kind::UsSsn, &["ssn", "social security", "ssa", "taxpayer"]),
    (Kind::UkNhs, &["nhs", "health", "patient", "hospital", "gp"]),
    (Kind::UkNino, &["national insurance", "nino", "ni number", "hmrc"]),
    (Kind::Crypto, &["bitcoin", "btc", "wallet", "crypto"]),
    (
        Kind::DateOfBirth,
        &[
            "born",
            "birth",
            "dob",
            "d.o.b",
            "birthday",
            "birthdate",
            "date of birth",
        ],
    ),
    (Kind::SecretAwsAccessKey, &["aws", "access key", "iam"]),
    (Kind::SecretGithubToken, &["github", "token", "gh"]),
    (Kind::SecretSlackToken, &["slack", "token", "bot"]),
    (Kind::SecretJwt, &["jwt", "bearer", "token", "authorization"]),
];

struct ContextWords {
    ac: AhoCorasick,
    masks: Vec<u32>,
    /// Length of the longest word.
    longest: usize,
}

static CONTEXT_WORDS: LazyLock<ContextWords> = LazyLock::new(|| {
    let mut words: Vec<&str> = Vec::new();
    let mut masks: Vec<u32> = Vec::new();
    for (bit, (_, list)) in CONTEXT.iter().enumerate() {
        for w in *list {
            match words.iter().position(|x| x == w) {
                Some(i) => masks[i] |= 1 << bit,
                None => {
                    words.push(w);
                    masks.push(1 << bit);
                }
            }
        }
    }
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&words)
        .expect("context automaton");
    let longest = words.iter().map(|w| w.len()).max().unwrap_or(0);
    ContextWords { ac, masks, longest }
});

fn kind_bit(kind: Kind) -> u32 {
    CONTEXT.iter().position(|(k, _)| *k == kind).map_or(0, |i| 1 << i)
}

/// Context-word positions in one text, found on demand: the text is scanned for context words
/// only around candidates, front to back, so sparse text is mostly never scanned.
pub(crate) struct Ctx<'t> {
    text: &'t [u8],
    /// Context words found so far, by position.
    hits: Vec<(usize, u32)>,
    /// Everything before this offset that needed scanning has been scanned.
    scanned: usize,
}

impl<'t> Ctx<'t> {
    fn new(text: &'t [u8]) -> Self {
        Ctx {
            text,
            hits: Vec::new(),
            scanned: 0,
        }
    }

    /// Whether a context word for `kind` is within [`CONTEXT_WINDOW`] bytes of `[start, end)`.
    pub fn has(&mut self, kind: Kind, start: usize, end: usize) -> bool {
        self.any(kind, start.saturating_sub(CONTEXT_WINDOW), end + CONTEXT_WINDOW)
    }

    /// Whether a context word for `kind` starts within [`REQUIRED_CONTEXT_WINDOW`] bytes before `start`.
    pub fn just_before(&mut self, kind: Kind, start: usize) -> bool {
        self.any(kind, start.saturating_sub(REQUIRED_CONTEXT_WINDOW), start)
    }

    /// Whether a context word for `kind` starts in `[lo, hi]`.
    fn any(&mut self, kind: Kind, lo: usize, hi: usize) -> bool {
        let bit = kind_bit(kind);
        if bit == 0 {
            return false;
        }
        self.scan(lo, hi);
        let first = self.hits.partition_point(|&(p, _)| p < lo);
        self.hits[first..]
            .iter()
            .take_while(|&&(p, _)| p <= hi)
            .any(|&(_, m)| m & bit != 0)
    }

    /// Finds the context words starting in `[lo, hi]` not yet scanned. Queries come in text
    /// order (their `lo` never goes back past what an earlier query scanned).
    fn scan(&mut self, lo: usize, hi: usize) {
        let text = self.text;
        let hi = (hi + 1).min(text.len());
        if hi <= self.scanned {
            return;
        }
        let from = self.scanned.max(lo);
        let cw = &*CONTEXT_WORDS;
        let alpha = |p: usize| text.get(p).is_some_and(|c| c.is_ascii_alphabetic());
        // Words starting before `hi` are found whole; later ones wait for the next scan.
        let end = (hi + cw.longest).min(text.len());
        for m in cw.ac.find_iter(aho_corasick::Input::new(text).range(from..end)) {
            if m.start() >= hi {
                break;
            }
            let e = m.end();
            let right = !alpha(e) || text[e].eq_ignore_ascii_case(&b's') && !alpha(e + 1);
            if (m.start() == 0 || !alpha(m.start() - 1)) && right {
                self.hits.push((m.start(), cw.masks[m.pattern().as_usize()]));
            }
        }
        self.scanned = hi;
    }
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect($pat));
    };
}

re!(NINO, r"(?-u)^[A-Z]{2}( ?)[0-9]{2}( ?)[0-9]{2}( ?)[0-9]{2} ?[A-D]\b");
/// Runs every detector over `text` and pushes the findings to `sink`.
pub(crate) fn detect(text: &[u8], source: &Source, base: usize, sink: &mut Sink) {
    detect_window(text, source, base, 0..text.len(), sink)
}

/// Runs the detectors over `text` but keeps only findings starting inside `keep` (used for
/// overlapping chunks); offsets are shifted by `base`.
pub(crate) fn detect_window(text: &[u8], source: &Source, base: usize, keep: std::ops::Range<usize>, sink: &mut Sink) {
    let mut ctx = Ctx::new(text);
    let mut hits = Vec::new();
    let mut groups = Vec::new();
    let mut pos = 0;
    while let Some(Candidate {
        family,
        start: s,
        end: e,
    }) = candidates::next(text, pos)
    {
        let cand = &text[s..e];
        let next = match family {
            Family::Numeric => {
                numeric::run(text, s, e, &mut groups, &mut ctx, &mut hits);
                e
            }
            Family::Upper => upper(text, s, &mut ctx, &mut hits).unwrap_or(s + 1),
            Family::Bitcoin => {
                let ok = if cand[0] == b'b' || cand[0] == b'B' {
                    checks::bech32_btc(cand)
                } else {
                    checks::base58check_btc(cand)
                };
                if ok {
                    hits.push(hit(Kind::Crypto, true, s, e, &mut ctx));
                }
                e
            }
            Family::MonthDate if month_date(cand) && ctx.just_before(Kind::DateOfBirth, s) => {
                hits.push(Hit {
                    kind: Kind::DateOfBirth,
                    conf: 75,
                    start: s,
                    end: e,
                });
                e
            }
            Family::MonthDate => s + 1,
        };
        pos = next.max(pos + 1);
    }
    emails(text, &mut ctx, &mut hits);
    ipv6_addresses(text, &mut ctx, &mut hits);
    secrets::find(text, &mut ctx, &mut hits);
    for h in resolve(hits) {
        if keep.contains(&h.start) {
            sink.push_with(h.kind, h.conf, || {
                let value = String::from_utf8_lossy(&text[h.start..h.end]);
                Finding::new(h.kind, h.conf, source.clone(), base + h.start, base + h.end, &value)
            });
        }
    }
}

/// A hit whose confidence is 65, +10 with a checksum, +10 with a context word.
fn hit(kind: Kind, checksum: bool, start: usize, end: usize, ctx: &mut Ctx) -> Hit {
    let conf = 65 + 10 * checksum as u8 + 10 * ctx.has(kind, start, end) as u8;
    Hit { kind, conf, start, end }
}

/// Keeps, among overlapping hits, the most confident (then the longest).
fn resolve(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        match out.last_mut() {
            Some(last) if h.start < last.end => {
                if (h.conf, h.end - h.start) > (last.conf, last.end - last.start) {
                    *last = h;
                }
            }
            _ => out.push(h),
        }
    }
    out
}

fn is_alnum(text: &[u8], p: usize) -> bool {
    text.get(p).is_some_and(|c| c.is_ascii_alphanumeric())
}

/// IBAN (grouped by four or not) or UK NINO at `s` (two capitals); returns the end.
fn upper(text: &[u8], s: usize, ctx: &mut Ctx, hits: &mut Vec<Hit>) -> Option<usize> {
    if let Some(e) = iban(text, s) {
        hits.push(hit(Kind::IbanCode, true, s, e, ctx));
        return Some(e);
    }
    let c = NINO.captures(&text[s..])?;
    let spaces: Vec<usize> = (1..=3).map(|i| c.get(i).map_or(0, |g| g.len())).collect();
    let e = s + c.get(0)?.end();
    let consistent = spaces.iter().all(|&n| n == 0) || spaces.iter().all(|&n| n == 1);
    if !checks::nino_prefix(text[s], text[s + 1]) || !consistent {
        return None;
    }
    hits.push(hit(Kind::UkNino, false, s, e, ctx));
    Some(e)
}

/// Parses an IBAN at `s`; returns its end.
fn iban(text: &[u8], s: usize) -> Option<usize> {
    let want = checks::iban_length(&text[s..s + 2])?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = s;
    let mut grouped = None;
    while n < want {
        match text.get(i) {
            Some(&c) if c.is_ascii_uppercase() || c.is_ascii_digit() => {
                chars[n] = c;
                n += 1;
                i += 1;
            }
            Some(b' ') if n % 4 == 0 && n > 0 && grouped != Some(false) && is_alnum(text, i + 1) => {
                grouped = Some(true);
                i += 1;
            }
            _ => return None,
        }
        if n == 4 && grouped.is_none() && text.get(i) != Some(&b' ') {
            grouped = Some(false);
        }
    }
    (!is_alnum(text, i) && checks::iban_mod97(&chars[..n])).then_some(i)
}

/// E-mail addresses, found from each `@`.
fn emails(text: &[u8], ctx: &mut Ctx, hits: &mut Vec<Hit>) {
    let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-');
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'@', &text[from..]) {
        let at = from + off;
        from = at + 1;
        let mut s = at;
        while s > 0 && at - s < 64 && local(text[s - 1]) {
            s -= 1;
        }
        while s < at && text[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < text.len() && e - at < 254 && domain(text[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(text[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let (l, d) = (&text[s..at], &text[at + 1..e]);
        if l.is_empty() || l.ends_with(b".") || l.windows(2).any(|w| w == b"..") || !valid_domain(d) {
            continue;
        }
        hits.push(hit(Kind::EmailAddress, false, s, e, ctx));
        from = e;
    }
}

fn valid_domain(d: &[u8]) -> bool {
    let labels: Vec<&[u8]> = d.split(|&c| c == b'.').collect();
    let tld = labels[labels.len() - 1];
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-')
        && tld.len() >= 2
        && tld.iter().all(|c| c.is_ascii_alphabetic())
}

/// IPv6 addresses, found from each `::` or from runs of colon-separated hex groups (colons are
/// rare in prose, so this costs a `memchr` pass).
fn ipv6_addresses(text: &[u8], ctx: &mut Ctx, hits: &mut Vec<Hit>) {
    let part = |c: u8| c.is_ascii_hexdigit() || c == b':';
    let mut from = 0;
    while let Some(off) = memchr::memchr(b':', &text[from..]) {
        let colon = from + off;
        let mut s = colon;
        while s > 0 && colon - s < 40 && part(text[s - 1]) {
            s -= 1;
        }
        let mut e = colon + 1;
        while e < text.len() && e - s < 45 && part(text[e]) {
            e += 1;
        }
        from = e.max(colon + 1);
        let cand = &text[s..e];
        let boundary = |p: Option<&u8>| p.is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'.');
        let dot_then_alnum = text.get(e) == Some(&b'.') && text.get(e + 1).is_some_and(u8::is_ascii_alphanumeric);
        let right_ok = boundary(text.get(e)) || text.get(e) == Some(&b'.') && !dot_then_alnum;
        let groups = cand.split(|&c| c == b':').filter(|g| !g.is_empty()).count();
        if boundary(s.checked_sub(1).and_then(|p| text.get(p)))
            && right_ok
            && groups >= 2
            && cand.iter().any(u8::is_ascii_digit)
            && std::str::from_utf8(cand).is_ok_and(|v| v.parse::<std::net::Ipv6Addr>().is_ok())
        {
            hits.push(hit(Kind::IpAddress, false, s, e, ctx));
        }
    }
}

fn month_date(m: &[u8]) -> bool {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let s = String::from_utf8_lossy(m).to_ascii_lowercase();
    let words: Vec<&str> = s.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let (mut day, mut month, mut year) = (0, 0, 0);
    for w in words {
        let w = w.trim_end_matches('.');
        if let Some(i) = MONTHS
            .iter()
            .position(|mo| mo.starts_with(w) && w.len() >= 3 || *mo == w)
        {
            month = i as u32 + 1;
        } else {
            let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
            let v: u32 = digits.parse().unwrap_or(0);
            if digits.len() == 4 {
                year = v;
            } else {
                day = v;
            }
        }
    }
    checks::plausible_birth_date(year, month, day)
}
