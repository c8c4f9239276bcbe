//! Criterion benchmarks: detectors over generated text, one JPEG, one generated DOCX.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graphwatch_privacy::corpus::{docx, generate};
use graphwatch_privacy::{scan_bytes, scan_text, ScanOptions};

fn text(c: &mut Criterion) {
    let corpus = generate(1, 4 << 20).text;
    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Bytes(corpus.len() as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("scan_text", "labelled-corpus-4MiB"), |b| {
        b.iter(|| scan_text(&corpus))
    });
    g.finish();
}

fn files(c: &mut Criterion) {
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/exif-samples/jpg/gps/DSCN0010.jpg"
    ))
    .expect("sample");
    let doc = docx(1, 20_000);
    let opts = ScanOptions::default();
    let mut g = c.benchmark_group("files");
    g.throughput(Throughput::Elements(1));
    g.bench_function("jpeg_exif", |b| b.iter(|| scan_bytes(&jpeg, &opts)));
    g.bench_function("docx_20k", |b| b.iter(|| scan_bytes(&doc, &opts)));
    g.finish();
}

criterion_group!(benches, text, files);
criterion_main!(benches);
