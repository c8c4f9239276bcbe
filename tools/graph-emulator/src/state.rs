//! The emulator's shared state: configuration, keys, the clock and everything that changes,
//! kept in memory behind one mutex (never held across an `.await`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::{EmulatorConfig, SignInOutcome, TenantConfig, UserConfig};
use crate::drive::Drive;
use crate::faults::Faults;
use crate::identity::{AuthCode, RefreshGrant};
use crate::keys::{KeySlot, Keys};
use crate::notifications::Delivery;
use crate::subscriptions::Subscription;

/// Handle shared by every route.
pub(crate) type AppState = Arc<Shared>;

/// Immutable parts plus the mutable [`State`].
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    /// Public base URL, without a trailing slash.
    pub base_url: String,
    pub keys: Keys,
    /// Outbound client for handshakes and notifications.
    pub http: reqwest::Client,
    pub state: Mutex<State>,
    /// The full router, for `$batch` to dispatch sub-requests; cleared at shutdown.
    pub router: Mutex<Option<Router>>,
}

/// Everything that changes while the emulator runs.
pub(crate) struct State {
    pub clock_offset: time::Duration,
    pub sign_in: HashMap<String, SignInOutcome>,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub signing_key: KeySlot,
    pub published_keys: Vec<KeySlot>,
    pub drives: HashMap<String, Drive>,
    pub downloads: HashMap<String, DownloadGrant>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub subscription_writes: HashMap<(String, String), VecDeque<OffsetDateTime>>,
    pub faults: Faults,
    pub deliveries: Vec<Delivery>,
    pub request_counts: BTreeMap<(String, u16), u64>,
    pub content_bytes_served: u64,
}

/// A pre-authenticated download URL's grant.
pub(crate) struct DownloadGrant {
    pub drive_id: String,
    pub item_id: String,
    pub expires: OffsetDateTime,
}

impl State {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        let mut drives = HashMap::new();
        let now = OffsetDateTime::now_utc();
        for tenant in &config.tenants {
            for user in &tenant.users {
                if let Some(drive_id) = &user.drive_id {
                    drives.insert(drive_id.clone(), Drive::new(drive_id, tenant, user, now));
                }
            }
        }
        Self {
            clock_offset: time::Duration::ZERO,
            sign_in: HashMap::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            signing_key: KeySlot::Primary,
            published_keys: vec![KeySlot::Primary],
            drives,
            downloads: HashMap::new(),
            subscriptions: BTreeMap::new(),
            subscription_writes: HashMap::new(),
            faults: Faults::default(),
            deliveries: Vec::new(),
            request_counts: BTreeMap::new(),
            content_bytes_served: 0,
        }
    }

    /// The emulator's clock: real time plus the offset set by clock advances.
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.clock_offset
    }
}

impl Shared {
    /// Locks the mutable state.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The emulator's clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.lock().now()
    }

    /// `{base}/v1.0`.
    pub(crate) fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    /// Finds a tenant by id (case-insensitive).
    pub(crate) fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.config.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// Finds a user by object id or UPN, in one tenant or (with `None`) in any tenant.
    pub(crate) fn user(&self, tenant: Option<&str>, key: &str) -> Option<(&TenantConfig, &UserConfig)> {
        self.config
            .tenants
            .iter()
            .filter(|t| tenant.is_none_or(|id| t.id.eq_ignore_ascii_case(id)))
            .flat_map(|t| t.users.iter().map(move |u| (t, u)))
            .find(|(_, u)| u.oid.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
    }

    /// The sign-in outcome currently configured for a user.
    pub(crate) fn sign_in_outcome(&self, user: &UserConfig) -> SignInOutcome {
        self.lock().sign_in.get(&user.oid).copied().unwrap_or(user.sign_in)
    }
}

/// A random URL-safe token of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Formats a timestamp the way Graph does (`2024-05-01T10:00:00Z`, UTC, whole seconds).
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("a UTC timestamp always formats")
}

/// Request counts and bytes served, as reported by `GET /_emulator/stats`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Requests by route (`"GET /v1.0/subscriptions/{id}"`, or `"unmatched"`) and status.
    pub requests: Vec<RouteCount>,
    /// How many requests were answered 429.
    pub throttled: u64,
    /// Bytes of file content served by download URLs.
    pub content_bytes_served: u64,
}

/// One row of [`Stats::requests`].
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RouteCount {
    /// `METHOD /path/template`.
    pub route: String,
    /// HTTP status answered.
    pub status: u16,
    /// Number of requests.
    pub count: u64,
}

impl Stats {
    /// Requests answered `status` on `route` (`"POST /v1.0/subscriptions"`).
    pub fn count(&self, route: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.route == route && r.status == status)
            .map(|r| r.count)
            .sum()
    }

    pub(crate) fn from_state(state: &State) -> Self {
        Self {
            requests: state
                .request_counts
                .iter()
                .map(|((route, status), count)| RouteCount {
                    route: route.clone(),
                    status: *status,
                    count: *count,
                })
                .collect(),
            throttled: state
                .request_counts
                .iter()
                .filter(|((_, status), _)| *status == 429)
                .map(|(_, count)| count)
                .sum(),
            content_bytes_served: state.content_bytes_served,
        }
    }
}

/// A `302 Found` redirect (what Microsoft's endpoints answer; axum's helpers give 303/307).
pub(crate) fn found(location: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::FOUND,
        [(axum::http::header::LOCATION, location.to_string())],
    )
        .into_response()
}
