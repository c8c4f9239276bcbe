//! Every store access pattern against DynamoDB Local, failure paths included: one module
//! per entity, as the store itself is laid out.

mod audit;
mod connections;
mod drives;
mod errors;
mod notifications;
mod scans;
mod states;
mod subscriptions;

use graphwatch_shared::store::*;
use time::{Duration, OffsetDateTime};

pub async fn store() -> Store {
    let client = graphwatch_testkit::dynamodb();
    let table = graphwatch_testkit::unique_name("store");
    create_table(&client, &table).await.expect("create table");
    Store::new(client, table)
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

pub fn connection(oid: &str, at: OffsetDateTime) -> Connection {
    Connection {
        tenant_id: "tenant-a".into(),
        user_oid: oid.into(),
        display_name: "Adele Vance".into(),
        username: "adele@contoso.example".into(),
        scopes: vec!["Files.Read.All".into()],
        sealed_refresh_token: "gw1.1.sealed".into(),
        status: ConnectionStatus::Active,
        created_at: at,
        updated_at: at,
    }
}

pub fn subscription(id: &str, expiration: OffsetDateTime) -> Subscription {
    Subscription {
        id: id.into(),
        tenant_id: "tenant-a".into(),
        user_oid: "user-1".into(),
        resource: "/drives/d1/root".into(),
        change_type: "updated".into(),
        drive_id: Some("d1".into()),
        notification_url: "https://api.example/webhooks/graph".into(),
        lifecycle_notification_url: Some("https://api.example/webhooks/lifecycle".into()),
        client_state_sha256: "ab".repeat(32),
        expiration,
        active: true,
        last_notification_at: None,
        last_renewed_at: None,
        last_reauthorized_at: None,
        renewal_failures: 0,
        last_error: None,
        action: None,
        version: 1,
    }
}
