//! Reviews move along their state machine, and only along it.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use tonic::Code;

use crate::{Harness, assert_illegal, finalize_request, sections};

async fn reviews_move_through_every_state(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.create_review("create-1", "2026-01-01").await;
    assert_eq!(review.state, ReviewState::Draft as i32);
    assert_eq!(review.employee_id, "e-1");
    assert_eq!(review.due_date, "2027-01-31");
    let id = review.review_id.clone();

    let review = h
        .client
        .open_self_assessment(OpenSelfAssessmentRequest {
            request_id: "open-1".into(),
            review_id: id.clone(),
        })
        .await
        .expect("open")
        .into_inner();
    assert_eq!(review.state, ReviewState::SelfAssessment as i32);
    let review = h
        .client
        .submit_self_assessment(SubmitSelfAssessmentRequest {
            request_id: "self-1".into(),
            review_id: id.clone(),
            sections: sections(),
        })
        .await
        .expect("submit self-assessment")
        .into_inner();
    assert_eq!(review.state, ReviewState::ManagerReview as i32);
    assert_eq!(review.self_assessment, sections());

    let review = h
        .client
        .finalize_review(finalize_request("finalize-1", &id, Rating::Outstanding))
        .await
        .expect("finalize")
        .into_inner();
    assert_eq!(review.state, ReviewState::Submitted as i32);
    assert_eq!(review.rating, Rating::Outstanding as i32);
    assert_eq!(review.finalize_request_id, "finalize-1");

    let review = h
        .client
        .reopen_review(ReopenReviewRequest {
            request_id: "reopen-1".into(),
            review_id: id.clone(),
            finalize_request_id: "finalize-1".into(),
            reason: "saga compensation".into(),
            ..Default::default()
        })
        .await
        .expect("reopen")
        .into_inner();
    assert_eq!(review.state, ReviewState::ManagerReview as i32);
    assert_eq!(review.rating, Rating::Unspecified as i32);
    assert_eq!(review.finalize_request_id, "");

    h.client
        .finalize_review(finalize_request(
            "finalize-2",
            &id,
            Rating::MeetsExpectations,
        ))
        .await
        .expect("finalize again");
    let review = h
        .client
        .complete_review(CompleteReviewRequest {
            request_id: "complete-1".into(),
            review_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("complete")
        .into_inner();
    assert_eq!(review.state, ReviewState::Completed as i32);
    let review = h
        .client
        .acknowledge_review(AcknowledgeReviewRequest {
            request_id: "ack-1".into(),
            review_id: id.clone(),
            employee_comment: "Fair".into(),
        })
        .await
        .expect("acknowledge")
        .into_inner();
    assert_eq!(review.state, ReviewState::Acknowledged as i32);
    assert_eq!(review.employee_comment, "Fair");
    assert_eq!(review.rating, Rating::MeetsExpectations as i32);

    let path: Vec<(i32, i32, String)> = review
        .history
        .iter()
        .map(|t| (t.from, t.to, t.request_id.clone()))
        .collect();
    use ReviewState as S;
    assert_eq!(
        path,
        vec![
            (S::Draft as i32, S::SelfAssessment as i32, "open-1".into()),
            (
                S::SelfAssessment as i32,
                S::ManagerReview as i32,
                "self-1".into()
            ),
            (
                S::ManagerReview as i32,
                S::Submitted as i32,
                "finalize-1".into()
            ),
            (
                S::Submitted as i32,
                S::ManagerReview as i32,
                "reopen-1".into()
            ),
            (
                S::ManagerReview as i32,
                S::Submitted as i32,
                "finalize-2".into()
            ),
            (
                S::Submitted as i32,
                S::Completed as i32,
                "complete-1".into()
            ),
            (S::Completed as i32, S::Acknowledged as i32, "ack-1".into()),
        ]
    );
    assert_eq!(review.history[3].reason, "saga compensation");
    assert_eq!(
        h.review(&id).await,
        review,
        "get returns what the last call returned"
    );

    // Listing: by employee, by manager, by state and cycle, in pages.
    for n in 0..4 {
        h.create_review(&format!("more-{n}"), &format!("2025-0{}-01", n + 1))
            .await;
    }
    let first = h
        .client
        .list_reviews(ListReviewsRequest {
            employee_id: "e-1".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.reviews.len(), 3);
    assert!(!first.next_page_token.is_empty());
    let second = h
        .client
        .list_reviews(ListReviewsRequest {
            employee_id: "e-1".into(),
            page_size: 3,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("list page 2")
        .into_inner();
    assert_eq!(second.reviews.len(), 2);
    assert!(second.next_page_token.is_empty());
    assert_eq!(
        second.reviews.last().map(|r| r.review_id.clone()),
        Some(id.clone()),
        "newest first: the first review comes last"
    );
    let by_manager = h
        .client
        .list_reviews(ListReviewsRequest {
            manager_id: "m-1".into(),
            state: ReviewState::Acknowledged as i32,
            cycle: ReviewCycle::Annual as i32,
            ..Default::default()
        })
        .await
        .expect("list by manager")
        .into_inner();
    assert_eq!(by_manager.reviews.len(), 1);
    assert_eq!(by_manager.reviews[0].review_id, id);

    let missing = h
        .client
        .get_review(GetReviewRequest {
            review_id: "0195f1d2-0000-7000-8000-000000000000".into(),
        })
        .await
        .expect_err("unknown review");
    assert_eq!(missing.code(), Code::NotFound);
}

async fn every_illegal_review_transition_is_refused_naming_the_state(backend: Backend) {
    let mut h = Harness::start(backend).await;
    use ReviewState as S;
    // (state, actions the machine forbids there). Reopen is an undo: outside SUBMITTED it is a
    // no-op, except after completion, where undoing the finalization is no longer possible.
    let cases = [
        (S::Draft, vec!["self", "finalize", "complete", "ack"]),
        (
            S::SelfAssessment,
            vec!["open", "finalize", "complete", "ack"],
        ),
        (S::ManagerReview, vec!["open", "self", "complete", "ack"]),
        (S::Submitted, vec!["open", "self", "finalize", "ack"]),
        (
            S::Completed,
            vec!["open", "self", "finalize", "complete", "reopen"],
        ),
        (
            S::Acknowledged,
            vec!["open", "self", "finalize", "complete", "ack", "reopen"],
        ),
        (
            S::Closed,
            vec!["open", "self", "finalize", "complete", "ack"],
        ),
    ];
    for (n, (state, forbidden)) in cases.into_iter().enumerate() {
        let tag = "x".repeat(n + 1);
        let review = h.review_in(state, &tag).await;
        let id = review.review_id.clone();
        let state_name = match state {
            S::Draft => "draft",
            S::SelfAssessment => "self_assessment",
            S::ManagerReview => "manager_review",
            S::Submitted => "submitted",
            S::Completed => "completed",
            S::Acknowledged => "acknowledged",
            _ => "closed",
        };
        for action in forbidden {
            let rid = format!("{tag}-illegal-{action}");
            let result = match action {
                "open" => h
                    .client
                    .open_self_assessment(OpenSelfAssessmentRequest {
                        request_id: rid,
                        review_id: id.clone(),
                    })
                    .await
                    .map(|_| ()),
                "self" => h
                    .client
                    .submit_self_assessment(SubmitSelfAssessmentRequest {
                        request_id: rid,
                        review_id: id.clone(),
                        sections: sections(),
                    })
                    .await
                    .map(|_| ()),
                "finalize" => h
                    .client
                    .finalize_review(finalize_request(&rid, &id, Rating::Outstanding))
                    .await
                    .map(|_| ()),
                "complete" => h
                    .client
                    .complete_review(CompleteReviewRequest {
                        request_id: rid,
                        review_id: id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                "reopen" => h
                    .client
                    .reopen_review(ReopenReviewRequest {
                        request_id: rid,
                        review_id: id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                _ => h
                    .client
                    .acknowledge_review(AcknowledgeReviewRequest {
                        request_id: rid,
                        review_id: id.clone(),
                        employee_comment: String::new(),
                    })
                    .await
                    .map(|_| ()),
            };
            let status = result.expect_err(&format!("{action} from {state_name}"));
            assert_illegal(&status, state_name);
        }
        assert_eq!(h.review(&id).await, review, "refused calls change nothing");
    }
}

hrmesh_mesh::test_on_every_backend!(
    reviews_move_through_every_state,
    every_illegal_review_transition_is_refused_naming_the_state,
);
