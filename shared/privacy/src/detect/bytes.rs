//! Byte classes of eight bytes at once (SWAR): each mask has the high bit of every byte of
//! the word that is in the class, so `trailing_zeros() / 8` is the first such byte.

/// The high bit of each byte of `w` set where that byte is an ASCII letter.
pub(super) fn letter_mask(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Fold case, drop the high bit (so the adds below never carry into the next byte), then
    // test 0x61 <= byte <= 0x7a; bytes with the high bit set are not ASCII.
    let folded = (w | 0x2020_2020_2020_2020) & LOW7;
    let at_least_a = folded + 0x1f1f_1f1f_1f1f_1f1f;
    let past_z = folded + 0x0505_0505_0505_0505;
    at_least_a & !past_z & !w & HIGH
}

/// The high bit of each byte of `w` that is an ASCII digit. Each byte is tested on its own:
/// with the high bits cleared, adding at most 0x50 to a byte cannot carry into the next.
pub(super) fn digit_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    let at_least_0 = low7 + (0x80 - b'0' as u64) * ONES;
    let above_9 = low7 + (0x80 - b'9' as u64 - 1) * ONES;
    at_least_0 & !above_9 & !w & HIGH
}

/// The high bit of each byte of `w` equal to `b`. A byte of `x` is zero exactly when neither its
/// high bit nor the carry of adding 0x7f to its low seven bits is set; the add cannot carry over.
pub(super) fn byte_mask(w: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (b as u64 * 0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_mask_marks_ascii_letters() {
        for b in 0..=255u8 {
            let mask = letter_mask(u64::from_le_bytes([b' ', b, 0, b'a', 0xff, b'Z', b'@', b'[']));
            assert_eq!(mask & 0xff00 != 0, b.is_ascii_alphabetic(), "byte {b:#x}");
            assert_eq!(mask & !0xff00, 0x0000_8000_8000_0000, "byte {b:#x}");
        }
    }
}
