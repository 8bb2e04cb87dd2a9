use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::{EmployeeId, RequestId, Violations};
use serde::{Deserialize, Serialize};

use crate::{Period, Quantity};

/// A policy id: lowercase letters, digits and '-', 3-63 characters, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyId(String);

impl PolicyId {
    pub fn parse(field: &str, value: &str, violations: &mut Violations) -> Option<Self> {
        if Self::is_valid(value) {
            return Some(Self(value.to_owned()));
        }
        if value.is_empty() {
            violations.add(field, "is required");
        } else {
            violations.add(
                field,
                "must be 3-63 lowercase letters, digits or '-', starting with a letter",
            );
        }
        None
    }

    fn is_valid(value: &str) -> bool {
        let bytes = value.as_bytes();
        (3..=63).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    }

    /// For ids read back from the ledger's own store.
    pub fn from_trusted(value: String) -> Self {
        debug_assert!(
            Self::is_valid(&value),
            "stored policy id {value:?} is invalid"
        );
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a policy grants ("pto", "sick"): lowercase letters, digits and '_', 1-32 characters,
/// starting with a letter. Day uniqueness holds per resource type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceType(String);

impl ResourceType {
    pub fn parse(field: &str, value: &str, violations: &mut Violations) -> Option<Self> {
        if Self::is_valid(value) {
            return Some(Self(value.to_owned()));
        }
        violations.add(
            field,
            "must be 1-32 lowercase letters, digits or '_', starting with a letter",
        );
        None
    }

    fn is_valid(value: &str) -> bool {
        let bytes = value.as_bytes();
        (1..=32).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    }

    pub fn from_trusted(value: String) -> Self {
        debug_assert!(
            Self::is_valid(&value),
            "stored resource type {value:?} is invalid"
        );
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Days,
    Hours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccrualFrequency {
    None,
    /// Calendar months.
    Monthly,
    /// The 1st to the 15th, and the 16th to the month's end.
    SemiMonthly,
    /// Fourteen days, counted from [`crate::BIWEEKLY_ANCHOR`].
    Biweekly,
    /// Policy years (see [`PolicySpec::year_start_month`]).
    Annual,
}

impl AccrualFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            AccrualFrequency::None => "none",
            AccrualFrequency::Monthly => "monthly",
            AccrualFrequency::SemiMonthly => "semi_monthly",
            AccrualFrequency::Biweekly => "biweekly",
            AccrualFrequency::Annual => "annual",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        [
            AccrualFrequency::None,
            AccrualFrequency::Monthly,
            AccrualFrequency::SemiMonthly,
            AccrualFrequency::Biweekly,
            AccrualFrequency::Annual,
        ]
        .into_iter()
        .find(|frequency| frequency.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccrualRule {
    pub frequency: AccrualFrequency,
    /// What one full period accrues.
    pub amount: Quantity,
    /// Scheduled accruals stop where the balance would pass this (the last one is cut to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_balance: Option<Quantity>,
}

/// The fields a new policy is created from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    pub resource_type: ResourceType,
    pub unit: Unit,
    pub accrual: AccrualRule,
    pub allow_negative: bool,
    pub carry_over_cap: Option<Quantity>,
    pub full_day: Quantity,
    pub count_weekends: bool,
    /// The month (1-12) the policy year starts in: annual periods and the carry-over year end.
    #[serde(default = "january")]
    pub year_start_month: u32,
}

fn january() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: PolicyId,
    pub spec: PolicySpec,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl Assignment {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.effective_from <= day && self.effective_to.is_none_or(|to| day <= to)
    }

    pub fn overlaps(&self, from: NaiveDate, to: Option<NaiveDate>) -> bool {
        let starts_before_other_ends = to.is_none_or(|to| self.effective_from <= to);
        let ends_after_other_starts = self.effective_to.is_none_or(|own_to| from <= own_to);
        starts_before_other_ends && ends_after_other_starts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    Accrual,
    Adjustment,
    Hold,
    Post,
    Void,
    Expiry,
    Reversal,
    /// The balance above the policy's carry-over cap at its year end, removed (amount < 0).
    CarryOverExpiry,
    /// A leaver's balance paid out (amount < 0: the days leave the balance for the payroll).
    Payout,
    /// A leaver's balance forfeited (amount < 0).
    Forfeiture,
}

impl EntryKind {
    pub const ALL: [EntryKind; 10] = [
        EntryKind::Accrual,
        EntryKind::Adjustment,
        EntryKind::Hold,
        EntryKind::Post,
        EntryKind::Void,
        EntryKind::Expiry,
        EntryKind::Reversal,
        EntryKind::CarryOverExpiry,
        EntryKind::Payout,
        EntryKind::Forfeiture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Accrual => "accrual",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Hold => "hold",
            EntryKind::Post => "post",
            EntryKind::Void => "void",
            EntryKind::Expiry => "expiry",
            EntryKind::Reversal => "reversal",
            EntryKind::CarryOverExpiry => "carry_over_expiry",
            EntryKind::Payout => "payout",
            EntryKind::Forfeiture => "forfeiture",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// How one entry moves each component of a balance. Every entry carries its deltas, so every way
/// of computing a balance (running totals, snapshots, a full scan) sums the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub accrued: Quantity,
    pub consumed: Quantity,
    pub pending: Quantity,
    pub adjustments: Quantity,
}

impl Totals {
    /// The deltas of an entry of `kind` whose amount is `amount` (the reversal's deltas are the
    /// reversed entry's, negated: see [`Totals::negated`]).
    pub fn of_entry(kind: EntryKind, amount: Quantity) -> Totals {
        let zero = Quantity::ZERO;
        match kind {
            EntryKind::Accrual => Totals {
                accrued: amount,
                ..Totals::default()
            },
            // An expiry lowers the balance like a negative adjustment: balance = accrued -
            // consumed + adjustments keeps holding with no fifth total.
            EntryKind::Adjustment
            | EntryKind::CarryOverExpiry
            | EntryKind::Payout
            | EntryKind::Forfeiture => Totals {
                adjustments: amount,
                ..Totals::default()
            },
            EntryKind::Hold => Totals {
                pending: amount,
                ..Totals::default()
            },
            EntryKind::Post => Totals {
                consumed: amount,
                pending: zero - amount,
                ..Totals::default()
            },
            EntryKind::Void | EntryKind::Expiry => Totals {
                pending: zero - amount,
                ..Totals::default()
            },
            EntryKind::Reversal => {
                debug_assert!(false, "a reversal's deltas come from the entry it reverses");
                Totals::default()
            }
        }
    }

    pub fn negated(self) -> Totals {
        Totals {
            accrued: -self.accrued,
            consumed: -self.consumed,
            pending: -self.pending,
            adjustments: -self.adjustments,
        }
    }

    pub fn plus(self, other: Totals) -> Totals {
        Totals {
            accrued: self.accrued + other.accrued,
            consumed: self.consumed + other.consumed,
            pending: self.pending + other.pending,
            adjustments: self.adjustments + other.adjustments,
        }
    }

    /// accrued - consumed + adjustments.
    pub fn balance(self) -> Quantity {
        self.accrued - self.consumed + self.adjustments
    }

    /// What new holds may still use: balance - pending.
    pub fn available(self) -> Quantity {
        self.balance() - self.pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: i64,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub resource_type: ResourceType,
    pub kind: EntryKind,
    /// Signed, in the policy's unit: the accrual, the adjustment, the day held / posted / voided /
    /// expired, or for a reversal the opposite of the reversed amount.
    pub amount: Quantity,
    pub deltas: Totals,
    pub effective_date: NaiveDate,
    pub hold_id: Option<String>,
    pub reverses_entry_id: Option<i64>,
    /// For scheduled accruals the period accrued; for carry-over expiries the policy year.
    pub period: Option<Period>,
    pub reason: String,
    pub reference: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Posted => "posted",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        [
            HoldState::Pending,
            HoldState::Posted,
            HoldState::Voided,
            HoldState::Expired,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// The entry that resolves each held day into this state.
    pub fn resolution_kind(self) -> Option<EntryKind> {
        match self {
            HoldState::Pending => None,
            HoldState::Posted => Some(EntryKind::Post),
            HoldState::Voided => Some(EntryKind::Void),
            HoldState::Expired => Some(EntryKind::Expiry),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDay {
    pub date: NaiveDate,
    pub amount: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub resource_type: ResourceType,
    pub state: HoldState,
    pub days: Vec<HeldDay>,
    pub total: Quantity,
    pub reference: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub as_of: Option<NaiveDate>,
    pub totals: Totals,
}

/// One page of a list, and the id to continue after (if more may follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

// ---- Commands: validated requests. They are what idempotency compares, so they hold exactly
// ---- what the caller sent (after parsing), never derived or generated values.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePolicy {
    pub request_id: RequestId,
    pub policy_id: PolicyId,
    pub spec: PolicySpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignPolicy {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
}

/// Several policies assigned to one employee over one range, all or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignPolicies {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    /// Distinct, in the order the answer lists the assignments.
    pub policy_ids: Vec<PolicyId>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewEntryKind {
    Accrual,
    Adjustment,
    /// A leaver's remaining balance, paid out (amount < 0).
    Payout,
    /// A leaver's remaining balance, forfeited (amount < 0).
    Forfeiture,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub kind: NewEntryKind,
    pub amount: Quantity,
    pub effective_date: NaiveDate,
    pub reason: String,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntries {
    pub request_id: RequestId,
    pub entries: Vec<NewEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDays {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub half_days: Vec<NaiveDate>,
    /// None means the default timeout.
    pub hold_timeout_secs: Option<i64>,
    pub reference: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostHold {
    pub request_id: RequestId,
    pub hold_id: String,
    /// The employee the caller says the hold belongs to ([`check_record_of`]). Left out of the
    /// inbox's canonical JSON when unset, so requests recorded before it existed still replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidHold {
    pub request_id: RequestId,
    pub hold_id: String,
    pub reason: String,
    /// The void is the request's rejection (decide-time-off), not a cancellation; left out of
    /// the canonical JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
    /// The employee the caller says the hold belongs to ([`check_record_of`]); left out of the
    /// canonical JSON when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseEntry {
    pub request_id: RequestId,
    pub entry_id: i64,
    pub reason: String,
    /// The employee the caller says the reversed entry belongs to ([`check_record_of`]); left
    /// out of the canonical JSON when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

/// The kinds of record a request addresses by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    Hold,
    Entry,
    Freeze,
    Assignment,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Hold => "hold",
            RecordKind::Entry => "entry",
            RecordKind::Freeze => "freeze",
            RecordKind::Assignment => "assignment",
        }
    }
}

/// Checks that the record `record_id`, owned by `owner`, belongs to the employee the request
/// names, if it names one. The store applies it to the record as loaded in the request's
/// transaction, before anything else: a request naming one employee never changes another one's
/// hold or entry, whoever sends it (a service acting for a user included).
pub fn check_record_of(
    record: RecordKind,
    record_id: &str,
    owner: &EmployeeId,
    expected: Option<&EmployeeId>,
) -> crate::Result<()> {
    match expected {
        Some(expected) if expected != owner => Err(crate::Rejection::RecordOfAnotherEmployee {
            record,
            record_id: record_id.to_owned(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A freeze of an account's accruals over a date range: scheduled accruals skip its days and
/// accrual grants dated inside it are refused. Lifting it from a day ends it the day before
/// (from its start: as if it never was); extending it moves its end later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub id: String,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// The first day no longer frozen, once lifted.
    pub lifted_from: Option<NaiveDate>,
    pub reason: String,
    /// What the freeze is for, e.g. the PIP's id.
    pub reference: String,
    /// The request that created it.
    pub request_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Freeze {
    /// The days frozen now: none once lifted from its start.
    pub fn frozen(&self) -> Option<(NaiveDate, NaiveDate)> {
        let end = match self.lifted_from.and_then(|day| day.pred_opt()) {
            Some(day_before) => day_before.min(self.end_date),
            None => self.end_date,
        };
        (self.start_date <= end).then_some((self.start_date, end))
    }

    pub fn covers(&self, day: NaiveDate) -> bool {
        self.frozen()
            .is_some_and(|(from, to)| from <= day && day <= to)
    }

    pub fn overlaps(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.frozen()
            .is_some_and(|(own_from, own_to)| own_from <= to && from <= own_to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeAccruals {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub reason: String,
    pub reference: String,
}

/// Which freezes a request changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeTarget {
    /// This freeze; NOT_FOUND when there is none.
    Id(String),
    /// The freeze that request created, if it did (a saga's undo).
    CreatedBy(String),
    /// The employee's freezes with this reference (a PIP's), if any.
    Reference(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfreezeAccruals {
    pub request_id: RequestId,
    pub target: FreezeTarget,
    /// The employee the freezes must belong to; required with [`FreezeTarget::Reference`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
    /// The first day no longer frozen; none: from the freeze's start (undone entirely).
    pub from_date: Option<NaiveDate>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendFreeze {
    pub request_id: RequestId,
    pub target: FreezeTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
    /// The new last frozen day, after the current one.
    pub end_date: NaiveDate,
}

/// Ends an employee's assignments on a day (of one policy, or all), voiding their pending holds
/// with a day after it in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndAssignments {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub policy_id: Option<PolicyId>,
    /// The last day the assignments apply.
    pub end_date: NaiveDate,
    /// Also post the pending holds whose days all fall on or before `end_date`.
    pub post_earlier_holds: bool,
    pub reason: String,
}

/// What [`EndAssignments`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedAssignments {
    /// The assignments whose end moved, as they are now.
    pub assignments: Vec<Assignment>,
    pub voided_hold_ids: Vec<String>,
    pub posted_hold_ids: Vec<String>,
    /// Adjustments taking back what accruals made in advance granted for days after the end.
    #[serde(default)]
    pub withdrawn: Vec<Entry>,
}

/// Restores the ends [`EndAssignments`] request `ended_by_request_id` changed (a saga's undo), and
/// reverses the accruals it withdrew. Voided and posted holds stay as they are: a hold resolves
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenAssignments {
    pub request_id: RequestId,
    pub ended_by_request_id: String,
    pub employee_id: EmployeeId,
}

/// Which accounts an accrual run covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccrualScope {
    pub employee_id: Option<EmployeeId>,
    pub policy_id: Option<PolicyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAccruals {
    pub request_id: RequestId,
    /// Accrue every period due on or before this day, and expire every year ending before it.
    pub up_to: NaiveDate,
    pub scope: AccrualScope,
}

/// What an accrual run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccrualRun {
    /// Accounts brought up to the day.
    pub accounts: u64,
    pub accruals: u64,
    pub expiries: u64,
    /// The entries appended, for a run scoped to one employee (empty otherwise).
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFilter {
    pub employee_id: EmployeeId,
    pub policy_id: Option<PolicyId>,
    pub kinds: Vec<EntryKind>,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn assignment(from: &str, to: Option<&str>) -> Assignment {
        Assignment {
            id: "a".into(),
            employee_id: EmployeeId::from_trusted("e-1".into()),
            policy_id: PolicyId::from_trusted("pto".into()),
            effective_from: date(from),
            effective_to: to.map(date),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn open_ended_assignments_overlap_everything_after_their_start() {
        let open = assignment("2026-01-01", None);
        assert!(open.overlaps(date("2030-01-01"), None));
        assert!(open.overlaps(date("2025-01-01"), Some(date("2026-01-01"))));
        assert!(!open.overlaps(date("2025-01-01"), Some(date("2025-12-31"))));
    }

    #[test]
    fn closed_assignments_cover_both_ends() {
        let closed = assignment("2026-01-01", Some("2026-12-31"));
        assert!(closed.covers(date("2026-01-01")));
        assert!(closed.covers(date("2026-12-31")));
        assert!(!closed.covers(date("2027-01-01")));
        assert!(!closed.overlaps(date("2027-01-01"), None));
    }

    #[test]
    fn a_record_of_another_employee_than_the_one_named_is_refused_without_naming_the_owner() {
        let owner = EmployeeId::from_trusted("e-2".into());
        let named = EmployeeId::from_trusted("e-1".into());
        let refused = check_record_of(RecordKind::Hold, "h-1", &owner, Some(&named))
            .expect_err("another employee's hold");
        assert_eq!(
            refused,
            crate::LedgerError::Rejected(crate::Rejection::RecordOfAnotherEmployee {
                record: RecordKind::Hold,
                record_id: "h-1".into(),
            })
        );
        assert!(refused.is_recorded(), "a business outcome, replayed");
        assert!(!refused.to_string().contains("e-2"), "{refused}");
        assert_eq!(
            check_record_of(RecordKind::Entry, "7", &owner, Some(&owner)),
            Ok(())
        );
        assert_eq!(
            check_record_of(RecordKind::Entry, "7", &owner, None),
            Ok(())
        );
    }

    #[test]
    fn posting_moves_pending_to_consumed_without_changing_available() {
        let held = Totals::of_entry(EntryKind::Hold, Quantity::from_units(1));
        let posted = held.plus(Totals::of_entry(EntryKind::Post, Quantity::from_units(1)));
        assert_eq!(posted.pending, Quantity::ZERO);
        assert_eq!(posted.consumed, Quantity::from_units(1));
        assert_eq!(held.available(), posted.available());
    }
}
