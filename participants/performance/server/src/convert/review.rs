//! Reviews: their cycles, states and sections, and the requests that move one along.

use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, page_size, parse_date, parse_issued_id,
};
use hrmesh_performance_core as core;
use hrmesh_proto::performance as pb;

use super::{
    Listing, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Parsed, REASON_CHARS_MAX, date_text,
    expected_employee, page_token, rating, required_text, timestamp,
};
use hrmesh_performance_core::PerformanceError;

const SECTIONS_MAX: usize = 20;
const SECTION_TITLE_CHARS_MAX: usize = 200;
const SECTION_BODY_CHARS_MAX: usize = 10_000;
const COMMENT_CHARS_MAX: usize = 2_000;

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
    PerformanceError::parsed(v, command)
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
    PerformanceError::parsed(v, command)
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
    PerformanceError::parsed(
        v,
        Some(Listing {
            filter,
            after,
            page_size,
        }),
    )
}
