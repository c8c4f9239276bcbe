//! Emulator configuration: tenants, users, drives, the registered app and the tunable limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Tenant id of the demo tenant.
pub const DEMO_TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Display name of the demo tenant.
pub const DEMO_TENANT_NAME: &str = "Contoso (emulated)";
/// Client (application) id of the demo app registration.
pub const DEMO_CLIENT_ID: &str = "5f1c3a7e-2b4d-4e8f-9a61-0c7d2e9b4f13";
/// Client secret of the demo app registration.
pub const DEMO_CLIENT_SECRET: &str = "emu~Q8v7R2kP9sT4wX1zA6bC3dF5gH0jL";
/// Redirect URIs registered for the demo app.
pub const DEMO_REDIRECT_URIS: [&str; 2] = [
    "http://localhost:9000/oauth/callback",
    "http://127.0.0.1:9000/oauth/callback",
];
/// Object id (`oid`) of the demo user.
pub const DEMO_USER_OID: &str = "3c5b8f2a-1d9e-4b7c-8a6f-2e4d1c9b7a05";
/// User principal name of the demo user.
pub const DEMO_USER_UPN: &str = "adele.vance@contoso.example";
/// Display name of the demo user.
pub const DEMO_USER_NAME: &str = "Adele Vance";
/// Id of the demo user's OneDrive drive.
pub const DEMO_DRIVE_ID: &str = "b!kX3dQ9vT2kOq7yN1mZ4sW8pL5rJ0hG6fE2cA9bD3xV7uY1tS4qR8nM5kJ2hF0gD";
/// Application id Microsoft Graph uses as `azp`/`appid` in rich-notification validation tokens.
pub const GRAPH_NOTIFICATION_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";
/// Application id of Microsoft Graph itself (an `aud` Graph accepts in access tokens).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Resource URI of Microsoft Graph (the `aud` of access tokens the emulator issues).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// What happens when a user reaches the authorize endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// The user signs in and consents; a code is issued.
    #[default]
    Allow,
    /// The user declines: `error=access_denied`.
    AccessDenied,
    /// Consent is missing and cannot be given interactively: `error=consent_required`.
    ConsentRequired,
}

/// A user of a tenant.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// Object id (`oid`).
    pub oid: String,
    /// User principal name (`preferred_username`).
    pub upn: String,
    /// Display name (`name`).
    pub display_name: String,
    /// Id of the user's OneDrive drive, if the user has one.
    pub drive_id: Option<String>,
    /// What the authorize endpoint does for this user.
    pub sign_in: SignInOutcome,
}

/// A Microsoft Entra tenant.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Tenant id (`tid`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Users of the tenant; the first one is the default sign-in user.
    pub users: Vec<UserConfig>,
}

/// A (multi-tenant) app registration, consented in every configured tenant.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Client (application) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Exact redirect URIs registered for the app.
    pub redirect_uris: Vec<String>,
}

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Tenants with their users; the first tenant's first user is the default sign-in user.
    pub tenants: Vec<TenantConfig>,
    /// Registered apps.
    pub apps: Vec<AppConfig>,
    /// Accept any `http://127.0.0.1:*` / `http://localhost:*` redirect URI (local development).
    pub any_loopback_redirect: bool,
    /// Lifetime of issued access tokens.
    pub access_token_lifetime: Duration,
    /// Items per `/root/delta` page (`$top` can lower it).
    pub delta_page_size: usize,
    /// Subscription writes allowed per app per tenant within `subscription_write_window`.
    pub subscription_write_limit: usize,
    /// Window of the subscription write limit.
    pub subscription_write_window: Duration,
    /// How long a validation handshake may take.
    pub handshake_timeout: Duration,
    /// How long a change or lifecycle notification delivery may take before it is given up.
    pub delivery_timeout: Duration,
    /// Folder loaded into the demo user's drive at start.
    pub seed_drive: Option<PathBuf>,
    /// Base URL advertised in discovery documents and links, when the emulator sits behind a proxy.
    pub public_url: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            tenants: vec![TenantConfig {
                id: DEMO_TENANT_ID.into(),
                name: DEMO_TENANT_NAME.into(),
                users: vec![UserConfig {
                    oid: DEMO_USER_OID.into(),
                    upn: DEMO_USER_UPN.into(),
                    display_name: DEMO_USER_NAME.into(),
                    drive_id: Some(DEMO_DRIVE_ID.into()),
                    sign_in: SignInOutcome::Allow,
                }],
            }],
            apps: vec![AppConfig {
                client_id: DEMO_CLIENT_ID.into(),
                client_secret: DEMO_CLIENT_SECRET.into(),
                redirect_uris: DEMO_REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
            }],
            any_loopback_redirect: false,
            access_token_lifetime: Duration::from_secs(3600),
            delta_page_size: 200,
            subscription_write_limit: 500,
            subscription_write_window: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            delivery_timeout: Duration::from_secs(10),
            seed_drive: None,
            public_url: None,
        }
    }
}
