//! The per-employee limits on reviews, goals, PIPs and feedback, alone and under concurrent requests.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use tonic::Code;

use crate::{
    Harness, create_review_request, feedback_request, goal_request, pip_request, reason_of,
};

async fn limits_refuse_the_next_record_and_write_nothing(backend: Backend) {
    let mut h = Harness::start(backend).await;
    for n in 0..50 {
        let start =
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("date") + chrono::Duration::days(n);
        h.create_review(&format!("review-{n}"), &start.to_string())
            .await;
    }
    let refused = h
        .client
        .create_review(create_review_request("review-51", "e-1", "2026-06-01"))
        .await
        .expect_err("the 51st review");
    let (code, reason, metadata) = reason_of(&refused);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "LIMIT_REACHED");
    assert_eq!(metadata["limit"], "50");
    assert_eq!(metadata["employee_id"], "e-1");
    assert_eq!(metadata["resource"], "reviews");
    assert_eq!(h.count_reviews("e-1").await, 50);
    // Another employee is not affected.
    h.client
        .create_review(create_review_request("review-e2", "e-2", "2026-06-01"))
        .await
        .expect("e-2's first review");

    for n in 0..100 {
        h.client
            .create_goal(goal_request(&format!("goal-{n}"), 10, ""))
            .await
            .expect("goal");
    }
    let refused = h
        .client
        .create_goal(goal_request("goal-101", 10, ""))
        .await
        .expect_err("the 101st goal");
    let (_, reason, metadata) = reason_of(&refused);
    assert_eq!(reason, "LIMIT_REACHED");
    assert_eq!(metadata["limit"], "100");
    let goals = h
        .client
        .list_goals(ListGoalsRequest {
            employee_id: "e-1".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("goals")
        .into_inner();
    assert_eq!(goals.goals.len(), 100);

    for n in 0..200 {
        h.client
            .give_feedback(feedback_request(&format!("fb-{n}"), "p-1", n % 2 == 0))
            .await
            .expect("feedback");
    }
    let refused = h
        .client
        .give_feedback(feedback_request("fb-201", "p-2", false))
        .await
        .expect_err("the 201st feedback entry");
    let (_, reason, metadata) = reason_of(&refused);
    assert_eq!(reason, "LIMIT_REACHED");
    assert_eq!(metadata["limit"], "200");
    let mut count = 0;
    let mut token = String::new();
    loop {
        let page = h
            .client
            .list_feedback(ListFeedbackRequest {
                employee_id: "e-1".into(),
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("feedback")
            .into_inner();
        count += page.feedback.len();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(count, 200);
}

async fn concurrent_requests_keep_the_limits(backend: Backend) {
    let mut h = Harness::start(backend).await;
    // 8 concurrent PIPs for one employee: one opens.
    let opens = (0..8).map(|n| {
        let mut client = h.client.clone();
        async move { client.open_pip(pip_request(&format!("race-pip-{n}"))).await }
    });
    let results = futures_util::future::join_all(opens).await;
    let opened = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(opened, 1, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(reason_of(refused).1, "PIP_ALREADY_ACTIVE");
    }
    // 6 concurrent goals of weight 30 on one review: three fit.
    let mut client = h.client.clone();
    let review = client
        .create_review(create_review_request("race-review", "e-1", "2026-01-01"))
        .await
        .expect("review")
        .into_inner();
    let goals = (0..6).map(|n| {
        let mut client = h.client.clone();
        let review_id = review.review_id.clone();
        async move {
            client
                .create_goal(goal_request(&format!("race-goal-{n}"), 30, &review_id))
                .await
        }
    });
    let results = futures_util::future::join_all(goals).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        3,
        "{results:?}"
    );
    // 12 concurrent reviews with 45 in place: five fit.
    for n in 0..44 {
        let start =
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("date") + chrono::Duration::days(n);
        client
            .create_review(create_review_request(
                &format!("seed-{n}"),
                "e-1",
                &start.to_string(),
            ))
            .await
            .expect("seed review");
    }
    let creates = (0..12).map(|n| {
        let mut client = h.client.clone();
        async move {
            let start = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).expect("date")
                + chrono::Duration::days(n);
            client
                .create_review(create_review_request(
                    &format!("race-review-{n}"),
                    "e-1",
                    &start.to_string(),
                ))
                .await
        }
    });
    let results = futures_util::future::join_all(creates).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert_eq!(h.count_reviews("e-1").await, 50);
}

hrmesh_mesh::test_on_every_backend!(
    limits_refuse_the_next_record_and_write_nothing,
    concurrent_requests_keep_the_limits,
);
