//! Shared set-up of the identity and Graph client tests: the emulator, a local endpoint
//! that answers Graph's validation handshake, and a signed-in user's tokens.

use std::collections::{BTreeMap, HashMap};

use graph_emulator::{Emulator, EmulatorConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use graphwatch_shared::config::Config;
use graphwatch_shared::identity::{IdentityClient, Tokens};
use graphwatch_shared::secrets::AppSecret;

/// A running emulator and a notification endpoint that answers the handshake.
pub struct Env {
    pub emulator: Emulator,
    pub config: Config,
    pub identity: IdentityClient,
    pub http: reqwest::Client,
}

/// The demo app's secret (client id and secret of the emulator's app).
pub fn app_secret() -> AppSecret {
    AppSecret {
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: DEMO_CLIENT_SECRET.into(),
        sealing_keys: BTreeMap::from([(1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into())]),
        current_sealing_key: None,
        slack_webhook_url: None,
        teams_webhook_url: None,
    }
}

/// Starts the emulator (loopback redirect URIs allowed) and a notification endpoint.
pub async fn env(emulator_config: EmulatorConfig) -> Env {
    let emulator = graph_emulator::start(
        EmulatorConfig {
            any_loopback_redirect: true,
            ..emulator_config
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let public = graphwatch_testkit::notification_endpoint().await;
    let vars = HashMap::from([
        ("GRAPHWATCH_TABLE", "unused".to_owned()),
        ("GRAPHWATCH_SECRET_ID", "unused".to_owned()),
        ("PUBLIC_BASE_URL", public),
        ("GRAPH_BASE_URL", emulator.graph_base_url()),
        ("LOGIN_BASE_URL", emulator.login_base_url()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let http = graphwatch_shared::clients::http_client().unwrap();
    let identity = IdentityClient::new(http.clone(), &config).unwrap();
    Env {
        emulator,
        config,
        identity,
        http,
    }
}

impl Env {
    /// Runs the authorize step as a browser would; returns the callback URL's query pairs.
    pub async fn authorize(&self, url: &str) -> HashMap<String, String> {
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302, "authorize answers a redirect");
        let location = response.headers()["location"].to_str().unwrap();
        let location = url::Url::parse(location).unwrap();
        assert!(location.as_str().starts_with(self.identity.redirect_uri()));
        location.query_pairs().into_owned().collect()
    }

    /// A full sign-in of the demo user: code redeemed with its verifier. Returns the
    /// tokens and the nonce sent.
    pub async fn sign_in(&self) -> (Tokens, String) {
        let sign_in = self.identity.sign_in(DEMO_CLIENT_ID);
        let query = self.authorize(&sign_in.url).await;
        assert_eq!(query["state"], sign_in.state);
        let tokens = self
            .identity
            .exchange_code(&app_secret(), &query["code"], &sign_in.pkce_verifier)
            .await
            .unwrap();
        (tokens, sign_in.nonce)
    }
}
