//! erase-personal-data with the real participants: an employee's free text reads as erased in
//! every service and in every saga's input, while their records, balances and saga histories
//! stay, and another employee's text stays too. Only admins may start it.

use super::*;

const SECRET: &str = "zqsurgeryplaintext";

async fn erasure_reaches_every_service_and_keeps_the_records(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-2", "10").await;
    let requested = mesh
        .run_saga(
            "time-off-1",
            Input::RequestTimeOff(RequestTimeOffInput {
                employee_id: "e-2".into(),
                manager_id: "m-1".into(),
                policy_id: "pto".into(),
                dates: Some(DateRange {
                    start_date: "2026-07-06".into(),
                    end_date: "2026-07-08".into(),
                }),
                half_days: vec![],
                reason: SECRET.into(),
            }),
        )
        .await
        .expect("request time off");
    assert_eq!(
        requested.state,
        SagaState::Completed as i32,
        "{requested:?}"
    );
    let hold_id = requested.steps[0].output["hold_id"].clone();
    let decided = mesh
        .run_saga(
            "decide-1",
            Input::DecideTimeOff(DecideTimeOffInput {
                employee_id: "e-2".into(),
                hold_id: hold_id.clone(),
                approve: false,
                reason: format!("{SECRET} overlaps"),
            }),
        )
        .await
        .expect("decide");
    assert_eq!(decided.state, SagaState::Completed as i32, "{decided:?}");
    let told = mesh.inbox("e-2").await;
    assert!(!told.is_empty() && told[0].subject != hrmesh_crypto::ERASED);
    let managers_before = mesh.inbox("m-1").await;
    let balance_before = mesh.balance("e-2").await;

    // Nobody but an admin may erase.
    let mut manager = mesh.manager_sagas("m-1", &["e-2"]);
    let refused = manager
        .start_saga(StartSagaRequest {
            request_id: "erase-by-manager".into(),
            wait: true,
            input: Some(Input::ErasePersonalData(ErasePersonalDataInput {
                employee_id: "e-2".into(),
            })),
        })
        .await
        .expect_err("a manager cannot erase");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let erased = mesh
        .run_saga(
            "erase-1",
            Input::ErasePersonalData(ErasePersonalDataInput {
                employee_id: "e-2".into(),
            }),
        )
        .await
        .expect("erase");
    assert_eq!(erased.state, SagaState::Completed as i32, "{erased:?}");
    let destroyed: Vec<&str> = erased
        .steps
        .iter()
        .map(|step| step.output["keys_destroyed"].as_str())
        .collect();
    assert_eq!(
        destroyed,
        ["0", "1", "1"],
        "performance held nothing of e-2's"
    );

    // The ledger: the hold and its entries stay, their reasons are erased, balances unchanged.
    let hold = mesh
        .participants
        .ledger
        .get_hold(lpb::GetHoldRequest {
            hold_id: hold_id.clone(),
        })
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(hold.reason, hrmesh_crypto::ERASED);
    assert_eq!(hold.state, lpb::HoldState::Voided as i32);
    assert!(
        mesh.entries("e-2")
            .await
            .iter()
            .all(|entry| !entry.reason.contains("zq"))
    );
    assert_eq!(mesh.balance("e-2").await, balance_before);

    // The notification service: e-2's notification stays, what it says is erased; the
    // manager's notifications about the request are the manager's and stay.
    let told = mesh.inbox("e-2").await;
    assert_eq!(told[0].subject, hrmesh_crypto::ERASED);
    assert_eq!(told[0].template, "time_off.decided");
    assert_eq!(mesh.inbox("m-1").await, managers_before);

    // The saga log: both sagas read with their structure, their free text erased.
    for saga_id in [&requested.saga_id, &decided.saga_id] {
        let saga = mesh.get(saga_id).await;
        assert_eq!(saga.state, SagaState::Completed as i32);
        assert_eq!(saga.steps.len(), 2, "{saga:?}");
        let reason = match saga.start.and_then(|start| start.input) {
            Some(Input::RequestTimeOff(input)) => input.reason,
            Some(Input::DecideTimeOff(input)) => input.reason,
            other => panic!("an input expected: {other:?}"),
        };
        assert_eq!(reason, hrmesh_crypto::ERASED);
    }
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(erasure_reaches_every_service_and_keeps_the_records);
