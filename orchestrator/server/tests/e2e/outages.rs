//! Outages are retried, answers are obeyed: a participant that is away is waited for within a
//! budget; only when the forward budget runs out does the saga compensate (with the reason in its
//! history), and a retriable step past its bound is stuck for an operator, never retried forever.

use super::*;

async fn the_forward_budget_exhausted_compensates_with_the_reason(backend: Backend) {
    let mut mesh = Mesh::start_tuned(
        backend,
        Options {
            ledger_down: true,
            ..Options::default()
        },
        |config| {
            config.forward_rounds = 3;
            config.compensation_rounds = 1_000;
        },
    )
    .await;
    mesh.pto("e-1", "10").await;
    let saga = mesh
        .start_saga(
            "hold-while-down",
            time_off("e-1", "m-1", "2026-08-03", "2026-08-04"),
        )
        .await;
    // The ledger stays away past the budget: the saga gives up going forward...
    mesh.until_logged(&saga.saga_id, "abandoned").await;
    // ...and compensates once the ledger answers: the hold it may have made is re-driven (it
    // applies now, under the same key) and voided.
    mesh.bring_ledger_up().await;
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Compensated as i32, "{done:?}");
    assert!(done.reason.contains("retry budget"), "{}", done.reason);
    let kinds = kinds(&done);
    assert_eq!(
        kinds.iter().filter(|k| **k == "failed").count(),
        3,
        "three rounds, then gave up: {kinds:?}"
    );
    assert!(kinds.contains(&"abandoned") && kinds.last() == Some(&"compensated"));
    let balance = mesh.balance("e-1").await;
    assert_eq!(
        (balance.pending.as_str(), balance.available.as_str()),
        ("0", "10")
    );
    assert!(
        mesh.inbox("m-1").await.is_empty(),
        "the manager was not asked"
    );
    mesh.stop().await;
}

async fn an_outage_shorter_than_the_budget_changes_nothing(backend: Backend) {
    let mut mesh = Mesh::start_tuned(
        backend,
        Options {
            ledger_down: true,
            ..Options::default()
        },
        |config| config.forward_rounds = 1_000,
    )
    .await;
    mesh.pto("e-1", "10").await;
    let saga = mesh
        .start_saga(
            "hold-through-outage",
            time_off("e-1", "m-1", "2026-08-03", "2026-08-04"),
        )
        .await;
    mesh.until_logged(&saga.saga_id, "failed").await;
    mesh.bring_ledger_up().await;
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Completed as i32, "{done:?}");
    assert!(
        !done.history.iter().any(|e| e.kind == "compensated"),
        "nothing was compensated"
    );
    assert_eq!(mesh.balance("e-1").await.pending, "2");
    assert_eq!(mesh.inbox("m-1").await.len(), 1);
    mesh.stop().await;
}

async fn a_retriable_step_past_its_bound_is_stuck_until_an_operator_retries(backend: Backend) {
    let mut mesh = Mesh::start_tuned(
        backend,
        Options {
            notification_up: false,
            ..Options::default()
        },
        |config| {
            config.after_pivot_rounds = 3;
            // No breaker: its open window would use up the three rounds again after the retry.
            config.resilience.breaker_min_calls = 1_000;
        },
    )
    .await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "notify-while-down",
            complete_review(&review_id, "e-1", ppb::Rating::MeetsExpectations, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Stuck as i32, "{saga:?}");
    assert!(saga.reason.contains("notify-employee"), "{}", saga.reason);
    assert_eq!(
        saga.history.iter().filter(|e| e.kind == "failed").count(),
        3
    );
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::Completed as i32,
        "past the pivot nothing is undone"
    );
    mesh.bring_notification_up().await;
    let retry = OperatorRequest {
        saga_id: saga.saga_id.clone(),
        justification: String::new(),
        request_id: "retry-after-outage".into(),
    };
    mesh.saga.retry_saga(retry.clone()).await.expect("retry");
    // The same action again is answered, not taken twice.
    let again = mesh
        .saga
        .retry_saga(retry)
        .await
        .expect("retry again")
        .into_inner();
    assert_eq!(
        again
            .history
            .iter()
            .filter(|e| e.kind == "operator_retried")
            .count(),
        1
    );
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Completed as i32, "{done:?}");
    assert_eq!(mesh.inbox("e-1").await.len(), 1);
    assert_eq!(mesh.inbox("m-1").await.len(), 1);
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(
    the_forward_budget_exhausted_compensates_with_the_reason,
    an_outage_shorter_than_the_budget_changes_nothing,
    a_retriable_step_past_its_bound_is_stuck_until_an_operator_retries,
);
