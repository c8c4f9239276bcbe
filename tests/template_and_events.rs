//! `template.yaml`, the workspace and `events/` agree: every function of the template is a
//! binary of the workspace, and every sample event is accepted by the function the template
//! sends it to (by route, schedule input or stream filter).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use graphwatch::dev::{DevOptions, Stack};
use graphwatch::template::{pattern_matches, Template};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> Template {
    Template::load(&root().join("template.yaml")).unwrap()
}

#[test]
fn every_template_function_is_a_binary_of_the_workspace() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let binaries: BTreeSet<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let functions = template().functions;
    assert_eq!(functions.len(), 4);
    for f in functions {
        assert!(
            binaries.contains(f.binary.as_str()),
            "{} builds binary {}, which the workspace lacks",
            f.logical_id,
            f.binary
        );
    }
}

/// The function the template sends `event` to.
fn target(template: &Template, name: &str, event: &Value) -> String {
    if let Some(key) = event["routeKey"].as_str() {
        let route = template.routes.iter().find(|r| r.key() == key);
        return route
            .unwrap_or_else(|| panic!("{name}: no route {key}"))
            .function
            .clone();
    }
    if let Some(records) = event["Records"].as_array() {
        let mappings: Vec<_> = template
            .stream_mappings
            .iter()
            .filter(|m| records.iter().all(|r| m.patterns.iter().any(|p| pattern_matches(p, r))))
            .collect();
        assert_eq!(
            mappings.len(),
            1,
            "{name}: its records must pass exactly one mapping's filters"
        );
        return mappings[0].function.clone();
    }
    let scheduled = event["detail-type"] == "Scheduled Event";
    let owners: Vec<_> = template
        .functions
        .iter()
        .filter(|f| {
            f.schedules.iter().any(|s| match &s.input {
                Some(input) => input == event,
                None => scheduled,
            })
        })
        .collect();
    assert_eq!(owners.len(), 1, "{name}: exactly one schedule must send this event");
    owners[0].logical_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_accepted_by_its_function() {
    let template = template();
    let state = tempfile::tempdir().unwrap();
    let stack = Stack::start(&DevOptions {
        port: 0,
        seed: None,
        table: graphwatch_testkit::unique_name("events"),
        state_dir: state.path().to_owned(),
        no_timers: true,
    })
    .await
    .unwrap();
    let mut covered = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let function = target(&template, &name, &event);
        let is_stream = event.get("Records").is_some();
        let answer = stack
            .invoke(&function, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {function} failed: {e}"));
        if let Some(status) = answer["statusCode"].as_u64() {
            // Sample requests carry states and subscriptions this table does not know, so 4xx
            // answers about those are right; a malformed-event answer or a 5xx is not.
            let body = answer["body"].as_str().unwrap_or_default();
            assert!(status < 500, "{name}: {function} answered {status}: {body}");
            for code in ["invalid_payload", "invalid_request", "not_found", "method_not_allowed"] {
                assert!(!body.contains(code), "{name}: {function} answered {code}: {body}");
            }
        } else if is_stream {
            assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{name}: {answer}");
        }
        covered.insert(function);
    }
    let all: BTreeSet<_> = template.functions.iter().map(|f| f.logical_id.clone()).collect();
    assert_eq!(covered, all, "every function has a sample event");
    stack.stop().await;
}

/// `(name, type)` pairs of a template key schema or attribute list.
fn pairs(list: &serde_norway::Value, name: &str, kind: &str) -> BTreeSet<(String, String)> {
    list.as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[name].as_str().unwrap().to_owned(),
                e[kind].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_table_the_code_creates_is_the_template_table() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let t = &doc["Resources"]["Table"]["Properties"];

    let dynamodb = graphwatch_testkit::dynamodb();
    let name = graphwatch_testkit::unique_name("spec");
    graphwatch_shared::store::create_table(&dynamodb, &name).await.unwrap();
    let table = dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();

    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> BTreeSet<(String, String)> {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
            .collect()
    };
    assert_eq!(
        keys(table.key_schema()),
        pairs(&t["KeySchema"], "AttributeName", "KeyType")
    );
    let attributes: BTreeSet<_> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
        .collect();
    assert_eq!(
        attributes,
        pairs(&t["AttributeDefinitions"], "AttributeName", "AttributeType")
    );
    let created: BTreeSet<_> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let projection = i
                .projection()
                .and_then(|p| p.projection_type())
                .unwrap()
                .as_str()
                .to_owned();
            (i.index_name().unwrap().to_owned(), keys(i.key_schema()), projection)
        })
        .collect();
    let declared: BTreeSet<_> = t["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().to_owned(),
                pairs(&i["KeySchema"], "AttributeName", "KeyType"),
                i["Projection"]["ProjectionType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(created, declared);
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str()),
        t["StreamSpecification"]["StreamViewType"].as_str()
    );
    let ttl = dynamodb.describe_time_to_live().table_name(&name).send().await.unwrap();
    assert_eq!(
        ttl.time_to_live_description().and_then(|d| d.attribute_name()),
        t["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
}
