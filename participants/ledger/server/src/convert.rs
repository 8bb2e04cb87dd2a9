//! Hand-written conversion between the protobuf messages and the ledger's domain types. Parsing a
//! request collects every violation with the API's field path, so one answer names them all.

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, parse_date, parse_optional_date,
};
use hrmesh_ledger_core as core;
use hrmesh_ledger_core::{LedgerError, PolicyId, Quantity};
use hrmesh_proto::ledger as pb;

type Parsed<T> = Result<T, LedgerError>;

const REASON_CHARS_MAX: usize = 500;
const REFERENCE_CHARS_MAX: usize = 128;

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn date_range(period: core::Period) -> hrmesh_proto::common::DateRange {
    hrmesh_proto::common::DateRange {
        start_date: date_text(period.start),
        end_date: date_text(period.end),
    }
}

fn optional_policy_id(field: &str, text: &str, v: &mut Violations) -> Option<Option<PolicyId>> {
    if text.is_empty() {
        Some(None)
    } else {
        PolicyId::parse(field, text, v).map(Some)
    }
}

fn optional_quantity(
    field: &str,
    text: &str,
    violations: &mut Violations,
) -> Option<Option<Quantity>> {
    if text.is_empty() {
        return Some(None);
    }
    Quantity::parse(field, text, violations).map(Some)
}

pub fn policy_id(field: &str, text: &str) -> Parsed<PolicyId> {
    let mut violations = Violations::default();
    let id = PolicyId::parse(field, text, &mut violations);
    LedgerError::parsed(violations, id)
}

pub fn create_policy(request: pb::CreatePolicyRequest) -> Parsed<core::CreatePolicy> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let policy_id = PolicyId::parse("policy_id", &request.policy_id, &mut v);
    let Some(policy) = request.policy else {
        v.add("policy", "is required");
        return LedgerError::parsed(v, None);
    };
    let resource_type =
        core::ResourceType::parse("policy.resource_type", &policy.resource_type, &mut v);
    let unit = match pb::Unit::try_from(policy.unit) {
        Ok(pb::Unit::Days) => Some(core::Unit::Days),
        Ok(pb::Unit::Hours) => Some(core::Unit::Hours),
        _ => {
            v.add("policy.unit", "must be UNIT_DAYS or UNIT_HOURS");
            None
        }
    };
    let accrual = policy.accrual.unwrap_or_default();
    let frequency = match pb::AccrualFrequency::try_from(accrual.frequency) {
        Ok(pb::AccrualFrequency::None) => Some(core::AccrualFrequency::None),
        Ok(pb::AccrualFrequency::Monthly) => Some(core::AccrualFrequency::Monthly),
        Ok(pb::AccrualFrequency::Annual) => Some(core::AccrualFrequency::Annual),
        Ok(pb::AccrualFrequency::SemiMonthly) => Some(core::AccrualFrequency::SemiMonthly),
        Ok(pb::AccrualFrequency::Biweekly) => Some(core::AccrualFrequency::Biweekly),
        _ => {
            v.add(
                "policy.accrual.frequency",
                "must be NONE, MONTHLY, SEMI_MONTHLY, BIWEEKLY or ANNUAL",
            );
            None
        }
    };
    let accrual_amount = optional_quantity("policy.accrual.amount", &accrual.amount, &mut v);
    let max_balance = optional_quantity("policy.accrual.max_balance", &accrual.max_balance, &mut v);
    let year_start_month = match policy.year_start_month {
        0 => Some(1),
        month @ 1..=12 => Some(month as u32),
        _ => {
            v.add(
                "policy.year_start_month",
                "must be a month, 1 to 12 (0 means 1)",
            );
            None
        }
    };
    let carry_over_cap = optional_quantity("policy.carry_over_cap", &policy.carry_over_cap, &mut v);
    let full_day = match (unit, policy.full_day.is_empty()) {
        (Some(core::Unit::Days), true) => Some(Quantity::from_units(1)),
        (Some(core::Unit::Hours), true) => {
            v.add(
                "policy.full_day",
                "is required for a policy counted in hours",
            );
            None
        }
        _ => Quantity::parse("policy.full_day", &policy.full_day, &mut v),
    };
    let command = (|| {
        Some(core::CreatePolicy {
            request_id: request_id?,
            policy_id: policy_id?,
            spec: core::PolicySpec {
                resource_type: resource_type?,
                unit: unit?,
                accrual: core::AccrualRule {
                    frequency: frequency?,
                    amount: accrual_amount?.unwrap_or(Quantity::ZERO),
                    max_balance: max_balance?,
                },
                allow_negative: policy.allow_negative,
                carry_over_cap: carry_over_cap?,
                full_day: full_day?,
                count_weekends: policy.count_weekends,
                year_start_month: year_start_month?,
            },
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn policy(policy: core::Policy) -> pb::Policy {
    let spec = policy.spec;
    pb::Policy {
        policy_id: policy.id.as_str().to_owned(),
        resource_type: spec.resource_type.as_str().to_owned(),
        unit: match spec.unit {
            core::Unit::Days => pb::Unit::Days,
            core::Unit::Hours => pb::Unit::Hours,
        } as i32,
        accrual: Some(pb::AccrualRule {
            frequency: match spec.accrual.frequency {
                core::AccrualFrequency::None => pb::AccrualFrequency::None,
                core::AccrualFrequency::Monthly => pb::AccrualFrequency::Monthly,
                core::AccrualFrequency::Annual => pb::AccrualFrequency::Annual,
                core::AccrualFrequency::SemiMonthly => pb::AccrualFrequency::SemiMonthly,
                core::AccrualFrequency::Biweekly => pb::AccrualFrequency::Biweekly,
            } as i32,
            amount: spec.accrual.amount.to_string(),
            max_balance: spec
                .accrual
                .max_balance
                .map(|max| max.to_string())
                .unwrap_or_default(),
        }),
        allow_negative: spec.allow_negative,
        carry_over_cap: spec
            .carry_over_cap
            .map(|cap| cap.to_string())
            .unwrap_or_default(),
        full_day: spec.full_day.to_string(),
        count_weekends: spec.count_weekends,
        create_time: Some(timestamp(policy.created_at)),
        year_start_month: spec.year_start_month as i32,
    }
}

pub fn assign_policy(request: pb::AssignPolicyRequest) -> Parsed<core::AssignPolicy> {
    let mut v = Violations::default();
    let command = (|| {
        let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
        let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
        let policy_id = PolicyId::parse("policy_id", &request.policy_id, &mut v);
        let effective_from = parse_date("effective_from", &request.effective_from, &mut v);
        let effective_to = parse_optional_date("effective_to", &request.effective_to, &mut v);
        Some(core::AssignPolicy {
            request_id: request_id?,
            employee_id: employee_id?,
            policy_id: policy_id?,
            effective_from: effective_from?,
            effective_to: effective_to?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn assign_policies(request: pb::AssignPoliciesRequest) -> Parsed<core::AssignPolicies> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_ids: Vec<PolicyId> = request
        .policy_ids
        .iter()
        .enumerate()
        .filter_map(|(n, id)| PolicyId::parse(&format!("policy_ids[{n}]"), id, &mut v))
        .collect();
    let from = parse_date("effective_from", &request.effective_from, &mut v);
    let to = parse_optional_date("effective_to", &request.effective_to, &mut v);
    let command = (|| {
        Some(core::AssignPolicies {
            request_id: request_id?,
            employee_id: employee_id?,
            policy_ids,
            effective_from: from?,
            effective_to: to?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn assignment(assignment: core::Assignment) -> pb::Assignment {
    pb::Assignment {
        assignment_id: assignment.id,
        employee_id: assignment.employee_id.as_str().to_owned(),
        policy_id: assignment.policy_id.as_str().to_owned(),
        effective_from: date_text(assignment.effective_from),
        effective_to: assignment.effective_to.map(date_text).unwrap_or_default(),
        create_time: Some(timestamp(assignment.created_at)),
    }
}

pub fn list_assignments(
    request: &pb::ListAssignmentsRequest,
) -> Parsed<(EmployeeId, Option<String>, u32)> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    // Assignment ids are UUIDs like hold ids; the last one of a page is the token.
    let after = match request.page_token.as_str() {
        "" => Some(None),
        token => hold_id("page_token", token, &mut v).map(Some),
    };
    let page_size =
        hrmesh_domain::page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let query = (|| Some((employee_id?, after?, page_size)))();
    LedgerError::parsed(v, query)
}

pub fn append_entries(request: pb::AppendEntriesRequest) -> Parsed<core::AppendEntries> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let mut entries = Vec::with_capacity(request.entries.len());
    for (index, entry) in request.entries.iter().enumerate() {
        let field = |name: &str| format!("entries[{index}].{name}");
        let employee_id = EmployeeId::parse(&field("employee_id"), &entry.employee_id, &mut v);
        let policy_id = PolicyId::parse(&field("policy_id"), &entry.policy_id, &mut v);
        let kind = match pb::EntryKind::try_from(entry.kind) {
            Ok(pb::EntryKind::Accrual) => Some(core::NewEntryKind::Accrual),
            Ok(pb::EntryKind::Adjustment) => Some(core::NewEntryKind::Adjustment),
            Ok(pb::EntryKind::Payout) => Some(core::NewEntryKind::Payout),
            Ok(pb::EntryKind::Forfeiture) => Some(core::NewEntryKind::Forfeiture),
            _ => {
                v.add(
                    field("kind"),
                    "must be ENTRY_KIND_ACCRUAL, ENTRY_KIND_ADJUSTMENT, ENTRY_KIND_PAYOUT or \
                     ENTRY_KIND_FORFEITURE",
                );
                None
            }
        };
        let amount = Quantity::parse(&field("amount"), &entry.amount, &mut v);
        let effective_date = parse_date(&field("effective_date"), &entry.effective_date, &mut v);
        check_text(&field("reason"), &entry.reason, REASON_CHARS_MAX, &mut v);
        check_text(
            &field("reference"),
            &entry.reference,
            REFERENCE_CHARS_MAX,
            &mut v,
        );
        if let (
            Some(employee_id),
            Some(policy_id),
            Some(kind),
            Some(amount),
            Some(effective_date),
        ) = (employee_id, policy_id, kind, amount, effective_date)
        {
            entries.push(core::NewEntry {
                employee_id,
                policy_id,
                kind,
                amount,
                effective_date,
                reason: entry.reason.clone(),
                reference: entry.reference.clone(),
            });
        }
    }
    let command = request_id.map(|request_id| core::AppendEntries {
        request_id,
        entries,
    });
    LedgerError::parsed(v, command)
}

fn entry_kind(kind: core::EntryKind) -> pb::EntryKind {
    match kind {
        core::EntryKind::Accrual => pb::EntryKind::Accrual,
        core::EntryKind::Adjustment => pb::EntryKind::Adjustment,
        core::EntryKind::Hold => pb::EntryKind::Hold,
        core::EntryKind::Post => pb::EntryKind::Post,
        core::EntryKind::Void => pb::EntryKind::Void,
        core::EntryKind::Expiry => pb::EntryKind::Expiry,
        core::EntryKind::Reversal => pb::EntryKind::Reversal,
        core::EntryKind::CarryOverExpiry => pb::EntryKind::CarryOverExpiry,
        core::EntryKind::Payout => pb::EntryKind::Payout,
        core::EntryKind::Forfeiture => pb::EntryKind::Forfeiture,
    }
}

pub fn entry(entry: core::Entry) -> pb::Entry {
    pb::Entry {
        entry_id: entry.id,
        employee_id: entry.employee_id.as_str().to_owned(),
        policy_id: entry.policy_id.as_str().to_owned(),
        resource_type: entry.resource_type.as_str().to_owned(),
        kind: entry_kind(entry.kind) as i32,
        amount: entry.amount.to_string(),
        effective_date: date_text(entry.effective_date),
        hold_id: entry.hold_id.unwrap_or_default(),
        reverses_entry_id: entry.reverses_entry_id.unwrap_or_default(),
        reason: entry.reason,
        reference: entry.reference,
        request_id: entry.request_id,
        create_time: Some(timestamp(entry.created_at)),
        period: entry.period.map(date_range),
    }
}

pub fn hold_days(request: pb::HoldDaysRequest) -> Parsed<core::HoldDays> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = PolicyId::parse("policy_id", &request.policy_id, &mut v);
    let dates = request.dates.unwrap_or_default();
    let start_date = parse_date("dates.start_date", &dates.start_date, &mut v);
    let end_date = parse_date("dates.end_date", &dates.end_date, &mut v);
    let half_days: Vec<Option<NaiveDate>> = request
        .half_days
        .iter()
        .enumerate()
        .map(|(index, day)| parse_date(&format!("half_days[{index}]"), day, &mut v))
        .collect();
    let hold_timeout_secs = match request.hold_timeout {
        None => Some(None),
        Some(duration) if duration.nanos == 0 => Some(Some(duration.seconds)),
        Some(_) => {
            v.add("hold_timeout", "must be a whole number of seconds");
            None
        }
    };
    check_text("reference", &request.reference, REFERENCE_CHARS_MAX, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let command = (|| {
        Some(core::HoldDays {
            request_id: request_id?,
            employee_id: employee_id?,
            policy_id: policy_id?,
            start_date: start_date?,
            end_date: end_date?,
            half_days: half_days.into_iter().collect::<Option<Vec<_>>>()?,
            hold_timeout_secs: hold_timeout_secs?,
            reference: request.reference,
            reason: request.reason,
        })
    })();
    LedgerError::parsed(v, command)
}

fn hold_state(state: core::HoldState) -> pb::HoldState {
    match state {
        core::HoldState::Pending => pb::HoldState::Pending,
        core::HoldState::Posted => pb::HoldState::Posted,
        core::HoldState::Voided => pb::HoldState::Voided,
        core::HoldState::Expired => pb::HoldState::Expired,
    }
}

pub fn hold(hold: core::Hold) -> pb::Hold {
    pb::Hold {
        hold_id: hold.id,
        employee_id: hold.employee_id.as_str().to_owned(),
        policy_id: hold.policy_id.as_str().to_owned(),
        resource_type: hold.resource_type.as_str().to_owned(),
        state: hold_state(hold.state) as i32,
        days: hold
            .days
            .into_iter()
            .map(|day| pb::HeldDay {
                date: date_text(day.date),
                amount: day.amount.to_string(),
            })
            .collect(),
        total: hold.total.to_string(),
        reference: hold.reference,
        reason: hold.reason,
        create_time: Some(timestamp(hold.created_at)),
        expire_time: Some(timestamp(hold.expires_at)),
        resolve_time: hold.resolved_at.map(timestamp),
    }
}

/// The employee a record-addressed request expects the record to belong to: empty means none;
/// otherwise an employee id like any other (a violation when malformed).
fn expected_employee(text: &str, v: &mut Violations) -> Option<Option<EmployeeId>> {
    if text.is_empty() {
        Some(None)
    } else {
        EmployeeId::parse("employee_id", text, v).map(Some)
    }
}

/// Hold and assignment ids are UUIDs the ledger issued.
pub fn hold_id(field: &str, text: &str, v: &mut Violations) -> Option<String> {
    hrmesh_domain::parse_issued_id(field, text, v)
}

pub fn post_hold(request: pb::PostHoldRequest) -> Parsed<core::PostHold> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let hold_id = hold_id("hold_id", &request.hold_id, &mut v);
    let expected_employee = expected_employee(&request.employee_id, &mut v);
    let command = (|| {
        Some(core::PostHold {
            request_id: request_id?,
            hold_id: hold_id?,
            expected_employee: expected_employee?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn void_hold(request: pb::VoidHoldRequest) -> Parsed<core::VoidHold> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let hold_id = hold_id("hold_id", &request.hold_id, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let expected_employee = expected_employee(&request.employee_id, &mut v);
    let command = (|| {
        Some(core::VoidHold {
            request_id: request_id?,
            hold_id: hold_id?,
            reason: request.reason,
            rejected: request.rejected,
            expected_employee: expected_employee?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn reverse_entry(request: pb::ReverseEntryRequest) -> Parsed<core::ReverseEntry> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    if request.entry_id <= 0 {
        v.add("entry_id", "must be a positive entry id");
    }
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let expected_employee = expected_employee(&request.employee_id, &mut v);
    let command = (|| {
        Some(core::ReverseEntry {
            request_id: request_id?,
            entry_id: request.entry_id,
            reason: request.reason,
            expected_employee: expected_employee?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn balance_query(
    request: &pb::GetBalanceRequest,
) -> Parsed<(EmployeeId, PolicyId, Option<NaiveDate>)> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = PolicyId::parse("policy_id", &request.policy_id, &mut v);
    let as_of = parse_optional_date("as_of_date", &request.as_of_date, &mut v);
    let query = (|| Some((employee_id?, policy_id?, as_of?)))();
    LedgerError::parsed(v, query)
}

pub fn balance(balance: core::Balance) -> pb::Balance {
    let totals = balance.totals;
    pb::Balance {
        employee_id: balance.employee_id.as_str().to_owned(),
        policy_id: balance.policy_id.as_str().to_owned(),
        as_of_date: balance.as_of.map(date_text).unwrap_or_default(),
        accrued: totals.accrued.to_string(),
        consumed: totals.consumed.to_string(),
        pending: totals.pending.to_string(),
        adjustments: totals.adjustments.to_string(),
        balance: totals.balance().to_string(),
        available: totals.available().to_string(),
    }
}

pub const PAGE_SIZE_DEFAULT: u32 = 50;
pub const PAGE_SIZE_MAX: u32 = 500;

pub fn list_entries(
    request: &pb::ListEntriesRequest,
) -> Parsed<(core::EntryFilter, Option<i64>, u32)> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = if request.policy_id.is_empty() {
        Some(None)
    } else {
        PolicyId::parse("policy_id", &request.policy_id, &mut v).map(Some)
    };
    let mut kinds = Vec::with_capacity(request.kinds.len());
    for (index, kind) in request.kinds.iter().enumerate() {
        let kind = pb::EntryKind::try_from(*kind).ok().and_then(|kind| {
            core::EntryKind::ALL
                .into_iter()
                .find(|candidate| entry_kind(*candidate) == kind)
        });
        match kind {
            Some(kind) => kinds.push(kind),
            None => v.add(format!("kinds[{index}]"), "is not an entry kind"),
        }
    }
    let range = request.effective.clone().unwrap_or_default();
    let effective_from = parse_optional_date("effective.start_date", &range.start_date, &mut v);
    let effective_to = parse_optional_date("effective.end_date", &range.end_date, &mut v);
    let after = match request.page_token.as_str() {
        "" => Some(None),
        token => match token.parse::<i64>() {
            Ok(id) if id > 0 => Some(Some(id)),
            _ => {
                v.add("page_token", "is not a token this service issued");
                None
            }
        },
    };
    let page_size =
        hrmesh_domain::page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let query = (|| {
        Some((
            core::EntryFilter {
                employee_id: employee_id?,
                policy_id: policy_id?,
                kinds,
                effective_from: effective_from?,
                effective_to: effective_to?,
            },
            after?,
            page_size,
        ))
    })();
    LedgerError::parsed(v, query)
}

// ---- Accruals, freezes and the ends of assignments.

pub fn employee_id(field: &str, text: &str) -> Parsed<EmployeeId> {
    let mut v = Violations::default();
    let id = EmployeeId::parse(field, text, &mut v);
    LedgerError::parsed(v, id)
}

pub fn run_accruals(request: pb::RunAccrualsRequest) -> Parsed<core::RunAccruals> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let up_to = parse_date("up_to_date", &request.up_to_date, &mut v);
    let employee_id = expected_employee(&request.employee_id, &mut v);
    let policy_id = optional_policy_id("policy_id", &request.policy_id, &mut v);
    let command = (|| {
        Some(core::RunAccruals {
            request_id: request_id?,
            up_to: up_to?,
            scope: core::AccrualScope {
                employee_id: employee_id?,
                policy_id: policy_id?,
            },
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn accrual_run(run: core::AccrualRun) -> pb::RunAccrualsResponse {
    pb::RunAccrualsResponse {
        accounts: run.accounts as i64,
        accrual_entries: run.accruals as i64,
        expiry_entries: run.expiries as i64,
        entries: run.entries.into_iter().map(entry).collect(),
    }
}

pub fn freeze(freeze: core::Freeze) -> pb::Freeze {
    pb::Freeze {
        freeze_id: freeze.id,
        employee_id: freeze.employee_id.as_str().to_owned(),
        policy_id: freeze.policy_id.as_str().to_owned(),
        dates: Some(date_range(core::Period {
            start: freeze.start_date,
            end: freeze.end_date,
        })),
        lifted_from: freeze.lifted_from.map(date_text).unwrap_or_default(),
        reason: freeze.reason,
        reference: freeze.reference,
        request_id: freeze.request_id,
        create_time: Some(timestamp(freeze.created_at)),
        update_time: Some(timestamp(freeze.updated_at)),
    }
}

pub fn freeze_accruals(request: pb::FreezeAccrualsRequest) -> Parsed<core::FreezeAccruals> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = PolicyId::parse("policy_id", &request.policy_id, &mut v);
    let dates = request.dates.unwrap_or_default();
    let start_date = parse_date("dates.start_date", &dates.start_date, &mut v);
    let end_date = parse_date("dates.end_date", &dates.end_date, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    check_text("reference", &request.reference, REFERENCE_CHARS_MAX, &mut v);
    let command = (|| {
        Some(core::FreezeAccruals {
            request_id: request_id?,
            employee_id: employee_id?,
            policy_id: policy_id?,
            start_date: start_date?,
            end_date: end_date?,
            reason: request.reason,
            reference: request.reference,
        })
    })();
    LedgerError::parsed(v, command)
}

fn freeze_target(
    target: Option<pb::FreezeTarget>,
    v: &mut Violations,
) -> Option<core::FreezeTarget> {
    use pb::freeze_target::Target;
    match target.and_then(|target| target.target) {
        Some(Target::FreezeId(id)) => {
            hrmesh_domain::parse_issued_id("target.freeze_id", &id, v).map(core::FreezeTarget::Id)
        }
        Some(Target::FrozenByRequestId(request_id)) => {
            RequestId::parse("target.frozen_by_request_id", &request_id, v)
                .map(|id| core::FreezeTarget::CreatedBy(id.as_str().to_owned()))
        }
        Some(Target::Reference(reference)) => {
            check_text("target.reference", &reference, REFERENCE_CHARS_MAX, v);
            Some(core::FreezeTarget::Reference(reference))
        }
        None => {
            v.add(
                "target",
                "is required: freeze_id, frozen_by_request_id or reference",
            );
            None
        }
    }
}

pub fn unfreeze_accruals(request: pb::UnfreezeAccrualsRequest) -> Parsed<core::UnfreezeAccruals> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let target = freeze_target(request.target, &mut v);
    let expected_employee = expected_employee(&request.employee_id, &mut v);
    let from_date = parse_optional_date("from_date", &request.from_date, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let command = (|| {
        Some(core::UnfreezeAccruals {
            request_id: request_id?,
            target: target?,
            expected_employee: expected_employee?,
            from_date: from_date?,
            reason: request.reason,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn extend_freeze(request: pb::ExtendFreezeRequest) -> Parsed<core::ExtendFreeze> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let target = freeze_target(request.target, &mut v);
    let expected_employee = expected_employee(&request.employee_id, &mut v);
    let end_date = parse_date("end_date", &request.end_date, &mut v);
    let command = (|| {
        Some(core::ExtendFreeze {
            request_id: request_id?,
            target: target?,
            expected_employee: expected_employee?,
            end_date: end_date?,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn list_freezes(request: &pb::ListFreezesRequest) -> Parsed<(EmployeeId, Option<PolicyId>)> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = optional_policy_id("policy_id", &request.policy_id, &mut v);
    let query = (|| Some((employee_id?, policy_id?)))();
    LedgerError::parsed(v, query)
}

pub fn end_assignments(request: pb::EndAssignmentsRequest) -> Parsed<core::EndAssignments> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let policy_id = optional_policy_id("policy_id", &request.policy_id, &mut v);
    let end_date = parse_date("end_date", &request.end_date, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let command = (|| {
        Some(core::EndAssignments {
            request_id: request_id?,
            employee_id: employee_id?,
            policy_id: policy_id?,
            end_date: end_date?,
            post_earlier_holds: request.post_earlier_holds,
            reason: request.reason,
        })
    })();
    LedgerError::parsed(v, command)
}

pub fn ended_assignments(ended: core::EndedAssignments) -> pb::EndAssignmentsResponse {
    pb::EndAssignmentsResponse {
        assignments: ended.assignments.into_iter().map(assignment).collect(),
        voided_hold_ids: ended.voided_hold_ids,
        posted_hold_ids: ended.posted_hold_ids,
        withdrawn_accruals: ended.withdrawn.into_iter().map(entry).collect(),
    }
}

pub fn reopen_assignments(
    request: pb::ReopenAssignmentsRequest,
) -> Parsed<core::ReopenAssignments> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let ended_by = RequestId::parse("ended_by_request_id", &request.ended_by_request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let command = (|| {
        Some(core::ReopenAssignments {
            request_id: request_id?,
            ended_by_request_id: ended_by?.as_str().to_owned(),
            employee_id: employee_id?,
        })
    })();
    LedgerError::parsed(v, command)
}
