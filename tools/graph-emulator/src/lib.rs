//! A local emulator of the Microsoft identity platform and Microsoft Graph.
//!
//! Start it on a loopback port with [`start`]; point the code under test at
//! [`Emulator::login_base_url`] and [`Emulator::graph_base_url`]; drive it from tests through
//! the [`Emulator`] methods or over HTTP under `/_emulator/` (see the crate README).

mod batch;
mod config;
mod control;
mod drive;
mod errors;
mod faults;
mod graph;
mod identity;
mod keys;
mod notifications;
mod state;
mod subscriptions;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::middleware::from_fn_with_state;
use axum::Router;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    AppConfig, EmulatorConfig, SignInOutcome, TenantConfig, UserConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET,
    DEMO_DRIVE_ID, DEMO_REDIRECT_URIS, DEMO_TENANT_ID, DEMO_TENANT_NAME, DEMO_USER_NAME, DEMO_USER_OID, DEMO_USER_UPN,
    GRAPH_APP_ID, GRAPH_NOTIFICATION_APP_ID, GRAPH_RESOURCE,
};
pub use control::{IssuerVersion, ItemChange, JwtSpec, ValidationTokenSpec};
pub use errors::ControlError;
pub use faults::Fault;
pub use keys::{KeySlot, KEY_1_KID, KEY_2_KID};
pub use notifications::{Delivery, DeliveryKind, LifecycleEvent};
pub use state::{RouteCount, Stats};

use state::{Shared, State};

/// A running emulator. Stops when dropped or on [`Emulator::shutdown`].
pub struct Emulator {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts the emulator on `addr` (port 0 picks a free port) and loads the seed folder, if any.
pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<Emulator> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local_addr = listener.local_addr()?;
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"))
        .trim_end_matches('/')
        .to_string();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Microsoft-Graph-Emulator/1.0")
        .build()?;
    let seed = config.seed_drive.clone();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(&config)),
        config,
        base_url,
        keys: keys::Keys::load()?,
        http,
        router: Mutex::new(None),
    });
    if let Some(folder) = seed {
        seed_drive(&shared, &folder).with_context(|| format!("seeding the demo drive from {}", folder.display()))?;
    }
    let app = router(shared.clone());
    *shared.router.lock().unwrap_or_else(|p| p.into_inner()) = Some(app.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "graph emulator server failed");
        }
    });
    Ok(Emulator {
        shared,
        local_addr,
        stop: Some(stop),
        task: Some(task),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(identity::routes())
        .merge(graph::routes())
        .merge(drive::routes())
        .merge(subscriptions::routes())
        .merge(batch::routes())
        .merge(control::routes())
        .route("/v1.0/{*rest}", axum::routing::any(graph::unknown_segment))
        .layer(from_fn_with_state(shared.clone(), faults::inject))
        .layer(from_fn_with_state(shared.clone(), faults::count))
        .with_state(shared)
}

/// Loads every file below `folder` into the first configured drive, keeping relative paths.
fn seed_drive(shared: &Shared, folder: &Path) -> anyhow::Result<()> {
    let drive_id = shared
        .config
        .tenants
        .iter()
        .flat_map(|t| &t.users)
        .find_map(|u| u.drive_id.clone())
        .context("no configured user has a drive")?;
    let mut pending = vec![folder.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut st = shared.lock();
    let now = st.now();
    let drive = st.drives.get_mut(&drive_id).context("drive exists")?;
    for file in files {
        let relative = file.strip_prefix(folder)?;
        let name = relative
            .file_name()
            .and_then(|n| n.to_str())
            .context("file names must be UTF-8")?;
        let parent = relative
            .parent()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        drive
            .upsert_file(&parent, name, content, None, now)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    Ok(())
}

impl Emulator {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Base URL (`http://127.0.0.1:PORT`, or the configured public URL).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Identity platform base: routes live at `{login_base_url}/{tenant}/oauth2/v2.0/...`.
    pub fn login_base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Graph base including the version: `{base}/v1.0`.
    pub fn graph_base_url(&self) -> String {
        self.shared.graph_base()
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    /// The emulator clock (real time plus any advances).
    pub fn now(&self) -> OffsetDateTime {
        self.shared.now()
    }

    /// Moves the emulator clock by `seconds` (tokens, codes, subscriptions and download URLs
    /// expire against it); returns the new time.
    pub fn advance_clock(&self, seconds: i64) -> OffsetDateTime {
        control::advance_clock(&self.shared, seconds);
        self.now()
    }

    /// Adds or replaces file `name` in `folder` (e.g. `/Photos/2024`, created as needed) of a
    /// drive, then sends change notifications to the drive's subscribers.
    pub async fn add_file(
        &self,
        drive_id: &str,
        folder: &str,
        name: &str,
        content: impl Into<Vec<u8>>,
    ) -> anyhow::Result<ItemChange> {
        Ok(control::put_file(&self.shared, drive_id, folder, name, content.into(), None).await?)
    }

    /// Deletes an item (and its children), then sends change notifications.
    pub async fn delete_item(&self, drive_id: &str, item_id: &str) -> anyhow::Result<ItemChange> {
        Ok(control::delete_item(&self.shared, drive_id, item_id).await?)
    }

    /// The id of the live item at `path` (`/Photos/a.jpg`; `/` is the root).
    pub fn item_id(&self, drive_id: &str, path: &str) -> Option<String> {
        self.shared.lock().drives.get(drive_id)?.item_by_path(path)
    }

    /// Injects a fault or administrative event (same as `POST /_emulator/faults`).
    pub async fn inject_fault(&self, fault: Fault) -> anyhow::Result<Value> {
        Ok(faults::apply(&self.shared, fault).await?)
    }

    /// Removes pending request faults and added latency.
    pub fn clear_faults(&self) {
        faults::clear(&self.shared);
    }

    /// Revokes every refresh token of a user (object id or UPN).
    pub async fn revoke_refresh_tokens(&self, user: &str) -> anyhow::Result<()> {
        self.inject_fault(Fault::RevokeRefreshTokens { user: user.into() })
            .await
            .map(drop)
    }

    /// Sends a lifecycle event to a subscription's lifecycle URL (refused when the resource
    /// does not get that event from Graph).
    pub async fn send_lifecycle_event(&self, subscription_id: &str, event: LifecycleEvent) -> anyhow::Result<()> {
        self.inject_fault(Fault::Lifecycle {
            subscription_id: subscription_id.into(),
            event,
            force: false,
        })
        .await
        .map(drop)
    }

    /// Invalidates a drive's delta tokens: the next delta call with one answers 410.
    pub async fn invalidate_delta_tokens(&self, drive_id: &str) -> anyhow::Result<()> {
        self.inject_fault(Fault::InvalidateDelta {
            drive_id: drive_id.into(),
        })
        .await
        .map(drop)
    }

    /// Every outbound call made so far (handshakes, change and lifecycle notifications).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// Request counts by route and status, and content bytes served.
    pub fn stats(&self) -> Stats {
        Stats::from_state(&self.shared.lock())
    }

    /// Signs arbitrary claims (RS256). `key` defaults to the current signing key, `kid` to
    /// the key's own id; an unpublished key or a made-up `kid` tests unknown-key handling.
    pub fn sign_jwt(&self, key: Option<KeySlot>, kid: Option<&str>, claims: &Value) -> String {
        control::sign_jwt(&self.shared, key, kid, claims)
    }

    /// Mints a Graph rich-notification validation token.
    pub fn validation_token(&self, spec: &ValidationTokenSpec) -> String {
        control::validation_token(&self.shared, spec)
    }

    /// Publishes the secondary key and signs new tokens with it.
    pub fn rotate_keys(&self) {
        control::rotate_keys(&self.shared);
    }

    /// Stops the server and waits (at most 5 s) for it to finish.
    pub async fn shutdown(mut self) {
        self.stop_server();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }

    fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Break the router ↔ state reference cycle.
        self.shared.router.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_server();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
