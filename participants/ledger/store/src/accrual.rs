//! Accrual runs, freezes and the ends of assignments. Every function takes the request's
//! transaction and locks each account it changes first (the zero-delta update of
//! [`apply_to_account`]), in (employee, policy) order like every request, so concurrent runs and
//! requests serialise per account and cannot deadlock.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::EmployeeId;
use hrmesh_ledger_core::{
    AccrualRun, Assignment, Due, EndAssignments, EndedAssignments, Entry, EntryDraft, EntryKind,
    ExtendFreeze, FREEZE_SPAN_DAYS_MAX, Freeze, FreezeAccruals, FreezeTarget, HoldState,
    LedgerError, Period, Policy, PolicyId, Quantity, RecordKind, Rejection, ReopenAssignments,
    Totals, capped, check_record_of, due, expiring, reopen_watermark, withdrawal_for_end,
};
use hrmesh_storage::inbox::TxError;
use hrmesh_storage::vault::Vault;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::entities::{
    accounts, accrual_freezes, assignment_endings, assignments, balance_snapshots, entries, holds,
};
use crate::store::{
    AccountKey, Effects, Resolution, Tx, append_drafts, apply_to_account, assignment_from_row,
    entry_from_row, fail, held_days, policy_from_row, policy_row, resolve_hold, reversal_draft,
    snapshot_totals, sum_entries, totals_of_account,
};

pub(crate) fn freeze_from_row(row: accrual_freezes::Model) -> Freeze {
    Freeze {
        id: row.freeze_id,
        employee_id: EmployeeId::from_trusted(row.employee_id),
        policy_id: PolicyId::from_trusted(row.policy_id),
        start_date: row.start_date,
        end_date: row.end_date,
        lifted_from: row.lifted_from,
        reason: row.reason,
        reference: row.reference,
        request_id: row.request_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn account_of(
    db: &impl ConnectionTrait,
    employee_id: &str,
    policy_id: &str,
) -> Tx<Option<accounts::Model>> {
    Ok(accounts::Entity::find()
        .filter(accounts::Column::EmployeeId.eq(employee_id))
        .filter(accounts::Column::PolicyId.eq(policy_id))
        .one(db)
        .await?)
}

/// Locks the account and returns it as it is now.
async fn lock(
    txn: &DatabaseTransaction,
    employee_id: &str,
    policy_id: &str,
) -> Tx<accounts::Model> {
    let key = AccountKey {
        employee_id,
        policy_id,
    };
    apply_to_account(txn, &key, Totals::default(), true).await
}

/// Moves the account's accrual watermark back to `to` (none: to the beginning), so the next run
/// looks at the periods after it again. Never moves it forward.
pub(crate) async fn rewind_watermark(
    txn: &DatabaseTransaction,
    account_id: i64,
    to: Option<NaiveDate>,
) -> Tx<()> {
    use accounts::Column;
    let update = accounts::Entity::update_many().filter(Column::AccountId.eq(account_id));
    match to {
        Some(day) => {
            update
                .col_expr(Column::AccruedThrough, Expr::value(day))
                .filter(Column::AccruedThrough.gt(day))
                .exec(txn)
                .await?
        }
        None => {
            update
                .col_expr(
                    Column::AccruedThrough,
                    Expr::value(Option::<NaiveDate>::None),
                )
                .exec(txn)
                .await?
        }
    };
    Ok(())
}

pub(crate) async fn account_freezes(db: &impl ConnectionTrait, account_id: i64) -> Tx<Vec<Freeze>> {
    Ok(accrual_freezes::Entity::find()
        .filter(accrual_freezes::Column::AccountId.eq(account_id))
        .order_by_asc(accrual_freezes::Column::StartDate)
        .all(db)
        .await?
        .into_iter()
        .map(freeze_from_row)
        .collect())
}

async fn account_assignments(
    db: &impl ConnectionTrait,
    employee_id: &str,
    policy_id: &str,
) -> Tx<Vec<Assignment>> {
    Ok(assignments::Entity::find()
        .filter(assignments::Column::EmployeeId.eq(employee_id))
        .filter(assignments::Column::PolicyId.eq(policy_id))
        .order_by_asc(assignments::Column::EffectiveFrom)
        .all(db)
        .await?
        .into_iter()
        .map(assignment_from_row)
        .collect())
}

/// The account's totals over entries effective on or before `as_of`: the month's snapshot plus
/// the entries after it.
pub(crate) async fn totals_as_of(
    db: &impl ConnectionTrait,
    account_id: i64,
    as_of: NaiveDate,
) -> std::result::Result<Totals, sea_orm::DbErr> {
    let snapshot = balance_snapshots::Entity::find()
        .filter(balance_snapshots::Column::AccountId.eq(account_id))
        .filter(balance_snapshots::Column::MonthStart.lte(as_of))
        .order_by_desc(balance_snapshots::Column::MonthStart)
        .one(db)
        .await?;
    // Every month with an entry has a snapshot: none at or before `as_of` means no entry is.
    match snapshot {
        Some(snapshot) => Ok(snapshot_totals(&snapshot)
            .plus(sum_entries(db, account_id, Some(snapshot.month_start), as_of, true).await?)),
        None => Ok(Totals::default()),
    }
}

/// Refuses accrual grants dated inside a freeze of the account.
pub(crate) async fn refuse_frozen_grants(
    txn: &DatabaseTransaction,
    account_id: i64,
    drafts: &[&EntryDraft],
) -> Tx<()> {
    let grants: Vec<NaiveDate> = drafts
        .iter()
        .filter(|draft| draft.kind == EntryKind::Accrual)
        .map(|draft| draft.effective_date)
        .collect();
    if grants.is_empty() {
        return Ok(());
    }
    for freeze in account_freezes(txn, account_id).await? {
        if let Some((start_date, end_date)) = freeze.frozen()
            && grants.iter().any(|day| freeze.covers(*day))
        {
            return Err(fail(Rejection::AccrualsFrozen {
                freeze_id: freeze.id,
                reference: freeze.reference,
                start_date,
                end_date,
            }));
        }
    }
    Ok(())
}

// ---- Freezes.

pub(crate) async fn freeze_accruals(
    txn: &DatabaseTransaction,
    vault: &Vault,
    command: &FreezeAccruals,
    freeze_id: String,
    now: DateTime<Utc>,
) -> Tx<Freeze> {
    let (employee_id, policy_id) = (command.employee_id.as_str(), command.policy_id.as_str());
    if account_of(txn, employee_id, policy_id).await?.is_none() {
        return Err(fail(LedgerError::invalid(
            "employee_id",
            format!("employee {employee_id} was never assigned policy {policy_id}"),
        )));
    }
    let account = lock(txn, employee_id, policy_id).await?;
    if let Some(other) = account_freezes(txn, account.account_id)
        .await?
        .into_iter()
        .find(|other| other.overlaps(command.start_date, command.end_date))
    {
        return Err(fail(Rejection::FreezeOverlaps {
            freeze_id: other.id,
        }));
    }
    let context = crate::sealed::freeze_context(&freeze_id);
    let reason = crate::sealed::seal(vault, txn, employee_id, &context, &command.reason).await?;
    let row = accrual_freezes::ActiveModel {
        freeze_id: Set(freeze_id),
        account_id: Set(account.account_id),
        employee_id: Set(employee_id.to_owned()),
        policy_id: Set(policy_id.to_owned()),
        start_date: Set(command.start_date),
        end_date: Set(command.end_date),
        lifted_from: Set(None),
        reason: Set(reason),
        reference: Set(command.reference.clone()),
        request_id: Set(command.request_id.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = accrual_freezes::Entity::insert(row)
        .exec_with_returning(txn)
        .await?;
    Ok(freeze_from_row(inserted))
}

/// The freezes a target names, checked to be the expected employee's.
async fn targets(
    txn: &DatabaseTransaction,
    target: &FreezeTarget,
    expected: Option<&EmployeeId>,
) -> Tx<Vec<accrual_freezes::Model>> {
    use accrual_freezes::Column;
    let rows = match target {
        FreezeTarget::Id(id) => {
            let row = accrual_freezes::Entity::find_by_id(id.clone())
                .one(txn)
                .await?
                .ok_or_else(|| fail(LedgerError::not_found("freeze", id.clone())))?;
            vec![row]
        }
        FreezeTarget::CreatedBy(request_id) => {
            accrual_freezes::Entity::find()
                .filter(Column::RequestId.eq(request_id.as_str()))
                .all(txn)
                .await?
        }
        FreezeTarget::Reference(reference) => {
            let employee = expected.map(EmployeeId::as_str).unwrap_or_default();
            accrual_freezes::Entity::find()
                .filter(Column::EmployeeId.eq(employee))
                .filter(Column::Reference.eq(reference.as_str()))
                // One employee's accounts, locked in policy order as everywhere.
                .order_by_asc(Column::PolicyId)
                .all(txn)
                .await?
        }
    };
    for row in &rows {
        check_record_of(
            RecordKind::Freeze,
            &row.freeze_id,
            &EmployeeId::from_trusted(row.employee_id.clone()),
            expected,
        )
        .map_err(fail)?;
    }
    Ok(rows)
}

/// The freeze as it is now that its account is locked: a concurrent change is seen, not
/// overwritten.
async fn reread_freeze(
    txn: &DatabaseTransaction,
    row: accrual_freezes::Model,
) -> Tx<accrual_freezes::Model> {
    Ok(accrual_freezes::Entity::find_by_id(row.freeze_id.clone())
        .one(txn)
        .await?
        .unwrap_or(row))
}

pub(crate) async fn unfreeze_accruals(
    txn: &DatabaseTransaction,
    target: &FreezeTarget,
    expected: Option<&EmployeeId>,
    from_date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Tx<Vec<Freeze>> {
    let mut lifted = Vec::new();
    for row in targets(txn, target, expected).await? {
        let account = lock(txn, &row.employee_id, &row.policy_id).await?;
        let row = reread_freeze(txn, row).await?;
        let from = from_date.map_or(row.start_date, |day| day.max(row.start_date));
        let earlier_than_before = row.lifted_from.is_none_or(|current| from < current);
        if from > row.end_date || !earlier_than_before {
            // Over by then, or lifted from an earlier day already: nothing changes.
            lifted.push(freeze_from_row(row));
            continue;
        }
        let policy = policy_from_row(policy_row(txn, &row.policy_id).await?).map_err(fail)?;
        accrual_freezes::Entity::update_many()
            .col_expr(accrual_freezes::Column::LiftedFrom, Expr::value(from))
            .col_expr(accrual_freezes::Column::UpdatedAt, Expr::value(now))
            .filter(accrual_freezes::Column::FreezeId.eq(row.freeze_id.as_str()))
            .exec(txn)
            .await?;
        rewind_watermark(txn, account.account_id, reopen_watermark(&policy, from)).await?;
        lifted.push(freeze_from_row(accrual_freezes::Model {
            lifted_from: Some(from),
            updated_at: now,
            ..row
        }));
    }
    Ok(lifted)
}

pub(crate) async fn extend_freeze(
    txn: &DatabaseTransaction,
    command: &ExtendFreeze,
    now: DateTime<Utc>,
) -> Tx<Vec<Freeze>> {
    let mut extended = Vec::new();
    for row in targets(txn, &command.target, command.expected_employee.as_ref()).await? {
        let account = lock(txn, &row.employee_id, &row.policy_id).await?;
        let row = reread_freeze(txn, row).await?;
        if row.lifted_from.is_some() {
            return Err(fail(Rejection::FreezeNotExtendable {
                freeze_id: row.freeze_id,
                why: "it was lifted".into(),
            }));
        }
        if command.end_date == row.end_date {
            // Extended to this day already (a repeated extension): nothing changes.
            extended.push(freeze_from_row(row));
            continue;
        }
        if command.end_date < row.end_date {
            return Err(fail(Rejection::FreezeNotExtendable {
                freeze_id: row.freeze_id,
                why: format!("the new end must be after {}", row.end_date),
            }));
        }
        if (command.end_date - row.start_date).num_days() >= FREEZE_SPAN_DAYS_MAX {
            return Err(fail(LedgerError::invalid(
                "end_date",
                format!("a freeze spans at most {FREEZE_SPAN_DAYS_MAX} days"),
            )));
        }
        let after_end = row.end_date.succ_opt().unwrap_or(row.end_date);
        if let Some(other) = account_freezes(txn, account.account_id)
            .await?
            .into_iter()
            .find(|other| other.id != row.freeze_id && other.overlaps(after_end, command.end_date))
        {
            return Err(fail(Rejection::FreezeOverlaps {
                freeze_id: other.id,
            }));
        }
        accrual_freezes::Entity::update_many()
            .col_expr(
                accrual_freezes::Column::EndDate,
                Expr::value(command.end_date),
            )
            .col_expr(accrual_freezes::Column::UpdatedAt, Expr::value(now))
            .filter(accrual_freezes::Column::FreezeId.eq(row.freeze_id.as_str()))
            .exec(txn)
            .await?;
        extended.push(freeze_from_row(accrual_freezes::Model {
            end_date: command.end_date,
            updated_at: now,
            ..row
        }));
    }
    Ok(extended)
}

// ---- Ending assignments.

pub(crate) async fn end_assignments(
    txn: &DatabaseTransaction,
    effects: &Effects,
    command: &EndAssignments,
    now: DateTime<Utc>,
) -> Tx<EndedAssignments> {
    let employee_id = command.employee_id.as_str();
    let end = command.end_date;
    // Every account this request may change, locked first and in policy order (as every request
    // locks accounts): the assignments' and the pending holds'. What is decided below is read
    // after the locks, so a concurrent end or decision is seen, not overwritten.
    let mut policies: BTreeSet<String> = assignments_of(txn, command)
        .await?
        .into_iter()
        .map(|row| row.policy_id)
        .collect();
    policies.extend(
        pending_holds(txn, command)
            .await?
            .into_iter()
            .map(|h| h.policy_id),
    );
    for policy_id in &policies {
        lock(txn, employee_id, policy_id).await?;
    }
    let to_end: Vec<assignments::Model> = assignments_of(txn, command)
        .await?
        .into_iter()
        .filter(|row| row.effective_to.is_none_or(|to| to > end))
        .collect();
    if let Some(later) = to_end.iter().find(|row| row.effective_from > end) {
        return Err(fail(Rejection::AssignmentStartsLater {
            assignment_id: later.assignment_id.clone(),
            effective_from: later.effective_from,
        }));
    }
    let ending: BTreeSet<String> = to_end.iter().map(|row| row.policy_id.clone()).collect();
    // What each account's accruals are entitled to before the end moves.
    let mut before = Vec::with_capacity(ending.len());
    for policy_id in &ending {
        before.push(account_assignments(txn, employee_id, policy_id).await?);
    }
    let mut ended = Vec::with_capacity(to_end.len());
    for row in to_end {
        assignments::Entity::update_many()
            .col_expr(assignments::Column::EffectiveTo, Expr::value(end))
            .filter(assignments::Column::AssignmentId.eq(row.assignment_id.as_str()))
            .exec(txn)
            .await?;
        assignment_endings::Entity::insert(assignment_endings::ActiveModel {
            request_id: Set(command.request_id.as_str().to_owned()),
            assignment_id: Set(row.assignment_id.clone()),
            previous_to: Set(row.effective_to),
            ended_to: Set(end),
        })
        .exec_without_returning(txn)
        .await?;
        ended.push(assignment_from_row(assignments::Model {
            effective_to: Some(end),
            ..row
        }));
    }
    let request_id = command.request_id.as_str();
    let mut withdrawn = Vec::new();
    for (policy_id, before) in ending.iter().zip(before) {
        let Some(account) = account_of(txn, employee_id, policy_id).await? else {
            continue;
        };
        // Accruals are made in advance: the days after the end that accrued already go back.
        withdrawn.extend(
            withdraw_accruals_after(txn, effects, &account, &before, end, request_id, now).await?,
        );
        // And the periods from tomorrow up to the end day accrue now, prorated to it, so what is
        // settled after the end is all there will be (the past ones are the worker's).
        accrue_ahead(txn, effects, &account, end, request_id, now).await?;
    }

    // The pending holds: those with a day after the end are voided, the others posted if asked.
    let (mut voided, mut posted) = (Vec::new(), Vec::new());
    for hold in pending_holds(txn, command).await? {
        let days = held_days(txn, &hold.hold_id).await?;
        let after_end = days.iter().any(|day| day.effective_date > end);
        let target = if hold.expires_at <= now {
            // Past its expiry: it expires, as the sweeper would have done.
            HoldState::Expired
        } else if after_end {
            HoldState::Voided
        } else if command.post_earlier_holds {
            HoldState::Posted
        } else {
            continue;
        };
        let reason = match target {
            HoldState::Voided => format!("assignment ended on {end}: {}", command.reason),
            HoldState::Posted => format!("posted at the end of the assignment: {}", command.reason),
            _ => "expired".to_owned(),
        };
        let resolution = Resolution {
            target,
            expected_employee: Some(&command.employee_id),
            request_id,
            reason: &reason,
            rejected: false,
        };
        match resolve_hold(txn, effects, &hold.hold_id, &resolution, now).await {
            Ok(_) => {}
            // Decided meanwhile (before this request locked its account): nothing to do.
            Err(TxError::Domain(LedgerError::Rejected(Rejection::HoldAlreadyResolved {
                ..
            }))) => continue,
            Err(err) => return Err(err),
        }
        match target {
            HoldState::Voided => voided.push(hold.hold_id),
            HoldState::Posted => posted.push(hold.hold_id),
            _ => {}
        }
    }
    Ok(EndedAssignments {
        assignments: ended,
        voided_hold_ids: voided,
        posted_hold_ids: posted,
        withdrawn,
    })
}

/// The employee's assignments the command names (of its policy, or all), by policy and start.
async fn assignments_of(
    txn: &DatabaseTransaction,
    command: &EndAssignments,
) -> Tx<Vec<assignments::Model>> {
    use assignments::Column;
    let mut query =
        assignments::Entity::find().filter(Column::EmployeeId.eq(command.employee_id.as_str()));
    if let Some(policy_id) = &command.policy_id {
        query = query.filter(Column::PolicyId.eq(policy_id.as_str()));
    }
    Ok(query
        .order_by_asc(Column::PolicyId)
        .order_by_asc(Column::EffectiveFrom)
        .all(txn)
        .await?)
}

/// The employee's pending holds the command concerns, in policy order.
async fn pending_holds(
    txn: &DatabaseTransaction,
    command: &EndAssignments,
) -> Tx<Vec<holds::Model>> {
    let mut pending = holds::Entity::find()
        .filter(holds::Column::EmployeeId.eq(command.employee_id.as_str()))
        .filter(holds::Column::State.eq(HoldState::Pending.as_str()));
    if let Some(policy_id) = &command.policy_id {
        pending = pending.filter(holds::Column::PolicyId.eq(policy_id.as_str()));
    }
    Ok(pending
        .order_by_asc(holds::Column::PolicyId)
        .order_by_asc(holds::Column::HoldId)
        .all(txn)
        .await?)
}

/// The reference of the adjustment that withdraws part of the accrual entry `entry_id`.
fn withdrawal_reference(entry_id: i64) -> String {
    format!("{WITHDRAWAL_PREFIX}{entry_id}")
}

const WITHDRAWAL_PREFIX: &str = "withdrawn-accrual:";

/// Appends, for each scheduled accrual of the account whose period runs past `end`, an adjustment
/// taking back the days after the end: what the period was entitled to under the assignments
/// `before` the end moved, less what it is entitled to now, both under the freezes of now (so a
/// freeze changes nothing of it), and never more than is left of the accrual. The account is
/// locked.
async fn withdraw_accruals_after(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account: &accounts::Model,
    before: &[Assignment],
    end: NaiveDate,
    request_id: &str,
    now: DateTime<Utc>,
) -> Tx<Vec<Entry>> {
    use entries::Column;
    let accruals = entries::Entity::find()
        .filter(Column::AccountId.eq(account.account_id))
        .filter(Column::Kind.eq(EntryKind::Accrual.as_str()))
        .filter(Column::PeriodEnd.gt(end))
        .order_by_asc(Column::EntryId)
        .all(txn)
        .await?;
    if accruals.is_empty() {
        return Ok(Vec::new());
    }
    let (employee_id, policy_id) = (account.employee_id.as_str(), account.policy_id.as_str());
    let policy = policy_from_row(policy_row(txn, policy_id).await?).map_err(fail)?;
    let after = account_assignments(txn, employee_id, policy_id).await?;
    let freezes = account_freezes(txn, account.account_id).await?;
    let key = AccountKey {
        employee_id,
        policy_id,
    };
    let mut appended = Vec::new();
    for accrual in accruals {
        let (Some(start), Some(period_end)) = (accrual.period_start, accrual.period_end) else {
            continue;
        };
        if is_reversed(txn, accrual.entry_id).await? {
            continue;
        }
        let period = Period {
            start,
            end: period_end,
        };
        let left = standing_accrual(txn, &accrual).await?;
        let Some(excess) = withdrawal_for_end(&policy, period, before, &after, &freezes, left)
        else {
            continue;
        };
        let amount = Quantity::ZERO - excess;
        let draft = EntryDraft {
            kind: EntryKind::Adjustment,
            amount,
            deltas: Totals::of_entry(EntryKind::Adjustment, amount),
            // Dated like the accrual, so every balance as of a date is as if it had been
            // prorated to the end from the start.
            effective_date: accrual.effective_date,
            hold_id: None,
            reverses_entry_id: None,
            period: None,
            reason: format!(
                "accrual for {} to {} beyond the assignment's end on {end} withdrawn",
                period.start, period.end
            ),
            reference: withdrawal_reference(accrual.entry_id),
        };
        let updated = apply_to_account(txn, &key, draft.deltas, true).await?;
        appended.extend(append_drafts(txn, effects, &updated, &[&draft], request_id, now).await?);
    }
    Ok(appended)
}

async fn is_reversed(txn: &DatabaseTransaction, entry_id: i64) -> Tx<bool> {
    Ok(entries::Entity::find()
        .filter(entries::Column::ReversesEntryId.eq(entry_id))
        .one(txn)
        .await?
        .is_some())
}

/// The signed sum of the account's adjustments under `reference` that still stand (not reversed):
/// the withdrawals from an accrual (negative) or its top-ups (positive).
async fn standing_adjustments(
    txn: &DatabaseTransaction,
    account_id: i64,
    reference: &str,
) -> Tx<Quantity> {
    use entries::Column;
    let mut sum = Quantity::ZERO;
    for adjustment in entries::Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(EntryKind::Adjustment.as_str()))
        .filter(Column::Reference.eq(reference))
        .all(txn)
        .await?
    {
        if !is_reversed(txn, adjustment.entry_id).await? {
            sum = sum + Quantity::from_millis(adjustment.amount);
        }
    }
    Ok(sum)
}

/// What stands of the accrual `entry_id`: its amount, less what ends withdrew, plus top-ups.
async fn standing_accrual(txn: &DatabaseTransaction, accrual: &entries::Model) -> Tx<Quantity> {
    let account_id = accrual.account_id;
    Ok(Quantity::from_millis(accrual.amount)
        + standing_adjustments(txn, account_id, &withdrawal_reference(accrual.entry_id)).await?
        + standing_adjustments(txn, account_id, &top_up_reference(accrual.entry_id)).await?)
}

/// Reverses the withdrawals `ended_by_request_id` appended (a reopening's part).
async fn reverse_withdrawals(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account: &accounts::Model,
    ended_by_request_id: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Tx<()> {
    use entries::Column;
    let withdrawals = entries::Entity::find()
        .filter(Column::AccountId.eq(account.account_id))
        .filter(Column::Kind.eq(EntryKind::Adjustment.as_str()))
        .filter(Column::RequestId.eq(ended_by_request_id))
        .filter(Column::Reference.starts_with(WITHDRAWAL_PREFIX))
        .order_by_asc(Column::EntryId)
        .all(txn)
        .await?;
    let key = AccountKey {
        employee_id: &account.employee_id,
        policy_id: &account.policy_id,
    };
    for withdrawal in withdrawals {
        if is_reversed(txn, withdrawal.entry_id).await? {
            continue;
        }
        let original = entry_from_row(withdrawal).map_err(fail)?;
        let draft = reversal_draft(&original, "assignment reopened");
        let updated = apply_to_account(txn, &key, draft.deltas, true).await?;
        append_drafts(txn, effects, &updated, &[&draft], request_id, now).await?;
    }
    Ok(())
}

pub(crate) async fn reopen_assignments(
    txn: &DatabaseTransaction,
    effects: &Effects,
    command: &ReopenAssignments,
    now: DateTime<Utc>,
) -> Tx<Vec<Assignment>> {
    let endings = assignment_endings::Entity::find()
        .filter(assignment_endings::Column::RequestId.eq(command.ended_by_request_id.as_str()))
        .all(txn)
        .await?;
    let mut ended = Vec::with_capacity(endings.len());
    for ending in endings {
        if let Some(row) = assignments::Entity::find_by_id(ending.assignment_id.clone())
            .one(txn)
            .await?
        {
            ended.push((ending, row));
        }
    }
    // Accounts locked in (employee, policy) order, as everywhere.
    ended.sort_by(|(_, a), (_, b)| {
        (&a.employee_id, &a.policy_id, &a.effective_from).cmp(&(
            &b.employee_id,
            &b.policy_id,
            &b.effective_from,
        ))
    });
    let mut reopened = Vec::with_capacity(ended.len());
    for (ending, row) in ended {
        check_record_of(
            RecordKind::Assignment,
            &row.assignment_id,
            &EmployeeId::from_trusted(row.employee_id.clone()),
            Some(&command.employee_id),
        )
        .map_err(fail)?;
        let account = lock(txn, &row.employee_id, &row.policy_id).await?;
        // As it is now that its account is locked: a concurrent end is seen, not overwritten.
        let row = assignments::Entity::find_by_id(row.assignment_id.clone())
            .one(txn)
            .await?
            .unwrap_or(row);
        if row.effective_to != Some(ending.ended_to) {
            // Changed again since: that later change stands.
            reopened.push(assignment_from_row(row));
            continue;
        }
        let restored = assignment_from_row(assignments::Model {
            effective_to: ending.previous_to,
            ..row.clone()
        });
        let after_end = ending.ended_to.succ_opt().unwrap_or(ending.ended_to);
        if let Some(other) = account_assignments(txn, &row.employee_id, &row.policy_id)
            .await?
            .into_iter()
            .find(|other| other.id != restored.id && other.overlaps(after_end, ending.previous_to))
        {
            return Err(fail(Rejection::AssignmentOverlaps {
                assignment_id: other.id,
            }));
        }
        assignments::Entity::update_many()
            .col_expr(
                assignments::Column::EffectiveTo,
                Expr::value(ending.previous_to),
            )
            .filter(assignments::Column::AssignmentId.eq(row.assignment_id.as_str()))
            .exec(txn)
            .await?;
        let policy = policy_from_row(policy_row(txn, &row.policy_id).await?).map_err(fail)?;
        rewind_watermark(
            txn,
            account.account_id,
            reopen_watermark(&policy, after_end),
        )
        .await?;
        reverse_withdrawals(
            txn,
            effects,
            &account,
            &command.ended_by_request_id,
            command.request_id.as_str(),
            now,
        )
        .await?;
        reopened.push(restored);
    }
    Ok(reopened)
}

// ---- Accrual runs.

/// Brings each account up to `up_to`: every due accrual and carry-over expiry, in date order,
/// each once (the unique index on the entry's period backs the watermark up), then the
/// watermark.
pub(crate) async fn accrue_accounts(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account_ids: &[i64],
    up_to: NaiveDate,
    request_id: &str,
    now: DateTime<Utc>,
    keep_entries: bool,
) -> Tx<AccrualRun> {
    let mut run = AccrualRun::default();
    let mut policies: HashMap<String, Policy> = HashMap::new();
    // Locked in (employee, policy) order, as every other request locks accounts, so a run and a
    // batch or an offboarding cannot deadlock.
    let mut rows = accounts::Entity::find()
        .filter(accounts::Column::AccountId.is_in(account_ids.iter().copied()))
        .all(txn)
        .await?;
    rows.sort_by(|a, b| (&a.employee_id, &a.policy_id).cmp(&(&b.employee_id, &b.policy_id)));
    for row in rows {
        let account = lock(txn, &row.employee_id, &row.policy_id).await?;
        if account
            .accrued_through
            .is_some_and(|through| through >= up_to)
        {
            continue;
        }
        if !policies.contains_key(&account.policy_id) {
            let policy =
                policy_from_row(policy_row(txn, &account.policy_id).await?).map_err(fail)?;
            policies.insert(account.policy_id.clone(), policy);
        }
        let policy = &policies[&account.policy_id];
        let assignments =
            account_assignments(txn, &account.employee_id, &account.policy_id).await?;
        let freezes = account_freezes(txn, account.account_id).await?;
        let (events, through) = due(
            policy,
            &assignments,
            &freezes,
            account.accrued_through,
            up_to,
            now.date_naive(),
        );
        let appended = apply_due(txn, effects, &account, policy, &events, request_id, now).await?;
        accounts::Entity::update_many()
            .col_expr(accounts::Column::AccruedThrough, Expr::value(through))
            .filter(accounts::Column::AccountId.eq(account.account_id))
            .exec(txn)
            .await?;
        run.accounts += 1;
        for entry in appended {
            match entry.kind {
                EntryKind::CarryOverExpiry => run.expiries += 1,
                _ => run.accruals += 1,
            }
            if keep_entries {
                run.entries.push(entry);
            }
        }
    }
    Ok(run)
}

/// Accrues the account's periods whose first assigned day falls after today and on or before
/// `end`, leaving its watermark alone: the worker, reaching them later, finds them accrued. The
/// account is locked.
async fn accrue_ahead(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account: &accounts::Model,
    end: NaiveDate,
    request_id: &str,
    now: DateTime<Utc>,
) -> Tx<()> {
    let today = now.date_naive();
    if end <= today {
        return Ok(());
    }
    let policy = policy_from_row(policy_row(txn, &account.policy_id).await?).map_err(fail)?;
    let assignments = account_assignments(txn, &account.employee_id, &account.policy_id).await?;
    let freezes = account_freezes(txn, account.account_id).await?;
    let (events, _) = due(&policy, &assignments, &freezes, Some(today), end, today);
    // The account as it is now (a withdrawal may have moved its balance).
    let current = lock(txn, &account.employee_id, &account.policy_id).await?;
    apply_due(txn, effects, &current, &policy, &events, request_id, now).await?;
    Ok(())
}

/// Appends the entries `events` call for, skipping periods that have theirs already.
async fn apply_due(
    txn: &DatabaseTransaction,
    effects: &Effects,
    account: &accounts::Model,
    policy: &Policy,
    events: &[Due],
    request_id: &str,
    now: DateTime<Utc>,
) -> Tx<Vec<Entry>> {
    let Some(earliest) = events
        .iter()
        .map(|event| match event {
            Due::YearEnd { year, .. } => year.start,
            Due::Accrual { period, .. } => period.start,
        })
        .min()
    else {
        return Ok(Vec::new());
    };
    let rows = entries::Entity::find()
        .filter(entries::Column::AccountId.eq(account.account_id))
        .filter(entries::Column::PeriodStart.gte(earliest))
        .all(txn)
        .await?;
    let done: HashSet<(String, NaiveDate)> = rows
        .iter()
        .filter_map(|row| Some((row.kind.clone(), row.period_start?)))
        .collect();
    // The accruals of these periods: a period looked at again (an assignment from inside it, a
    // lifted freeze) is topped up to what it is entitled to now.
    let accrued: HashMap<NaiveDate, &entries::Model> = rows
        .iter()
        .filter(|row| row.kind == EntryKind::Accrual.as_str())
        .filter_map(|row| Some((row.period_start?, row)))
        .collect();
    let key = AccountKey {
        employee_id: &account.employee_id,
        policy_id: &account.policy_id,
    };
    let mut balance = totals_of_account(account).balance();
    let mut appended = Vec::new();
    for event in events {
        let draft = match *event {
            Due::Accrual { period, on, amount } => {
                if let Some(accrual) = accrued.get(&period.start) {
                    let Some(draft) =
                        top_up(txn, policy, accrual, period, on, amount, balance).await?
                    else {
                        continue;
                    };
                    let updated = apply_to_account(txn, &key, draft.deltas, true).await?;
                    balance = totals_of_account(&updated).balance();
                    appended.extend(
                        append_drafts(txn, effects, &updated, &[&draft], request_id, now).await?,
                    );
                    continue;
                }
                let amount = capped(amount, balance, policy.spec.accrual.max_balance);
                if !amount.is_positive() {
                    continue;
                }
                EntryDraft {
                    kind: EntryKind::Accrual,
                    amount,
                    deltas: Totals::of_entry(EntryKind::Accrual, amount),
                    effective_date: on,
                    hold_id: None,
                    reverses_entry_id: None,
                    period: Some(period),
                    reason: format!("accrual for {} to {}", period.start, period.end),
                    reference: String::new(),
                }
            }
            Due::YearEnd { year, cap } => {
                if done.contains(&(EntryKind::CarryOverExpiry.as_str().to_owned(), year.start)) {
                    continue;
                }
                let at_year_end = totals_as_of(txn, account.account_id, year.end).await?;
                // Pending days of the old year count as taken: one posted later books its
                // consumption there, and one voided leaves the employee over the cap, not under.
                let Some(excess) = expiring(at_year_end.available(), cap) else {
                    continue;
                };
                let amount = Quantity::ZERO - excess;
                EntryDraft {
                    kind: EntryKind::CarryOverExpiry,
                    amount,
                    deltas: Totals::of_entry(EntryKind::CarryOverExpiry, amount),
                    effective_date: year.end,
                    hold_id: None,
                    reverses_entry_id: None,
                    period: Some(year),
                    reason: format!(
                        "balance above the carry-over cap of {cap} expired at the year end"
                    ),
                    reference: String::new(),
                }
            }
        };
        // A rule, not a request: no balance floor applies.
        let updated = apply_to_account(txn, &key, draft.deltas, true).await?;
        balance = totals_of_account(&updated).balance();
        appended.extend(append_drafts(txn, effects, &updated, &[&draft], request_id, now).await?);
    }
    Ok(appended)
}

/// The adjustment that brings the period of `accrual` up to `entitled` (under the maximum
/// balance), when what stands of it (granted, less withdrawals, plus top-ups) is less: a second
/// assignment inside an accrued period, or a lifted freeze, is owed its days. Nothing for an
/// accrual that was reversed (by hand: a decision that stands) or that stands at its due already.
async fn top_up(
    txn: &DatabaseTransaction,
    policy: &Policy,
    accrual: &entries::Model,
    period: Period,
    on: NaiveDate,
    entitled: Quantity,
    balance: Quantity,
) -> Tx<Option<EntryDraft>> {
    if is_reversed(txn, accrual.entry_id).await? {
        return Ok(None);
    }
    let missing = entitled - standing_accrual(txn, accrual).await?;
    if !missing.is_positive() {
        return Ok(None);
    }
    let amount = capped(missing, balance, policy.spec.accrual.max_balance);
    if !amount.is_positive() {
        return Ok(None);
    }
    Ok(Some(EntryDraft {
        kind: EntryKind::Adjustment,
        amount,
        deltas: Totals::of_entry(EntryKind::Adjustment, amount),
        effective_date: on,
        hold_id: None,
        reverses_entry_id: None,
        period: None,
        reason: format!(
            "accrual for {} to {} topped up to its due",
            period.start, period.end
        ),
        reference: top_up_reference(accrual.entry_id),
    }))
}

const TOP_UP_PREFIX: &str = "accrual-top-up:";

/// The reference of the adjustment that tops up the accrual entry `entry_id`.
fn top_up_reference(entry_id: i64) -> String {
    format!("{TOP_UP_PREFIX}{entry_id}")
}

/// The accounts of an employee (optionally of one policy), by id.
pub(crate) async fn employee_accounts(
    db: &impl ConnectionTrait,
    employee_id: &str,
    policy_id: Option<&PolicyId>,
) -> Tx<Vec<accounts::Model>> {
    let mut query = accounts::Entity::find().filter(accounts::Column::EmployeeId.eq(employee_id));
    if let Some(policy_id) = policy_id {
        query = query.filter(accounts::Column::PolicyId.eq(policy_id.as_str()));
    }
    Ok(query
        .order_by_asc(accounts::Column::AccountId)
        .all(db)
        .await?)
}

/// One batch of accounts an accrual run has yet to bring up to `up_to`, after `after_id`.
pub(crate) async fn accounts_behind(
    db: &impl ConnectionTrait,
    up_to: NaiveDate,
    policy_id: Option<&PolicyId>,
    after_id: i64,
    limit: u64,
) -> std::result::Result<Vec<i64>, sea_orm::DbErr> {
    use accounts::Column;
    use sea_orm::{QuerySelect, sea_query::Condition};
    let mut query = accounts::Entity::find()
        .select_only()
        .column(Column::AccountId)
        .filter(Column::AccountId.gt(after_id))
        .filter(
            Condition::any()
                .add(Column::AccruedThrough.is_null())
                .add(Column::AccruedThrough.lt(up_to)),
        );
    if let Some(policy_id) = policy_id {
        query = query.filter(Column::PolicyId.eq(policy_id.as_str()));
    }
    query
        .order_by_asc(Column::AccountId)
        .limit(limit)
        .into_tuple::<i64>()
        .all(db)
        .await
}

/// Every freeze of the employee, by policy and start.
pub(crate) async fn employee_freezes(
    db: &impl ConnectionTrait,
    employee_id: &str,
    policy_id: Option<&PolicyId>,
) -> std::result::Result<Vec<Freeze>, sea_orm::DbErr> {
    let mut query =
        accrual_freezes::Entity::find().filter(accrual_freezes::Column::EmployeeId.eq(employee_id));
    if let Some(policy_id) = policy_id {
        query = query.filter(accrual_freezes::Column::PolicyId.eq(policy_id.as_str()));
    }
    Ok(query
        .order_by_asc(accrual_freezes::Column::PolicyId)
        .order_by_asc(accrual_freezes::Column::StartDate)
        .all(db)
        .await?
        .into_iter()
        .map(freeze_from_row)
        .collect())
}
