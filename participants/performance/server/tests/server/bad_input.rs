//! Malformed requests: every offending field is named and nothing is written.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;

use crate::{
    Harness, create_review_request, feedback_request, goal_request, pip_request, violated_fields,
};

async fn bad_input_names_every_offending_field_and_writes_nothing(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let status = h
        .client
        .create_review(CreateReviewRequest {
            request_id: String::new(),
            employee_id: "bad id!".into(),
            manager_id: String::new(),
            cycle: 42,
            period_start: "2026-02-30".into(),
            period_end: "2026-01-01".into(),
            due_date: "soon".into(),
        })
        .await
        .expect_err("invalid");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "cycle",
            "due_date",
            "employee_id",
            "manager_id",
            "period_start",
            "request_id"
        ]
    );
    let status = h
        .client
        .create_review(CreateReviewRequest {
            manager_id: "e-1".into(),
            period_end: "2025-12-31".into(),
            due_date: "2025-12-31".into(),
            ..create_review_request("r", "e-1", "2026-01-01")
        })
        .await
        .expect_err("inconsistent dates");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["due_date", "manager_id", "period_end"]);

    let status = h
        .client
        .open_pip(OpenPipRequest {
            objectives: vec![],
            end_date: "2026-02-01".into(),
            check_in_dates: vec!["2026-03-04".into(), "2026-03-04".into()],
            reason: " ".into(),
            ..pip_request("p")
        })
        .await
        .expect_err("invalid pip");
    let mut fields = violated_fields(&status);
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        vec!["check_in_dates", "end_date", "objectives", "reason"]
    );

    let status = h
        .client
        .give_feedback(GiveFeedbackRequest {
            relationship: FeedbackRelationship::Self_ as i32,
            anonymous: true,
            strengths: String::new(),
            improvements: String::new(),
            rating: 9,
            ..feedback_request("f", "e-1", true)
        })
        .await
        .expect_err("invalid feedback");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["anonymous", "rating", "strengths"]);
    let status = h
        .client
        .give_feedback(feedback_request("f2", "e-1", false))
        .await
        .expect_err("a peer who is the employee");
    assert_eq!(violated_fields(&status), vec!["relationship"]);

    let status = h
        .client
        .create_goal(CreateGoalRequest {
            weight: 0,
            title: String::new(),
            review_id: "not-a-uuid".into(),
            ..goal_request("g", 0, "")
        })
        .await
        .expect_err("invalid goal");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["review_id", "title", "weight"]);

    let status = h
        .client
        .finalize_review(FinalizeReviewRequest {
            request_id: "fin".into(),
            review_id: "0195f1d2-0000-7000-8000-000000000000".into(),
            rating: 0,
            sections: vec![],
            employee_id: "bad id!".into(),
        })
        .await
        .expect_err("invalid finalize");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["employee_id", "rating", "sections"]);
    let status = h
        .client
        .list_reviews(ListReviewsRequest::default())
        .await
        .expect_err("no filter");
    assert_eq!(violated_fields(&status), vec!["employee_id"]);

    assert_eq!(h.count_reviews("e-1").await, 0, "nothing was written");
    let pips = h
        .client
        .list_pips(ListPipsRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("pips")
        .into_inner();
    assert!(pips.pips.is_empty());
}

hrmesh_mesh::test_on_every_backend!(bad_input_names_every_offending_field_and_writes_nothing);
