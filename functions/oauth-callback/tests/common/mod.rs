//! The oauth-callback handler on the local stack: DynamoDB Local (own table), moto (own
//! secret), the Graph emulator, and a local endpoint answering Graph's validation handshake.
//! Requests are the sample events of `events/`, with their query edited.
//! Each test binary uses part of it.
#![allow(dead_code)]

use aws_sdk_dynamodb::types::AttributeValue;
use graph_emulator::{Emulator, EmulatorConfig, DEMO_TENANT_ID, DEMO_USER_OID};
use graphwatch_shared::config::Config;
use graphwatch_shared::store::{Connection, Store};
use graphwatch_testkit::Backend;
use lambda_http::{Body, Response};
use oauth_callback::App;
use serde_json::{json, Value};

/// One test's stack.
pub struct Harness {
    pub emulator: Emulator,
    pub app: App,
    pub store: Store,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub config: Config,
    pub browser: reqwest::Client,
}

/// A stack with default settings.
pub async fn harness() -> Harness {
    harness_with(&[]).await
}

/// A stack whose configuration has `extra` variables (e.g. `ALLOWED_TENANTS`).
pub async fn harness_with(extra: &[(&str, &str)]) -> Harness {
    let emulator = graph_emulator::start(
        EmulatorConfig {
            any_loopback_redirect: true,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let backend = Backend::new("oauth", &emulator, json!({}), extra).await;
    let app = App::new(backend.config.clone(), backend.store.clone(), backend.secrets()).unwrap();
    Harness {
        emulator,
        app,
        store: backend.store,
        dynamodb: backend.dynamodb,
        config: backend.config,
        browser: backend.http,
    }
}

/// Loads a sample event from `events/` and lets the test edit its JSON.
pub fn event(name: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let path = graphwatch_testkit::repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).unwrap();
    edit(&mut event);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// Replaces an event's query string (raw and parsed) with `pairs`.
pub fn set_query(event: &mut Value, pairs: &[(String, String)]) {
    let raw = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    event["rawQueryString"] = raw.into();
    event["queryStringParameters"] = pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
}

/// Asks for JSON answers.
pub fn accept_json(event: &mut Value) {
    event["headers"]["accept"] = "application/json".into();
}

/// A response's text body.
pub fn text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(t) => t.clone(),
        Body::Empty => String::new(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => panic!("unexpected body"),
    }
}

/// A JSON response's body.
pub fn json(response: &Response<Body>) -> Value {
    serde_json::from_str(&text(response)).unwrap_or_else(|_| panic!("not JSON: {}", text(response)))
}

/// A response's `Location`.
pub fn location(response: &Response<Body>) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Asserts a JSON error answer with `status` and `code`.
pub fn assert_error(response: &Response<Body>, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status, "{}", text(response));
    assert_eq!(json(response)["error"]["code"], code, "{}", text(response));
}

impl Harness {
    /// `GET /connect` from `events/connect.json`; returns the authorize URL.
    pub async fn connect(&self) -> String {
        let response = self.app.handle(event("connect.json", |_| {})).await;
        assert_eq!(response.status(), 302, "{}", text(&response));
        location(&response)
    }

    /// The identity platform's authorize step as a browser runs it; returns the callback's
    /// query pairs (a `code` and `state`, or an `error`).
    pub async fn authorize(&self, authorize_url: &str) -> Vec<(String, String)> {
        let response = self.browser.get(authorize_url).send().await.unwrap();
        assert_eq!(response.status(), 302);
        let back = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(back.path(), "/oauth/callback");
        back.query_pairs().into_owned().collect()
    }

    /// `GET /oauth/callback` from `events/oauth-callback.json` with the given query.
    pub async fn callback(&self, query: &[(String, String)], json: bool) -> Response<Body> {
        self.app
            .handle(event("oauth-callback.json", |e| {
                set_query(e, query);
                if json {
                    accept_json(e);
                }
            }))
            .await
    }

    /// A whole sign-in of the demo user; returns the callback's query and answer (JSON).
    pub async fn sign_in(&self) -> (Vec<(String, String)>, Response<Body>) {
        let query = self.authorize(&self.connect().await).await;
        let response = self.callback(&query, true).await;
        (query, response)
    }

    /// Sets attributes of the stored sign-in state `state` directly in the table.
    pub async fn edit_state(&self, state: &str, attribute: &str, value: AttributeValue) {
        self.dynamodb
            .update_item()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(format!("STATE#{state}")))
            .key("sk", AttributeValue::S("STATE".into()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    /// Reads an attribute of the stored sign-in state `state`.
    pub async fn state_attribute(&self, state: &str, attribute: &str) -> Option<String> {
        let item = self
            .dynamodb
            .get_item()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(format!("STATE#{state}")))
            .key("sk", AttributeValue::S("STATE".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        item.get(attribute).and_then(|v| v.as_s().ok()).cloned()
    }

    /// The demo user's stored connection, if any.
    pub async fn demo_connection(&self) -> Option<Connection> {
        self.store.get_connection(DEMO_TENANT_ID, DEMO_USER_OID).await.unwrap()
    }

    /// Every live subscription in the emulator.
    pub async fn emulator_subscriptions(&self) -> Vec<Value> {
        let url = format!("{}/_emulator/subscriptions", self.emulator.base_url());
        self.browser.get(url).send().await.unwrap().json().await.unwrap()
    }
}

/// The value of `key` in query pairs.
pub fn param<'a>(query: &'a [(String, String)], key: &str) -> &'a str {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {query:?}"))
}
