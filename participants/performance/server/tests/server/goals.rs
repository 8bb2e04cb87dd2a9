//! Goals and their progress history.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use tonic::Code;

use crate::{
    Harness, assert_illegal, create_review_request, goal_request, reason_of, violated_fields,
};

async fn goals_keep_their_progress_history(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.create_review("review", "2026-01-01").await;
    let goal = h
        .client
        .create_goal(goal_request("goal-1", 60, &review.review_id))
        .await
        .expect("goal")
        .into_inner();
    assert_eq!(goal.status, GoalStatus::NotStarted as i32);
    assert_eq!(goal.review_id, review.review_id);
    let too_heavy = h
        .client
        .create_goal(goal_request("goal-2", 50, &review.review_id))
        .await
        .expect_err("weights over 100");
    let (code, reason, metadata) = reason_of(&too_heavy);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "GOAL_WEIGHTS_EXCEEDED");
    assert_eq!(metadata["weight_total"], "110");
    let second = h
        .client
        .create_goal(goal_request("goal-3", 40, &review.review_id))
        .await
        .expect("exactly 100")
        .into_inner();

    // A review of someone else cannot carry e-1's goal.
    let other = h
        .client
        .create_review(create_review_request("review-e2", "e-2", "2026-01-01"))
        .await
        .expect("e-2 review")
        .into_inner();
    let wrong = h
        .client
        .create_goal(goal_request("goal-4", 10, &other.review_id))
        .await
        .expect_err("another employee's review");
    assert_eq!(violated_fields(&wrong), vec!["review_id"]);

    for (n, percent) in [30, 60, 100].into_iter().enumerate() {
        h.clock.advance(chrono::Duration::days(1));
        h.client
            .update_goal_progress(UpdateGoalProgressRequest {
                request_id: format!("progress-{n}"),
                goal_id: goal.goal_id.clone(),
                percent,
                note: format!("at {percent}"),
            })
            .await
            .expect("progress");
    }
    let goal = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: goal.goal_id.clone(),
        })
        .await
        .expect("get goal")
        .into_inner();
    assert_eq!(goal.status, GoalStatus::Completed as i32);
    assert_eq!(goal.percent_complete, 100);
    let history: Vec<(u32, String)> = goal
        .progress_history
        .iter()
        .map(|p| (p.percent, p.note.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (30, "at 30".into()),
            (60, "at 60".into()),
            (100, "at 100".into())
        ]
    );
    let late = h
        .client
        .update_goal_progress(UpdateGoalProgressRequest {
            request_id: "progress-late".into(),
            goal_id: goal.goal_id.clone(),
            percent: 50,
            note: String::new(),
        })
        .await
        .expect_err("progress on a completed goal");
    assert_illegal(&late, "completed");

    let cancelled = h
        .client
        .cancel_goal(CancelGoalRequest {
            request_id: "cancel-goal".into(),
            goal_id: second.goal_id.clone(),
            reason: "reorg".into(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(cancelled.status, GoalStatus::Cancelled as i32);
    // A cancelled goal no longer weighs on its review.
    h.client
        .create_goal(goal_request("goal-5", 40, &review.review_id))
        .await
        .expect("room again after the cancel");

    let of_review = h
        .client
        .list_goals(ListGoalsRequest {
            employee_id: "e-1".into(),
            review_id: review.review_id.clone(),
            status: GoalStatus::Cancelled as i32,
            ..Default::default()
        })
        .await
        .expect("list goals")
        .into_inner();
    assert_eq!(of_review.goals.len(), 1);
    assert_eq!(of_review.goals[0].goal_id, second.goal_id);
}

hrmesh_mesh::test_on_every_backend!(goals_keep_their_progress_history);
