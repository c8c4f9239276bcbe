//! Shared test helpers: start an emulator, sign in, and run a webhook receiver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use graph_emulator::{
    Emulator, EmulatorConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, DEMO_TENANT_ID,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Starts an emulator with `config` on an ephemeral loopback port.
pub async fn start(config: EmulatorConfig) -> Emulator {
    graph_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123456789";

pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Runs the authorize step and returns the `Location` it redirects to.
pub async fn authorize(emu: &Emulator, extra: &[(&str, &str)]) -> reqwest::Response {
    let challenge = challenge(VERIFIER);
    let mut query = vec![
        ("client_id", DEMO_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", DEMO_REDIRECT_URIS[0]),
        (
            "scope",
            "openid profile offline_access https://graph.microsoft.com/Files.Read.All",
        ),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        query.retain(|(q, _)| q != k);
        query.push((k, v));
    }
    client()
        .get(format!(
            "{}/{DEMO_TENANT_ID}/oauth2/v2.0/authorize",
            emu.login_base_url()
        ))
        .query(&query)
        .send()
        .await
        .unwrap()
}

/// Query parameters of a redirect's `Location`.
pub fn location_query(response: &reqwest::Response) -> HashMap<String, String> {
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

/// Posts a token request with the demo client's secret in the body.
pub async fn token_request(emu: &Emulator, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", DEMO_CLIENT_ID));
    form.push(("client_secret", DEMO_CLIENT_SECRET));
    let response = client()
        .post(format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", emu.login_base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Signs the default user in (code + PKCE) and returns the token response.
pub async fn sign_in(emu: &Emulator) -> Value {
    let code = location_query(&authorize(emu, &[]).await)["code"].clone();
    let (status, body) = token_request(
        emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT_URIS[0]),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A delegated access token for the demo user.
pub async fn access_token(emu: &Emulator) -> String {
    sign_in(emu).await["access_token"].as_str().unwrap().to_string()
}

/// How a receiver answers validation handshakes.
#[derive(Clone, Copy, Debug)]
pub enum Handshake {
    /// 200 text/plain with the decoded token.
    Echo,
    /// 200 text/plain with another token.
    WrongToken,
    /// Echo, but only after this delay.
    Slow(Duration),
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub body: String,
}

/// A webhook receiver on an ephemeral port that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(mode: Handshake) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state((mode, received.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Received notification bodies (not handshakes) as JSON.
    pub fn notifications(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| !r.query.contains_key("validationToken"))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

type ReceiverState = (Handshake, Arc<Mutex<Vec<Received>>>);

async fn receive(
    State((mode, received)): State<ReceiverState>,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        query: query.clone(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body,
    });
    let Some(token) = query.get("validationToken") else {
        return StatusCode::ACCEPTED.into_response();
    };
    let answer = match mode {
        Handshake::Echo => token.clone(),
        Handshake::WrongToken => "not-the-token".to_string(),
        Handshake::Slow(delay) => {
            tokio::time::sleep(delay).await;
            token.clone()
        }
    };
    ([(header::CONTENT_TYPE, "text/plain")], answer).into_response()
}

/// Graph call helper: method + path below `/v1.0` with a bearer token.
pub async fn graph(
    emu: &Emulator,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = client()
        .request(method, format!("{}{path}", emu.graph_base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, json)
}

/// An RFC 3339 timestamp `minutes` from the emulator's now.
pub fn in_minutes(emu: &Emulator, minutes: i64) -> String {
    (emu.now() + time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
