//! The saga log's record kinds for the retention job: finished sagas (completed or compensated)
//! by the time they finished, each archived with its events, and the log's audit trail.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hrmesh_saga_core::SagaState;
use hrmesh_storage::retention::{Expired, RecordKind, SqlAudit};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::json;

use crate::entities::{saga_events, sagas};

/// Finished sagas, archived with their events. A saga that needs an operator (stuck) or is
/// still running is never archived, however old.
pub struct FinishedSagas(pub DatabaseConnection);

fn finished() -> [&'static str; 2] {
    [
        SagaState::Completed.as_str(),
        SagaState::Compensated.as_str(),
    ]
}

/// The kinds of the saga log's database.
pub fn kinds(db: &DatabaseConnection) -> Vec<Arc<dyn RecordKind>> {
    vec![
        Arc::new(FinishedSagas(db.clone())),
        Arc::new(SqlAudit(db.clone())),
    ]
}

/// The start as stored: its sealed JSON as text, or base64 (version 1's protobuf bytes).
fn input_json(input: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(input) {
        Ok(text) => json!({ "text": text }),
        Err(_) => {
            use base64::Engine as _;
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(input) })
        }
    }
}

#[async_trait::async_trait]
impl RecordKind for FinishedSagas {
    fn name(&self) -> &'static str {
        "sagas"
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let rows = sagas::Entity::find()
            .filter(sagas::Column::State.is_in(finished()))
            .filter(sagas::Column::UpdatedAt.lt(cutoff))
            .order_by_asc(sagas::Column::UpdatedAt)
            .order_by_asc(sagas::Column::Id)
            .limit(limit)
            .all(&self.0)
            .await?;
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut events = saga_events::Entity::find()
            .filter(saga_events::Column::SagaId.is_in(ids))
            .order_by_asc(saga_events::Column::SagaId)
            .order_by_asc(saga_events::Column::Seq)
            .all(&self.0)
            .await?;
        let mut by_saga = std::collections::HashMap::<String, Vec<serde_json::Value>>::new();
        for event in events.drain(..) {
            by_saga
                .entry(event.saga_id.clone())
                .or_default()
                .push(json!({
                    "seq": event.seq,
                    "at": event.at,
                    "event": event.event,
                }));
        }
        Ok(rows
            .into_iter()
            .map(|row| Expired {
                key: row.id.clone(),
                at: row.updated_at,
                record: json!({
                    "id": row.id,
                    "saga_type": row.saga_type,
                    "state": row.state,
                    "employee_id": row.employee_id,
                    "lock_mode": row.lock_mode,
                    "request_id": row.request_id,
                    "log_version": row.log_version,
                    "input": input_json(&row.input),
                    "reason": row.reason,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                    "events": by_saga.remove(&row.id).unwrap_or_default(),
                }),
            })
            .collect())
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let txn = self.0.begin().await?;
        let still: Vec<String> = sagas::Entity::find()
            .select_only()
            .column(sagas::Column::Id)
            .filter(sagas::Column::Id.is_in(keys.iter().cloned()))
            .filter(sagas::Column::State.is_in(finished()))
            .filter(sagas::Column::UpdatedAt.lt(cutoff))
            .into_tuple()
            .all(&txn)
            .await?;
        saga_events::Entity::delete_many()
            .filter(saga_events::Column::SagaId.is_in(still.iter().cloned()))
            .exec(&txn)
            .await?;
        let removed = sagas::Entity::delete_many()
            .filter(sagas::Column::Id.is_in(still))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(removed.rows_affected)
    }
}
