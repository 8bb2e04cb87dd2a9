//! Closing an employee's records (when they leave) and reopening exactly what was closed.

use hrmesh_domain::{EmployeeId, RequestId, Violations, check_text};
use hrmesh_performance_core as core;
use hrmesh_proto::performance as pb;

use super::feedback::feedback_request_status;
use super::goal::goal_status;
use super::pip::pip_status;
use super::review::review_state;
use super::{Parsed, REASON_CHARS_MAX, timestamp};
use hrmesh_performance_core::PerformanceError;

fn closed_record(record: core::ClosedRecord) -> pb::ClosedRecord {
    let (kind, previous) = match record.previous {
        core::PreviousState::Review(state) => (
            pb::RecordKind::Review,
            review_state(state).as_str_name().to_owned(),
        ),
        core::PreviousState::Goal(status) => (
            pb::RecordKind::Goal,
            goal_status(status).as_str_name().to_owned(),
        ),
        core::PreviousState::Pip(status) => (
            pb::RecordKind::Pip,
            pip_status(status).as_str_name().to_owned(),
        ),
        core::PreviousState::FeedbackRequest(status) => (
            pb::RecordKind::FeedbackRequest,
            feedback_request_status(status).as_str_name().to_owned(),
        ),
    };
    pb::ClosedRecord {
        kind: kind as i32,
        id: record.id,
        previous_state: previous,
    }
}

pub fn closure(closure: core::Closure) -> pb::Closure {
    pb::Closure {
        close_request_id: closure.close_request_id,
        employee_id: closure.employee_id.to_string(),
        reason: closure.reason,
        records: closure.records.into_iter().map(closed_record).collect(),
        close_time: Some(timestamp(closure.closed_at)),
        reopen_time: closure.reopened_at.map(timestamp),
    }
}

pub fn close_employee_records(
    request: pb::CloseEmployeeRecordsRequest,
) -> Parsed<core::CloseEmployeeRecords> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let command = (|| {
        Some(core::CloseEmployeeRecords {
            request_id: request_id?,
            employee_id: employee_id?,
            reason: request.reason,
        })
    })();
    PerformanceError::parsed(v, command)
}

pub fn reopen_employee_records(
    request: pb::ReopenEmployeeRecordsRequest,
) -> Parsed<core::ReopenEmployeeRecords> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let close_request_id = RequestId::parse("close_request_id", &request.close_request_id, &mut v);
    let command = (|| {
        Some(core::ReopenEmployeeRecords {
            request_id: request_id?,
            close_request_id: close_request_id?.as_str().to_owned(),
        })
    })();
    PerformanceError::parsed(v, command)
}
