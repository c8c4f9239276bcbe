//! renew-subscriptions on the local stack: DynamoDB Local (own table), moto (own secret),
//! the Graph emulator with several tenants, and a local endpoint answering Graph's
//! validation handshake. Connections are signed in through the emulator's identity
//! platform; subscriptions are created on the emulator and stored as oauth-callback does.
//! Events are the sample files of `events/`. Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt as _;
use graph_emulator::{Emulator, EmulatorConfig, Fault, SignInOutcome, TenantConfig, UserConfig};
use graphwatch_shared::graph::{GraphClient, NewSubscription};
use graphwatch_shared::identity::{AccessToken, IdentityClient};
use graphwatch_shared::store::Subscription;
use graphwatch_shared::subscriptions::{self, CreateOutcome, Obtained};
use graphwatch_testkit::Backend;
use renew_subscriptions::App;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A user of the emulated tenants.
#[derive(Debug, Clone)]
pub struct User {
    pub tenant_id: String,
    pub oid: String,
    pub upn: String,
    pub drive_id: String,
}

/// `tenants` tenants with `users_per_tenant` users each, every user with a drive.
pub fn users(tenants: usize, users_per_tenant: usize) -> Vec<User> {
    let mut out = Vec::new();
    for t in 0..tenants {
        for u in 0..users_per_tenant {
            out.push(User {
                tenant_id: format!("00000000-0000-4000-8000-{t:012}"),
                oid: format!("11111111-0000-4000-8000-{:06}{u:06}", t),
                upn: format!("user{u}@tenant{t}.example"),
                drive_id: format!("b!drive-{t}-{u}"),
            });
        }
    }
    out
}

/// One test's stack.
pub struct Harness {
    pub emulator: Emulator,
    pub app: App,
    pub backend: Backend,
    pub graph: GraphClient,
    pub identity: IdentityClient,
    pub users: Vec<User>,
}

/// A stack whose emulator knows `users` (and their drives); `extra` configuration variables.
pub async fn harness(users: Vec<User>, extra: &[(&str, &str)]) -> Harness {
    let mut tenants: Vec<TenantConfig> = Vec::new();
    for u in &users {
        let user = UserConfig {
            oid: u.oid.clone(),
            upn: u.upn.clone(),
            display_name: u.upn.clone(),
            drive_id: Some(u.drive_id.clone()),
            sign_in: SignInOutcome::Allow,
        };
        match tenants.iter_mut().find(|t| t.id == u.tenant_id) {
            Some(t) => t.users.push(user),
            None => tenants.push(TenantConfig {
                id: u.tenant_id.clone(),
                name: format!("tenant {}", u.tenant_id),
                users: vec![user],
            }),
        }
    }
    let emulator = graph_emulator::start(
        EmulatorConfig {
            tenants,
            any_loopback_redirect: true,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let backend = Backend::new("renew", &emulator, json!({}), extra).await;
    let app = App::new(backend.config.clone(), backend.store.clone(), backend.secrets()).unwrap();
    Harness {
        graph: GraphClient::new(backend.http.clone(), &backend.config.graph_base_url),
        identity: IdentityClient::new(backend.http.clone(), &backend.config).unwrap(),
        emulator,
        app,
        users,
        backend,
    }
}

/// A stack with one user, connected; returns the user and an access token for seeding.
pub async fn one_user() -> (Harness, User, AccessToken) {
    let user = users(1, 1).remove(0);
    let h = harness(vec![user.clone()], &[]).await;
    let token = h.connect(&user).await;
    (h, user, token)
}

/// The table, secret and configuration are the backend's: `h.store`, `h.config`, ...
impl std::ops::Deref for Harness {
    type Target = Backend;
    fn deref(&self) -> &Backend {
        &self.backend
    }
}

/// Loads a sample event from `events/` and lets the test edit its JSON.
pub fn event(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let path = graphwatch_testkit::repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).unwrap();
    edit(&mut event);
    event
}

/// A deadline `secs` from now.
pub fn deadline_in(secs: f64) -> SystemTime {
    SystemTime::now() + Duration::from_secs_f64(secs)
}

/// A Lambda invocation's usual time (15 minutes).
pub fn full_deadline() -> SystemTime {
    deadline_in(900.0)
}

/// `events/stream-subscription-action.json` pointed at subscription `id`, with `sequence`.
pub fn action_record(id: &str, action: &str, sequence: &str) -> Value {
    let record = event("stream-subscription-action.json", |_| {})["Records"][0].clone();
    let mut record = record;
    record["dynamodb"]["Keys"]["pk"]["S"] = format!("SUB#{id}").into();
    record["dynamodb"]["NewImage"]["pk"]["S"] = format!("SUB#{id}").into();
    record["dynamodb"]["NewImage"]["id"]["S"] = id.into();
    record["dynamodb"]["NewImage"]["action"]["S"] = action.into();
    record["dynamodb"]["SequenceNumber"] = sequence.into();
    record
}

/// A stream event holding `records`.
pub fn stream_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

impl Harness {
    /// Another Lambda instance of the function on the same stack.
    pub fn another_app(&self) -> App {
        App::new(self.config.clone(), self.store.clone(), self.backend.secrets()).unwrap()
    }

    /// Signs `user` in through the emulator and stores the connection, and registers the
    /// drive (not pending); returns an access token for seeding.
    pub async fn connect(&self, user: &User) -> AccessToken {
        let tokens = self.backend.connect(&user.tenant_id, &user.oid, &user.upn).await;
        self.store
            .register_drive(&user.drive_id, &user.tenant_id, &user.oid, OffsetDateTime::now_utc())
            .await
            .unwrap();
        self.set_drive_idle(&user.drive_id).await;
        tokens.access_token
    }

    /// Delivers one stream record asking `action` of subscription `id`; returns the answer.
    pub async fn act(&self, id: &str, action: &str, sequence: &str) -> Value {
        let event = stream_event(vec![action_record(id, action, sequence)]);
        self.app.handle(event, full_deadline()).await.unwrap()
    }

    /// Removes subscription `id` on the emulated Graph, as Graph does when it drops one.
    pub async fn remove_on_graph(&self, id: &str) {
        let fault = Fault::RemoveSubscription {
            subscription_id: id.to_owned(),
            force: false,
        };
        self.emulator.inject_fault(fault).await.unwrap();
    }

    /// Clears a drive's `pending` (as a finished scan pass does).
    pub async fn set_drive_idle(&self, drive_id: &str) {
        let now = OffsetDateTime::now_utc();
        let lease = self
            .store
            .acquire_drive_lease(drive_id, "test", now, now + time::Duration::minutes(1))
            .await
            .unwrap();
        assert!(lease.is_some());
        assert!(self.store.release_drive_lease(drive_id, "test", false).await.unwrap());
    }

    /// Whether a drive is pending.
    pub async fn drive_pending(&self, drive_id: &str) -> bool {
        self.store.get_drive(drive_id).await.unwrap().unwrap().pending
    }

    /// Creates `count` drive-root subscriptions of `user` on the emulator (distinct
    /// notification URLs), expiring at `expiration`, and stores them; returns the records.
    pub async fn subscribe(
        &self,
        user: &User,
        token: &AccessToken,
        count: usize,
        expiration: OffsetDateTime,
    ) -> Vec<Subscription> {
        let base = self.config.public_base_url.clone();
        let now = OffsetDateTime::now_utc();
        let subs: Vec<Subscription> = futures::stream::iter(0..count)
            .map(|_| {
                let base = base.clone();
                async move {
                    let request = NewSubscription {
                        change_type: "updated".into(),
                        notification_url: format!("{base}/webhooks/g-{}", uuid::Uuid::new_v4()),
                        lifecycle_notification_url: Some(format!("{base}/webhooks/lifecycle")),
                        resource: format!("/drives/{}/root", user.drive_id),
                        expiration_date_time: expiration,
                        client_state: subscriptions::random_client_state(),
                    };
                    let created = self.graph.create_subscription(token, &request).await.unwrap();
                    let obtained = Obtained {
                        subscription: created,
                        client_state: request.client_state.clone(),
                        outcome: CreateOutcome::Created,
                    };
                    let sub = subscriptions::record(
                        &obtained,
                        &user.tenant_id,
                        &user.oid,
                        &request.resource,
                        Some(&user.drive_id),
                    );
                    self.store.put_subscription(&sub, now).await.unwrap();
                    sub
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        subs
    }

    /// Overwrites a stored subscription (bumping nothing: the test sets the version).
    pub async fn put(&self, sub: &Subscription) {
        self.store
            .put_subscription(sub, OffsetDateTime::now_utc())
            .await
            .unwrap();
    }

    /// A stored subscription.
    pub async fn stored(&self, id: &str) -> Subscription {
        self.store.get_subscription(id).await.unwrap().unwrap()
    }

    /// The `ttl` attribute of a stored subscription, if any.
    pub async fn ttl_of(&self, id: &str) -> Option<i64> {
        let item = self
            .dynamodb
            .get_item()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(format!("SUB#{id}")))
            .key("sk", AttributeValue::S("SUB".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        item.get("ttl").and_then(|v| v.as_n().ok()).map(|n| n.parse().unwrap())
    }

    /// Every live subscription in the emulator, by id.
    pub async fn emulator_subscriptions(&self) -> HashMap<String, Value> {
        let url = format!("{}/_emulator/subscriptions", self.emulator.base_url());
        let list: Vec<Value> = self.http.get(url).send().await.unwrap().json().await.unwrap();
        list.into_iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s))
            .collect()
    }

    /// Requests answered `status` on `route` so far.
    pub fn count(&self, route: &str, status: u16) -> u64 {
        self.emulator.stats().count(route, status)
    }

    /// Token requests refused with 400 (`invalid_grant`) so far.
    pub fn refused_refreshes(&self) -> u64 {
        self.count("POST /{tenant}/oauth2/v2.0/token", 400)
    }
}

/// Summary field `key` of a run's answer.
pub fn field(summary: &Value, key: &str) -> u64 {
    summary[key].as_u64().unwrap_or_else(|| panic!("no {key} in {summary}"))
}
