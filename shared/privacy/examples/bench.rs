//! Benchmark driver used by `tools/scripts/bench-privacy`: generates the corpora and measures the
//! engine on them (one thread, so figures are per core).
//!
//! ```text
//! bench gen-text PATH BYTES SEED [PERCENT]  write a labelled-corpus text file (entity lines %)
//! bench gen-docx DIR COUNT SEED      write COUNT generated .docx files
//! bench gen-images DIR COUNT SRC     copy the images under SRC round-robin, COUNT files
//! bench text PATH                    scan a text file in memory: MB/s (median of five)
//! bench stream PATH                  stream a file through scan_reader: MB/s and peak RSS
//! bench files DIR                    scan every file in DIR from disk: files/s (median of five)
//! bench accuracy SEED BYTES          precision and recall per entity on a generated corpus
//! ```

use graphwatch_privacy::corpus::{generate, generate_with_density, KINDS};
use graphwatch_privacy::{scan_bytes, scan_reader, scan_text, ScanOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let num = |i: usize| arg(i).parse::<u64>().unwrap_or_else(|_| usage());
    match arg(0) {
        "gen-text" => {
            let percent = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(35);
            std::fs::write(arg(1), generate_with_density(num(3), num(2) as usize, percent).text).expect("write corpus")
        }
        "gen-docx" => gen_docx(Path::new(arg(1)), num(2) as usize, num(3)),
        "gen-images" => gen_images(Path::new(arg(1)), num(2) as usize, Path::new(arg(3))),
        "text" => {
            let bytes = std::fs::read(arg(1)).expect("read");
            let opts = ScanOptions {
                max_size: u64::MAX,
                ..ScanOptions::default()
            };
            scan_bytes(&bytes[..bytes.len().min(4 << 20)], &opts); // warm-up
            let mut found = 0;
            let r = median_of_five(|| found = scan_bytes(&bytes, &opts).findings.len());
            let mb = bytes.len() as f64 / 1e6;
            println!(
                "text_mb_per_cpu_s={:.1} text_mb_per_wall_s={:.1} min_mb_per_cpu_s={:.1} max_mb_per_cpu_s={:.1} bytes={} findings={}",
                r.cpu * mb,
                r.wall * mb,
                r.min * mb,
                r.max * mb,
                bytes.len(),
                found
            );
        }
        "stream" => {
            let f = std::fs::File::open(arg(1)).expect("open");
            let len = f.metadata().expect("metadata").len();
            let opts = ScanOptions {
                max_size: u64::MAX,
                max_time: std::time::Duration::from_secs(3600),
                max_findings: 10_000,
                ..ScanOptions::default()
            };
            let t = Instant::now();
            let r = scan_reader(std::io::BufReader::new(f), &opts);
            let s = t.elapsed().as_secs_f64();
            println!(
                "stream_mb_per_s={:.1} bytes={len} status={} peak_rss_mb={:.1}",
                len as f64 / s / 1e6,
                r.status.name(),
                peak_rss_kb() as f64 / 1024.0
            );
        }
        "files" => {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(arg(1))
                .expect("dir")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            let opts = ScanOptions::default();
            let open = |p: &PathBuf| std::io::BufReader::new(std::fs::File::open(p).expect("open"));
            let mut found = 0;
            let r = median_of_five(|| {
                found = paths.iter().map(|p| scan_reader(open(p), &opts).findings.len()).sum();
            });
            let n = paths.len() as f64;
            println!(
                "files_per_cpu_s={:.1} files_per_wall_s={:.1} min_files_per_cpu_s={:.1} max_files_per_cpu_s={:.1} files={} findings={}",
                r.cpu * n,
                r.wall * n,
                r.min * n,
                r.max * n,
                paths.len(),
                found
            );
        }
        "accuracy" => accuracy(num(1), num(2) as usize),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: see the header of shared/privacy/examples/bench.rs");
    std::process::exit(2)
}

/// How often a piece of work ran per second, from [`median_of_five`].
struct Rates {
    /// Median runs per CPU second.
    cpu: f64,
    /// Runs per wall-clock second in the same measurement.
    wall: f64,
    /// Slowest runs per CPU second.
    min: f64,
    /// Fastest runs per CPU second.
    max: f64,
}

/// Five measurements of `work`, each repeating it for at least a second of CPU time: the median
/// and the slowest and fastest. Single measurements vary by about 15% on a shared machine.
fn median_of_five(mut work: impl FnMut()) -> Rates {
    let mut measured: Vec<(f64, f64)> = (0..5)
        .map(|_| {
            let (t, cpu) = (Instant::now(), cpu_seconds());
            let mut runs = 0u32;
            while runs == 0 || cpu_seconds() - cpu < 1.0 {
                work();
                runs += 1;
            }
            (
                runs as f64 / (cpu_seconds() - cpu),
                runs as f64 / t.elapsed().as_secs_f64(),
            )
        })
        .collect();
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    Rates {
        cpu: measured[2].0,
        wall: measured[2].1,
        min: measured[0].0,
        max: measured[4].0,
    }
}

/// CPU time this thread has run (Linux schedstat, nanoseconds), so figures hold on a busy machine.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn gen_images(dir: &Path, count: usize, src: &Path) {
    let mut sources = Vec::new();
    collect(src, &mut sources);
    sources.retain(|p| {
        p.extension()
            .is_some_and(|e| ["jpg", "jpeg", "tiff", "heic"].contains(&e.to_string_lossy().to_lowercase().as_str()))
    });
    sources.sort();
    std::fs::create_dir_all(dir).expect("mkdir");
    for i in 0..count {
        let s = &sources[i % sources.len()];
        let ext = s.extension().expect("ext").to_string_lossy();
        std::fs::copy(s, dir.join(format!("img{i:05}.{ext}"))).expect("copy");
    }
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(p).expect("dir") {
        let path = e.expect("entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn gen_docx(dir: &Path, count: usize, seed: u64) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for i in 0..count {
        std::fs::write(
            dir.join(format!("doc{i:05}.docx")),
            graphwatch_privacy::corpus::docx(seed + i as u64, 20_000),
        )
        .expect("write docx");
    }
}

fn accuracy(seed: u64, bytes: usize) {
    let c = generate(seed, bytes);
    let found = scan_text(&c.text);
    let overlap = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
    println!("entity\tlabels\tfound\tprecision\trecall");
    for &k in KINDS {
        let labels: Vec<_> = c
            .labels
            .iter()
            .filter(|l| l.kind == k)
            .map(|l| (l.start, l.end))
            .collect();
        let hits: Vec<_> = found.iter().filter(|f| f.kind == k).map(|f| (f.start, f.end)).collect();
        let tp_h = hits.iter().filter(|h| labels.iter().any(|l| overlap(**h, *l))).count();
        let tp_l = labels.iter().filter(|l| hits.iter().any(|h| overlap(*h, **l))).count();
        println!(
            "{k}\t{}\t{}\t{:.4}\t{:.4}",
            labels.len(),
            hits.len(),
            tp_h as f64 / hits.len().max(1) as f64,
            tp_l as f64 / labels.len().max(1) as f64
        );
    }
}
