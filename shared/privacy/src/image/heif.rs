//! HEIF/HEIC/AVIF: the `meta` box's item info (`iinf`) and locations (`iloc`) lead to the Exif
//! and XMP items, wherever they are in the file (usually in `mdat`).

use super::{tiff, Meta};
use crate::cx::{corrupt, Res};
use crate::Prefix;

struct Box<'a> {
    typ: [u8; 4],
    body: &'a [u8],
    /// Offset of the body in the file.
    at: usize,
    /// Offset one past the box in the file (may exceed the bytes held).
    end: u64,
}

/// Iterates the boxes in `b` (which starts at file offset `base`); stops at the first box that
/// runs past the bytes, reporting it as the last element with a truncated body.
fn boxes(b: &[u8], base: usize) -> impl Iterator<Item = Box<'_>> {
    let mut p = 0usize;
    std::iter::from_fn(move || {
        let hdr = b.get(p..p + 8)?;
        let size32 = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
        let typ = [hdr[4], hdr[5], hdr[6], hdr[7]];
        let (size, head) = match size32 {
            1 => (u64::from_be_bytes(b.get(p + 8..p + 16)?.try_into().ok()?), 16),
            0 => ((b.len() - p) as u64, 8),
            s => (s, 8),
        };
        if size < head as u64 {
            return None;
        }
        let end = (p as u64).saturating_add(size);
        let body = &b[(p + head).min(b.len())..(end.min(b.len() as u64) as usize)];
        let item = Box {
            typ,
            body,
            at: base + p + head,
            end: (base as u64).saturating_add(end),
        };
        p = if end > b.len() as u64 { b.len() } else { end as usize };
        Some(item)
    })
}

struct Item {
    id: u32,
    kind: [u8; 4],
    mime: String,
    /// (construction method, extents as (offset, length))
    method: u16,
    extents: Vec<(u64, u64)>,
}

/// The items of a `meta` box and its `idat` payload.
type MetaItems<'a> = (Vec<Item>, &'a [u8]);

/// Items of the top-level `meta` box plus its `idat` payload; `Err(need)` if the bytes end
/// inside `meta`.
fn meta_items(b: &[u8]) -> Result<Option<MetaItems<'_>>, u64> {
    let Some(meta) = boxes(b, 0).find(|x| &x.typ == b"meta") else {
        return Ok(None);
    };
    if meta.end > b.len() as u64 {
        return Err(meta.end);
    }
    let body = meta.body.get(4..).unwrap_or_default(); // full box: version + flags
    let mut items: Vec<Item> = Vec::new();
    let mut idat: &[u8] = &[];
    for child in boxes(body, meta.at + 4) {
        match &child.typ {
            b"iinf" => items.extend(iinf(child.body)),
            b"iloc" => {
                for (id, method, extents) in iloc(child.body) {
                    if let Some(it) = items.iter_mut().find(|i| i.id == id) {
                        it.method = method;
                        it.extents = extents;
                    } else {
                        items.push(Item {
                            id,
                            kind: *b"????",
                            mime: String::new(),
                            method,
                            extents,
                        });
                    }
                }
            }
            b"idat" => idat = child.body,
            _ => {}
        }
    }
    Ok(Some((items, idat)))
}

fn iinf(b: &[u8]) -> Vec<Item> {
    let Some(&version) = b.first() else { return Vec::new() };
    let skip = if version == 0 { 6 } else { 8 };
    let mut out = Vec::new();
    for infe in boxes(b.get(skip..).unwrap_or_default(), 0)
        .filter(|x| &x.typ == b"infe")
        .take(10_000)
    {
        let d = infe.body;
        let Some(&v) = d.first() else { continue };
        if v < 2 {
            continue;
        }
        let (id, p) = if v == 2 {
            (d.get(4..6).map(|s| u16::from_be_bytes([s[0], s[1]]) as u32), 6)
        } else {
            (d.get(4..8).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]])), 8)
        };
        let (Some(id), Some(kind)) = (id, d.get(p + 2..p + 6)) else {
            continue;
        };
        let kind: [u8; 4] = kind.try_into().expect("4 bytes");
        let mut mime = String::new();
        if &kind == b"mime" {
            let rest = d.get(p + 6..).unwrap_or_default();
            let name_end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            let ct = rest.get(name_end + 1..).unwrap_or_default();
            mime = String::from_utf8_lossy(&ct[..ct.iter().position(|&c| c == 0).unwrap_or(ct.len())]).into_owned();
        }
        out.push(Item {
            id,
            kind,
            mime,
            method: 0,
            extents: Vec::new(),
        });
    }
    out
}

type Located = (u32, u16, Vec<(u64, u64)>);

fn iloc(b: &[u8]) -> Vec<Located> {
    let mut r = Reader { b, p: 0 };
    let mut out = Vec::new();
    let mut parse = |r: &mut Reader| -> Option<()> {
        let version = r.n(1)? as u8;
        r.n(3)?;
        let sizes = r.n(2)? as u16;
        let (off_sz, len_sz, base_sz) = (
            (sizes >> 12) as usize,
            (sizes >> 8 & 15) as usize,
            (sizes >> 4 & 15) as usize,
        );
        let idx_sz = if version >= 1 { (sizes & 15) as usize } else { 0 };
        let count = if version < 2 { r.n(2)? } else { r.n(4)? };
        for _ in 0..count.min(10_000) {
            let id = if version < 2 { r.n(2)? } else { r.n(4)? } as u32;
            let method = if version >= 1 { (r.n(2)? & 15) as u16 } else { 0 };
            r.n(2)?; // data reference index
            let base = r.n(base_sz)?;
            let extents = r.n(2)?;
            let mut ex = Vec::new();
            for _ in 0..extents.min(1024) {
                r.n(idx_sz)?;
                let off = r.n(off_sz)?;
                let len = r.n(len_sz)?;
                ex.push((base.saturating_add(off), len));
            }
            out.push((id, method, ex));
        }
        Some(())
    };
    let _ = parse(&mut r);
    out
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl Reader<'_> {
    /// Reads an `n`-byte big-endian unsigned integer (n = 0 gives 0).
    fn n(&mut self, n: usize) -> Option<u64> {
        if n > 8 {
            return None;
        }
        let s = self.b.get(self.p..self.p + n)?;
        self.p += n;
        Some(s.iter().fold(0u64, |a, &c| a << 8 | c as u64))
    }
}

fn wanted(it: &Item) -> bool {
    &it.kind == b"Exif" || &it.kind == b"mime" && it.mime.contains("rdf+xml")
}

/// Reads the Exif and XMP items into `meta`.
pub fn parse(b: &[u8], meta: &mut Meta) -> Res {
    let (items, idat) = match meta_items(b) {
        Ok(Some(x)) => x,
        Ok(None) => return corrupt("HEIF file without a meta box"),
        Err(_) => return corrupt("truncated HEIF meta box"),
    };
    for it in items.iter().filter(|i| wanted(i)) {
        let mut data = Vec::new();
        for &(off, len) in &it.extents {
            let src = if it.method == 1 { idat } else { b };
            let len = if len == 0 {
                (src.len() as u64).saturating_sub(off)
            } else {
                len
            };
            let Some(chunk) = off.checked_add(len).and_then(|e| src.get(off as usize..e as usize)) else {
                meta.damaged = true;
                continue;
            };
            if data.len() + chunk.len() > 16 << 20 {
                return corrupt("HEIF metadata item too large");
            }
            data.extend_from_slice(chunk);
        }
        if &it.kind == b"Exif" {
            let skip = data
                .get(..4)
                .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize);
            if !data.get(4 + skip..).is_some_and(|t| tiff::parse(t, meta)) {
                meta.damaged = true;
            }
        } else {
            meta.xmp.push(data);
        }
    }
    Ok(())
}

/// How many bytes a ranged reader needs for the Exif and XMP items.
pub fn needed_prefix(b: &[u8]) -> Prefix {
    match meta_items(b) {
        Err(need) => Prefix::NeedMore(need),
        Ok(None) => Prefix::NeedMore(b.len() as u64 * 2),
        Ok(Some((items, _))) => {
            let need = items
                .iter()
                .filter(|i| wanted(i) && i.method == 0)
                .flat_map(|i| i.extents.iter().map(|&(o, l)| o.saturating_add(l)))
                .max()
                .unwrap_or(0);
            if need > b.len() as u64 {
                Prefix::NeedMore(need)
            } else {
                Prefix::Complete
            }
        }
    }
}
