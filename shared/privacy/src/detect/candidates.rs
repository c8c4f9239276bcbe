//! Finding candidates: the leftmost match of the candidate patterns, without running a DFA over
//! text that cannot hold one.
//!
//! Every candidate has a digit within [`MAX_LEAD`] bytes of its start, so the scan jumps from
//! digit to digit. At a digit, cheap byte checks tell whether anything but a plain numeric run
//! could start there; if not (the common case) the numeric run is parsed by hand, otherwise the
//! patterns' DFA decides, over a window around the digit that no candidate starting there can
//! outgrow. Either way the result is the match a search of the whole text with
//! [`CANDIDATES`] would return.

use super::bytes::{byte_mask, digit_mask, letter_mask};
use regex_automata::{meta, Input};
use std::sync::LazyLock;

/// The candidate families; on equal starts the earlier one wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    MonthDate,
    Bitcoin,
    Upper,
    Numeric,
}

const FAMILIES: &[(Family, &str)] = &[
    (
        Family::MonthDate,
        r"(?i-u)\b(?:\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?,? \d{4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})\b",
    ),
    (
        Family::Bitcoin,
        r"(?-u)\b(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,87}|BC1[02-9AC-HJ-NP-Z]{11,87})\b",
    ),
    (Family::Upper, r"(?-u)\b[A-Z]{2} ?[0-9]{2}"),
    (Family::Numeric, r"(?-u)(?:\+|\()?\b\d(?:[\d \-./()]*\d)?\b"),
];

/// The candidate patterns, searched together (leftmost first, earlier pattern on ties).
static CANDIDATES: LazyLock<meta::Regex> = LazyLock::new(|| {
    let patterns: Vec<&str> = FAMILIES.iter().map(|(_, p)| *p).collect();
    meta::Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false).unicode(false))
        .configure(meta::Regex::config().utf8_empty(false))
        .build_many(&patterns)
        .expect("candidate patterns")
});

/// Most bytes before its first digit a candidate can start: "September. 3, 1985".
const MAX_LEAD: usize = 11;
/// Most bytes a candidate other than a numeric run can reach past its first digit: a bech32
/// address ("bc1" and up to 87 characters).
const MAX_TAIL: usize = 88;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A candidate: its family and byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub family: Family,
    pub start: usize,
    pub end: usize,
}

/// The leftmost candidate starting at or after `pos`.
pub(crate) fn next(text: &[u8], mut pos: usize) -> Option<Candidate> {
    loop {
        let d = next_digit(text, pos)?;
        let lo = pos.max(d.saturating_sub(MAX_LEAD));
        let found = if dfa_needed(text, lo, d) {
            let hi = run_end(text, d).max(d + MAX_TAIL).min(text.len());
            CANDIDATES
                .search(&Input::new(text).range(lo..hi))
                .filter(|m| m.start() <= d)
                .map(|m| Candidate {
                    family: FAMILIES[m.pattern().as_usize()].0,
                    start: m.start(),
                    end: m.end(),
                })
        } else if let Some(start) = upper(text, lo, d) {
            Some(Candidate {
                family: Family::Upper,
                start,
                end: d + 2,
            })
        } else {
            numeric(text, pos, d)
        };
        if found.is_some() {
            return found;
        }
        // No candidate starts in [pos, d]; none starts inside a word either.
        pos = word_end(text, d);
    }
}

/// Whether `c` is a word byte (`[0-9A-Za-z_]`, as `\b` in the patterns counts it).
pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first ASCII digit at or after `from`, eight bytes at a time.
fn next_digit(text: &[u8], from: usize) -> Option<usize> {
    let rest = text.get(from..)?;
    let mut words = rest.chunks_exact(8);
    for (i, w) in words.by_ref().enumerate() {
        let mask = digit_mask(u64::from_le_bytes(w.try_into().expect("eight bytes")));
        if mask != 0 {
            return Some(from + i * 8 + mask.trailing_zeros() as usize / 8);
        }
    }
    let tail = words.remainder();
    tail.iter()
        .position(u8::is_ascii_digit)
        .map(|p| from + rest.len() - tail.len() + p)
}

/// The end of the word (`[0-9A-Za-z_]*`) starting at `from`, eight bytes at a time: hex ids and
/// tokens with digits inside are skipped whole.
fn word_end(text: &[u8], from: usize) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(w) = text.get(i..i + 8) {
        let w = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        let others = !(letter_mask(w) | digit_mask(w) | byte_mask(w, b'_')) & HIGH;
        if others != 0 {
            return i + others.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + text[i..].iter().take_while(|&&c| is_word(c)).count()
}

/// The end of the run of numeric-run bytes (`[\d \-./()]`) from `d`.
fn run_end(text: &[u8], d: usize) -> usize {
    let in_run = |c: &u8| c.is_ascii_digit() || matches!(c, b' ' | b'-' | b'.' | b'/' | b'(' | b')');
    d + text[d..].iter().take_while(|c| in_run(c)).count()
}

/// Whether a Bitcoin address or a date with a month name could start in `[lo, d]`, `d` being
/// the first digit at or after `lo`. May say yes wrongly (the DFA then decides), never no
/// wrongly. Otherwise only an `Upper` candidate or a numeric run can start there.
fn dfa_needed(text: &[u8], lo: usize, d: usize) -> bool {
    let bech32 = d >= lo + 2 && text[d] == b'1' && text[d - 2..d].eq_ignore_ascii_case(b"bc");
    if d > lo && is_word(text[d - 1]) {
        // Inside a word only "bc1…" (or "GB82…") can have started, two bytes back.
        return bech32;
    }
    let base58 = |c: &u8| c.is_ascii_alphanumeric() && !matches!(c, b'0' | b'O' | b'I' | b'l');
    // Bitcoin: "1" or "3" and at least 25 more base58 characters, or "bc1".
    (matches!(text[d], b'1' | b'3') && text.get(d + 1..d + 26).is_some_and(|w| w.iter().all(base58)))
        || bech32
        || month_after_day(text, d)
        || month_before_day(text, lo, d)
}

/// The start of an `Upper` candidate (`\b[A-Z]{2} ?[0-9]{2}`, an IBAN or NINO head) whose first
/// digit is `d`, starting at or after `lo`.
fn upper(text: &[u8], lo: usize, d: usize) -> Option<usize> {
    let capitals = |s: usize| text[s].is_ascii_uppercase() && text[s + 1].is_ascii_uppercase();
    let boundary = |s: usize| s == 0 || !is_word(text[s - 1]);
    if !text.get(d + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if d >= lo + 2 && capitals(d - 2) && boundary(d - 2) {
        return Some(d - 2);
    }
    (d >= lo + 3 && text[d - 1] == b' ' && capitals(d - 3) && boundary(d - 3)).then(|| d - 3)
}

/// Whether the three bytes at `i` start a month name (any case).
fn month_at(text: &[u8], i: usize) -> bool {
    // Setting bit 5 lowercases letters and never turns another byte into a letter.
    text.get(i..i + 3)
        .is_some_and(|w| MONTHS.contains(&&[w[0] | 0x20, w[1] | 0x20, w[2] | 0x20]))
}

/// "3 March", "21st Mar": a day at `d`, then a month name.
fn month_after_day(text: &[u8], d: usize) -> bool {
    let mut i = d + 1;
    if text.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if text.get(i).is_some_and(u8::is_ascii_alphabetic) {
        i += 2; // st, nd, rd, th
    }
    text.get(i) == Some(&b' ') && month_at(text, i + 1)
}

/// "March 3", "Sept. 21": a month name starting at or after `lo`, then the day at `d`.
fn month_before_day(text: &[u8], lo: usize, d: usize) -> bool {
    if d < lo + 4 || text[d - 1] != b' ' {
        return false;
    }
    let mut j = d - 1;
    if text[j - 1] == b'.' {
        j -= 1;
    }
    let letters = text[lo..j]
        .iter()
        .rev()
        .take(9)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    letters >= 3 && month_at(text, j - letters)
}

/// The numeric run starting at `d` (or at a `+` or `(` just before it, at or after `pos`), as
/// the `Numeric` pattern matches it: the longest stretch of `[\d \-./()]` that ends in a digit
/// followed by a non-word byte.
fn numeric(text: &[u8], pos: usize, d: usize) -> Option<Candidate> {
    let start = if d > pos && matches!(text[d - 1], b'+' | b'(') {
        d - 1
    } else if d == 0 || !is_word(text[d - 1]) {
        d
    } else {
        return None;
    };
    let boundary_at = |e: usize| text.get(e).is_none_or(|&c| !is_word(c));
    let end = (d + 1..=run_end(text, d))
        .rev()
        .find(|&e| text[e - 1].is_ascii_digit() && boundary_at(e))?;
    Some(Candidate {
        family: Family::Numeric,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candidates of the whole-text DFA search, for comparison.
    fn by_dfa(text: &[u8]) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(m) = CANDIDATES.search(&Input::new(text).range(pos..)) {
            out.push(Candidate {
                family: FAMILIES[m.pattern().as_usize()].0,
                start: m.start(),
                end: m.end(),
            });
            pos = m.start() + 1;
        }
        out
    }

    fn by_scan(text: &[u8]) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(c) = next(text, pos) {
            out.push(c);
            pos = c.start + 1;
        }
        out
    }

    #[test]
    fn word_end_stops_at_the_first_non_word_byte() {
        for b in 0..=255u8 {
            for at in 0..20 {
                let mut text = [b'a'; 20];
                text[3] = b'_';
                text[5] = b'7';
                text[at] = b;
                let want = if is_word(b) { 20 } else { at };
                assert_eq!(word_end(&text, 0), want, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn same_candidates_as_the_dfa() {
        let pieces: &[&str] = &[
            "1",
            "3",
            "12",
            "123",
            "0",
            "+",
            "+44",
            "(",
            ")",
            "-",
            ".",
            "/",
            " ",
            "  ",
            "\n",
            ",",
            "_",
            "a",
            "Q",
            "GB",
            "AB",
            "SSN",
            "bc1",
            "BC1",
            "Jan",
            "march",
            "Sept.",
            "September",
            "st",
            "th",
            "x",
            "é",
            "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "qpzry9x8gf2t",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..200 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            assert_eq!(by_scan(text.as_bytes()), by_dfa(text.as_bytes()), "{text:?}");
        }
    }
}
