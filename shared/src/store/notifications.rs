//! Change notifications: dedupe marks (`SEEN#<key>` / `SEEN`, a day) that make the webhook
//! act on a delivery once, and the kept notifications of non-drive resources
//! (`NOTIF#<subscription>` / `<dedupe key>`, a week) that consumers read.

use time::OffsetDateTime;

use super::core::{from_item, n, s, to_item, Conditional};
use super::keys::*;
use super::{Item, NotificationRecord, Store, StoreError};

/// Condition: no such item, or one whose TTL has passed but that DynamoDB has not swept yet.
const ABSENT_OR_EXPIRED: &str = "attribute_not_exists(pk) OR #ttl < :now";

impl Store {
    /// Records a notification's dedupe key for one day; `false` when it was already seen.
    pub async fn remember_notification(&self, key: &str, now: OffsetDateTime) -> Conditional<bool> {
        let item = Item::from([
            (PK.to_owned(), s(seen_pk(key))),
            (SK.to_owned(), s(SEEN_SK)),
            (TTL.to_owned(), n(now.unix_timestamp() + SEEN_TTL_SECONDS)),
        ]);
        self.put_if_absent_or_expired(item, now).await
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
        self.put_if_absent_or_expired(item, record.received_at).await
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

    async fn put_if_absent_or_expired(&self, item: Item, now: OffsetDateTime) -> Conditional<bool> {
        self.put_if(
            item,
            ABSENT_OR_EXPIRED,
            &[("#ttl", TTL)],
            vec![(":now", n(now.unix_timestamp()))],
        )
        .await
    }
}
