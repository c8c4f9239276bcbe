//! `graphwatch report`: stored file results and the latest scan records, read from the table
//! named in `.graphwatch/dev.json` or given by flags (so it works against a deployed table).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_dynamodb::config::{Credentials, Region};
use clap::ValueEnum;
use graphwatch_shared::store::{FileResult, Risk, ScanRecord, Store};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::dev_info::DevInfo;

/// Arguments of `graphwatch report`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  graphwatch report                                  # the table of a running `graphwatch dev`
  graphwatch report --risk high --format json
  graphwatch report --table graphwatch-Table-1A2B3C --region eu-west-1   # a deployed stack (AWS credentials from the environment)")]
pub struct Args {
    /// Only files at this risk level or above.
    #[arg(long, value_name = "LEVEL", value_parser = |s: &str| s.parse::<Risk>())]
    risk: Option<Risk>,
    /// Output: readable tables, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The dev stack's description, used when --table is not given.
    #[arg(long, value_name = "FILE", default_value = ".graphwatch/dev.json")]
    dev_file: PathBuf,
    /// DynamoDB table to read (a deployed stack's table).
    #[arg(long)]
    table: Option<String>,
    /// DynamoDB endpoint override (e.g. DynamoDB Local).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// AWS region of the table (default: from the AWS environment).
    #[arg(long)]
    region: Option<String>,
    /// Latest scan records shown per drive.
    #[arg(long, default_value_t = 5)]
    scans: i32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One drive's part of the report.
#[derive(Debug, Serialize)]
struct DriveReport {
    drive_id: String,
    files: Vec<FileResult>,
    scans: Vec<ScanRecord>,
}

/// Runs `graphwatch report`.
pub async fn run(args: Args) -> ExitCode {
    match report(&args).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("graphwatch report: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn report(args: &Args) -> anyhow::Result<String> {
    let store = store(args).await?;
    let mut drives = Vec::new();
    for drive in store.active_drives().await.context("listing the drives")? {
        let mut files = store.file_results(&drive.drive_id).await?;
        files.retain(|f| args.risk.is_none_or(|min| f.risk >= min));
        files.sort_by(FileResult::worst_first);
        let scans = store.latest_scans(&drive.drive_id, args.scans).await?;
        drives.push(DriveReport {
            drive_id: drive.drive_id,
            files,
            scans,
        });
    }
    Ok(match args.format {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({ "drives": drives }))? + "\n",
        Format::Table => {
            let mut out = String::new();
            if drives.is_empty() {
                out.push_str("No drives yet: connect an account first.\n");
            }
            for d in &drives {
                let _ = writeln!(out, "Drive {}", d.drive_id);
                out.push_str(&findings_table(&d.files));
                out.push_str(&scans_table(&d.scans));
                out.push('\n');
            }
            out
        }
    })
}

async fn store(args: &Args) -> anyhow::Result<Store> {
    let (table, endpoint, local) = match &args.table {
        Some(t) => (t.clone(), args.endpoint.clone(), false),
        None => {
            let text = std::fs::read_to_string(&args.dev_file).with_context(|| {
                format!(
                    "reading {} (start the local stack with `make run`, or name a table with --table)",
                    args.dev_file.display()
                )
            })?;
            let info: DevInfo =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid", args.dev_file.display()))?;
            (info.table, Some(info.dynamodb), true)
        }
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = args.region.clone().or(local.then(|| "us-east-1".to_owned())) {
        loader = loader.region(Region::new(region));
    }
    if local {
        loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "graphwatch-dev"));
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Ok(Store::new(aws_sdk_dynamodb::Client::new(&loader.load().await), table))
}

/// Files as a table (risk, file, reasons), worst first.
pub fn findings_table(files: &[FileResult]) -> String {
    let mut files = files.to_vec();
    files.sort_by(FileResult::worst_first);
    let rows: Vec<(String, String, String)> = files
        .iter()
        .map(|f| {
            let path = format!("{}/{}", f.path.trim_end_matches('/'), f.name);
            let reasons = if f.reasons.is_empty() {
                f.status.to_string()
            } else {
                f.reasons.join("; ")
            };
            (f.risk.as_str().to_uppercase(), path, reasons)
        })
        .collect();
    let width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).max(4);
    let mut out = format!("  {:<8}  {:<width$}  REASONS\n", "RISK", "FILE");
    for (risk, path, reasons) in &rows {
        let _ = writeln!(out, "  {risk:<8}  {path:<width$}  {reasons}");
    }
    if rows.is_empty() {
        out.push_str("  (no files)\n");
    }
    out
}

fn scans_table(scans: &[ScanRecord]) -> String {
    let mut out = String::from("  Latest scans:\n");
    for s in scans {
        let _ = writeln!(
            out,
            "    {} {:?} {:?}: {} seen, {} scanned, {} unchanged, {} errors; critical {}, high {}, medium {}, low {}",
            s.started_at.format(&Rfc3339).unwrap_or_default(),
            s.kind,
            s.status,
            s.totals.files_seen,
            s.totals.scanned,
            s.totals.skipped,
            s.totals.errors,
            s.risk_counts.critical,
            s.risk_counts.high,
            s.risk_counts.medium,
            s.risk_counts.low,
        );
    }
    if scans.is_empty() {
        out.push_str("    (none)\n");
    }
    out
}
