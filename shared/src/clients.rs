//! The clients a function builds once at start-up from its [`Config`]: the AWS SDK's DynamoDB
//! and Secrets Manager clients (honouring the local endpoint overrides) wrapped in the [`Store`]
//! and the [`SecretsCache`], and the HTTP client for Graph and the identity platform.
//!
//! Every AWS call is bounded by [`SdkTimeouts`]. The SDK's own defaults bound only the connect
//! (3.1 s) and let a stalled request hang until the Lambda times out; a function that must
//! answer within a budget picks a tighter profile ([`SdkTimeouts::WEBHOOK`]).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

use crate::config::Config;
use crate::secrets::SecretsCache;
use crate::store::Store;

/// The `User-Agent` graphwatch sends to Graph and the identity platform.
pub const USER_AGENT: &str = concat!("graphwatch/", env!("CARGO_PKG_VERSION"));

/// Why a function could not start: the clients its configuration describes cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A configured URL does not parse.
    #[error("identity platform URLs: {0}")]
    Url(#[from] url::ParseError),
}

/// How long an AWS SDK call may take. The SDK's standard retry mode (three attempts) runs
/// inside `operation`, so a call that fails fast is retried and one that hangs is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// One attempt, from sending the request to reading the whole response.
    pub attempt: Duration,
    /// The whole call, every attempt and back-off included.
    pub operation: Duration,
}

impl SdkTimeouts {
    /// For functions without a caller waiting on them (renewal, scanning) and for the OAuth
    /// callback: 1 s connect, 3 s attempt, 10 s per call. A healthy in-region DynamoDB or
    /// Secrets Manager call answers in tens of milliseconds, a 1 MB query page in well under a
    /// second, so 3 s only cuts a stalled attempt; 10 s leaves room for the retries and stays
    /// below the callback's 15 s Lambda timeout, so a stuck call is reported, not killed.
    pub const STANDARD: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(3),
        operation: Duration::from_secs(10),
    };

    /// For graph-webhook, which must answer Graph within 3 s (Graph counts a slower answer as
    /// a failed delivery and eventually drops the subscription): 200 ms connect, 300 ms
    /// attempt, 600 ms per call. A delivery makes up to four rounds of calls one after the
    /// other (the secret for rich notifications, the subscriptions read, the dedupe marks, the
    /// effects), so even when every round runs into its limit the answer (a 503 that Graph
    /// retries) leaves within 2.4 s; a healthy round takes milliseconds, so 300 ms cuts only a
    /// stalled attempt and leaves time for a second one.
    pub const WEBHOOK: Self = Self {
        connect: Duration::from_millis(200),
        attempt: Duration::from_millis(300),
        operation: Duration::from_millis(600),
    };

    fn config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// The AWS SDK clients of a function.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB (DynamoDB Local when `GRAPHWATCH_DYNAMODB_ENDPOINT` is set).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Secrets Manager (moto when `GRAPHWATCH_SECRETSMANAGER_ENDPOINT` is set).
    pub secretsmanager: aws_sdk_secretsmanager::Client,
}

/// Loads the AWS SDK configuration (region and credentials from the environment) and builds
/// the DynamoDB and Secrets Manager clients with `timeouts`, honouring the endpoint overrides.
pub async fn aws(config: &Config, timeouts: SdkTimeouts) -> AwsClients {
    aws_from(&sdk_loader(timeouts).load().await, config)
}

/// The SDK's default configuration chain with `timeouts` set.
fn sdk_loader(timeouts: SdkTimeouts) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.config())
}

/// The clients on a loaded SDK configuration, with the endpoint overrides of `config`.
fn aws_from(sdk: &aws_config::SdkConfig, config: &Config) -> AwsClients {
    let mut ddb = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(endpoint) = &config.dynamodb_endpoint {
        ddb = ddb.endpoint_url(endpoint);
    }
    let mut sm = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(endpoint) = &config.secretsmanager_endpoint {
        sm = sm.endpoint_url(endpoint);
    }
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(sm.build()),
    }
}

/// The table and the app secret as every function reaches them: [`aws`] wrapped in a
/// [`Store`] on `table_name` and a [`SecretsCache`] of `secret_id`.
pub async fn store_and_secrets(config: &Config, timeouts: SdkTimeouts) -> (Store, SecretsCache) {
    let clients = aws(config, timeouts).await;
    (
        Store::new(clients.dynamodb, &config.table_name),
        SecretsCache::new(clients.secretsmanager, &config.secret_id, config.secret_cache_ttl),
    )
}

/// An HTTP client for Graph and the identity platform: graphwatch's `User-Agent`, no
/// redirects followed (download URLs are read from the `302`; tokens never follow a
/// redirect), connect and request timeouts.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The clients as [`aws`] builds them, with a fixed region and credentials instead of
    /// whatever the test machine's environment holds.
    async fn clients(endpoint: &str, timeouts: SdkTimeouts) -> AwsClients {
        let sdk = sdk_loader(timeouts)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("l", "l", None, None, "test"))
            .load()
            .await;
        aws_from(&sdk, &config(endpoint))
    }

    /// A configuration with both AWS endpoints overridden to `endpoint`.
    fn config(endpoint: &str) -> Config {
        let vars = [
            ("GRAPHWATCH_TABLE", "t"),
            ("GRAPHWATCH_SECRET_ID", "s"),
            ("PUBLIC_BASE_URL", "https://api.example.com"),
            ("GRAPHWATCH_DYNAMODB_ENDPOINT", endpoint),
            ("GRAPHWATCH_SECRETSMANAGER_ENDPOINT", endpoint),
        ];
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).unwrap()
    }

    #[test]
    fn the_webhook_profile_fits_graphs_budget() {
        let w = SdkTimeouts::WEBHOOK;
        assert!(w.connect <= w.attempt && w.attempt <= w.operation);
        // four rounds of calls one after the other, each at its limit, still answer within 3 s
        assert!(w.operation * 4 < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn clients_carry_the_timeouts() {
        let clients = clients("http://127.0.0.1:9", SdkTimeouts::WEBHOOK).await;
        for timeouts in [
            clients.dynamodb.config().timeout_config(),
            clients.secretsmanager.config().timeout_config(),
        ] {
            let timeouts = timeouts.expect("timeouts are set");
            assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(200)));
            assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_millis(300)));
            assert_eq!(timeouts.operation_timeout(), Some(Duration::from_millis(600)));
        }
    }

    #[tokio::test]
    async fn stalled_calls_end_at_the_operation_timeout_on_the_overridden_endpoints() {
        // accepts connections and never answers, like a stalled endpoint
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let clients = clients(&endpoint, SdkTimeouts::WEBHOOK).await;
        let started = Instant::now();
        assert!(
            clients.dynamodb.list_tables().send().await.is_err(),
            "a stalled call fails"
        );
        assert!(
            clients.secretsmanager.list_secrets().send().await.is_err(),
            "a stalled call fails"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1000) && took < Duration::from_millis(2500),
            "each call cut near the 600 ms operation timeout, both took {took:?}"
        );
        assert!(
            accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2,
            "both overrides reached"
        );
    }
}
