//! Records belong to the employee: a caller allowed to act for one employee cannot reach another's
//! review or hold through a saga. The participant refuses the record inside the transaction that
//! would change it, and the saga compensates with that reason; nothing changes.

use super::*;

async fn run_as(
    client: &mut SagaServiceClient<MeshChannel>,
    request_id: &str,
    input: Input,
) -> Saga {
    let mut request = tonic::Request::new(StartSagaRequest {
        request_id: request_id.into(),
        wait: true,
        input: Some(input),
    });
    request.set_timeout(Duration::from_secs(20));
    client
        .start_saga(request)
        .await
        .expect("the start itself is allowed: the caller manages the employee it names")
        .into_inner()
}

fn refused_for_another_employee(saga: &Saga) {
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:?}");
    assert!(
        saga.reason.contains("RECORD_OF_ANOTHER_EMPLOYEE"),
        "{}",
        saga.reason
    );
}

async fn another_employees_review_is_refused_at_complete_review(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;
    mesh.pto("e-2", "10").await;
    let theirs = mesh.review_by("e-2", "m-2").await;
    let mut m1 = mesh.manager_sagas("m-1", &["e-1"]);
    let saga = run_as(
        &mut m1,
        "steal-review",
        complete_review(&theirs, "e-1", ppb::Rating::Outstanding, "pto"),
    )
    .await;
    refused_for_another_employee(&saga);
    assert_eq!(
        statuses(&saga)[0],
        StepStatus::Rejected,
        "refused at the first step"
    );
    let review = mesh.review_state(&theirs).await;
    assert_eq!(review.state, ppb::ReviewState::ManagerReview as i32);
    assert_eq!(review.rating, 0, "no rating was written");
    assert_eq!(mesh.entries("e-1").await.len(), 1, "no bonus for e-1");
    assert_eq!(mesh.entries("e-2").await.len(), 1);
    assert!(mesh.inbox("e-1").await.is_empty() && mesh.inbox("e-2").await.is_empty());

    // The participant's trail names the real actor behind the orchestrator's call.
    let trail = audit_trail("performance", &mesh.performance_server.server.uri()).await;
    let finalize = trail
        .iter()
        .find(|e| e.method.ends_with("/FinalizeReview"))
        .expect("the refused call is in the trail");
    assert_eq!(finalize.subject, "hrmesh-orchestrator");
    assert_eq!(finalize.on_behalf_of, "m-1");
    assert_eq!(finalize.outcome, "PERMISSION_DENIED");

    // The employee's own review goes through for the same manager.
    let own = mesh.review_by("e-1", "m-1").await;
    let saga = run_as(
        &mut m1,
        "own-review",
        complete_review(&own, "e-1", ppb::Rating::Outstanding, "pto"),
    )
    .await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    mesh.stop().await;
}

async fn another_employees_hold_is_refused_at_decide_time_off(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;
    mesh.pto("e-2", "10").await;
    let requested = mesh
        .run_saga(
            "e-2-asks",
            time_off("e-2", "m-2", "2026-08-03", "2026-08-04"),
        )
        .await
        .expect("request");
    assert_eq!(
        requested.state,
        SagaState::Completed as i32,
        "{requested:?}"
    );
    let their_hold = requested.steps[0].output["hold_id"].clone();
    let mut m1 = mesh.manager_sagas("m-1", &["e-1"]);
    for (request_id, approve) in [("void-theirs", false), ("post-theirs", true)] {
        let saga = run_as(
            &mut m1,
            request_id,
            Input::DecideTimeOff(DecideTimeOffInput {
                employee_id: "e-1".into(),
                hold_id: their_hold.clone(),
                approve,
                reason: "not yours".into(),
            }),
        )
        .await;
        refused_for_another_employee(&saga);
    }
    let hold = mesh
        .ledger
        .get_hold(lpb::GetHoldRequest {
            hold_id: their_hold.clone(),
        })
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(
        hold.state,
        lpb::HoldState::Pending as i32,
        "e-2's time off is untouched"
    );
    assert_eq!(mesh.balance("e-2").await.pending, "2");
    assert!(
        mesh.inbox("e-1").await.is_empty(),
        "nobody was told anything"
    );
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(
    another_employees_review_is_refused_at_complete_review,
    another_employees_hold_is_refused_at_decide_time_off,
);
