//! Turning validated commands into what the store must write. Pure functions: every rule that does
//! not need the database's current state lives here.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use hrmesh_domain::{EmployeeId, Violations};

use crate::{
    Assignment, EntryKind, HeldDay, HoldDays, Policy, PolicyId, Quantity, ResourceType, Totals,
};

/// The longest span one hold may cover, in calendar days (TIGER_STYLE: a limit on everything).
pub const HOLD_SPAN_DAYS_MAX: i64 = 92;

/// One entry to append, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDraft {
    pub kind: EntryKind,
    pub amount: Quantity,
    pub deltas: Totals,
    pub effective_date: NaiveDate,
    pub hold_id: Option<String>,
    pub reverses_entry_id: Option<i64>,
    /// The period a scheduled accrual or a carry-over expiry is for.
    pub period: Option<crate::Period>,
    pub reason: String,
    pub reference: String,
}

/// The entries a batch appends to one account (employee x policy), with each entry's position in
/// the request so answers come back in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub resource_type: ResourceType,
    pub allow_negative: bool,
    pub drafts: Vec<(usize, EntryDraft)>,
}

impl AccountPlan {
    pub fn total_deltas(&self) -> Totals {
        self.drafts
            .iter()
            .fold(Totals::default(), |sum, (_, draft)| sum.plus(draft.deltas))
    }
}

/// What a HoldDays request writes once its days are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldPlan {
    /// The request as the caller sent it (what idempotency compares).
    pub command: HoldDays,
    pub hold_id: String,
    pub resource_type: ResourceType,
    pub allow_negative: bool,
    pub days: Vec<HeldDay>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl HoldPlan {
    pub fn total(&self) -> Quantity {
        self.days.iter().map(|day| day.amount).sum()
    }
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The days a hold takes, with their amounts: every day of the range the policy counts (weekends
/// only when it counts them), half days at half the policy's full day. Every day must fall within
/// one of the employee's assignments of the policy.
pub fn expand_hold_days(
    policy: &Policy,
    command: &HoldDays,
    assignments: &[Assignment],
    violations: &mut Violations,
) -> Vec<HeldDay> {
    let (start, end) = (command.start_date, command.end_date);
    if end < start {
        violations.add("dates.end_date", "must not be before dates.start_date");
        return Vec::new();
    }
    if (end - start).num_days() >= HOLD_SPAN_DAYS_MAX {
        violations.add(
            "dates",
            format!("must span at most {HOLD_SPAN_DAYS_MAX} days"),
        );
        return Vec::new();
    }
    let counts = |day: NaiveDate| policy.spec.count_weekends || !is_weekend(day);

    let mut half_days = BTreeSet::new();
    for (index, day) in command.half_days.iter().enumerate() {
        let field = format!("half_days[{index}]");
        if !(start..=end).contains(day) {
            violations.add(field, "must fall within dates");
        } else if !counts(*day) {
            violations.add(field, "is a weekend day, which this policy does not count");
        } else if !half_days.insert(*day) {
            violations.add(field, "is listed twice");
        }
    }

    let full_day = policy.spec.full_day;
    let days: Vec<HeldDay> = start
        .iter_days()
        .take_while(|day| *day <= end)
        .filter(|day| counts(*day))
        .map(|date| HeldDay {
            date,
            amount: if half_days.contains(&date) {
                full_day.half()
            } else {
                full_day
            },
        })
        .collect();
    if days.is_empty() {
        violations.add(
            "dates",
            "contains no day this policy counts (weekends are skipped)",
        );
    }
    if let Some(uncovered) = days.iter().find(|day| {
        !assignments
            .iter()
            .any(|assignment| assignment.covers(day.date))
    }) {
        violations.add(
            "employee_id",
            format!(
                "employee {} has no assignment of policy {} on {}",
                command.employee_id, policy.id, uncovered.date
            ),
        );
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccrualFrequency, AccrualRule, PolicySpec, Unit};
    use hrmesh_domain::RequestId;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn policy(count_weekends: bool, full_day: Quantity) -> Policy {
        Policy {
            id: PolicyId::from_trusted("pto-standard".into()),
            spec: PolicySpec {
                resource_type: ResourceType::from_trusted("pto".into()),
                unit: Unit::Days,
                accrual: AccrualRule {
                    frequency: AccrualFrequency::None,
                    amount: Quantity::ZERO,
                    max_balance: None,
                },
                allow_negative: false,
                carry_over_cap: None,
                full_day,
                count_weekends,
                year_start_month: 1,
            },
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    fn command(start: &str, end: &str, half_days: &[&str]) -> HoldDays {
        HoldDays {
            request_id: RequestId::parse("r", "r-1", &mut Violations::default()).expect("valid"),
            employee_id: EmployeeId::from_trusted("e-1".into()),
            policy_id: PolicyId::from_trusted("pto-standard".into()),
            start_date: date(start),
            end_date: date(end),
            half_days: half_days.iter().map(|d| date(d)).collect(),
            hold_timeout_secs: None,
            reference: String::new(),
            reason: String::new(),
        }
    }

    fn assigned_from(from: &str) -> Vec<Assignment> {
        vec![Assignment {
            id: "a-1".into(),
            employee_id: EmployeeId::from_trusted("e-1".into()),
            policy_id: PolicyId::from_trusted("pto-standard".into()),
            effective_from: date(from),
            effective_to: None,
            created_at: DateTime::UNIX_EPOCH,
        }]
    }

    #[test]
    fn a_week_skips_the_weekend_and_halves_half_days() {
        let mut violations = Violations::default();
        // 2026-03-09 is a Monday; the range runs to the next Monday.
        let days = expand_hold_days(
            &policy(false, Quantity::from_units(1)),
            &command("2026-03-09", "2026-03-16", &["2026-03-16"]),
            &assigned_from("2026-01-01"),
            &mut violations,
        );
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(days.len(), 6);
        assert_eq!(
            days.iter().map(|d| d.amount).sum::<Quantity>(),
            Quantity::from_millis(5500)
        );
        assert!(days.iter().all(|d| !is_weekend(d.date)));
    }

    #[test]
    fn a_policy_that_counts_weekends_holds_every_day() {
        let mut violations = Violations::default();
        let days = expand_hold_days(
            &policy(true, Quantity::from_units(8)),
            &command("2026-03-13", "2026-03-15", &[]),
            &assigned_from("2026-01-01"),
            &mut violations,
        );
        assert!(violations.is_empty());
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].amount, Quantity::from_units(8));
    }

    #[test]
    fn bad_ranges_and_half_days_are_violations() {
        let cases: [(&str, &str, &[&str], &str); 5] = [
            ("2026-03-10", "2026-03-09", &[], "dates.end_date"),
            ("2026-03-14", "2026-03-15", &[], "dates"),
            ("2026-03-09", "2026-03-10", &["2026-03-11"], "half_days[0]"),
            ("2026-03-09", "2026-03-16", &["2026-03-14"], "half_days[0]"),
            ("2026-01-01", "2026-06-30", &[], "dates"),
        ];
        for (start, end, half_days, field) in cases {
            let mut violations = Violations::default();
            expand_hold_days(
                &policy(false, Quantity::from_units(1)),
                &command(start, end, half_days),
                &assigned_from("2025-01-01"),
                &mut violations,
            );
            let fields: Vec<_> = violations.into_vec().into_iter().map(|v| v.field).collect();
            assert!(
                fields.contains(&field.to_owned()),
                "{start}..{end}: {fields:?}"
            );
        }
    }

    #[test]
    fn days_outside_every_assignment_name_the_employee() {
        let mut violations = Violations::default();
        expand_hold_days(
            &policy(false, Quantity::from_units(1)),
            &command("2026-03-09", "2026-03-10", &[]),
            &assigned_from("2026-03-10"),
            &mut violations,
        );
        let violations = violations.into_vec();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "employee_id");
        assert!(violations[0].description.contains("2026-03-09"));
    }
}
