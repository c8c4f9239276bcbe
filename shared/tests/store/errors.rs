//! How DynamoDB failures are classified.

use super::*;

#[tokio::test]
async fn unreachable_dynamodb_is_a_transient_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("l", "l", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "t");
    let err = store.mark_drive_pending("d1", 1, now()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    let missing_table = Store::new(graphwatch_testkit::dynamodb(), "no-such-table");
    let err = missing_table.get_drive("d1").await.unwrap_err();
    assert!(!err.is_transient(), "a missing table is not worth retrying: {err}");
}
