//! Hand-written conversion between the protobuf messages and the performance domain. Parsing a
//! request collects every violation with the API's field path, so one answer names them all.

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, page_size, parse_date, parse_issued_id,
    parse_optional_date,
};
use hrmesh_performance_core as core;
use hrmesh_performance_core::PerformanceError;
use hrmesh_proto::performance as pb;

type Parsed<T> = Result<T, PerformanceError>;

pub const PAGE_SIZE_DEFAULT: u32 = 50;
pub const PAGE_SIZE_MAX: u32 = 500;
const SECTIONS_MAX: usize = 20;
const SECTION_TITLE_CHARS_MAX: usize = 200;
const SECTION_BODY_CHARS_MAX: usize = 10_000;
const REASON_CHARS_MAX: usize = 500;
const COMMENT_CHARS_MAX: usize = 2_000;
const TITLE_CHARS_MAX: usize = 200;
const DESCRIPTION_CHARS_MAX: usize = 2_000;
const NOTE_CHARS_MAX: usize = 2_000;
const OBJECTIVES_MAX: usize = 20;
const OBJECTIVE_CHARS_MAX: usize = 1_000;
const CHECK_INS_MAX: usize = 52;
const PIP_DAYS_MAX: i64 = 366;
const FEEDBACK_CHARS_MAX: usize = 5_000;

fn finish<T>(violations: Violations, value: Option<T>) -> Parsed<T> {
    match (violations.is_empty(), value) {
        (true, Some(value)) => Ok(value),
        (true, None) => Err(PerformanceError::Internal(
            "a request failed to parse without a violation".into(),
        )),
        (false, _) => Err(PerformanceError::Invalid(violations.into_vec())),
    }
}

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
    finish(v, id)
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

fn sections(
    field: &str,
    sections: Vec<pb::ReviewSection>,
    v: &mut Violations,
) -> Vec<core::Section> {
    if sections.is_empty() {
        v.add(field, "must have at least one section");
    }
    if sections.len() > SECTIONS_MAX {
        v.add(field, format!("must have at most {SECTIONS_MAX} sections"));
    }
    sections
        .into_iter()
        .enumerate()
        .map(|(i, section)| {
            required_text(
                &format!("{field}[{i}].title"),
                &section.title,
                SECTION_TITLE_CHARS_MAX,
                v,
            );
            required_text(
                &format!("{field}[{i}].body"),
                &section.body,
                SECTION_BODY_CHARS_MAX,
                v,
            );
            core::Section {
                title: section.title,
                body: section.body,
            }
        })
        .collect()
}

fn cycle(field: &str, value: i32, v: &mut Violations) -> Option<core::ReviewCycle> {
    match pb::ReviewCycle::try_from(value) {
        Ok(pb::ReviewCycle::Annual) => Some(core::ReviewCycle::Annual),
        Ok(pb::ReviewCycle::SemiAnnual) => Some(core::ReviewCycle::SemiAnnual),
        Ok(pb::ReviewCycle::Quarterly) => Some(core::ReviewCycle::Quarterly),
        Ok(pb::ReviewCycle::Probation) => Some(core::ReviewCycle::Probation),
        _ => {
            v.add(
                field,
                "must be one of ANNUAL, SEMI_ANNUAL, QUARTERLY, PROBATION",
            );
            None
        }
    }
}

fn optional_cycle(value: i32, v: &mut Violations) -> Option<core::ReviewCycle> {
    if value == 0 {
        None
    } else {
        cycle("cycle", value, v)
    }
}

fn rating(field: &str, value: i32, v: &mut Violations) -> Option<core::Rating> {
    let rating = u8::try_from(value).ok().and_then(core::Rating::from_points);
    if rating.is_none() {
        v.add(field, "must be a rating from UNSATISFACTORY to OUTSTANDING");
    }
    rating
}

pub fn review_state(state: core::ReviewState) -> pb::ReviewState {
    match state {
        core::ReviewState::Draft => pb::ReviewState::Draft,
        core::ReviewState::SelfAssessment => pb::ReviewState::SelfAssessment,
        core::ReviewState::ManagerReview => pb::ReviewState::ManagerReview,
        core::ReviewState::Submitted => pb::ReviewState::Submitted,
        core::ReviewState::Completed => pb::ReviewState::Completed,
        core::ReviewState::Acknowledged => pb::ReviewState::Acknowledged,
        core::ReviewState::Closed => pb::ReviewState::Closed,
    }
}

fn optional_review_state(value: i32, v: &mut Violations) -> Option<core::ReviewState> {
    if value == 0 {
        return None;
    }
    let state = core::ReviewState::ALL
        .into_iter()
        .find(|state| review_state(*state) as i32 == value);
    if state.is_none() {
        v.add("state", "is not a review state");
    }
    state
}

fn cycle_pb(cycle: core::ReviewCycle) -> pb::ReviewCycle {
    match cycle {
        core::ReviewCycle::Annual => pb::ReviewCycle::Annual,
        core::ReviewCycle::SemiAnnual => pb::ReviewCycle::SemiAnnual,
        core::ReviewCycle::Quarterly => pb::ReviewCycle::Quarterly,
        core::ReviewCycle::Probation => pb::ReviewCycle::Probation,
    }
}

fn section_pb(section: core::Section) -> pb::ReviewSection {
    pb::ReviewSection {
        title: section.title,
        body: section.body,
    }
}

pub fn review(review: core::Review) -> pb::Review {
    pb::Review {
        review_id: review.id,
        employee_id: review.employee_id.to_string(),
        manager_id: review.manager_id.to_string(),
        cycle: cycle_pb(review.cycle) as i32,
        period_start: date_text(review.period_start),
        period_end: date_text(review.period_end),
        due_date: date_text(review.due_date),
        state: review_state(review.state) as i32,
        rating: review.rating.map_or(0, |rating| i32::from(rating.points())),
        self_assessment: review.self_assessment.into_iter().map(section_pb).collect(),
        manager_assessment: review
            .manager_assessment
            .into_iter()
            .map(section_pb)
            .collect(),
        employee_comment: review.employee_comment,
        finalize_request_id: review.finalize_request_id.unwrap_or_default(),
        history: review
            .history
            .into_iter()
            .map(|transition| pb::ReviewTransition {
                from: review_state(transition.from) as i32,
                to: review_state(transition.to) as i32,
                request_id: transition.request_id,
                time: Some(timestamp(transition.at)),
                reason: transition.reason,
            })
            .collect(),
        create_time: Some(timestamp(review.created_at)),
        update_time: Some(timestamp(review.updated_at)),
    }
}

pub fn create_review(request: pb::CreateReviewRequest) -> Parsed<core::CreateReview> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let manager_id = EmployeeId::parse("manager_id", &request.manager_id, &mut v);
    let cycle = cycle("cycle", request.cycle, &mut v);
    let period_start = parse_date("period_start", &request.period_start, &mut v);
    let period_end = parse_date("period_end", &request.period_end, &mut v);
    let due_date = parse_date("due_date", &request.due_date, &mut v);
    if let (Some(employee), Some(manager)) = (&employee_id, &manager_id)
        && employee == manager
    {
        v.add("manager_id", "must not be the reviewed employee");
    }
    if let (Some(start), Some(end)) = (period_start, period_end)
        && end < start
    {
        v.add("period_end", "must not be before period_start");
    }
    if let (Some(start), Some(due)) = (period_start, due_date)
        && due < start
    {
        v.add("due_date", "must not be before period_start");
    }
    let command = (|| {
        Some(core::CreateReview {
            request_id: request_id?,
            employee_id: employee_id?,
            manager_id: manager_id?,
            cycle: cycle?,
            period_start: period_start?,
            period_end: period_end?,
            due_date: due_date?,
        })
    })();
    finish(v, command)
}

/// `employee_id` is the request's expected employee; empty for requests without one.
fn update_review(
    request_id: &str,
    review_id: &str,
    employee_id: &str,
    v: Violations,
    change: Option<core::ReviewChange>,
) -> Parsed<core::UpdateReview> {
    let mut v = v;
    let request_id = RequestId::parse("request_id", request_id, &mut v);
    let review_id = parse_issued_id("review_id", review_id, &mut v);
    let expected_employee = expected_employee(employee_id, &mut v);
    let command = (|| {
        Some(core::UpdateReview {
            request_id: request_id?,
            review_id: review_id?,
            change: change?,
            expected_employee: expected_employee?,
        })
    })();
    finish(v, command)
}

pub fn open_self_assessment(request: pb::OpenSelfAssessmentRequest) -> Parsed<core::UpdateReview> {
    update_review(
        &request.request_id,
        &request.review_id,
        "",
        Violations::default(),
        Some(core::ReviewChange::OpenSelfAssessment),
    )
}

pub fn submit_self_assessment(
    request: pb::SubmitSelfAssessmentRequest,
) -> Parsed<core::UpdateReview> {
    let mut v = Violations::default();
    let sections = sections("sections", request.sections, &mut v);
    update_review(
        &request.request_id,
        &request.review_id,
        "",
        v,
        Some(core::ReviewChange::SubmitSelfAssessment { sections }),
    )
}

pub fn finalize_review(request: pb::FinalizeReviewRequest) -> Parsed<core::UpdateReview> {
    let mut v = Violations::default();
    let rating = rating("rating", request.rating, &mut v);
    let sections = sections("sections", request.sections, &mut v);
    update_review(
        &request.request_id,
        &request.review_id,
        &request.employee_id,
        v,
        rating.map(|rating| core::ReviewChange::Finalize { rating, sections }),
    )
}

pub fn reopen_review(request: pb::ReopenReviewRequest) -> Parsed<core::UpdateReview> {
    let mut v = Violations::default();
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    let finalize_request_id = if request.finalize_request_id.is_empty() {
        Some(None)
    } else {
        RequestId::parse("finalize_request_id", &request.finalize_request_id, &mut v)
            .map(|id| Some(id.as_str().to_owned()))
    };
    update_review(
        &request.request_id,
        &request.review_id,
        &request.employee_id,
        v,
        finalize_request_id.map(|finalize_request_id| core::ReviewChange::Reopen {
            finalize_request_id,
            reason: request.reason,
        }),
    )
}

pub fn complete_review(request: pb::CompleteReviewRequest) -> Parsed<core::UpdateReview> {
    update_review(
        &request.request_id,
        &request.review_id,
        &request.employee_id,
        Violations::default(),
        Some(core::ReviewChange::Complete),
    )
}

pub fn acknowledge_review(request: pb::AcknowledgeReviewRequest) -> Parsed<core::UpdateReview> {
    let mut v = Violations::default();
    check_text(
        "employee_comment",
        &request.employee_comment,
        COMMENT_CHARS_MAX,
        &mut v,
    );
    update_review(
        &request.request_id,
        &request.review_id,
        "",
        v,
        Some(core::ReviewChange::Acknowledge {
            comment: request.employee_comment,
        }),
    )
}

pub struct Listing<F> {
    pub filter: F,
    pub after: Option<String>,
    pub page_size: u32,
}

pub fn list_reviews(request: &pb::ListReviewsRequest) -> Parsed<Listing<core::ReviewFilter>> {
    let mut v = Violations::default();
    let employee_id = (!request.employee_id.is_empty())
        .then(|| EmployeeId::parse("employee_id", &request.employee_id, &mut v))
        .flatten();
    let manager_id = (!request.manager_id.is_empty())
        .then(|| EmployeeId::parse("manager_id", &request.manager_id, &mut v))
        .flatten();
    if request.employee_id.is_empty() && request.manager_id.is_empty() {
        v.add("employee_id", "employee_id or manager_id is required");
    }
    let filter = core::ReviewFilter {
        employee_id,
        manager_id,
        cycle: optional_cycle(request.cycle, &mut v),
        state: optional_review_state(request.state, &mut v),
    };
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    finish(
        v,
        Some(Listing {
            filter,
            after,
            page_size,
        }),
    )
}

pub fn goal_status(status: core::GoalStatus) -> pb::GoalStatus {
    match status {
        core::GoalStatus::NotStarted => pb::GoalStatus::NotStarted,
        core::GoalStatus::InProgress => pb::GoalStatus::InProgress,
        core::GoalStatus::Completed => pb::GoalStatus::Completed,
        core::GoalStatus::Cancelled => pb::GoalStatus::Cancelled,
        core::GoalStatus::Closed => pb::GoalStatus::Closed,
    }
}

pub fn goal(goal: core::Goal) -> pb::Goal {
    pb::Goal {
        percent_complete: u32::from(goal.percent_complete()),
        goal_id: goal.id,
        employee_id: goal.employee_id.to_string(),
        title: goal.title,
        description: goal.description,
        target_date: date_text(goal.target_date),
        weight: u32::from(goal.weight),
        review_id: goal.review_id.unwrap_or_default(),
        status: goal_status(goal.status) as i32,
        progress_history: goal
            .progress
            .into_iter()
            .map(|update| pb::GoalProgress {
                percent: u32::from(update.percent),
                note: update.note,
                request_id: update.request_id,
                time: Some(timestamp(update.at)),
            })
            .collect(),
        create_time: Some(timestamp(goal.created_at)),
        update_time: Some(timestamp(goal.updated_at)),
    }
}

pub fn create_goal(request: pb::CreateGoalRequest) -> Parsed<core::CreateGoal> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    required_text("title", &request.title, TITLE_CHARS_MAX, &mut v);
    check_text(
        "description",
        &request.description,
        DESCRIPTION_CHARS_MAX,
        &mut v,
    );
    let target_date = parse_date("target_date", &request.target_date, &mut v);
    let weight = match request.weight {
        1..=100 => Some(request.weight as u8),
        _ => {
            v.add("weight", "must be 1-100");
            None
        }
    };
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v);
    let command = (|| {
        Some(core::CreateGoal {
            request_id: request_id?,
            employee_id: employee_id?,
            title: request.title,
            description: request.description,
            target_date: target_date?,
            weight: weight?,
            review_id: review_id?,
        })
    })();
    finish(v, command)
}

fn update_goal(
    request_id: &str,
    goal_id: &str,
    mut v: Violations,
    change: core::GoalChange,
) -> Parsed<core::UpdateGoal> {
    let request_id = RequestId::parse("request_id", request_id, &mut v);
    let goal_id = parse_issued_id("goal_id", goal_id, &mut v);
    let command = (|| {
        Some(core::UpdateGoal {
            request_id: request_id?,
            goal_id: goal_id?,
            change,
        })
    })();
    finish(v, command)
}

pub fn update_goal_progress(request: pb::UpdateGoalProgressRequest) -> Parsed<core::UpdateGoal> {
    let mut v = Violations::default();
    if request.percent > 100 {
        v.add("percent", "must be 0-100");
    }
    check_text("note", &request.note, NOTE_CHARS_MAX, &mut v);
    update_goal(
        &request.request_id,
        &request.goal_id,
        v,
        core::GoalChange::Progress {
            percent: request.percent.min(100) as u8,
            note: request.note,
        },
    )
}

pub fn cancel_goal(request: pb::CancelGoalRequest) -> Parsed<core::UpdateGoal> {
    let mut v = Violations::default();
    check_text("reason", &request.reason, REASON_CHARS_MAX, &mut v);
    update_goal(
        &request.request_id,
        &request.goal_id,
        v,
        core::GoalChange::Cancel {
            reason: request.reason,
        },
    )
}

fn optional_goal_status(value: i32, v: &mut Violations) -> Option<core::GoalStatus> {
    if value == 0 {
        return None;
    }
    let status = core::GoalStatus::ALL
        .into_iter()
        .find(|status| goal_status(*status) as i32 == value);
    if status.is_none() {
        v.add("status", "is not a goal status");
    }
    status
}

pub fn list_goals(request: &pb::ListGoalsRequest) -> Parsed<Listing<core::GoalFilter>> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v).flatten();
    let status = optional_goal_status(request.status, &mut v);
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = employee_id.map(|employee_id| Listing {
        filter: core::GoalFilter {
            employee_id,
            review_id,
            status,
        },
        after,
        page_size,
    });
    finish(v, listing)
}

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
    finish(v, command)
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
    finish(v, command)
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
            finish(v, command)
        }
        None => {
            v.add("pip_id", "pip_id or opened_by_request_id is required");
            RequestId::parse("request_id", &request.request_id, &mut v);
            expected_employee(&request.employee_id, &mut v);
            finish(v, None)
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
    finish(v, listing)
}

fn relationship(value: i32, v: &mut Violations) -> Option<core::Relationship> {
    match pb::FeedbackRelationship::try_from(value) {
        Ok(pb::FeedbackRelationship::Peer) => Some(core::Relationship::Peer),
        Ok(pb::FeedbackRelationship::Manager) => Some(core::Relationship::Manager),
        Ok(pb::FeedbackRelationship::DirectReport) => Some(core::Relationship::DirectReport),
        Ok(pb::FeedbackRelationship::Self_) => Some(core::Relationship::SelfAssessment),
        _ => {
            v.add(
                "relationship",
                "must be one of PEER, MANAGER, DIRECT_REPORT, SELF",
            );
            None
        }
    }
}

fn relationship_pb(relationship: core::Relationship) -> pb::FeedbackRelationship {
    match relationship {
        core::Relationship::Peer => pb::FeedbackRelationship::Peer,
        core::Relationship::Manager => pb::FeedbackRelationship::Manager,
        core::Relationship::DirectReport => pb::FeedbackRelationship::DirectReport,
        core::Relationship::SelfAssessment => pb::FeedbackRelationship::Self_,
    }
}

/// The rules tying giver, subject, relationship and anonymity together.
fn check_giver(
    employee_id: &Option<EmployeeId>,
    giver_id: &Option<EmployeeId>,
    relationship: Option<core::Relationship>,
    anonymous: bool,
    v: &mut Violations,
) {
    let is_self = relationship == Some(core::Relationship::SelfAssessment);
    if let (Some(employee), Some(giver), Some(_)) = (employee_id, giver_id, relationship) {
        if is_self && employee != giver {
            v.add("giver_id", "must be the employee for relationship SELF");
        }
        if !is_self && employee == giver {
            v.add(
                "relationship",
                "must be SELF when the giver is the employee",
            );
        }
    }
    if is_self && anonymous {
        v.add("anonymous", "self feedback cannot be anonymous");
    }
}

pub fn feedback_request_status(status: core::FeedbackRequestStatus) -> pb::FeedbackRequestStatus {
    match status {
        core::FeedbackRequestStatus::Open => pb::FeedbackRequestStatus::Open,
        core::FeedbackRequestStatus::Given => pb::FeedbackRequestStatus::Given,
        core::FeedbackRequestStatus::Closed => pb::FeedbackRequestStatus::Closed,
    }
}

pub fn feedback_request(request: core::FeedbackRequest) -> pb::FeedbackRequest {
    pb::FeedbackRequest {
        feedback_request_id: request.id,
        employee_id: request.employee_id.to_string(),
        giver_id: request.giver_id.to_string(),
        relationship: relationship_pb(request.relationship) as i32,
        review_id: request.review_id.unwrap_or_default(),
        anonymous: request.anonymous,
        due_date: request.due_date.map(date_text).unwrap_or_default(),
        status: feedback_request_status(request.status) as i32,
        create_time: Some(timestamp(request.created_at)),
    }
}

pub fn request_feedback(request: pb::RequestFeedbackRequest) -> Parsed<core::RequestFeedback> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let relationship = relationship(request.relationship, &mut v);
    check_giver(
        &employee_id,
        &giver_id,
        relationship,
        request.anonymous,
        &mut v,
    );
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v);
    let due_date = parse_optional_date("due_date", &request.due_date, &mut v);
    let command = (|| {
        Some(core::RequestFeedback {
            request_id: request_id?,
            employee_id: employee_id?,
            giver_id: giver_id?,
            relationship: relationship?,
            review_id: review_id?,
            anonymous: request.anonymous,
            due_date: due_date?,
        })
    })();
    finish(v, command)
}

pub fn list_feedback_requests(
    request: &pb::ListFeedbackRequestsRequest,
) -> Parsed<Listing<core::FeedbackRequestFilter>> {
    let mut v = Violations::default();
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let status = if request.status == 0 {
        None
    } else {
        let status = core::FeedbackRequestStatus::ALL
            .into_iter()
            .find(|status| feedback_request_status(*status) as i32 == request.status);
        if status.is_none() {
            v.add("status", "is not a feedback request status");
        }
        status
    };
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = giver_id.map(|giver_id| Listing {
        filter: core::FeedbackRequestFilter { giver_id, status },
        after,
        page_size,
    });
    finish(v, listing)
}

/// Feedback as callers see it: the domain already removed an anonymous giver.
pub fn feedback(entry: core::Feedback) -> pb::Feedback {
    pb::Feedback {
        feedback_id: entry.id,
        employee_id: entry.employee_id.to_string(),
        giver_id: entry
            .giver_id
            .filter(|_| !entry.anonymous)
            .map(|giver| giver.to_string())
            .unwrap_or_default(),
        relationship: relationship_pb(entry.relationship) as i32,
        anonymous: entry.anonymous,
        review_id: entry.review_id.unwrap_or_default(),
        rating: entry.rating.map_or(0, |rating| i32::from(rating.points())),
        strengths: entry.strengths,
        improvements: entry.improvements,
        create_time: Some(timestamp(entry.created_at)),
    }
}

pub fn give_feedback(request: pb::GiveFeedbackRequest) -> Parsed<core::GiveFeedback> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let relationship = relationship(request.relationship, &mut v);
    check_giver(
        &employee_id,
        &giver_id,
        relationship,
        request.anonymous,
        &mut v,
    );
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v);
    let feedback_request_id =
        optional_issued_id("feedback_request_id", &request.feedback_request_id, &mut v);
    let rating = if request.rating == 0 {
        Some(None)
    } else {
        rating("rating", request.rating, &mut v).map(Some)
    };
    if request.strengths.trim().is_empty() && request.improvements.trim().is_empty() {
        v.add("strengths", "strengths or improvements is required");
    }
    check_text("strengths", &request.strengths, FEEDBACK_CHARS_MAX, &mut v);
    check_text(
        "improvements",
        &request.improvements,
        FEEDBACK_CHARS_MAX,
        &mut v,
    );
    let command = (|| {
        Some(core::GiveFeedback {
            request_id: request_id?,
            employee_id: employee_id?,
            giver_id: giver_id?,
            relationship: relationship?,
            review_id: review_id?,
            feedback_request_id: feedback_request_id?,
            anonymous: request.anonymous,
            rating: rating?,
            strengths: request.strengths,
            improvements: request.improvements,
        })
    })();
    finish(v, command)
}

pub fn list_feedback(request: &pb::ListFeedbackRequest) -> Parsed<Listing<core::FeedbackFilter>> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v).flatten();
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = employee_id.map(|employee_id| Listing {
        filter: core::FeedbackFilter {
            employee_id,
            review_id,
        },
        after,
        page_size,
    });
    finish(v, listing)
}

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
    finish(v, command)
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
    finish(v, command)
}
