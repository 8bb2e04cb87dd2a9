//! Closing an employee's records closes what is open; reopening restores exactly that.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;

use crate::{Harness, assert_illegal, create_review_request, goal_request, pip_request};

async fn closing_an_employee_closes_what_is_open_and_reopening_restores_exactly_that(
    backend: Backend,
) {
    let mut h = Harness::start(backend).await;
    let draft = h.review_in(ReviewState::Draft, "a").await;
    let manager_review = h.review_in(ReviewState::ManagerReview, "bb").await;
    let completed = h.review_in(ReviewState::Completed, "ccc").await;
    let not_started = h
        .client
        .create_goal(goal_request("g-1", 10, ""))
        .await
        .expect("goal")
        .into_inner();
    let in_progress = h
        .client
        .create_goal(goal_request("g-2", 10, ""))
        .await
        .expect("goal")
        .into_inner();
    h.client
        .update_goal_progress(UpdateGoalProgressRequest {
            request_id: "g-2-progress".into(),
            goal_id: in_progress.goal_id.clone(),
            percent: 40,
            note: String::new(),
        })
        .await
        .expect("progress");
    let cancelled = h
        .client
        .create_goal(goal_request("g-3", 10, ""))
        .await
        .expect("goal")
        .into_inner();
    h.client
        .cancel_goal(CancelGoalRequest {
            request_id: "g-3-cancel".into(),
            goal_id: cancelled.goal_id.clone(),
            reason: String::new(),
        })
        .await
        .expect("cancel");
    let pip = h
        .client
        .open_pip(pip_request("pip"))
        .await
        .expect("pip")
        .into_inner();
    let asked = h
        .client
        .request_feedback(RequestFeedbackRequest {
            request_id: "ask".into(),
            employee_id: "e-1".into(),
            giver_id: "p-1".into(),
            relationship: FeedbackRelationship::Peer as i32,
            ..Default::default()
        })
        .await
        .expect("ask")
        .into_inner();
    // Someone else's records stay as they are.
    let bystander = h
        .client
        .create_review(create_review_request("bystander", "e-2", "2026-01-01"))
        .await
        .expect("e-2")
        .into_inner();

    let closure = h
        .client
        .close_employee_records(CloseEmployeeRecordsRequest {
            request_id: "offboard-e-1".into(),
            employee_id: "e-1".into(),
            reason: "leaving the company".into(),
        })
        .await
        .expect("close")
        .into_inner();
    let mut closed: Vec<(i32, String, String)> = closure
        .records
        .iter()
        .map(|r| (r.kind, r.id.clone(), r.previous_state.clone()))
        .collect();
    closed.sort();
    let mut expected = vec![
        (
            RecordKind::Review as i32,
            draft.review_id.clone(),
            "REVIEW_STATE_DRAFT".to_owned(),
        ),
        (
            RecordKind::Review as i32,
            manager_review.review_id.clone(),
            "REVIEW_STATE_MANAGER_REVIEW".to_owned(),
        ),
        (
            RecordKind::Goal as i32,
            not_started.goal_id.clone(),
            "GOAL_STATUS_NOT_STARTED".to_owned(),
        ),
        (
            RecordKind::Goal as i32,
            in_progress.goal_id.clone(),
            "GOAL_STATUS_IN_PROGRESS".to_owned(),
        ),
        (
            RecordKind::Pip as i32,
            pip.pip_id.clone(),
            "PIP_STATUS_ACTIVE".to_owned(),
        ),
        (
            RecordKind::FeedbackRequest as i32,
            asked.feedback_request_id.clone(),
            "FEEDBACK_REQUEST_STATUS_OPEN".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(closed, expected);
    assert_eq!(
        h.review(&draft.review_id).await.state,
        ReviewState::Closed as i32
    );
    assert_eq!(
        h.review(&completed.review_id).await.state,
        ReviewState::Completed as i32
    );
    assert_eq!(
        h.review(&bystander.review_id).await.state,
        ReviewState::Draft as i32
    );
    let closed_goal = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: in_progress.goal_id.clone(),
        })
        .await
        .expect("goal")
        .into_inner();
    assert_eq!(closed_goal.status, GoalStatus::Closed as i32);
    let progress_on_closed = h
        .client
        .update_goal_progress(UpdateGoalProgressRequest {
            request_id: "late-progress".into(),
            goal_id: in_progress.goal_id.clone(),
            percent: 50,
            note: String::new(),
        })
        .await
        .expect_err("closed goal");
    assert_illegal(&progress_on_closed, "closed");

    let reopened = h
        .client
        .reopen_employee_records(ReopenEmployeeRecordsRequest {
            request_id: "undo-offboard".into(),
            close_request_id: "offboard-e-1".into(),
        })
        .await
        .expect("reopen")
        .into_inner();
    assert_eq!(reopened.records.len(), 6);
    assert!(reopened.reopen_time.is_some());
    assert_eq!(
        h.review(&draft.review_id).await.state,
        ReviewState::Draft as i32
    );
    let restored = h.review(&manager_review.review_id).await;
    assert_eq!(restored.state, ReviewState::ManagerReview as i32);
    assert_eq!(restored.self_assessment, manager_review.self_assessment);
    let goal = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: in_progress.goal_id.clone(),
        })
        .await
        .expect("goal")
        .into_inner();
    assert_eq!(goal.status, GoalStatus::InProgress as i32);
    assert_eq!(goal.percent_complete, 40);
    let goal = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: cancelled.goal_id.clone(),
        })
        .await
        .expect("goal")
        .into_inner();
    assert_eq!(
        goal.status,
        GoalStatus::Cancelled as i32,
        "never closed, never reopened"
    );
    let pip_now = h
        .client
        .get_pip(GetPipRequest {
            pip_id: pip.pip_id.clone(),
        })
        .await
        .expect("pip")
        .into_inner();
    assert_eq!(pip_now.status, PipStatus::Active as i32);

    // Undoing twice is undoing once.
    let again = h
        .client
        .reopen_employee_records(ReopenEmployeeRecordsRequest {
            request_id: "undo-offboard-again".into(),
            close_request_id: "offboard-e-1".into(),
        })
        .await
        .expect("reopen again")
        .into_inner();
    assert_eq!(again.reopen_time, reopened.reopen_time);
    assert_eq!(
        h.review(&draft.review_id).await.state,
        ReviewState::Draft as i32
    );
}

hrmesh_mesh::test_on_every_backend!(
    closing_an_employee_closes_what_is_open_and_reopening_restores_exactly_that,
);
