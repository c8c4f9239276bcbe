//! What every entity module of the store stands on: the error type and how SDK errors map to
//! it, the item codec, plain reads and writes, and the conditional writes.
//!
//! A conditional write that loses (state replayed, lease held, duplicate notification, stale
//! version) is an ordinary outcome, not an error: the helpers here turn DynamoDB's
//! `ConditionalCheckFailedException` into `None` / `false`, once, for every access pattern.

use std::fmt::Debug;
use std::future::Future;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use super::keys::{rfc3339, PK, SK};
use super::{Item, Store};

/// A failed DynamoDB call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached, timed out or throttled; retrying may succeed.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// DynamoDB refused the request (validation, missing table, permissions).
    #[error("DynamoDB rejected the request: {0}")]
    Rejected(String),
    /// A stored item does not have the expected shape.
    #[error("stored item is malformed: {0}")]
    Malformed(#[from] serde_dynamo::Error),
}

impl StoreError {
    /// Whether a retry of the same work may succeed (answer 5xx / report a batch item failure).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

const TRANSIENT_CODES: [&str; 6] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
];

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    fn from(e: SdkError<E, R>) -> Self {
        let transient = match &e {
            SdkError::ServiceError(se) => se.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c)),
            SdkError::ConstructionFailure(_) => false,
            _ => true,
        };
        let text = DisplayErrorContext(e).to_string();
        if transient {
            Self::Unavailable(text)
        } else {
            Self::Rejected(text)
        }
    }
}

/// Result of a write whose condition may lose.
pub(super) type Conditional<T> = Result<T, StoreError>;

/// The output of a conditional call when it went through, `None` when its condition failed.
pub(super) fn applied<T, E, R>(r: Result<T, SdkError<E, R>>) -> Conditional<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match r {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Condition: the item exists.
pub(super) const EXISTS: &str = "attribute_exists(pk)";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A timestamp as the records' serde attributes write it (RFC 3339 text).
pub(super) fn ts(t: OffsetDateTime) -> AttributeValue {
    s(rfc3339(t))
}

/// `record` as an item, with the key and index attributes of `extra`.
pub(super) fn to_item<T: Serialize>(
    record: &T,
    extra: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)?;
    item.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(item)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    Ok(serde_dynamo::from_item(item)?)
}

/// One conditional update of the item at `key`: `update` applies only where `condition` holds.
pub(super) struct Update<'a> {
    /// Partition and sort key.
    pub key: (String, &'a str),
    /// Condition expression.
    pub condition: &'a str,
    /// Update expression.
    pub update: &'a str,
    /// Expression attribute names (`#name`, attribute).
    pub names: &'a [(&'a str, &'a str)],
    /// Expression attribute values (`:value`, value).
    pub values: Vec<(&'a str, AttributeValue)>,
}

/// Runs a batch call until DynamoDB reports nothing unprocessed (it leaves items unprocessed
/// when throttled), waiting longer before each further call. `send` makes one call and returns
/// the items it read and the request left; the items of every call are returned.
pub(super) async fn until_processed<Req, Fut>(
    first: Req,
    is_empty: impl Fn(&Req) -> bool,
    send: impl Fn(Req) -> Fut,
) -> Result<Vec<Item>, StoreError>
where
    Fut: Future<Output = Result<(Vec<Item>, Option<Req>), StoreError>>,
{
    let mut items = Vec::new();
    let mut request = Some(first);
    let mut attempt = 0u32;
    while let Some(req) = request.take().filter(|r| !is_empty(r)) {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
        }
        attempt += 1;
        let (read, left) = send(req).await?;
        items.extend(read);
        request = left;
    }
    Ok(items)
}

impl Store {
    /// The item at `pk`/`sk` (a consistent read).
    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    /// The record at `pk`/`sk`, decoded.
    pub(super) async fn get_record<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(from_item).transpose()
    }

    /// Writes `item` whole, unconditionally.
    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    /// Deletes the item at `pk`/`sk` (nothing happens when it is absent).
    pub(super) async fn delete(&self, pk: String, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .send()
            .await?;
        Ok(())
    }

    /// Writes `item` whole where `condition` holds; `false` when it did not.
    pub(super) async fn put_if(
        &self,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Conditional<bool> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(applied(req.send().await)?.is_some())
    }

    /// Applies `u`; `false` when its condition failed.
    pub(super) async fn update_if(&self, u: Update<'_>) -> Conditional<bool> {
        Ok(self.update_returning(u, ReturnValue::None).await?.is_some())
    }

    /// Applies `u` and returns the attributes `returning` asks for (empty when there are
    /// none); `None` when its condition failed.
    pub(super) async fn update_returning(&self, u: Update<'_>, returning: ReturnValue) -> Conditional<Option<Item>> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(u.key.0))
            .key(SK, s(u.key.1))
            .condition_expression(u.condition)
            .update_expression(u.update)
            .return_values(returning);
        for (k, v) in u.names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in u.values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(applied(req.send().await)?.map(|out| out.attributes.unwrap_or_default()))
    }

    /// Applies `u` and returns the record as it is afterwards; `None` when its condition failed.
    pub(super) async fn update_record<T: DeserializeOwned>(&self, u: Update<'_>) -> Conditional<Option<T>> {
        self.update_returning(u, ReturnValue::AllNew)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Runs a query to the end, following `LastEvaluatedKey` past 1 MB pages.
    pub(super) async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = query.into_paginator().send();
        while let Some(page) = pages.next().await {
            items.extend(page?.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// Every item of partition `pk` (whose sort key starts with `sk_prefix`, when given).
    pub(super) async fn partition(&self, pk: String, sk_prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":p", s(pk));
        query = match sk_prefix {
            Some(prefix) => query
                .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => query.key_condition_expression("pk = :p"),
        };
        self.query_all(query).await
    }

    /// Every item of an index partition.
    pub(super) async fn index_partition(
        &self,
        index: &str,
        pk_attribute: &str,
        pk: String,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{pk_attribute} = :p"))
                .expression_attribute_values(":p", s(pk)),
        )
        .await
    }
}
