//! Plain text (UTF-8, UTF-16, single-byte), CSV, JSON, HTML, Markdown and e-mail: the bytes are
//! scanned as they are, in overlapping chunks, so offsets are offsets into the file. UTF-16 is
//! transcoded to UTF-8 first and offsets refer to the transcoded text.

use crate::cx::{Cx, Res, Stop};
use crate::{detect, Source};
use std::io::Read;

/// Bytes of context kept on each side of a chunk, longer than any match plus its context window.
const OVERLAP: usize = 8 << 10;

/// Whether the bytes look like UTF-16 (BOM, or every other byte zero).
pub(crate) fn is_utf16(b: &[u8]) -> bool {
    if b.starts_with(b"\xFF\xFE") || b.starts_with(b"\xFE\xFF") {
        return true;
    }
    let head = &b[..b.len().min(512) & !1];
    if head.len() < 8 {
        return false;
    }
    let zeros_odd = head.iter().skip(1).step_by(2).filter(|&&c| c == 0).count();
    let zeros_even = head.iter().step_by(2).filter(|&&c| c == 0).count();
    let half = head.len() / 2;
    (zeros_odd * 10 > half * 9 && zeros_even == 0) || (zeros_even * 10 > half * 9 && zeros_odd == 0)
}

fn utf16_to_utf8(b: &[u8]) -> String {
    let be = b.starts_with(b"\xFE\xFF") || (!b.starts_with(b"\xFF\xFE") && b.first() == Some(&0));
    let body = if b.starts_with(b"\xFF\xFE") || b.starts_with(b"\xFE\xFF") {
        &b[2..]
    } else {
        b
    };
    let units = body.chunks_exact(2).map(|c| {
        if be {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Scans text held in memory.
pub(crate) fn scan(bytes: &[u8], source: &Source, cx: &mut Cx) -> Res {
    if is_utf16(bytes) {
        let text = utf16_to_utf8(bytes);
        return scan_chunks(text.as_bytes(), source, cx);
    }
    scan_chunks(bytes, source, cx)
}

fn scan_chunks(text: &[u8], source: &Source, cx: &mut Cx) -> Res {
    let chunk = cx.opts.chunk_size.max(OVERLAP);
    let mut pos = 0;
    while pos < text.len() {
        cx.tick()?;
        let lo = pos.saturating_sub(OVERLAP);
        let hi = (pos + chunk + OVERLAP).min(text.len());
        let keep_end = (pos + chunk).min(text.len());
        detect::detect_window(&text[lo..hi], source, lo, pos - lo..keep_end - lo, &mut cx.sink);
        pos = keep_end;
    }
    Ok(())
}

/// Streams text from `head` followed by the rest of `r`, in overlapping chunks.
pub(crate) fn stream(head: Vec<u8>, mut r: impl Read, cx: &mut Cx) -> Res {
    let chunk = cx.opts.chunk_size.max(OVERLAP);
    let mut buf = head; // holds file bytes [buf_start, buf_start + buf.len())
    let mut buf_start = 0usize;
    let mut pos = 0usize; // next byte to report findings from
    let mut eof = false;
    loop {
        cx.tick()?;
        while !eof && buf_start + buf.len() < pos + chunk + OVERLAP {
            let want = pos + chunk + OVERLAP - buf_start - buf.len();
            let before = buf.len();
            match (&mut r).take(want as u64).read_to_end(&mut buf) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => return Err(Stop::Corrupt(format!("read error: {e}"))),
            }
            if buf.len() == before {
                eof = true;
            }
        }
        let end = buf_start + buf.len();
        if (end as u64) > cx.opts.max_size {
            return Err(Stop::TooLarge(format!(
                "text is larger than {} bytes",
                cx.opts.max_size
            )));
        }
        let keep_end = if eof { end } else { (pos + chunk).min(end) };
        detect::detect_window(
            &buf,
            &Source::Text,
            buf_start,
            pos - buf_start..keep_end - buf_start,
            &mut cx.sink,
        );
        pos = keep_end;
        if eof && pos >= end {
            return Ok(());
        }
        let drop = pos.saturating_sub(OVERLAP).saturating_sub(buf_start);
        buf.drain(..drop);
        buf_start += drop;
    }
}
