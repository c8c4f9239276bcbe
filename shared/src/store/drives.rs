//! Watched drives (`DRIVE#<id>` / `DRIVE`): registration, the `pending` mark that wakes the
//! scanner through the stream, and the scan lease with its checkpoint. Every write of a pass
//! holds only while its owner still holds the lease, so an invocation whose lease was taken
//! over cannot overwrite its successor's position.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use super::core::{from_item, n, s, ts, Conditional, Update, EXISTS};
use super::keys::*;
use super::{Drive, PendingMark, Store, StoreError};

impl Store {
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
        self.get_record(drive_pk(drive_id), DRIVE_SK).await
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
        let update = Update {
            key: (drive_pk(drive_id), DRIVE_SK),
            condition: EXISTS,
            update: "SET pending = :true, last_notification_at = :now ADD notification_count :count",
            names: &[],
            values: vec![
                (":true", AttributeValue::Bool(true)),
                (":now", ts(now)),
                (":count", n(notifications)),
            ],
        };
        let Some(old) = self.update_returning(update, ReturnValue::UpdatedOld).await? else {
            return Ok(PendingMark::UnknownDrive);
        };
        let was_pending = old.get("pending").and_then(|v| v.as_bool().ok()).copied();
        Ok(if was_pending.unwrap_or(false) {
            PendingMark::AlreadyPending
        } else {
            PendingMark::Marked
        })
    }

    /// Forgets a drive's deltaLink and marks it pending, so the next pass is a full rescan.
    pub async fn request_full_rescan(&self, drive_id: &str) -> Conditional<bool> {
        self.update_if(Update {
            key: (drive_pk(drive_id), DRIVE_SK),
            condition: EXISTS,
            update: "SET pending = :true REMOVE delta_link, checkpoint",
            names: &[],
            values: vec![(":true", AttributeValue::Bool(true))],
        })
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
        self.update_record(Update {
            key: (drive_pk(drive_id), DRIVE_SK),
            condition: "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner)",
            update: "SET lease_owner = :owner, lease_until = :until, pending = :false",
            names: &[],
            values: vec![
                (":owner", s(owner)),
                (":now", n(now.unix_timestamp())),
                (":until", n(until.unix_timestamp())),
                (":false", AttributeValue::Bool(false)),
            ],
        })
        .await
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
        let (update, values) = if more_work {
            (
                "SET pending = :true REMOVE lease_owner, lease_until",
                vec![(":true", AttributeValue::Bool(true))],
            )
        } else {
            ("REMOVE lease_owner, lease_until", vec![])
        };
        self.owner_update(drive_id, owner, update, values).await
    }

    /// An update of the drive that holds only while `owner` holds its lease.
    async fn owner_update(
        &self,
        drive_id: &str,
        owner: &str,
        update: &str,
        mut values: Vec<(&str, AttributeValue)>,
    ) -> Conditional<bool> {
        values.push((":owner", s(owner)));
        self.update_if(Update {
            key: (drive_pk(drive_id), DRIVE_SK),
            condition: "lease_owner = :owner",
            update,
            names: &[],
            values,
        })
        .await
    }
}
