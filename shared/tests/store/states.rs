//! Sign-in states: consumed exactly once.

use super::*;

#[tokio::test]
async fn oauth_state_is_consumed_exactly_once() {
    let store = store().await;
    let t = now();
    let st = OAuthState {
        state: "s-1".into(),
        pkce_verifier: "verifier".into(),
        nonce: "nonce".into(),
        return_to: Some("/done".into()),
        expires_at: (t + Duration::minutes(10)).unix_timestamp(),
    };
    store.put_oauth_state(&st).await.unwrap();
    assert_eq!(store.consume_oauth_state("s-1", t).await.unwrap(), Some(st));
    assert_eq!(
        store.consume_oauth_state("s-1", t).await.unwrap(),
        None,
        "replay is refused"
    );
    assert_eq!(store.consume_oauth_state("never-issued", t).await.unwrap(), None);

    let expired = OAuthState {
        state: "s-2".into(),
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        return_to: None,
        expires_at: (t - Duration::seconds(1)).unix_timestamp(),
    };
    store.put_oauth_state(&expired).await.unwrap();
    assert_eq!(
        store.consume_oauth_state("s-2", t).await.unwrap(),
        None,
        "expired but not yet swept by TTL"
    );
    assert_eq!(
        store
            .consume_oauth_state("s-2", t - Duration::minutes(5))
            .await
            .unwrap(),
        None,
        "and it was removed"
    );
}
