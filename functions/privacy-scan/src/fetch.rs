//! How a file is fetched, decided from its name and MIME type before any download, and the
//! download itself: images by ranged requests for their first [`IMAGE_PREFIX`] bytes,
//! extended while their metadata runs past what was fetched; documents (and images whose
//! prefix does not settle them) whole, read chunk by chunk up to the size cap. The bytes are
//! then scanned on the blocking pool.

use graphwatch_privacy::{needed_prefix, scan_bytes, FileReport, Format, Prefix, ScanOptions, Status};
use graphwatch_shared::graph::DriveItem;

use crate::pass::Pass;
use crate::{App, Error};

/// Times an image's prefix is extended when its metadata runs past what was fetched.
const MAX_PREFIX_EXTENSIONS: u32 = 3;

/// Bytes fetched first from an image: EXIF, XMP and IPTC sit at the start of the file, and
/// `needed_prefix` asks for the rest when they run past it. (Issue 8 suggested 256 KiB; 64 KiB
/// holds a whole EXIF segment and keeps a 2 MB photo's cost at about 3 %, see
/// `docs/performance.md`.)
const IMAGE_PREFIX: u64 = 64 * 1024;

/// How a file is fetched, decided from its name and MIME type before any download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// An image: a ranged request for the first [`IMAGE_PREFIX`] bytes, more only if needed.
    Image,
    /// A document or text: the whole file, up to the size cap.
    Document,
    /// A type the engine does not read: not downloaded.
    Unsupported,
}

const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "heic", "heif", "avif", "png", "tif", "tiff", "webp", "dng",
];
const DOCUMENT_EXTENSIONS: &[&str] = &[
    "docx",
    "docm",
    "dotx",
    "xlsx",
    "xlsm",
    "xltx",
    "pptx",
    "pptm",
    "potx",
    "pdf",
    "txt",
    "text",
    "csv",
    "tsv",
    "json",
    "md",
    "markdown",
    "html",
    "htm",
    "xhtml",
    "xml",
    "eml",
    "log",
    "ini",
    "cfg",
    "conf",
    "yaml",
    "yml",
    "env",
    "properties",
    "sql",
    "pem",
    "key",
    "toml",
];

/// Decides how to fetch a file from its extension, then its MIME type.
pub(crate) fn fetch_kind(name: &str, mime: Option<&str>) -> Fetch {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        return Fetch::Image;
    }
    if DOCUMENT_EXTENSIONS.contains(&ext.as_str()) {
        return Fetch::Document;
    }
    match mime.map(str::to_ascii_lowercase) {
        Some(m) if m.starts_with("image/") => Fetch::Image,
        Some(m)
            if m.starts_with("text/")
                || m == "application/json"
                || m == "application/pdf"
                || m.starts_with("application/vnd.openxmlformats-officedocument.") =>
        {
            Fetch::Document
        }
        _ => Fetch::Unsupported,
    }
}

/// The report of a file over the size cap `max`.
pub(crate) fn too_large(max: u64) -> FileReport {
    FileReport::unread(Status::TooLarge, &format!("file is larger than {max} bytes"))
}

impl App {
    /// Downloads what the engine needs of a file and scans it; returns the report and the
    /// bytes downloaded.
    pub(crate) async fn fetch_and_scan(
        &self,
        pass: &Pass<'_>,
        item: &DriveItem,
        fetch: Fetch,
    ) -> Result<(FileReport, u64), Error> {
        let max = self.config.limits.max_file_size;
        let url = self
            .graph_call(&pass.conn, |t| async move {
                self.graph.content_download_url(&t, pass.drive_id, &item.id).await
            })
            .await?;
        let opts = ScanOptions {
            max_size: max,
            ..ScanOptions::default()
        };
        let mut bytes = Vec::new();
        let mut total = None;
        if fetch == Fetch::Image {
            let mut want = IMAGE_PREFIX;
            for _ in 0..=MAX_PREFIX_EXTENSIONS {
                let have = bytes.len() as u64;
                let Some(part) = self.graph.download_capped(&url, Some((have, want - 1)), max).await? else {
                    return Ok((too_large(max), have));
                };
                let whole = !part.partial;
                total = part.total_size;
                bytes.extend_from_slice(&part.bytes);
                let have = bytes.len() as u64;
                if whole || total.is_some_and(|t| t <= have) {
                    return Ok((scan(bytes, opts).await, have));
                }
                match needed_prefix(&bytes) {
                    Prefix::Complete => {
                        let report = scan(bytes.clone(), opts.clone()).await;
                        // JPEG metadata ends where the image data starts, so the prefix's verdict
                        // is the file's; other parsers (PNG, WebP) report a cut-off prefix as
                        // damaged: fetch the rest of those
                        if report.status == Status::Scanned || report.format == Format::Jpeg {
                            return Ok((report, have));
                        }
                        break;
                    }
                    Prefix::NeedMore(n) if n <= max => want = n.max(have + 1),
                    _ => break,
                }
            }
        }
        // the whole file (or its rest), up to the cap
        let have = bytes.len() as u64;
        let range = match total {
            Some(t) if have > 0 => Some((have, t.saturating_sub(1))),
            _ => {
                bytes.clear();
                None
            }
        };
        let downloaded_before = have;
        let Some(rest) = self
            .graph
            .download_capped(&url, range, max.saturating_sub(bytes.len() as u64))
            .await?
        else {
            return Ok((too_large(max), downloaded_before));
        };
        let downloaded = downloaded_before + rest.bytes.len() as u64;
        bytes.extend_from_slice(&rest.bytes);
        Ok((scan(bytes, opts).await, downloaded))
    }
}

/// Scans bytes on the blocking pool (the engine is CPU-bound).
async fn scan(bytes: Vec<u8>, opts: ScanOptions) -> FileReport {
    tokio::task::spawn_blocking(move || scan_bytes(&bytes, &opts))
        .await
        .unwrap_or_else(|e| FileReport::unread(Status::Corrupt, &format!("scanner failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_is_decided_by_extension_then_mime() {
        assert_eq!(fetch_kind("IMG_0001.JPG", None), Fetch::Image);
        assert_eq!(fetch_kind("scan.heic", Some("application/octet-stream")), Fetch::Image);
        assert_eq!(fetch_kind("budget.xlsx", None), Fetch::Document);
        assert_eq!(fetch_kind("notes", Some("text/plain")), Fetch::Document);
        assert_eq!(fetch_kind("photo", Some("image/jpeg")), Fetch::Image);
        assert_eq!(fetch_kind("movie.mp4", Some("video/mp4")), Fetch::Unsupported);
        assert_eq!(fetch_kind("archive.zip", None), Fetch::Unsupported);
    }
}
