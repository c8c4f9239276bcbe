//! Typed settings from the environment, validated once at start-up.
//!
//! A missing or malformed variable is a start-up error that names the variable, so a
//! misconfigured deployment fails its first invocation with a message that says what to fix.

use std::time::Duration;

/// Default delegated scopes asked for at sign-in.
pub const DEFAULT_SCOPES: &str = "openid profile offline_access User.Read Files.Read.All";
/// Public Microsoft Graph v1.0 endpoint.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";
/// Public Microsoft identity platform endpoint.
pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com";

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Numeric limits that operators may tune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest file the scanner downloads (`MAX_FILE_SIZE_BYTES`, default 100 MiB).
    pub max_file_size: u64,
    /// Files fetched and scanned at once (`SCAN_CONCURRENCY`, default 8).
    pub scan_concurrency: usize,
    /// Subscription writes allowed per tenant per 20 s (`SUBSCRIPTION_WRITES_PER_20S`, default 400).
    pub subscription_writes_per_20s: u32,
}

/// Every setting a graphwatch function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table name (`GRAPHWATCH_TABLE`, required).
    pub table_name: String,
    /// Secrets Manager secret id or ARN of the app secret (`GRAPHWATCH_SECRET_ID`, required).
    pub secret_id: String,
    /// Public HTTPS base of the HTTP API, used for redirect and notification URLs (`PUBLIC_BASE_URL`, required).
    pub public_base_url: String,
    /// Microsoft Graph base URL including the version (`GRAPH_BASE_URL`).
    pub graph_base_url: String,
    /// Microsoft identity platform base URL (`LOGIN_BASE_URL`).
    pub login_base_url: String,
    /// Tenant segment of the sign-in URLs: a tenant id, `organizations` or `common` (`AUTH_TENANT`, default `organizations`).
    pub auth_tenant: String,
    /// Delegated scopes asked for at sign-in (`GRAPH_SCOPES`, space separated).
    pub scopes: Vec<String>,
    /// Tenants allowed to connect; empty means any (`ALLOWED_TENANTS`, comma separated).
    pub allowed_tenants: Vec<String>,
    /// How long the app secret is cached in-process (`SECRET_CACHE_TTL_SECONDS`, default 300).
    pub secret_cache_ttl: Duration,
    /// DynamoDB endpoint override, for DynamoDB Local (`GRAPHWATCH_DYNAMODB_ENDPOINT`).
    pub dynamodb_endpoint: Option<String>,
    /// Secrets Manager endpoint override, for moto (`GRAPHWATCH_SECRETSMANAGER_ENDPOINT`).
    pub secretsmanager_endpoint: Option<String>,
    /// Tunable limits.
    pub limits: Limits,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| {
            get(name).ok_or_else(|| ConfigError {
                variable: name,
                problem: "is required but not set".into(),
            })
        };
        let url = |name: &'static str, default: Option<&str>| -> Result<Option<String>, ConfigError> {
            match get(name).or(default.map(str::to_owned)) {
                None => Ok(None),
                Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                    Ok(Some(v.trim_end_matches('/').to_owned()))
                }
                Some(_) => Err(ConfigError {
                    variable: name,
                    problem: "must be an http:// or https:// URL".into(),
                }),
            }
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError {
                    variable: name,
                    problem: format!("must be a positive whole number, got {v:?}"),
                }),
            }
        };
        let list = |name: &str, sep: char| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(sep)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };

        let public_base_url = required("PUBLIC_BASE_URL")?;
        let public_base_url = url("PUBLIC_BASE_URL", Some(&public_base_url))?.unwrap_or_default();
        let mut scopes = list("GRAPH_SCOPES", ' ');
        if scopes.is_empty() {
            scopes = DEFAULT_SCOPES.split(' ').map(str::to_owned).collect();
        }
        Ok(Self {
            table_name: required("GRAPHWATCH_TABLE")?,
            secret_id: required("GRAPHWATCH_SECRET_ID")?,
            public_base_url,
            graph_base_url: url("GRAPH_BASE_URL", Some(DEFAULT_GRAPH_BASE_URL))?.unwrap_or_default(),
            login_base_url: url("LOGIN_BASE_URL", Some(DEFAULT_LOGIN_BASE_URL))?.unwrap_or_default(),
            auth_tenant: get("AUTH_TENANT").unwrap_or_else(|| "organizations".into()),
            scopes,
            allowed_tenants: list("ALLOWED_TENANTS", ','),
            secret_cache_ttl: Duration::from_secs(number("SECRET_CACHE_TTL_SECONDS", 300)?),
            dynamodb_endpoint: url("GRAPHWATCH_DYNAMODB_ENDPOINT", None)?,
            secretsmanager_endpoint: url("GRAPHWATCH_SECRETSMANAGER_ENDPOINT", None)?,
            limits: Limits {
                max_file_size: number("MAX_FILE_SIZE_BYTES", 100 * 1024 * 1024)?,
                scan_concurrency: number("SCAN_CONCURRENCY", 8)? as usize,
                subscription_writes_per_20s: number("SUBSCRIPTION_WRITES_PER_20S", 400)?.try_into().map_err(|_| {
                    ConfigError {
                        variable: "SUBSCRIPTION_WRITES_PER_20S",
                        problem: "is too large".into(),
                    }
                })?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("GRAPHWATCH_TABLE", "graphwatch"),
        ("GRAPHWATCH_SECRET_ID", "graphwatch/app"),
        ("PUBLIC_BASE_URL", "https://api.example.com/"),
    ];

    #[test]
    fn defaults_apply_when_only_required_variables_are_set() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.table_name, "graphwatch");
        assert_eq!(c.public_base_url, "https://api.example.com");
        assert_eq!(c.graph_base_url, DEFAULT_GRAPH_BASE_URL);
        assert_eq!(c.login_base_url, DEFAULT_LOGIN_BASE_URL);
        assert_eq!(c.auth_tenant, "organizations");
        assert_eq!(c.scopes.join(" "), DEFAULT_SCOPES);
        assert!(c.allowed_tenants.is_empty());
        assert_eq!(c.secret_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.limits.max_file_size, 100 * 1024 * 1024);
        assert_eq!(c.limits.scan_concurrency, 8);
        assert_eq!(c.limits.subscription_writes_per_20s, 400);
        assert_eq!(c.dynamodb_endpoint, None);
    }

    #[test]
    fn every_required_variable_is_named_when_missing() {
        for missing in ["GRAPHWATCH_TABLE", "GRAPHWATCH_SECRET_ID", "PUBLIC_BASE_URL"] {
            let vars: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != missing).collect();
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, missing);
            assert!(err.to_string().contains(missing));
        }
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let mut vars = BASE.to_vec();
        vars.push(("SCAN_CONCURRENCY", "many"));
        assert_eq!(config(&vars).unwrap_err().variable, "SCAN_CONCURRENCY");
        let mut vars = BASE.to_vec();
        vars.push(("GRAPH_BASE_URL", "graph.local"));
        assert_eq!(config(&vars).unwrap_err().variable, "GRAPH_BASE_URL");
        let mut vars = BASE.to_vec();
        vars.push(("SECRET_CACHE_TTL_SECONDS", "0"));
        assert_eq!(config(&vars).unwrap_err().variable, "SECRET_CACHE_TTL_SECONDS");
    }

    #[test]
    fn lists_and_overrides_are_parsed() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ALLOWED_TENANTS", " t1 , t2,,"),
            ("GRAPH_SCOPES", "openid  offline_access"),
            ("GRAPHWATCH_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("AUTH_TENANT", "contoso.onmicrosoft.com"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.allowed_tenants, ["t1", "t2"]);
        assert_eq!(c.scopes, ["openid", "offline_access"]);
        assert_eq!(c.dynamodb_endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(c.auth_tenant, "contoso.onmicrosoft.com");
    }
}
