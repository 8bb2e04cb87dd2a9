//! Performance improvement plans: opening one, its check-ins, its outcome, cancelling it.

use chrono::NaiveDate;
use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, page_size, parse_date, parse_issued_id,
    parse_optional_date,
};
use hrmesh_performance_core as core;
use hrmesh_proto::performance as pb;

use super::{
    Listing, NOTE_CHARS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Parsed, REASON_CHARS_MAX, date_text,
    expected_employee, page_token, required_text, timestamp,
};
use hrmesh_performance_core::PerformanceError;

const OBJECTIVES_MAX: usize = 20;
const OBJECTIVE_CHARS_MAX: usize = 1_000;
const CHECK_INS_MAX: usize = 52;
const PIP_DAYS_MAX: i64 = 366;

pub fn pip_status(status: core::PipStatus) -> pb::PipStatus {
    match status {
        core::PipStatus::Active => pb::PipStatus::Active,
        core::PipStatus::Completed => pb::PipStatus::Completed,
        core::PipStatus::Cancelled => pb::PipStatus::Cancelled,
        core::PipStatus::Closed => pb::PipStatus::Closed,
    }
}

fn pip_outcome(outcome: core::PipOutcome) -> pb::PipOutcome {
    match outcome {
        core::PipOutcome::Successful => pb::PipOutcome::Successful,
        core::PipOutcome::Extended => pb::PipOutcome::Extended,
        core::PipOutcome::Unsuccessful => pb::PipOutcome::Unsuccessful,
    }
}

pub fn pip(pip: core::Pip) -> pb::Pip {
    pb::Pip {
        outcome: pip
            .final_outcome()
            .map_or(0, |outcome| pip_outcome(outcome) as i32),
        pip_id: pip.id,
        employee_id: pip.employee_id.to_string(),
        manager_id: pip.manager_id.to_string(),
        reason: pip.reason,
        objectives: pip.objectives,
        start_date: date_text(pip.start_date),
        end_date: date_text(pip.end_date),
        check_in_dates: pip.check_in_dates.into_iter().map(date_text).collect(),
        check_ins: pip
            .check_ins
            .into_iter()
            .map(|check_in| pb::PipCheckIn {
                check_in_date: date_text(check_in.date),
                notes: check_in.notes,
                on_track: check_in.on_track,
                request_id: check_in.request_id,
                time: Some(timestamp(check_in.at)),
            })
            .collect(),
        status: pip_status(pip.status) as i32,
        outcomes: pip
            .outcomes
            .into_iter()
            .map(|record| pb::PipOutcomeRecord {
                outcome: pip_outcome(record.outcome) as i32,
                notes: record.notes,
                new_end_date: record.new_end_date.map(date_text).unwrap_or_default(),
                request_id: record.request_id,
                time: Some(timestamp(record.at)),
            })
            .collect(),
        opened_by_request_id: pip.opened_by_request_id,
        cancel_reason: pip.cancel_reason,
        create_time: Some(timestamp(pip.created_at)),
        update_time: Some(timestamp(pip.updated_at)),
    }
}

/// Parses `dates` as distinct dates, sorted.
fn dates(field: &str, texts: &[String], v: &mut Violations) -> Vec<NaiveDate> {
    let mut parsed: Vec<NaiveDate> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, text)| parse_date(&format!("{field}[{i}]"), text, v))
        .collect();
    let count = parsed.len();
    parsed.sort_unstable();
    parsed.dedup();
    if parsed.len() != count {
        v.add(field, "must not repeat a date");
    }
    parsed
}

pub fn open_pip(request: pb::OpenPipRequest) -> Parsed<core::OpenPip> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let manager_id = EmployeeId::parse("manager_id", &request.manager_id, &mut v);
    if let (Some(employee), Some(manager)) = (&employee_id, &manager_id)
        && employee == manager
    {
        v.add("manager_id", "must not be the employee on the plan");
    }
    required_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    if request.objectives.is_empty() || request.objectives.len() > OBJECTIVES_MAX {
        v.add(
            "objectives",
            format!("must have 1-{OBJECTIVES_MAX} objectives"),
        );
    }
    for (i, objective) in request.objectives.iter().enumerate() {
        required_text(
            &format!("objectives[{i}]"),
            objective,
            OBJECTIVE_CHARS_MAX,
            &mut v,
        );
    }
    let start = parse_date("start_date", &request.start_date, &mut v);
    let end = parse_date("end_date", &request.end_date, &mut v);
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            v.add("end_date", "must be after start_date");
        } else if (end - start).num_days() > PIP_DAYS_MAX {
            v.add("end_date", "must be at most a year after start_date");
        }
    }
    if request.check_in_dates.is_empty() || request.check_in_dates.len() > CHECK_INS_MAX {
        v.add(
            "check_in_dates",
            format!("must have 1-{CHECK_INS_MAX} dates"),
        );
    }
    let check_in_dates = dates("check_in_dates", &request.check_in_dates, &mut v);
    if let (Some(start), Some(end)) = (start, end)
        && check_in_dates
            .iter()
            .any(|date| *date < start || *date > end)
    {
        v.add("check_in_dates", "must lie within start_date and end_date");
    }
    let command = (|| {
        Some(core::OpenPip {
            request_id: request_id?,
            employee_id: employee_id?,
            manager_id: manager_id?,
            reason: request.reason,
            objectives: request.objectives,
            start_date: start?,
            end_date: end?,
            check_in_dates,
        })
    })();
    PerformanceError::parsed(v, command)
}

/// `employee_id` is the request's expected employee; empty for requests without one.
fn update_pip(
    request_id: &str,
    pip_id: &str,
    employee_id: &str,
    mut v: Violations,
    change: Option<core::PipChange>,
) -> Parsed<core::UpdatePip> {
    let request_id = RequestId::parse("request_id", request_id, &mut v);
    let pip_id = parse_issued_id("pip_id", pip_id, &mut v);
    let expected_employee = expected_employee(employee_id, &mut v);
    let command = (|| {
        Some(core::UpdatePip {
            request_id: request_id?,
            pip_id: pip_id?,
            change: change?,
            expected_employee: expected_employee?,
        })
    })();
    PerformanceError::parsed(v, command)
}

pub fn record_pip_check_in(request: pb::RecordPipCheckInRequest) -> Parsed<core::UpdatePip> {
    let mut v = Violations::default();
    let date = parse_date("check_in_date", &request.check_in_date, &mut v);
    required_text("notes", &request.notes, NOTE_CHARS_MAX, &mut v);
    update_pip(
        &request.request_id,
        &request.pip_id,
        "",
        v,
        date.map(|date| core::PipChange::CheckIn {
            date,
            notes: request.notes,
            on_track: request.on_track,
        }),
    )
}

pub fn record_pip_outcome(request: pb::RecordPipOutcomeRequest) -> Parsed<core::UpdatePip> {
    let mut v = Violations::default();
    let outcome = match pb::PipOutcome::try_from(request.outcome) {
        Ok(pb::PipOutcome::Successful) => Some(core::PipOutcome::Successful),
        Ok(pb::PipOutcome::Extended) => Some(core::PipOutcome::Extended),
        Ok(pb::PipOutcome::Unsuccessful) => Some(core::PipOutcome::Unsuccessful),
        _ => {
            v.add("outcome", "must be SUCCESSFUL, EXTENDED or UNSUCCESSFUL");
            None
        }
    };
    check_text("notes", &request.notes, NOTE_CHARS_MAX, &mut v);
    let new_end_date = parse_optional_date("new_end_date", &request.new_end_date, &mut v);
    let additional = dates(
        "additional_check_in_dates",
        &request.additional_check_in_dates,
        &mut v,
    );
    if outcome.is_some_and(|outcome| outcome != core::PipOutcome::Extended)
        && (!request.new_end_date.is_empty() || !request.additional_check_in_dates.is_empty())
    {
        v.add(
            "new_end_date",
            "is only allowed with outcome EXTENDED (as are additional_check_in_dates)",
        );
    }
    if outcome == Some(core::PipOutcome::Extended) && request.new_end_date.is_empty() {
        v.add("new_end_date", "is required for outcome EXTENDED");
    }
    let change = (|| {
        Some(core::PipChange::Outcome {
            outcome: outcome?,
            notes: request.notes,
            new_end_date: new_end_date?,
            additional_check_in_dates: additional,
        })
    })();
    update_pip(
        &request.request_id,
        &request.pip_id,
        &request.employee_id,
        v,
        change,
    )
}

/// CancelPip names its PIP either by id or by the request that opened it.
pub enum CancelPip {
    ById(core::UpdatePip),
    OpenedBy(core::CancelPipOpenedBy),
}

pub fn cancel_pip(request: pb::CancelPipRequest) -> Parsed<CancelPip> {
    let mut v = Violations::default();
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    match request.target {
        Some(pb::cancel_pip_request::Target::PipId(pip_id)) => update_pip(
            &request.request_id,
            &pip_id,
            &request.employee_id,
            v,
            Some(core::PipChange::Cancel {
                reason: request.reason,
            }),
        )
        .map(CancelPip::ById),
        Some(pb::cancel_pip_request::Target::OpenedByRequestId(opened_by)) => {
            let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
            let opened_by = RequestId::parse("opened_by_request_id", &opened_by, &mut v);
            let expected_employee = expected_employee(&request.employee_id, &mut v);
            let command = (|| {
                Some(CancelPip::OpenedBy(core::CancelPipOpenedBy {
                    request_id: request_id?,
                    opened_by_request_id: opened_by?.as_str().to_owned(),
                    reason: request.reason,
                    expected_employee: expected_employee?,
                }))
            })();
            PerformanceError::parsed(v, command)
        }
        None => {
            v.add("pip_id", "pip_id or opened_by_request_id is required");
            RequestId::parse("request_id", &request.request_id, &mut v);
            expected_employee(&request.employee_id, &mut v);
            PerformanceError::parsed(v, None)
        }
    }
}

fn optional_pip_status(value: i32, v: &mut Violations) -> Option<core::PipStatus> {
    if value == 0 {
        return None;
    }
    let status = core::PipStatus::ALL
        .into_iter()
        .find(|status| pip_status(*status) as i32 == value);
    if status.is_none() {
        v.add("status", "is not a PIP status");
    }
    status
}

pub fn list_pips(request: &pb::ListPipsRequest) -> Parsed<Listing<core::PipFilter>> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let status = optional_pip_status(request.status, &mut v);
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = employee_id.map(|employee_id| Listing {
        filter: core::PipFilter {
            employee_id,
            status,
        },
        after,
        page_size,
    });
    PerformanceError::parsed(v, listing)
}
