//! PDF: a small lexer that finds objects by their `N G obj` headers (no trust in the xref
//! table), reads object streams, the Info dictionary, XMP metadata streams and the text shown
//! by page content streams (FlateDecode or unfiltered). Nesting, object count, inflated bytes
//! and time are capped; encrypted files end with status `encrypted`.

use crate::cx::{corrupt, Cx, Res, Stop};
use crate::image::{self, Meta};
use crate::Source;
use memchr::memmem;
use regex::bytes::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A PDF value.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Num(f64),
    Bool,
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Vec<(Vec<u8>, Obj)>),
    Ref(u32),
    Keyword(Vec<u8>),
}

impl Obj {
    fn get(&self, key: &[u8]) -> Option<&Obj> {
        match self {
            Obj::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_name(&self, key: &[u8], name: &[u8]) -> bool {
        matches!(self.get(key), Some(Obj::Name(n)) if n == name)
    }
}

/// Error inside the parser.
#[derive(Debug, PartialEq)]
enum Bad {
    /// Nested deeper than the cap.
    Deep,
    /// Not a PDF value.
    Malformed,
}

struct Parser<'a> {
    b: &'a [u8],
    p: usize,
    max_depth: usize,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0C | 0)
}

fn is_delim(c: u8) -> bool {
    is_ws(c) || matches!(c, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while let Some(&c) = self.b.get(self.p) {
            if is_ws(c) {
                self.p += 1;
            } else if c == b'%' {
                while self.b.get(self.p).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    self.p += 1;
                }
            } else {
                break;
            }
        }
    }

    fn word(&mut self) -> &'a [u8] {
        let s = self.p;
        while self.b.get(self.p).is_some_and(|&c| !is_delim(c)) {
            self.p += 1;
        }
        &self.b[s..self.p]
    }

    /// Parses one value; iterative depth is bounded by `max_depth`.
    fn value(&mut self, depth: usize) -> Result<Obj, Bad> {
        if depth > self.max_depth {
            return Err(Bad::Deep);
        }
        self.skip_ws();
        let c = *self.b.get(self.p).ok_or(Bad::Malformed)?;
        match c {
            b'/' => {
                self.p += 1;
                Ok(Obj::Name(self.word().to_vec()))
            }
            b'(' => Ok(Obj::Str(self.literal()?)),
            b'<' if self.b.get(self.p + 1) == Some(&b'<') => {
                self.p += 2;
                let mut d = Vec::new();
                loop {
                    self.skip_ws();
                    match self.b.get(self.p) {
                        Some(b'>') => {
                            // `>>`, or a lone `>` at a damaged end: never step past the input
                            self.p += if self.b.get(self.p + 1) == Some(&b'>') { 2 } else { 1 };
                            return Ok(Obj::Dict(d));
                        }
                        Some(b'/') => {
                            self.p += 1;
                            let k = self.word().to_vec();
                            let v = self.value(depth + 1)?;
                            d.push((k, v));
                        }
                        Some(_) => {
                            self.value(depth + 1)?; // stray token: skip it
                        }
                        None => return Err(Bad::Malformed),
                    }
                }
            }
            b'<' => {
                self.p += 1;
                let end = memchr::memchr(b'>', &self.b[self.p..]).ok_or(Bad::Malformed)?;
                let hex: Vec<u8> = self.b[self.p..self.p + end]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                self.p += end + 1;
                let byte = |h: &[u8]| u8::from_str_radix(std::str::from_utf8(h).unwrap_or("0"), 16).unwrap_or(0);
                Ok(Obj::Str(
                    hex.chunks(2)
                        .map(|h| if h.len() == 2 { byte(h) } else { byte(&[h[0], b'0']) })
                        .collect(),
                ))
            }
            b'[' => {
                self.p += 1;
                let mut a = Vec::new();
                loop {
                    self.skip_ws();
                    match self.b.get(self.p) {
                        Some(b']') => {
                            self.p += 1;
                            return Ok(Obj::Array(a));
                        }
                        Some(_) => {
                            let v = self.value(depth + 1)?;
                            a.push(v);
                        }
                        None => return Err(Bad::Malformed),
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                let w = self.word();
                let n: f64 = std::str::from_utf8(w)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(Bad::Malformed)?;
                // "N G R" is a reference.
                let save = self.p;
                self.skip_ws();
                let g = self.word();
                if !g.is_empty() && g.iter().all(u8::is_ascii_digit) {
                    self.skip_ws();
                    if self.b.get(self.p) == Some(&b'R') && self.b.get(self.p + 1).is_none_or(|&c| is_delim(c)) {
                        self.p += 1;
                        return Ok(Obj::Ref(n as u32));
                    }
                }
                self.p = save;
                Ok(Obj::Num(n))
            }
            b')' | b'>' | b']' | b'{' | b'}' => {
                self.p += 1;
                Ok(Obj::Null)
            }
            _ => {
                let w = self.word();
                if w.is_empty() {
                    self.p += 1;
                }
                Ok(match w {
                    b"null" => Obj::Null,
                    b"true" | b"false" => Obj::Bool,
                    _ => Obj::Keyword(w.to_vec()),
                })
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, Bad> {
        self.p += 1;
        let mut out = Vec::new();
        let mut depth = 1usize;
        while let Some(&c) = self.b.get(self.p) {
            self.p += 1;
            match c {
                b'\\' => {
                    let Some(&e) = self.b.get(self.p) else { break };
                    self.p += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.b.get(self.p) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.p += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        b'\r' | b'\n' => {
                            if e == b'\r' && self.b.get(self.p) == Some(&b'\n') {
                                self.p += 1;
                            }
                        }
                        other => out.push(other),
                    }
                }
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        Err(Bad::Malformed)
    }
}

/// A parsed indirect object and, for streams, its raw data.
struct Object<'a> {
    value: Obj,
    stream: Option<&'a [u8]>,
}

static OBJ_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)(\d{1,10})[ \t\r\n\x0C\x00]+\d{1,5}[ \t\r\n\x0C\x00]+obj\b").expect("obj header")
});

/// Scans a PDF held in memory.
pub(crate) fn scan(b: &[u8], cx: &mut Cx) -> Res {
    let max_depth = cx.opts.max_pdf_depth;
    let mut objects: HashMap<u32, Object> = HashMap::new();
    let mut trailers: Vec<Obj> = Vec::new();
    let mut damaged = false;
    for (i, caps) in OBJ_HEADER.captures_iter(b).enumerate() {
        if i >= cx.opts.max_pdf_objects {
            return Err(Stop::TooLarge(format!(
                "more than {} PDF objects",
                cx.opts.max_pdf_objects
            )));
        }
        if i % 1024 == 0 {
            cx.tick()?;
        }
        let num: u32 = std::str::from_utf8(&caps[1])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut p = Parser {
            b,
            p: caps.get(0).expect("match").end(),
            max_depth,
        };
        let value = match p.value(0) {
            Ok(v) => v,
            Err(Bad::Deep) => return corrupt("PDF object nested deeper than the cap"),
            Err(Bad::Malformed) => {
                damaged = true;
                continue;
            }
        };
        p.skip_ws();
        let stream = if b[p.p..].starts_with(b"stream") {
            stream_data(b, p.p + 6, &value)
        } else {
            None
        };
        if value.is_name(b"Type", b"XRef") {
            trailers.push(value.clone());
        }
        objects.insert(num, Object { value, stream });
    }
    for m in memmem::find_iter(b, b"trailer") {
        let mut p = Parser { b, p: m + 7, max_depth };
        if let Ok(t @ Obj::Dict(_)) = p.value(0) {
            trailers.push(t);
        }
    }
    if objects.is_empty() && trailers.is_empty() {
        return corrupt("no PDF objects found");
    }
    if trailers.iter().any(|t| t.get(b"Encrypt").is_some()) {
        return Err(Stop::Encrypted("encrypted PDF".into()));
    }
    // Objects inside object streams.
    let mut extra: Vec<(u32, Obj)> = Vec::new();
    for o in objects.values().filter(|o| o.value.is_name(b"Type", b"ObjStm")) {
        cx.tick()?;
        let Some(data) = decode(o, cx)? else { continue };
        extra.extend(object_stream(&data, &o.value, max_depth));
    }
    for (num, value) in extra {
        objects.entry(num).or_insert(Object { value, stream: None });
    }
    let mut meta = Meta::default();
    let mut meta_text = String::new();
    let info = trailers.iter().filter_map(|t| t.get(b"Info")).find_map(|i| match i {
        Obj::Ref(n) => objects.get(n).map(|o| &o.value),
        d @ Obj::Dict(_) => Some(d),
        _ => None,
    });
    if let Some(Obj::Dict(entries)) = info {
        for (k, v) in entries {
            let Obj::Str(s) = v else { continue };
            let s = pdf_text(s);
            if s.trim().is_empty() {
                continue;
            }
            match &k[..] {
                b"Author" => meta.authors.push(s),
                b"Creator" | b"Producer" => meta.software.push(s),
                b"CreationDate" => meta.capture = Some(s),
                b"ModDate" => {}
                _ => {
                    meta_text.push_str(&s);
                    meta_text.push('\n');
                }
            }
        }
    }
    let mut text = Vec::new();
    let mut nums: Vec<&u32> = objects.keys().collect();
    nums.sort_unstable();
    for num in nums {
        cx.tick()?;
        let o = &objects[num];
        if o.stream.is_none() {
            continue;
        }
        let v = &o.value;
        if v.is_name(b"Type", b"Metadata") {
            if let Some(xmp) = decode(o, cx)? {
                meta.xmp.push(xmp);
            }
        } else if v.get(b"Subtype").is_none() && v.get(b"Type").is_none() && v.get(b"Length1").is_none() {
            if let Some(data) = decode(o, cx)? {
                if memmem::find(&data, b"BT").is_some() {
                    content_text(&data, max_depth, &mut text);
                }
            }
        }
    }
    for packet in std::mem::take(&mut meta.xmp) {
        damaged |= !image::parse_xmp(&packet, cx.opts.max_xml_depth, &mut meta);
    }
    image::emit(&meta, &Source::Metadata, cx)?;
    cx.detect(meta_text.as_bytes(), &Source::Metadata)?;
    cx.detect(&text, &Source::Text)?;
    if damaged {
        return corrupt("some PDF objects are malformed");
    }
    Ok(())
}

/// The raw bytes of a stream starting after the `stream` keyword at `at`.
fn stream_data<'a>(b: &'a [u8], mut at: usize, dict: &Obj) -> Option<&'a [u8]> {
    if b.get(at) == Some(&b'\r') {
        at += 1;
    }
    if b.get(at) == Some(&b'\n') {
        at += 1;
    }
    if let Some(Obj::Num(n)) = dict.get(b"Length") {
        let end = at.checked_add(*n as usize)?;
        if *n >= 0.0 && end <= b.len() && b[end..].trim_ascii_start().starts_with(b"endstream") {
            return Some(&b[at..end]);
        }
    }
    let end = at + memmem::find(b.get(at..)?, b"endstream")?;
    Some(b[at..end].strip_suffix(b"\n").unwrap_or(&b[at..end]))
}

/// Decodes a stream: unfiltered or FlateDecode; other filters give `None`.
fn decode(o: &Object, cx: &mut Cx) -> Res<Option<Vec<u8>>> {
    let Some(raw) = o.stream else { return Ok(None) };
    let filters: Vec<&[u8]> = match o.value.get(b"Filter") {
        None => Vec::new(),
        Some(Obj::Name(n)) => vec![n],
        Some(Obj::Array(a)) => a
            .iter()
            .filter_map(|f| if let Obj::Name(n) = f { Some(&n[..]) } else { None })
            .collect(),
        Some(_) => return Ok(None),
    };
    match filters[..] {
        [] => Ok(Some(raw.to_vec())),
        [b"FlateDecode" | b"Fl"] => match cx.inflate(raw, true) {
            Ok(d) => Ok(Some(d)),
            Err(Stop::Corrupt(_)) => Ok(None),
            Err(e) => Err(e),
        },
        _ => Ok(None),
    }
}

fn object_stream(data: &[u8], dict: &Obj, max_depth: usize) -> Vec<(u32, Obj)> {
    let (Some(Obj::Num(n)), Some(Obj::Num(first))) = (dict.get(b"N"), dict.get(b"First")) else {
        return Vec::new();
    };
    let mut p = Parser {
        b: data,
        p: 0,
        max_depth,
    };
    let mut pairs = Vec::new();
    for _ in 0..(*n as usize).min(100_000) {
        let (Ok(Obj::Num(num)), Ok(Obj::Num(off))) = (p.value(0), p.value(0)) else {
            break;
        };
        pairs.push((num as u32, off as usize));
    }
    pairs
        .into_iter()
        .filter_map(|(num, off)| {
            let mut q = Parser {
                b: data,
                p: (*first as usize).checked_add(off)?,
                max_depth,
            };
            (q.p < data.len()).then_some(())?;
            q.value(0).ok().map(|v| (num, v))
        })
        .collect()
}

/// Text strings in the Info dictionary: UTF-16BE with a BOM, else PDFDocEncoding (~Latin-1).
fn pdf_text(s: &[u8]) -> String {
    if let Some(body) = s.strip_prefix(b"\xFE\xFF") {
        let units: Vec<u16> = body.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    s.iter().map(|&c| c as char).collect()
}

/// Appends the strings shown by text operators (`Tj`, `TJ`, `'`, `"`) to `out`.
fn content_text(data: &[u8], max_depth: usize, out: &mut Vec<u8>) {
    let mut p = Parser {
        b: data,
        p: 0,
        max_depth,
    };
    let mut operands: Vec<Obj> = Vec::new();
    while p.p < data.len() {
        let Ok(v) = p.value(0) else { break };
        match v {
            Obj::Keyword(op) => {
                match &op[..] {
                    b"Tj" | b"'" | b"\"" => {
                        if let Some(Obj::Str(s)) = operands.last() {
                            out.extend(s.iter().map(|&c| c as char).collect::<String>().bytes());
                        }
                    }
                    b"TJ" => {
                        if let Some(Obj::Array(a)) = operands.last() {
                            for item in a {
                                match item {
                                    Obj::Str(s) => out.extend(s.iter().map(|&c| c as char).collect::<String>().bytes()),
                                    Obj::Num(n) if *n < -200.0 => out.push(b' '),
                                    _ => {}
                                }
                            }
                        }
                    }
                    _ => {}
                }
                if matches!(&op[..], b"ET" | b"Td" | b"TD" | b"T*" | b"'" | b"\"") {
                    out.push(b'\n');
                }
                operands.clear();
            }
            other => {
                if operands.len() < 64 {
                    operands.push(other);
                }
            }
        }
    }
}
