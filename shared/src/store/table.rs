//! The table's definition, in one place: tests, `graphwatch dev` and `template.yaml`
//! (checked by `tests/template_and_events.rs`) all describe the same table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::keys::*;
use super::StoreError;

/// The shape of the table: key attributes, indexes, TTL attribute.
#[derive(Debug)]
pub struct TableSpec {
    /// Partition and sort key of the table.
    pub key: (&'static str, &'static str),
    /// Global secondary indexes: name, partition key, sort key (all project every attribute).
    pub indexes: [(&'static str, &'static str, &'static str); 2],
    /// TTL attribute.
    pub ttl: &'static str,
}

/// The graphwatch table.
pub const TABLE_SPEC: TableSpec = TableSpec {
    key: (PK, SK),
    indexes: [(GSI1, GSI1PK, GSI1SK), (GSI2, GSI2PK, GSI2SK)],
    ttl: TTL,
};

fn key_schema(pk: &str, sk: &str) -> Vec<KeySchemaElement> {
    [(pk, KeyType::Hash), (sk, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type are set")
        })
        .collect()
}

/// Creates the table as [`TABLE_SPEC`] describes it, on-demand, with a
/// `NEW_AND_OLD_IMAGES` stream and TTL enabled.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let spec = &TABLE_SPEC;
    let mut attributes = vec![spec.key.0, spec.key.1];
    for (_, pk, sk) in spec.indexes {
        attributes.extend([pk, sk]);
    }
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(spec.key.0, spec.key.1)))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream_enabled is set"),
        );
    for a in attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        );
    }
    for (index, pk, sk) in spec.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .set_key_schema(Some(key_schema(pk, sk)))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("name and key schema are set"),
        );
    }
    req.send().await?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(spec.ttl)
                .build()
                .expect("enabled and attribute are set"),
        )
        .send()
        .await?;
    Ok(())
}
