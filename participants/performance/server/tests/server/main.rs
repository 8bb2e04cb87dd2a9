//! The performance service's gRPC server on port 0 with a real database, driven by the generated
//! client, on SQLite and PostgreSQL.

mod bad_input;
mod closure;
mod feedback;
mod goals;
mod health;
mod idempotency;
mod limits;
mod permissions;
mod personal_data;
mod pips;
mod retention;
mod reviews;

pub(crate) use hrmesh_mesh::testing::{reason_of, violated_fields};

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_performance_store::SeaPerformanceStore;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_proto::performance::*;
use tonic::{Code, Status};

pub(crate) type Client = PerformanceServiceClient<MeshChannel>;

pub(crate) struct Harness {
    pub(crate) client: Client,
    pub(crate) clock: ManualClock,
    pub(crate) server: PerformanceServer,
    /// The server's store, for what only the store offers (its retention kinds).
    pub(crate) store: SeaPerformanceStore,
    pub(crate) db: TestDatabase,
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
    pub(crate) async fn start(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaPerformanceStore::open(
            &db.url,
            hrmesh_performance_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await
        .expect("open store");
        let clock = start_clock();
        let server = PerformanceServer::start_with(store.clone(), clock.clone(), &test_config())
            .await
            .expect("start server");
        let client = Client::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        Harness {
            client,
            clock,
            server,
            store,
            db,
        }
    }

    pub(crate) async fn review(&mut self, review_id: &str) -> Review {
        self.client
            .get_review(GetReviewRequest {
                review_id: review_id.into(),
            })
            .await
            .expect("get review")
            .into_inner()
    }

    pub(crate) async fn create_review(&mut self, request_id: &str, period_start: &str) -> Review {
        self.client
            .create_review(create_review_request(request_id, "e-1", period_start))
            .await
            .expect("create review")
            .into_inner()
    }

    /// A review of e-1 moved into `state` along the machine.
    pub(crate) async fn review_in(&mut self, state: ReviewState, tag: &str) -> Review {
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

    pub(crate) async fn count_reviews(&mut self, employee_id: &str) -> usize {
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

pub(crate) fn create_review_request(
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

pub(crate) fn sections() -> Vec<ReviewSection> {
    vec![ReviewSection {
        title: "Delivery".into(),
        body: "Shipped the payroll migration on time.".into(),
    }]
}

pub(crate) fn finalize_request(
    request_id: &str,
    review_id: &str,
    rating: Rating,
) -> FinalizeReviewRequest {
    FinalizeReviewRequest {
        request_id: request_id.into(),
        review_id: review_id.into(),
        rating: rating as i32,
        sections: sections(),
        ..Default::default()
    }
}

pub(crate) fn goal_request(request_id: &str, weight: u32, review_id: &str) -> CreateGoalRequest {
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

pub(crate) fn pip_request(request_id: &str) -> OpenPipRequest {
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

pub(crate) fn feedback_request(
    request_id: &str,
    giver: &str,
    anonymous: bool,
) -> GiveFeedbackRequest {
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

pub(crate) fn assert_illegal(status: &Status, state: &str) {
    let (code, reason, metadata) = reason_of(status);
    assert_eq!(code, Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason, "ILLEGAL_TRANSITION");
    assert_eq!(metadata["state"], state, "{status:?}");
    assert!(status.message().contains(state), "{}", status.message());
}
