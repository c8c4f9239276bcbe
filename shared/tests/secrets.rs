//! The app secret read through the TTL cache, against moto's Secrets Manager.

use std::time::Duration;

use graphwatch_shared::secrets::{SecretsCache, SecretsError};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn secret_json(client_secret: &str) -> String {
    format!(
        r#"{{"client_id":"app-1","client_secret":"{client_secret}","sealing_keys":{{"1":"{KEY}"}},"slack_webhook_url":"https://hooks.example/x"}}"#
    )
}

async fn new_secret(value: &str) -> String {
    let name = graphwatch_testkit::unique_name("graphwatch/app");
    graphwatch_testkit::secretsmanager()
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    name
}

async fn update(name: &str, value: &str) {
    graphwatch_testkit::secretsmanager()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("update secret");
}

#[tokio::test]
async fn cache_serves_until_ttl_and_refresh_rereads() {
    let name = new_secret(&secret_json("first")).await;
    let cache = SecretsCache::new(graphwatch_testkit::secretsmanager(), &name, Duration::from_secs(300));
    let s = cache.get().await.unwrap();
    assert_eq!((s.client_id.as_str(), s.client_secret.as_str()), ("app-1", "first"));
    assert_eq!(s.slack_webhook_url.as_deref(), Some("https://hooks.example/x"));
    assert_eq!(s.teams_webhook_url, None);
    assert_eq!(s.sealer().unwrap().current_version(), 1);

    update(&name, &secret_json("second")).await;
    assert_eq!(
        cache.get().await.unwrap().client_secret,
        "first",
        "served from the cache within the TTL"
    );
    assert_eq!(
        cache.reload().await.unwrap().client_secret,
        "second",
        "forced refresh re-reads"
    );
    assert_eq!(cache.get().await.unwrap().client_secret, "second");
}

#[tokio::test]
async fn expired_entries_are_reread() {
    let name = new_secret(&secret_json("first")).await;
    let cache = SecretsCache::new(graphwatch_testkit::secretsmanager(), &name, Duration::ZERO);
    assert_eq!(cache.get().await.unwrap().client_secret, "first");
    update(&name, &secret_json("second")).await;
    assert_eq!(cache.get().await.unwrap().client_secret, "second");
}

#[tokio::test]
async fn missing_and_malformed_secrets_are_clear_errors() {
    let cache = SecretsCache::new(
        graphwatch_testkit::secretsmanager(),
        "graphwatch/does-not-exist",
        Duration::from_secs(300),
    );
    match cache.get().await {
        Err(SecretsError::Unavailable { secret_id, .. }) => assert_eq!(secret_id, "graphwatch/does-not-exist"),
        other => panic!("expected Unavailable, got {other:?}"),
    }

    let name = new_secret(r#"{"client_id":"app-1"}"#).await;
    let cache = SecretsCache::new(graphwatch_testkit::secretsmanager(), &name, Duration::from_secs(300));
    match cache.get().await {
        Err(SecretsError::Malformed { detail, .. }) => assert!(detail.contains("client_secret"), "{detail}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
}
