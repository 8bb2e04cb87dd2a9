//! What the ledger's store suites share: parsing test values and building requests.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, RequestId, Violations};
use hrmesh_ledger_core::{HoldDays, LedgerError, PolicyId, Quantity, Rejection, Result};

pub fn rid(text: &str) -> RequestId {
    RequestId::parse("request_id", text, &mut Violations::default()).expect("valid request id")
}

pub fn employee(text: &str) -> EmployeeId {
    EmployeeId::parse("employee_id", text, &mut Violations::default()).expect("valid employee id")
}

pub fn policy_id(text: &str) -> PolicyId {
    PolicyId::parse("policy_id", text, &mut Violations::default()).expect("valid policy id")
}

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid date")
}

pub fn days(units: i64) -> Quantity {
    Quantity::from_units(units)
}

/// A hold of `policy`'s days from `from` to `to` (whole days) for `employee_id`.
pub fn hold_of(
    policy: &str,
    request_id: &str,
    employee_id: &str,
    from: &str,
    to: &str,
) -> HoldDays {
    HoldDays {
        request_id: rid(request_id),
        employee_id: employee(employee_id),
        policy_id: policy_id(policy),
        start_date: date(from),
        end_date: date(to),
        half_days: Vec::new(),
        hold_timeout_secs: None,
        reference: "request-77".into(),
        reason: "holiday".into(),
    }
}

pub fn is_rejection(
    result: &Result<impl std::fmt::Debug>,
    matches: impl Fn(&Rejection) -> bool,
) -> bool {
    matches!(result, Err(LedgerError::Rejected(rejection)) if matches(rejection))
}
