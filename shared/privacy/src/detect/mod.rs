//! The detectors: one pass per candidate family with cheap prefilters (regex DFAs, memchr,
//! Aho-Corasick), validation only on candidates, context words within 300 bytes.

mod bytes;
mod candidates;
pub(crate) mod checks;
mod numeric;
mod phone;
mod secrets;

use crate::cx::Sink;
use crate::{Finding, Kind, Source};
use candidates::{Candidate, Family};
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

/// The context words, looked up at word starts: the first three bytes of a word tell whether
/// it may be one, its first two select the few it can be.
struct ContextWords {
    words: Vec<&'static [u8]>,
    /// Per word, the bit (index in [`CONTEXT`]) of every kind it is a context word for.
    masks: Vec<u32>,
    /// Bit set of the [`key3`] of every word's first three bytes (all third bytes for
    /// two-letter words).
    heads: [u64; 512],
    /// Per [`key2`] of a word's first two bytes, 1 + the index of its group (0: none).
    pairs: [u8; 1024],
    /// Groups of word indices sharing a pair key.
    groups: Vec<Vec<usize>>,
}

static CONTEXT_WORDS: LazyLock<ContextWords> = LazyLock::new(|| {
    let mut words: Vec<&'static [u8]> = Vec::new();
    let mut masks: Vec<u32> = Vec::new();
    for (bit, (_, list)) in CONTEXT.iter().enumerate() {
        for w in list.iter().map(|w| w.as_bytes()) {
            match words.iter().position(|x| *x == w) {
                Some(i) => masks[i] |= 1 << bit,
                None => {
                    words.push(w);
                    masks.push(1 << bit);
                }
            }
        }
    }
    let mut heads = [0u64; 512];
    let mut pairs = [0u8; 1024];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        assert!(w.len() >= 2 && w[0].is_ascii_lowercase(), "context word {w:?}");
        let thirds = if w.len() == 2 { 0..32 } else { w[2]..w[2] + 1 };
        for c in thirds {
            let k = key3(w[0], w[1], c);
            heads[k / 64] |= 1 << (k % 64);
        }
        let slot = &mut pairs[key2(w[0], w[1])];
        if *slot == 0 {
            groups.push(Vec::new());
            *slot = u8::try_from(groups.len()).expect("fewer than 256 groups");
        }
        groups[*slot as usize - 1].push(i);
    }
    ContextWords {
        words,
        masks,
        heads,
        pairs,
        groups,
    }
});

/// A table index for two bytes, case-insensitive for letters (other bytes may share an index
/// with a letter: the lookup compares the whole word anyway).
fn key2(a: u8, b: u8) -> usize {
    ((a & 0x1f) as usize) << 5 | (b & 0x1f) as usize
}

/// A table index for three bytes, like [`key2`].
fn key3(a: u8, b: u8, c: u8) -> usize {
    key2(a, b) << 5 | (c & 0x1f) as usize
}

/// Context words are looked up a block of this many bytes at a time, when a query first
/// needs the block.
const BLOCK: usize = 64;

/// The context words of one scanned block.
#[derive(Clone)]
struct Block {
    /// The range of [`Ctx::words`] holding them.
    words: std::ops::Range<usize>,
    /// The kinds any of them is context for, as [`CONTEXT`] bits.
    kinds: u32,
}

/// Context words of one text, found block by block where queries need them. A word belongs to
/// the block it starts in and is found from the bytes around it alone, so whether a match has
/// context depends only on the text within its window, never on which other candidates were
/// looked at before or in what order.
pub(crate) struct Ctx<'t> {
    text: &'t [u8],
    /// Per block, its context words once it has been scanned.
    blocks: Vec<Option<Block>>,
    /// Context words found so far (start, kinds as [`CONTEXT`] bits), in the order blocks were
    /// scanned; ascending within each block.
    words: Vec<(usize, u32)>,
}

impl<'t> Ctx<'t> {
    fn new(text: &'t [u8]) -> Self {
        Ctx {
            text,
            blocks: Vec::new(),
            words: Vec::new(),
        }
    }

    /// Whether a context word for `kind` starts within [`CONTEXT_WINDOW`] bytes of `[start, end)`.
    pub fn has(&mut self, kind: Kind, start: usize, end: usize) -> bool {
        self.any(kind, start.saturating_sub(CONTEXT_WINDOW), end + CONTEXT_WINDOW, start)
    }

    /// Whether a context word for `kind` starts within [`REQUIRED_CONTEXT_WINDOW`] bytes before `start`.
    pub fn just_before(&mut self, kind: Kind, start: usize) -> bool {
        self.any(kind, start.saturating_sub(REQUIRED_CONTEXT_WINDOW), start, start)
    }

    /// Whether a context word for `kind` starts in `[lo, hi]`. Blocks are looked at from the
    /// one holding `near` outwards: context words usually sit next to their match, so the
    /// blocks further away are often never scanned.
    fn any(&mut self, kind: Kind, lo: usize, hi: usize, near: usize) -> bool {
        let Some(bit) = CONTEXT.iter().position(|(k, _)| *k == kind).map(|i| 1u32 << i) else {
            return false;
        };
        let hi = hi.min(self.text.len().saturating_sub(1));
        if self.text.is_empty() || lo > hi {
            return false;
        }
        if self.blocks.is_empty() {
            self.blocks = vec![None; self.text.len().div_ceil(BLOCK)];
        }
        let (first, last) = (lo / BLOCK, hi / BLOCK);
        let centre = (near / BLOCK).clamp(first, last);
        let mut outwards = (0..=(centre - first).max(last - centre)).flat_map(|d| {
            let below = (d > 0 && centre - first >= d).then(|| centre - d);
            let above = (centre + d <= last).then_some(centre + d);
            [above, below].into_iter().flatten()
        });
        outwards.any(|b| {
            let block = self.block(b);
            if block.kinds & bit == 0 {
                return false;
            }
            // a block wholly inside the range needs no look at its words' positions
            (lo..=hi).contains(&(b * BLOCK)) && (lo..=hi).contains(&((b + 1) * BLOCK - 1))
                || self.words[block.words.clone()]
                    .iter()
                    .any(|&(p, m)| m & bit != 0 && (lo..=hi).contains(&p))
        })
    }

    /// The context words of block `b`, scanning it if needed.
    fn block(&mut self, b: usize) -> Block {
        if let Some(block) = &self.blocks[b] {
            return block.clone();
        }
        let from = self.words.len();
        let end = ((b + 1) * BLOCK).min(self.text.len());
        context_words(self.text, b * BLOCK..end, &mut self.words);
        let block = Block {
            kinds: self.words[from..].iter().fold(0, |kinds, &(_, m)| kinds | m),
            words: from..self.words.len(),
        };
        self.blocks[b] = Some(block.clone());
        block
    }
}

/// Pushes the context words starting in `range` of `text` (start, kinds as [`CONTEXT`] bits),
/// in text order. At each word start (a letter after a non-letter) whose first three bytes may
/// begin a context word, the words its first two bytes select are compared case-insensitively,
/// and each one followed by a non-letter (or by a plural `s` and a non-letter) counts.
fn context_words(text: &[u8], range: std::ops::Range<usize>, out: &mut Vec<(usize, u32)>) {
    let cw = &*CONTEXT_WORDS;
    let byte = |p: usize| text.get(p).copied().unwrap_or(0);
    let letter = |p: usize| byte(p).is_ascii_alphabetic();
    let mut found = |p: usize| {
        let k = key3(text[p], byte(p + 1), byte(p + 2));
        if cw.heads[k / 64] & 1 << (k % 64) == 0 {
            return;
        }
        let mut mask = 0;
        for &w in &cw.groups[cw.pairs[key2(text[p], byte(p + 1))] as usize - 1] {
            let word = cw.words[w];
            let e = p + word.len();
            let plural = byte(e).eq_ignore_ascii_case(&b's') && !letter(e + 1);
            if text.get(p..e).is_some_and(|t| t.eq_ignore_ascii_case(word)) && (!letter(e) || plural) {
                mask |= cw.masks[w];
            }
        }
        if mask != 0 {
            out.push((p, mask));
        }
    };
    // Word starts are letters whose previous byte is not one: found eight bytes at a time,
    // gathered into one bit per byte for 64 bytes, then visited.
    let mut prev = if range.start > 0 && letter(range.start - 1) {
        0x80
    } else {
        0
    };
    for at in range.clone().step_by(64) {
        let mut starts = 0u64;
        for j in 0..8 {
            let from = at + 8 * j;
            let mut block = [0u8; 8];
            if from + 8 <= range.end {
                block.copy_from_slice(&text[from..from + 8]);
            } else if from < range.end {
                block[..range.end - from].copy_from_slice(&text[from..range.end]);
            }
            let letters = bytes::letter_mask(u64::from_le_bytes(block));
            let heads = letters & !(letters << 8 | prev);
            prev = letters >> 56;
            // The high bit of each byte, gathered into the top byte, then into bits 8j..8j+8.
            starts |= ((heads >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * j);
        }
        while starts != 0 {
            found(at + starts.trailing_zeros() as usize);
            starts &= starts - 1;
        }
    }
}

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
    let e = nino(text, s)?;
    if !checks::nino_prefix(text[s], text[s + 1]) {
        return None;
    }
    hits.push(hit(Kind::UkNino, false, s, e, ctx));
    Some(e)
}

/// Parses a UK NINO at `s` (two capitals): three pairs of digits, each after a space or none
/// after a space, then a suffix letter A-D, maybe after a space ("QQ 12 34 56 C",
/// "QQ123456C"); returns its end.
fn nino(text: &[u8], s: usize) -> Option<usize> {
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let spaced = at(s + 2) == b' ';
    let mut i = s + 2;
    for _ in 0..3 {
        if spaced {
            if at(i) != b' ' {
                return None;
            }
            i += 1;
        }
        if !(at(i).is_ascii_digit() && at(i + 1).is_ascii_digit()) {
            return None;
        }
        i += 2;
    }
    i += usize::from(at(i) == b' ');
    (matches!(at(i), b'A'..=b'D') && !candidates::is_word(at(i + 1))).then_some(i + 1)
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
        // The parser takes an address without "::" only with eight groups (`cand` has no dots,
        // so no IPv4 tail): anything else, such as a time, is not parsed.
        if boundary(s.checked_sub(1).and_then(|p| text.get(p)))
            && right_ok
            && (groups == 8 || groups >= 2 && cand.windows(2).any(|w| w == b"::"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nino_parses_what_its_pattern_matches_with_consistent_spacing() {
        let pattern = regex::bytes::Regex::new(r"(?-u)^[A-Z]{2}( ?)[0-9]{2}( ?)[0-9]{2}( ?)[0-9]{2} ?[A-D]\b").unwrap();
        let by_pattern = |text: &[u8]| {
            let c = pattern.captures(text)?;
            let spaces: Vec<usize> = (1..=3).map(|i| c[i].len()).collect();
            (spaces == [0, 0, 0] || spaces == [1, 1, 1]).then(|| c[0].len())
        };
        // slots: separator, pair, separator, pair, separator, pair, separator, suffix, what follows
        let seps: &[&str] = &["", "", " ", " ", "  ", "-"];
        let pairs: &[&str] = &["12", "34", "90", "1", "1a"];
        let suffixes: &[&str] = &["A", "C", "D", "E", "x", ""];
        let after: &[&str] = &["", " ", ".", "_", "x", "1", "é"];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut pick = |from: &[&'static str]| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            from[(seed % from.len() as u64) as usize]
        };
        let mut found = 0;
        for _ in 0..20_000 {
            let mut text = String::from("QQ");
            for _ in 0..3 {
                text.push_str(pick(seps));
                text.push_str(pick(pairs));
            }
            text.push_str(pick(seps));
            text.push_str(pick(suffixes));
            text.push_str(pick(after));
            let parsed = nino(text.as_bytes(), 0);
            assert_eq!(parsed, by_pattern(text.as_bytes()), "{text:?}");
            found += usize::from(parsed.is_some());
        }
        assert!(found > 50, "only {found} numbers generated");
        assert_eq!(nino(b"QQ 12 34 56 C", 0), Some(13));
        assert_eq!(nino(b"QQ123456C", 0), Some(9));
    }

    #[test]
    fn context_words_are_found_at_every_word_start() {
        let text = "Card, cards cardholder ccard re-mail E-MAIL:x date of birth\u{e9}DOB d.o.b token ipv6 gp";
        // The definition, position by position.
        let mut want = Vec::new();
        let letter = |p: usize| text.as_bytes().get(p).is_some_and(u8::is_ascii_alphabetic);
        for p in (0..text.len()).filter(|&p| letter(p) && (p == 0 || !letter(p - 1))) {
            let mut mask = 0;
            for (k, (_, words)) in CONTEXT.iter().enumerate() {
                let hit = words.iter().any(|w| {
                    let rest = &text.as_bytes()[p..];
                    let e = p + w.len();
                    rest.len() >= w.len()
                        && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
                        && (!letter(e) || text.as_bytes()[e].eq_ignore_ascii_case(&b's') && !letter(e + 1))
                });
                mask |= (hit as u32) << k;
            }
            if mask != 0 {
                want.push((p, mask));
            }
        }
        let mut got = Vec::new();
        for from in (0..text.len()).step_by(16) {
            context_words(text.as_bytes(), from..(from + 16).min(text.len()), &mut got);
        }
        assert_eq!(got, want);
        assert!(want.len() >= 12, "{want:?}");
    }
}
