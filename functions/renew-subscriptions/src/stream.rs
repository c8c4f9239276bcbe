//! The table's stream: subscriptions that gained an `action` are acted on as stored now (the
//! image may be older than what happened since); a record that fails transiently is reported
//! as a batch item failure, so Lambda retries only that record.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt as _;
use graphwatch_shared::store::{Subscription, SubscriptionAction};

use crate::operations::{Op, Transient};
use crate::run::Run;
use crate::summary::Outcome;
use crate::{App, CONCURRENCY};

impl App {
    /// Stream records: acts on subscriptions that gained an `action`; reports the records
    /// that failed transiently.
    pub(crate) async fn stream(&self, event: StreamEvent, deadline: SystemTime) -> DynamoDbEventResponse {
        let started = Instant::now();
        let run = Run::new(deadline);
        let failures = Mutex::new(Vec::new());
        futures::stream::iter(event.records)
            .for_each_concurrent(CONCURRENCY, |record| {
                let (run, failures) = (&run, &failures);
                async move {
                    let sequence = record.change.sequence_number.clone();
                    match self.stream_record(run, record).await {
                        Ok(outcome) => run.summary.count(outcome),
                        Err(Transient(e)) => {
                            tracing::warn!(sequence_number = ?sequence, error = %e, "stream record failed; retried");
                            run.summary.count(Outcome::Deferred);
                            if let Some(sequence) = sequence {
                                failures.lock().unwrap_or_else(|p| p.into_inner()).push(sequence);
                            }
                        }
                    }
                }
            })
            .await;
        run.audit.flush(&self.store).await;
        run.summary.finish("stream", started);
        let mut response = DynamoDbEventResponse::default();
        for sequence in failures.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            response.batch_item_failures.push(failure);
        }
        response
    }

    async fn stream_record(&self, run: &Run, record: EventRecord) -> Result<Outcome, Transient> {
        if record.change.new_image.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let image: Subscription = match serde_dynamo::from_item(record.change.new_image) {
            Ok(s) => s,
            Err(e) => {
                // not a subscription the filter should have passed: retrying cannot help
                tracing::error!(event_id = %record.event_id, error = %e, "stream record is not a subscription");
                return Ok(Outcome::Skipped);
            }
        };
        if image.action.is_none() {
            return Ok(Outcome::Skipped);
        }
        // act on the stored record: the image may be older than what happened since
        let Some(current) = self.store.get_subscription(&image.id).await? else {
            return Ok(Outcome::Skipped);
        };
        let Some(action) = current.action.filter(|_| current.active) else {
            return Ok(Outcome::Skipped);
        };
        if !run.has_budget() {
            return Err(Transient("invocation time nearly used up".into()));
        }
        let id = current.id.clone();
        let op = match action {
            SubscriptionAction::Renew => Op::Renew,
            SubscriptionAction::Reauthorize => Op::Reauthorize,
            SubscriptionAction::Recreate => Op::Recreate,
        };
        let outcome = self.act(run, current, op).await?;
        if outcome == Outcome::Skipped {
            // lost to a concurrent writer, or the 10-minute rule: is the action still waiting?
            let still = self.store.get_subscription(&id).await?;
            if still.is_some_and(|s| s.active && s.action == Some(action)) {
                return Err(Transient(format!("{action:?} still pending")));
            }
        }
        Ok(outcome)
    }
}
