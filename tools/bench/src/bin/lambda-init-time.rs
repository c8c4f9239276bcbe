//! Measures a Lambda function binary's cold start against a minimal Lambda Runtime API on
//! loopback: *init*, from process start until the function asks for its first invocation
//! (`GET /2018-06-01/runtime/invocation/next`, where Lambda ends the init phase), and
//! *first response*, from process start until it posts the answer to a first event.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;

/// Measure Lambda cold starts of function binaries against a minimal Runtime API.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The anchor binary (an empty lambda_runtime function built the same way).
    #[arg(long)]
    anchor: PathBuf,
    /// Function binaries to measure.
    #[arg(required = true)]
    binaries: Vec<PathBuf>,
    /// The first event (JSON file) handed to every function.
    #[arg(long)]
    event: PathBuf,
    /// Starts per binary.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Extra environment for the functions, as NAME=VALUE (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

/// Moments the Runtime API saw.
enum Seen {
    Next(Instant),
    Response(Instant),
}

/// Reads one HTTP/1.1 request: its request line, and its body by `content-length`.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(line)
}

/// Serves one connection: the first `next` gets the event, the second is held open.
fn serve(stream: TcpStream, event: &str, tx: &mpsc::Sender<Seen>, handed_out: &mut bool) {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    while let Some(line) = read_request(&mut reader) {
        if line.contains("/runtime/invocation/next") {
            if *handed_out {
                std::thread::sleep(Duration::from_secs(5));
                return;
            }
            *handed_out = true;
            let _ = tx.send(Seen::Next(Instant::now()));
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_millis()
                + 30_000;
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: bench-1\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\ncontent-length: {}\r\n\r\n{event}",
                event.len()
            );
        } else if line.contains("/response") || line.contains("/error") {
            let _ = tx.send(Seen::Response(Instant::now()));
            let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
        }
    }
}

/// One cold start: (init, first response).
fn cold_start(binary: &Path, event: &str, env: &[(String, String)]) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let api = listener.local_addr().expect("bound").to_string();
    let (tx, rx) = mpsc::channel();
    let event = event.to_owned();
    std::thread::spawn(move || {
        let mut handed_out = false;
        for stream in listener.incoming().flatten() {
            serve(stream, &event, &tx, &mut handed_out);
        }
    });
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let wait = || {
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} stalled", binary.display()))
    };
    let (Seen::Next(next), Seen::Response(response)) = (wait(), wait()) else {
        panic!("{} answered out of order", binary.display());
    };
    let _ = child.kill();
    let _ = child.wait();
    (next - started, response - started)
}

/// Median init and first-response times in milliseconds.
fn medians(binary: &Path, event: &str, args: &Args) -> (f64, f64) {
    let (mut init, mut first): (Vec<_>, Vec<_>) = (0..args.runs).map(|_| cold_start(binary, event, &args.env)).unzip();
    init.sort();
    first.sort();
    let ms = |v: &[Duration]| v[v.len() / 2].as_secs_f64() * 1000.0;
    (ms(&init), ms(&first))
}

fn main() {
    let args = Args::parse();
    let event = std::fs::read_to_string(&args.event)
        .unwrap_or_else(|e| panic!("cannot read the event {}: {e}", args.event.display()));
    let (anchor_init, anchor_first) = medians(&args.anchor, &event, &args);
    println!(
        "Lambda cold start against a loopback Runtime API, median of {} starts",
        args.runs
    );
    println!(
        "{:<22} {:>9} {:>10} {:>16} {:>10}",
        "binary", "init ms", "x anchor", "1st response ms", "x anchor"
    );
    let row = |name: &str, init: f64, first: f64| {
        println!(
            "{name:<22} {init:>9.2} {:>10.2} {first:>16.2} {:>10.2}",
            init / anchor_init,
            first / anchor_first
        )
    };
    row(&file_name(&args.anchor), anchor_init, anchor_first);
    for binary in &args.binaries {
        let (init, first) = medians(binary, &event, &args);
        row(&file_name(binary), init, first);
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
