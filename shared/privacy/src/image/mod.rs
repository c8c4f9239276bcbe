//! Image metadata: JPEG (EXIF, XMP, IPTC, comments, thumbnail), PNG, TIFF, WebP, HEIF.
//! Each container parser fills a [`Meta`]; [`emit`] turns it into findings.

mod heif;
mod iptc;
mod tiff;
mod xmp;

pub(crate) use xmp::parse as parse_xmp;

use crate::cx::{corrupt, Cx, Res, Stop};
use crate::{Finding, Format, Kind, Prefix, Source};

/// What an image's metadata says, gathered from every block.
#[derive(Default)]
pub(crate) struct Meta {
    pub gps: Option<(f64, f64)>,
    pub serials: Vec<String>,
    pub authors: Vec<String>,
    pub capture: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub software: Vec<String>,
    pub locations: Vec<String>,
    /// Free text (comments, captions, descriptions) for the detectors.
    pub texts: Vec<String>,
    /// Raw XMP packets, parsed after the container walk.
    pub xmp: Vec<Vec<u8>>,
    /// Embedded JPEG thumbnails.
    pub thumbnails: Vec<Vec<u8>>,
    /// Some block was truncated or malformed.
    pub damaged: bool,
}

/// Scans an image held in memory.
pub(crate) fn scan(bytes: &[u8], format: Format, source: &Source, cx: &mut Cx) -> Res {
    let mut meta = Meta::default();
    let walked = match format {
        Format::Jpeg => jpeg(bytes, &mut meta),
        Format::Png => png(bytes, &mut meta, cx),
        Format::Tiff => {
            if tiff::parse(bytes, &mut meta) {
                Ok(())
            } else {
                corrupt("bad TIFF header")
            }
        }
        Format::Webp => webp(bytes, &mut meta),
        Format::Heif => heif::parse(bytes, &mut meta),
        _ => unreachable!("not an image format"),
    };
    for packet in std::mem::take(&mut meta.xmp) {
        if !xmp::parse(&packet, cx.opts.max_xml_depth, &mut meta) {
            meta.damaged = true;
        }
    }
    emit(&meta, source, cx)?;
    walked?;
    if meta.damaged {
        return corrupt("metadata block truncated or malformed");
    }
    Ok(())
}

/// Turns gathered metadata into findings (source `source`), then scans thumbnails.
pub(crate) fn emit(meta: &Meta, source: &Source, cx: &mut Cx) -> Res {
    if let Some((lat, lon)) = meta.gps {
        let mut f = Finding::new(
            Kind::GpsLocation,
            85,
            source.clone(),
            0,
            0,
            &format!("{lat:.6}, {lon:.6}"),
        );
        f.lat = Some(lat);
        f.lon = Some(lon);
        cx.sink.push_unique(f);
    }
    let mut push = |kind: Kind, value: &str| {
        cx.sink.push_unique(Finding::new(kind, 85, source.clone(), 0, 0, value));
    };
    for s in &meta.serials {
        push(Kind::DeviceSerial, s);
    }
    for a in &meta.authors {
        push(Kind::Author, a);
    }
    for l in &meta.locations {
        push(Kind::Location, l);
    }
    if let Some(c) = &meta.capture {
        push(Kind::CaptureTime, c);
    }
    let camera = match (&meta.make, &meta.model) {
        (Some(make), Some(model)) if model.starts_with(make.as_str()) => Some(model.clone()),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (None, Some(m)) | (Some(m), None) => Some(m.clone()),
        (None, None) => None,
    };
    if let Some(c) = camera {
        push(Kind::CameraModel, &c);
    }
    for s in &meta.software {
        push(Kind::Software, s);
    }
    if !meta.texts.is_empty() {
        let joined = meta.texts.join("\n");
        cx.detect(joined.as_bytes(), source)?;
    }
    for thumb in &meta.thumbnails {
        // The value describes the thumbnail rather than quoting the file: nothing to mask.
        let mut f = Finding::new(
            Kind::EmbeddedThumbnail,
            85,
            source.clone(),
            0,
            0,
            &format!("JPEG thumbnail, {} bytes", thumb.len()),
        );
        f.redacted = f.value.clone();
        cx.sink.push(f);
        if cx.depth == 0 && crate::sniff(thumb) == Format::Jpeg {
            cx.depth += 1;
            // A broken thumbnail does not make the image itself corrupt.
            let r = scan(thumb, Format::Jpeg, &Source::Thumbnail, cx);
            cx.depth -= 1;
            if r == Err(Stop::TimedOut) {
                return r;
            }
        }
    }
    Ok(())
}

/// Walks JPEG segments up to the start of scan.
fn jpeg(b: &[u8], meta: &mut Meta) -> Res {
    let mut p = 2;
    loop {
        let Some(seg) = jpeg_segment(b, p) else {
            return corrupt("truncated JPEG segment");
        };
        match seg {
            Seg::End => return Ok(()),
            Seg::Bare(next) => p = next,
            Seg::Data { marker, start, end } => {
                let d = &b[start..end];
                match marker {
                    0xE1 if d.starts_with(b"Exif\0") => {
                        let body = d.get(6..).unwrap_or_default();
                        if !tiff::parse(body, meta) {
                            meta.damaged = true;
                        }
                    }
                    0xE1 if d.starts_with(b"http://ns.adobe.com/xap/1.0/\0") => meta.xmp.push(d[29..].to_vec()),
                    0xED if d.starts_with(b"Photoshop 3.0\0") => iptc::parse_photoshop(&d[14..], meta),
                    0xFE => meta
                        .texts
                        .extend(Some(String::from_utf8_lossy(d).trim().to_string()).filter(|s| !s.is_empty())),
                    _ => {}
                }
                p = end;
            }
        }
    }
}

enum Seg {
    /// Start of scan or end of image: metadata is complete.
    End,
    /// A marker without a payload; the next marker is at this offset.
    Bare(usize),
    /// A segment with payload `[start, end)`.
    Data { marker: u8, start: usize, end: usize },
}

/// Reads the JPEG segment at `p`; `None` if the bytes end inside it.
fn jpeg_segment(b: &[u8], mut p: usize) -> Option<Seg> {
    if *b.get(p)? != 0xFF {
        // Garbage between segments: resynchronise on the next marker.
        p += memchr::memchr(0xFF, b.get(p..)?)?;
    }
    while *b.get(p + 1)? == 0xFF {
        p += 1;
    }
    let marker = b[p + 1];
    match marker {
        0xD9 | 0xDA => Some(Seg::End),
        0x01 | 0xD0..=0xD8 => Some(Seg::Bare(p + 2)),
        _ => {
            let len = u16::from_be_bytes([*b.get(p + 2)?, *b.get(p + 3)?]) as usize;
            let end = p + 2 + len.max(2);
            (end <= b.len()).then_some(Seg::Data {
                marker,
                start: p + 4,
                end,
            })
        }
    }
}

fn png(b: &[u8], meta: &mut Meta, cx: &mut Cx) -> Res {
    let mut p = 8;
    while p + 8 <= b.len() {
        let len = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize;
        let typ = &b[p + 4..p + 8];
        let Some(data) = b.get(p + 8..(p + 8).saturating_add(len)) else {
            return corrupt("truncated PNG chunk");
        };
        match typ {
            b"IEND" => return Ok(()),
            b"eXIf" if !tiff::parse(data, meta) => meta.damaged = true,
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let Some(nul) = data.iter().position(|&c| c == 0) else {
                    meta.damaged = true;
                    p += 12 + len;
                    continue;
                };
                let key = String::from_utf8_lossy(&data[..nul]).into_owned();
                let rest = &data[nul + 1..];
                let text = match typ {
                    b"tEXt" => Some(rest.iter().map(|&c| c as char).collect::<String>().into_bytes()),
                    b"zTXt" => rest.get(1..).map(|z| cx.inflate(z, true)).transpose()?,
                    _ => itxt(rest, cx)?,
                };
                match text {
                    Some(t) => png_text(&key, t, meta),
                    None => meta.damaged = true,
                }
            }
            _ => {}
        }
        p += 12 + len;
    }
    corrupt("PNG ends without IEND")
}

/// The text of an iTXt chunk after its keyword.
fn itxt(rest: &[u8], cx: &mut Cx) -> Res<Option<Vec<u8>>> {
    let (Some(&flag), Some(_)) = (rest.first(), rest.get(1)) else {
        return Ok(None);
    };
    let mut fields = rest[2..].splitn(3, |&c| c == 0);
    let (_lang, _translated, text) = (fields.next(), fields.next(), fields.next());
    match text {
        Some(t) if flag == 1 => cx.inflate(t, true).map(Some),
        Some(t) => Ok(Some(t.to_vec())),
        None => Ok(None),
    }
}

fn png_text(key: &str, text: Vec<u8>, meta: &mut Meta) {
    let s = || String::from_utf8_lossy(&text).trim().to_string();
    match key {
        "XML:com.adobe.xmp" => meta.xmp.push(text),
        "Raw profile type exif" | "Raw profile type APP1" => {
            // ImageMagick: "\nexif\n   <len>\n<hex...>"
            let hex: Vec<u8> = text
                .iter()
                .skip_while(|&&c| c != b'\n')
                .skip(1)
                .skip_while(|&&c| c != b'\n')
                .skip(1)
                .skip_while(|&&c| c != b'\n')
                .copied()
                .filter(u8::is_ascii_hexdigit)
                .collect();
            let raw: Vec<u8> = hex
                .chunks_exact(2)
                .filter_map(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                .collect();
            let body = raw.strip_prefix(b"Exif\0\0").unwrap_or(&raw);
            if !tiff::parse(body, meta) {
                meta.damaged = true;
            }
        }
        "Author" | "Artist" => meta.authors.push(s()),
        "Software" => meta.software.push(s()),
        "Creation Time" => meta.capture = Some(s()),
        _ => meta.texts.push(s()),
    }
}

fn webp(b: &[u8], meta: &mut Meta) -> Res {
    let mut p = 12;
    while p + 8 <= b.len() {
        let len = u32::from_le_bytes([b[p + 4], b[p + 5], b[p + 6], b[p + 7]]) as usize;
        let Some(data) = b.get(p + 8..(p + 8).saturating_add(len)) else {
            return corrupt("truncated WebP chunk");
        };
        match &b[p..p + 4] {
            b"EXIF" => {
                let body = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
                if !tiff::parse(body, meta) {
                    meta.damaged = true;
                }
            }
            b"XMP " => meta.xmp.push(data.to_vec()),
            _ => {}
        }
        p += 8 + len + (len & 1);
    }
    Ok(())
}

/// See [`crate::needed_prefix`].
pub(crate) fn needed_prefix(b: &[u8]) -> Prefix {
    if b.len() < 32 {
        return Prefix::NeedMore(32);
    }
    match crate::sniff(b) {
        Format::Jpeg => {
            let mut p = 2;
            loop {
                match jpeg_segment(b, p) {
                    Some(Seg::End) => return Prefix::Complete,
                    Some(Seg::Bare(n)) => p = n,
                    Some(Seg::Data { end, .. }) => p = end,
                    None => {
                        let need = match (b.get(p + 2), b.get(p + 3)) {
                            (Some(&h), Some(&l)) => p + 2 + u16::from_be_bytes([h, l]) as usize + 4,
                            _ => p + 4,
                        };
                        return Prefix::NeedMore(need.max(b.len() + 1) as u64);
                    }
                }
            }
        }
        Format::Png => {
            let mut p = 8;
            while p + 8 <= b.len() {
                let len = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as u64;
                if &b[p + 4..p + 8] == b"IDAT" || &b[p + 4..p + 8] == b"IEND" {
                    return Prefix::Complete;
                }
                p += 12 + len as usize;
            }
            Prefix::NeedMore(p as u64 + 8)
        }
        Format::Webp => {
            let mut p = 12;
            let mut wanted = 0u8; // VP8X flags: 0x08 EXIF, 0x04 XMP
            let mut seen = 0u8;
            while p + 8 <= b.len() {
                let len = u32::from_le_bytes([b[p + 4], b[p + 5], b[p + 6], b[p + 7]]) as usize;
                let end = p + 8 + len + (len & 1);
                match &b[p..p + 4] {
                    b"VP8X" => wanted = b.get(p + 8).map_or(0, |f| f & 0x0C),
                    b"EXIF" if end > b.len() => return Prefix::NeedMore(end as u64),
                    b"EXIF" => seen |= 0x08,
                    b"XMP " if end > b.len() => return Prefix::NeedMore(end as u64),
                    b"XMP " => seen |= 0x04,
                    b"VP8 " | b"VP8L" if wanted == 0 => return Prefix::Complete,
                    _ => {}
                }
                if wanted & !seen == 0 && wanted != 0 {
                    return Prefix::Complete;
                }
                p = end;
            }
            Prefix::NeedMore(p as u64 + 8)
        }
        Format::Heif => heif::needed_prefix(b),
        _ => Prefix::WholeFile,
    }
}
