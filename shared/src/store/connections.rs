//! Connected accounts (`CONN#<tenant>#<oid>` / `CONN`): upserted at sign-in, read for their
//! refresh token, and everything filed under one (its subscriptions and drives, via `gsi2`).
//! Writes after a read (a rotated refresh token, a status) hold only while the connection is
//! as it was read: `updated_at` is its version, so no item changes shape.

use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::core::{from_item, s, to_item, ts, Conditional, Update};
use super::keys::*;
use super::{Connection, ConnectionItems, ConnectionStatus, Store, StoreError};

/// Condition: the connection is stored with the `updated_at` it was read with (`:read`). The
/// stored text and [`ts`] are both the records' RFC 3339 serialisation, so an unchanged
/// item compares equal.
const UNCHANGED: &str = "updated_at = :read";

impl Store {
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
        self.get_record(connection_pk(tenant_id, user_oid), CONNECTION_SK).await
    }

    /// Stores a rotated refresh token (already sealed) of the connection `read`; `false` when
    /// the connection is gone or changed since it was read (see [`Store::set_connection_status`]).
    pub async fn store_refresh_token(&self, read: &Connection, sealed: &str, now: OffsetDateTime) -> Conditional<bool> {
        self.update_if(Update {
            key: (connection_pk(&read.tenant_id, &read.user_oid), CONNECTION_SK),
            condition: UNCHANGED,
            update: "SET sealed_refresh_token = :t, updated_at = :now",
            names: &[],
            values: vec![(":t", s(sealed)), (":now", ts(now)), (":read", ts(read.updated_at))],
        })
        .await
    }

    /// Sets the status of the connection `read`; `false` when the connection is gone or
    /// changed since it was read. Every write of a connection stamps `updated_at`, so a
    /// decision taken on an old read (a refresh token refused, a token rotated) never
    /// overwrites a newer sign-in.
    pub async fn set_connection_status(
        &self,
        read: &Connection,
        status: ConnectionStatus,
        now: OffsetDateTime,
    ) -> Conditional<bool> {
        self.update_if(Update {
            key: (connection_pk(&read.tenant_id, &read.user_oid), CONNECTION_SK),
            condition: UNCHANGED,
            update: "SET #status = :s, updated_at = :now",
            names: &[("#status", "status")],
            values: vec![
                (":s", serde_dynamo::to_attribute_value(status)?),
                (":now", ts(now)),
                (":read", ts(read.updated_at)),
            ],
        })
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
}
