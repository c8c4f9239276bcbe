//! Structured JSON logs for the Lambda functions.
//!
//! One JSON object per line on stdout (CloudWatch keeps them as they are), with the level,
//! target, fields and the current span. `lambda_runtime` opens a span per invocation that
//! carries the `requestId`; every line logged inside it also carries that `requestId` at the
//! top level, so CloudWatch Logs Insights finds an invocation's lines with
//! `filter requestId = "…"`, however deep the span the line was logged in.
//!
//! The level comes from Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`: `TRACE`,
//! `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`; Lambda sets it when the log format is JSON),
//! else from `RUST_LOG` (any `EnvFilter` directives), else `info`. Under a Lambda level,
//! `RUST_LOG`'s per-target directives still apply.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Target of the span `lambda_runtime` opens per invocation; always enabled (it is an
/// `info` span), so that a function logging only warnings still names the request.
const INVOCATION_SPAN_TARGET: &str = "lambda_runtime::layers::trace";
/// The invocation span's field that names the request.
const REQUEST_ID: &str = "requestId";

/// Installs the JSON log subscriber on stdout; call once at the top of `main`.
pub fn init() {
    subscriber(std::io::stdout, |name| std::env::var(name).ok()).init();
}

/// The subscriber [`init`] installs, writing to `writer`, configured through `env`.
fn subscriber<W>(writer: W, env: impl Fn(&str) -> Option<String>) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let format = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .without_time();
    tracing_subscriber::registry()
        .with(filter(&env))
        .with(RequestIdLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(TopLevelRequestId(format))
                .with_writer(writer),
        )
}

/// `AWS_LAMBDA_LOG_LEVEL` first, then `RUST_LOG`, then `info`. With a Lambda level, `RUST_LOG`'s
/// bare level gives way but its per-target directives (`graphwatch_shared::graph=debug`) still
/// apply, so one module can be looked into without changing the function's level. Directives
/// that do not parse are passed over; the invocation span stays enabled whatever the level.
fn filter(env: impl Fn(&str) -> Option<String>) -> EnvFilter {
    let lambda_level = env("AWS_LAMBDA_LOG_LEVEL").and_then(|level| lambda_level(&level));
    let rust_log = env("RUST_LOG").unwrap_or_default();
    let rust_log = rust_log.split(',').map(str::trim).filter(|d| !d.is_empty());
    let directives: Vec<&str> = match lambda_level {
        Some(level) => std::iter::once(level)
            .chain(rust_log.filter(|d| d.parse::<LevelFilter>().is_err()))
            .collect(),
        None => rust_log.collect(),
    };
    let fallback = lambda_level.unwrap_or("info");
    let directives = if directives.is_empty() {
        fallback.to_owned()
    } else {
        directives.join(",")
    };
    EnvFilter::try_new(directives)
        .unwrap_or_else(|_| EnvFilter::new(fallback))
        .add_directive(
            format!("{INVOCATION_SPAN_TARGET}=info")
                .parse()
                .expect("a valid directive"),
        )
}

/// The `tracing` level of a Lambda log level (`TRACE`…`FATAL`); `None` for another value.
fn lambda_level(level: &str) -> Option<&'static str> {
    Some(match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        // tracing has no level above error
        "ERROR" | "FATAL" => "error",
        _ => return None,
    })
}

/// The request id of an invocation span, kept in the span's extensions.
struct RequestId(String);

/// Keeps the `requestId` field of every span that has one in the span's extensions.
struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }
}

/// Finds the `requestId` among a span's fields.
struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == REQUEST_ID {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == REQUEST_ID {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The JSON event format with the nearest enclosing span's `requestId` as the line's first field.
struct TopLevelRequestId(Format<Json, ()>);

impl<S, N> FormatEvent<S, N> for TopLevelRequestId
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let request_id = ctx
            .event_scope()
            .into_iter()
            .flatten()
            .find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone()));
        let Some(request_id) = request_id else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // the JSON format writes one object per event: open it with the request id
        let fields = line.strip_prefix('{').ok_or(fmt::Error)?;
        let request_id = serde_json::to_string(&request_id).map_err(|_| fmt::Error)?;
        write!(writer, "{{\"{REQUEST_ID}\":{request_id},{fields}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `log` under the subscriber configured by `vars`; returns the JSON lines written.
    fn logged(vars: &[(&str, &str)], log: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let sink = captured.clone();
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let subscriber = subscriber(move || sink.clone(), |name| vars.get(name).cloned());
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}")))
            .collect()
    }

    /// Logs one line per level inside an invocation span as `lambda_runtime` opens it, the
    /// error line inside a nested span of the handler's own.
    fn invocation() {
        let mut ctx = lambda_http::Context::default();
        ctx.request_id = "req-1".into();
        let _invocation = lambda_http::lambda_runtime::layers::trace::request_span(&ctx).entered();
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!(answer = 42, "i");
        tracing::warn!("w");
        let _handler = tracing::warn_span!("handler", drive = "d1").entered();
        tracing::error!("e");
    }

    fn messages(lines: &[Value]) -> Vec<&str> {
        lines.iter().map(|l| l["fields"]["message"].as_str().unwrap()).collect()
    }

    #[test]
    fn every_line_of_an_invocation_carries_the_request_id_at_the_top_level() {
        let lines = logged(&[], invocation);
        assert_eq!(messages(&lines), ["i", "w", "e"], "info by default");
        for line in &lines {
            assert_eq!(line["requestId"], "req-1", "{line}");
        }
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["answer"], 42);
        assert_eq!(lines[0]["target"], module_path!());
        assert_eq!(
            lines[0]["span"]["requestId"], "req-1",
            "the current span is still there"
        );
        assert_eq!(lines[2]["span"]["name"], "handler", "logged in the nested span");

        let outside = logged(&[], || tracing::info!("at start-up"));
        assert_eq!(messages(&outside), ["at start-up"]);
        assert!(outside[0].get("requestId").is_none(), "no invocation, no request id");
    }

    #[test]
    fn the_lambda_log_level_comes_before_rust_log() {
        let both = logged(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "trace")], invocation);
        assert_eq!(messages(&both), ["w", "e"]);
        assert!(both.iter().all(|l| l["requestId"] == "req-1"), "the span stays enabled");
        let lines = logged(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")], invocation);
        assert_eq!(messages(&lines), ["d", "i", "w", "e"]);
        let lines = logged(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")], invocation);
        assert_eq!(messages(&lines), ["e"]);
        let lines = logged(&[("AWS_LAMBDA_LOG_LEVEL", "TRACE")], invocation);
        assert_eq!(messages(&lines), ["t", "d", "i", "w", "e"]);
    }

    #[test]
    fn rust_log_still_looks_into_one_target_under_a_lambda_level() {
        let vars = [
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
            ("RUST_LOG", "info,graphwatch_shared::telemetry=debug"),
        ];
        assert_eq!(messages(&logged(&vars, invocation)), ["d", "i", "w", "e"]);
        let vars = [
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
            ("RUST_LOG", "info,other_crate=debug"),
        ];
        assert_eq!(messages(&logged(&vars, invocation)), ["e"]);
        let vars = [("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "x=loud")];
        assert_eq!(
            messages(&logged(&vars, invocation)),
            ["w", "e"],
            "a bad RUST_LOG leaves the Lambda level"
        );
    }

    #[test]
    fn rust_log_applies_without_a_lambda_level_and_bad_values_fall_through() {
        let lines = logged(&[("RUST_LOG", "error")], invocation);
        assert_eq!(messages(&lines), ["e"]);
        let lines = logged(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD"), ("RUST_LOG", "warn")], invocation);
        assert_eq!(messages(&lines), ["w", "e"]);
        let lines = logged(&[("RUST_LOG", "info,graphwatch=loud")], invocation);
        assert_eq!(messages(&lines), ["i", "w", "e"]);
    }
}
