//! `graphwatch dev`: the whole system on loopback, without Docker. DynamoDB Local and moto
//! (through `tools/scripts/local-services`), the Graph emulator with the demo drive seeded from
//! `tools/demo-drive/`, the table and the app secret, the four functions in-process behind
//! an API Gateway-shaped HTTP API, the template's schedules, and the table's stream polled
//! into the stream-triggered functions with the template's filters and batch sizes.

mod api;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
use base64::Engine as _;
use futures::future::BoxFuture;
use futures::FutureExt;
use graph_emulator::{Emulator, EmulatorConfig};
use graphwatch_shared::clients;
use graphwatch_shared::config::Config;
use graphwatch_shared::identity::Jwks;
use graphwatch_shared::secrets::SecretsCache;
use graphwatch_shared::store::{ScanStatus, Store};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

pub use crate::dev_info::DevInfo;
use crate::report;
use crate::template::Template;

/// A function called in-process with the event Lambda would give it.
pub type FunctionHandler = Arc<dyn Fn(Value) -> BoxFuture<'static, anyhow::Result<Value>> + Send + Sync>;

/// Arguments of `graphwatch dev`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Once it prints \"ready\", connect the demo account by opening the printed /connect URL (or with
`curl -L <api>/connect`); the first scan runs and its findings are printed. Change a file with the
emulator's control API (see tools/graph-emulator/README.md) and it is rescanned within seconds.
Fire a schedule now with `curl -X POST <api>/_dev/schedules/Renewal` (or Daily, Nightly).
Ctrl-C stops everything.")]
pub struct DevOptions {
    /// Loopback port of the HTTP API (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Folder loaded into the demo user's drive.
    #[arg(long, value_name = "DIR")]
    pub seed: Option<PathBuf>,
    /// DynamoDB table to create.
    #[arg(long, default_value = "graphwatch-dev")]
    pub table: String,
    /// Where `dev.json` is written.
    #[arg(long, value_name = "DIR", default_value = ".graphwatch")]
    pub state_dir: PathBuf,
    /// Do not fire the schedules on their timers (they can still be fired on demand).
    #[arg(long)]
    pub no_timers: bool,
}

/// The running stack.
pub struct Stack {
    /// Its URLs and ids.
    pub info: DevInfo,
    /// The Graph emulator, for tests that change files or inject faults.
    pub emulator: Emulator,
    /// The table.
    pub store: Store,
    /// The template's schedules, to fire on demand.
    pub schedules: Arc<Schedules>,
    /// The functions' environment (as `template.yaml` sets it, pointed at the local stack),
    /// for running a function on its own with `cargo lambda watch --env-file`.
    pub function_env: Vec<(String, String)>,
    functions: Functions,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Starts everything and returns once the HTTP API accepts requests.
    pub async fn start(options: &DevOptions) -> anyhow::Result<Self> {
        let root = repo_root();
        let template = Template::load(&root.join("template.yaml"))?;
        let services = graphwatch_testkit::local_aws();
        let dynamodb = graphwatch_testkit::dynamodb();
        let secretsmanager = graphwatch_testkit::secretsmanager();

        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
            .await
            .with_context(|| format!("port {} is taken; pass --port", options.port))?;
        let api_url = format!("http://{}", listener.local_addr()?);

        let emulator = graph_emulator::start(
            EmulatorConfig {
                any_loopback_redirect: true,
                seed_drive: Some(options.seed.clone().unwrap_or_else(|| root.join("tools/demo-drive"))),
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let tenant = &emulator.config().tenants[0];
        let user = &tenant.users[0];
        let app = &emulator.config().apps[0];

        graphwatch_shared::store::create_table(&dynamodb, &options.table)
            .await
            .with_context(|| format!("creating table {}", options.table))?;
        let secret_id = format!("{}-app", options.table);
        let mut key = [0u8; 32];
        rand::fill(&mut key[..]);
        secretsmanager
            .create_secret()
            .name(&secret_id)
            .secret_string(
                json!({
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "sealing_keys": {"1": base64::engine::general_purpose::STANDARD.encode(key)},
                })
                .to_string(),
            )
            .send()
            .await
            .with_context(|| format!("creating secret {secret_id}"))?;

        let info = DevInfo {
            api: api_url.clone(),
            graph: emulator.graph_base_url(),
            login: emulator.login_base_url(),
            dynamodb: services.dynamodb_endpoint.clone(),
            secretsmanager: services.secretsmanager_endpoint.clone(),
            table: options.table.clone(),
            secret_id: secret_id.clone(),
            tenant_id: tenant.id.clone(),
            client_id: app.client_id.clone(),
            user: user.upn.clone(),
            drive_id: user.drive_id.clone().unwrap_or_default(),
        };
        let vars = HashMap::from([
            ("GRAPHWATCH_TABLE", info.table.clone()),
            ("GRAPHWATCH_SECRET_ID", secret_id.clone()),
            ("PUBLIC_BASE_URL", api_url.clone()),
            ("GRAPH_BASE_URL", info.graph.clone()),
            ("LOGIN_BASE_URL", info.login.clone()),
            ("GRAPHWATCH_DYNAMODB_ENDPOINT", info.dynamodb.clone()),
            ("GRAPHWATCH_SECRETSMANAGER_ENDPOINT", info.secretsmanager.clone()),
        ]);
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        let mut function_env: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        function_env.extend(
            [
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        function_env.sort();
        let store = Store::new(dynamodb.clone(), &config.table_name);
        let secrets = || SecretsCache::new(secretsmanager.clone(), &config.secret_id, config.secret_cache_ttl);
        let functions = Functions::new(&config, &store, secrets)?;

        let mut routes = HashMap::new();
        for route in &template.routes {
            let handler = functions.http.get(&route.function).ok_or_else(|| {
                anyhow!(
                    "route {} names {}, which is not an HTTP function",
                    route.key(),
                    route.function
                )
            })?;
            routes.insert(route.key(), handler.clone());
        }
        let schedules = Arc::new(Schedules::new(&template, &functions.events)?);
        let mut tasks = Vec::new();
        let router = api::router(api::Api {
            routes,
            schedules: schedules.clone(),
        });
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the local HTTP API stopped");
            }
        }));

        let mut mappings = Vec::new();
        for spec in &template.stream_mappings {
            let handler = functions.events.get(&spec.function).ok_or_else(|| {
                anyhow!(
                    "a stream mapping names {}, which is not an event function",
                    spec.function
                )
            })?;
            mappings.push(stream::Mapping::new(spec.clone(), handler.clone()));
        }
        let stream_arn = stream::stream_arn(&dynamodb, &options.table).await?;
        tasks.push(tokio::spawn(stream::run(
            streams_client(&info.dynamodb),
            stream_arn,
            mappings,
        )));
        if !options.no_timers {
            tasks.extend(schedules.start_timers());
        }
        Ok(Self {
            info,
            emulator,
            store,
            schedules,
            function_env,
            functions,
            tasks,
        })
    }

    /// Invokes a function of the template (by logical id) with an event, as `sam local invoke`
    /// would: HTTP functions take an API Gateway v2 event and answer with its response shape
    /// (`statusCode`, `headers`, `body`); the others answer what their handler returns.
    pub async fn invoke(&self, function: &str, event: Value) -> anyhow::Result<Value> {
        if let Some(handler) = self.functions.events.get(function) {
            return handler(event).await;
        }
        let handler = self
            .functions
            .http
            .get(function)
            .ok_or_else(|| anyhow!("no function {function}"))?;
        let request = lambda_http::request::from_str(&event.to_string()).context("not an API Gateway event")?;
        let response = handler(request).await;
        let headers: HashMap<_, _> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        Ok(json!({"statusCode": response.status().as_u16(), "headers": headers, "body": body}))
    }

    /// Stops the API, the stream reader, the timers and the emulator.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.emulator.shutdown().await;
    }
}

/// The template's functions, built in-process.
struct Functions {
    /// Functions behind HTTP routes, by logical id.
    http: HashMap<String, api::HttpHandler>,
    /// Functions invoked with events (schedules, the stream), by logical id.
    events: HashMap<String, FunctionHandler>,
}

impl Functions {
    fn new(config: &Config, store: &Store, secrets: impl Fn() -> SecretsCache) -> anyhow::Result<Self> {
        let oauth = Arc::new(oauth_callback::App::new(config.clone(), store.clone(), secrets())?);
        let jwks = Jwks::new(clients::http_client()?, &config.login_base_url, "common");
        let webhook = Arc::new(graph_webhook::App::new(store.clone(), secrets(), jwks));
        let renew = Arc::new(renew_subscriptions::App::new(config.clone(), store.clone(), secrets())?);
        let scan = Arc::new(privacy_scan::App::new(config.clone(), store.clone(), secrets())?);

        let oauth_handler: api::HttpHandler = Arc::new(move |req| {
            let oauth = oauth.clone();
            async move { oauth.handle(req).await }.boxed()
        });
        let webhook_handler: api::HttpHandler = Arc::new(move |req| {
            let webhook = webhook.clone();
            async move {
                match graph_webhook::answer_statelessly(&req) {
                    Some(response) => response,
                    None => webhook.handle(req).await,
                }
            }
            .boxed()
        });
        let renew_handler: FunctionHandler = Arc::new(move |event| {
            let renew = renew.clone();
            async move { renew.handle(event, deadline()).await.map_err(|e| anyhow!("{e}")) }.boxed()
        });
        let scan_handler: FunctionHandler = Arc::new(move |event| {
            let scan = scan.clone();
            async move { scan.handle(event, deadline()).await.map_err(|e| anyhow!("{e}")) }.boxed()
        });
        Ok(Self {
            http: HashMap::from([
                ("OAuthCallbackFunction".to_owned(), oauth_handler),
                ("GraphWebhookFunction".to_owned(), webhook_handler),
            ]),
            events: HashMap::from([
                ("RenewSubscriptionsFunction".to_owned(), renew_handler),
                ("PrivacyScanFunction".to_owned(), scan_handler),
            ]),
        })
    }
}

/// The deadline of an invocation: the template's 900 s timeout of the event functions.
fn deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(900)
}

/// The template's schedules with the functions they invoke.
pub struct Schedules {
    entries: Vec<(crate::template::Schedule, String, FunctionHandler)>,
}

impl Schedules {
    fn new(template: &Template, functions: &HashMap<String, FunctionHandler>) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for function in &template.functions {
            for schedule in &function.schedules {
                let handler = functions
                    .get(&function.logical_id)
                    .ok_or_else(|| anyhow!("{} has a schedule but is not an event function", function.logical_id))?;
                entries.push((schedule.clone(), function.logical_id.clone(), handler.clone()));
            }
        }
        Ok(Self { entries })
    }

    /// Names of the schedules (`Renewal`, `Daily`, `Nightly`).
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(s, _, _)| s.name.clone()).collect()
    }

    /// Fires the schedule `name` now with the event EventBridge would send: its constant input,
    /// or the "Scheduled Event" envelope. `None` when there is no such schedule.
    pub async fn fire(&self, name: &str) -> Option<anyhow::Result<Value>> {
        let (schedule, function, handler) = self
            .entries
            .iter()
            .find(|(s, _, _)| s.name.eq_ignore_ascii_case(name))?;
        let event = schedule.input.clone().unwrap_or_else(|| {
            json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
                "region": "us-east-1",
                "resources": [format!("arn:aws:events:us-east-1:000000000000:rule/graphwatch-{function}{}", schedule.name)],
                "detail": {},
            })
        });
        tracing::info!(schedule = %schedule.name, function = %function, "firing schedule");
        Some(handler(event).await)
    }

    /// Starts a timer per schedule: `rate(...)` at its rate, `cron(...)` once a day.
    fn start_timers(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        self.entries
            .iter()
            .map(|(schedule, _, _)| {
                let period = rate(&schedule.expression).unwrap_or(Duration::from_secs(24 * 3600));
                let name = schedule.name.clone();
                let schedules = self.clone();
                tokio::spawn(async move {
                    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    loop {
                        timer.tick().await;
                        if let Some(Err(e)) = schedules.fire(&name).await {
                            tracing::error!(schedule = %name, error = %e, "scheduled invocation failed");
                        }
                    }
                })
            })
            .collect()
    }
}

/// The period of a `rate(N unit)` expression.
fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let seconds = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * seconds))
}

fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "graphwatch-dev"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// The repository's root: the working directory when it holds `template.yaml`, else the
/// checkout this binary was built from.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("template.yaml").is_file() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `graphwatch dev` until Ctrl-C.
pub async fn run(options: DevOptions) -> anyhow::Result<()> {
    let stack = Stack::start(&options).await?;
    std::fs::create_dir_all(&options.state_dir)?;
    let dev_json = options.state_dir.join("dev.json");
    std::fs::write(&dev_json, serde_json::to_string_pretty(&stack.info)?)?;
    let dev_env = options.state_dir.join("dev.env");
    let env: String = stack.function_env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&dev_env, env)?;
    println!(
        "graphwatch dev is ready ({} and {} written)",
        dev_json.display(),
        dev_env.display()
    );
    println!("  HTTP API        {}", stack.info.api);
    println!("  Graph emulator  {}", stack.info.graph);
    println!("  DynamoDB Local  {}  table {}", stack.info.dynamodb, stack.info.table);
    println!();
    println!("Connect the demo account ({}):", stack.info.user);
    println!(
        "  open {}/connect   (or: curl -L {}/connect)",
        stack.info.api, stack.info.api
    );
    println!("Then edit a file and watch it rescanned:");
    println!(
        "  curl -s -X POST '{}/_emulator/drives/{}/items' -H 'content-type: application/json' \\\n    \
         -d '{{\"path\":\"/Projects\",\"name\":\"notes.txt\",\"content_base64\":\"{}\"}}'",
        stack.emulator.base_url(),
        stack.info.drive_id,
        base64::engine::general_purpose::STANDARD.encode("Card 4111 1111 1111 1111, call +44 20 7946 0958")
    );
    println!(
        "Fire a schedule now: curl -X POST {}/_dev/schedules/Renewal   (or Daily, Nightly)",
        stack.info.api
    );
    println!("Ctrl-C stops everything.");
    let watcher = tokio::spawn(print_finished_scans(stack.store.clone(), stack.info.drive_id.clone()));
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    watcher.abort();
    stack.stop().await;
    Ok(())
}

/// Prints each completed scan pass of the demo drive with the files it scanned.
async fn print_finished_scans(store: Store, drive_id: String) {
    let mut printed = std::collections::HashSet::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(scans) = store.latest_scans(&drive_id, 5).await else {
            continue;
        };
        for scan in scans.into_iter().rev() {
            if scan.status != ScanStatus::Completed || !printed.insert(scan.scan_id.clone()) {
                continue;
            }
            let Ok(results) = store.file_results(&drive_id).await else {
                continue;
            };
            let rescanned: Vec<_> = results.into_iter().filter(|r| r.scan_id == scan.scan_id).collect();
            println!(
                "\n{:?} scan {} finished: {} files seen, {} scanned, {} unchanged",
                scan.kind, scan.scan_id, scan.totals.files_seen, scan.totals.scanned, scan.totals.skipped
            );
            print!("{}", report::findings_table(&rescanned));
        }
    }
}
