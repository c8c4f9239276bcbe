//! The machinery every extractor shares: why it stops ([`Stop`]), the capped findings
//! [`Sink`], and the per-file context [`Cx`] that enforces the time budget and the
//! decompression caps.

use crate::detect;
use crate::finding::{Finding, Kind, Source};
use crate::options::ScanOptions;
use std::io::Read;
use std::time::Instant;

/// Why an extractor stopped early.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stop {
    Unsupported(String),
    Encrypted(String),
    TooLarge(String),
    Corrupt(String),
    TimedOut,
}

pub(crate) type Res<T = ()> = Result<T, Stop>;

/// Shorthand for a `Corrupt` stop.
pub(crate) fn corrupt<T>(why: impl Into<String>) -> Res<T> {
    Err(Stop::Corrupt(why.into()))
}

/// Collected findings, capped, with full counts per kind for the risk.
pub(crate) struct Sink {
    pub findings: Vec<Finding>,
    pub max: usize,
    pub counts: std::collections::BTreeMap<(Kind, u8), usize>,
    /// Every metadata finding pushed with [`Sink::push_unique`], kept or not, as the keyed hash
    /// of its kind, value and latitude. A crafted file can repeat or vary authors hundreds of
    /// thousands of times, so duplicates are found by lookup, not by walking the kept findings
    /// (which made such a file quadratic); 8 bytes a value instead of a copy of it, and the key
    /// is random per scan (SipHash), so no file can be crafted to collide (a chance collision
    /// among 300,000 values is about 1 in 400 million).
    unique: std::collections::HashSet<u64>,
    unique_key: std::hash::RandomState,
}

impl Sink {
    pub fn new(max: usize) -> Sink {
        Sink {
            findings: Vec::new(),
            max,
            counts: Default::default(),
            unique: Default::default(),
            unique_key: Default::default(),
        }
    }

    pub fn push(&mut self, f: Finding) {
        self.push_with(f.kind, f.confidence, || f);
    }

    /// Counts a finding and builds it only if there is room to keep it.
    pub fn push_with(&mut self, kind: Kind, confidence: u8, make: impl FnOnce() -> Finding) {
        *self.counts.entry((kind, confidence)).or_default() += 1;
        if self.findings.len() < self.max {
            self.findings.push(make());
        }
    }

    /// Pushes a metadata-style finding unless the same kind and value (and latitude) was pushed
    /// this way before; each distinct one is counted once, whether or not the cap let it be kept.
    pub fn push_unique(&mut self, f: Finding) {
        let key = std::hash::BuildHasher::hash_one(&self.unique_key, (f.kind, &f.value, f.lat.map(f64::to_bits)));
        if self.unique.insert(key) {
            self.push(f);
        }
    }
}

/// The context of one scan: options, deadline, findings.
pub(crate) struct Cx<'o> {
    pub opts: &'o ScanOptions,
    deadline: Instant,
    pub sink: Sink,
    /// Bytes inflated so far from this file (zip members, PDF streams, PNG text).
    pub inflated: u64,
    /// Nesting of embedded files (a thumbnail, an image inside a document).
    pub depth: u8,
}

impl<'o> Cx<'o> {
    pub fn new(opts: &'o ScanOptions) -> Cx<'o> {
        Cx {
            opts,
            deadline: Instant::now() + opts.max_time,
            sink: Sink::new(opts.max_findings),
            inflated: 0,
            depth: 0,
        }
    }

    /// Fails with `TimedOut` once the time budget is spent.
    pub fn tick(&self) -> Res {
        if Instant::now() > self.deadline {
            Err(Stop::TimedOut)
        } else {
            Ok(())
        }
    }

    /// Runs the detectors over extracted text from `source`.
    pub fn detect(&mut self, text: &[u8], source: &Source) -> Res {
        self.tick()?;
        detect::detect(text, source, 0, &mut self.sink);
        Ok(())
    }

    /// Inflates a zlib/deflate stream under the per-member and per-file caps.
    pub fn inflate(&mut self, data: &[u8], zlib: bool) -> Res<Vec<u8>> {
        let room = self
            .opts
            .max_member_bytes
            .min(self.opts.max_total_bytes.saturating_sub(self.inflated));
        let mut out = Vec::new();
        let res = if zlib {
            flate2::read::ZlibDecoder::new(data)
                .take(room + 1)
                .read_to_end(&mut out)
        } else {
            flate2::read::DeflateDecoder::new(data)
                .take(room + 1)
                .read_to_end(&mut out)
        };
        if out.len() as u64 > room {
            return Err(Stop::TooLarge(format!("decompressed data exceeds {room} bytes")));
        }
        self.inflated += out.len() as u64;
        match res {
            Ok(_) => Ok(out),
            // A truncated stream still yields what was inflated before the damage.
            Err(_) if !out.is_empty() => Ok(out),
            Err(e) => corrupt(format!("bad compressed data: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(name: &str) -> Finding {
        Finding::new(Kind::Author, 85, Source::Metadata, 0, 0, name)
    }

    #[test]
    fn metadata_findings_are_kept_and_counted_once_per_value() {
        let mut sink = Sink::new(10);
        for name in ["Alice", "Bob", "Alice", "Alice", "Bob"] {
            sink.push_unique(author(name));
        }
        let kept: Vec<&str> = sink.findings.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(kept, ["Alice", "Bob"]);
        assert_eq!(sink.counts[&(Kind::Author, 85)], 2);
        // the same value under another kind is another finding
        sink.push_unique(Finding::new(Kind::CommentAuthor, 85, Source::Comment, 0, 0, "Alice"));
        assert_eq!(sink.findings.len(), 3);
    }

    #[test]
    fn gps_positions_with_the_same_text_but_another_latitude_are_distinct() {
        let mut sink = Sink::new(10);
        for lat in [1.0, 1.0, 2.0] {
            let mut f = Finding::new(Kind::GpsLocation, 85, Source::Metadata, 0, 0, "position");
            f.lat = Some(lat);
            sink.push_unique(f);
        }
        assert_eq!(sink.findings.len(), 2);
    }

    #[test]
    fn a_value_past_the_cap_is_counted_once_however_often_it_repeats() {
        let mut sink = Sink::new(2);
        for name in ["a", "b", "c", "c", "d", "c", "a"] {
            sink.push_unique(author(name));
        }
        assert_eq!(sink.findings.len(), 2);
        assert_eq!(sink.counts[&(Kind::Author, 85)], 4, "a, b, c and d, each once");
    }
}
