//! The shared exif samples against EXPECTED.tsv (ExifTool 12.57's GPS and serials).

use graphwatch_privacy::{needed_prefix, scan_bytes, Kind, Prefix, Risk, ScanOptions, Source, Status};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/exif-samples")
}

struct Expected {
    file: String,
    gps: Option<(f64, f64)>,
    serials: Vec<String>,
}

fn expected() -> Vec<Expected> {
    let tsv = std::fs::read_to_string(samples().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    tsv.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let gps = (cols[1] != "none").then(|| {
                let v: Vec<f64> = cols[1].split(' ').map(|x| x.parse().expect("number")).collect();
                (v[0], v[1])
            });
            let serials = if cols[2] == "none" {
                Vec::new()
            } else {
                cols[2].split(' ').map(String::from).collect()
            };
            Expected {
                file: cols[0].to_string(),
                gps,
                serials,
            }
        })
        .collect()
}

#[test]
fn gps_and_serials_match_exiftool() {
    let all = expected();
    assert!(all.len() >= 30);
    for e in all {
        let bytes = std::fs::read(samples().join(&e.file)).expect("sample");
        let started = Instant::now();
        let r = scan_bytes(&bytes, &ScanOptions::default());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{} took {:?}",
            e.file,
            started.elapsed()
        );
        let own = |f: &&graphwatch_privacy::Finding| f.source == Source::Metadata;
        let gps: Vec<_> = r
            .findings
            .iter()
            .filter(own)
            .filter(|f| f.kind == Kind::GpsLocation)
            .collect();
        match e.gps {
            Some((lat, lon)) => {
                assert_eq!(gps.len(), 1, "{}: {:?}", e.file, r);
                let (a, b) = (gps[0].lat.expect("lat"), gps[0].lon.expect("lon"));
                assert!(
                    (a - lat).abs() < 1e-6 && (b - lon).abs() < 1e-6,
                    "{}: {a},{b} vs {lat},{lon}",
                    e.file
                );
                assert!(r.risk >= Risk::High, "{}: GPS must be high risk", e.file);
                assert!(r.reasons.iter().any(|x| x.contains("GPS")), "{}", e.file);
            }
            None => assert!(gps.is_empty(), "{}: unexpected GPS {:?}", e.file, gps),
        }
        let serials: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.kind == Kind::DeviceSerial)
            .map(|f| f.value.as_str())
            .collect();
        for s in &e.serials {
            assert!(
                serials.contains(&s.as_str()),
                "{}: serial {s} missing from {serials:?}",
                e.file
            );
        }
        if e.serials.is_empty() {
            assert!(serials.is_empty(), "{}: unexpected serials {serials:?}", e.file);
        }
        if r.status != Status::Scanned {
            assert!(r.risk >= Risk::Medium, "{}: non-scanned status must not be low", e.file);
        }
    }
}

#[test]
fn broken_files_end_with_a_status_quickly() {
    for dir in ["jpg/invalid", "jpg/tests"] {
        for entry in std::fs::read_dir(samples().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            let started = Instant::now();
            let r = scan_bytes(&bytes, &ScanOptions::default());
            assert!(started.elapsed() < Duration::from_millis(500), "{path:?}");
            assert!(r.status != Status::Scanned || r.reasons.iter().all(|x| !x.is_empty()));
        }
    }
}

#[test]
fn truncated_exif_never_panics_and_keeps_a_status() {
    let bytes = std::fs::read(samples().join("jpg/gps/DSCN0010.jpg")).expect("sample");
    for cut in (3..bytes.len().min(40_000)).step_by(97) {
        let r = scan_bytes(&bytes[..cut], &ScanOptions::default());
        let gps = r.findings.iter().any(|f| f.kind == Kind::GpsLocation);
        assert!(r.status == Status::Corrupt || gps, "cut at {cut}: {:?}", r.status);
        assert!(r.risk >= Risk::Medium, "cut at {cut}");
    }
}

#[test]
fn camera_details_and_thumbnail_are_reported() {
    let bytes = std::fs::read(samples().join("jpg/gps/DSCN0010.jpg")).expect("sample");
    let r = scan_bytes(&bytes, &ScanOptions::default());
    let kinds: Vec<Kind> = r.findings.iter().map(|f| f.kind).collect();
    for k in [Kind::CameraModel, Kind::CaptureTime, Kind::EmbeddedThumbnail] {
        assert!(kinds.contains(&k), "{k:?} missing: {kinds:?}");
    }
}

#[test]
fn heic_gps_from_the_meta_box() {
    let bytes = std::fs::read(samples().join("heic/IMG_5195.HEIC")).expect("sample");
    let r = scan_bytes(&bytes, &ScanOptions::default());
    assert_eq!(r.status, Status::Scanned);
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == Kind::CameraModel && f.value.contains("iPhone")));
}

#[test]
fn ranged_prefix_is_enough_for_jpeg_and_heic_metadata() {
    for file in ["jpg/gps/DSCN0010.jpg", "heic/IMG_5195.HEIC"] {
        let bytes = std::fs::read(samples().join(file)).expect("sample");
        let full = scan_bytes(&bytes, &ScanOptions::default());
        let mut have = 64usize;
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 50, "{file}: prefix negotiation does not converge");
            match needed_prefix(&bytes[..have.min(bytes.len())]) {
                Prefix::Complete => break,
                Prefix::NeedMore(n) => {
                    assert!(
                        n as usize > have.min(bytes.len()),
                        "{file}: must ask for more than it has"
                    );
                    have = n as usize;
                }
                Prefix::WholeFile => panic!("{file}: images never need the whole file"),
            }
        }
        assert!(have < bytes.len() / 2, "{file}: asked for {have} of {}", bytes.len());
        let part = scan_bytes(&bytes[..have], &ScanOptions::default());
        let gps = |r: &graphwatch_privacy::FileReport| {
            r.findings
                .iter()
                .find(|f| f.kind == Kind::GpsLocation)
                .map(|f| (f.lat, f.lon))
        };
        assert_eq!(gps(&part), gps(&full), "{file}");
        assert!(gps(&full).is_some());
    }
    assert_eq!(
        needed_prefix(b"%PDF-1.7 lots of bytes to pass the minimum length check"),
        Prefix::WholeFile
    );
}

#[test]
fn olympus_lens_serial_from_the_maker_note() {
    // ExifTool 12.57 reports [Olympus] LensSerialNumber ABG366769 for this file (EXPECTED.tsv
    // lists body serials only).
    let bytes = std::fs::read(samples().join("jpg/tests/42_IndexError.jpg")).expect("sample");
    let r = scan_bytes(&bytes, &ScanOptions::default());
    let serials: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.kind == Kind::DeviceSerial)
        .map(|f| f.value.as_str())
        .collect();
    assert!(serials.contains(&"ABG366769"), "{serials:?}");
    assert_eq!(serials.len(), 3, "{serials:?}");
}
