//! What the local stack takes from `template.yaml`, so that it runs the functions exactly as
//! deployed: each function's binary, the HTTP API's routes, the schedules with their inputs,
//! and the stream event source mappings with their filter patterns and batch sizes.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use serde_json::Value as Json;
use serde_norway::Value;

/// The parts of `template.yaml` the local stack runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Every `AWS::Serverless::Function`, in template order.
    pub functions: Vec<Function>,
    /// Every `AWS::ApiGatewayV2::Route` with the function behind it.
    pub routes: Vec<Route>,
    /// Every `AWS::Lambda::EventSourceMapping` on the table's stream.
    pub stream_mappings: Vec<StreamMapping>,
}

/// A function of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Logical id, e.g. `PrivacyScanFunction`.
    pub logical_id: String,
    /// Cargo binary built for it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// Its EventBridge schedules.
    pub schedules: Vec<Schedule>,
}

/// An EventBridge schedule of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Event name in the template, e.g. `Nightly`.
    pub name: String,
    /// `rate(...)` or `cron(...)` expression.
    pub expression: String,
    /// The constant input that replaces the event envelope, when set.
    pub input: Option<Json>,
}

/// An HTTP API route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path, e.g. `/oauth/callback`.
    pub path: String,
    /// Logical id of the function serving it.
    pub function: String,
}

impl Route {
    /// The route key as API Gateway writes it, e.g. `GET /connect`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A stream event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMapping {
    /// Logical id of the function invoked.
    pub function: String,
    /// Most records per invocation.
    pub batch_size: usize,
    /// Retries of a failing record before it goes to the on-failure destination.
    pub maximum_retry_attempts: u32,
    /// Filter patterns (a record is delivered when any matches).
    pub patterns: Vec<Json>,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses template text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_norway::from_str(text)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("no Resources"))?;
        let mut template = Template {
            functions: Vec::new(),
            routes: Vec::new(),
            stream_mappings: Vec::new(),
        };
        for (id, resource) in resources {
            let id = id.as_str().ok_or_else(|| anyhow!("a resource id is not a string"))?;
            let props = resource.get("Properties").unwrap_or(&Value::Null);
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => template.functions.push(function(id, resource, props)?),
                Some("AWS::ApiGatewayV2::Route") => template.routes.push(route(resources, id, props)?),
                Some("AWS::Lambda::EventSourceMapping") => template.stream_mappings.push(mapping(id, props)?),
                _ => {}
            }
        }
        Ok(template)
    }

    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}

fn function(id: &str, resource: &Value, props: &Value) -> anyhow::Result<Function> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id}: no Metadata.BuildProperties.Binary"))?;
    let mut schedules = Vec::new();
    if let Some(events) = props.get("Events").and_then(Value::as_mapping) {
        for (name, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("Schedule") {
                continue;
            }
            let p = event.get("Properties").unwrap_or(&Value::Null);
            let input = match p.get("Input").and_then(Value::as_str) {
                Some(text) => Some(serde_json::from_str(text).with_context(|| format!("{id}: Input is not JSON"))?),
                None => None,
            };
            schedules.push(Schedule {
                name: name.as_str().unwrap_or_default().to_owned(),
                expression: p
                    .get("Schedule")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("{id}: a schedule has no expression"))?
                    .to_owned(),
                input,
            });
        }
    }
    Ok(Function {
        logical_id: id.to_owned(),
        binary: binary.to_owned(),
        schedules,
    })
}

/// Resolves `Target: !Sub integrations/${X}` to integration X and its `IntegrationUri: !GetAtt F.Arn`.
fn route(resources: &serde_norway::Mapping, id: &str, props: &Value) -> anyhow::Result<Route> {
    let key = props
        .get("RouteKey")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id}: no RouteKey"))?;
    let (method, path) = key
        .split_once(' ')
        .ok_or_else(|| anyhow!("{id}: RouteKey {key:?} is not 'METHOD /path'"))?;
    let target = props
        .get("Target")
        .map(untagged)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let integration = target
        .strip_prefix("integrations/${")
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| anyhow!("{id}: Target {target:?} is not integrations/${{Integration}}"))?;
    let uri = resources
        .get(integration)
        .and_then(|i| i.get("Properties"))
        .and_then(|p| p.get("IntegrationUri"))
        .map(untagged)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id}: integration {integration} has no IntegrationUri"))?;
    let function = uri
        .strip_suffix(".Arn")
        .ok_or_else(|| anyhow!("{id}: IntegrationUri {uri:?} is not !GetAtt Function.Arn"))?;
    Ok(Route {
        method: method.to_owned(),
        path: path.to_owned(),
        function: function.to_owned(),
    })
}

fn mapping(id: &str, props: &Value) -> anyhow::Result<StreamMapping> {
    let function = props
        .get("FunctionName")
        .map(untagged)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id}: FunctionName is not !Ref Function"))?;
    let number = |name: &str, default: u64| props.get(name).and_then(Value::as_u64).unwrap_or(default);
    let mut patterns = Vec::new();
    for filter in props
        .get("FilterCriteria")
        .and_then(|f| f.get("Filters"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(text) = filter.get("Pattern").and_then(Value::as_str) else {
            bail!("{id}: a filter has no Pattern");
        };
        patterns.push(serde_json::from_str(text).with_context(|| format!("{id}: a Pattern is not JSON"))?);
    }
    Ok(StreamMapping {
        function: function.to_owned(),
        // Lambda's defaults for DynamoDB streams.
        batch_size: number("BatchSize", 100) as usize,
        maximum_retry_attempts: number("MaximumRetryAttempts", 10_000) as u32,
        patterns,
    })
}

/// The value under a CloudFormation short-form tag (`!Ref X` → `X`), or the value itself.
fn untagged(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

/// Whether a stream record (in the JSON shape Lambda delivers) matches a Lambda event filter
/// pattern. Supports what the template uses: nested keys, lists of literal values (ORed,
/// matching a value or any element of an array value) and `{"exists": bool}` on leaves. A key
/// missing from the record only matches `{"exists": false}`.
pub fn pattern_matches(pattern: &Json, record: &Json) -> bool {
    matches(pattern, Some(record))
}

fn matches(pattern: &Json, value: Option<&Json>) -> bool {
    match pattern {
        Json::Object(keys) => keys.iter().all(|(k, p)| matches(p, value.and_then(|v| v.get(k)))),
        Json::Array(rules) => rules
            .iter()
            .any(|rule| match rule.get("exists").and_then(Json::as_bool) {
                Some(exists) => value.is_some() == exists,
                None => value.is_some_and(|v| v == rule || v.as_array().is_some_and(|a| a.contains(rule))),
            }),
        literal => value == Some(literal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap()
    }

    #[test]
    fn reads_functions_routes_schedules_and_mappings_of_the_real_template() {
        let t = template();
        let binaries: Vec<_> = t.functions.iter().map(|f| f.binary.as_str()).collect();
        assert_eq!(
            binaries,
            ["oauth-callback", "graph-webhook", "renew-subscriptions", "privacy-scan"]
        );
        let keys: Vec<_> = t.routes.iter().map(|r| (r.key(), r.function.as_str())).collect();
        assert!(keys.contains(&("GET /connect".into(), "OAuthCallbackFunction")));
        assert!(keys.contains(&("POST /webhooks/lifecycle".into(), "GraphWebhookFunction")));
        let nightly = &t.function("PrivacyScanFunction").unwrap().schedules[0];
        assert_eq!(nightly.input, Some(json!({"task": "nightly"})));
        let scan = t
            .stream_mappings
            .iter()
            .find(|m| m.function == "PrivacyScanFunction")
            .unwrap();
        assert_eq!(
            (scan.batch_size, scan.maximum_retry_attempts, scan.patterns.len()),
            (10, 5, 3)
        );
    }

    #[test]
    fn patterns_match_leaves_lists_and_existence() {
        let p = json!({"dynamodb": {"NewImage": {"pending": {"BOOL": [true]}}, "OldImage": {"pending": {"BOOL": [{"exists": false}]}}}});
        let insert = json!({"dynamodb": {"NewImage": {"pending": {"BOOL": true}}}});
        let stays =
            json!({"dynamodb": {"NewImage": {"pending": {"BOOL": true}}, "OldImage": {"pending": {"BOOL": true}}}});
        let cleared = json!({"dynamodb": {"NewImage": {"pending": {"BOOL": false}}}});
        assert!(pattern_matches(&p, &insert));
        assert!(!pattern_matches(&p, &stays));
        assert!(!pattern_matches(&p, &cleared));
        let any = json!({"tags": ["a", "b"], "sk": {"exists": true}});
        assert!(pattern_matches(
            &json!({"tags": ["a", "b"]}),
            &json!({"tags": ["x", "b"]})
        ));
        assert!(!pattern_matches(&json!({"name": [{"exists": true}]}), &any));
        assert!(pattern_matches(&json!({"sk": [{"exists": true}]}), &any));
    }
}
