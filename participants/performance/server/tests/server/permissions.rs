//! A request naming another employee than the record's owner leaves the record unchanged.

use hrmesh_mesh::testing::{Backend, assert_record_of_another};
use hrmesh_proto::performance::*;

use crate::{Client, Harness, finalize_request, pip_request, reason_of, violated_fields};

/// A client calling as a service (the orchestrator's identity): it acts for anyone, so only the
/// expected employee stands between a request and another employee's record.
fn service_client(h: &Harness) -> Client {
    let claims = hrmesh_mesh::testing::claims(
        "hrmesh-orchestrator",
        hrmesh_mesh::auth::ActorType::System,
        &[
            "performance.update",
            "performance.admin",
            "performance.read",
        ],
    );
    Client::new(hrmesh_mesh::testing::channel_as(
        &h.server.server.uri(),
        &claims,
    ))
}

async fn a_request_naming_another_employee_leaves_their_record_unchanged(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let mut service = service_client(&h);
    // The records are e-1's; the requests name e-2.
    let review = h.review_in(ReviewState::ManagerReview, "owned").await;
    let id = review.review_id.clone();
    let finalize_as = |request_id: &str, employee_id: &str| FinalizeReviewRequest {
        employee_id: employee_id.into(),
        ..finalize_request(request_id, &id, Rating::Unsatisfactory)
    };

    let refused = service
        .finalize_review(finalize_as("finalize-e2", "e-2"))
        .await
        .expect_err("a review of another employee");
    assert_record_of_another(&refused, "review", &id, "e-1");
    assert_eq!(h.review(&id).await, review, "the review is unchanged");
    // The refusal is the recorded answer to that request; the key is not free for another one.
    let replayed = service
        .finalize_review(finalize_as("finalize-e2", "e-2"))
        .await
        .expect_err("replayed");
    assert_record_of_another(&replayed, "review", &id, "e-1");
    let reused = service
        .finalize_review(finalize_as("finalize-e2", "e-1"))
        .await
        .expect_err("the key of another request");
    assert_eq!(reason_of(&reused).1, "IDEMPOTENCY_KEY_REUSED");

    let submitted = service
        .finalize_review(finalize_as("finalize-e1", "e-1"))
        .await
        .expect("the review of the employee named")
        .into_inner();
    assert_eq!(submitted.state, ReviewState::Submitted as i32);
    assert_eq!(submitted.rating, Rating::Unsatisfactory as i32);

    let refused = service
        .complete_review(CompleteReviewRequest {
            request_id: "complete-e2".into(),
            review_id: id.clone(),
            employee_id: "e-2".into(),
        })
        .await
        .expect_err("complete another employee's review");
    assert_record_of_another(&refused, "review", &id, "e-1");
    let refused = service
        .reopen_review(ReopenReviewRequest {
            request_id: "reopen-e2".into(),
            review_id: id.clone(),
            finalize_request_id: "finalize-e1".into(),
            reason: "compensation".into(),
            employee_id: "e-2".into(),
        })
        .await
        .expect_err("reopen another employee's review");
    assert_record_of_another(&refused, "review", &id, "e-1");
    assert_eq!(h.review(&id).await, submitted, "the review is unchanged");

    let reopened = service
        .reopen_review(ReopenReviewRequest {
            request_id: "reopen-e1".into(),
            review_id: id.clone(),
            finalize_request_id: "finalize-e1".into(),
            reason: "compensation".into(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("reopen")
        .into_inner();
    assert_eq!(reopened.state, ReviewState::ManagerReview as i32);
    service
        .finalize_review(finalize_as("finalize-e1-again", "e-1"))
        .await
        .expect("finalize again");
    let completed = service
        .complete_review(CompleteReviewRequest {
            request_id: "complete-e1".into(),
            review_id: id.clone(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("complete")
        .into_inner();
    assert_eq!(completed.state, ReviewState::Completed as i32);

    let pip = h
        .client
        .open_pip(pip_request("open-pip-1"))
        .await
        .expect("open a PIP of e-1")
        .into_inner();
    let cancel = |request_id: &str, target: cancel_pip_request::Target, employee_id: &str| {
        CancelPipRequest {
            request_id: request_id.into(),
            target: Some(target),
            reason: "compensation".into(),
            employee_id: employee_id.into(),
        }
    };
    let by_id = || cancel_pip_request::Target::PipId(pip.pip_id.clone());
    let by_request = || cancel_pip_request::Target::OpenedByRequestId("open-pip-1".into());
    let refused = service
        .cancel_pip(cancel("cancel-e2", by_id(), "e-2"))
        .await
        .expect_err("cancel another employee's PIP");
    assert_record_of_another(&refused, "pip", &pip.pip_id, "e-1");
    let refused = service
        .cancel_pip(cancel("undo-e2", by_request(), "e-2"))
        .await
        .expect_err("undo another employee's PIP");
    assert_record_of_another(&refused, "pip", &pip.pip_id, "e-1");
    let unchanged = h
        .client
        .get_pip(GetPipRequest {
            pip_id: pip.pip_id.clone(),
        })
        .await
        .expect("get pip")
        .into_inner();
    assert_eq!(unchanged, pip, "the PIP is still active and unchanged");
    let malformed = service
        .cancel_pip(cancel("undo-bad", by_request(), "not an id"))
        .await
        .expect_err("a malformed employee id");
    assert_eq!(violated_fields(&malformed), vec!["employee_id"]);
    // An undo whose forward call never opened anything has no record to check.
    let nothing = service
        .cancel_pip(cancel(
            "undo-never",
            cancel_pip_request::Target::OpenedByRequestId("open-pip-never".into()),
            "e-2",
        ))
        .await
        .expect("nothing to undo")
        .into_inner();
    assert!(!nothing.cancelled && nothing.pip.is_none());

    let undone = service
        .cancel_pip(cancel("undo-e1", by_request(), "e-1"))
        .await
        .expect("undo the PIP of the employee named")
        .into_inner();
    assert!(undone.cancelled);
    let next = h
        .client
        .open_pip(pip_request("open-pip-2"))
        .await
        .expect("a new PIP")
        .into_inner();
    let cancelled = service
        .cancel_pip(cancel(
            "cancel-e1",
            cancel_pip_request::Target::PipId(next.pip_id.clone()),
            "e-1",
        ))
        .await
        .expect("cancel the PIP of the employee named")
        .into_inner();
    assert!(cancelled.cancelled);
    assert_eq!(
        cancelled.pip.expect("the PIP").status,
        PipStatus::Cancelled as i32
    );
}

hrmesh_mesh::test_on_every_backend!(
    a_request_naming_another_employee_leaves_their_record_unchanged,
);
