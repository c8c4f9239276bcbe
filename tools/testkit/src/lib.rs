//! Test harness for graphwatch's integration tests.
//!
//! [`local_aws`] finds the local AWS services through `GRAPHWATCH_DYNAMODB_ENDPOINT` and
//! `GRAPHWATCH_SECRETSMANAGER_ENDPOINT` (set by `tools/scripts/local-services run`, which `make test`
//! uses), or else starts them once for this test process with `tools/scripts/local-services start`
//! and stops them when the process exits. It never skips: when the services cannot be
//! started, the test fails with the reason and how to fix it. [`Backend`] gives a test its
//! own table, secret and function configuration on them.

mod backend;
pub use backend::{Backend, SEALING_KEY};

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

/// Endpoints of the running local services.
#[derive(Debug, Clone)]
pub struct LocalAws {
    /// DynamoDB Local.
    pub dynamodb_endpoint: String,
    /// moto's Secrets Manager.
    pub secretsmanager_endpoint: String,
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

static SERVICES: OnceLock<LocalAws> = OnceLock::new();
/// The services started by this process; held (never dropped) so that their stdin pipe
/// closes only when the process exits, which stops them.
static STARTED: Mutex<Option<Child>> = Mutex::new(None);

/// The local services: found through the environment, or started for this process.
pub fn local_aws() -> &'static LocalAws {
    SERVICES.get_or_init(|| {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let (Some(d), Some(s)) = (
            from_env("GRAPHWATCH_DYNAMODB_ENDPOINT"),
            from_env("GRAPHWATCH_SECRETSMANAGER_ENDPOINT"),
        ) {
            return LocalAws {
                dynamodb_endpoint: d,
                secretsmanager_endpoint: s,
            };
        }
        start_services()
    })
}

fn start_services() -> LocalAws {
    let script = repo_root().join("tools/scripts/local-services");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["start", "--json", "--watch-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; python3 is needed to start the local AWS services",
                script.display()
            )
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("reading the services' endpoints");
    let endpoints: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
        panic!(
            "tools/scripts/local-services could not start DynamoDB Local and moto (its messages are above); \
             run `tools/scripts/local-services install` to see what is missing"
        )
    });
    let get = |k: &str| {
        endpoints[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} missing in {line}"))
            .to_owned()
    };
    let services = LocalAws {
        dynamodb_endpoint: get("GRAPHWATCH_DYNAMODB_ENDPOINT"),
        secretsmanager_endpoint: get("GRAPHWATCH_SECRETSMANAGER_ENDPOINT"),
    };
    *STARTED.lock().expect("not poisoned") = Some(child);
    services
}

fn credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "graphwatch-testkit")
}

/// A DynamoDB client for DynamoDB Local.
pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(&local_aws().dynamodb_endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A Secrets Manager client for moto.
pub fn secretsmanager() -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(&local_aws().secretsmanager_endpoint)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

/// Serves `POST /webhooks/*` on a free loopback port as a graphwatch deployment would for
/// Graph's validation handshake (200 `text/plain` echoing `validationToken`, 202 otherwise);
/// returns its base URL, to use as `PUBLIC_BASE_URL` when subscriptions are created.
pub async fn notification_endpoint() -> String {
    async fn answer(Query(q): Query<HashMap<String, String>>) -> (StatusCode, String) {
        match q.get("validationToken") {
            Some(token) => (StatusCode::OK, token.clone()),
            None => (StatusCode::ACCEPTED, String::new()),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound");
    let app = Router::new().route("/webhooks/{kind}", post(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A name no other test (in this or another process) uses, for tables and secrets.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
