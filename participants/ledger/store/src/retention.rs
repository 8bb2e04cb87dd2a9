//! The ledger's records for the retention job. The ledger is append-only and an employee's
//! balances are the sums of their entries, so nothing of a current employee is ever archived:
//! the record is a former employee's whole ledger — assignments, accounts, entries, holds,
//! freezes, snapshots — once every assignment they had ended before the cutoff and no hold of
//! theirs is pending. It is archived as stored (sealed reasons stay sealed) and removed in one
//! transaction. Policies stay.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use hrmesh_ledger_core::HoldState;
use hrmesh_storage::retention::{Expired, RecordKind};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Statement, TransactionTrait,
};
use serde_json::json;

use crate::entities::{
    accounts, accrual_freezes, assignment_endings, assignments, balance_snapshots, day_claims,
    entries, holds,
};

/// Former employees archived per batch at most: each carries their whole ledger.
const EMPLOYEES_PER_BATCH: u64 = 50;

/// Former employees' ledgers.
pub(crate) struct FormerEmployees(pub(crate) DatabaseConnection);

pub(crate) fn kinds(db: &DatabaseConnection) -> Vec<Arc<dyn RecordKind>> {
    vec![Arc::new(FormerEmployees(db.clone()))]
}

/// Employees (and their last day) whose every assignment ended before `cutoff` and who have no
/// pending hold, oldest first; only `among` when given.
async fn former(
    db: &impl ConnectionTrait,
    cutoff: NaiveDate,
    limit: u64,
    among: Option<&[String]>,
) -> Result<Vec<(String, NaiveDate)>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![HoldState::Pending.as_str().into(), cutoff.into()];
    let among_sql = match among {
        Some(keys) => {
            let marks: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, _)| format!("${}", i + 4))
                .collect();
            format!("AND a.employee_id IN ({})", marks.join(", "))
        }
        None => String::new(),
    };
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    if let Some(keys) = among {
        values.extend(keys.iter().map(|key| key.as_str().into()));
    }
    let sql = format!(
        "SELECT a.employee_id, MAX(a.effective_to) AS last_day FROM assignments a \
         WHERE NOT EXISTS (SELECT 1 FROM holds h WHERE h.employee_id = a.employee_id AND h.state = $1) \
         {among_sql} \
         GROUP BY a.employee_id \
         HAVING COUNT(*) = COUNT(a.effective_to) AND MAX(a.effective_to) < $2 \
         ORDER BY last_day, a.employee_id LIMIT $3"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "employee_id")?,
                row.try_get::<NaiveDate>("", "last_day")?,
            ))
        })
        .collect()
}

#[async_trait::async_trait]
impl RecordKind for FormerEmployees {
    fn name(&self) -> &'static str {
        "former_employee_ledgers"
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let found = former(
            &self.0,
            cutoff.date_naive(),
            limit.min(EMPLOYEES_PER_BATCH),
            None,
        )
        .await?;
        let mut records = Vec::with_capacity(found.len());
        for (employee, last_day) in found {
            let account_rows = accounts::Entity::find()
                .filter(accounts::Column::EmployeeId.eq(&employee))
                .order_by_asc(accounts::Column::AccountId)
                .all(&self.0)
                .await?;
            let account_ids: Vec<i64> = account_rows.iter().map(|a| a.account_id).collect();
            let assignment_rows = assignments::Entity::find()
                .filter(assignments::Column::EmployeeId.eq(&employee))
                .order_by_asc(assignments::Column::AssignmentId)
                .all(&self.0)
                .await?;
            let assignment_ids: Vec<String> = assignment_rows
                .iter()
                .map(|a| a.assignment_id.clone())
                .collect();
            let record = json!({
                "employee_id": employee,
                "last_day": last_day,
                "assignments": assignment_rows,
                "assignment_endings": assignment_endings::Entity::find()
                    .filter(assignment_endings::Column::AssignmentId.is_in(assignment_ids))
                    .all(&self.0).await?,
                "accounts": account_rows,
                "balance_snapshots": balance_snapshots::Entity::find()
                    .filter(balance_snapshots::Column::AccountId.is_in(account_ids.clone()))
                    .order_by_asc(balance_snapshots::Column::AccountId)
                    .order_by_asc(balance_snapshots::Column::MonthStart)
                    .all(&self.0).await?,
                "entries": entries::Entity::find()
                    .filter(entries::Column::EmployeeId.eq(&employee))
                    .order_by_asc(entries::Column::EntryId)
                    .all(&self.0).await?,
                "holds": holds::Entity::find()
                    .filter(holds::Column::EmployeeId.eq(&employee))
                    .order_by_asc(holds::Column::HoldId)
                    .all(&self.0).await?,
                "day_claims": day_claims::Entity::find()
                    .filter(day_claims::Column::EmployeeId.eq(&employee))
                    .all(&self.0).await?,
                "accrual_freezes": accrual_freezes::Entity::find()
                    .filter(accrual_freezes::Column::EmployeeId.eq(&employee))
                    .order_by_asc(accrual_freezes::Column::FreezeId)
                    .all(&self.0).await?,
            });
            records.push(Expired {
                key: employee,
                at: last_day.and_time(NaiveTime::MIN).and_utc(),
                record,
            });
        }
        Ok(records)
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let txn = self.0.begin().await?;
        // Still former employees, within this transaction: nobody was assigned again meanwhile.
        let still: Vec<String> = former(&txn, cutoff.date_naive(), keys.len() as u64, Some(keys))
            .await?
            .into_iter()
            .map(|(employee, _)| employee)
            .collect();
        if still.is_empty() {
            return Ok(0);
        }
        let backend = txn.get_database_backend();
        let marks = |first: usize| {
            (first..first + still.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ids: Vec<sea_orm::Value> = still.iter().map(|id| id.as_str().into()).collect();
        // The append-only tables let these employees' rows go for this transaction only.
        let values = (1..=still.len())
            .map(|i| format!("(${i})"))
            .collect::<Vec<_>>()
            .join(", ");
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("INSERT INTO archive_releases (employee_id) VALUES {values}"),
            ids.clone(),
        ))
        .await?;
        let account_ids: Vec<i64> = accounts::Entity::find()
            .filter(accounts::Column::EmployeeId.is_in(still.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|a| a.account_id)
            .collect();
        let assignment_ids: Vec<String> = assignments::Entity::find()
            .filter(assignments::Column::EmployeeId.is_in(still.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|a| a.assignment_id)
            .collect();
        balance_snapshots::Entity::delete_many()
            .filter(balance_snapshots::Column::AccountId.is_in(account_ids))
            .exec(&txn)
            .await?;
        assignment_endings::Entity::delete_many()
            .filter(assignment_endings::Column::AssignmentId.is_in(assignment_ids))
            .exec(&txn)
            .await?;
        day_claims::Entity::delete_many()
            .filter(day_claims::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        entries::Entity::delete_many()
            .filter(entries::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        holds::Entity::delete_many()
            .filter(holds::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        accrual_freezes::Entity::delete_many()
            .filter(accrual_freezes::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        accounts::Entity::delete_many()
            .filter(accounts::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        assignments::Entity::delete_many()
            .filter(assignments::Column::EmployeeId.is_in(still.clone()))
            .exec(&txn)
            .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "DELETE FROM archive_releases WHERE employee_id IN ({})",
                marks(1)
            ),
            ids,
        ))
        .await?;
        txn.commit().await?;
        Ok(still.len() as u64)
    }
}
