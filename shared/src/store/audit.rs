//! The audit trail (`AUDIT#<UTC day>` / `<time>#<random>`, kept a year): one partition per
//! day, so a day's events read back in order with one query.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use time::OffsetDateTime;

use super::core::{from_item, n, s, to_item, until_processed};
use super::keys::*;
use super::{AuditEvent, Item, Store, StoreError};

/// Items written per `BatchWriteItem` call (DynamoDB's limit).
const BATCH_WRITE: usize = 25;

fn audit_item(event: &AuditEvent) -> Result<Item, StoreError> {
    to_item(
        event,
        [
            (PK, s(audit_pk(event.at))),
            (SK, s(audit_sk(event.at))),
            (TTL, n(event.at.unix_timestamp() + AUDIT_TTL_SECONDS)),
        ],
    )
}

impl Store {
    /// Appends an audit event (kept for a year).
    pub async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.put(audit_item(event)?).await
    }

    /// Appends many audit events in `BatchWriteItem` calls of 25 (unprocessed items are
    /// retried), for functions that audit in bulk (a renewal run).
    pub async fn audit_many(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(BATCH_WRITE) {
            let mut writes = Vec::with_capacity(chunk.len());
            for event in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(audit_item(event)?))
                    .build()
                    .expect("the item is set");
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let request = HashMap::from([(self.table.clone(), writes)]);
            until_processed(
                request,
                |r| r.values().all(Vec::is_empty),
                move |req| async move {
                    let out = self
                        .client
                        .batch_write_item()
                        .set_request_items(Some(req))
                        .send()
                        .await?;
                    Ok((Vec::new(), out.unprocessed_items))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The audit events of the UTC day containing `day`, oldest first.
    pub async fn audit_events(&self, day: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError> {
        let items = self.partition(audit_pk(day), None).await?;
        items.into_iter().map(from_item).collect()
    }
}
