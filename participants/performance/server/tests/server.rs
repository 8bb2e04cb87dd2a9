//! The performance service's gRPC server on port 0 with a real database, driven by the generated
//! client, on SQLite and PostgreSQL.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_performance_store::SeaPerformanceStore;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_proto::performance::*;
use prost::Message;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Client = PerformanceServiceClient<MeshChannel>;

struct Harness {
    client: Client,
    clock: ManualClock,
    server: PerformanceServer,
    _db: TestDatabase,
}

fn test_config() -> PerformanceConfig {
    let mut config = PerformanceConfig::default();
    hrmesh_mesh::testing::secure(&mut config.common);
    hrmesh_mesh::testing::sign(&mut config.identity);
    config.common.listen = "127.0.0.1:0".parse().expect("addr");
    config.reminder_interval_secs = 0;
    config
}

fn start_clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time"),
    )
}

impl Harness {
    async fn start(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaPerformanceStore::open(&db.url)
            .await
            .expect("open store");
        let clock = start_clock();
        let server = PerformanceServer::start_with(store, clock.clone(), &test_config())
            .await
            .expect("start server");
        let client = Client::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        Harness {
            client,
            clock,
            server,
            _db: db,
        }
    }

    async fn review(&mut self, review_id: &str) -> Review {
        self.client
            .get_review(GetReviewRequest {
                review_id: review_id.into(),
            })
            .await
            .expect("get review")
            .into_inner()
    }

    async fn create_review(&mut self, request_id: &str, period_start: &str) -> Review {
        self.client
            .create_review(create_review_request(request_id, "e-1", period_start))
            .await
            .expect("create review")
            .into_inner()
    }

    /// A review of e-1 moved into `state` along the machine.
    async fn review_in(&mut self, state: ReviewState, tag: &str) -> Review {
        let start = format!("2025-{:02}-01", 1 + (tag.len() % 12));
        let review = self
            .client
            .create_review(CreateReviewRequest {
                cycle: ReviewCycle::Quarterly as i32,
                ..create_review_request(&format!("create-{tag}"), "e-1", &start)
            })
            .await
            .expect("create")
            .into_inner();
        let id = review.review_id.clone();
        let path = [
            ReviewState::SelfAssessment,
            ReviewState::ManagerReview,
            ReviewState::Submitted,
            ReviewState::Completed,
            ReviewState::Acknowledged,
        ];
        let target_index = path.iter().position(|s| *s == state);
        if state == ReviewState::Closed {
            self.client
                .close_employee_records(CloseEmployeeRecordsRequest {
                    request_id: format!("close-{tag}"),
                    employee_id: "e-1".into(),
                    reason: "leaving".into(),
                })
                .await
                .expect("close");
            return self.review(&id).await;
        }
        let Some(target_index) = target_index else {
            return review;
        };
        for step in &path[..=target_index] {
            let rid = format!("{tag}-{}", step.as_str_name());
            let result = match step {
                ReviewState::SelfAssessment => {
                    self.client
                        .open_self_assessment(OpenSelfAssessmentRequest {
                            request_id: rid,
                            review_id: id.clone(),
                        })
                        .await
                }
                ReviewState::ManagerReview => {
                    self.client
                        .submit_self_assessment(SubmitSelfAssessmentRequest {
                            request_id: rid,
                            review_id: id.clone(),
                            sections: sections(),
                        })
                        .await
                }
                ReviewState::Submitted => {
                    self.client
                        .finalize_review(finalize_request(&rid, &id, Rating::ExceedsExpectations))
                        .await
                }
                ReviewState::Completed => {
                    self.client
                        .complete_review(CompleteReviewRequest {
                            request_id: rid,
                            review_id: id.clone(),
                            ..Default::default()
                        })
                        .await
                }
                _ => {
                    self.client
                        .acknowledge_review(AcknowledgeReviewRequest {
                            request_id: rid,
                            review_id: id.clone(),
                            employee_comment: "Agreed".into(),
                        })
                        .await
                }
            };
            result.expect("move along the machine");
        }
        let review = self.review(&id).await;
        assert_eq!(review.state, state as i32);
        review
    }

    async fn count_reviews(&mut self, employee_id: &str) -> usize {
        self.client
            .list_reviews(ListReviewsRequest {
                employee_id: employee_id.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .reviews
            .len()
    }
}

fn create_review_request(
    request_id: &str,
    employee_id: &str,
    period_start: &str,
) -> CreateReviewRequest {
    CreateReviewRequest {
        request_id: request_id.into(),
        employee_id: employee_id.into(),
        manager_id: "m-1".into(),
        cycle: ReviewCycle::Annual as i32,
        period_start: period_start.into(),
        period_end: "2026-12-31".into(),
        due_date: "2027-01-31".into(),
    }
}

fn sections() -> Vec<ReviewSection> {
    vec![ReviewSection {
        title: "Delivery".into(),
        body: "Shipped the payroll migration on time.".into(),
    }]
}

fn finalize_request(request_id: &str, review_id: &str, rating: Rating) -> FinalizeReviewRequest {
    FinalizeReviewRequest {
        request_id: request_id.into(),
        review_id: review_id.into(),
        rating: rating as i32,
        sections: sections(),
        ..Default::default()
    }
}

fn goal_request(request_id: &str, weight: u32, review_id: &str) -> CreateGoalRequest {
    CreateGoalRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        title: "Cut payroll run time".into(),
        description: "From 4 hours to 1".into(),
        target_date: "2026-09-30".into(),
        weight,
        review_id: review_id.into(),
    }
}

fn pip_request(request_id: &str) -> OpenPipRequest {
    OpenPipRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        manager_id: "m-1".into(),
        reason: "Missed deadlines".into(),
        objectives: vec!["Deliver sprint commitments".into()],
        start_date: "2026-03-01".into(),
        end_date: "2026-05-31".into(),
        check_in_dates: vec!["2026-03-04".into(), "2026-04-01".into()],
    }
}

fn feedback_request(request_id: &str, giver: &str, anonymous: bool) -> GiveFeedbackRequest {
    GiveFeedbackRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        giver_id: giver.into(),
        relationship: FeedbackRelationship::Peer as i32,
        anonymous,
        strengths: "Calm under pressure".into(),
        improvements: "Write things down".into(),
        ..Default::default()
    }
}

fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest");
    bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

fn reason_of(status: &Status) -> (Code, String, HashMap<String, String>) {
    let details = status.get_error_details();
    let info = details.error_info().expect("a google.rpc.ErrorInfo");
    assert_eq!(info.domain, "hrmesh");
    (status.code(), info.reason.clone(), info.metadata.clone())
}

fn assert_illegal(status: &Status, state: &str) {
    let (code, reason, metadata) = reason_of(status);
    assert_eq!(code, Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason, "ILLEGAL_TRANSITION");
    assert_eq!(metadata["state"], state, "{status:?}");
    assert!(status.message().contains(state), "{}", status.message());
}

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

async fn pips_record_check_ins_and_outcomes(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let pip = h
        .client
        .open_pip(pip_request("pip-1"))
        .await
        .expect("open pip")
        .into_inner();
    assert_eq!(pip.status, PipStatus::Active as i32);
    assert_eq!(pip.opened_by_request_id, "pip-1");
    let second = h
        .client
        .open_pip(pip_request("pip-2"))
        .await
        .expect_err("one active PIP");
    let (code, reason, metadata) = reason_of(&second);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "PIP_ALREADY_ACTIVE");
    assert_eq!(metadata["pip_id"], pip.pip_id);

    let check_in = |request_id: &str, date: &str| RecordPipCheckInRequest {
        request_id: request_id.into(),
        pip_id: pip.pip_id.clone(),
        check_in_date: date.into(),
        notes: "Two of three commitments met".into(),
        on_track: true,
    };
    let unscheduled = h
        .client
        .record_pip_check_in(check_in("ci-0", "2026-03-05"))
        .await
        .expect_err("not a check-in date");
    assert_eq!(violated_fields(&unscheduled), vec!["check_in_date"]);
    let recorded = h
        .client
        .record_pip_check_in(check_in("ci-1", "2026-03-04"))
        .await
        .expect("check-in")
        .into_inner();
    assert_eq!(recorded.check_ins.len(), 1);
    let twice = h
        .client
        .record_pip_check_in(check_in("ci-2", "2026-03-04"))
        .await
        .expect_err("check-in recorded twice");
    assert_illegal(&twice, "active");

    let extended = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "extend".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Extended as i32,
            notes: "Progress, not there yet".into(),
            new_end_date: "2026-06-30".into(),
            additional_check_in_dates: vec!["2026-06-15".into()],
            employee_id: String::new(),
        })
        .await
        .expect("extend")
        .into_inner();
    assert_eq!(extended.status, PipStatus::Active as i32);
    assert_eq!(extended.end_date, "2026-06-30");
    assert_eq!(
        extended.check_in_dates,
        vec!["2026-03-04", "2026-04-01", "2026-06-15"]
    );
    assert_eq!(extended.outcome, PipOutcome::Unspecified as i32);
    let bad_extension = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "extend-back".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Extended as i32,
            new_end_date: "2026-06-01".into(),
            ..Default::default()
        })
        .await
        .expect_err("an extension must move the end date forward");
    assert_eq!(violated_fields(&bad_extension), vec!["new_end_date"]);

    // A request naming another employee than the PIP's changes nothing.
    let not_theirs = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "succeed-other".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Successful as i32,
            employee_id: format!("{}-other", pip.employee_id),
            ..Default::default()
        })
        .await
        .expect_err("another employee's PIP");
    assert_eq!(not_theirs.code(), Code::PermissionDenied, "{not_theirs:?}");
    let done = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "succeed".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Successful as i32,
            notes: "Met every objective".into(),
            employee_id: pip.employee_id.clone(),
            ..Default::default()
        })
        .await
        .expect("outcome")
        .into_inner();
    assert_eq!(done.status, PipStatus::Completed as i32);
    assert_eq!(done.outcome, PipOutcome::Successful as i32);
    assert_eq!(done.outcomes.len(), 2);
    let cancel_done = h
        .client
        .cancel_pip(CancelPipRequest {
            request_id: "cancel-done".into(),
            target: Some(cancel_pip_request::Target::PipId(pip.pip_id.clone())),
            reason: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("a completed PIP cannot be cancelled");
    assert_illegal(&cancel_done, "completed");

    // The saga's undo: cancel what a request opened, once.
    let next = h
        .client
        .open_pip(pip_request("pip-3"))
        .await
        .expect("a new PIP once the first ended")
        .into_inner();
    let by_request = |request_id: &str| CancelPipRequest {
        request_id: request_id.into(),
        target: Some(cancel_pip_request::Target::OpenedByRequestId(
            "pip-3".into(),
        )),
        reason: "saga compensation".into(),
        ..Default::default()
    };
    let cancelled = h
        .client
        .cancel_pip(by_request("undo-pip-3"))
        .await
        .expect("cancel")
        .into_inner();
    assert!(cancelled.cancelled);
    let pip_now = cancelled.pip.expect("the PIP");
    assert_eq!(pip_now.pip_id, next.pip_id);
    assert_eq!(pip_now.status, PipStatus::Cancelled as i32);
    assert_eq!(pip_now.cancel_reason, "saga compensation");
    let again = h
        .client
        .cancel_pip(by_request("undo-pip-3-again"))
        .await
        .expect("cancel again")
        .into_inner();
    assert!(!again.cancelled, "already cancelled: nothing changed");

    let listed = h
        .client
        .list_pips(ListPipsRequest {
            employee_id: "e-1".into(),
            status: PipStatus::Cancelled as i32,
            ..Default::default()
        })
        .await
        .expect("list pips")
        .into_inner();
    assert_eq!(listed.pips.len(), 1);
    let got = h
        .client
        .get_pip(GetPipRequest {
            pip_id: done.pip_id.clone(),
        })
        .await
        .expect("get pip")
        .into_inner();
    assert_eq!(got, done);
}

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
    let channel = MeshChannel::lazy(
        &h.server.server.uri(),
        &hrmesh_mesh::tls::TlsConfig::default(),
        Some(hrmesh_mesh::testing::mint(&claims)),
    )
    .expect("a channel");
    Client::new(channel)
}

/// PERMISSION_DENIED, RECORD_OF_ANOTHER_EMPLOYEE, naming the record and never its owner (e-1).
fn assert_record_of_another(status: &Status, record: &str, record_id: &str) {
    let (code, reason, metadata) = reason_of(status);
    assert_eq!(
        (code, reason.as_str()),
        (Code::PermissionDenied, "RECORD_OF_ANOTHER_EMPLOYEE"),
        "{status:?}"
    );
    assert_eq!(
        (metadata["record"].as_str(), metadata["record_id"].as_str()),
        (record, record_id)
    );
    assert!(
        !hrmesh_mesh::testing::names(status.message(), "e-1")
            && !metadata.values().any(|value| value == "e-1"),
        "the owner is never named: {status:?}"
    );
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
    assert_record_of_another(&refused, "review", &id);
    assert_eq!(h.review(&id).await, review, "the review is unchanged");
    // The refusal is the recorded answer to that request; the key is not free for another one.
    let replayed = service
        .finalize_review(finalize_as("finalize-e2", "e-2"))
        .await
        .expect_err("replayed");
    assert_record_of_another(&replayed, "review", &id);
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
    assert_record_of_another(&refused, "review", &id);
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
    assert_record_of_another(&refused, "review", &id);
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
    assert_record_of_another(&refused, "pip", &pip.pip_id);
    let refused = service
        .cancel_pip(cancel("undo-e2", by_request(), "e-2"))
        .await
        .expect_err("undo another employee's PIP");
    assert_record_of_another(&refused, "pip", &pip.pip_id);
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

async fn health_reports_the_service_serving(backend: Backend) {
    let h = Harness::start(backend).await;
    let channel = tonic::transport::Channel::from_shared(h.server.server.uri())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hrmesh.performance.v1.PerformanceService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    h.server.stop().await.expect("stop");
}

hrmesh_mesh::test_on_every_backend!(
    reviews_move_through_every_state,
    every_illegal_review_transition_is_refused_naming_the_state,
    undo_steps_succeed_without_effect_when_the_forward_step_never_happened,
    a_repeated_request_gets_the_first_answer,
    limits_refuse_the_next_record_and_write_nothing,
    goals_keep_their_progress_history,
    pips_record_check_ins_and_outcomes,
    anonymous_givers_are_never_revealed,
    closing_an_employee_closes_what_is_open_and_reopening_restores_exactly_that,
    bad_input_names_every_offending_field_and_writes_nothing,
    concurrent_requests_keep_the_limits,
    a_request_naming_another_employee_leaves_their_record_unchanged,
    health_reports_the_service_serving,
);
