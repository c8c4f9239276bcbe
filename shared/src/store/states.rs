//! Sign-ins in progress (`STATE#<state>` / `STATE`): written by `/connect`, consumed exactly
//! once by the OAuth callback, and swept by TTL when abandoned.

use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::core::{applied, from_item, n, s, to_item, Conditional};
use super::keys::*;
use super::{OAuthState, Store, StoreError};

impl Store {
    /// Stores a new sign-in state; its TTL is `expires_at`.
    pub async fn put_oauth_state(&self, st: &OAuthState) -> Result<(), StoreError> {
        let item = to_item(
            st,
            [(PK, s(state_pk(&st.state))), (SK, s(STATE_SK)), (TTL, n(st.expires_at))],
        )?;
        // a clash of random states is refused as an error, never overwritten
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
        match applied(r)? {
            Some(out) => out.attributes.map(from_item).transpose(),
            None => {
                // an expired state still present is removed too, so it cannot linger
                self.delete(state_pk(state), STATE_SK).await?;
                Ok(None)
            }
        }
    }
}
