//! Sagas a version 1 orchestrator left in its log (the protobuf start request, string-map outputs,
//! untimed failures) resume after the upgrade with their meaning kept: one that had not started
//! runs to completion; one that was compensating goes on compensating, never forward.

use prost::Message;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database};

use super::*;

/// How long a test waits for what must happen at most.
const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// The saga as its log has it once it ended there: read back through a log of its own, so the
/// events the resumed saga appended are decoded from the database, not this replica's memory.
async fn read_back(url: &str, id: &str) -> Vec<hrmesh_saga_core::Event> {
    let log = hrmesh_saga_store::SagaLog::open(
        url,
        hrmesh_orchestrator_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("the saga log");
    tokio::time::timeout(WAIT_MAX, async {
        loop {
            let (record, events) = log
                .get(id)
                .await
                .expect("the log reads back")
                .expect("the saga");
            if record.state.is_terminal() {
                return events.into_iter().map(|e| e.event).collect();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the saga ended in its log within {WAIT_MAX:?}"))
}

struct LegacySaga<'a> {
    id: &'a str,
    saga_type: &'a str,
    state: &'a str,
    employee_id: &'a str,
    start: StartSagaRequest,
    events: &'a [String],
}

/// Writes `saga` into the orchestrator's log as version 1 did, held by a replica whose lease ran
/// out.
async fn write_v1(url: &str, saga: LegacySaga<'_>) {
    let db = Database::connect(url).await.expect("the saga log");
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("sagas"))
        .columns(
            [
                "id",
                "saga_type",
                "state",
                "employee_id",
                "lock_mode",
                "request_id",
                "input",
                "reason",
                "events",
                "owner",
                "lease_until",
                "created_at",
                "updated_at",
                "log_version",
            ]
            .map(Alias::new),
        )
        .values_panic([
            saga.id.into(),
            saga.saga_type.into(),
            saga.state.into(),
            saga.employee_id.into(),
            "shared".into(),
            saga.start.request_id.clone().into(),
            saga.start.encode_to_vec().into(),
            "".into(),
            (saga.events.len() as i64).into(),
            "old-replica".into(),
            long_ago.into(),
            long_ago.into(),
            long_ago.into(),
            1i32.into(),
        ]);
    db.execute(&insert).await.expect("a version 1 saga");
    for (n, event) in saga.events.iter().enumerate() {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("saga_events"))
            .columns(["saga_id", "seq", "at", "event"].map(Alias::new))
            .values_panic([
                saga.id.into(),
                (n as i64 + 1).into(),
                long_ago.into(),
                event.as_str().into(),
            ]);
        db.execute(&insert).await.expect("a version 1 event");
    }
}

async fn sagas_logged_by_version_1_resume_with_their_meaning(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;

    // Started, never called.
    let waiting = "0193a000-0000-7000-8000-000000000001";
    write_v1(
        &mesh.dbs[3].url,
        LegacySaga {
            id: waiting,
            saga_type: "request-time-off",
            state: "running",
            employee_id: "e-1",
            start: StartSagaRequest {
                request_id: "v1-time-off".into(),
                wait: false,
                input: Some(Input::RequestTimeOff(RequestTimeOffInput {
                    employee_id: "e-1".into(),
                    manager_id: "m-1".into(),
                    policy_id: "pto".into(),
                    dates: Some(DateRange {
                        start_date: "2026-08-03".into(),
                        end_date: "2026-08-03".into(),
                    }),
                    half_days: vec![],
                    reason: "v1".into(),
                })),
            },
            events: &[],
        },
    )
    .await;

    // Finalized the review, then a failed round at the bonus: version 1 compensated from there.
    let compensating = "0193a000-0000-7000-8000-000000000002";
    let review_id = mesh.review_in_manager_review("e-1").await;
    mesh.performance
        .finalize_review(ppb::FinalizeReviewRequest {
            request_id: format!("saga:{compensating}:0:do"),
            review_id: review_id.clone(),
            rating: ppb::Rating::Outstanding as i32,
            sections: sections(),
            employee_id: String::new(),
        })
        .await
        .expect("the finalize version 1 made");
    write_v1(
        &mesh.dbs[3].url,
        LegacySaga {
            id: compensating,
            saga_type: "complete-review",
            state: "compensating",
            employee_id: "e-1",
            start: StartSagaRequest {
                request_id: "v1-review".into(),
                wait: false,
                input: Some(complete_review(
                    &review_id,
                    "e-1",
                    ppb::Rating::Outstanding,
                    "pto",
                )),
            },
            events: &[
                r#"{"StepSucceeded":{"step":0,"output":{"manager_id":"m-1","cycle":"annual"}}}"#
                    .to_owned(),
                r#"{"StepFailed":{"step":1,"error":"ledger: circuit open after repeated failures"}}"#
                    .to_owned(),
            ],
        },
    )
    .await;

    let resumed = mesh.orchestrator.engine().recover().await.expect("recover");
    assert_eq!(resumed, 2);

    let done = mesh.settled(waiting).await;
    assert_eq!(done.state, SagaState::Completed as i32, "{done:?}");
    assert_eq!(done.steps[0].output["total"], "1");
    assert_eq!(
        done.start.and_then(|s| s.input),
        Some(Input::RequestTimeOff(RequestTimeOffInput {
            employee_id: "e-1".into(),
            manager_id: "m-1".into(),
            policy_id: "pto".into(),
            dates: Some(DateRange {
                start_date: "2026-08-03".into(),
                end_date: "2026-08-03".into(),
            }),
            half_days: vec![],
            reason: "v1".into(),
        })),
        "the version 1 start reads as it was given"
    );
    assert_eq!(mesh.inbox("m-1").await.len(), 1);
    let events = read_back(&mesh.dbs[3].url, waiting).await;
    assert_eq!(
        events.len(),
        2,
        "the new events of a version 1 saga read back: {events:?}"
    );

    let done = mesh.settled(compensating).await;
    assert_eq!(done.state, SagaState::Compensated as i32, "{done:?}");
    let kinds = kinds(&done);
    assert_eq!(
        kinds,
        vec!["succeeded", "abandoned", "compensated", "compensated"],
        "never forward again after version 1 chose to compensate"
    );
    assert_eq!(done.history[0].output["manager_id"], "m-1");
    let events = read_back(&mesh.dbs[3].url, compensating).await;
    assert!(
        matches!(
            events[1],
            hrmesh_saga_core::Event::StepAbandoned { step: 1, .. }
        ) && matches!(
            events[2..],
            [
                hrmesh_saga_core::Event::CompensationSucceeded { step: 1 },
                hrmesh_saga_core::Event::CompensationSucceeded { step: 0 }
            ]
        ),
        "version 1 and version 2 events of one saga read back: {events:?}"
    );
    let review = mesh.review_state(&review_id).await;
    assert_eq!(review.state, ppb::ReviewState::ManagerReview as i32);
    // The bonus call that may have landed was re-driven and reversed: the balance is as before.
    assert_eq!(mesh.balance("e-1").await.balance, "10");
    assert!(mesh.inbox("e-1").await.is_empty());
    mesh.stop().await;
}

/// Writes a saga as version 2 logged it (the core's JSON start), held by a replica whose lease
/// ran out.
async fn write_v2(url: &str, id: &str, saga_type: &str, employee_id: &str, start_json: &str) {
    let db = Database::connect(url).await.expect("the saga log");
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("sagas"))
        .columns(
            [
                "id",
                "saga_type",
                "state",
                "employee_id",
                "lock_mode",
                "request_id",
                "input",
                "reason",
                "events",
                "owner",
                "lease_until",
                "created_at",
                "updated_at",
                "log_version",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            saga_type.into(),
            "running".into(),
            employee_id.into(),
            "exclusive".into(),
            format!("v2-{id}").into(),
            start_json.as_bytes().to_vec().into(),
            "".into(),
            0i64.into(),
            "old-replica".into(),
            long_ago.into(),
            long_ago.into(),
            long_ago.into(),
            2i32.into(),
        ]);
    db.execute(&insert).await.expect("a version 2 saga");
}

/// initiate-pip, offboard-employee and onboard-employee have other steps since log version 3: a
/// saga of theirs logged by version 2 is not resumed on the new steps (its step numbers mean the
/// old ones) but made stuck, saying why, with nothing called; its start still reads.
async fn sagas_whose_steps_changed_since_version_2_are_stuck_not_resumed(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let offboarding = "0193a000-0000-7000-8000-000000000021";
    write_v2(
        &mesh.dbs[3].url,
        offboarding,
        "offboard-employee",
        "e-1",
        r#"{"actor":"hr-admin","input":{"offboard_employee":{"employee_id":"e-1","last_day":"2026-12-31","policy_id":"pto","settlement":"Payout","hr_recipient_id":"hr-1","reason":"v2"}}}"#,
    )
    .await;
    let onboarding = "0193a000-0000-7000-8000-000000000022";
    write_v2(
        &mesh.dbs[3].url,
        onboarding,
        "onboard-employee",
        "e-5",
        r#"{"actor":"hr-admin","input":{"onboard_employee":{"employee_id":"e-5","manager_id":"m-1","policy_id":"pto","start_date":"2026-12-01","first_accrual":"1.5","probation_review_due_date":"2027-03-01","starter_goals":[]}}}"#,
    )
    .await;
    let resumed = mesh.orchestrator.engine().recover().await.expect("recover");
    assert_eq!(resumed, 2);
    for id in [offboarding, onboarding] {
        let saga = mesh.settled(id).await;
        assert_eq!(saga.state, SagaState::Stuck as i32, "{saga:?}");
        assert!(saga.reason.contains("earlier steps"), "{}", saga.reason);
    }
    let onboard = mesh.get(onboarding).await;
    match onboard.start.and_then(|s| s.input) {
        Some(Input::OnboardEmployee(input)) => assert_eq!(input.policy_ids, vec!["pto"]),
        other => panic!("the version 2 start reads: {other:?}"),
    }
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::ManagerReview as i32,
        "nothing was closed"
    );
    assert!(mesh.inbox("hr-1").await.is_empty(), "nobody was told");
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(
    sagas_logged_by_version_1_resume_with_their_meaning,
    sagas_whose_steps_changed_since_version_2_are_stuck_not_resumed,
);
