//! Hand-written conversion between the protobuf messages and the performance domain. Parsing a
//! request collects every violation with the API's field path, so one answer names them all.

mod closure;
mod feedback;
mod goal;
mod pip;
mod review;

pub(crate) use closure::{close_employee_records, closure, reopen_employee_records};
pub(crate) use feedback::{
    feedback, feedback_request, give_feedback, list_feedback, list_feedback_requests,
    request_feedback,
};
pub(crate) use goal::{cancel_goal, create_goal, goal, list_goals, update_goal_progress};
pub(crate) use pip::{
    CancelPip, cancel_pip, list_pips, open_pip, pip, record_pip_check_in, record_pip_outcome,
};
pub(crate) use review::{
    acknowledge_review, complete_review, create_review, finalize_review, list_reviews,
    open_self_assessment, reopen_review, review, submit_self_assessment,
};

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::{EmployeeId, Violations, check_text, parse_issued_id};
use hrmesh_performance_core as core;
use hrmesh_performance_core::PerformanceError;

type Parsed<T> = Result<T, PerformanceError>;

pub const PAGE_SIZE_DEFAULT: u32 = 50;
pub const PAGE_SIZE_MAX: u32 = 500;
const REASON_CHARS_MAX: usize = 500;
const NOTE_CHARS_MAX: usize = 2_000;

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// An id this service issued, named by `field`.
pub fn issued_id(field: &str, text: &str) -> Parsed<String> {
    let mut v = Violations::default();
    let id = parse_issued_id(field, text, &mut v);
    PerformanceError::parsed(v, id)
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

fn optional_issued_id(field: &str, text: &str, v: &mut Violations) -> Option<Option<String>> {
    if text.is_empty() {
        Some(None)
    } else {
        parse_issued_id(field, text, v).map(Some)
    }
}

fn required_text(field: &str, text: &str, max_chars: usize, v: &mut Violations) {
    if text.trim().is_empty() {
        v.add(field, "is required");
    } else {
        check_text(field, text, max_chars, v);
    }
}

fn page_token(text: &str, v: &mut Violations) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    parse_issued_id("page_token", text, v)
}

fn rating(field: &str, value: i32, v: &mut Violations) -> Option<core::Rating> {
    let rating = u8::try_from(value).ok().and_then(core::Rating::from_points);
    if rating.is_none() {
        v.add(field, "must be a rating from UNSATISFACTORY to OUTSTANDING");
    }
    rating
}

pub struct Listing<F> {
    pub filter: F,
    pub after: Option<String>,
    pub page_size: u32,
}
