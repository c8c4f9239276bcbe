//! A full pass over a drive on the Graph emulator with 20 ms of latency per request: files
//! per second, and bytes downloaded against the drive's size (photos should cost under 5 %).
//!
//! 70 % of the files are photos of 2–6 MB (real EXIF samples padded with image data), 30 %
//! documents (DOCX, XLSX, PDF, text). Needs the local services:
//! `tools/scripts/local-services run -- cargo bench -p privacy-scan --bench scan`;
//! `BENCH_FILES=100` (or `-- --files 100`) for a quick run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use graph_emulator::Fault;
use graphwatch_privacy::corpus;
use privacy_scan::PassOutcome;

const PHOTOS: &[&str] = &[
    "jpg/gps/DSCN0010.jpg",
    "jpg/gps/DSCN0012.jpg",
    "jpg/gps/DSCN0021.jpg",
    "jpg/gps/DSCN0025.jpg",
    "jpg/gps/DSCN0027.jpg",
    "jpg/gps/DSCN0029.jpg",
    "jpg/gps/DSCN0038.jpg",
    "jpg/gps/DSCN0040.jpg",
    "jpg/gps/DSCN0042.jpg",
    "jpg/tests/87_OSError.jpg",
    "jpg/tests/67-0_length_string.jpg",
    "jpg/tests/32-lens_data.jpeg",
];

fn file_count() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .iter()
        .position(|a| a == "--files")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    from_args
        .or_else(|| std::env::var("BENCH_FILES").ok().and_then(|n| n.parse().ok()))
        .unwrap_or(1000)
}

#[tokio::main]
async fn main() {
    let files = file_count();
    let h = common::harness().await;
    let photos = files * 7 / 10;
    let (mut photo_bytes, mut doc_bytes) = (0u64, 0u64);
    for i in 0..photos {
        // 2 to 6 MB, spread evenly
        let size = (2 << 20) + (i * 7919 % 4096) * 1024;
        let bytes = common::padded_jpeg(PHOTOS[i % PHOTOS.len()], size);
        photo_bytes += bytes.len() as u64;
        h.add(&format!("/Photos/{}", i / 100), &format!("IMG_{i:05}.jpg"), bytes)
            .await;
    }
    for i in 0..files - photos {
        let (name, bytes) = match i % 4 {
            0 => (format!("report-{i}.docx"), corpus::docx(i as u64, 20_000)),
            1 => (format!("accounts-{i}.xlsx"), common::xlsx()),
            2 => (format!("letter-{i}.pdf"), common::pdf()),
            _ => (
                format!("notes-{i}.txt"),
                corpus::generate_with_density(i as u64, 50_000, 2).text.into_bytes(),
            ),
        };
        doc_bytes += bytes.len() as u64;
        h.add("/Documents", &name, bytes).await;
    }
    h.emulator.inject_fault(Fault::Latency { ms: 20 }).await.unwrap();

    let started = Instant::now();
    let scan = loop {
        match h.app.scan_drive(common::DRIVE, common::far_deadline()).await.unwrap() {
            PassOutcome::Completed(scan) => break scan,
            PassOutcome::Paused(_) => continue,
            other => panic!("unexpected outcome {other:?}"),
        }
    };
    let elapsed = started.elapsed();
    let served = h.served();
    let total = photo_bytes + doc_bytes;
    // documents are read whole: the rest of what was served is the photos' share
    let photo_served = served.saturating_sub(doc_bytes);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("privacy-scan full pass, {files} files ({photos} photos), 20 ms per request");
    println!(
        "  time             {:.2} s, {:.1} files/s (concurrency {})",
        elapsed.as_secs_f64(),
        files as f64 / elapsed.as_secs_f64(),
        h.config.limits.scan_concurrency
    );
    println!(
        "  downloaded       {:.1} MiB of {:.1} MiB ({:.2} %)",
        mib(served),
        mib(total),
        100.0 * served as f64 / total as f64
    );
    println!(
        "  photos           {:.1} MiB of {:.1} MiB ({:.2} %)",
        mib(photo_served),
        mib(photo_bytes),
        100.0 * photo_served as f64 / photo_bytes as f64
    );
    println!(
        "  scan record      seen {}, scanned {}, errors {}; critical {}, high {}, medium {}, low {}",
        scan.totals.files_seen,
        scan.totals.scanned,
        scan.totals.errors,
        scan.risk_counts.critical,
        scan.risk_counts.high,
        scan.risk_counts.medium,
        scan.risk_counts.low
    );
    assert_eq!(scan.totals.files_seen, files as u64);
}
