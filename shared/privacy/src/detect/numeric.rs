//! Numeric runs (digits with spaces, dashes, dots, slashes, parentheses): split into windows of
//! digit groups at whitespace, then classified as card, NHS, SSN, phone, IPv4 or birth date.

use super::checks::{card_issuer, luhn, nhs_mod11, plausible_birth_date, ssn_valid};
use super::phone::{self, PhoneMatch};
use super::{Ctx, Hit};
use crate::Kind;

const MAX_GROUPS: usize = 8;

/// A window of consecutive digit groups inside a numeric run.
pub struct Cand<'a> {
    text: &'a [u8],
    groups: &'a [(usize, usize)],
    /// Number of groups in the window.
    pub n: usize,
    /// Written with a leading `+`.
    pub plus: bool,
    /// Written with the first group in parentheses.
    pub paren: bool,
    digits: [u8; 20],
    nd: usize,
}

impl<'a> Cand<'a> {
    /// All digits of the window.
    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.nd]
    }

    /// The digits of group `i`.
    pub fn group(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.groups[i];
        &self.text[s..e]
    }

    /// The separator bytes between group `i` and `i + 1`.
    pub fn sep(&self, i: usize) -> &'a [u8] {
        &self.text[self.groups[i].1..self.groups[i + 1].0]
    }

    /// The separator if all separators are the same single byte (`Some(0)` for one group).
    pub fn uniform_sep(&self) -> Option<u8> {
        if self.n == 1 {
            return Some(0);
        }
        let first = self.sep(0);
        (first.len() == 1 && (1..self.n - 1).all(|i| self.sep(i) == first)).then(|| first[0])
    }

    /// The length of each group (the first [`Cand::n`] entries).
    pub fn lens(&self) -> [usize; MAX_GROUPS] {
        let mut l = [0; MAX_GROUPS];
        for (i, slot) in l.iter_mut().enumerate().take(self.n) {
            *slot = self.group(i).len();
        }
        l
    }
}

/// The fewest bytes from the first digit to the last of a window [`classify`] can accept: seven
/// digits (a phone number, the shortest of the kinds told by digit count) or an IPv4 address
/// ("1.2.3.4", four groups); a numeric date has six digits and two separators at least.
const MIN_SPAN: usize = 7;

/// Most digit groups of one numeric run that are looked at.
const MAX_RUN_GROUPS: usize = 64;

/// Classifies every window of the numeric run `[s, e)` and pushes hits; `groups` is scratch
/// space, reused across runs. Runs shorter than [`MIN_SPAN`] (most times, prices, order numbers
/// and versions in prose) are dismissed without being parsed.
pub fn run(text: &[u8], s: usize, e: usize, groups: &mut Vec<(usize, usize)>, ctx: &mut Ctx, hits: &mut Vec<Hit>) {
    if e - s < MIN_SPAN {
        return;
    }
    groups.clear();
    let mut i = s;
    while i < e && groups.len() < MAX_RUN_GROUPS {
        if text[i].is_ascii_digit() {
            let gs = i;
            while i < e && text[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((gs, i));
        } else {
            i += 1;
        }
    }
    let groups = &groups[..];
    let n = groups.len();
    let breaks_before = |k: usize| k == 0 || text[groups[k - 1].1..groups[k].0].contains(&b' ');
    let mut k = 0;
    while k < n {
        if !breaks_before(k) {
            k += 1;
            continue;
        }
        let mut matched = false;
        for len in (1..=MAX_GROUPS.min(n - k)).rev() {
            let last = k + len - 1;
            if last + 1 < n && !breaks_before(last + 1) {
                continue;
            }
            if let Some(hit) = classify(text, &groups[k..=last], ctx) {
                hits.push(hit);
                k += len;
                matched = true;
                break;
            }
        }
        if !matched {
            k += 1;
        }
    }
}

fn classify(text: &[u8], groups: &[(usize, usize)], ctx: &mut Ctx) -> Option<Hit> {
    let (first_s, _) = groups[0];
    let (_, end) = groups[groups.len() - 1];
    let mut digits = [0u8; 20];
    let mut nd = 0;
    for &(s, e) in groups {
        if nd + (e - s) > digits.len() {
            return None;
        }
        digits[nd..nd + e - s].copy_from_slice(&text[s..e]);
        nd += e - s;
    }
    let before = |k: usize| first_s.checked_sub(k).map(|p| text[p]);
    let paren = before(1) == Some(b'(');
    let plus = before(1) == Some(b'+') || paren && before(2) == Some(b'+');
    let start = first_s - plus as usize - paren as usize;
    let c = Cand {
        text,
        groups,
        n: groups.len(),
        plus,
        paren,
        digits,
        nd,
    };
    // Every kind below needs at least seven digits or at least three groups.
    if nd < 7 && c.n < 3 {
        return None;
    }
    let d = c.digits();
    let lens = c.lens();
    let lens = &lens[..c.n];
    let sep = c.uniform_sep();
    let mut best: Option<(u32, Kind, u8)> = None;
    let mut offer = |kind: Kind, checksum: bool, needs_ctx: bool, ctx: &mut Ctx| {
        if needs_ctx && !ctx.just_before(kind, start) {
            return;
        }
        let has_ctx = ctx.has(kind, start, end);
        let conf = 65 + 10 * checksum as u8 + 10 * has_ctx as u8;
        let score = conf as u32 * 4 + has_ctx as u32 * 2;
        if best.is_none_or(|(s, _, _)| score > s) {
            best = Some((score, kind, conf));
        }
    };
    let plain = !plus && !paren;
    // Payment card: 13-19 digits, one block or groups of four (Amex 4-6-5, Diners 4-6-4).
    if plain && (13..=19).contains(&nd) && matches!(sep, Some(0 | b' ' | b'-')) {
        let shape = c.n == 1
            || lens == [4, 6, 5]
            || lens == [4, 6, 4]
            || lens[..c.n - 1].iter().all(|&l| l == 4) && lens[c.n - 1] <= 4;
        if shape && card_issuer(d) && luhn(d) {
            offer(Kind::CreditCard, true, false, ctx);
        }
    }
    // NHS: 943 476 5919 (dashes or one block only with context).
    if plain && nd == 10 && nhs_mod11(d) {
        if lens == [3, 3, 4] && sep == Some(b' ') {
            offer(Kind::UkNhs, true, false, ctx);
        } else if c.n == 1 || lens == [3, 3, 4] && sep == Some(b'-') {
            offer(Kind::UkNhs, true, true, ctx);
        }
    }
    // SSN: 123-45-6789 or 123 45 6789; nine bare digits only with context.
    if plain && nd == 9 && ssn_valid(d) {
        if lens == [3, 2, 4] && matches!(sep, Some(b'-' | b' ')) {
            offer(Kind::UsSsn, false, false, ctx);
        } else if c.n == 1 {
            offer(Kind::UsSsn, false, true, ctx);
        }
    }
    if let Some(m) = phone::check(&c) {
        offer(Kind::PhoneNumber, false, m == PhoneMatch::NeedsContext, ctx);
    }
    // IPv4 dotted quad.
    if plain
        && c.n == 4
        && sep == Some(b'.')
        && ipv4(&c)
        && !(text.get(end) == Some(&b'.') && text.get(end + 1).is_some_and(u8::is_ascii_digit))
        && before(1) != Some(b'.')
    {
        offer(Kind::IpAddress, false, false, ctx);
    }
    // Numeric dates next to a birth-date context word.
    if plain && c.n == 3 && matches!(sep, Some(b'/' | b'-' | b'.')) && numeric_date(&c) {
        offer(Kind::DateOfBirth, false, true, ctx);
    }
    let (_, kind, conf) = best?;
    Some(Hit { kind, conf, start, end })
}

fn num(g: &[u8]) -> u32 {
    g.iter()
        .fold(0, |a, &c| a.saturating_mul(10).saturating_add((c - b'0') as u32))
}

fn ipv4(c: &Cand) -> bool {
    (0..4).all(|i| {
        let g = c.group(i);
        g.len() <= 3 && num(g) <= 255 && (g.len() == 1 || g[0] != b'0')
    })
}

fn numeric_date(c: &Cand) -> bool {
    let (a, b, y) = (c.group(0), c.group(1), c.group(2));
    if a.len() == 4 && b.len() <= 2 && y.len() <= 2 {
        return plausible_birth_date(num(a), num(b), num(y));
    }
    if a.len() <= 2 && b.len() <= 2 && y.len() == 4 {
        let (p, q, y) = (num(a), num(b), num(y));
        return plausible_birth_date(y, q, p) || plausible_birth_date(y, p, q);
    }
    false
}
