//! The accrual schedule: which periods a policy's rule accrues, what each accrues for an
//! account given its assignments and freezes, and when a policy year ends. Pure functions; the
//! store applies what they plan, once per period (a unique index on the period), in date order.
//!
//! The rules, as the API documents them:
//! - A period accrues **in advance**, on its first assigned day: the whole period's amount when
//!   the account is assigned (and not frozen) every day of it, otherwise the amount times the
//!   days assigned and not frozen over the period's days, rounded down to the thousandth. So the
//!   first period is prorated from the assignment's start, a period is prorated to an end known
//!   when it accrues, and nothing accrues for days after an assignment ends: ending an assignment
//!   inside a period that accrued already takes back the days after the end
//!   ([`withdrawal_for_end`]; the ledger appends it as a withdrawal adjustment).
//! - A period accrues at most once. A period looked at again — a freeze lifted, an assignment
//!   from inside it (a rehire) — accrues when it accrued nothing, and when it accrued less than it
//!   is entitled to now is topped up with an adjustment referencing its accrual. A freeze made
//!   after a period accrued in advance takes nothing back.
//! - With a maximum balance, an accrual stops at it: the last one is cut to what fits.
//! - At the end of a policy year the balance above the carry-over cap, as of the year's last day,
//!   expires through one CARRY_OVER_EXPIRY entry, when the account is assigned on that day. It is
//!   applied on the next day, before that day's accrual.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{AccrualFrequency, Assignment, Freeze, Policy, Quantity};

/// The first day of biweekly period zero (a Monday); biweekly periods are the 14-day runs from it.
pub const BIWEEKLY_ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(day) => day,
    None => panic!("a valid date"),
};
/// Accrual and expiry events one account applies in one run at most; a longer backlog continues in
/// the next run (the account's watermark says where).
pub const EVENTS_PER_ACCOUNT_MAX: usize = 400;

/// A period of days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn days(self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    fn next_day(self) -> Option<NaiveDate> {
        self.end.succ_opt()
    }
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

fn month_of(day: NaiveDate) -> Period {
    let start = first_of_month(day.year(), day.month());
    let end = start
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(NaiveDate::MAX);
    Period { start, end }
}

/// The policy year containing `day`, starting on the first of `year_start_month` (1-12).
pub fn policy_year(year_start_month: u32, day: NaiveDate) -> Period {
    let month = year_start_month.clamp(1, 12);
    let this_year = first_of_month(day.year(), month);
    let start = if day >= this_year {
        this_year
    } else {
        first_of_month(day.year() - 1, month)
    };
    let end = start
        .checked_add_months(Months::new(12))
        .and_then(|next| next.pred_opt())
        .unwrap_or(NaiveDate::MAX);
    Period { start, end }
}

/// The accrual period of `frequency` containing `day`; none when nothing accrues.
pub fn period_containing(
    frequency: AccrualFrequency,
    year_start_month: u32,
    day: NaiveDate,
) -> Option<Period> {
    match frequency {
        AccrualFrequency::None => None,
        AccrualFrequency::Monthly => Some(month_of(day)),
        AccrualFrequency::SemiMonthly => {
            let month = month_of(day);
            let mid = month.start.with_day(15).unwrap_or(month.end);
            Some(if day <= mid {
                Period {
                    start: month.start,
                    end: mid,
                }
            } else {
                Period {
                    start: mid.succ_opt().unwrap_or(month.end),
                    end: month.end,
                }
            })
        }
        AccrualFrequency::Biweekly => {
            let offset = (day - BIWEEKLY_ANCHOR).num_days().div_euclid(14);
            let start = BIWEEKLY_ANCHOR + chrono::Duration::days(offset * 14);
            Some(Period {
                start,
                end: start + chrono::Duration::days(13),
            })
        }
        AccrualFrequency::Annual => Some(policy_year(year_start_month, day)),
    }
}

/// What the account's schedule asks for on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Expire what exceeds the carry-over cap at the end of `year` (applied the day after).
    YearEnd { year: Period, cap: Quantity },
    /// Accrue `amount` (before the maximum balance) for `period`, effective on `on`.
    Accrual {
        period: Period,
        on: NaiveDate,
        amount: Quantity,
    },
}

impl Due {
    /// The day the event is applied.
    pub fn day(&self) -> NaiveDate {
        match self {
            Due::YearEnd { year, .. } => year.next_day().unwrap_or(year.end),
            Due::Accrual { on, .. } => *on,
        }
    }
}

/// The events due for one account after `after` (its watermark; none: from the start of its
/// first assignment) up to and including `up_to`, in the order to apply them, and the day the
/// account is then brought up to (earlier than `up_to` when the backlog exceeds
/// [`EVENTS_PER_ACCOUNT_MAX`], or, for a policy with a carry-over cap, at the end of the policy
/// year `today` is in: a year end is applied only once it has passed).
pub fn due(
    policy: &Policy,
    assignments: &[Assignment],
    freezes: &[Freeze],
    after: Option<NaiveDate>,
    up_to: NaiveDate,
    today: NaiveDate,
) -> (Vec<Due>, NaiveDate) {
    // A year's expiry needs the year to be over: a run ahead of time (a backfill up to a later
    // day, onboarding's first accrual of a future start) stops the day before it, so the next run
    // applies it, and what follows it, once the year has ended.
    let up_to = match policy.spec.carry_over_cap {
        Some(_) => {
            let next_year_end = policy_year(policy.spec.year_start_month, today).end;
            up_to.min(next_year_end)
        }
        None => up_to,
    };
    let Some(first_start) = assignments.iter().map(|a| a.effective_from).min() else {
        return (Vec::new(), up_to);
    };
    let from = match after.and_then(|day| day.succ_opt()) {
        Some(next) => next.max(first_start),
        None => first_start,
    };
    if from > up_to {
        return (Vec::new(), up_to);
    }
    let spec = &policy.spec;
    let assigned = |day: NaiveDate| assignments.iter().any(|a| a.covers(day));
    let mut events = Vec::new();

    if let Some(cap) = spec.carry_over_cap {
        // Years whose end + 1 falls in [from, up_to].
        let mut year = policy_year(spec.year_start_month, from.pred_opt().unwrap_or(from));
        while let Some(applied) = year.next_day().filter(|day| *day <= up_to) {
            if applied >= from && assigned(year.end) {
                events.push(Due::YearEnd { year, cap });
            }
            year = policy_year(spec.year_start_month, applied);
        }
    }

    let frequency = spec.accrual.frequency;
    let mut period = period_containing(frequency, spec.year_start_month, from);
    while let Some(current) = period.filter(|p| p.start <= up_to) {
        let (first_assigned, accruing_days) = coverage(current, assignments, freezes);
        if let Some(on) = first_assigned.filter(|on| from <= *on && *on <= up_to)
            && accruing_days > 0
        {
            events.push(Due::Accrual {
                period: current,
                on,
                amount: prorate(spec.accrual.amount, accruing_days, current.days()),
            });
        }
        period = current
            .next_day()
            .and_then(|next| period_containing(frequency, spec.year_start_month, next));
    }

    // Same day: the year's expiry before the new year's accrual.
    events.sort_by_key(|event| (event.day(), matches!(event, Due::Accrual { .. })));
    if events.len() > EVENTS_PER_ACCOUNT_MAX {
        let last_day = events[EVENTS_PER_ACCOUNT_MAX - 1].day();
        events.retain(|event| event.day() <= last_day);
        return (events, last_day);
    }
    (events, up_to)
}

/// The first assigned day of `period`, and how many of its days are assigned and not frozen.
fn coverage(
    period: Period,
    assignments: &[Assignment],
    freezes: &[Freeze],
) -> (Option<NaiveDate>, i64) {
    let mut first_assigned = None;
    let mut accruing_days = 0i64;
    for day in period
        .start
        .iter_days()
        .take_while(|day| *day <= period.end)
    {
        if assignments.iter().any(|a| a.covers(day)) {
            first_assigned.get_or_insert(day);
            if !freezes.iter().any(|f| f.covers(day)) {
                accruing_days += 1;
            }
        }
    }
    (first_assigned, accruing_days)
}

/// What `period` accrues by the rule given the assignments and freezes as they are now.
pub fn entitled(
    policy: &Policy,
    period: Period,
    assignments: &[Assignment],
    freezes: &[Freeze],
) -> Quantity {
    let (_, accruing_days) = coverage(period, assignments, freezes);
    prorate(policy.spec.accrual.amount, accruing_days, period.days())
}

/// What to take back of an accrual for `period`, of which `left` still stands, when an end moves
/// the account's assignments from `before` to `after`: the days after the new end, as the rule
/// values them under the freezes of now (so a freeze changes nothing of it), and never more than
/// is left. Accruals are made in advance, so ending an assignment inside an accrued period takes
/// back its days after the end.
pub fn withdrawal_for_end(
    policy: &Policy,
    period: Period,
    before: &[Assignment],
    after: &[Assignment],
    freezes: &[Freeze],
    left: Quantity,
) -> Option<Quantity> {
    let days_after_end =
        entitled(policy, period, before, freezes) - entitled(policy, period, after, freezes);
    let withdrawn = days_after_end.min(left);
    withdrawn.is_positive().then_some(withdrawn)
}

/// `amount` for `days` of a period of `period_days`, rounded down to the thousandth.
pub fn prorate(amount: Quantity, days: i64, period_days: i64) -> Quantity {
    if days >= period_days || period_days <= 0 {
        return amount;
    }
    let millis = i128::from(amount.millis()) * i128::from(days) / i128::from(period_days);
    Quantity::from_millis(i64::try_from(millis).unwrap_or(0))
}

/// What of `amount` still fits under `max_balance` given the current `balance`.
pub fn capped(amount: Quantity, balance: Quantity, max_balance: Option<Quantity>) -> Quantity {
    match max_balance {
        Some(max) => {
            let room = max - balance;
            if room.is_positive() {
                amount.min(room)
            } else {
                Quantity::ZERO
            }
        }
        None => amount,
    }
}

/// What expires at a year end: the balance above the cap, if any.
pub fn expiring(balance_at_year_end: Quantity, cap: Quantity) -> Option<Quantity> {
    let excess = balance_at_year_end - cap;
    excess.is_positive().then_some(excess)
}

/// The day an account's watermark goes back to when `day` is opened again (an assignment or
/// lifted freeze from it): before the start of the period containing it, so that period is
/// looked at again.
pub fn reopen_watermark(policy: &Policy, day: NaiveDate) -> Option<NaiveDate> {
    let spec = &policy.spec;
    let start = period_containing(spec.accrual.frequency, spec.year_start_month, day)
        .map_or(day, |period| period.start);
    start.pred_opt()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use hrmesh_domain::EmployeeId;

    use super::*;
    use crate::{AccrualRule, PolicyId, PolicySpec, ResourceType, Unit};

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn policy(frequency: AccrualFrequency, amount: i64, cap: Option<i64>) -> Policy {
        Policy {
            id: PolicyId::from_trusted("pto".into()),
            spec: PolicySpec {
                resource_type: ResourceType::from_trusted("pto".into()),
                unit: Unit::Days,
                accrual: AccrualRule {
                    frequency,
                    amount: Quantity::from_units(amount),
                    max_balance: None,
                },
                allow_negative: false,
                carry_over_cap: cap.map(Quantity::from_units),
                full_day: Quantity::from_units(1),
                count_weekends: false,
                year_start_month: 1,
            },
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn assigned(from: &str, to: Option<&str>) -> Assignment {
        Assignment {
            id: "a".into(),
            employee_id: EmployeeId::from_trusted("e-1".into()),
            policy_id: PolicyId::from_trusted("pto".into()),
            effective_from: date(from),
            effective_to: to.map(date),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn frozen(from: &str, to: &str) -> Freeze {
        Freeze {
            id: "f".into(),
            employee_id: EmployeeId::from_trusted("e-1".into()),
            policy_id: PolicyId::from_trusted("pto".into()),
            start_date: date(from),
            end_date: date(to),
            lifted_from: None,
            reason: "pip".into(),
            reference: "pip-1".into(),
            request_id: "r".into(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn accruals(events: &[Due]) -> Vec<(NaiveDate, NaiveDate, Quantity)> {
        events
            .iter()
            .filter_map(|event| match event {
                Due::Accrual { period, on, amount } => Some((period.start, *on, *amount)),
                Due::YearEnd { .. } => None,
            })
            .collect()
    }

    #[test]
    fn periods_of_every_frequency() {
        let day = date("2026-02-20");
        let period = |f| period_containing(f, 1, day).expect("a period");
        assert_eq!(
            period(AccrualFrequency::Monthly),
            Period {
                start: date("2026-02-01"),
                end: date("2026-02-28")
            }
        );
        assert_eq!(
            period(AccrualFrequency::SemiMonthly),
            Period {
                start: date("2026-02-16"),
                end: date("2026-02-28")
            }
        );
        let biweekly = period(AccrualFrequency::Biweekly);
        assert_eq!(biweekly.days(), 14);
        assert!(biweekly.contains(day));
        assert_eq!((biweekly.start - BIWEEKLY_ANCHOR).num_days() % 14, 0);
        assert_eq!(
            period_containing(AccrualFrequency::Annual, 4, day),
            Some(Period {
                start: date("2025-04-01"),
                end: date("2026-03-31")
            })
        );
        assert_eq!(period_containing(AccrualFrequency::None, 1, day), None);
    }

    #[test]
    fn the_first_period_is_prorated_from_the_start_and_later_ones_are_whole() {
        let (events, through) = due(
            &policy(AccrualFrequency::Monthly, 2, None),
            &[assigned("2026-01-11", None)],
            &[],
            None,
            date("2026-03-05"),
            date("2026-03-05"),
        );
        assert_eq!(through, date("2026-03-05"));
        assert_eq!(
            accruals(&events),
            vec![
                // 21 of January's 31 days: 2 x 21/31 = 1.354838…, rounded down.
                (
                    date("2026-01-01"),
                    date("2026-01-11"),
                    Quantity::from_millis(1354)
                ),
                (
                    date("2026-02-01"),
                    date("2026-02-01"),
                    Quantity::from_units(2)
                ),
                (
                    date("2026-03-01"),
                    date("2026-03-01"),
                    Quantity::from_units(2)
                ),
            ]
        );
    }

    #[test]
    fn nothing_accrues_after_an_assignment_ends_and_its_last_period_is_prorated() {
        let (events, _) = due(
            &policy(AccrualFrequency::Monthly, 3, None),
            &[assigned("2026-01-01", Some("2026-02-14"))],
            &[],
            None,
            date("2026-06-30"),
            date("2026-06-30"),
        );
        assert_eq!(
            accruals(&events),
            vec![
                (
                    date("2026-01-01"),
                    date("2026-01-01"),
                    Quantity::from_units(3)
                ),
                (
                    date("2026-02-01"),
                    date("2026-02-01"),
                    Quantity::from_millis(1500)
                ),
            ]
        );
    }

    #[test]
    fn the_watermark_skips_what_was_applied_and_catches_up_the_rest() {
        let (events, _) = due(
            &policy(AccrualFrequency::SemiMonthly, 1, None),
            &[assigned("2026-01-01", None)],
            &[],
            Some(date("2026-01-31")),
            date("2026-03-01"),
            date("2026-03-01"),
        );
        let starts: Vec<_> = accruals(&events).into_iter().map(|(s, _, _)| s).collect();
        assert_eq!(
            starts,
            vec![date("2026-02-01"), date("2026-02-16"), date("2026-03-01")]
        );
    }

    #[test]
    fn frozen_days_accrue_nothing() {
        let (events, _) = due(
            &policy(AccrualFrequency::Monthly, 3, None),
            &[assigned("2026-01-01", None)],
            &[frozen("2026-02-01", "2026-03-15")],
            None,
            date("2026-04-01"),
            date("2026-04-01"),
        );
        let got = accruals(&events);
        assert_eq!(got.len(), 3, "February is frozen throughout: {got:?}");
        assert_eq!(got[1].0, date("2026-03-01"));
        // 16 of March's 31 days are not frozen.
        assert_eq!(got[1].2, prorate(Quantity::from_units(3), 16, 31));
        let mut lifted = frozen("2026-02-01", "2026-03-15");
        lifted.lifted_from = Some(date("2026-02-01"));
        let (events, _) = due(
            &policy(AccrualFrequency::Monthly, 3, None),
            &[assigned("2026-01-01", None)],
            &[lifted],
            None,
            date("2026-04-01"),
            date("2026-04-01"),
        );
        assert_eq!(accruals(&events).len(), 4, "a freeze lifted from its start");
    }

    #[test]
    fn a_year_end_expires_before_the_new_years_accrual() {
        let (events, _) = due(
            &policy(AccrualFrequency::Annual, 20, Some(5)),
            &[assigned("2025-01-01", None)],
            &[],
            Some(date("2025-06-30")),
            date("2026-01-01"),
            date("2026-01-01"),
        );
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[0],
            Due::YearEnd { year, .. } if year.end == date("2025-12-31")
        ));
        assert!(matches!(events[1], Due::Accrual { on, .. } if on == date("2026-01-01")));
    }

    #[test]
    fn a_long_backlog_is_cut_at_a_day_boundary() {
        let (events, through) = due(
            &policy(AccrualFrequency::Biweekly, 1, Some(3)),
            &[assigned("2000-01-03", None)],
            &[],
            None,
            date("2026-01-01"),
            date("2026-01-01"),
        );
        assert!(events.len() <= EVENTS_PER_ACCOUNT_MAX);
        assert!(through < date("2026-01-01"));
        assert!(events.iter().all(|event| event.day() <= through));
    }

    #[test]
    fn an_earlier_end_takes_back_the_days_after_it() {
        let policy = policy(AccrualFrequency::Annual, 12, None);
        let year = Period {
            start: date("2026-01-01"),
            end: date("2026-12-31"),
        };
        let open = [assigned("2026-01-01", None)];
        let ended = [assigned("2026-01-01", Some("2026-03-31"))];
        let units = Quantity::from_units;
        // 275 of 365 days come back.
        let back = units(12) - prorate(units(12), 90, 365);
        assert_eq!(
            withdrawal_for_end(&policy, year, &open, &ended, &[], units(12)),
            Some(back)
        );
        // A freeze over days the employee keeps takes nothing more from a leaver: the same 275
        // days come back (up to the rounding of each share to the thousandth).
        let freeze = [frozen("2026-02-01", "2026-02-28")];
        let with_freeze = withdrawal_for_end(&policy, year, &open, &ended, &freeze, units(12))
            .expect("a withdrawal");
        assert!(
            (with_freeze - back).millis().abs() <= 1,
            "{with_freeze} against {back}"
        );
        // Never more than is left; nothing when the end moves later.
        assert_eq!(
            withdrawal_for_end(&policy, year, &open, &ended, &[], units(1)),
            Some(units(1))
        );
        assert_eq!(
            withdrawal_for_end(&policy, year, &ended, &open, &[], units(12)),
            None
        );
    }

    #[test]
    fn caps_and_expiry_amounts() {
        let units = Quantity::from_units;
        assert_eq!(capped(units(2), units(9), Some(units(10))), units(1));
        assert_eq!(capped(units(2), units(11), Some(units(10))), Quantity::ZERO);
        assert_eq!(capped(units(2), units(11), None), units(2));
        assert_eq!(expiring(units(8), units(5)), Some(units(3)));
        assert_eq!(expiring(units(4), units(5)), None);
    }
}
