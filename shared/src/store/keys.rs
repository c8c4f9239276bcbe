//! Key and index attribute names and formats of the single table.

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL: &str = "ttl";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";

pub const CONNECTION_SK: &str = "CONN";
pub const SUBSCRIPTION_PREFIX: &str = "SUB#";
pub const SUBSCRIPTION_SK: &str = "SUB";
pub const DRIVE_PREFIX: &str = "DRIVE#";
pub const DRIVE_SK: &str = "DRIVE";
pub const STATE_SK: &str = "STATE";
pub const SEEN_SK: &str = "SEEN";
pub const SCAN_PREFIX: &str = "SCAN#";
pub const FILE_PREFIX: &str = "FILE#";
/// `gsi1pk` of every active drive, for the nightly safety pass.
pub const ACTIVE_DRIVES_PK: &str = "DRIVES";

/// Number of shards of the sparse renewal index (`gsi1pk = SUBEXP#<shard>`).
/// Changing it strands existing items: it is part of the data format.
pub const RENEWAL_SHARDS: u8 = 8;

pub const SEEN_TTL_SECONDS: i64 = 24 * 3600;
pub const NOTIFICATION_TTL_SECONDS: i64 = 7 * 24 * 3600;
pub const RETIRED_TTL_SECONDS: i64 = 30 * 24 * 3600;
pub const AUDIT_TTL_SECONDS: i64 = 365 * 24 * 3600;

/// The renewal-index shard of a subscription id (stable: SHA-256 of the id).
pub fn shard_of(subscription_id: &str) -> u8 {
    Sha256::digest(subscription_id.as_bytes())[0] % RENEWAL_SHARDS
}

pub fn connection_pk(tenant_id: &str, user_oid: &str) -> String {
    format!("CONN#{tenant_id}#{user_oid}")
}

pub fn subscription_pk(id: &str) -> String {
    format!("{SUBSCRIPTION_PREFIX}{id}")
}

pub fn renewal_shard_pk(shard: u8) -> String {
    format!("SUBEXP#{shard}")
}

pub fn renewal_sk(expiration: OffsetDateTime, id: &str) -> String {
    format!("{}#{id}", index_time(expiration))
}

pub fn drive_pk(drive_id: &str) -> String {
    format!("{DRIVE_PREFIX}{drive_id}")
}

pub fn state_pk(state: &str) -> String {
    format!("STATE#{state}")
}

pub fn seen_pk(key: &str) -> String {
    format!("SEEN#{key}")
}

pub fn notification_pk(subscription_id: &str) -> String {
    format!("NOTIF#{subscription_id}")
}

pub fn scan_sk(started_at: OffsetDateTime, scan_id: &str) -> String {
    format!("{SCAN_PREFIX}{}#{scan_id}", index_time(started_at))
}

pub fn file_sk(item_id: &str) -> String {
    format!("{FILE_PREFIX}{item_id}")
}

pub fn audit_pk(at: OffsetDateTime) -> String {
    let day = at
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day]"))
        .expect("a date formats");
    format!("AUDIT#{day}")
}

pub fn audit_sk(at: OffsetDateTime) -> String {
    format!("{}#{:016x}", rfc3339_fixed_millis(at), rand::random::<u64>())
}

/// A UTC timestamp with whole seconds and a fixed width, so that index sort keys
/// order by time when compared as strings.
pub fn index_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .expect("a timestamp formats")
}

fn rfc3339_fixed_millis(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a timestamp formats")
}

/// RFC 3339 text, as the records' serde timestamps use.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("a timestamp formats")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn index_time_orders_as_text() {
        let a = index_time(datetime!(2026-11-24 09:05:03.9 UTC));
        let b = index_time(datetime!(2026-11-24 10:00:00 UTC));
        assert_eq!(a, "2026-11-24T09:05:03Z");
        assert!(a < b);
        assert!(
            renewal_sk(datetime!(2026-11-24 09:05:03 UTC), "z") < renewal_sk(datetime!(2026-11-24 09:05:04 UTC), "a")
        );
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("abc"), shard_of("abc"));
        let used: std::collections::HashSet<u8> = (0..200).map(|i| shard_of(&format!("sub-{i}"))).collect();
        assert_eq!(used.len(), RENEWAL_SHARDS as usize);
    }

    #[test]
    fn audit_partition_is_the_utc_day() {
        assert_eq!(audit_pk(datetime!(2026-11-24 23:30 -02:00)), "AUDIT#2026-11-25");
    }
}
