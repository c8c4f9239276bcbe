//! Telephone numbering plans: international form (`+CC` or `00CC`) for many countries, national
//! forms for the countries whose national format is unambiguous (NANP, UK, France, Germany).

use super::numeric::Cand;

/// How sure the phone check is about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneMatch {
    /// A well-formed number in a known plan.
    Valid,
    /// Plausible only with a context word (e.g. ten bare digits).
    NeedsContext,
}

/// (country code, national significant number lengths, allowed first digits of the NSN)
const PLANS: &[(&str, (u8, u8), &str)] = &[
    ("1", (10, 10), "23456789"),
    ("7", (10, 10), "3489"),
    ("20", (9, 10), "123456789"),
    ("27", (9, 9), "12345678"),
    ("30", (10, 10), "26"),
    ("31", (9, 9), "123456789"),
    ("32", (8, 9), "123456789"),
    ("33", (9, 9), "123456789"),
    ("34", (9, 9), "6789"),
    ("36", (8, 9), "123456789"),
    ("39", (6, 11), "0123456789"),
    ("40", (9, 9), "237"),
    ("41", (9, 9), "2345789"),
    ("43", (7, 13), "123456789"),
    ("44", (9, 10), "12378"),
    ("45", (8, 8), "2345678"),
    ("46", (7, 9), "123456789"),
    ("47", (8, 8), "2345789"),
    ("48", (9, 9), "12345678"),
    ("49", (6, 11), "123456789"),
    ("52", (10, 10), "123456789"),
    ("54", (10, 11), "123456789"),
    ("55", (10, 11), "123456789"),
    ("61", (9, 9), "23478"),
    ("62", (8, 12), "123456789"),
    ("63", (8, 10), "2345789"),
    ("64", (8, 10), "234679"),
    ("65", (8, 8), "3689"),
    ("66", (8, 9), "2345689"),
    ("81", (9, 10), "123456789"),
    ("82", (8, 10), "123456789"),
    ("84", (9, 10), "235789"),
    ("86", (10, 11), "123456789"),
    ("90", (10, 10), "2345"),
    ("91", (10, 10), "6789"),
    ("92", (9, 10), "2345689"),
    ("234", (8, 10), "123456789"),
    ("254", (9, 9), "127"),
    ("351", (9, 9), "29"),
    ("352", (6, 11), "2345678"),
    ("353", (7, 9), "124567689"),
    ("354", (7, 9), "4568"),
    ("358", (6, 10), "123456789"),
    ("420", (9, 9), "234567"),
    ("852", (8, 8), "234569"),
    ("966", (9, 9), "158"),
    ("971", (8, 9), "234679"),
    ("972", (8, 9), "234589"),
];

/// Checks a numeric candidate against the numbering plans.
pub fn check(c: &Cand) -> Option<PhoneMatch> {
    let d = c.digits();
    if !(7..=15).contains(&d.len()) {
        return None;
    }
    let first_group = c.group(0);
    if c.plus || (first_group.len() >= 3 && first_group.starts_with(b"00") && c.n > 1) {
        let intl = if c.plus { d } else { &d[2..] };
        return international(c, intl);
    }
    national(c, d)
}

fn international(c: &Cand, d: &[u8]) -> Option<PhoneMatch> {
    let cc_group = if c.plus { c.group(0) } else { &c.group(0)[2..] };
    for cc_len in 1..=3 {
        let Some(&(cc, (lo, hi), first)) = PLANS.iter().find(|p| p.0.as_bytes() == &d[..cc_len.min(d.len())]) else {
            continue;
        };
        // The country code is either its own group or the number is written without spaces.
        if c.n > 1 && cc_group != cc.as_bytes() {
            return None;
        }
        let mut nsn: Vec<u8> = d[cc_len..].to_vec();
        // "+44 (0)20 ..." keeps the national trunk prefix in parentheses: drop it.
        if c.n > 2 && c.group(1) == b"0" && c.sep(0).contains(&b'(') {
            nsn.remove(0);
        }
        let ok = (lo as usize..=hi as usize).contains(&nsn.len())
            && nsn.first().is_some_and(|f| first.as_bytes().contains(f));
        let nanp_ok = cc != "1" || nanp(&nsn);
        return (ok && nanp_ok && groups_plausible(c)).then_some(PhoneMatch::Valid);
    }
    None
}

fn nanp(d: &[u8]) -> bool {
    d.len() == 10 && d[0] >= b'2' && d[3] >= b'2' && !(d[1] == b'1' && d[2] == b'1') && !(d[4] == b'1' && d[5] == b'1')
}

fn groups_plausible(c: &Cand) -> bool {
    (0..c.n).all(|i| c.group(i).len() <= 8 || c.n == 1) && (1..c.n).all(|i| c.group(i).len() >= 2 || i == 1)
}

fn national(c: &Cand, d: &[u8]) -> Option<PhoneMatch> {
    let all_lens = c.lens();
    let lens = &all_lens[..c.n];
    // NANP: (212) 555-1234, 212-555-1234, 212.555.1234, 212 555 1234, 1-212-555-1234.
    let nanp_digits = if d.len() == 11 && d[0] == b'1' && lens.first() == Some(&1) {
        &d[1..]
    } else {
        d
    };
    if nanp_digits.len() == 10 && nanp(nanp_digits) {
        let body = if nanp_digits.len() < d.len() { &lens[1..] } else { lens };
        if body == [3, 3, 4] {
            let paren = c.paren;
            let seps_ok = if paren {
                true
            } else {
                c.uniform_sep().is_some_and(|s| matches!(s, b'-' | b'.' | b' '))
            };
            if seps_ok {
                return Some(PhoneMatch::Valid);
            }
        }
        if c.n == 1 {
            return Some(PhoneMatch::NeedsContext);
        }
    }
    if d[0] != b'0' || c.plus {
        return None;
    }
    // UK: 020 7946 0958, 01632 960123, 07700 900123.
    if matches!(d[1], b'1' | b'2' | b'3' | b'7' | b'8')
        && (10..=11).contains(&d.len())
        && (2..=3).contains(&c.n)
        && (3..=5).contains(&lens[0])
        && c.uniform_sep() == Some(b' ')
    {
        return Some(PhoneMatch::Valid);
    }
    // France: 01 23 45 67 89 / 01.23.45.67.89.
    if d.len() == 10 && d[1] != b'0' && lens == [2, 2, 2, 2, 2] && matches!(c.uniform_sep(), Some(b' ' | b'.')) {
        return Some(PhoneMatch::Valid);
    }
    // Germany: 030 12345678, 0151 23456789, 089/1234567.
    if (9..=12).contains(&d.len())
        && d[1] != b'0'
        && c.n == 2
        && (3..=5).contains(&lens[0])
        && matches!(c.uniform_sep(), Some(b' ' | b'/'))
    {
        return Some(PhoneMatch::Valid);
    }
    (c.n == 1 && (10..=11).contains(&d.len())).then_some(PhoneMatch::NeedsContext)
}
