//! `graphwatch scan`: the privacy engine over local files, directories or stdin.

use clap::ValueEnum;
use graphwatch_privacy::{scan_reader, FileReport, Risk, ScanOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status when a file reaches `--fail-on`.
const EXIT_FAIL_ON: u8 = 1;
/// Exit status on usage or I/O errors (clap uses it for usage errors too).
const EXIT_ERROR: u8 = 2;

/// Arguments of `graphwatch scan`.
#[derive(clap::Args)]
#[command(after_help = "\
Formats are sniffed from the bytes: JPEG, PNG, TIFF, WebP, HEIC (EXIF/XMP/IPTC), DOCX/XLSX/PPTX, \
PDF, and text (UTF-8/UTF-16, CSV, JSON, HTML, Markdown, e-mail).

Exit status: 0 when done, 1 when a file reaches --fail-on, 2 on usage or I/O errors.

Examples:
  graphwatch scan ~/Documents --fail-on high
  graphwatch scan photo.jpg --format json --reveal
  cat dump.csv | graphwatch scan -")]
pub struct Args {
    /// Files or directories to scan (directories recursively); `-` reads plain text from stdin.
    #[arg(required = true, value_name = "PATH|-")]
    paths: Vec<String>,

    /// Output: a readable table, or JSON Lines (one object per file).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// Include the raw matched values (otherwise only redacted forms are printed).
    #[arg(long)]
    reveal: bool,

    /// Exit with status 1 when any file's risk reaches this level.
    #[arg(long, value_name = "LEVEL", value_parser = parse_risk)]
    fail_on: Option<Risk>,

    /// Skip files larger than this (status `too_large`); accepts K, M and G suffixes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "100M")]
    max_size: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Table,
}

fn parse_risk(s: &str) -> Result<Risk, String> {
    s.parse()
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size in bytes (e.g. 1048576, 512K, 100M, 2G)"))
}

/// One line of `--format json`.
#[derive(Serialize)]
struct Line<'a> {
    path: &'a str,
    #[serde(flatten)]
    report: &'a FileReport,
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> ExitCode {
    let opts = ScanOptions {
        max_size: args.max_size,
        ..ScanOptions::default()
    };
    let mut errors = 0usize;
    let mut targets: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        if p == "-" {
            targets.push(PathBuf::from("-"));
        } else if let Err(e) = collect(Path::new(p), &mut targets) {
            eprintln!("graphwatch: {p}: {e}");
            errors += 1;
        }
    }
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(targets.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst: Option<Risk> = None;
    for path in &targets {
        let shown = path.to_string_lossy();
        if let Some(bar) = &progress {
            bar.set_message(shown.to_string());
        }
        let report = if shown == "-" {
            Ok(scan_reader(std::io::stdin().lock(), &opts))
        } else {
            std::fs::File::open(path).map(|f| scan_reader(BufReader::new(f), &opts))
        };
        let mut report = match report {
            Ok(r) => r,
            Err(e) => {
                eprintln!("graphwatch: {shown}: {e}");
                errors += 1;
                continue;
            }
        };
        if !args.reveal {
            report.conceal();
        }
        worst = worst.max(Some(report.risk));
        let written = match args.format {
            OutputFormat::Json => serde_json::to_string(&Line {
                path: &shown,
                report: &report,
            })
            .map_err(std::io::Error::other)
            .and_then(|l| writeln!(out, "{l}")),
            OutputFormat::Table => write_table(&mut out, &shown, &report, args.reveal),
        };
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::from(EXIT_ERROR);
            }
            eprintln!("graphwatch: writing output: {e}");
            errors += 1;
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if errors > 0 {
        ExitCode::from(EXIT_ERROR)
    } else if args.fail_on.is_some_and(|level| worst >= Some(level)) {
        ExitCode::from(EXIT_FAIL_ON)
    } else {
        ExitCode::SUCCESS
    }
}

/// Adds `path` (a file, or every file under a directory, sorted) to `out`.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect(&e.path(), out)?;
        } else if ft.is_file() || ft.is_symlink() && e.path().is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn write_table(out: &mut impl Write, path: &str, r: &FileReport, reveal: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8}  {:<11}  {:>3} findings  {path}",
        r.risk.to_string(),
        r.status.name(),
        r.findings.len()
    )?;
    for reason in &r.reasons {
        writeln!(out, "{:<26}- {reason}", "")?;
    }
    for f in &r.findings {
        let shown = if reveal { &f.value } else { &f.redacted };
        let at = if f.start == f.end {
            String::new()
        } else {
            format!(" [{}..{}]", f.start, f.end)
        };
        let gps = match (f.lat, f.lon) {
            (Some(lat), Some(lon)) => format!(" ({lat:.6}, {lon:.6})"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:<28}{} {} {}{at}: {shown}{gps}",
            "", f.kind, f.confidence, f.source
        )?;
    }
    Ok(())
}
