//! Goals and their progress.

use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, page_size, parse_date, parse_issued_id,
};
use hrmesh_performance_core as core;
use hrmesh_proto::performance as pb;

use super::{
    Listing, NOTE_CHARS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Parsed, REASON_CHARS_MAX, date_text,
    optional_issued_id, page_token, required_text, timestamp,
};
use hrmesh_performance_core::PerformanceError;

const TITLE_CHARS_MAX: usize = 200;
const DESCRIPTION_CHARS_MAX: usize = 2_000;

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
    PerformanceError::parsed(v, command)
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
    PerformanceError::parsed(v, command)
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
    PerformanceError::parsed(v, listing)
}
