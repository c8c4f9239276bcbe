//! The table's stream as Lambda's event source mappings read it: every shard of the DynamoDB
//! Local stream is polled, each record is turned into the JSON Lambda delivers, run through
//! each mapping's filter patterns from `template.yaml`, and handed to the function in batches
//! of the mapping's size. Records a function reports as batch item failures are retried up
//! to the mapping's `MaximumRetryAttempts`, then logged as sent to the dead-letter queue.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
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
    let mut reader = Reader {
        client,
        stream_arn,
        shards: HashMap::new(),
        finished: HashSet::new(),
    };
    loop {
        let records = reader.read().await;
        if !records.is_empty() {
            for tx in &senders {
                let _ = tx.send(records.clone());
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The ARN of `table`'s stream.
pub async fn stream_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<String> {
    dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| anyhow::anyhow!("table {table} has no stream"))
}

/// Where the reader is in one shard.
struct ShardPosition {
    /// The iterator for the next `GetRecords`; `None` after it failed, until a new one is taken.
    iterator: Option<String>,
    /// The last record handed on, so that a lost or expired iterator resumes right after it.
    last_sequence: Option<String>,
    /// Set when the shard answered `TrimmedDataAccessException`: the next iterator starts at
    /// the oldest record still kept (records up to `last_sequence` are skipped, not repeated).
    from_oldest: bool,
}

/// The stream's shards and how far each has been read.
struct Reader {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    shards: HashMap<String, ShardPosition>,
    finished: HashSet<String>,
}

impl Reader {
    /// The new records of every open shard, oldest first per shard. A failure on one shard is
    /// logged and retried on the next poll from the last record handed on; what the other
    /// shards returned is still delivered, so no record is lost or repeated.
    async fn read(&mut self) -> Vec<Value> {
        if let Err(e) = self.discover_shards().await {
            tracing::warn!(error = %e, "listing the table's stream shards failed; retrying");
        }
        let mut records = Vec::new();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            if let Err(e) = self.read_shard(&id, &mut records).await {
                tracing::warn!(shard = %id, error = %e, "reading a stream shard failed; retrying");
            }
        }
        records
    }

    /// Starts reading the shards not seen before, every page of `DescribeStream`. As Lambda
    /// does, a child shard is read only once its parent is finished, to keep each item's order.
    async fn discover_shards(&mut self) -> anyhow::Result<()> {
        let mut listed = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
            let description = page.stream_description;
            start = description.as_ref().and_then(|d| d.last_evaluated_shard_id.clone());
            listed.extend(description.and_then(|d| d.shards).unwrap_or_default());
            if start.is_none() {
                break;
            }
        }
        let listed_ids: HashSet<&str> = listed.iter().filter_map(|s| s.shard_id.as_deref()).collect();
        for shard in &listed {
            let Some(id) = shard.shard_id.as_deref() else { continue };
            let parent_pending = shard
                .parent_shard_id
                .as_deref()
                .is_some_and(|p| listed_ids.contains(p) && !self.finished.contains(p));
            if !parent_pending && !self.finished.contains(id) && !self.shards.contains_key(id) {
                tracing::debug!(shard = %id, "reading a new stream shard");
                self.shards.insert(
                    id.to_owned(),
                    ShardPosition {
                        iterator: None,
                        last_sequence: None,
                        from_oldest: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// Appends one shard's new records; takes a new iterator first when the shard has none.
    async fn read_shard(&mut self, id: &str, records: &mut Vec<Value>) -> anyhow::Result<()> {
        let Some(position) = self.shards.get_mut(id) else {
            return Ok(());
        };
        let iterator = match position.iterator.take() {
            Some(iterator) => iterator,
            None => {
                let request = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(id);
                let request = match position.last_sequence.as_ref().filter(|_| !position.from_oldest) {
                    Some(sequence) => request
                        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                        .sequence_number(sequence),
                    None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                match request
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?
                    .shard_iterator
                {
                    Some(iterator) => iterator,
                    None => {
                        self.shards.remove(id);
                        self.finished.insert(id.to_owned());
                        return Ok(());
                    }
                }
            }
        };
        let out = self.client.get_records().shard_iterator(&iterator).send().await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                // A failed call does not consume the iterator: keep it unless it is no longer
                // valid. DynamoDB Local answers a fresh TRIM_HORIZON iterator on a new shard
                // with `TrimmedDataAccessException` now and then; a new iterator then works.
                let service = e.as_service_error();
                position.from_oldest = service.is_some_and(|e| e.is_trimmed_data_access_exception());
                if !position.from_oldest && !service.is_some_and(|e| e.is_expired_iterator_exception()) {
                    position.iterator = Some(iterator);
                }
                return Err(anyhow::anyhow!("{}", DisplayErrorContext(e)));
            }
        };
        position.from_oldest = false;
        for record in out.records.unwrap_or_default() {
            let sequence = record.dynamodb.as_ref().and_then(|r| r.sequence_number.clone());
            if let Some(sequence) = sequence {
                if position
                    .last_sequence
                    .as_ref()
                    .is_some_and(|last| !is_after(&sequence, last))
                {
                    continue;
                }
                position.last_sequence = Some(sequence);
            }
            records.push(lambda_record(record, &self.stream_arn));
        }
        match out.next_shard_iterator {
            Some(next) => position.iterator = Some(next),
            None => {
                tracing::debug!(shard = %id, "stream shard closed and read to its end");
                self.shards.remove(id);
                self.finished.insert(id.to_owned());
            }
        }
        Ok(())
    }
}

/// Whether stream sequence number `a` comes after `b` (both decimal numbers of any length).
fn is_after(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use graphwatch_shared::store::create_table;

    /// The `pk` of every record the reader hands on within a few polls, once `want` have come.
    async fn keys_read(reader: &mut Reader, want: usize) -> Vec<String> {
        let mut keys = Vec::new();
        for _ in 0..40 {
            let records = reader.read().await;
            keys.extend(
                records
                    .iter()
                    .map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str().unwrap().to_owned()),
            );
            if keys.len() >= want {
                // one more poll: nothing may follow
                let extra = reader.read().await;
                assert!(extra.is_empty(), "records repeated: {extra:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        keys
    }

    #[tokio::test]
    async fn a_lost_or_trimmed_iterator_resumes_after_the_last_record_handed_on() {
        let dynamodb = graphwatch_testkit::dynamodb();
        let table = graphwatch_testkit::unique_name("stream-reader");
        create_table(&dynamodb, &table).await.unwrap();
        let stream_arn = stream_arn(&dynamodb, &table).await.unwrap();
        let put = |key: &str| {
            dynamodb
                .put_item()
                .table_name(&table)
                .item("pk", AttributeValue::S(key.to_owned()))
                .item("sk", AttributeValue::S("item".to_owned()))
                .send()
        };
        let mut reader = Reader {
            client: super::super::streams_client(&graphwatch_testkit::local_aws().dynamodb_endpoint),
            stream_arn,
            shards: HashMap::new(),
            finished: HashSet::new(),
        };

        for key in ["a", "b", "c"] {
            put(key).await.unwrap();
        }
        assert_eq!(keys_read(&mut reader, 3).await, ["a", "b", "c"]);

        // as after `ExpiredIteratorException`: a new iterator after the last sequence number
        for position in reader.shards.values_mut() {
            position.iterator = None;
        }
        put("d").await.unwrap();
        assert_eq!(keys_read(&mut reader, 1).await, ["d"]);

        // as after `TrimmedDataAccessException`: from the oldest record, skipping those handed on
        for position in reader.shards.values_mut() {
            position.iterator = None;
            position.from_oldest = true;
        }
        put("e").await.unwrap();
        assert_eq!(keys_read(&mut reader, 1).await, ["e"]);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(is_after("100", "99"));
        assert!(is_after("000000000000000000012", "000000000000000000011"));
        assert!(!is_after("99", "100"));
        assert!(!is_after("42", "42"));
    }
}
