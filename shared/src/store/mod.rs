//! The single-table DynamoDB repository.
//!
//! One table with `pk`/`sk`, two overloaded global secondary indexes (`gsi1`, `gsi2`),
//! a stream (`NEW_AND_OLD_IMAGES`) and TTL on `ttl`. Domain records are plain serde structs
//! ([`model`]); this module adds the keys and index attributes, and offers one function per
//! access pattern. Conditional writes that lose (state replayed, lease held, duplicate
//! notification, stale version) are ordinary results (`Option` / `bool`), not errors.
//! The layout is documented in `docs/architecture.md`.

mod keys;
pub mod model;
mod table;

use std::collections::HashMap;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use keys::*;
pub use keys::{shard_of, RENEWAL_SHARDS};
pub use model::*;
pub use table::{create_table, TableSpec, TABLE_SPEC};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

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

fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// `true` when a conditional write went through, `false` when its condition failed.
fn won<T, E, R>(r: Result<T, SdkError<E, R>>) -> Conditional<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Condition: the item exists.
const EXISTS: &str = "attribute_exists(pk)";

/// Result of a write whose condition may lose.
type Conditional<T> = Result<T, StoreError>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ts(t: OffsetDateTime) -> AttributeValue {
    s(rfc3339(t))
}

fn to_item<T: Serialize>(
    record: &T,
    extra: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)?;
    item.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    Ok(serde_dynamo::from_item(item)?)
}

/// The repository over one table.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// A repository over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
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

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    async fn delete(&self, pk: String, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .send()
            .await?;
        Ok(())
    }

    /// Runs a query to the end, following `LastEvaluatedKey` past 1 MB pages.
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = query.into_paginator().send();
        while let Some(page) = pages.next().await {
            items.extend(page?.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// Every item of partition `pk` (whose sort key starts with `sk_prefix`, when given).
    async fn partition(&self, pk: String, sk_prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
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
    async fn index_partition(&self, index: &str, pk_attribute: &str, pk: String) -> Result<Vec<Item>, StoreError> {
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

    // ---- connections -------------------------------------------------------------------

    /// Creates or updates a connection; returns `true` when it already existed (a reconnect).
    pub async fn upsert_connection(&self, c: &Connection) -> Result<bool, StoreError> {
        let item = to_item(
            c,
            [
                (PK, s(connection_pk(&c.tenant_id, &c.user_oid))),
                (SK, s(CONNECTION_SK)),
            ],
        )?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values(ReturnValue::AllOld)
            .send()
            .await?;
        Ok(out.attributes.is_some())
    }

    /// A connection by tenant and user object id.
    pub async fn get_connection(&self, tenant_id: &str, user_oid: &str) -> Result<Option<Connection>, StoreError> {
        self.get(connection_pk(tenant_id, user_oid), CONNECTION_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Stores a rotated refresh token (already sealed); `false` when the connection is gone.
    pub async fn store_refresh_token(
        &self,
        tenant_id: &str,
        user_oid: &str,
        sealed: &str,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.update_if(
            (connection_pk(tenant_id, user_oid), CONNECTION_SK),
            EXISTS,
            "SET sealed_refresh_token = :t, updated_at = :now",
            &[],
            vec![(":t", s(sealed)), (":now", ts(now))],
        )
        .await
    }

    /// Sets a connection's status; `false` when the connection is gone.
    pub async fn set_connection_status(
        &self,
        tenant_id: &str,
        user_oid: &str,
        status: ConnectionStatus,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.update_if(
            (connection_pk(tenant_id, user_oid), CONNECTION_SK),
            EXISTS,
            "SET #status = :s, updated_at = :now",
            &[("#status", "status")],
            vec![(":s", serde_dynamo::to_attribute_value(status)?), (":now", ts(now))],
        )
        .await
    }

    /// Everything filed under a connection (its subscriptions and drives), via `gsi2`.
    pub async fn connection_items(&self, tenant_id: &str, user_oid: &str) -> Result<ConnectionItems, StoreError> {
        let items = self
            .index_partition(GSI2, GSI2PK, connection_pk(tenant_id, user_oid))
            .await?;
        let mut out = ConnectionItems::default();
        for item in items {
            let sk = item
                .get(GSI2SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk.starts_with(SUBSCRIPTION_PREFIX) {
                out.subscriptions.push(from_item(item)?);
            } else if sk.starts_with(DRIVE_PREFIX) {
                out.drives.push(from_item(item)?);
            }
        }
        Ok(out)
    }

    // ---- oauth state -------------------------------------------------------------------

    /// Stores a new sign-in state; its TTL is `expires_at`.
    pub async fn put_oauth_state(&self, st: &OAuthState) -> Result<(), StoreError> {
        let item = to_item(
            st,
            [(PK, s(state_pk(&st.state))), (SK, s(STATE_SK)), (TTL, n(st.expires_at))],
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(())
    }

    /// Consumes a sign-in state exactly once: `None` when it is unknown, expired or already used.
    pub async fn consume_oauth_state(&self, state: &str, now: OffsetDateTime) -> Conditional<Option<OAuthState>> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(state_pk(state)))
            .key(SK, s(STATE_SK))
            .condition_expression("attribute_exists(pk) AND #ttl > :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if condition_failed(&e) => {
                // an expired state still present is removed too, so it cannot linger
                self.delete(state_pk(state), STATE_SK).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    // ---- notification dedupe -----------------------------------------------------------

    /// Records a notification's dedupe key for one day; `false` when it was already seen.
    pub async fn remember_notification(&self, key: &str, now: OffsetDateTime) -> Conditional<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(seen_pk(key)))
            .item(SK, s(SEEN_SK))
            .item(TTL, n(now.unix_timestamp() + SEEN_TTL_SECONDS))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await;
        won(r)
    }

    /// Forgets a dedupe key, so a delivery whose effects failed is accepted when Graph retries it.
    pub async fn forget_notification(&self, key: &str) -> Result<(), StoreError> {
        self.delete(seen_pk(key), SEEN_SK).await
    }

    /// Keeps a change notification of a non-drive resource (mail, events, contacts, Teams)
    /// for consumers, for a week. The record is keyed by its dedupe key and written only if
    /// absent, so it is its own dedupe mark: `false` means a redelivery of a kept one.
    pub async fn put_notification_record(&self, record: &NotificationRecord) -> Conditional<bool> {
        let item = to_item(
            record,
            [
                (PK, s(notification_pk(&record.subscription_id))),
                (SK, s(record.dedupe_key.clone())),
                (TTL, n(record.received_at.unix_timestamp() + NOTIFICATION_TTL_SECONDS)),
            ],
        )?;
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(record.received_at.unix_timestamp()))
            .send()
            .await;
        won(r)
    }

    /// A subscription's kept notifications, oldest first.
    pub async fn notification_records(&self, subscription_id: &str) -> Result<Vec<NotificationRecord>, StoreError> {
        let items = self.partition(notification_pk(subscription_id), None).await?;
        let mut records: Vec<NotificationRecord> = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        records.sort_by(|a, b| {
            a.received_at
                .cmp(&b.received_at)
                .then_with(|| a.dedupe_key.cmp(&b.dedupe_key))
        });
        Ok(records)
    }

    // ---- subscriptions -----------------------------------------------------------------

    fn subscription_item(sub: &Subscription, now: OffsetDateTime) -> Result<Item, StoreError> {
        let mut extra = vec![
            (PK, s(subscription_pk(&sub.id))),
            (SK, s(SUBSCRIPTION_SK)),
            (GSI2PK, s(connection_pk(&sub.tenant_id, &sub.user_oid))),
            (GSI2SK, s(subscription_pk(&sub.id))),
        ];
        if sub.active {
            extra.push((GSI1PK, s(renewal_shard_pk(shard_of(&sub.id)))));
            extra.push((GSI1SK, s(renewal_sk(sub.expiration, &sub.id))));
        } else {
            extra.push((TTL, n(now.unix_timestamp() + RETIRED_TTL_SECONDS)));
        }
        to_item(sub, extra)
    }

    /// Writes a subscription as a whole; active ones carry the renewal index keys, inactive ones a TTL.
    pub async fn put_subscription(&self, sub: &Subscription, now: OffsetDateTime) -> Result<(), StoreError> {
        self.put(Self::subscription_item(sub, now)?).await
    }

    /// A subscription by id.
    pub async fn get_subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.get(subscription_pk(id), SUBSCRIPTION_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Many subscriptions by id in batched reads; unknown ids are absent from the map.
    pub async fn get_subscriptions(&self, ids: &[&str]) -> Result<HashMap<String, Subscription>, StoreError> {
        let mut unique: Vec<&str> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut found = HashMap::new();
        for chunk in unique.chunks(100) {
            let keys = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (PK.to_owned(), s(subscription_pk(id))),
                        (SK.to_owned(), s(SUBSCRIPTION_SK)),
                    ])
                })
                .collect();
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            )]));
            let mut attempt = 0u32;
            while let Some(req) = request.take().filter(|r| !r.is_empty()) {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
                }
                attempt += 1;
                let out = self.client.batch_get_item().set_request_items(Some(req)).send().await?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let sub: Subscription = from_item(item)?;
                    found.insert(sub.id.clone(), sub);
                }
                request = out.unprocessed_keys;
            }
        }
        Ok(found)
    }

    /// Active subscriptions expiring before `before`, across every renewal shard, soonest first.
    pub async fn subscriptions_expiring_before(&self, before: OffsetDateTime) -> Result<Vec<Subscription>, StoreError> {
        self.expiring(before, None).await
    }

    /// Like [`Store::subscriptions_expiring_before`], without the subscriptions a renewal run
    /// holds a claim on ([`Store::claim_subscription`]) or that back off after a failure
    /// ([`Store::record_subscription_failure`]) at `now`.
    pub async fn subscriptions_due(
        &self,
        before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.expiring(before, Some(now)).await
    }

    async fn expiring(
        &self,
        before: OffsetDateTime,
        due_at: Option<OffsetDateTime>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let bound = index_time(before);
        let mut all = Vec::new();
        for shard in 0..RENEWAL_SHARDS {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :p AND gsi1sk < :t")
                .expression_attribute_values(":p", s(renewal_shard_pk(shard)))
                .expression_attribute_values(":t", s(bound.clone()));
            if let Some(now) = due_at {
                query = query
                    .filter_expression(
                        "(attribute_not_exists(claimed_until) OR claimed_until < :now) \
                         AND (attribute_not_exists(retry_at) OR retry_at <= :now)",
                    )
                    .expression_attribute_values(":now", n(now.unix_timestamp()));
            }
            for item in self.query_all(query).await? {
                all.push(from_item::<Subscription>(item)?);
            }
        }
        all.sort_by(|a, b| a.expiration.cmp(&b.expiration).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Replaces a subscription only if its stored `version` is still `expected_version`
    /// (optimistic concurrency: two renewal runs never both win). The written record's
    /// version must be `expected_version + 1`. `false` when another writer got there first.
    /// A claim or failure backoff the item carried is dropped.
    pub async fn replace_subscription_if_version(
        &self,
        sub: &Subscription,
        expected_version: u64,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.replace_if_version(sub, expected_version, now, None).await
    }

    /// Records a failed operation on a subscription as [`Store::replace_subscription_if_version`]
    /// does (the record carries the failure count and error), and keeps it out of
    /// [`Store::subscriptions_due`] until `retry_at`.
    pub async fn record_subscription_failure(
        &self,
        sub: &Subscription,
        expected_version: u64,
        retry_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.replace_if_version(sub, expected_version, now, Some(retry_at))
            .await
    }

    async fn replace_if_version(
        &self,
        sub: &Subscription,
        expected_version: u64,
        now: OffsetDateTime,
        retry_at: Option<OffsetDateTime>,
    ) -> Conditional<bool> {
        assert_eq!(
            sub.version,
            expected_version + 1,
            "the new record must carry the next version"
        );
        let mut item = Self::subscription_item(sub, now)?;
        if let Some(at) = retry_at {
            item.insert("retry_at".into(), n(at.unix_timestamp()));
        }
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await;
        won(r)
    }

    /// Claims a subscription for `owner` until `until` before a Graph call, so that a
    /// concurrent run does not make the same call: succeeds only if the stored `version` is
    /// still `expected_version` and no unexpired claim is held; bumps the version. Returns
    /// the claimed record (finish with [`Store::replace_subscription_if_version`] on its
    /// version), or `None` when another writer got there first. An abandoned claim expires.
    pub async fn claim_subscription(
        &self,
        id: &str,
        expected_version: u64,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Conditional<Option<Subscription>> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(subscription_pk(id)))
            .key(SK, s(SUBSCRIPTION_SK))
            .condition_expression("version = :v AND (attribute_not_exists(claimed_until) OR claimed_until < :now)")
            .update_expression("SET claimed_by = :owner, claimed_until = :until ADD version :one")
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.unix_timestamp()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Asks the renewal function to act on a subscription; `false` when it is unknown.
    pub async fn set_subscription_action(
        &self,
        id: &str,
        action: SubscriptionAction,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.update_if(
            (subscription_pk(id), SUBSCRIPTION_SK),
            EXISTS,
            "SET #action = :a, action_requested_at = :now ADD version :one",
            &[("#action", "action")],
            vec![
                (":a", serde_dynamo::to_attribute_value(action)?),
                (":now", ts(now)),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Stamps the time of a subscription's latest notification.
    pub async fn stamp_subscription_notification(&self, id: &str, now: OffsetDateTime) -> Conditional<bool> {
        self.update_if(
            (subscription_pk(id), SUBSCRIPTION_SK),
            EXISTS,
            "SET last_notification_at = :now",
            &[],
            vec![(":now", ts(now))],
        )
        .await
    }

    // ---- drives ------------------------------------------------------------------------

    /// Registers (or re-registers) a connection's drive, active and pending, with no
    /// deltaLink so the next pass is a full scan.
    pub async fn register_drive(
        &self,
        drive_id: &str,
        tenant_id: &str,
        user_oid: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(drive_pk(drive_id)))
            .key(SK, s(DRIVE_SK))
            .update_expression(
                "SET drive_id = :d, tenant_id = :t, user_oid = :o, active = :true, pending = :true, \
                 notification_count = if_not_exists(notification_count, :zero), \
                 created_at = if_not_exists(created_at, :now), updated_at = :now, \
                 gsi1pk = :all, gsi1sk = :d, gsi2pk = :conn, gsi2sk = :dk \
                 REMOVE delta_link, checkpoint",
            )
            .expression_attribute_values(":d", s(drive_id))
            .expression_attribute_values(":t", s(tenant_id))
            .expression_attribute_values(":o", s(user_oid))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":all", s(ACTIVE_DRIVES_PK))
            .expression_attribute_values(":conn", s(connection_pk(tenant_id, user_oid)))
            .expression_attribute_values(":dk", s(drive_pk(drive_id)))
            .send()
            .await?;
        Ok(())
    }

    /// A drive by id.
    pub async fn get_drive(&self, drive_id: &str) -> Result<Option<Drive>, StoreError> {
        self.get(drive_pk(drive_id), DRIVE_SK).await?.map(from_item).transpose()
    }

    /// Every active drive (for the nightly safety pass), via `gsi1`.
    pub async fn active_drives(&self) -> Result<Vec<Drive>, StoreError> {
        let items = self.index_partition(GSI1, GSI1PK, ACTIVE_DRIVES_PK.to_owned()).await?;
        items.into_iter().map(from_item).collect()
    }

    /// Marks a drive as having work, in one atomic update that also adds `notifications`
    /// to its count and stamps their time. Only a change from not-pending to pending wakes
    /// the scanner (the stream filter looks for that transition), so a burst of
    /// notifications makes one mark however many arrive.
    pub async fn mark_drive_pending(
        &self,
        drive_id: &str,
        notifications: u64,
        now: OffsetDateTime,
    ) -> Conditional<PendingMark> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(drive_pk(drive_id)))
            .key(SK, s(DRIVE_SK))
            .condition_expression(EXISTS)
            .update_expression("SET pending = :true, last_notification_at = :now ADD notification_count :count")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":count", n(notifications))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                let was_pending = out
                    .attributes
                    .and_then(|a| a.get("pending").and_then(|v| v.as_bool().ok()).copied())
                    .unwrap_or(false);
                Ok(if was_pending {
                    PendingMark::AlreadyPending
                } else {
                    PendingMark::Marked
                })
            }
            Err(e) if condition_failed(&e) => Ok(PendingMark::UnknownDrive),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets a drive's deltaLink and marks it pending, so the next pass is a full rescan.
    pub async fn request_full_rescan(&self, drive_id: &str) -> Conditional<bool> {
        self.update_if(
            (drive_pk(drive_id), DRIVE_SK),
            EXISTS,
            "SET pending = :true REMOVE delta_link, checkpoint",
            &[],
            vec![(":true", AttributeValue::Bool(true))],
        )
        .await
    }

    /// Takes the drive's lease for `owner` until `until` and clears `pending` in the same
    /// write, so notifications arriving during the pass start another one. `None` when
    /// another owner holds an unexpired lease (or the drive is unknown).
    pub async fn acquire_drive_lease(
        &self,
        drive_id: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Conditional<Option<Drive>> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(drive_pk(drive_id)))
            .key(SK, s(DRIVE_SK))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner)",
            )
            .update_expression("SET lease_owner = :owner, lease_until = :until, pending = :false")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":until", n(until.unix_timestamp()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves the pass's position (the delta `nextLink` to resume from and the scan record
    /// it belongs to) and extends the lease; `false` when `owner` no longer holds it.
    pub async fn checkpoint_drive(
        &self,
        drive_id: &str,
        owner: &str,
        checkpoint: &str,
        scan_id: &str,
        lease_until: OffsetDateTime,
    ) -> Conditional<bool> {
        self.owner_update(
            drive_id,
            owner,
            "SET checkpoint = :c, current_scan_id = :scan, lease_until = :until",
            vec![
                (":c", s(checkpoint)),
                (":scan", s(scan_id)),
                (":until", n(lease_until.unix_timestamp())),
            ],
        )
        .await
    }

    /// Ends a completed pass: keeps the final deltaLink, clears the checkpoint and the
    /// lease; `false` when `owner` no longer holds the lease.
    pub async fn complete_drive_pass(
        &self,
        drive_id: &str,
        owner: &str,
        delta_link: &str,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.owner_update(
            drive_id,
            owner,
            "SET delta_link = :d, last_pass_at = :now REMOVE checkpoint, current_scan_id, lease_owner, lease_until",
            vec![(":d", s(delta_link)), (":now", ts(now))],
        )
        .await
    }

    /// Gives the lease up, keeping the checkpoint; with `more_work` the drive is marked
    /// pending again so the stream continues the pass in a new invocation.
    pub async fn release_drive_lease(&self, drive_id: &str, owner: &str, more_work: bool) -> Conditional<bool> {
        let expr = if more_work {
            "SET pending = :true REMOVE lease_owner, lease_until"
        } else {
            "REMOVE lease_owner, lease_until"
        };
        let values = if more_work {
            vec![(":true", AttributeValue::Bool(true))]
        } else {
            vec![]
        };
        self.owner_update(drive_id, owner, expr, values).await
    }

    async fn owner_update(
        &self,
        drive_id: &str,
        owner: &str,
        update: &str,
        mut values: Vec<(&str, AttributeValue)>,
    ) -> Conditional<bool> {
        values.push((":owner", s(owner)));
        self.update_if(
            (drive_pk(drive_id), DRIVE_SK),
            "lease_owner = :owner",
            update,
            &[],
            values,
        )
        .await
    }

    /// One conditional update of the item at `key`; `false` when the condition failed.
    async fn update_if(
        &self,
        key: (String, &str),
        condition: &str,
        update: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Conditional<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.0))
            .key(SK, s(key.1))
            .condition_expression(condition)
            .update_expression(update);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        won(req.send().await)
    }

    // ---- scan records and file results -------------------------------------------------

    /// Writes a scan record as a whole (created at the start, rewritten as the pass progresses).
    pub async fn put_scan(&self, scan: &ScanRecord) -> Result<(), StoreError> {
        let item = to_item(
            scan,
            [
                (PK, s(drive_pk(&scan.drive_id))),
                (SK, s(scan_sk(scan.started_at, &scan.scan_id))),
            ],
        )?;
        self.put(item).await
    }

    /// A drive's scan records, newest first, at most `limit`.
    pub async fn latest_scans(&self, drive_id: &str, limit: i32) -> Result<Vec<ScanRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
            .expression_attribute_values(":p", s(drive_pk(drive_id)))
            .expression_attribute_values(":prefix", s(SCAN_PREFIX))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    /// Writes one file's result.
    pub async fn put_file_result(&self, r: &FileResult) -> Result<(), StoreError> {
        let item = to_item(r, [(PK, s(drive_pk(&r.drive_id))), (SK, s(file_sk(&r.item_id)))])?;
        self.put(item).await
    }

    /// One file's stored result.
    pub async fn get_file_result(&self, drive_id: &str, item_id: &str) -> Result<Option<FileResult>, StoreError> {
        self.get(drive_pk(drive_id), &file_sk(item_id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Removes one file's result (the file was deleted).
    pub async fn delete_file_result(&self, drive_id: &str, item_id: &str) -> Result<(), StoreError> {
        self.delete(drive_pk(drive_id), &file_sk(item_id)).await
    }

    /// Every file result of a drive, following pagination to the end.
    pub async fn file_results(&self, drive_id: &str) -> Result<Vec<FileResult>, StoreError> {
        let items = self.partition(drive_pk(drive_id), Some(FILE_PREFIX)).await?;
        items.into_iter().map(from_item).collect()
    }

    // ---- audit -------------------------------------------------------------------------

    /// Appends an audit event (kept for a year).
    pub async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let item = to_item(
            event,
            [
                (PK, s(audit_pk(event.at))),
                (SK, s(audit_sk(event.at))),
                (TTL, n(event.at.unix_timestamp() + AUDIT_TTL_SECONDS)),
            ],
        )?;
        self.put(item).await
    }

    /// Appends many audit events in `BatchWriteItem` calls of 25 (unprocessed items are
    /// retried), for functions that audit in bulk (a renewal run).
    pub async fn audit_many(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(25) {
            let mut writes = Vec::with_capacity(chunk.len());
            for event in chunk {
                let item = to_item(
                    event,
                    [
                        (PK, s(audit_pk(event.at))),
                        (SK, s(audit_sk(event.at))),
                        (TTL, n(event.at.unix_timestamp() + AUDIT_TTL_SECONDS)),
                    ],
                )?;
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("the item is set");
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let mut request = Some(HashMap::from([(self.table.clone(), writes)]));
            let mut attempt = 0u32;
            while let Some(req) = request.take().filter(|r| r.values().any(|w| !w.is_empty())) {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(req))
                    .send()
                    .await?;
                request = out.unprocessed_items;
            }
        }
        Ok(())
    }

    /// The audit events of the UTC day containing `day`, oldest first.
    pub async fn audit_events(&self, day: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError> {
        let items = self.partition(audit_pk(day), None).await?;
        items.into_iter().map(from_item).collect()
    }
}
