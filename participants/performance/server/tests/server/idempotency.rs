//! What a retrying caller (the saga orchestrator) relies on: a repeated request gets the first
//! answer, and the undo of a step that never happened succeeds without effect.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use tonic::Code;

use crate::{
    Harness, assert_illegal, feedback_request, finalize_request, goal_request, pip_request,
    reason_of, sections,
};

async fn undo_steps_succeed_without_effect_when_the_forward_step_never_happened(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.review_in(ReviewState::ManagerReview, "undo").await;
    let id = review.review_id.clone();
    // Never finalized: reopening changes nothing.
    let reopened = h
        .client
        .reopen_review(ReopenReviewRequest {
            request_id: "reopen-never".into(),
            review_id: id.clone(),
            finalize_request_id: "finalize-never-sent".into(),
            reason: "compensation".into(),
            ..Default::default()
        })
        .await
        .expect("reopen without finalize")
        .into_inner();
    assert_eq!(reopened, review);

    // Finalized by another request: the undo of a finalize that never happened leaves it alone.
    h.client
        .finalize_review(finalize_request("finalize-by-hr", &id, Rating::Outstanding))
        .await
        .expect("finalize");
    let untouched = h
        .client
        .reopen_review(ReopenReviewRequest {
            request_id: "reopen-other".into(),
            review_id: id.clone(),
            finalize_request_id: "finalize-never-sent".into(),
            reason: "compensation".into(),
            ..Default::default()
        })
        .await
        .expect("reopen another request's finalize")
        .into_inner();
    assert_eq!(untouched.state, ReviewState::Submitted as i32);
    assert_eq!(untouched.rating, Rating::Outstanding as i32);

    let cancel = h
        .client
        .cancel_pip(CancelPipRequest {
            request_id: "cancel-never".into(),
            target: Some(cancel_pip_request::Target::OpenedByRequestId(
                "open-pip-never-sent".into(),
            )),
            reason: "compensation".into(),
            ..Default::default()
        })
        .await
        .expect("cancel a PIP never opened")
        .into_inner();
    assert_eq!(cancel.pip, None);
    assert!(!cancel.cancelled);

    let closure = h
        .client
        .reopen_employee_records(ReopenEmployeeRecordsRequest {
            request_id: "reopen-records-never".into(),
            close_request_id: "close-never-sent".into(),
        })
        .await
        .expect("reopen records never closed")
        .into_inner();
    assert_eq!(closure.close_request_id, "close-never-sent");
    assert!(closure.records.is_empty());
    assert_eq!(closure.reopen_time, None);
}

async fn a_repeated_request_gets_the_first_answer(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let first = h.create_review("create-once", "2026-01-01").await;
    h.clock.advance(chrono::Duration::minutes(5));
    let again = h.create_review("create-once", "2026-01-01").await;
    assert_eq!(
        first, again,
        "a replay returns the stored answer, not a second review"
    );
    assert_eq!(h.count_reviews("e-1").await, 1);

    // A rejection is an answer too: it is replayed even once the review could complete.
    let id = first.review_id.clone();
    let refused = h
        .client
        .complete_review(CompleteReviewRequest {
            request_id: "complete-early".into(),
            review_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("draft cannot complete");
    assert_illegal(&refused, "draft");
    h.client
        .open_self_assessment(OpenSelfAssessmentRequest {
            request_id: "o".into(),
            review_id: id.clone(),
        })
        .await
        .expect("open");
    h.client
        .submit_self_assessment(SubmitSelfAssessmentRequest {
            request_id: "s".into(),
            review_id: id.clone(),
            sections: sections(),
        })
        .await
        .expect("self");
    let finalized = h
        .client
        .finalize_review(finalize_request("f", &id, Rating::Outstanding))
        .await
        .expect("finalize")
        .into_inner();
    let replayed = h
        .client
        .finalize_review(finalize_request("f", &id, Rating::Outstanding))
        .await
        .expect("finalize replay")
        .into_inner();
    assert_eq!(finalized, replayed);
    let again = h
        .client
        .complete_review(CompleteReviewRequest {
            request_id: "complete-early".into(),
            review_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the recorded rejection");
    assert_illegal(&again, "draft");
    assert_eq!(h.review(&id).await.state, ReviewState::Submitted as i32);

    // The same key for a different request is refused.
    let reused = h
        .client
        .finalize_review(finalize_request("f", &id, Rating::Unsatisfactory))
        .await
        .expect_err("key reused");
    let (code, reason, _) = reason_of(&reused);
    assert_eq!(code, Code::AlreadyExists);
    assert_eq!(reason, "IDEMPOTENCY_KEY_REUSED");
    let reused = h
        .client
        .complete_review(CompleteReviewRequest {
            request_id: "create-once".into(),
            review_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("key of another operation");
    assert_eq!(reused.code(), Code::AlreadyExists);

    // Goals, PIPs and feedback replay too.
    let goal = h
        .client
        .create_goal(goal_request("goal-once", 40, ""))
        .await
        .expect("goal")
        .into_inner();
    let progress = UpdateGoalProgressRequest {
        request_id: "progress-once".into(),
        goal_id: goal.goal_id.clone(),
        percent: 30,
        note: "first milestone".into(),
    };
    h.client
        .update_goal_progress(progress.clone())
        .await
        .expect("progress");
    let replayed = h
        .client
        .update_goal_progress(progress)
        .await
        .expect("progress replay")
        .into_inner();
    assert_eq!(replayed.progress_history.len(), 1);
    let pip = h
        .client
        .open_pip(pip_request("pip-once"))
        .await
        .expect("pip")
        .into_inner();
    let pip_again = h
        .client
        .open_pip(pip_request("pip-once"))
        .await
        .expect("pip replay")
        .into_inner();
    assert_eq!(pip, pip_again);
    let given = h
        .client
        .give_feedback(feedback_request("feedback-once", "p-1", false))
        .await
        .expect("feedback")
        .into_inner();
    let given_again = h
        .client
        .give_feedback(feedback_request("feedback-once", "p-1", false))
        .await
        .expect("feedback replay")
        .into_inner();
    assert_eq!(given, given_again);
    let listed = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list feedback")
        .into_inner();
    assert_eq!(listed.feedback.len(), 1);
}

hrmesh_mesh::test_on_every_backend!(
    undo_steps_succeed_without_effect_when_the_forward_step_never_happened,
    a_repeated_request_gets_the_first_answer,
);
