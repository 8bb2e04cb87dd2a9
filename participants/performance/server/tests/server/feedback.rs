//! Feedback and requests for it; an anonymous giver is never revealed.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use prost::Message;
use tonic::Code;

use crate::{Harness, feedback_request, reason_of};

async fn anonymous_givers_are_never_revealed(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.create_review("review", "2026-01-01").await;
    let asked = h
        .client
        .request_feedback(RequestFeedbackRequest {
            request_id: "ask-1".into(),
            employee_id: "e-1".into(),
            giver_id: "secret-peer".into(),
            relationship: FeedbackRelationship::Peer as i32,
            review_id: review.review_id.clone(),
            anonymous: true,
            due_date: "2026-03-20".into(),
        })
        .await
        .expect("request feedback")
        .into_inner();
    assert_eq!(asked.status, FeedbackRequestStatus::Open as i32);
    // The giver sees what they were asked for.
    let inbox = h
        .client
        .list_feedback_requests(ListFeedbackRequestsRequest {
            giver_id: "secret-peer".into(),
            ..Default::default()
        })
        .await
        .expect("giver's requests")
        .into_inner();
    assert_eq!(inbox.feedback_requests, vec![asked.clone()]);

    // Another giver cannot answer it.
    let mismatch = h
        .client
        .give_feedback(GiveFeedbackRequest {
            feedback_request_id: asked.feedback_request_id.clone(),
            ..feedback_request("answer-wrong", "someone-else", false)
        })
        .await
        .expect_err("someone else answers");
    let (code, reason, _) = reason_of(&mismatch);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "FEEDBACK_REQUEST_MISMATCH");

    let answer = GiveFeedbackRequest {
        feedback_request_id: asked.feedback_request_id.clone(),
        rating: Rating::ExceedsExpectations as i32,
        ..feedback_request("answer-1", "secret-peer", false)
    };
    let given = h
        .client
        .give_feedback(answer.clone())
        .await
        .expect("answer")
        .into_inner();
    assert!(given.anonymous, "the request's anonymity applies");
    assert_eq!(given.giver_id, "");
    assert_eq!(
        given.review_id, review.review_id,
        "the request's review applies"
    );
    let replayed = h
        .client
        .give_feedback(answer)
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replayed.giver_id, "");

    // Feedback in the open, and outside any review cycle.
    let open = h
        .client
        .give_feedback(feedback_request("open-1", "known-peer", false))
        .await
        .expect("named feedback")
        .into_inner();
    assert_eq!(open.giver_id, "known-peer");
    assert_eq!(open.review_id, "");

    let listed = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.feedback.len(), 2);
    let encoded = listed.encode_to_vec();
    assert!(
        !encoded
            .windows(b"secret-peer".len())
            .any(|w| w == b"secret-peer"),
        "the anonymous giver appears nowhere in the answer"
    );
    assert!(
        !encoded
            .windows(asked.feedback_request_id.len())
            .any(|w| w == asked.feedback_request_id.as_bytes()),
        "nor does the request that names them"
    );
    let of_review = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            review_id: review.review_id.clone(),
            ..Default::default()
        })
        .await
        .expect("list by review")
        .into_inner();
    assert_eq!(of_review.feedback.len(), 1);
    assert_eq!(of_review.feedback[0].giver_id, "");

    let answered = h
        .client
        .list_feedback_requests(ListFeedbackRequestsRequest {
            giver_id: "secret-peer".into(),
            status: FeedbackRequestStatus::Given as i32,
            ..Default::default()
        })
        .await
        .expect("given requests")
        .into_inner();
    assert_eq!(answered.feedback_requests.len(), 1);
}

hrmesh_mesh::test_on_every_backend!(anonymous_givers_are_never_revealed);
