use std::sync::Arc;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use service_kit::{
    events::{Envelope, Event},
    outbox::OutboxStore,
};
use uuid::Uuid;

use super::entities::outbox_events;

/// Writes `event` to the outbox inside the caller's transaction.
pub async fn enqueue<C: ConnectionTrait, E: Event>(db: &C, event: &E) -> anyhow::Result<()> {
    let envelope = Envelope::new("/auth", event)?;
    outbox_events::Entity::insert(outbox_events::ActiveModel {
        id: Set(envelope.id),
        event_type: Set(envelope.event_type.clone()),
        envelope: Set(serde_json::to_string(&envelope)?),
        created_at: Set(super::now()),
        published_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The outbox table as the relay sees it.
#[derive(Clone)]
pub struct SeaOrmOutbox {
    db: Arc<DatabaseConnection>,
}

impl SeaOrmOutbox {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db: Arc::new(db) }
    }
}

#[async_trait::async_trait]
impl OutboxStore for SeaOrmOutbox {
    async fn pending(&self, limit: u64) -> anyhow::Result<Vec<Envelope>> {
        let rows = outbox_events::Entity::find()
            .filter(outbox_events::Column::PublishedAt.is_null())
            .order_by_asc(outbox_events::Column::CreatedAt)
            .order_by_asc(outbox_events::Column::Id)
            .limit(limit)
            .all(self.db.as_ref())
            .await?;
        rows.into_iter()
            .map(|row| Ok(serde_json::from_str(&row.envelope)?))
            .collect()
    }

    async fn mark_published(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        outbox_events::Entity::update_many()
            .col_expr(
                outbox_events::Column::PublishedAt,
                Expr::value(super::now()),
            )
            .filter(outbox_events::Column::Id.is_in(ids.iter().copied()))
            .exec(self.db.as_ref())
            .await?;
        Ok(())
    }
}
