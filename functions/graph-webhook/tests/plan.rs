//! The webhook's plan step from JSON fixtures, with no table, emulator or network: each
//! `tests/fixtures/NAME.json` holds a delivery, the subscriptions it names as stored, and the
//! plan expected for them.
//!
//! A fixture is `{"about", "now", "subscriptions", "delivery", "expected"}`:
//! - `subscriptions` give the fields that matter to the case; the others take the values of
//!   [`STORED`], and `client_state` stands for its SHA-256 (the only form ever stored);
//! - `delivery` is the body Graph posts;
//! - `expected` is the plan as it serialises (`dedupe_marks`, `effects`, `counts`), with
//!   `counts` listing only what is not zero and `"#dedupe:N"` standing for the dedupe key of
//!   the delivery's notification N.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use graph_webhook::plan::{self, Plan};
use graph_webhook::Outcome;
use graphwatch_shared::notify::{client_state_sha256, NotificationBatch};
use graphwatch_shared::store::Subscription;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What a fixture's subscriptions hold unless they say otherwise.
const STORED: &str = r#"{
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "user_oid": "3c5b8f2a-1d9e-4b7c-8a6f-2e4d1c9b7a05",
    "change_type": "updated",
    "notification_url": "https://api.example/webhooks/graph",
    "lifecycle_notification_url": "https://api.example/webhooks/lifecycle",
    "expiration": "2026-12-20T00:00:00Z",
    "active": true,
    "version": 1
}"#;

/// One test per fixture file; [`every_fixture_is_checked`] keeps the list and the folder equal.
macro_rules! fixtures {
    ($($name:ident),* $(,)?) => {
        const FIXTURES: &[&str] = &[$(stringify!($name)),*];
        $(#[test]
        fn $name() {
            check(stringify!($name));
        })*
    };
}

fixtures! {
    accepted_drive_change,
    drive_changes_coalesced,
    unknown_subscription,
    client_state_mismatch,
    tenant_mismatch,
    rejection_flood,
    lifecycle_reauthorization_required,
    lifecycle_subscription_removed,
    lifecycle_missed,
    lifecycle_unknown,
    non_drive_record,
    duplicates_within_delivery,
    stamp_interval,
    mixed_delivery,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Plans the fixture's delivery and compares the plan with the one it expects.
fn check(name: &str) {
    let path = fixtures_dir().join(format!("{name}.json"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let now = OffsetDateTime::parse(fixture["now"].as_str().expect("now"), &Rfc3339).unwrap();
    let subscriptions: HashMap<String, Subscription> = fixture["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .map(|fields| {
            let sub = stored(fields);
            (sub.id.clone(), sub)
        })
        .collect();
    let delivery: NotificationBatch = serde_json::from_value(fixture["delivery"].clone()).unwrap();

    let plan = plan::plan(&delivery, &subscriptions, now);
    assert_eq!(plan.now, now);
    let (planned, expected) = (
        serde_json::to_value(&plan).unwrap(),
        expected(&fixture["expected"], &delivery),
    );
    assert!(
        planned == expected,
        "{name}: {}\nplanned:\n{}\nexpected:\n{}",
        fixture["about"],
        pretty(&planned),
        pretty(&expected)
    );
    assert_consistent(&plan);
}

/// A fixture subscription as the table would return it.
fn stored(fields: &Value) -> Subscription {
    let mut sub: Value = serde_json::from_str(STORED).unwrap();
    for (field, value) in fields.as_object().expect("a subscription is an object") {
        match (field.as_str(), value.as_str()) {
            ("client_state", Some(state)) => sub["client_state_sha256"] = json!(client_state_sha256(state)),
            _ => sub[field] = value.clone(),
        }
    }
    serde_json::from_value(sub).unwrap()
}

/// The fixture's expected plan with its shorthands written out.
fn expected(expected: &Value, delivery: &NotificationBatch) -> Value {
    let mut counts = serde_json::to_value(Outcome::default()).unwrap();
    for (field, value) in expected["counts"].as_object().expect("counts") {
        assert!(counts.get(field).is_some(), "no count named {field}");
        counts[field] = value.clone();
    }
    json!({
        "dedupe_marks": dedupe_keys(&expected["dedupe_marks"], delivery),
        "effects": dedupe_keys(&expected["effects"], delivery),
        "counts": counts,
    })
}

/// `value` with every `"#dedupe:N"` replaced by the dedupe key of notification N.
fn dedupe_keys(value: &Value, delivery: &NotificationBatch) -> Value {
    match value {
        Value::String(s) => match s.strip_prefix("#dedupe:") {
            Some(n) => {
                let n: usize = n.parse().expect("#dedupe:N");
                json!(delivery.value[n].dedupe_key().expect("notification N has a dedupe key"))
            }
            None => value.clone(),
        },
        Value::Array(items) => items.iter().map(|v| dedupe_keys(v, delivery)).collect(),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| (k.clone(), dedupe_keys(v, delivery)))
            .collect(),
        _ => value.clone(),
    }
}

/// What every plan holds: the marks its effects depend on are taken first, each once.
fn assert_consistent(plan: &Plan) {
    let mut marks = plan.dedupe_marks.clone();
    marks.sort();
    marks.dedup();
    assert_eq!(marks.len(), plan.dedupe_marks.len(), "each dedupe mark is taken once");
    for effect in &plan.effects {
        let depends = match effect {
            plan::Effect::MarkDrivePending { marks, .. } | plan::Effect::StampSubscription { marks, .. } => marks,
            _ => continue,
        };
        assert!(depends.iter().all(|m| plan.dedupe_marks.contains(m)), "{effect:?}");
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

#[test]
fn every_fixture_is_checked() {
    let mut found: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<&str> = FIXTURES.to_vec();
    listed.sort();
    assert_eq!(found, listed);
}

/// A validation token that fails refuses the whole delivery: one audit event, every
/// notification counted as rejected, nothing else.
#[test]
fn a_refused_validation_token_refuses_the_batch() {
    let delivery: NotificationBatch = serde_json::from_value(json!({"value": [
        {"subscriptionId": "sub-a", "clientState": "state-a", "tenantId": "t"},
        {"subscriptionId": "sub-b", "clientState": "state-b", "tenantId": "t"},
    ], "validationTokens": ["a.b.c"]}))
    .unwrap();
    let now = OffsetDateTime::UNIX_EPOCH;
    let plan = plan::refused(&delivery, "aud", now);
    assert_eq!(
        serde_json::to_value(&plan).unwrap(),
        json!({
            "dedupe_marks": [],
            "effects": [{
                "effect": "audit_rejection",
                "subject": "BATCH",
                "detail": "validation_token_invalid: check aud, 2 notifications",
            }],
            "counts": Outcome { rejected_validation_token: 2, ..Outcome::default() },
        })
    );
}
