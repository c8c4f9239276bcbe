//! What every function's tests stand on: a table and a secret of their own on the local
//! services, the configuration a function reads pointing at them and at a Graph emulator, and
//! connections signed in through the emulator's identity platform as oauth-callback makes them.

use std::collections::HashMap;

use graph_emulator::{Emulator, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use graphwatch_shared::config::Config;
use graphwatch_shared::identity::{IdentityClient, Tokens};
use graphwatch_shared::secrets::{AppSecret, SecretsCache};
use graphwatch_shared::store::{seal_context, Connection, ConnectionStatus, Store};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The base64 sealing key (id `1`) of the test secret.
pub const SEALING_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// One test's table, secret and configuration.
pub struct Backend {
    /// A client of DynamoDB Local.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The store over the test's own table.
    pub store: Store,
    /// A client of moto's Secrets Manager.
    pub secrets_client: aws_sdk_secretsmanager::Client,
    /// The test's own secret.
    pub secret_id: String,
    /// That secret, parsed.
    pub secret: AppSecret,
    /// The configuration a function would read from its environment.
    pub config: Config,
    /// An HTTP client that does not follow redirects, as the functions use.
    pub http: reqwest::Client,
}

impl Backend {
    /// Creates a table and a secret named after `prefix`. The secret holds the emulator's demo
    /// app credentials and [`SEALING_KEY`], plus the fields of `secret_extra` (a JSON object);
    /// the configuration names them, the emulator's Graph and login URLs, a local endpoint
    /// answering Graph's validation handshake as `PUBLIC_BASE_URL`, then the variables of `vars`.
    pub async fn new(prefix: &str, emulator: &Emulator, secret_extra: Value, vars: &[(&str, &str)]) -> Self {
        let dynamodb = crate::dynamodb();
        let table = crate::unique_name(prefix);
        graphwatch_shared::store::create_table(&dynamodb, &table)
            .await
            .expect("create the test table");
        let mut secret = json!({
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "sealing_keys": {"1": SEALING_KEY},
        });
        if let (Some(secret), Some(extra)) = (secret.as_object_mut(), secret_extra.as_object()) {
            secret.extend(extra.clone());
        }
        let secret_text = secret.to_string();
        let secrets_client = crate::secretsmanager();
        let secret_id = crate::unique_name(&format!("{prefix}-secret"));
        secrets_client
            .create_secret()
            .name(&secret_id)
            .secret_string(&secret_text)
            .send()
            .await
            .expect("create the test secret");
        let mut env: HashMap<String, String> = HashMap::from([
            ("GRAPHWATCH_TABLE".into(), table.clone()),
            ("GRAPHWATCH_SECRET_ID".into(), secret_id.clone()),
            ("PUBLIC_BASE_URL".into(), crate::notification_endpoint().await),
            ("GRAPH_BASE_URL".into(), emulator.graph_base_url()),
            ("LOGIN_BASE_URL".into(), emulator.login_base_url()),
        ]);
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| env.get(name).cloned()).expect("a valid test configuration");
        Self {
            store: Store::new(dynamodb.clone(), &table),
            secret: AppSecret::parse(&secret_id, &secret_text).expect("a valid test secret"),
            http: graphwatch_shared::clients::http_client().expect("an HTTP client"),
            dynamodb,
            secrets_client,
            secret_id,
            config,
        }
    }

    /// A secrets cache of its own, as a new Lambda instance has.
    pub fn secrets(&self) -> SecretsCache {
        SecretsCache::new(
            self.secrets_client.clone(),
            &self.secret_id,
            self.config.secret_cache_ttl,
        )
    }

    /// Signs the user `upn` of `tenant_id` in through the emulator (authorize with PKCE, then
    /// the code grant) and stores the active connection with the refresh token sealed, as
    /// oauth-callback does; returns the tokens.
    pub async fn connect(&self, tenant_id: &str, user_oid: &str, upn: &str) -> Tokens {
        let identity = IdentityClient::new(self.http.clone(), &self.config).expect("an identity client");
        let sign_in = identity.sign_in(DEMO_CLIENT_ID);
        let mut url = url::Url::parse(&sign_in.url).expect("an authorize URL");
        url.query_pairs_mut().append_pair("login_hint", upn);
        let answer = self
            .http
            .get(url.as_str())
            .send()
            .await
            .expect("the authorize endpoint answers");
        assert_eq!(answer.status(), 302, "the emulator's sign-in redirects back");
        let back = url::Url::parse(answer.headers()["location"].to_str().expect("a location")).expect("a redirect URL");
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {back}"));
        let tokens = identity
            .exchange_code(&self.secret, &code, &sign_in.pkce_verifier)
            .await
            .expect("the code grant succeeds");
        let refresh = tokens
            .refresh_token
            .as_ref()
            .expect("offline_access gives a refresh token");
        let sealer = self.secret.sealer().expect("a sealer");
        let now = OffsetDateTime::now_utc();
        self.store
            .upsert_connection(&Connection {
                tenant_id: tenant_id.into(),
                user_oid: user_oid.into(),
                display_name: upn.into(),
                username: upn.into(),
                scopes: tokens.scopes.clone(),
                sealed_refresh_token: sealer.seal(refresh.secret().as_bytes(), &seal_context(tenant_id, user_oid)),
                status: ConnectionStatus::Active,
                created_at: now,
                updated_at: now,
            })
            .await
            .expect("store the connection");
        tokens
    }
}
