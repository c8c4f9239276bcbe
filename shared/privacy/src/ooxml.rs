//! Office Open XML (DOCX, XLSX, PPTX): properties, body text, comments and their authors,
//! tracked changes (revision authors and deleted text), embedded media through the image path.
//! Only the parts named here are inflated, each under the member and total caps.

use crate::cx::{corrupt, Cx, Res, Stop};
use crate::xml::{self, Event};
use crate::{Finding, Format, Kind, Source};
use std::io::{Cursor, Read};
use zip::ZipArchive;

/// What a part holds, which decides where its text goes.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Core,
    App,
    Custom,
    Body,
    Comments,
    People,
    Media,
}

fn classify(name: &str) -> Option<Part> {
    let lower = name.to_ascii_lowercase();
    let xml = lower.ends_with(".xml");
    Some(match lower.as_str() {
        "docprops/core.xml" => Part::Core,
        "docprops/app.xml" => Part::App,
        "docprops/custom.xml" => Part::Custom,
        n if n.contains("/media/") => Part::Media,
        _ if !xml => return None,
        n if n.contains("comment") && !n.contains("commentauthors") => Part::Comments,
        n if n.ends_with("people.xml")
            || n.contains("/persons/")
            || n.contains("commentauthors")
            || n.contains("/authors") =>
        {
            Part::People
        }
        n if n.starts_with("word/")
            && ["document", "header", "footer", "footnotes", "endnotes"]
                .iter()
                .any(|p| n[5..].starts_with(p)) =>
        {
            Part::Body
        }
        n if n == "xl/sharedstrings.xml" || n.starts_with("xl/worksheets/sheet") => Part::Body,
        n if n.starts_with("ppt/slides/slide") || n.starts_with("ppt/notesslides/") => Part::Body,
        _ => return None,
    })
}

/// Legacy OLE compound files: an encrypted OOXML package lives in one; anything else is a
/// legacy binary Office format the engine does not read.
pub(crate) fn scan_ole(bytes: &[u8]) -> Res {
    let marker: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    if memchr::memmem::find(bytes, &marker).is_some() {
        return Err(Stop::Encrypted("password-protected Office document".into()));
    }
    Err(Stop::Unsupported(
        "legacy binary Office format (OLE compound file)".into(),
    ))
}

/// Scans a DOCX/XLSX/PPTX package.
pub(crate) fn scan(bytes: &[u8], _format: Format, cx: &mut Cx) -> Res {
    let mut zip = match ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => return corrupt(format!("bad zip structure: {e}")),
    };
    if zip.len() > cx.opts.max_zip_entries {
        return Err(Stop::TooLarge(format!(
            "{} zip entries (cap {})",
            zip.len(),
            cx.opts.max_zip_entries
        )));
    }
    check_layout(&mut zip, bytes.len() as u64)?;
    let mut body = Texts::default();
    for i in 0..zip.len() {
        cx.tick()?;
        let (name, part) = {
            let f = zip
                .by_index_raw(i)
                .map_err(|e| Stop::Corrupt(format!("bad zip entry: {e}")))?;
            let name = f
                .name()
                .map_err(|e| Stop::Corrupt(format!("bad zip entry name: {e}")))?;
            match classify(&name) {
                Some(p) => (name.into_owned(), p),
                None => continue,
            }
        };
        let data = read_member(&mut zip, i, cx)?;
        if part == Part::Media {
            let fmt = crate::sniff(&data);
            if fmt.is_image() && cx.depth == 0 {
                cx.depth += 1;
                let r = crate::image::scan(&data, fmt, &Source::Embedded(name), cx);
                cx.depth -= 1;
                if r == Err(Stop::TimedOut) {
                    return r;
                }
            }
            continue;
        }
        part_text(&data, part, cx, &mut body)?;
    }
    cx.detect(body.text.as_bytes(), &Source::Text)?;
    cx.detect(body.comments.as_bytes(), &Source::Comment)?;
    cx.detect(body.deleted.as_bytes(), &Source::TrackedChange)?;
    cx.detect(body.meta.as_bytes(), &Source::Metadata)?;
    Ok(())
}

/// Rejects entries whose data overlap each other or run past the central directory.
fn check_layout(zip: &mut ZipArchive<Cursor<&[u8]>>, len: u64) -> Res {
    let mut spans = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| Stop::Corrupt(format!("bad zip entry: {e}")))?;
        if f.encrypted() {
            return Err(Stop::Encrypted("encrypted zip entry".into()));
        }
        let end = f
            .data_start()
            .and_then(|start| start.checked_add(f.compressed_size()))
            .filter(|&e| e <= len);
        let Some(end) = end else {
            return corrupt("zip entry runs past the end of the file");
        };
        spans.push((f.header_start(), end));
    }
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return corrupt("overlapping zip entries");
    }
    Ok(())
}

fn read_member(zip: &mut ZipArchive<Cursor<&[u8]>>, i: usize, cx: &mut Cx) -> Res<Vec<u8>> {
    let room = cx
        .opts
        .max_member_bytes
        .min(cx.opts.max_total_bytes.saturating_sub(cx.inflated));
    let mut f = zip
        .by_index(i)
        .map_err(|e| Stop::Corrupt(format!("bad zip entry: {e}")))?;
    let declared = f.size();
    if declared > room {
        return Err(Stop::TooLarge(format!(
            "zip member {} inflates to {declared} bytes (cap {room})",
            f.name().unwrap_or_default()
        )));
    }
    let mut out = Vec::with_capacity(declared.min(1 << 20) as usize);
    let res = (&mut f).take(room + 1).read_to_end(&mut out);
    if out.len() as u64 > room {
        return Err(Stop::TooLarge(format!("zip member inflates past {room} bytes")));
    }
    cx.inflated += out.len() as u64;
    match res {
        Ok(_) if out.len() as u64 == declared => Ok(out),
        Ok(_) => corrupt("zip member size differs from its header"),
        Err(e) => corrupt(format!("bad zip member data: {e}")),
    }
}

#[derive(Default)]
struct Texts {
    text: String,
    comments: String,
    deleted: String,
    meta: String,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn attr<'a>(attrs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| names.contains(&local(k)))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// Extracts one part's text and metadata findings.
fn part_text(data: &[u8], part: Part, cx: &mut Cx, out: &mut Texts) -> Res {
    let mut stack: Vec<String> = Vec::new();
    let mut del_depth = 0usize;
    let mut deletion = String::new();
    let mut findings: Vec<Finding> = Vec::new();
    let meta = |kind: Kind, src: Source, v: &str| Finding::new(kind, 85, src, 0, 0, v.trim());
    let ok = xml::walk(data, cx.opts.max_xml_depth, |ev| match ev {
        Event::Start { name, attrs } => {
            let l = local(&name).to_string();
            match (part, l.as_str()) {
                (Part::Body, "del") => {
                    del_depth += 1;
                    if let Some(a) = attr(&attrs, &["author"]) {
                        findings.push(meta(Kind::Author, Source::TrackedChange, a));
                    }
                }
                (Part::Body, "ins" | "moveFrom" | "moveTo") => {
                    if let Some(a) = attr(&attrs, &["author"]) {
                        findings.push(meta(Kind::Author, Source::TrackedChange, a));
                    }
                }
                (Part::Comments | Part::People, _) => {
                    if let Some(a) = attr(&attrs, &["author", "displayName", "name"]).filter(|_| l != "font") {
                        findings.push(meta(Kind::CommentAuthor, Source::Comment, a));
                    }
                }
                (Part::Body, "tab") => out.text.push('\t'),
                (Part::Body, "br" | "cr") => out.text.push('\n'),
                _ => {}
            }
            stack.push(l);
        }
        Event::End => {
            let l = stack.pop().unwrap_or_default();
            let target = match part {
                Part::Comments => &mut out.comments,
                _ => &mut out.text,
            };
            match l.as_str() {
                "p" | "si" | "row" | "comment" | "cm" | "txBody" => target.push('\n'),
                "c" => target.push('\t'),
                "del" if part == Part::Body => {
                    del_depth = del_depth.saturating_sub(1);
                    if del_depth == 0 && !deletion.trim().is_empty() {
                        findings.push(meta(Kind::TrackedChanges, Source::TrackedChange, &deletion));
                        out.deleted.push_str(&deletion);
                        out.deleted.push('\n');
                        deletion.clear();
                    }
                }
                _ => {}
            }
        }
        Event::Text(t) => {
            let Some(el) = stack.last().map(String::as_str) else {
                return;
            };
            match part {
                Part::Core => match el {
                    "creator" | "lastModifiedBy" => findings.push(meta(Kind::Author, Source::Metadata, &t)),
                    "created" => findings.push(meta(Kind::CaptureTime, Source::Metadata, &t)),
                    "modified" | "revision" | "lastPrinted" => {}
                    _ => {
                        out.meta.push_str(&t);
                        out.meta.push('\n');
                    }
                },
                Part::App => match el {
                    "Application" => findings.push(meta(Kind::Software, Source::Metadata, &t)),
                    "Company" | "Manager" => findings.push(meta(Kind::Author, Source::Metadata, &t)),
                    _ => {}
                },
                Part::Custom => {
                    out.meta.push_str(&t);
                    out.meta.push('\n');
                }
                Part::People if el == "author" => findings.push(meta(Kind::CommentAuthor, Source::Comment, &t)),
                Part::Comments if el == "author" => findings.push(meta(Kind::CommentAuthor, Source::Comment, &t)),
                Part::Comments if matches!(el, "t" | "text") => out.comments.push_str(&t),
                Part::Body if el == "delText" || del_depth > 0 && el == "t" => deletion.push_str(&t),
                Part::Body if matches!(el, "t" | "v" | "instrText") => out.text.push_str(&t),
                _ => {}
            }
        }
    });
    for f in findings.into_iter().filter(|f| !f.value.is_empty()) {
        cx.sink.push_unique(f);
    }
    if ok {
        Ok(())
    } else {
        corrupt("malformed or too deeply nested XML")
    }
}
