//! The table's stream as Lambda's event source mappings read it: every shard of the DynamoDB
//! Local stream is polled, each record is turned into the JSON Lambda delivers, run through
//! each mapping's filter patterns from `template.yaml`, and handed to the function in batches
//! of the mapping's size. Records a function reports as batch item failures are retried up
//! to the mapping's `MaximumRetryAttempts`, then logged as sent to the dead-letter queue.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::FunctionHandler;
use crate::template::{pattern_matches, StreamMapping};

/// How often the shards are read.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One mapping with its function and its records waiting for a retry.
pub struct Mapping {
    /// The template's definition.
    pub spec: StreamMapping,
    /// The function invoked.
    pub handler: FunctionHandler,
    retries: Vec<(Value, u32)>,
}

impl Mapping {
    /// A mapping invoking `handler`.
    pub fn new(spec: StreamMapping, handler: FunctionHandler) -> Self {
        Self {
            spec,
            handler,
            retries: Vec::new(),
        }
    }
}

/// Reads the stream and feeds the mappings until the task is aborted. Each mapping runs in
/// its own task, as separate event source mappings do, so a long scan does not hold up renewals.
pub async fn run(client: aws_sdk_dynamodbstreams::Client, stream_arn: String, mappings: Vec<Mapping>) {
    let senders: Vec<_> = mappings
        .into_iter()
        .map(|mapping| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(mapping.serve(rx));
            tx
        })
        .collect();
    let mut iterators: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    loop {
        match read(&client, &stream_arn, &mut iterators, &mut finished).await {
            Ok(records) if !records.is_empty() => {
                for tx in &senders {
                    let _ = tx.send(records.clone());
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the table's stream failed; retrying"),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The new records of every shard, oldest first per shard.
async fn read(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    iterators: &mut HashMap<String, String>,
    finished: &mut HashSet<String>,
) -> anyhow::Result<Vec<Value>> {
    let description = client.describe_stream().stream_arn(stream_arn).send().await?;
    for shard in description
        .stream_description
        .and_then(|d| d.shards)
        .unwrap_or_default()
    {
        let Some(id) = shard.shard_id else { continue };
        if iterators.contains_key(&id) || finished.contains(&id) {
            continue;
        }
        let it = client
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(&id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?;
        if let Some(it) = it.shard_iterator {
            iterators.insert(id, it);
        }
    }
    let mut records = Vec::new();
    for (shard, iterator) in iterators.clone() {
        let out = client.get_records().shard_iterator(iterator).send().await?;
        for record in out.records.unwrap_or_default() {
            records.push(lambda_record(record, stream_arn));
        }
        match out.next_shard_iterator {
            Some(next) => {
                iterators.insert(shard, next);
            }
            None => {
                iterators.remove(&shard);
                finished.insert(shard);
            }
        }
    }
    Ok(records)
}

/// A stream record in the shape Lambda delivers it.
fn lambda_record(record: Record, stream_arn: &str) -> Value {
    let image = |i: Option<HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        i.map(|i| serde_json::to_value(serde_dynamo::Item::from(i)).unwrap_or(Value::Null))
    };
    let r = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": r.approximate_creation_date_time.map(|t| t.secs()),
        "Keys": image(r.keys),
        "SequenceNumber": r.sequence_number,
        "SizeBytes": r.size_bytes,
        "StreamViewType": r.stream_view_type.map(|v| v.as_str().to_owned()),
    });
    for (name, value) in [("NewImage", image(r.new_image)), ("OldImage", image(r.old_image))] {
        if let Some(value) = value {
            dynamodb[name] = value;
        }
    }
    json!({
        "eventID": record.event_id,
        "eventName": record.event_name.map(|e| e.as_str().to_owned()),
        "eventVersion": record.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

impl Mapping {
    /// Delivers what the reader sends until it stops; retries wait a poll interval.
    async fn serve(mut self, mut rx: mpsc::UnboundedReceiver<Vec<Value>>) {
        loop {
            let mut records = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => return },
                _ = tokio::time::sleep(POLL_INTERVAL), if !self.retries.is_empty() => Vec::new(),
            };
            while let Ok(more) = rx.try_recv() {
                records.extend(more);
            }
            deliver(&mut self, &records).await;
        }
    }
}

/// Hands the mapping's matching records (and its retries) to the function, batch by batch.
async fn deliver(mapping: &mut Mapping, records: &[Value]) {
    let mut queue: Vec<(Value, u32)> = std::mem::take(&mut mapping.retries);
    queue.extend(
        records
            .iter()
            .filter(|r| mapping.spec.patterns.iter().any(|p| pattern_matches(p, r)))
            .map(|r| (r.clone(), 0)),
    );
    for batch in queue.chunks(mapping.spec.batch_size.max(1)) {
        let event = json!({"Records": batch.iter().map(|(r, _)| r).collect::<Vec<_>>()});
        let failed: HashSet<String> = match (mapping.handler)(event).await {
            Ok(response) => response["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect(),
            Err(e) => {
                tracing::warn!(function = %mapping.spec.function, error = %e, "stream batch failed");
                batch.iter().map(|(r, _)| sequence(r)).collect()
            }
        };
        for (record, attempts) in batch {
            if !failed.contains(&sequence(record)) {
                continue;
            }
            if *attempts >= mapping.spec.maximum_retry_attempts {
                tracing::error!(
                    function = %mapping.spec.function,
                    sequence_number = %sequence(record),
                    "stream record failed after every retry; a deployment sends it to the dead-letter queue"
                );
            } else {
                mapping.retries.push((record.clone(), attempts + 1));
            }
        }
    }
}

fn sequence(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
