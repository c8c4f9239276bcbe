//! The Graph client against the emulator: user and drive, subscriptions, delta with 410,
//! content download URL and ranged downloads, `$batch`, and `Retry-After` handling.

mod common;

use std::time::{Duration, Instant};

use graph_emulator::{EmulatorConfig, Fault, DEMO_DRIVE_ID, DEMO_USER_OID};
use graphwatch_shared::graph::{
    subscription_expiration, BatchRequest, GraphClient, GraphError, NewSubscription, RetryPolicy,
};
use graphwatch_shared::identity::AccessToken;

async fn signed_in(config: EmulatorConfig) -> (common::Env, GraphClient, AccessToken) {
    let env = common::env(config).await;
    let (tokens, _) = env.sign_in().await;
    let graph = GraphClient::new(env.http.clone(), &env.config.graph_base_url);
    (env, graph, tokens.access_token)
}

fn drive_subscription(env: &common::Env, client_state: &str) -> NewSubscription {
    let resource = format!("/drives/{DEMO_DRIVE_ID}/root");
    NewSubscription {
        change_type: "updated".into(),
        notification_url: format!("{}/webhooks/graph", env.config.public_base_url),
        lifecycle_notification_url: Some(format!("{}/webhooks/lifecycle", env.config.public_base_url)),
        expiration_date_time: subscription_expiration(&resource, env.emulator.now()).unwrap(),
        resource,
        client_state: client_state.into(),
    }
}

#[tokio::test]
async fn user_and_drive() {
    let (_env, graph, token) = signed_in(EmulatorConfig::default()).await;
    assert_eq!(graph.me(&token).await.unwrap().id, DEMO_USER_OID);
    assert_eq!(graph.my_drive(&token).await.unwrap().id, DEMO_DRIVE_ID);
    let bad = AccessToken::new("not-a-token".into());
    assert!(matches!(graph.me(&bad).await, Err(GraphError::Unauthorized { .. })));
}

#[tokio::test]
async fn subscription_lifecycle() {
    let (env, graph, token) = signed_in(EmulatorConfig::default()).await;
    let request = drive_subscription(&env, "client-state-1");
    let created = graph.create_subscription(&token, &request).await.unwrap();
    assert_eq!(created.resource, request.resource);
    assert_eq!(created.client_state.as_deref(), Some("client-state-1"));
    assert_eq!(
        created.expiration_date_time.unix_timestamp(),
        request.expiration_date_time.unix_timestamp()
    );
    assert!(
        env.emulator
            .deliveries()
            .iter()
            .filter(|d| d.status == Some(200))
            .count()
            >= 2,
        "Graph validated both notification URLs"
    );

    assert!(matches!(
        graph.create_subscription(&token, &request).await,
        Err(GraphError::Conflict { .. })
    ));
    assert_eq!(
        graph.get_subscription(&token, &created.id).await.unwrap().id,
        created.id
    );
    let listed = graph.list_subscriptions(&token).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [created.id.as_str()]
    );

    let later = env.emulator.now() + time::Duration::days(2);
    let renewed = graph.renew_subscription(&token, &created.id, later).await.unwrap();
    assert_eq!(renewed.expiration_date_time.unix_timestamp(), later.unix_timestamp());
    graph.reauthorize_subscription(&token, &created.id).await.unwrap();
    graph.delete_subscription(&token, &created.id).await.unwrap();
    for result in [
        graph.get_subscription(&token, &created.id).await.map(drop),
        graph.renew_subscription(&token, &created.id, later).await.map(drop),
        graph.delete_subscription(&token, &created.id).await,
    ] {
        assert!(matches!(result, Err(GraphError::NotFound { .. })), "{result:?}");
    }

    let too_long = NewSubscription {
        expiration_date_time: env.emulator.now() + time::Duration::days(40),
        ..drive_subscription(&env, "x")
    };
    match graph.create_subscription(&token, &too_long).await {
        Err(GraphError::Rejected { status: 400, .. }) => {}
        other => panic!("a lifetime beyond the maximum is refused, got {other:?}"),
    }
}

/// Follows nextLinks from `link` to the deltaLink; returns the files seen and the deltaLink.
async fn drain(graph: &GraphClient, token: &AccessToken, link: &str) -> (Vec<String>, String) {
    let mut link = link.to_owned();
    let mut files = Vec::new();
    loop {
        let page = graph.delta_page(token, &link).await.unwrap();
        files.extend(page.items.iter().filter(|i| i.is_file()).filter_map(|i| i.name.clone()));
        match (page.next_link, page.delta_link) {
            (Some(next), None) => link = next,
            (None, Some(delta)) => return (files, delta),
            other => panic!("a page has exactly one of nextLink and deltaLink: {other:?}"),
        }
    }
}

#[tokio::test]
async fn delta_pages_links_and_resync() {
    let (env, graph, token) = signed_in(EmulatorConfig {
        delta_page_size: 2,
        ..EmulatorConfig::default()
    })
    .await;
    for name in ["a.txt", "b.txt", "c.txt"] {
        env.emulator
            .add_file(DEMO_DRIVE_ID, "/Docs", name, b"hello".to_vec())
            .await
            .unwrap();
    }
    let (mut files, delta_link) = drain(&graph, &token, &format!("/drives/{DEMO_DRIVE_ID}/root/delta")).await;
    files.sort();
    assert_eq!(files, ["a.txt", "b.txt", "c.txt"]);

    env.emulator
        .add_file(DEMO_DRIVE_ID, "/Docs", "d.txt", b"new".to_vec())
        .await
        .unwrap();
    let (files, delta_link) = drain(&graph, &token, &delta_link).await;
    assert_eq!(files, ["d.txt"], "only the change since the deltaLink");

    env.emulator.invalidate_delta_tokens(DEMO_DRIVE_ID).await.unwrap();
    match graph.delta_page(&token, &delta_link).await {
        Err(GraphError::Gone {
            location: Some(location),
        }) => {
            assert!(location.ends_with(&format!("/drives/{DEMO_DRIVE_ID}/root/delta")));
            graph.delta_page(&token, &location).await.unwrap();
        }
        other => panic!("expected 410 with Location, got {other:?}"),
    }

    assert!(matches!(
        graph
            .delta_page(&token, "https://evil.example/v1.0/drives/x/root/delta")
            .await,
        Err(GraphError::Protocol(_))
    ));
}

#[tokio::test]
async fn content_download_url_and_ranged_download() {
    let (env, graph, token) = signed_in(EmulatorConfig::default()).await;
    let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    env.emulator
        .add_file(DEMO_DRIVE_ID, "/Photos", "big.jpg", content.clone())
        .await
        .unwrap();
    let item = env.emulator.item_id(DEMO_DRIVE_ID, "/Photos/big.jpg").unwrap();
    let url = graph.content_download_url(&token, DEMO_DRIVE_ID, &item).await.unwrap();
    assert!(url.contains("/_layouts/15/download.aspx"));

    let head = graph.download(&url, Some((0, 99))).await.unwrap();
    assert!(head.partial);
    assert_eq!(head.bytes, content[..100]);
    assert_eq!(head.total_size, Some(10_000));
    assert_eq!(env.emulator.stats().content_bytes_served, 100);

    let whole = graph.download(&url, None).await.unwrap();
    assert!(!whole.partial);
    assert_eq!(whole.bytes, content);

    match graph.download(&url, Some((20_000, 20_100))).await {
        Err(GraphError::Rejected { status: 416, .. }) => {}
        other => panic!("a range past the end is 416, got {other:?}"),
    }
    assert!(matches!(
        graph.content_download_url(&token, DEMO_DRIVE_ID, "no-such-item").await,
        Err(GraphError::NotFound { .. })
    ));
}

#[tokio::test]
async fn batch_answers_in_request_order() {
    let (_env, graph, token) = signed_in(EmulatorConfig::default()).await;
    let answers = graph
        .batch(
            &token,
            &[
                BatchRequest::new("1", "GET", "/me", None),
                BatchRequest::new("2", "GET", "/subscriptions/unknown", None),
                BatchRequest::new("3", "GET", "/me/drive", None),
            ],
        )
        .await
        .unwrap();
    let statuses: Vec<(&str, u16)> = answers.iter().map(|a| (a.id.as_str(), a.status)).collect();
    assert_eq!(statuses, [("1", 200), ("2", 404), ("3", 200)]);
    assert_eq!(answers[2].body.as_ref().unwrap()["id"], DEMO_DRIVE_ID);
}

#[tokio::test]
async fn retry_after_is_honoured_within_bounds() {
    let (env, graph, token) = signed_in(EmulatorConfig::default()).await;

    // two 429s with Retry-After: 1 are waited out
    env.emulator
        .inject_fault(Fault::Throttle {
            count: 2,
            retry_after_secs: 1,
            route_prefix: Some("/v1.0/me".into()),
        })
        .await
        .unwrap();
    let started = Instant::now();
    graph.me(&token).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2), "Retry-After was honoured");
    assert_eq!(env.emulator.stats().throttled, 2);

    // a Retry-After longer than we wait is handed back at once
    env.emulator
        .inject_fault(Fault::Throttle {
            count: 1,
            retry_after_secs: 120,
            route_prefix: None,
        })
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        graph.me(&token).await.unwrap_err(),
        GraphError::Throttled {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // 503s beyond the retries end as a transient error
    let quick = graph.clone().with_retry(RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(1),
    });
    env.emulator
        .inject_fault(Fault::Fail {
            count: 3,
            retry_after_secs: Some(0),
            route_prefix: None,
        })
        .await
        .unwrap();
    let e = quick.my_drive(&token).await.unwrap_err();
    assert!(matches!(e, GraphError::Transient(_)) && e.is_transient(), "{e:?}");
    quick.my_drive(&token).await.unwrap();
}
