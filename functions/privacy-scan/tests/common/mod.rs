//! The privacy-scan handler on the local stack: DynamoDB Local (own table), moto (own secret)
//! and the Graph emulator, with the demo user connected through the emulator's real sign-in
//! (so the stored refresh token is one the emulator rotates and can revoke): see
//! `graphwatch_testkit::Backend`.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use graph_emulator::{Emulator, EmulatorConfig, DEMO_DRIVE_ID, DEMO_USER_OID, DEMO_USER_UPN};
use graphwatch_privacy::{scan_bytes, ScanOptions};
use graphwatch_shared::config::Config;
use graphwatch_shared::store::{FileResult, Risk, Store};
use graphwatch_testkit::Backend;
use privacy_scan::{App, PassOutcome};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The demo drive.
pub const DRIVE: &str = DEMO_DRIVE_ID;

/// Options of a test stack.
#[derive(Default)]
pub struct Options {
    /// Items per delta page (the emulator's default when `None`).
    pub delta_page_size: Option<usize>,
    /// Slack webhook URL in the secret.
    pub slack: Option<String>,
    /// Teams webhook URL in the secret.
    pub teams: Option<String>,
}

/// One test's stack.
pub struct Harness {
    pub emulator: Emulator,
    pub app: App,
    pub store: Store,
    pub config: Config,
    pub tenant_id: String,
}

/// A stack with default settings.
pub async fn harness() -> Harness {
    harness_with(Options::default()).await
}

/// A stack with `options`, the demo user connected and the demo drive registered (pending,
/// no deltaLink: the first pass is full).
pub async fn harness_with(options: Options) -> Harness {
    let mut emulator_config = EmulatorConfig {
        any_loopback_redirect: true,
        ..EmulatorConfig::default()
    };
    if let Some(n) = options.delta_page_size {
        emulator_config.delta_page_size = n;
    }
    let tenant_id = emulator_config.tenants[0].id.clone();
    let emulator = graph_emulator::start(emulator_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let secret_extra = json!({
        "slack_webhook_url": options.slack,
        "teams_webhook_url": options.teams,
    });
    let backend = Backend::new("scan", &emulator, secret_extra, &[]).await;
    backend.connect(&tenant_id, DEMO_USER_OID, DEMO_USER_UPN).await;
    backend
        .store
        .register_drive(DRIVE, &tenant_id, DEMO_USER_OID, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let app = App::new(backend.config.clone(), backend.store.clone(), backend.secrets()).unwrap();
    Harness {
        emulator,
        app,
        store: backend.store,
        config: backend.config,
        tenant_id,
    }
}

impl Harness {
    /// Adds a file to the demo drive; returns its item id.
    pub async fn add(&self, folder: &str, name: &str, content: impl Into<Vec<u8>>) -> String {
        let change = self.emulator.add_file(DRIVE, folder, name, content).await.unwrap();
        change.item.expect("an item")["id"].as_str().unwrap().to_owned()
    }

    /// Runs a pass with a generous deadline and expects it to complete.
    pub async fn pass(&self) -> graphwatch_shared::store::ScanRecord {
        match self.app.scan_drive(DRIVE, far_deadline()).await.unwrap() {
            PassOutcome::Completed(scan) => scan,
            other => panic!("expected a completed pass, got {other:?}"),
        }
    }

    /// The stored result of the file at `path` (`/Docs/a.txt`).
    pub async fn result(&self, path: &str) -> Option<FileResult> {
        let id = self.emulator.item_id(DRIVE, path).expect("item exists");
        self.store.get_file_result(DRIVE, &id).await.unwrap()
    }

    /// Content bytes the emulator's download URLs have served so far.
    pub fn served(&self) -> u64 {
        self.emulator.stats().content_bytes_served
    }

    /// The connection's sealed refresh token.
    pub async fn sealed_refresh_token(&self) -> String {
        self.store
            .get_connection(&self.tenant_id, DEMO_USER_OID)
            .await
            .unwrap()
            .unwrap()
            .sealed_refresh_token
    }
}

/// A deadline 10 minutes away.
pub fn far_deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(600)
}

/// The risk the engine gives the whole file, as stored.
pub fn engine_risk(bytes: &[u8]) -> Risk {
    privacy_scan::files::stored_risk(scan_bytes(bytes, &ScanOptions::default()).risk)
}

/// An exif sample from the engine's test data (licence notice alongside it).
pub fn sample(path: &str) -> Vec<u8> {
    std::fs::read(
        graphwatch_testkit::repo_root()
            .join("shared/privacy/testdata/exif-samples")
            .join(path),
    )
    .unwrap()
}

/// A JPEG padded with `extra` bytes of (fake) entropy-coded image data, like a camera photo.
pub fn padded_jpeg(path: &str, extra: usize) -> Vec<u8> {
    let mut bytes = sample(path);
    let eoi = bytes.split_off(bytes.len() - 2);
    bytes.extend((0..extra).map(|i| (i % 251) as u8 & 0x7f));
    bytes.extend(eoi);
    bytes
}

/// A zip package with the given members.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const CONTENT_TYPES: &[u8] =
    br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;

/// A workbook with an IBAN and a card number.
pub fn xlsx() -> Vec<u8> {
    let strings = br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>IBAN</t></si><si><t>GB82 WEST 1234 5698 7654 32</t></si></sst>"#;
    let sheet = br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1"><v>4111111111111111</v></c></row></sheetData></worksheet>"#;
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("xl/sharedStrings.xml", strings),
        ("xl/worksheets/sheet1.xml", sheet),
    ])
}

/// A one-page PDF whose text holds an NHS number and an e-mail address.
pub fn pdf() -> Vec<u8> {
    let content =
        b"BT /F1 12 Tf 72 720 Td (Patient NHS number 943 476 5919) Tj T* (e-mail: jane.doe@example.com) Tj ET";
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 612 792] >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(),
            content.to_vec(),
            b"\nendstream".to_vec(),
        ]
        .concat(),
    ];
    graphwatch_privacy::corpus::pdf(&objects, "")
}

/// What a local webhook receiver got.
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<(String, Value)>>>);

impl Received {
    /// Bodies posted to `path`.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// A local incoming-webhook receiver: `POST /ok` answers 200, `POST /broken` 500; returns
/// its base URL and what it received.
pub async fn webhook_receiver() -> (String, Received) {
    let received = Received::default();
    let log = received.clone();
    let app = Router::new().route(
        "/{kind}",
        post(
            move |axum::extract::Path(kind): axum::extract::Path<String>, body: axum::Json<Value>| {
                let log = log.clone();
                async move {
                    log.0.lock().unwrap().push((format!("/{kind}"), body.0));
                    if kind == "ok" {
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// Loads a sample event from `events/`.
pub fn event(name: &str) -> Value {
    let path = graphwatch_testkit::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
