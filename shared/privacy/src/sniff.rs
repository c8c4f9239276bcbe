//! The file [`Format`] and sniffing it from the first bytes (never from the file name).

use memchr::memmem;
use serde::{Deserialize, Serialize};

/// The file format, sniffed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG/JFIF/EXIF image.
    Jpeg,
    /// PNG image.
    Png,
    /// TIFF (and TIFF-based raw formats such as DNG).
    Tiff,
    /// WebP image.
    Webp,
    /// HEIF/HEIC/AVIF image.
    Heif,
    /// Word document (Office Open XML).
    Docx,
    /// Excel workbook (Office Open XML).
    Xlsx,
    /// PowerPoint presentation (Office Open XML).
    Pptx,
    /// OLE compound file (legacy Office, or an encrypted Office Open XML package).
    Ole,
    /// PDF document.
    Pdf,
    /// Plain text (UTF-8, UTF-16 or single-byte).
    Text,
    /// Comma- or tab-separated values.
    Csv,
    /// JSON.
    Json,
    /// HTML or XHTML.
    Html,
    /// Markdown.
    Markdown,
    /// E-mail message (RFC 5322, `.eml`).
    Email,
    /// A zip archive that is not an Office document.
    Zip,
    /// Anything else.
    Unknown,
}

impl Format {
    /// Whether the format is text that can be streamed in chunks.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Format::Text | Format::Csv | Format::Json | Format::Html | Format::Markdown | Format::Email
        )
    }

    /// Whether the format is an image.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Tiff | Format::Webp | Format::Heif
        )
    }
}

/// Guesses the format of a file from its bytes.
pub fn sniff(b: &[u8]) -> Format {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Format::Jpeg;
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Format::Png;
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Format::Tiff;
    }
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Format::Webp;
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brands = [
            b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
        ];
        if brands.iter().any(|br| {
            &b[8..12] == *br
                || b.get(16..b.len().min(64))
                    .unwrap_or_default()
                    .chunks(4)
                    .any(|c| c == *br)
        }) {
            return Format::Heif;
        }
        return Format::Unknown;
    }
    if b.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Format::Ole;
    }
    if memmem::find(&b[..b.len().min(1024)], b"%PDF-").is_some() {
        return Format::Pdf;
    }
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
        return if memmem::find(b, b"word/").is_some() {
            Format::Docx
        } else if memmem::find(b, b"xl/").is_some() {
            Format::Xlsx
        } else if memmem::find(b, b"ppt/").is_some() {
            Format::Pptx
        } else {
            Format::Zip
        };
    }
    text_kind(b)
}

/// Classifies text (or returns `Unknown` for binary data).
fn text_kind(b: &[u8]) -> Format {
    if crate::text::is_utf16(b) {
        return Format::Text;
    }
    let head = &b[..b.len().min(8192)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if head.is_empty() {
        return Format::Text;
    }
    let control = head
        .iter()
        .filter(|&&c| c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0C))
        .count();
    if control > head.len() / 100 || head.contains(&0) {
        return Format::Unknown;
    }
    let lower = head[..head.len().min(1024)].to_ascii_lowercase();
    let trimmed = lower.trim_ascii_start();
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        return Format::Json;
    }
    if [&b"<!doctype html"[..], b"<html", b"<head", b"<body"]
        .iter()
        .any(|t| memmem::find(&lower, t).is_some())
    {
        return Format::Html;
    }
    let lines: Vec<&[u8]> = head.split(|&c| c == b'\n').take(40).collect();
    let headers = [
        &b"from:"[..],
        b"to:",
        b"subject:",
        b"received:",
        b"return-path:",
        b"mime-version:",
        b"message-id:",
        b"date:",
    ];
    let header_lines = lines
        .iter()
        .take_while(|l| !l.trim_ascii().is_empty())
        .filter(|l| headers.iter().any(|h| l.to_ascii_lowercase().starts_with(h)))
        .count();
    if header_lines >= 2 && lines.first().is_some_and(|l| l.contains(&b':')) {
        return Format::Email;
    }
    if lines
        .iter()
        .any(|l| l.starts_with(b"# ") || l.starts_with(b"## ") || l.starts_with(b"```"))
    {
        return Format::Markdown;
    }
    let full: Vec<&&[u8]> = lines
        .iter()
        .take(lines.len().saturating_sub(1).max(1))
        .take(5)
        .collect();
    for sep in [b',', b'\t'] {
        let counts: Vec<usize> = full.iter().map(|l| l.iter().filter(|&&c| c == sep).count()).collect();
        if counts.len() >= 2 && counts[0] >= 1 && counts.iter().all(|&c| c == counts[0]) {
            return Format::Csv;
        }
    }
    Format::Text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Format::Jpeg);
        assert_eq!(sniff(b"%PDF-1.7\n"), Format::Pdf);
        assert_eq!(sniff(b"{\"a\": 1}"), Format::Json);
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), Format::Html);
        assert_eq!(sniff(b"From: a@b.com\nTo: c@d.com\nSubject: hi\n\nbody"), Format::Email);
        assert_eq!(sniff(b"# Title\n\ntext"), Format::Markdown);
        assert_eq!(sniff(b"a,b,c\n1,2,3\n4,5,6\n"), Format::Csv);
        assert_eq!(sniff(b"hello world\n"), Format::Text);
        assert_eq!(sniff(b"\x00\x01\x02\x03binary"), Format::Unknown);
        assert_eq!(sniff(b"\xFF\xFEh\0i\0"), Format::Text);
    }
}
