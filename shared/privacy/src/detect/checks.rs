//! Checksums and structural rules used to validate candidates.

use sha2::{Digest, Sha256};

/// Luhn check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether a card number starts with a known issuer prefix and has that issuer's length.
pub fn card_issuer(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| -> u32 { d[..k].iter().fold(0, |a, &c| a * 10 + (c - b'0') as u32) };
    match d[0] {
        b'4' => matches!(n, 13 | 16 | 19), // Visa
        b'5' => (51..=55).contains(&p(2)) && n == 16 || (56..=59).contains(&p(2)) && n >= 12, // Mastercard, Maestro
        b'2' => (2221..=2720).contains(&p(4)) && n == 16, // Mastercard 2-series
        b'3' => {
            (p(2) == 34 || p(2) == 37) && n == 15                               // Amex
                || ((300..=305).contains(&p(3)) || p(2) == 36 || p(2) == 38) && (14..=19).contains(&n) // Diners
                || (3528..=3589).contains(&p(4)) && (16..=19).contains(&n) // JCB
        }
        b'6' => {
            (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && (16..=19).contains(&n) // Discover
                || p(2) == 62 && (16..=19).contains(&n)                         // UnionPay
                || (p(2) == 63 || p(2) == 67) && (12..=19).contains(&n) // Maestro
        }
        _ => false,
    }
}

/// IBAN length per country (ISO 13616 registry).
pub fn iban_length(cc: &[u8]) -> Option<usize> {
    const T: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    T.iter().find(|(c, _)| &c[..] == cc).map(|&(_, n)| n)
}

/// ISO 7064 mod 97-10 over an IBAN (uppercase alphanumerics, no spaces).
pub fn iban_mod97(iban: &[u8]) -> bool {
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + (c - b'0') as u32) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + (c - b'A' + 10) as u32) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// NHS number check digit (mod 11) over 10 ASCII digits.
pub fn nhs_mod11(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| (c - b'0') as u32 * (10 - i as u32))
        .sum();
    let check = 11 - sum % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == (d[9] - b'0') as u32
}

/// US SSN rules over 9 ASCII digits: no 000/666/9xx area, no 00 group, no 0000 serial, and
/// not a number known from advertising or documentation.
pub fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = &d[..3];
    if area == b"000" || area == b"666" || area[0] == b'9' || &d[3..5] == b"00" || &d[5..] == b"0000" {
        return false;
    }
    const SAMPLES: &[&[u8]] = &[b"078051120", b"219099999", b"123456789", b"457555462"];
    !SAMPLES.contains(&d) && !d.iter().all(|&c| c == d[0])
}

/// UK national insurance number prefix rules (two letters).
pub fn nino_prefix(a: u8, b: u8) -> bool {
    let first_ok = !matches!(a, b'D' | b'F' | b'I' | b'Q' | b'U' | b'V');
    let second_ok = !matches!(b, b'D' | b'F' | b'I' | b'O' | b'Q' | b'U' | b'V');
    let banned = matches!(&[a, b], b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ");
    first_ok && second_ok && !banned
}

/// Base58check decoding of a legacy Bitcoin address: version 0x00 (P2PKH) or 0x05 (P2SH).
pub fn base58check_btc(s: &[u8]) -> bool {
    const ALPHA: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out = [0u8; 25];
    for &c in s {
        let Some(mut carry) = ALPHA.iter().position(|&a| a == c).map(|v| v as u32) else {
            return false;
        };
        for b in out.iter_mut().rev() {
            carry += (*b as u32) * 58;
            *b = carry as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return false;
        }
    }
    let leading_ones = s.iter().take_while(|&&c| c == b'1').count();
    let leading_zeros = out.iter().take_while(|&&b| b == 0).count();
    if (out[0] == 0) != (leading_ones >= 1) || leading_ones > leading_zeros {
        return false;
    }
    if out[0] != 0 && out[0] != 5 {
        return false;
    }
    let h = Sha256::digest(Sha256::digest(&out[..21]));
    h[..4] == out[21..]
}

/// The bech32 character set.
pub const BECH32_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// BIP-173 checksum polymod over the expanded human-readable part followed by `data`.
pub fn bech32_polymod(hrp: &[u8], data: &[u8]) -> u32 {
    let expanded = hrp.iter().map(|c| c >> 5).chain([0]).chain(hrp.iter().map(|c| c & 31));
    let mut chk: u32 = 1;
    for v in expanded.chain(data.iter().copied()) {
        let top = chk >> 25;
        chk = (chk & 0x1ff_ffff) << 5 ^ v as u32;
        for (i, g) in [0x3b6a57b2u32, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
            .iter()
            .enumerate()
        {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// The polymod constant of bech32 (witness v0) and bech32m (v1+).
pub const BECH32_CONST: u32 = 1;
/// See [`BECH32_CONST`].
pub const BECH32M_CONST: u32 = 0x2bc8_30a3;

/// Bech32 / bech32m checksum for a segwit address with human-readable part `bc`.
pub fn bech32_btc(s: &[u8]) -> bool {
    let lower: Vec<u8> = s.iter().map(|c| c.to_ascii_lowercase()).collect();
    let Some(sep) = lower.iter().rposition(|&c| c == b'1') else {
        return false;
    };
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp != b"bc" || data.len() < 6 + 8 {
        return false;
    }
    let Some(values) = data
        .iter()
        .map(|c| BECH32_CHARSET.iter().position(|x| x == c).map(|v| v as u8))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    match bech32_polymod(hrp, &values) {
        BECH32_CONST => values[0] == 0,
        BECH32M_CONST => values[0] != 0,
        _ => false,
    }
}

/// Base62 encoding of a CRC32, padded to 6 characters (GitHub token checksum).
pub fn github_checksum(entropy: &[u8]) -> [u8; 6] {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut v = crc32fast::hash(entropy);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = B62[(v % 62) as usize];
        v /= 62;
    }
    out
}

/// Whether a calendar date exists (Gregorian), with a plausible birth year.
pub fn plausible_birth_date(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2030).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    d <= days[m as usize - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_issuer() {
        assert!(luhn(b"4111111111111111") && card_issuer(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(luhn(b"378282246310005") && card_issuer(b"378282246310005"));
        assert!(!card_issuer(b"9111111111111111"));
    }

    #[test]
    fn iban() {
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"GB82WEST12345698765433"));
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"XX"), None);
    }

    #[test]
    fn nhs_ssn_nino() {
        assert!(nhs_mod11(b"9434765919"));
        assert!(!nhs_mod11(b"9434765918"));
        assert!(ssn_valid(b"536225347"));
        for bad in [
            b"000123456",
            b"666123456",
            b"912345678",
            b"123004567",
            b"123450000",
            b"078051120",
        ] {
            assert!(!ssn_valid(bad));
        }
        assert!(nino_prefix(b'A', b'B') && !nino_prefix(b'G', b'B') && !nino_prefix(b'D', b'A'));
    }

    #[test]
    fn bitcoin() {
        assert!(base58check_btc(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"));
        assert!(base58check_btc(b"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(!base58check_btc(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"));
        assert!(bech32_btc(b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        assert!(bech32_btc(
            b"bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"
        ));
        assert!(!bech32_btc(b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr"));
    }

    #[test]
    fn dates() {
        assert!(plausible_birth_date(2000, 2, 29));
        assert!(!plausible_birth_date(1900, 2, 29));
        assert!(!plausible_birth_date(1985, 13, 1));
    }
}
