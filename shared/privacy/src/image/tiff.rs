//! TIFF/EXIF IFD walker with budgets: IFD0/IFD1, Exif, GPS, and the maker notes that carry
//! serial numbers (Nikon, Olympus/OM, Canon). Used for JPEG APP1, PNG eXIf, WebP EXIF, HEIF
//! Exif items and TIFF files themselves.

use super::Meta;

/// Most IFDs visited in one TIFF structure (guards against loops and fan-out).
const MAX_IFDS: usize = 64;
/// Most entries read from one IFD.
const MAX_ENTRIES: usize = 1024;

#[derive(Clone, Copy)]
struct Tiff<'a> {
    data: &'a [u8],
    le: bool,
}

#[derive(Clone, Copy)]
struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    /// Offset of the value bytes in `data` (inline or pointed to).
    at: usize,
    len: usize,
}

impl<'a> Tiff<'a> {
    fn u16(&self, p: usize) -> Option<u16> {
        let b = self.data.get(p..p + 2)?;
        Some(if self.le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    }

    fn u32(&self, p: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(p..p + 4)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// Reads the IFD at `off`: its entries and the offset of the next IFD.
    fn ifd(&self, off: usize) -> Option<(Vec<Entry>, usize)> {
        let n = self.u16(off)? as usize;
        let mut out = Vec::with_capacity(n.min(MAX_ENTRIES));
        for i in 0..n.min(MAX_ENTRIES) {
            let p = off + 2 + i * 12;
            let (Some(tag), Some(typ), Some(count)) = (self.u16(p), self.u16(p + 2), self.u32(p + 4)) else {
                break;
            };
            let size = match typ {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 => 8,
                _ => continue,
            };
            let Some(len) = (count as usize).checked_mul(size) else {
                continue;
            };
            let at = if len <= 4 { p + 8 } else { self.u32(p + 8)? as usize };
            if at.checked_add(len).is_none_or(|e| e > self.data.len()) {
                continue;
            }
            out.push(Entry {
                tag,
                typ,
                count,
                at,
                len,
            });
        }
        let next = self.u32(off + 2 + n * 12).unwrap_or(0) as usize;
        Some((out, next))
    }

    fn bytes(&self, e: &Entry) -> &'a [u8] {
        &self.data[e.at..e.at + e.len]
    }

    fn string(&self, e: &Entry) -> Option<String> {
        let raw = self.bytes(e);
        let raw = &raw[..raw.iter().position(|&c| c == 0).unwrap_or(raw.len())];
        let s = String::from_utf8_lossy(raw).trim().to_string();
        (!s.is_empty() && s.chars().any(|c| c.is_alphanumeric())).then_some(s)
    }

    fn int(&self, e: &Entry) -> Option<u32> {
        match e.typ {
            3 | 8 => self.u16(e.at).map(u32::from),
            4 | 9 | 13 => self.u32(e.at),
            7 if e.len >= 4 => self.u32(e.at),
            _ => None,
        }
    }

    fn rationals(&self, e: &Entry) -> Vec<f64> {
        if !matches!(e.typ, 5 | 10) {
            return Vec::new();
        }
        (0..e.count as usize)
            .map_while(|i| {
                let (n, d) = (self.u32(e.at + i * 8)?, self.u32(e.at + i * 8 + 4)?);
                let (n, d) = if e.typ == 10 {
                    (n as i32 as f64, d as i32 as f64)
                } else {
                    (n as f64, d as f64)
                };
                Some(if d == 0.0 { f64::NAN } else { n / d })
            })
            .collect()
    }
}

/// Parses a TIFF structure (starting with its `II*\0`/`MM\0*` header) into `meta`.
/// Returns false if the header is not a TIFF header.
pub fn parse(data: &[u8], meta: &mut Meta) -> bool {
    let le = match data.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return false,
    };
    let t = Tiff { data, le };
    let Some(first) = t.u32(4) else { return false };
    let mut w = Walker {
        t,
        seen: Vec::new(),
        make: String::new(),
    };
    w.walk(first as usize, Ifd::Zeroth, meta);
    true
}

#[derive(Clone, Copy, PartialEq)]
enum Ifd {
    Zeroth,
    First,
    Exif,
    Gps,
}

struct Walker<'a> {
    t: Tiff<'a>,
    seen: Vec<usize>,
    make: String,
}

impl<'a> Walker<'a> {
    fn walk(&mut self, off: usize, kind: Ifd, meta: &mut Meta) {
        if off == 0 || self.seen.len() >= MAX_IFDS || self.seen.contains(&off) {
            return;
        }
        self.seen.push(off);
        let Some((entries, next)) = self.t.ifd(off) else {
            meta.damaged = true;
            return;
        };
        let t = self.t;
        match kind {
            Ifd::Zeroth | Ifd::First => {
                let mut thumb = (None, None);
                for e in &entries {
                    match e.tag {
                        0x010F if kind == Ifd::Zeroth => self.make = t.string(e).unwrap_or_default(),
                        0x0110 if kind == Ifd::Zeroth => meta.model = t.string(e),
                        0x0131 => meta.software.extend(t.string(e)),
                        0x0132 => meta.capture = meta.capture.take().or(t.string(e)),
                        0x013B => meta.authors.extend(t.string(e)),
                        0x8298 | 0x010E => meta.texts.extend(t.string(e)),
                        0x9C9D => meta.authors.extend(ucs2(t.bytes(e))),
                        0x9C9B | 0x9C9C => meta.texts.extend(ucs2(t.bytes(e))),
                        0x02BC => meta.xmp.push(t.bytes(e).to_vec()),
                        0x83BB => super::iptc::parse_iim(t.bytes(e), meta),
                        0x8769 => self.sub(e, Ifd::Exif, meta),
                        0x8825 => self.sub(e, Ifd::Gps, meta),
                        0x0201 => thumb.0 = t.int(e),
                        0x0202 => thumb.1 = t.int(e),
                        _ => {}
                    }
                }
                if let (Some(o), Some(l)) = thumb {
                    let (o, l) = (o as usize, l as usize);
                    if l > 0 && o.checked_add(l).is_some_and(|end| end <= t.data.len()) {
                        meta.thumbnails.push(t.data[o..o + l].to_vec());
                    } else {
                        meta.damaged = true;
                    }
                }
                if kind == Ifd::Zeroth {
                    if meta.make.is_none() && !self.make.is_empty() {
                        meta.make = Some(self.make.clone());
                    }
                    self.walk(next, Ifd::First, meta);
                }
            }
            Ifd::Exif => {
                for e in &entries {
                    match e.tag {
                        0x9003 => meta.capture = t.string(e).or(meta.capture.take()),
                        0x9004 => meta.capture = meta.capture.take().or(t.string(e)),
                        0xA430 => meta.authors.extend(t.string(e)),
                        0xA431 | 0xA435 => meta.serials.extend(t.string(e)),
                        0x9286 => meta.texts.extend(user_comment(t.bytes(e))),
                        0x927C => self.maker_note(e, meta),
                        _ => {}
                    }
                }
            }
            Ifd::Gps => {
                let (mut lat, mut lon, mut lat_ref, mut lon_ref) = (None, None, b'N', b'E');
                for e in &entries {
                    match e.tag {
                        1 => lat_ref = t.bytes(e).first().copied().unwrap_or(b'N'),
                        3 => lon_ref = t.bytes(e).first().copied().unwrap_or(b'E'),
                        2 => lat = dms(&t.rationals(e)),
                        4 => lon = dms(&t.rationals(e)),
                        _ => {}
                    }
                }
                if let (Some(mut la), Some(mut lo)) = (lat, lon) {
                    if lat_ref.eq_ignore_ascii_case(&b'S') {
                        la = -la;
                    }
                    if lon_ref.eq_ignore_ascii_case(&b'W') {
                        lo = -lo;
                    }
                    if la.abs() <= 90.0 && lo.abs() <= 180.0 && !(la == 0.0 && lo == 0.0) {
                        meta.gps = Some((la, lo));
                    }
                }
            }
        }
    }

    fn sub(&mut self, e: &Entry, kind: Ifd, meta: &mut Meta) {
        if let Some(off) = self.t.int(e) {
            self.walk(off as usize, kind, meta);
        }
    }

    /// Serial numbers from the maker notes of the makes that store them.
    fn maker_note(&mut self, e: &Entry, meta: &mut Meta) {
        let mn = self.t.bytes(e);
        let serial = |m: &mut Meta, s: Option<String>| {
            if let Some(s) = s {
                let s = s.trim_start_matches("No=").trim().to_string();
                if !s.is_empty() && !s.chars().all(|c| c == '0') {
                    m.serials.push(s);
                }
            }
        };
        if mn.starts_with(b"Nikon\0\x02") && mn.len() > 18 {
            // Nikon type 3: a TIFF header of its own at offset 10.
            let inner = &mn[10..];
            let le = inner.starts_with(b"II");
            let t = Tiff { data: inner, le };
            if let Some((entries, _)) = t.u32(4).and_then(|o| t.ifd(o as usize)) {
                for e in entries.iter().filter(|e| e.tag == 0x001D) {
                    serial(meta, t.string(e));
                }
            }
        } else if mn.starts_with(b"OLYMPUS\0") || mn.starts_with(b"OM SYSTEM\0") {
            // Olympus type 2: byte order after the signature, offsets relative to the note.
            let base = if mn.starts_with(b"OLYMPUS") { 8 } else { 12 };
            let le = mn.get(base..base + 2) == Some(b"II");
            let t = Tiff { data: mn, le };
            let Some((entries, _)) = t.ifd(base + 4) else { return };
            for eq in entries.iter().filter(|e| e.tag == 0x2010) {
                if let Some((sub, _)) = t.int(eq).and_then(|o| t.ifd(o as usize)) {
                    for e in sub.iter().filter(|e| matches!(e.tag, 0x0101 | 0x0102 | 0x0202)) {
                        serial(meta, t.string(e));
                    }
                }
            }
        } else if self.make.starts_with("Canon") {
            // Canon: a plain IFD, offsets relative to the EXIF TIFF header.
            if let Some((entries, _)) = self.t.ifd(e.at) {
                for s in entries.iter().filter(|s| s.tag == 0x000C) {
                    serial(meta, self.t.int(s).map(|v| format!("{v:010}")));
                }
            }
        }
    }
}

/// Degrees, minutes, seconds to decimal degrees.
fn dms(v: &[f64]) -> Option<f64> {
    let d = v.first()? + v.get(1).unwrap_or(&0.0) / 60.0 + v.get(2).unwrap_or(&0.0) / 3600.0;
    d.is_finite().then_some(d)
}

/// Windows XP* tags: UCS-2 little-endian.
fn ucs2(b: &[u8]) -> Option<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let s = String::from_utf16_lossy(&units).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// EXIF UserComment: 8-byte charset prefix then text.
fn user_comment(b: &[u8]) -> Option<String> {
    let (head, body) = (b.get(..8)?, &b[8..]);
    let s = if head.starts_with(b"UNICODE") {
        let units: Vec<u16> = body.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string();
    (!s.is_empty()).then_some(s)
}
