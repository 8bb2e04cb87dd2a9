//! The contract with performance: the consumer side and the provider verification.

use std::collections::HashMap;

use hrmesh_contracts::states::*;
use hrmesh_contracts::verify::{Provider, Started, verify};
use hrmesh_domain::{EmployeeId, RequestId, SystemClock, Violations};
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_performance_core::*;
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_performance_store::SeaPerformanceStore;
use hrmesh_saga_core::Direction::{Compensate, Forward};
use pact_consumer::prelude::*;
use pact_models::v4::sync_message::SynchronousMessage;
use serde_json::{Value, json};

use crate::consumer::*;

pub const PROVIDER: &str = "hrmesh-performance";
const SERVICE: &str = "hrmesh.performance.v1.PerformanceService";

pub fn contract() -> Contract {
    let mut c = Contract::new(PROVIDER, SERVICE);
    let finalize = || {
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "do"),
            "reviewId": term!(UUID, REVIEW),
            "employeeId": like!("e-1"),
            "rating": like!("RATING_OUTSTANDING"),
            "sections": each_like!({
                "title": like!("Delivery"),
                "body": like!("Shipped the payroll migration a month early."),
            }),
        }))
        .inject("$.reviewId", "reviewId")
    };
    c.interaction(
        "finalize a review in manager review",
        &[REVIEW_IN_MANAGER_REVIEW],
        "FinalizeReview",
        finalize(),
        Reply::Ok(json_pattern!({
            "managerId": like!("e-2"),
            "cycle": term!("^REVIEW_CYCLE_[A-Z_]+$", "REVIEW_CYCLE_ANNUAL"),
            "state": "REVIEW_STATE_SUBMITTED",
        })),
        Drive::new(
            complete_review(),
            0,
            Forward,
            Expect::Done(&[("manager_id", "e-2"), ("cycle", "annual")]),
        ),
    );
    c.interaction(
        "finalize a review that is still a draft",
        &[REVIEW_IN_DRAFT],
        "FinalizeReview",
        finalize(),
        Reply::Error("FAILED_PRECONDITION", error_info("ILLEGAL_TRANSITION")),
        Drive::new(
            complete_review(),
            0,
            Forward,
            Expect::Rejected("ILLEGAL_TRANSITION"),
        ),
    );
    c.interaction(
        "finalize the review of another employee than the saga's",
        &[E3_REVIEW_IN_MANAGER_REVIEW],
        "FinalizeReview",
        finalize(),
        Reply::Error(
            "PERMISSION_DENIED",
            json_pattern!({
                "reason": "RECORD_OF_ANOTHER_EMPLOYEE",
                "metadata": {"record": "review"},
            }),
        ),
        Drive::new(
            complete_review(),
            0,
            Forward,
            Expect::Rejected("RECORD_OF_ANOTHER_EMPLOYEE"),
        ),
    );
    c.interaction(
        "reopen the review its saga finalized",
        &[REVIEW_FINALIZED],
        "ReopenReview",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "undo"),
            "reviewId": term!(UUID, REVIEW),
            "employeeId": like!("e-1"),
            "finalizeRequestId": key_pattern(0, "do"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.reviewId", "reviewId")
        .inject("$.finalizeRequestId", "finalizeRequestId"),
        Reply::Ok(json_pattern!({"state": "REVIEW_STATE_MANAGER_REVIEW"})),
        Drive::new(complete_review(), 0, Compensate, Expect::Done(&[])),
    );
    c.interaction(
        "complete a submitted review",
        &[REVIEW_SUBMITTED],
        "CompleteReview",
        Request::from(json_pattern!({
            "requestId": key_pattern(2, "do"),
            "reviewId": term!(UUID, REVIEW),
            "employeeId": like!("e-1"),
        }))
        .inject("$.reviewId", "reviewId"),
        Reply::Ok(json_pattern!({"state": "REVIEW_STATE_COMPLETED"})),
        Drive::new(complete_review(), 2, Forward, Expect::Done(&[])),
    );
    let open_pip = || {
        json_pattern!({
            "requestId": key_pattern(0, "do"),
            "employeeId": like!("e-1"),
            "managerId": like!("e-2"),
            "reason": like!("missed three release deadlines"),
            "objectives": each_like!("Ship each sprint's committed stories"),
            "startDate": term!(DATE, "2026-12-01"),
            "endDate": term!(DATE, "2027-02-26"),
            "checkInDates": each_like!(term!(DATE, "2026-12-15")),
        })
    };
    c.interaction(
        "open a PIP",
        &[],
        "OpenPip",
        open_pip(),
        Reply::Ok(json_pattern!({
            "pipId": term!(UUID, PIP),
            "status": "PIP_STATUS_ACTIVE",
            "checkInDates": each_like!(term!(DATE, "2026-12-15")),
        })),
        Drive::new(
            initiate_pip(),
            0,
            Forward,
            Expect::Done(&[("pip_id", PIP), ("first_check_in", "2026-12-15")]),
        ),
    );
    c.interaction(
        "open a PIP while another is active",
        &[E1_HAS_ACTIVE_PIP],
        "OpenPip",
        open_pip(),
        Reply::Error("FAILED_PRECONDITION", error_info("PIP_ALREADY_ACTIVE")),
        Drive::new(
            initiate_pip(),
            0,
            Forward,
            Expect::Rejected("PIP_ALREADY_ACTIVE"),
        ),
    );
    c.interaction(
        "cancel the PIP its saga opened",
        &[E1_HAS_PIP_OPENED],
        "CancelPip",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "undo"),
            "openedByRequestId": key_pattern(0, "do"),
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.openedByRequestId", "openedByRequestId"),
        Reply::Ok(json_pattern!({
            "cancelled": true,
            "pip": {"status": "PIP_STATUS_CANCELLED"},
        })),
        Drive::new(initiate_pip(), 0, Compensate, Expect::Done(&[])),
    );
    c.interaction(
        "record the outcome of a PIP",
        &[E1_HAS_ACTIVE_PIP],
        "RecordPipOutcome",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "do"),
            "pipId": term!(UUID, PIP),
            "outcome": "PIP_OUTCOME_SUCCESSFUL",
            "notes": like!("met every objective"),
            "employeeId": like!("e-1"),
        }))
        .inject("$.pipId", "pipId"),
        Reply::Ok(json_pattern!({
            "pipId": term!(UUID, PIP),
            "managerId": like!("e-2"),
            "endDate": term!(DATE, "2027-01-31"),
            "status": "PIP_STATUS_COMPLETED",
        })),
        Drive::new(
            conclude_pip(false),
            0,
            Forward,
            Expect::Done(&[
                ("manager_id", "e-2"),
                ("outcome", "successful"),
                ("end_date", "2027-01-31"),
            ]),
        ),
    );
    c.interaction(
        "close the records of a leaving employee",
        &[E1_HAS_OPEN_REVIEW],
        "CloseEmployeeRecords",
        json_pattern!({
            "requestId": key_pattern(0, "do"),
            "employeeId": like!("e-1"),
            "reason": like!("offboarding"),
        }),
        Reply::Ok(json_pattern!({
            "records": each_like!({
                "kind": term!("^RECORD_KIND_[A-Z_]+$", "RECORD_KIND_REVIEW"),
                "id": term!(UUID, REVIEW),
            }),
        })),
        Drive::new(
            offboard_employee(),
            0,
            Forward,
            Expect::Done(&[("closed_records", "1")]),
        ),
    );
    c.interaction(
        "reopen the records its saga closed",
        &[E1_RECORDS_CLOSED],
        "ReopenEmployeeRecords",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "undo"),
            "closeRequestId": key_pattern(0, "do"),
        }))
        .inject("$.closeRequestId", "closeRequestId"),
        Reply::Ok(json_pattern!({
            "reopenTime": like!("2026-12-31T17:00:00Z"),
        })),
        Drive::new(offboard_employee(), 0, Compensate, Expect::Done(&[])),
    );
    c.interaction(
        "create the probation review of a new employee",
        &[],
        "CreateReview",
        json_pattern!({
            "requestId": key_pattern(2, "do"),
            "employeeId": like!("e-7"),
            "managerId": like!("e-2"),
            "cycle": "REVIEW_CYCLE_PROBATION",
            "periodStart": term!(DATE, "2026-12-01"),
            "periodEnd": term!(DATE, "2027-03-01"),
            "dueDate": term!(DATE, "2027-03-01"),
        }),
        Reply::Ok(json_pattern!({
            "reviewId": term!(UUID, PROBATION_REVIEW),
            "state": "REVIEW_STATE_DRAFT",
        })),
        Drive::new(
            onboard_employee(),
            2,
            Forward,
            Expect::Done(&[("review_id", PROBATION_REVIEW)]),
        ),
    );
    c.interaction(
        "create a starter goal on the probation review",
        &[E7_HAS_PROBATION_REVIEW],
        "CreateGoal",
        Request::from(json_pattern!({
            "requestId": term!(
                "^saga:[0-9a-f-]{36}:3:do/[0-9]+$",
                format!("{}/0", key(3, "do"))
            ),
            "employeeId": like!("e-7"),
            "title": like!("Finish the onboarding checklist"),
            "targetDate": term!(DATE, "2027-03-01"),
            "weight": like!(100),
            "reviewId": term!(UUID, PROBATION_REVIEW),
        }))
        .inject("$.reviewId", "reviewId"),
        Reply::Ok(json_pattern!({"goalId": term!(UUID, GOAL)})),
        Drive::new(
            onboard_employee(),
            3,
            Forward,
            Expect::Done(&[("goal_ids", GOAL)]),
        )
        .after(2, &[("review_id", PROBATION_REVIEW)]),
    );
    c.erase_personal_data(0);
    c
}

// ---- provider

fn rid(text: &str) -> RequestId {
    RequestId::parse("request_id", text, &mut Violations::default()).expect("request id")
}

fn employee(text: &str) -> EmployeeId {
    EmployeeId::parse("employee_id", text, &mut Violations::default()).expect("employee id")
}

fn date(text: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

fn sections() -> Vec<Section> {
    vec![Section {
        title: "Delivery".into(),
        body: "Steady.".into(),
    }]
}

type StatePerformance = Performance<SeaPerformanceStore, SystemClock>;

async fn create_review(
    performance: &StatePerformance,
    employee_id: &str,
    cycle: ReviewCycle,
) -> anyhow::Result<String> {
    let review = performance
        .create_review(CreateReview {
            request_id: rid(&format!("state/review/{employee_id}")),
            employee_id: employee(employee_id),
            manager_id: employee("e-2"),
            cycle,
            period_start: date("2026-01-01"),
            period_end: date("2026-12-31"),
            due_date: date("2027-01-31"),
        })
        .await?;
    Ok(review.id)
}

async fn change(
    performance: &StatePerformance,
    review_id: &str,
    request_id: &str,
    change: ReviewChange,
) -> anyhow::Result<()> {
    performance
        .update_review(UpdateReview {
            request_id: rid(request_id),
            review_id: review_id.to_owned(),
            change,
            expected_employee: None,
        })
        .await?;
    Ok(())
}

/// An annual review of e-1 by e-2, moved through the self-assessment into manager review.
async fn review_in_manager_review(performance: &StatePerformance) -> anyhow::Result<String> {
    review_of_in_manager_review(performance, "e-1").await
}

async fn review_of_in_manager_review(
    performance: &StatePerformance,
    employee_id: &str,
) -> anyhow::Result<String> {
    let id = create_review(performance, employee_id, ReviewCycle::Annual).await?;
    change(
        performance,
        &id,
        "state/open",
        ReviewChange::OpenSelfAssessment,
    )
    .await?;
    let sections = sections();
    change(
        performance,
        &id,
        "state/self",
        ReviewChange::SubmitSelfAssessment { sections },
    )
    .await?;
    Ok(id)
}

const FINALIZE_REQUEST: &str = "saga:01937ca0-6b2d-7e4f-8a1c-3d5e7f9b0a2c:0:do";

async fn finalized_review(performance: &StatePerformance) -> anyhow::Result<String> {
    let id = review_in_manager_review(performance).await?;
    change(
        performance,
        &id,
        FINALIZE_REQUEST,
        ReviewChange::Finalize {
            rating: Rating::ExceedsExpectations,
            sections: sections(),
        },
    )
    .await?;
    Ok(id)
}

async fn open_pip(performance: &StatePerformance, request_id: &str) -> anyhow::Result<String> {
    let pip = performance
        .open_pip(OpenPip {
            request_id: rid(request_id),
            employee_id: employee("e-1"),
            manager_id: employee("e-2"),
            reason: "late deliveries".into(),
            objectives: vec!["Deliver on time".into()],
            start_date: date("2026-11-01"),
            end_date: date("2027-01-31"),
            check_in_dates: vec![date("2026-12-01")],
        })
        .await?;
    Ok(pip.id)
}

async fn set_up(
    performance: &StatePerformance,
    state: &str,
    values: &mut HashMap<String, Value>,
) -> anyhow::Result<()> {
    match state {
        REVIEW_IN_MANAGER_REVIEW => {
            let id = review_in_manager_review(performance).await?;
            values.insert("reviewId".into(), json!(id));
        }
        E3_REVIEW_IN_MANAGER_REVIEW => {
            let id = review_of_in_manager_review(performance, "e-3").await?;
            values.insert("reviewId".into(), json!(id));
        }
        REVIEW_IN_DRAFT => {
            let id = create_review(performance, "e-1", ReviewCycle::Annual).await?;
            values.insert("reviewId".into(), json!(id));
        }
        REVIEW_FINALIZED => {
            let id = finalized_review(performance).await?;
            values.insert("reviewId".into(), json!(id));
            values.insert("finalizeRequestId".into(), json!(FINALIZE_REQUEST));
        }
        REVIEW_SUBMITTED => {
            let id = finalized_review(performance).await?;
            values.insert("reviewId".into(), json!(id));
        }
        E1_HAS_ACTIVE_PIP => {
            let id = open_pip(performance, "state/pip").await?;
            values.insert("pipId".into(), json!(id));
        }
        E1_HAS_PIP_OPENED => {
            let request_id = "saga:01937ca1-2c4e-7a6b-9d8f-0e1a3c5b7d9f:0:do";
            open_pip(performance, request_id).await?;
            values.insert("openedByRequestId".into(), json!(request_id));
        }
        E1_HAS_OPEN_REVIEW => {
            create_review(performance, "e-1", ReviewCycle::Annual).await?;
        }
        E1_RECORDS_CLOSED => {
            create_review(performance, "e-1", ReviewCycle::Annual).await?;
            let request_id = "saga:01937ca2-8e1f-7c3d-b5a7-2f4c6e8a0b1d:0:do";
            performance
                .close_employee_records(CloseEmployeeRecords {
                    request_id: rid(request_id),
                    employee_id: employee("e-1"),
                    reason: "offboarding".into(),
                })
                .await?;
            values.insert("closeRequestId".into(), json!(request_id));
        }
        E7_HAS_PROBATION_REVIEW => {
            let id = create_review(performance, "e-7", ReviewCycle::Probation).await?;
            values.insert("reviewId".into(), json!(id));
        }
        other => anyhow::bail!("performance has no set-up for the provider state \"{other}\""),
    }
    Ok(())
}

/// The real performance server on a fresh database, states set up through its own service.
pub struct RealPerformance {
    pub backend: Backend,
}

impl Provider for RealPerformance {
    type Running = (PerformanceServer, TestDatabase);

    async fn start(
        &self,
        interaction: &SynchronousMessage,
    ) -> anyhow::Result<Started<Self::Running>> {
        let db = TestDatabase::new(self.backend).await;
        let store = SeaPerformanceStore::open(
            &db.url,
            hrmesh_performance_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await?;
        let performance = Performance::new(store.clone(), SystemClock);
        let mut values = HashMap::new();
        for state in &interaction.provider_states {
            set_up(&performance, &state.name, &mut values).await?;
        }
        let mut config = PerformanceConfig::default();
        config.common.listen = ([127, 0, 0, 1], 0).into();
        hrmesh_mesh::testing::secure(&mut config.common);
        let server = PerformanceServer::start_with(store, SystemClock, &config).await?;
        let channel = crate::connect(&server.server.uri()).await?;
        Ok(Started {
            running: (server, db),
            channel,
            values,
        })
    }

    async fn stop(&self, (server, _db): Self::Running) -> anyhow::Result<()> {
        server.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer() {
    let exercised = contract().run().await;
    crate::assert_every_command_exercised(PROVIDER, &exercised);
}

async fn provider(backend: Backend) {
    let report = verify(&pact_path(PROVIDER), &RealPerformance { backend })
        .await
        .expect("verification ran");
    println!("{report}");
    assert!(report.passed(), "{report}");
}

hrmesh_mesh::test_on_every_backend!(provider);
