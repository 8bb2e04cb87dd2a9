//! The performance records the retention job archives: every document table, by the time its
//! record was finished ([`Retained`]). A record is archived as stored (its sealed fields stay
//! sealed) and removed with its count in the employee's counters, so the per-employee limits
//! count the records the live store holds.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hrmesh_performance_core::{
    Closure, Feedback, FeedbackRequest, FeedbackRequestStatus, Goal, GoalStatus, Pip, PipStatus,
    Retained, Review, ReviewState,
};
use hrmesh_storage::retention::{Expired, RecordKind};
use hrmesh_storage::vault::{Vault, VaultError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::entities::{
    DocumentTable, closures, employee_counters, feedback, feedback_requests, goals, pips, reviews,
};
use crate::store::{Counter, Private, open};

/// Rows whose retention start is filled in per statement at most.
const BACKFILL_BATCH: u64 = 500;

/// One document table as a record kind.
struct Documents<E> {
    name: &'static str,
    db: DatabaseConnection,
    /// The employee's counter of this kind, if it has one.
    counter: Option<Counter>,
    table: PhantomData<fn() -> E>,
}

fn documents<E: DocumentTable>(
    name: &'static str,
    db: &DatabaseConnection,
    counter: Option<Counter>,
) -> Arc<dyn RecordKind> {
    Arc::new(Documents::<E> {
        name,
        db: db.clone(),
        counter,
        table: PhantomData,
    })
}

/// The kinds of the performance database's records.
pub(crate) fn kinds(db: &DatabaseConnection) -> Vec<Arc<dyn RecordKind>> {
    vec![
        documents::<reviews::Entity>("reviews", db, Some(Counter::Reviews)),
        documents::<goals::Entity>("goals", db, Some(Counter::Goals)),
        documents::<pips::Entity>("pips", db, Some(Counter::Pips)),
        documents::<feedback_requests::Entity>("feedback_requests", db, None),
        documents::<feedback::Entity>("feedback", db, Some(Counter::Feedback)),
        documents::<closures::Entity>("closures", db, None),
    ]
}

#[async_trait::async_trait]
impl<E: DocumentTable> RecordKind for Documents<E> {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let rows: Vec<(String, String, String, Option<DateTime<Utc>>)> = E::find()
            .select_only()
            .column(E::ID)
            .column(E::EMPLOYEE)
            .column(E::DOCUMENT)
            .column(E::RETAINED_FROM)
            .filter(E::RETAINED_FROM.lt(cutoff))
            .order_by_asc(E::RETAINED_FROM)
            .order_by_asc(E::ID)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(id, employee_id, document, at)| {
                Ok(Expired {
                    at: at.unwrap_or(cutoff),
                    record: serde_json::json!({
                        "id": id,
                        "employee_id": employee_id,
                        "document": serde_json::from_str::<serde_json::Value>(&document)?,
                    }),
                    key: id,
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let txn = self.db.begin().await?;
        let still: Vec<(String, String)> = E::find()
            .select_only()
            .column(E::ID)
            .column(E::EMPLOYEE)
            .filter(E::ID.is_in(keys.iter().cloned()))
            .filter(E::RETAINED_FROM.lt(cutoff))
            .into_tuple()
            .all(&txn)
            .await?;
        E::delete_many()
            .filter(E::ID.is_in(still.iter().map(|(id, _)| id.clone())))
            .exec(&txn)
            .await?;
        if let Some(counter) = self.counter {
            let mut per_employee = BTreeMap::<&str, i32>::new();
            for (_, employee) in &still {
                *per_employee.entry(employee.as_str()).or_default() += 1;
            }
            let column = counter.column();
            for (employee, removed) in per_employee {
                employee_counters::Entity::update_many()
                    .col_expr(column, Expr::col(column).sub(removed))
                    .filter(employee_counters::Column::EmployeeId.eq(employee))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(still.len() as u64)
    }
}

fn not_open<S: Copy>(
    all: &[S],
    is_open: impl Fn(S) -> bool,
    name: impl Fn(S) -> &'static str,
) -> Vec<&'static str> {
    all.iter()
        .copied()
        .filter(|state| !is_open(*state))
        .map(name)
        .collect()
}

/// Gives every finished record written before `retained_from` existed its retention start.
/// Only rows without one in a finished state are read, so once done this costs one query per
/// table.
pub(crate) async fn backfill(db: &DatabaseConnection, vault: &Vault) -> Result<(), VaultError> {
    let reviews_done = not_open(&ReviewState::ALL, ReviewState::is_open, ReviewState::as_str);
    let goals_done = not_open(&GoalStatus::ALL, GoalStatus::is_open, GoalStatus::as_str);
    let pips_done = not_open(
        &PipStatus::ALL,
        |s| s == PipStatus::Active,
        PipStatus::as_str,
    );
    let requests_done = not_open(
        &FeedbackRequestStatus::ALL,
        |s| s == FeedbackRequestStatus::Open,
        FeedbackRequestStatus::as_str,
    );
    fill::<reviews::Entity, Review>(db, vault, reviews::Column::State.is_in(reviews_done).into())
        .await?;
    fill::<goals::Entity, Goal>(db, vault, goals::Column::Status.is_in(goals_done).into()).await?;
    fill::<pips::Entity, Pip>(db, vault, pips::Column::Status.is_in(pips_done).into()).await?;
    fill::<feedback_requests::Entity, FeedbackRequest>(
        db,
        vault,
        feedback_requests::Column::Status
            .is_in(requests_done)
            .into(),
    )
    .await?;
    fill::<feedback::Entity, Feedback>(db, vault, Condition::all()).await?;
    fill::<closures::Entity, Closure>(db, vault, Condition::all()).await
}

async fn fill<E: DocumentTable, T: Private + Retained>(
    db: &DatabaseConnection,
    vault: &Vault,
    finished: Condition,
) -> Result<(), VaultError> {
    let store_error = |error: hrmesh_performance_core::PerformanceError| {
        VaultError::Store(Box::new(std::io::Error::other(error.to_string())))
    };
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String)> = E::find()
            .select_only()
            .column(E::ID)
            .column(E::DOCUMENT)
            .filter(E::RETAINED_FROM.is_null())
            .filter(finished.clone())
            .filter(E::ID.gt(after.as_str()))
            .order_by_asc(E::ID)
            .limit(BACKFILL_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = last.clone();
        for (id, document) in rows {
            let record: T = open(vault, db, &document).await.map_err(store_error)?;
            if let Some(start) = record.retention_start() {
                E::update_many()
                    .col_expr(E::RETAINED_FROM, Expr::value(start))
                    .filter(E::ID.eq(id))
                    .exec(db)
                    .await?;
            }
        }
    }
}
