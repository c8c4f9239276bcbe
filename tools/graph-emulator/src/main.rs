//! `graph-emulator`: runs the Microsoft identity platform + Graph emulator as a local server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use graph_emulator::{
    EmulatorConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DRIVE_ID, DEMO_TENANT_ID, DEMO_USER_OID, DEMO_USER_UPN,
};

/// A local stand-in for the Microsoft identity platform (login.microsoftonline.com, v2.0
/// endpoints) and Microsoft Graph v1.0: OAuth with PKCE and rotating refresh tokens, signed ID
/// tokens with JWKS, OneDrive delta and ranged downloads, subscriptions with real validation
/// handshakes and notifications, $batch, throttling and fault injection.
///
/// Identity routes live at {base}/{tenant}/..., Graph at {base}/v1.0/..., and the control API
/// (for tests and demos) at {base}/_emulator/... — see tools/graph-emulator/README.md.
#[derive(Parser, Debug)]
#[command(name = "graph-emulator", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8030", env = "GRAPH_EMULATOR_LISTEN")]
    listen: SocketAddr,

    /// Base URL to advertise in discovery documents, token issuers and links, when the
    /// emulator is reached through a proxy or another host name (default: http://<listen>).
    #[arg(long, env = "GRAPH_EMULATOR_PUBLIC_URL")]
    public_url: Option<String>,

    /// Folder whose files (recursively, keeping relative paths) are loaded into the demo
    /// user's OneDrive at start; MIME types come from file extensions.
    #[arg(long, value_name = "PATH")]
    seed_drive: Option<PathBuf>,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    access_token_lifetime: u64,

    /// Items per /root/delta page before an @odata.nextLink is returned.
    #[arg(long, default_value_t = 200, value_name = "N")]
    delta_page_size: usize,

    /// Subscription writes (create/renew/reauthorize/delete) allowed per app per tenant in
    /// each 20 s window before Graph answers 429.
    #[arg(long, default_value_t = 500, value_name = "N")]
    subscription_write_limit: usize,

    /// Seconds a notification endpoint has to answer the validation handshake.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    handshake_timeout: u64,

    /// Accept any http://127.0.0.1:*/ or http://localhost:*/ redirect URI for the demo app
    /// (local development), besides the registered ones.
    #[arg(long)]
    any_loopback_redirect: bool,

    /// Register an extra redirect URI for the demo app (repeatable).
    #[arg(long = "redirect-uri", value_name = "URL")]
    redirect_uris: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let mut config = EmulatorConfig {
        any_loopback_redirect: args.any_loopback_redirect,
        access_token_lifetime: Duration::from_secs(args.access_token_lifetime),
        delta_page_size: args.delta_page_size.max(1),
        subscription_write_limit: args.subscription_write_limit,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        seed_drive: args.seed_drive,
        public_url: args.public_url,
        ..EmulatorConfig::default()
    };
    config.apps[0].redirect_uris.extend(args.redirect_uris);
    let emulator = graph_emulator::start(config, args.listen).await?;
    println!("graph-emulator listening on {}", emulator.base_url());
    println!(
        "  login base:    {}  (e.g. {}/{DEMO_TENANT_ID}/oauth2/v2.0/authorize)",
        emulator.login_base_url(),
        emulator.login_base_url()
    );
    println!("  graph base:    {}", emulator.graph_base_url());
    println!("  tenant:        {DEMO_TENANT_ID}");
    println!("  client id:     {DEMO_CLIENT_ID}");
    println!("  client secret: {DEMO_CLIENT_SECRET}");
    println!(
        "  redirect URIs: {}",
        emulator.config().apps[0].redirect_uris.join(", ")
    );
    println!("  user:          {DEMO_USER_UPN} (oid {DEMO_USER_OID})");
    println!("  drive:         {DEMO_DRIVE_ID}");
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
