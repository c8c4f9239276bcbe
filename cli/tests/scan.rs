//! `graphwatch scan` run as a process.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn graphwatch(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_graphwatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn graphwatch");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("clean.txt"), "nothing to see here\n").expect("write");
    std::fs::create_dir(dir.path().join("nested")).expect("mkdir");
    std::fs::write(
        dir.path().join("nested/customers.csv"),
        "name,email,card\nJane,jane.doe@example.com,4111111111111111\n",
    )
    .expect("write");
    let photo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/privacy/testdata/exif-samples/jpg/gps/DSCN0010.jpg");
    std::fs::copy(photo, dir.path().join("nested/photo.dat")).expect("copy photo");
    dir
}

#[test]
fn json_lines_one_object_per_file_without_values() {
    let dir = tree();
    let out = graphwatch(&["scan", dir.path().to_str().expect("utf8"), "--format", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = lines(&out);
    assert_eq!(objs.len(), 3);
    let by_name = |suffix: &str| {
        objs.iter()
            .find(|o| o["path"].as_str().expect("path").ends_with(suffix))
            .expect("file line")
    };
    assert_eq!(by_name("clean.txt")["risk"], "low");
    let csv = by_name("customers.csv");
    assert_eq!(csv["status"], "scanned");
    assert_eq!(csv["risk"], "critical");
    let findings = csv["findings"].as_array().expect("findings");
    assert!(findings
        .iter()
        .any(|f| f["type"] == "CREDIT_CARD" && f["source"] == "text"));
    assert!(findings
        .iter()
        .all(|f| f.get("value").is_none() && f["redacted"].is_string()));
    let photo = by_name("photo.dat");
    let gps = photo["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["type"] == "GPS_LOCATION")
        .expect("gps");
    assert!(gps["lat"].as_f64().expect("lat") > 43.0 && gps["source"] == "metadata");
}

#[test]
fn reveal_includes_raw_values() {
    let dir = tree();
    let out = graphwatch(
        &[
            "scan",
            &dir.path().join("nested/customers.csv").to_string_lossy(),
            "--format",
            "json",
            "--reveal",
        ],
        None,
    );
    let objs = lines(&out);
    let values: Vec<&str> = objs[0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["value"].as_str())
        .collect();
    assert!(
        values.contains(&"4111111111111111") && values.contains(&"jane.doe@example.com"),
        "{values:?}"
    );
}

#[test]
fn fail_on_sets_exit_status_one() {
    let dir = tree();
    let path = dir.path().to_string_lossy().to_string();
    assert_eq!(
        graphwatch(&["scan", &path, "--fail-on", "high"], None).status.code(),
        Some(1)
    );
    let clean = dir.path().join("clean.txt").to_string_lossy().to_string();
    assert_eq!(
        graphwatch(&["scan", &clean, "--fail-on", "medium"], None).status.code(),
        Some(0)
    );
}

#[test]
fn stdin_dash_reads_plain_text() {
    let out = graphwatch(&["scan", "-", "--format", "json"], Some("my SSN is 536-22-5347\n"));
    assert_eq!(out.status.code(), Some(0));
    let objs = lines(&out);
    assert_eq!(objs[0]["path"], "-");
    assert_eq!(objs[0]["findings"][0]["type"], "US_SSN");
    assert_eq!(objs[0]["findings"][0]["start"], 10);
}

#[test]
fn max_size_gives_too_large_and_never_low() {
    let dir = tree();
    let csv = dir.path().join("nested/customers.csv").to_string_lossy().to_string();
    let out = graphwatch(&["scan", &csv, "--format", "json", "--max-size", "10"], None);
    let objs = lines(&out);
    assert_eq!(objs[0]["status"], "too_large");
    assert_ne!(objs[0]["risk"], "low");
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(graphwatch(&["scan"], None).status.code(), Some(2));
    assert_eq!(
        graphwatch(&["scan", "-", "--fail-on", "extreme"], None).status.code(),
        Some(2)
    );
    assert_eq!(
        graphwatch(&["scan", "-", "--max-size", "lots"], None).status.code(),
        Some(2)
    );
    let out = graphwatch(&["scan", "/definitely/not/here"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/definitely/not/here"));
}

#[test]
fn table_output_lists_risk_reasons_and_redacted_findings() {
    let out = graphwatch(&["scan", "-"], Some("card 4111 1111 1111 1111\n"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("high"), "{text}");
    assert!(
        text.contains("credit card number") && text.contains("CREDIT_CARD 85 text [5..24]"),
        "{text}"
    );
    assert!(!text.contains("4111 1111 1111 1111"), "{text}");
    let help = graphwatch(&["scan", "--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--fail-on") && help.contains("Exit status"));
}
