//! A drive's scan records (`DRIVE#<id>` / `SCAN#<start>#<scan id>`) and its file
//! results (`DRIVE#<id>` / `FILE#<item id>`): one partition per drive, told apart by prefix.

use super::core::{from_item, s, to_item};
use super::keys::*;
use super::{FileResult, ScanRecord, Store, StoreError};

impl Store {
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
        self.get_record(drive_pk(drive_id), &file_sk(item_id)).await
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
}
