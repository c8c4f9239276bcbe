//! Graph subscriptions (`SUB#<id>` / `SUB`). An active one carries the sparse renewal index
//! keys (`gsi1`: `SUBEXP#<shard>` / expiry), a retired one a TTL; both are filed under their
//! connection (`gsi2`). Writes after a read are optimistic: they hold only while the stored
//! `version` is the one read, so two renewal runs never both win.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use time::OffsetDateTime;

use super::core::{from_item, n, s, to_item, ts, until_processed, Conditional, Update, EXISTS};
use super::keys::*;
use super::{Item, Store, StoreError, Subscription, SubscriptionAction};

/// Keys read per `BatchGetItem` call (DynamoDB's limit).
const BATCH_GET: usize = 100;

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

impl Store {
    /// Writes a subscription as a whole; active ones carry the renewal index keys, inactive ones a TTL.
    pub async fn put_subscription(&self, sub: &Subscription, now: OffsetDateTime) -> Result<(), StoreError> {
        self.put(subscription_item(sub, now)?).await
    }

    /// A subscription by id.
    pub async fn get_subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.get_record(subscription_pk(id), SUBSCRIPTION_SK).await
    }

    /// Many subscriptions by id in batched reads; unknown ids are absent from the map.
    pub async fn get_subscriptions(&self, ids: &[&str]) -> Result<HashMap<String, Subscription>, StoreError> {
        let mut unique: Vec<&str> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut found = HashMap::new();
        for chunk in unique.chunks(BATCH_GET) {
            let keys = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (PK.to_owned(), s(subscription_pk(id))),
                        (SK.to_owned(), s(SUBSCRIPTION_SK)),
                    ])
                })
                .collect();
            let request = HashMap::from([(
                self.table.clone(),
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            )]);
            let items = until_processed(request, HashMap::is_empty, move |req| async move {
                let out = self.client.batch_get_item().set_request_items(Some(req)).send().await?;
                let read = out.responses.and_then(|mut r| r.remove(&self.table));
                Ok((read.unwrap_or_default(), out.unprocessed_keys))
            })
            .await?;
            for item in items {
                let sub: Subscription = from_item(item)?;
                found.insert(sub.id.clone(), sub);
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
        let mut item = subscription_item(sub, now)?;
        if let Some(at) = retry_at {
            item.insert("retry_at".into(), n(at.unix_timestamp()));
        }
        self.put_if(item, "version = :v", &[], vec![(":v", n(expected_version))])
            .await
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
        self.update_record(Update {
            key: (subscription_pk(id), SUBSCRIPTION_SK),
            condition: "version = :v AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            update: "SET claimed_by = :owner, claimed_until = :until ADD version :one",
            names: &[],
            values: vec![
                (":v", n(expected_version)),
                (":now", n(now.unix_timestamp())),
                (":owner", s(owner)),
                (":until", n(until.unix_timestamp())),
                (":one", n(1)),
            ],
        })
        .await
    }

    /// Asks the renewal function to act on a subscription; `false` when it is unknown.
    pub async fn set_subscription_action(
        &self,
        id: &str,
        action: SubscriptionAction,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.update_if(Update {
            key: (subscription_pk(id), SUBSCRIPTION_SK),
            condition: EXISTS,
            update: "SET #action = :a, action_requested_at = :now ADD version :one",
            names: &[("#action", "action")],
            values: vec![
                (":a", serde_dynamo::to_attribute_value(action)?),
                (":now", ts(now)),
                (":one", n(1)),
            ],
        })
        .await
    }

    /// Stamps the time of a subscription's latest notification.
    pub async fn stamp_subscription_notification(&self, id: &str, now: OffsetDateTime) -> Conditional<bool> {
        self.update_if(Update {
            key: (subscription_pk(id), SUBSCRIPTION_SK),
            condition: EXISTS,
            update: "SET last_notification_at = :now",
            names: &[],
            values: vec![(":now", ts(now))],
        })
        .await
    }
}
