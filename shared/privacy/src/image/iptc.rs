//! IPTC-IIM records, bare or inside Photoshop image resources (JPEG APP13).

use super::Meta;

/// Parses Photoshop image resources (`Photoshop 3.0\0` already stripped) for the IPTC block.
pub fn parse_photoshop(mut b: &[u8], meta: &mut Meta) {
    while b.len() >= 12 && b.starts_with(b"8BIM") {
        let id = u16::from_be_bytes([b[4], b[5]]);
        let name_len = b[6] as usize;
        let name_total = (1 + name_len + 1) & !1; // Pascal string padded to even length
        let p = 6 + name_total;
        let Some(size) = b
            .get(p..p + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        else {
            return;
        };
        let start = p + 4;
        let Some(data) = start.checked_add(size).and_then(|end| b.get(start..end)) else {
            meta.damaged = true;
            return;
        };
        if id == 0x0404 {
            parse_iim(data, meta);
        }
        let next = start + size + (size & 1);
        b = b.get(next..).unwrap_or_default();
    }
}

/// Parses IPTC-IIM datasets (record 2: by-line, locations, dates, captions).
pub fn parse_iim(mut b: &[u8], meta: &mut Meta) {
    while b.len() >= 5 && b[0] == 0x1C {
        let (record, dataset) = (b[1], b[2]);
        let size = u16::from_be_bytes([b[3], b[4]]) as usize;
        if size & 0x8000 != 0 {
            meta.damaged = true; // extended datasets are not used for text
            return;
        }
        let Some(data) = b.get(5..5 + size) else {
            meta.damaged = true;
            return;
        };
        let text = String::from_utf8_lossy(data).trim().to_string();
        if record == 2 && !text.is_empty() {
            match dataset {
                80 | 122 => meta.authors.push(text),
                90 | 92 | 95 | 101 => meta.locations.push(text),
                55 => meta.capture = meta.capture.take().or(Some(text)),
                65 => meta.software.push(text),
                116 | 120 | 105 | 25 => meta.texts.push(text),
                _ => {}
            }
        }
        b = &b[5 + size..];
    }
}
