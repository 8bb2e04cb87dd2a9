use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hrmesh_crypto::Keyring;
use hrmesh_domain::EmployeeId;
use hrmesh_domain::erasure::{ErasePersonalData, Erasure};
use hrmesh_ledger_core::{
    AccountPlan, AccrualFrequency, AccrualRule, AccrualRun, AppendEntries, AssignPolicies,
    AssignPolicy, Assignment, CreatePolicy, EndAssignments, EndedAssignments, Entry, EntryDraft,
    EntryFilter, EntryKind, ExtendFreeze, Freeze, FreezeAccruals, HeldDay, Hold, HoldPlan,
    HoldState, LedgerError, LedgerEvent, LedgerStore, Period, Policy, PolicyId, PolicySpec,
    PostHold, Quantity, RecordKind, Rejection, ReopenAssignments, ResourceType, Result,
    ReverseEntry, RunAccruals, Totals, UnfreezeAccruals, Unit, VoidHold, check_record_of,
    reopen_watermark,
};
use hrmesh_storage::inbox::{self, TxError, Writer};
use hrmesh_storage::outbox::Outbox;
use hrmesh_storage::vault::{Vault, VaultError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, TryInsertResult,
};
use std::sync::Arc;

use crate::Migrator;
use crate::accrual;
use crate::entities::{
    accounts, assignments, balance_snapshots, day_claims, entries, holds, policies,
};
use crate::sealed;

pub(crate) type Tx<T> = std::result::Result<T, TxError<LedgerError>>;

pub(crate) use hrmesh_storage::error::{fail, from_db as storage_error, from_inbox as inbox_error};

/// Accounts one accrual-run transaction brings up to date at most.
const ACCRUAL_BATCH_ACCOUNTS: u64 = 200;

/// The ledger store on a sea-orm connection.
#[derive(Debug, Clone)]
pub struct SeaLedgerStore {
    db: DatabaseConnection,
    /// Runs the write requests, grouping their commits on SQLite.
    writer: Writer,
    effects: Effects,
}

/// What an effect's transaction writes beside the ledger's own rows: its events, to the outbox,
/// and the data keys its sealed reasons use, to the vault.
#[derive(Debug, Clone)]
pub(crate) struct Effects {
    events: Outbox<LedgerEvent>,
    pub(crate) vault: Vault,
}

impl Effects {
    pub(crate) async fn add<'a>(
        &self,
        txn: &DatabaseTransaction,
        events: impl IntoIterator<Item = &'a LedgerEvent>,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), DbErr> {
        self.events.add(txn, events, now).await
    }
}

impl SeaLedgerStore {
    /// Connects to `url` and brings the schema up to date; events are encoded with `encode`, and
    /// the free-text reasons are sealed with data keys that `keyring` wraps.
    pub async fn open(
        url: &str,
        encode: fn(&LedgerEvent) -> Vec<u8>,
        keyring: Arc<Keyring>,
    ) -> std::result::Result<Self, VaultError> {
        let db = hrmesh_storage::db::open::<Migrator>(url).await?;
        let vault = Vault::open(&db, keyring).await?;
        Ok(Self {
            writer: Writer::new(db.clone()),
            db,
            effects: Effects {
                events: Outbox::new(encode),
                vault,
            },
        })
    }

    /// The data keys of the ledger's sealed reasons.
    pub fn vault(&self) -> &Vault {
        &self.effects.vault
    }

    /// What a request answers, its reasons opened.
    async fn opened<T: sealed::Reasons>(&self, answer: Result<T>) -> Result<T> {
        sealed::opened(&self.effects.vault, &self.db, answer?).await
    }

    /// The underlying connection (for tests that check what the database itself refuses).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What the retention job archives: former employees' ledgers, the audit trail and the
    /// idempotency inbox.
    pub fn record_kinds(&self) -> Vec<std::sync::Arc<dyn hrmesh_storage::retention::RecordKind>> {
        let mut kinds = crate::retention::kinds(&self.db);
        kinds.extend(hrmesh_storage::retention::sql_common(&self.db));
        kinds
    }
}

impl SeaLedgerStore {
    /// Posts or voids a hold once per request id; `expected_employee` is the command's.
    #[allow(clippy::too_many_arguments)]
    async fn decide_hold(
        &self,
        operation: &str,
        command: &impl serde::Serialize,
        request_id: &hrmesh_domain::RequestId,
        hold_id: &str,
        expected_employee: Option<&EmployeeId>,
        target: HoldState,
        reason: &str,
        rejected: bool,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        let (request_id_owned, hold_id, expected_employee, reason) = (
            request_id.as_str().to_owned(),
            hold_id.to_owned(),
            expected_employee.cloned(),
            reason.to_owned(),
        );
        let effects = self.effects.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            request_id.as_str(),
            operation,
            command,
            move |txn| {
                Box::pin(async move {
                    let resolution = Resolution {
                        target,
                        expected_employee: expected_employee.as_ref(),
                        request_id: &request_id_owned,
                        reason: &reason,
                        rejected,
                    };
                    resolve_hold(txn, &effects, &hold_id, &resolution, now).await
                })
            },
        )
        .await;
        self.opened(done).await
    }
}

// ---- Conversions between rows and domain values.

fn unit_str(unit: Unit) -> &'static str {
    match unit {
        Unit::Days => "days",
        Unit::Hours => "hours",
    }
}

pub(crate) fn corrupt(what: &str, value: &str) -> LedgerError {
    LedgerError::internal(format!("stored {what} {value:?} is not recognised"))
}

pub(crate) fn policy_from_row(row: policies::Model) -> Result<Policy> {
    let unit = match row.unit.as_str() {
        "days" => Unit::Days,
        "hours" => Unit::Hours,
        other => return Err(corrupt("unit", other)),
    };
    let frequency = AccrualFrequency::from_str_opt(&row.accrual_frequency)
        .ok_or_else(|| corrupt("accrual frequency", &row.accrual_frequency))?;
    Ok(Policy {
        id: PolicyId::from_trusted(row.policy_id),
        spec: PolicySpec {
            resource_type: ResourceType::from_trusted(row.resource_type),
            unit,
            accrual: AccrualRule {
                frequency,
                amount: Quantity::from_millis(row.accrual_amount),
                max_balance: row.accrual_max_balance.map(Quantity::from_millis),
            },
            allow_negative: row.allow_negative,
            carry_over_cap: row.carry_over_cap.map(Quantity::from_millis),
            full_day: Quantity::from_millis(row.full_day),
            count_weekends: row.count_weekends,
            year_start_month: u32::try_from(row.year_start_month).unwrap_or(1),
        },
        created_at: row.created_at,
    })
}

pub(crate) fn assignment_from_row(row: assignments::Model) -> Assignment {
    Assignment {
        id: row.assignment_id,
        employee_id: EmployeeId::from_trusted(row.employee_id),
        policy_id: PolicyId::from_trusted(row.policy_id),
        effective_from: row.effective_from,
        effective_to: row.effective_to,
        created_at: row.created_at,
    }
}

pub(crate) fn entry_from_row(row: entries::Model) -> Result<Entry> {
    let kind =
        EntryKind::from_str_opt(&row.kind).ok_or_else(|| corrupt("entry kind", &row.kind))?;
    Ok(Entry {
        id: row.entry_id,
        employee_id: EmployeeId::from_trusted(row.employee_id),
        policy_id: PolicyId::from_trusted(row.policy_id),
        resource_type: ResourceType::from_trusted(row.resource_type),
        kind,
        amount: Quantity::from_millis(row.amount),
        deltas: Totals {
            accrued: Quantity::from_millis(row.accrued_delta),
            consumed: Quantity::from_millis(row.consumed_delta),
            pending: Quantity::from_millis(row.pending_delta),
            adjustments: Quantity::from_millis(row.adjustments_delta),
        },
        effective_date: row.effective_date,
        hold_id: row.hold_id,
        reverses_entry_id: row.reverses_entry_id,
        period: row
            .period_start
            .zip(row.period_end)
            .map(|(start, end)| Period { start, end }),
        reason: row.reason,
        reference: row.reference,
        request_id: row.request_id,
        created_at: row.created_at,
    })
}

pub(crate) fn totals_of_account(row: &accounts::Model) -> Totals {
    Totals {
        accrued: Quantity::from_millis(row.accrued),
        consumed: Quantity::from_millis(row.consumed),
        pending: Quantity::from_millis(row.pending),
        adjustments: Quantity::from_millis(row.adjustments),
    }
}

fn hold_from_rows(row: holds::Model, day_rows: Vec<entries::Model>) -> Result<Hold> {
    let state =
        HoldState::from_str_opt(&row.state).ok_or_else(|| corrupt("hold state", &row.state))?;
    Ok(Hold {
        id: row.hold_id,
        employee_id: EmployeeId::from_trusted(row.employee_id),
        policy_id: PolicyId::from_trusted(row.policy_id),
        resource_type: ResourceType::from_trusted(row.resource_type),
        state,
        days: day_rows
            .into_iter()
            .map(|day| HeldDay {
                date: day.effective_date,
                amount: Quantity::from_millis(day.amount),
            })
            .collect(),
        total: Quantity::from_millis(row.total),
        reference: row.reference,
        reason: row.reason,
        created_at: row.created_at,
        expires_at: row.expires_at,
        resolved_at: row.resolved_at,
    })
}

fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

// ---- Writes shared by every operation. All take the transaction of the request.

/// The identity of an account (employee x policy).
pub(crate) struct AccountKey<'a> {
    pub(crate) employee_id: &'a str,
    pub(crate) policy_id: &'a str,
}

/// Adds `deltas` to the four total columns, which `accounts` and `balance_snapshots` both name
/// `accrued`, `consumed`, `pending` and `adjustments`.
fn add_totals<E: EntityTrait>(
    update: sea_orm::UpdateMany<E>,
    deltas: Totals,
) -> sea_orm::UpdateMany<E> {
    use sea_orm::sea_query::Alias;
    [
        ("accrued", deltas.accrued),
        ("consumed", deltas.consumed),
        ("pending", deltas.pending),
        ("adjustments", deltas.adjustments),
    ]
    .into_iter()
    .fold(update, |update, (column, delta)| {
        update.col_expr(
            Alias::new(column),
            Expr::col(Alias::new(column)).add(delta.millis()),
        )
    })
}

/// Adds `deltas` to the account's running totals, refusing when the policy forbids a negative
/// available balance and the result would be one. This UPDATE is the first write to the account in
/// every transaction, so it also serialises concurrent writers of the account.
pub(crate) async fn apply_to_account(
    txn: &DatabaseTransaction,
    account: &AccountKey<'_>,
    deltas: Totals,
    allow_negative: bool,
) -> Tx<accounts::Model> {
    use accounts::Column;
    let mut update = add_totals(accounts::Entity::update_many(), deltas)
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .filter(Column::EmployeeId.eq(account.employee_id))
        .filter(Column::PolicyId.eq(account.policy_id));
    let available_change = deltas.available();
    if !allow_negative && available_change.is_negative() {
        let available = Expr::col(Column::Accrued)
            .sub(Expr::col(Column::Consumed))
            .add(Expr::col(Column::Adjustments))
            .sub(Expr::col(Column::Pending));
        update = update.filter(available.gte(-available_change.millis()));
    }
    let updated = update.exec(txn).await?;
    let row = accounts::Entity::find()
        .filter(Column::EmployeeId.eq(account.employee_id))
        .filter(Column::PolicyId.eq(account.policy_id))
        .one(txn)
        .await?
        .ok_or_else(|| {
            fail(LedgerError::internal(format!(
                "no account for employee {} and policy {}",
                account.employee_id, account.policy_id
            )))
        })?;
    if updated.rows_affected == 0 {
        return Err(fail(Rejection::InsufficientBalance {
            available: totals_of_account(&row).available(),
            requested: -available_change,
        }));
    }
    Ok(row)
}

/// Appends `drafts` to the account and brings its monthly snapshots up to date.
pub(crate) async fn append_drafts(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account: &accounts::Model,
    drafts: &[&EntryDraft],
    request_id: &str,
    now: DateTime<Utc>,
) -> Tx<Vec<Entry>> {
    let mut appended = Vec::with_capacity(drafts.len());
    let mut deltas_by_month: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    for draft in drafts {
        // An accrual run's entries name their period and carry the ledger's own words: plain.
        let reason = if draft.period.is_some() {
            draft.reason.clone()
        } else {
            let context = sealed::entry_context(
                &account.employee_id,
                &account.policy_id,
                request_id,
                draft.kind,
                draft.effective_date,
                draft.hold_id.as_deref(),
            );
            let employee_id = &account.employee_id;
            sealed::seal(&effects.vault, txn, employee_id, &context, &draft.reason).await?
        };
        let row = entries::ActiveModel {
            entry_id: sea_orm::ActiveValue::NotSet,
            account_id: Set(account.account_id),
            employee_id: Set(account.employee_id.clone()),
            policy_id: Set(account.policy_id.clone()),
            resource_type: Set(account.resource_type.clone()),
            kind: Set(draft.kind.as_str().to_owned()),
            amount: Set(draft.amount.millis()),
            accrued_delta: Set(draft.deltas.accrued.millis()),
            consumed_delta: Set(draft.deltas.consumed.millis()),
            pending_delta: Set(draft.deltas.pending.millis()),
            adjustments_delta: Set(draft.deltas.adjustments.millis()),
            effective_date: Set(draft.effective_date),
            hold_id: Set(draft.hold_id.clone()),
            reverses_entry_id: Set(draft.reverses_entry_id),
            reason: Set(reason),
            reference: Set(draft.reference.clone()),
            request_id: Set(request_id.to_owned()),
            created_at: Set(now),
            period_start: Set(draft.period.map(|period| period.start)),
            period_end: Set(draft.period.map(|period| period.end)),
        };
        let inserted = entries::Entity::insert(row)
            .exec_with_returning(txn)
            .await?;
        let month = deltas_by_month
            .entry(month_start(draft.effective_date))
            .or_default();
        *month = month.plus(draft.deltas);
        appended.push(entry_from_row(inserted).map_err(fail)?);
    }
    // Months in ascending order: a snapshot created for a later month is computed from the entries
    // (already inserted above), so it must not also receive the earlier months' deltas afterwards.
    for (month, deltas) in deltas_by_month {
        ensure_snapshot(txn, account.account_id, month).await?;
        add_to_later_snapshots(txn, account.account_id, month, deltas).await?;
    }
    let told: Vec<LedgerEvent> = appended
        .iter()
        .filter_map(|entry| match entry.kind {
            EntryKind::Accrual => Some(LedgerEvent::AccrualPosted(entry.clone())),
            EntryKind::Payout | EntryKind::Forfeiture => {
                Some(LedgerEvent::BalanceSettled(entry.clone()))
            }
            _ => None,
        })
        .collect();
    effects.add(txn, &told, now).await?;
    Ok(appended)
}

/// Sums the deltas of an account's entries effective in `[from, to)` (or `[from, to]` when
/// `inclusive_to`); `from` None means from the beginning.
pub(crate) async fn sum_entries(
    db: &impl ConnectionTrait,
    account_id: i64,
    from: Option<NaiveDate>,
    to: NaiveDate,
    inclusive_to: bool,
) -> std::result::Result<Totals, DbErr> {
    use entries::Column;
    let sum = |column: Column| {
        Expr::cust(format!(
            "CAST(COALESCE(SUM({}), 0) AS BIGINT)",
            sea_orm::sea_query::Iden::to_string(&column)
        ))
    };
    let mut query = entries::Entity::find()
        .select_only()
        .column_as(sum(Column::AccruedDelta), "accrued")
        .column_as(sum(Column::ConsumedDelta), "consumed")
        .column_as(sum(Column::PendingDelta), "pending")
        .column_as(sum(Column::AdjustmentsDelta), "adjustments")
        .filter(Column::AccountId.eq(account_id));
    if let Some(from) = from {
        query = query.filter(Column::EffectiveDate.gte(from));
    }
    query = if inclusive_to {
        query.filter(Column::EffectiveDate.lte(to))
    } else {
        query.filter(Column::EffectiveDate.lt(to))
    };
    let (accrued, consumed, pending, adjustments) = query
        .into_tuple::<(i64, i64, i64, i64)>()
        .one(db)
        .await?
        .unwrap_or_default();
    Ok(Totals {
        accrued: Quantity::from_millis(accrued),
        consumed: Quantity::from_millis(consumed),
        pending: Quantity::from_millis(pending),
        adjustments: Quantity::from_millis(adjustments),
    })
}

pub(crate) fn snapshot_totals(row: &balance_snapshots::Model) -> Totals {
    Totals {
        accrued: Quantity::from_millis(row.accrued),
        consumed: Quantity::from_millis(row.consumed),
        pending: Quantity::from_millis(row.pending),
        adjustments: Quantity::from_millis(row.adjustments),
    }
}

/// Makes sure the account has a snapshot for `month`: the previous snapshot plus the entries
/// between it and `month`. Every month with an entry has one, so a balance read sums at most one
/// month of entries.
async fn ensure_snapshot(txn: &DatabaseTransaction, account_id: i64, month: NaiveDate) -> Tx<()> {
    use balance_snapshots::Column;
    if balance_snapshots::Entity::find_by_id((account_id, month))
        .one(txn)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let previous = balance_snapshots::Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::MonthStart.lt(month))
        .order_by_desc(Column::MonthStart)
        .one(txn)
        .await?;
    let (base, from) = match &previous {
        Some(row) => (snapshot_totals(row), Some(row.month_start)),
        None => (Totals::default(), None),
    };
    let totals = base.plus(sum_entries(txn, account_id, from, month, false).await?);
    balance_snapshots::Entity::insert(balance_snapshots::ActiveModel {
        account_id: Set(account_id),
        month_start: Set(month),
        accrued: Set(totals.accrued.millis()),
        consumed: Set(totals.consumed.millis()),
        pending: Set(totals.pending.millis()),
        adjustments: Set(totals.adjustments.millis()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Adds `deltas` of entries effective in `month` to every snapshot of a later month.
async fn add_to_later_snapshots(
    txn: &DatabaseTransaction,
    account_id: i64,
    month: NaiveDate,
    deltas: Totals,
) -> Tx<()> {
    use balance_snapshots::Column;
    add_totals(balance_snapshots::Entity::update_many(), deltas)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::MonthStart.gt(month))
        .exec(txn)
        .await?;
    Ok(())
}

pub(crate) async fn policy_row(db: &impl ConnectionTrait, policy_id: &str) -> Tx<policies::Model> {
    policies::Entity::find_by_id(policy_id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| {
            fail(LedgerError::internal(format!(
                "policy {policy_id} vanished"
            )))
        })
}

pub(crate) async fn held_days(
    db: &impl ConnectionTrait,
    hold_id: &str,
) -> std::result::Result<Vec<entries::Model>, DbErr> {
    entries::Entity::find()
        .filter(entries::Column::HoldId.eq(hold_id))
        .filter(entries::Column::Kind.eq(EntryKind::Hold.as_str()))
        .order_by_asc(entries::Column::EffectiveDate)
        .all(db)
        .await
}

/// How a hold is to be resolved, and by which request.
#[derive(Clone, Copy)]
pub(crate) struct Resolution<'a> {
    /// Posted, voided or expired.
    pub(crate) target: HoldState,
    /// The employee the request says the hold belongs to; `None` for the sweeper.
    pub(crate) expected_employee: Option<&'a EmployeeId>,
    pub(crate) request_id: &'a str,
    pub(crate) reason: &'a str,
    /// A void that rejects the request rather than cancelling it (the event tells them apart).
    pub(crate) rejected: bool,
}

/// Moves a pending hold to the resolution's target (posted, voided or expired): the hold row
/// changes state, each held day gets its resolving entry, pending leaves the account, and a void
/// or expiry frees the days. A hold of another employee than the one the request names is refused
/// first, before its state is looked at.
pub(crate) async fn resolve_hold(
    txn: &DatabaseTransaction,
    effects: &Effects,
    hold_id: &str,
    resolution: &Resolution<'_>,
    now: DateTime<Utc>,
) -> Tx<Hold> {
    let Resolution {
        target,
        expected_employee,
        request_id,
        reason,
        rejected,
    } = *resolution;
    let Some(kind) = target.resolution_kind() else {
        return Err(fail(LedgerError::internal(
            "a hold cannot resolve to pending",
        )));
    };
    let hold = holds::Entity::find_by_id(hold_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| fail(LedgerError::not_found("hold", hold_id)))?;
    check_record_of(
        RecordKind::Hold,
        hold_id,
        &EmployeeId::from_trusted(hold.employee_id.clone()),
        expected_employee,
    )
    .map_err(fail)?;
    // The account before the hold row, as every request locks (an offboarding locks the accounts,
    // then resolves their holds), so a decision and an offboarding cannot deadlock. A decision
    // made meanwhile is caught by the conditional state change below.
    let account_key = AccountKey {
        employee_id: &hold.employee_id,
        policy_id: &hold.policy_id,
    };
    apply_to_account(txn, &account_key, Totals::default(), true).await?;
    let state = HoldState::from_str_opt(&hold.state)
        .ok_or_else(|| fail(corrupt("hold state", &hold.state)))?;
    if state != HoldState::Pending {
        return Err(fail(Rejection::HoldAlreadyResolved {
            hold_id: hold_id.to_owned(),
            state,
        }));
    }
    // Expiry is decided by time, not by whether the sweeper already ran.
    if target != HoldState::Expired && hold.expires_at <= now {
        return Err(fail(Rejection::HoldExpired {
            hold_id: hold_id.to_owned(),
            expired_at: hold.expires_at,
        }));
    }
    let changed = holds::Entity::update_many()
        .col_expr(holds::Column::State, Expr::value(target.as_str()))
        .col_expr(holds::Column::ResolvedAt, Expr::value(now))
        .filter(holds::Column::HoldId.eq(hold_id))
        .filter(holds::Column::State.eq(HoldState::Pending.as_str()))
        .exec(txn)
        .await?;
    if changed.rows_affected == 0 {
        let current = holds::Entity::find_by_id(hold_id.to_owned())
            .one(txn)
            .await?;
        let state = current
            .and_then(|row| HoldState::from_str_opt(&row.state))
            .unwrap_or(target);
        return Err(fail(Rejection::HoldAlreadyResolved {
            hold_id: hold_id.to_owned(),
            state,
        }));
    }

    let days = held_days(txn, hold_id).await?;
    let drafts: Vec<EntryDraft> = days
        .iter()
        .map(|day| {
            let amount = Quantity::from_millis(day.amount);
            EntryDraft {
                kind,
                amount,
                deltas: Totals::of_entry(kind, amount),
                effective_date: day.effective_date,
                hold_id: Some(hold_id.to_owned()),
                reverses_entry_id: None,
                period: None,
                reason: reason.to_owned(),
                reference: hold.reference.clone(),
            }
        })
        .collect();
    let deltas = drafts
        .iter()
        .fold(Totals::default(), |sum, draft| sum.plus(draft.deltas));
    let key = AccountKey {
        employee_id: &hold.employee_id,
        policy_id: &hold.policy_id,
    };
    // Resolving never lowers what is available, so no balance floor applies.
    let account = apply_to_account(txn, &key, deltas, true).await?;
    append_drafts(
        txn,
        effects,
        &account,
        &drafts.iter().collect::<Vec<_>>(),
        request_id,
        now,
    )
    .await?;
    if target != HoldState::Posted {
        day_claims::Entity::delete_many()
            .filter(day_claims::Column::HoldId.eq(hold_id))
            .exec(txn)
            .await?;
    }
    let resolved = holds::Model {
        state: target.as_str().to_owned(),
        resolved_at: Some(now),
        ..hold
    };
    let resolved = hold_from_rows(resolved, days).map_err(fail)?;
    let event = match target {
        HoldState::Posted => LedgerEvent::TimeOffApproved(resolved.clone()),
        HoldState::Voided if rejected => LedgerEvent::TimeOffRejected(resolved.clone()),
        HoldState::Voided => LedgerEvent::TimeOffCancelled(resolved.clone()),
        _ => LedgerEvent::TimeOffExpired(resolved.clone()),
    };
    effects.add(txn, [&event], now).await?;
    Ok(resolved)
}

/// The entry that reverses `original`: the opposite amount and deltas, dated like the original so
/// every balance as of any date is as if the original had never been appended.
pub(crate) fn reversal_draft(original: &Entry, reason: &str) -> EntryDraft {
    EntryDraft {
        kind: EntryKind::Reversal,
        amount: -original.amount,
        deltas: original.deltas.negated(),
        effective_date: original.effective_date,
        hold_id: None,
        reverses_entry_id: Some(original.id),
        period: None,
        reason: reason.to_owned(),
        reference: original.reference.clone(),
    }
}

/// Assigns `policy` to the assignment's employee in the request's transaction: opens the account
/// if it is the first assignment, refuses one overlapping another of the same policy (the account
/// is locked first, so two cannot both pass), and rewinds the accrual watermark to its start.
async fn assign_one(
    txn: &DatabaseTransaction,
    assignment: &Assignment,
    policy: &Policy,
    request_id: &str,
) -> Tx<()> {
    let employee_id = assignment.employee_id.as_str();
    let policy_id = assignment.policy_id.as_str();
    accounts::Entity::insert(accounts::ActiveModel {
        account_id: sea_orm::ActiveValue::NotSet,
        employee_id: Set(employee_id.to_owned()),
        policy_id: Set(policy_id.to_owned()),
        resource_type: Set(policy.spec.resource_type.as_str().to_owned()),
        accrued: Set(0),
        consumed: Set(0),
        pending: Set(0),
        adjustments: Set(0),
        version: Set(0),
        accrued_through: Set(None),
    })
    .on_conflict_do_nothing_on([accounts::Column::EmployeeId, accounts::Column::PolicyId])
    .exec(txn)
    .await?;
    let key = AccountKey {
        employee_id,
        policy_id,
    };
    let account = apply_to_account(txn, &key, Totals::default(), true).await?;
    let existing = assignments::Entity::find()
        .filter(assignments::Column::EmployeeId.eq(employee_id))
        .filter(assignments::Column::PolicyId.eq(policy_id))
        .all(txn)
        .await?;
    if let Some(overlapping) = existing
        .into_iter()
        .map(assignment_from_row)
        .find(|other| other.overlaps(assignment.effective_from, assignment.effective_to))
    {
        return Err(fail(Rejection::AssignmentOverlaps {
            assignment_id: overlapping.id,
        }));
    }
    assignments::Entity::insert(assignments::ActiveModel {
        assignment_id: Set(assignment.id.clone()),
        employee_id: Set(employee_id.to_owned()),
        policy_id: Set(policy_id.to_owned()),
        effective_from: Set(assignment.effective_from),
        effective_to: Set(assignment.effective_to),
        request_id: Set(request_id.to_owned()),
        created_at: Set(assignment.created_at),
    })
    .exec_without_returning(txn)
    .await?;
    // Periods from its start are accrued by the next run, however far back.
    accrual::rewind_watermark(
        txn,
        account.account_id,
        reopen_watermark(policy, assignment.effective_from),
    )
    .await
}

impl LedgerStore for SeaLedgerStore {
    async fn create_policy(&self, command: &CreatePolicy, now: DateTime<Utc>) -> Result<Policy> {
        let policy = Policy {
            id: command.policy_id.clone(),
            spec: command.spec.clone(),
            created_at: now,
        };
        let request_id = command.request_id.as_str().to_owned();
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.CreatePolicy",
            command,
            move |txn| {
                Box::pin(async move {
                    let spec = &policy.spec;
                    let row = policies::ActiveModel {
                        policy_id: Set(policy.id.as_str().to_owned()),
                        resource_type: Set(spec.resource_type.as_str().to_owned()),
                        unit: Set(unit_str(spec.unit).to_owned()),
                        accrual_frequency: Set(spec.accrual.frequency.as_str().to_owned()),
                        accrual_amount: Set(spec.accrual.amount.millis()),
                        accrual_max_balance: Set(spec.accrual.max_balance.map(Quantity::millis)),
                        year_start_month: Set(i32::try_from(spec.year_start_month).unwrap_or(1)),
                        allow_negative: Set(spec.allow_negative),
                        carry_over_cap: Set(spec.carry_over_cap.map(Quantity::millis)),
                        full_day: Set(spec.full_day.millis()),
                        count_weekends: Set(spec.count_weekends),
                        request_id: Set(request_id),
                        created_at: Set(now),
                    };
                    let inserted = policies::Entity::insert(row)
                        .on_conflict_do_nothing_on([policies::Column::PolicyId])
                        .exec(txn)
                        .await?;
                    if matches!(inserted, TryInsertResult::Conflicted) {
                        return Err(fail(Rejection::PolicyExists {
                            policy_id: policy.id.as_str().to_owned(),
                        }));
                    }
                    Ok(policy)
                })
            },
        )
        .await
    }

    async fn policy(&self, id: &PolicyId) -> Result<Option<Policy>> {
        policies::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage_error)?
            .map(policy_from_row)
            .transpose()
    }

    async fn assign_policy(
        &self,
        command: &AssignPolicy,
        policy: &Policy,
        assignment_id: String,
        now: DateTime<Utc>,
    ) -> Result<Assignment> {
        let assignment = Assignment {
            id: assignment_id,
            employee_id: command.employee_id.clone(),
            policy_id: command.policy_id.clone(),
            effective_from: command.effective_from,
            effective_to: command.effective_to,
            created_at: now,
        };
        let request_id = command.request_id.as_str().to_owned();
        let policy = policy.clone();
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.AssignPolicy",
            command,
            move |txn| {
                Box::pin(async move {
                    assign_one(txn, &assignment, &policy, &request_id).await?;
                    Ok(assignment)
                })
            },
        )
        .await
    }

    async fn assign_policies(
        &self,
        command: &AssignPolicies,
        policies: &[Policy],
        assignment_ids: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Assignment>> {
        let assignments: Vec<(Assignment, Policy)> = policies
            .iter()
            .zip(assignment_ids)
            .map(|(policy, id)| {
                (
                    Assignment {
                        id,
                        employee_id: command.employee_id.clone(),
                        policy_id: policy.id.clone(),
                        effective_from: command.effective_from,
                        effective_to: command.effective_to,
                        created_at: now,
                    },
                    policy.clone(),
                )
            })
            .collect();
        let request_id = command.request_id.as_str().to_owned();
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.AssignPolicies",
            command,
            move |txn| {
                Box::pin(async move {
                    // Accounts in policy order, so concurrent requests lock them alike.
                    let mut order: Vec<usize> = (0..assignments.len()).collect();
                    order.sort_by(|a, b| assignments[*a].1.id.cmp(&assignments[*b].1.id));
                    for index in order {
                        let (assignment, policy) = &assignments[index];
                        assign_one(txn, assignment, policy, &request_id).await?;
                    }
                    Ok(assignments.into_iter().map(|(a, _)| a).collect())
                })
            },
        )
        .await
    }

    async fn assignments(
        &self,
        employee_id: &EmployeeId,
        policy_id: Option<&PolicyId>,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Assignment>> {
        let mut query = assignments::Entity::find()
            .filter(assignments::Column::EmployeeId.eq(employee_id.as_str()));
        if let Some(policy_id) = policy_id {
            query = query.filter(assignments::Column::PolicyId.eq(policy_id.as_str()));
        }
        if let Some(after_id) = after_id {
            query = query.filter(assignments::Column::AssignmentId.gt(after_id));
        }
        let rows = query
            .order_by_asc(assignments::Column::AssignmentId)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(storage_error)?;
        Ok(rows.into_iter().map(assignment_from_row).collect())
    }

    async fn append_entries(
        &self,
        command: &AppendEntries,
        accounts: &[AccountPlan],
        now: DateTime<Utc>,
    ) -> Result<Vec<Entry>> {
        let request_id = command.request_id.as_str().to_owned();
        let count = command.entries.len();
        let accounts = accounts.to_vec();
        let effects = self.effects.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.AppendEntries",
            command,
            move |txn| {
                Box::pin(async move {
                    let mut in_request_order: Vec<Option<Entry>> = vec![None; count];
                    for plan in &accounts {
                        let key = AccountKey {
                            employee_id: plan.employee_id.as_str(),
                            policy_id: plan.policy_id.as_str(),
                        };
                        let account =
                            apply_to_account(txn, &key, plan.total_deltas(), plan.allow_negative)
                                .await?;
                        let drafts: Vec<&EntryDraft> = plan.drafts.iter().map(|(_, d)| d).collect();
                        accrual::refuse_frozen_grants(txn, account.account_id, &drafts).await?;
                        let appended =
                            append_drafts(txn, &effects, &account, &drafts, &request_id, now)
                                .await?;
                        for ((index, _), entry) in plan.drafts.iter().zip(appended) {
                            in_request_order[*index] = Some(entry);
                        }
                    }
                    in_request_order
                        .into_iter()
                        .collect::<Option<Vec<Entry>>>()
                        .ok_or_else(|| {
                            fail(LedgerError::internal("a planned entry was not appended"))
                        })
                })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn hold_days(&self, plan: &HoldPlan) -> Result<Hold> {
        let command = &plan.command;
        let plan = plan.clone();
        let effects = self.effects.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.HoldDays",
            command,
            move |txn| {
                Box::pin(async move {
                    let command = &plan.command;
                    let employee_id = command.employee_id.as_str();
                    let key = AccountKey {
                        employee_id,
                        policy_id: command.policy_id.as_str(),
                    };
                    let total = plan.total();
                    let deltas = Totals::of_entry(EntryKind::Hold, total);
                    let account = apply_to_account(txn, &key, deltas, plan.allow_negative).await?;
                    // Days in ascending order: concurrent holds claim in the same order.
                    for day in &plan.days {
                        let claimed = day_claims::Entity::insert(day_claims::ActiveModel {
                            employee_id: Set(employee_id.to_owned()),
                            resource_type: Set(plan.resource_type.as_str().to_owned()),
                            day: Set(day.date),
                            hold_id: Set(plan.hold_id.clone()),
                        })
                        .on_conflict_do_nothing_on([
                            day_claims::Column::EmployeeId,
                            day_claims::Column::ResourceType,
                            day_claims::Column::Day,
                        ])
                        .exec(txn)
                        .await?;
                        if matches!(claimed, TryInsertResult::Conflicted) {
                            let holder = day_claims::Entity::find_by_id((
                                employee_id.to_owned(),
                                plan.resource_type.as_str().to_owned(),
                                day.date,
                            ))
                            .one(txn)
                            .await?
                            .map(|claim| claim.hold_id)
                            .unwrap_or_default();
                            return Err(fail(Rejection::DayAlreadyTaken {
                                date: day.date,
                                hold_id: holder,
                            }));
                        }
                    }
                    let reason = sealed::seal(
                        &effects.vault,
                        txn,
                        employee_id,
                        &sealed::hold_context(&plan.hold_id),
                        &command.reason,
                    )
                    .await?;
                    holds::Entity::insert(holds::ActiveModel {
                        hold_id: Set(plan.hold_id.clone()),
                        account_id: Set(account.account_id),
                        employee_id: Set(employee_id.to_owned()),
                        policy_id: Set(command.policy_id.as_str().to_owned()),
                        resource_type: Set(plan.resource_type.as_str().to_owned()),
                        state: Set(HoldState::Pending.as_str().to_owned()),
                        total: Set(total.millis()),
                        reference: Set(command.reference.clone()),
                        reason: Set(reason),
                        request_id: Set(command.request_id.as_str().to_owned()),
                        created_at: Set(plan.created_at),
                        expires_at: Set(plan.expires_at),
                        resolved_at: Set(None),
                        expiry_notified_at: Set(None),
                    })
                    .exec_without_returning(txn)
                    .await?;
                    let drafts: Vec<EntryDraft> = plan
                        .days
                        .iter()
                        .map(|day| EntryDraft {
                            kind: EntryKind::Hold,
                            amount: day.amount,
                            deltas: Totals::of_entry(EntryKind::Hold, day.amount),
                            effective_date: day.date,
                            hold_id: Some(plan.hold_id.clone()),
                            reverses_entry_id: None,
                            period: None,
                            reason: command.reason.clone(),
                            reference: command.reference.clone(),
                        })
                        .collect();
                    append_drafts(
                        txn,
                        &effects,
                        &account,
                        &drafts.iter().collect::<Vec<_>>(),
                        command.request_id.as_str(),
                        plan.created_at,
                    )
                    .await?;
                    let hold = Hold {
                        id: plan.hold_id.clone(),
                        employee_id: command.employee_id.clone(),
                        policy_id: command.policy_id.clone(),
                        resource_type: plan.resource_type.clone(),
                        state: HoldState::Pending,
                        days: plan.days.clone(),
                        total,
                        reference: command.reference.clone(),
                        reason: command.reason.clone(),
                        created_at: plan.created_at,
                        expires_at: plan.expires_at,
                        resolved_at: None,
                    };
                    let requested = LedgerEvent::TimeOffRequested(hold.clone());
                    effects.add(txn, [&requested], plan.created_at).await?;
                    Ok(hold)
                })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn post_hold(&self, command: &PostHold, now: DateTime<Utc>) -> Result<Hold> {
        let (request_id, hold_id) = (&command.request_id, &command.hold_id);
        self.decide_hold(
            "ledger.PostHold",
            command,
            request_id,
            hold_id,
            command.expected_employee.as_ref(),
            HoldState::Posted,
            "",
            false,
            now,
        )
        .await
    }

    async fn void_hold(&self, command: &VoidHold, now: DateTime<Utc>) -> Result<Hold> {
        let (request_id, hold_id, reason) =
            (&command.request_id, &command.hold_id, &command.reason);
        self.decide_hold(
            "ledger.VoidHold",
            command,
            request_id,
            hold_id,
            command.expected_employee.as_ref(),
            HoldState::Voided,
            reason,
            command.rejected,
            now,
        )
        .await
    }

    async fn hold(&self, hold_id: &str) -> Result<Option<Hold>> {
        let Some(row) = holds::Entity::find_by_id(hold_id.to_owned())
            .one(&self.db)
            .await
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        let days = held_days(&self.db, hold_id).await.map_err(storage_error)?;
        self.opened(hold_from_rows(row, days).map(Some)).await
    }

    async fn expire_due_holds(&self, now: DateTime<Utc>, limit: u32) -> Result<u32> {
        let due = holds::Entity::find()
            .filter(holds::Column::State.eq(HoldState::Pending.as_str()))
            .filter(holds::Column::ExpiresAt.lte(now))
            .order_by_asc(holds::Column::ExpiresAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(storage_error)?;
        let mut expired = 0;
        for hold in due {
            let txn = inbox::begin_write(&self.db).await.map_err(storage_error)?;
            let request_id = format!("expiry:{}", hold.hold_id);
            let resolution = Resolution {
                target: HoldState::Expired,
                expected_employee: None,
                request_id: &request_id,
                reason: "expired",
                rejected: false,
            };
            match resolve_hold(&txn, &self.effects, &hold.hold_id, &resolution, now).await {
                Ok(_) => {
                    txn.commit().await.map_err(storage_error)?;
                    expired += 1;
                }
                // Resolved meanwhile by a decision or another sweeper: nothing to do.
                Err(TxError::Domain(LedgerError::Rejected(Rejection::HoldAlreadyResolved {
                    ..
                }))) => {
                    txn.rollback().await.map_err(storage_error)?;
                }
                Err(TxError::Domain(err)) => return Err(err),
                Err(TxError::Db(err)) => return Err(storage_error(err)),
            }
        }
        Ok(expired)
    }

    async fn reverse_entry(&self, command: &ReverseEntry, now: DateTime<Utc>) -> Result<Entry> {
        let command_owned = command.clone();
        let effects = self.effects.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.ReverseEntry",
            command,
            move |txn| {
                Box::pin(async move {
                    let command = command_owned;
                    let original = entries::Entity::find_by_id(command.entry_id)
                        .one(txn)
                        .await?
                        .ok_or_else(|| {
                            fail(LedgerError::not_found(
                                "entry",
                                command.entry_id.to_string(),
                            ))
                        })?;
                    let original = entry_from_row(original).map_err(fail)?;
                    check_record_of(
                        RecordKind::Entry,
                        &original.id.to_string(),
                        &original.employee_id,
                        command.expected_employee.as_ref(),
                    )
                    .map_err(fail)?;
                    if !matches!(
                        original.kind,
                        EntryKind::Accrual
                            | EntryKind::Adjustment
                            | EntryKind::CarryOverExpiry
                            | EntryKind::Payout
                            | EntryKind::Forfeiture
                    ) {
                        return Err(fail(Rejection::EntryNotReversible {
                            entry_id: original.id,
                            kind: original.kind,
                        }));
                    }
                    let policy = policy_row(txn, original.policy_id.as_str()).await?;
                    let key = AccountKey {
                        employee_id: original.employee_id.as_str(),
                        policy_id: original.policy_id.as_str(),
                    };
                    let deltas = original.deltas.negated();
                    // Lock the account before looking for an earlier reversal, so two concurrent
                    // reversals see each other (the unique index backs this up).
                    apply_to_account(txn, &key, Totals::default(), true).await?;
                    if let Some(earlier) = entries::Entity::find()
                        .filter(entries::Column::ReversesEntryId.eq(original.id))
                        .one(txn)
                        .await?
                    {
                        return Err(fail(Rejection::EntryAlreadyReversed {
                            entry_id: original.id,
                            reversal_entry_id: earlier.entry_id,
                        }));
                    }
                    let account =
                        apply_to_account(txn, &key, deltas, policy.allow_negative).await?;
                    let draft = reversal_draft(&original, &command.reason);
                    let mut appended = append_drafts(
                        txn,
                        &effects,
                        &account,
                        &[&draft],
                        command.request_id.as_str(),
                        now,
                    )
                    .await?;
                    appended
                        .pop()
                        .ok_or_else(|| fail(LedgerError::internal("reversal not appended")))
                })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn totals(
        &self,
        employee_id: &EmployeeId,
        policy_id: &PolicyId,
        as_of: Option<NaiveDate>,
    ) -> Result<Option<Totals>> {
        let Some(account) = accounts::Entity::find()
            .filter(accounts::Column::EmployeeId.eq(employee_id.as_str()))
            .filter(accounts::Column::PolicyId.eq(policy_id.as_str()))
            .one(&self.db)
            .await
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        let Some(as_of) = as_of else {
            return Ok(Some(totals_of_account(&account)));
        };
        // One transaction, so the snapshot and the entries after it are from the same moment.
        let txn = self.db.begin().await.map_err(storage_error)?;
        let totals = accrual::totals_as_of(&txn, account.account_id, as_of)
            .await
            .map_err(storage_error)?;
        txn.commit().await.map_err(storage_error)?;
        Ok(Some(totals))
    }

    async fn freeze_accruals(
        &self,
        command: &FreezeAccruals,
        freeze_id: String,
        now: DateTime<Utc>,
    ) -> Result<Freeze> {
        let owned = command.clone();
        let vault = self.effects.vault.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.FreezeAccruals",
            command,
            move |txn| {
                Box::pin(async move {
                    accrual::freeze_accruals(txn, &vault, &owned, freeze_id, now).await
                })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn unfreeze_accruals(
        &self,
        command: &UnfreezeAccruals,
        now: DateTime<Utc>,
    ) -> Result<Vec<Freeze>> {
        let owned = command.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.UnfreezeAccruals",
            command,
            move |txn| {
                Box::pin(async move {
                    accrual::unfreeze_accruals(
                        txn,
                        &owned.target,
                        owned.expected_employee.as_ref(),
                        owned.from_date,
                        now,
                    )
                    .await
                })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn extend_freeze(
        &self,
        command: &ExtendFreeze,
        now: DateTime<Utc>,
    ) -> Result<Vec<Freeze>> {
        let owned = command.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.ExtendFreeze",
            command,
            move |txn| Box::pin(async move { accrual::extend_freeze(txn, &owned, now).await }),
        )
        .await;
        self.opened(done).await
    }

    async fn freezes(
        &self,
        employee_id: &EmployeeId,
        policy_id: Option<&PolicyId>,
    ) -> Result<Vec<Freeze>> {
        let freezes = accrual::employee_freezes(&self.db, employee_id.as_str(), policy_id)
            .await
            .map_err(storage_error);
        self.opened(freezes).await
    }

    async fn end_assignments(
        &self,
        command: &EndAssignments,
        now: DateTime<Utc>,
    ) -> Result<EndedAssignments> {
        let owned = command.clone();
        let effects = self.effects.clone();
        let done = inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.EndAssignments",
            command,
            move |txn| {
                Box::pin(async move { accrual::end_assignments(txn, &effects, &owned, now).await })
            },
        )
        .await;
        self.opened(done).await
    }

    async fn erase_personal_data(
        &self,
        command: &ErasePersonalData,
        now: DateTime<Utc>,
    ) -> Result<Erasure> {
        let vault = self.effects.vault.clone();
        let owned = command.clone();
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.ErasePersonalData",
            command,
            move |txn| {
                Box::pin(async move {
                    let destroyed = vault
                        .erase(txn, owned.employee_id.as_str(), now)
                        .await
                        .map_err(|err| fail(sealed::vault_error(err)))?;
                    Ok(Erasure::of(owned.employee_id, destroyed, now))
                })
            },
        )
        .await
    }

    async fn reopen_assignments(
        &self,
        command: &ReopenAssignments,
        now: DateTime<Utc>,
    ) -> Result<Vec<Assignment>> {
        let owned = command.clone();
        let effects = self.effects.clone();
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.ReopenAssignments",
            command,
            move |txn| {
                Box::pin(
                    async move { accrual::reopen_assignments(txn, &effects, &owned, now).await },
                )
            },
        )
        .await
    }

    async fn run_accruals(&self, command: &RunAccruals, now: DateTime<Utc>) -> Result<AccrualRun> {
        let request_id = command.request_id.as_str().to_owned();
        let up_to = command.up_to;
        if let Some(employee_id) = command.scope.employee_id.clone() {
            // One employee: one transaction, recorded with its answer like any request.
            let policy_id = command.scope.policy_id.clone();
            let effects = self.effects.clone();
            let done = inbox::once_protected(
                &self.writer,
                &self.effects.vault,
                command.request_id.as_str(),
                "ledger.RunAccruals",
                command,
                move |txn| {
                    Box::pin(async move {
                        let ids: Vec<i64> = accrual::employee_accounts(
                            txn,
                            employee_id.as_str(),
                            policy_id.as_ref(),
                        )
                        .await?
                        .into_iter()
                        .map(|account| account.account_id)
                        .collect();
                        accrual::accrue_accounts(txn, &effects, &ids, up_to, &request_id, now, true)
                            .await
                    })
                },
            )
            .await;
            return self.opened(done).await;
        }
        // Everyone: bounded batches, one transaction each, so a long run neither holds the write
        // lock for long nor loses more than a batch when interrupted. Re-running is safe (the
        // watermarks and the unique period index), so a request id already answered is replayed
        // (or refused, for another request) before any work, and the answer is recorded after it.
        match inbox::recorded::<AccrualRun, LedgerError>(
            &self.db,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.RunAccruals",
            command,
        )
        .await
        {
            Ok(Some(answer)) => return self.opened(Ok(answer)).await,
            Ok(None) => {}
            Err(err) => return Err(inbox_error(err, command.request_id.as_str())),
        }
        // The batches commit one by one: the call's audit event goes first, in a commit of its own.
        hrmesh_storage::audit::write_pending(&self.db)
            .await
            .map_err(storage_error)?;
        let mut run = AccrualRun::default();
        let mut after_id = 0;
        loop {
            let batch = accrual::accounts_behind(
                &self.db,
                up_to,
                command.scope.policy_id.as_ref(),
                after_id,
                ACCRUAL_BATCH_ACCOUNTS,
            )
            .await
            .map_err(storage_error)?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            let txn = inbox::begin_write(&self.db).await.map_err(storage_error)?;
            match accrual::accrue_accounts(
                &txn,
                &self.effects,
                &batch,
                up_to,
                &request_id,
                now,
                false,
            )
            .await
            {
                Ok(done) => {
                    txn.commit().await.map_err(storage_error)?;
                    run.accounts += done.accounts;
                    run.accruals += done.accruals;
                    run.expiries += done.expiries;
                }
                Err(TxError::Domain(err)) => return Err(err),
                Err(TxError::Db(err)) => return Err(storage_error(err)),
            }
            after_id = last;
        }
        inbox::once_protected(
            &self.writer,
            &self.effects.vault,
            command.request_id.as_str(),
            "ledger.RunAccruals",
            command,
            move |_| Box::pin(async move { Ok(run) }),
        )
        .await
    }

    async fn expired_holds_untold(&self, limit: u32) -> Result<Vec<Hold>> {
        let rows = holds::Entity::find()
            .filter(holds::Column::State.eq(HoldState::Expired.as_str()))
            .filter(holds::Column::ExpiryNotifiedAt.is_null())
            .order_by_asc(holds::Column::ExpiresAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(storage_error)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let days = held_days(&self.db, &row.hold_id)
                .await
                .map_err(storage_error)?;
            found.push(hold_from_rows(row, days)?);
        }
        self.opened(Ok(found)).await
    }

    async fn mark_expiry_told(&self, hold_id: &str, now: DateTime<Utc>) -> Result<()> {
        holds::Entity::update_many()
            .col_expr(holds::Column::ExpiryNotifiedAt, Expr::value(now))
            .filter(holds::Column::HoldId.eq(hold_id))
            .filter(holds::Column::ExpiryNotifiedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn balances(&self, employee_id: &EmployeeId) -> Result<Vec<(PolicyId, Totals)>> {
        let accounts = accounts::Entity::find()
            .filter(accounts::Column::EmployeeId.eq(employee_id.as_str()))
            .order_by_asc(accounts::Column::PolicyId)
            .all(&self.db)
            .await
            .map_err(storage_error)?;
        Ok(accounts
            .iter()
            .map(|account| {
                (
                    PolicyId::from_trusted(account.policy_id.clone()),
                    totals_of_account(account),
                )
            })
            .collect())
    }

    async fn entries(
        &self,
        filter: &EntryFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Entry>> {
        use entries::Column;
        let mut query =
            entries::Entity::find().filter(Column::EmployeeId.eq(filter.employee_id.as_str()));
        if let Some(policy_id) = &filter.policy_id {
            query = query.filter(Column::PolicyId.eq(policy_id.as_str()));
        }
        if !filter.kinds.is_empty() {
            query = query.filter(Column::Kind.is_in(filter.kinds.iter().map(|kind| kind.as_str())));
        }
        if let Some(from) = filter.effective_from {
            query = query.filter(Column::EffectiveDate.gte(from));
        }
        if let Some(to) = filter.effective_to {
            query = query.filter(Column::EffectiveDate.lte(to));
        }
        if let Some(after_id) = after_id {
            query = query.filter(Column::EntryId.gt(after_id));
        }
        let entries = query
            .order_by_asc(Column::EntryId)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(storage_error)?
            .into_iter()
            .map(entry_from_row)
            .collect();
        self.opened(entries).await
    }
}

impl hrmesh_storage::audit::AuditSource for SeaLedgerStore {
    fn audit_store(&self) -> std::sync::Arc<dyn hrmesh_storage::audit::AuditStore> {
        std::sync::Arc::new(hrmesh_storage::audit::SqlAudit::written_with_effects(
            self.db.clone(),
        ))
    }
}

impl hrmesh_storage::outbox::OutboxSource for SeaLedgerStore {
    fn outbox_store(&self) -> std::sync::Arc<dyn hrmesh_storage::outbox::OutboxStore> {
        std::sync::Arc::new(hrmesh_storage::outbox::SqlOutbox::new(self.db.clone()))
    }

    fn outbox_written(&self) -> std::sync::Arc<hrmesh_storage::outbox::Notify> {
        self.effects.events.written()
    }
}
