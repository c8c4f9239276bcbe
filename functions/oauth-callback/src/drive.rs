//! Watching the signed-in user's drive: exactly one active drive-root subscription (the
//! stored one kept while Graph still has it, replaced when Graph lost it, Graph's own
//! adopted on 409, or a new one created), then the drive registered pending so its first
//! full scan runs.

use graphwatch_shared::graph::{self, Drive, GraphError, NewSubscription};
use graphwatch_shared::identity::{AccessToken, IdTokenClaims};
use graphwatch_shared::store::{AuditKind, Subscription};
use graphwatch_shared::subscriptions::{self, CreateOutcome, TenantWrites};
use time::OffsetDateTime;

use crate::failure::Failure;
use crate::App;

/// Change type of drive-root subscriptions (the only one Graph supports for drives).
const DRIVE_CHANGE_TYPE: &str = "updated";

/// What happened to the drive's subscription during a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubscriptionOutcome {
    /// An active subscription existed and Graph still has it.
    Kept,
    /// A new subscription was created.
    Created,
    /// Graph already had one (409): it was taken over.
    Adopted,
}

impl App {
    /// Makes sure the drive has one active drive-root subscription (kept, created, or
    /// adopted) stored with its renewal index, then registers the drive pending.
    pub(crate) async fn watch_drive(
        &self,
        who: &IdTokenClaims,
        drive: &Drive,
        token: &AccessToken,
        now: OffsetDateTime,
    ) -> Result<Subscription, Failure> {
        let (subscription, outcome) = self.drive_subscription(who, drive, token, now).await?;
        if outcome != SubscriptionOutcome::Kept {
            self.store
                .put_subscription(&subscription, now)
                .await
                .map_err(Failure::store)?;
            let detail = match outcome {
                SubscriptionOutcome::Adopted => "adopted the subscription Graph already had",
                _ => "created",
            };
            self.audit(
                AuditKind::SubscriptionCreated,
                subscription.id.clone(),
                format!("{detail}: {} until {}", subscription.resource, subscription.expiration),
                now,
            )
            .await?;
        }
        self.store
            .register_drive(&drive.id, &who.tenant_id, &who.user_oid, now)
            .await
            .map_err(Failure::store)?;
        Ok(subscription)
    }

    /// The drive's subscription: the stored active one if Graph still has it (one Graph
    /// lost is retired), else a new one (or Graph's existing one on 409).
    async fn drive_subscription(
        &self,
        who: &IdTokenClaims,
        drive: &Drive,
        token: &AccessToken,
        now: OffsetDateTime,
    ) -> Result<(Subscription, SubscriptionOutcome), Failure> {
        let base = &self.config.public_base_url;
        let resource = format!("/drives/{}/root", drive.id);
        let request = NewSubscription {
            change_type: DRIVE_CHANGE_TYPE.into(),
            notification_url: format!("{base}/webhooks/graph"),
            lifecycle_notification_url: Some(format!("{base}/webhooks/lifecycle")),
            expiration_date_time: graph::subscription_expiration(&resource, now)
                .expect("drive roots have a known lifetime"),
            resource,
            client_state: subscriptions::random_client_state(),
        };
        let items = self
            .store
            .connection_items(&who.tenant_id, &who.user_oid)
            .await
            .map_err(Failure::store)?;
        let stored = items
            .subscriptions
            .into_iter()
            .find(|s| s.active && s.resource == request.resource && s.notification_url == request.notification_url);
        if let Some(stored) = stored {
            match self.graph.get_subscription(token, &stored.id).await {
                Ok(_) => return Ok((stored, SubscriptionOutcome::Kept)),
                Err(GraphError::NotFound { .. }) => {
                    let retired = Subscription {
                        active: false,
                        version: stored.version + 1,
                        ..stored
                    };
                    self.store
                        .put_subscription(&retired, now)
                        .await
                        .map_err(Failure::store)?;
                    self.audit(
                        AuditKind::SubscriptionRemoved,
                        retired.id.clone(),
                        "Graph no longer had it; replaced at sign-in".into(),
                        now,
                    )
                    .await?;
                }
                Err(e) => return Err(Failure::graph("get_subscription", e)),
            }
        }
        let obtained = subscriptions::create_or_adopt(&self.graph, token, &request, &TenantWrites::unlimited())
            .await
            .map_err(|e| Failure::graph("create_subscription", e))?;
        let outcome = match obtained.outcome {
            CreateOutcome::Created => SubscriptionOutcome::Created,
            CreateOutcome::Adopted => SubscriptionOutcome::Adopted,
        };
        Ok((
            subscriptions::record(
                &obtained,
                &who.tenant_id,
                &who.user_oid,
                &request.resource,
                Some(&drive.id),
            ),
            outcome,
        ))
    }
}
