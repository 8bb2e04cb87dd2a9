//! The engine's rules, decided from logs alone.

use hrmesh_saga_core::{
    Budget, Decision, Definition, DefinitionError, Direction, Event, Failure, LockMode, Outcome,
    Policy, SagaState, StepDef, StepOutput, decide, summarize,
};
use proptest::prelude::*;

fn complete_review() -> Definition {
    Definition::new(
        "complete-review",
        LockMode::Shared,
        vec![
            StepDef::compensatable("finalize"),
            StepDef::compensatable("grant-bonus"),
            StepDef::pivot("complete"),
            StepDef::retriable("notify-employee"),
            StepDef::retriable("notify-manager"),
        ],
    )
    .expect("a valid definition")
}

fn ok(step: usize) -> Event {
    Event::StepSucceeded {
        step,
        output: StepOutput::Nothing,
    }
}

fn down(step: usize, at_ms: u64) -> Event {
    Event::StepFailed {
        step,
        failure: Failure::unavailable("participant unavailable", at_ms),
    }
}

fn undo_down(step: usize) -> Event {
    Event::CompensationFailed {
        step,
        failure: Failure::unavailable("ledger unavailable", 1),
    }
}

fn rounds(n: u32) -> Policy {
    let budget = Budget {
        rounds_max: n,
        elapsed_ms_max: u64::MAX,
    };
    Policy {
        forward: budget,
        after_pivot: budget,
        compensation: budget,
    }
}

fn ops(request_id: &str) -> Event {
    Event::OperatorRetried {
        actor: "ops".into(),
        request_id: request_id.into(),
    }
}

fn call(step: usize, direction: Direction, round: u32) -> Decision {
    Decision::Call {
        step,
        direction,
        round,
        forward_uncertain: false,
    }
}

#[test]
fn definitions_that_break_the_order_are_refused_when_built() {
    let c = StepDef::compensatable;
    let p = StepDef::pivot;
    let r = StepDef::retriable;
    for (steps, bad_step) in [
        (vec![p("a"), c("b")], 1),
        (vec![c("a"), r("b"), c("c")], 2),
        (vec![c("a"), p("b"), p("c")], 2),
        (vec![r("a"), p("b")], 1),
    ] {
        match Definition::new("bad", LockMode::None, steps) {
            Err(DefinitionError::OutOfOrder { step, .. }) => assert_eq!(step, bad_step),
            other => panic!("expected OutOfOrder at {bad_step}, got {other:?}"),
        }
    }
    assert!(matches!(
        Definition::new("empty", LockMode::None, vec![]),
        Err(DefinitionError::Empty { .. })
    ));
    assert!(matches!(
        Definition::new("dup", LockMode::None, vec![c("a"), c("a")]),
        Err(DefinitionError::DuplicateName { .. })
    ));
    for valid in [
        vec![c("a")],
        vec![p("a")],
        vec![r("a")],
        vec![c("a"), c("b"), p("c"), r("d"), r("e")],
        vec![c("a"), r("b")],
        vec![p("a"), r("b")],
    ] {
        Definition::new("ok", LockMode::None, valid).expect("valid order");
    }
}

#[test]
fn steps_run_in_order_and_the_saga_completes() {
    let d = complete_review();
    let policy = Policy::default();
    let mut log = Vec::new();
    for step in 0..5 {
        assert_eq!(decide(&d, &log, &policy), call(step, Direction::Forward, 0));
        log.push(ok(step));
    }
    assert_eq!(
        decide(&d, &log, &policy),
        Decision::Finish(Outcome::Completed)
    );
    assert_eq!(summarize(&d, &log, &policy).0, SagaState::Completed);
}

#[test]
fn a_rejection_before_the_pivot_compensates_completed_steps_in_reverse() {
    let d = complete_review();
    let policy = Policy::default();
    let mut log = vec![
        ok(0),
        ok(1),
        Event::StepRejected {
            step: 2,
            reason: "review is closed".into(),
        },
    ];
    // The pivot was refused, so nothing of it is undone: step 1, then step 0.
    assert_eq!(decide(&d, &log, &policy), call(1, Direction::Compensate, 0));
    assert_eq!(summarize(&d, &log, &policy).0, SagaState::Compensating);
    log.push(Event::CompensationSucceeded { step: 1 });
    assert_eq!(decide(&d, &log, &policy), call(0, Direction::Compensate, 0));
    log.push(Event::CompensationSucceeded { step: 0 });
    assert_eq!(
        decide(&d, &log, &policy),
        Decision::Finish(Outcome::Compensated)
    );
    let (state, reason) = summarize(&d, &log, &policy);
    assert_eq!(state, SagaState::Compensated);
    assert!(reason.contains("review is closed"), "{reason}");

    // A rejection of the first step has nothing to compensate.
    let log = vec![Event::StepRejected {
        step: 0,
        reason: "no such review".into(),
    }];
    assert_eq!(
        decide(&d, &log, &policy),
        Decision::Finish(Outcome::Compensated)
    );
}

#[test]
fn an_outage_before_the_pivot_is_retried_within_the_forward_budget_then_compensated() {
    let d = complete_review();
    let policy = Policy {
        forward: Budget {
            rounds_max: 100,
            elapsed_ms_max: 60_000,
        },
        ..Policy::default()
    };
    let mut log = vec![ok(0)];
    // A participant restart: rounds fail for a while, each is retried forward.
    for (round, at) in [1_000u64, 3_000, 30_000].into_iter().enumerate() {
        assert_eq!(
            decide(&d, &log, &policy),
            call(1, Direction::Forward, round as u32)
        );
        log.push(down(1, at));
        assert_eq!(summarize(&d, &log, &policy).0, SagaState::Running);
    }
    // Back in time: the saga goes on as if nothing happened.
    let mut recovered = log.clone();
    recovered.push(ok(1));
    assert_eq!(
        decide(&d, &recovered, &policy),
        call(2, Direction::Forward, 0)
    );
    // Not back within the budget: give up with the reason, then compensate the step too
    // (its effect may have landed: re-driven first), then step 0.
    log.push(down(1, 61_000));
    let Decision::GiveUp { step, reason } = decide(&d, &log, &policy) else {
        panic!("give up expected: {:?}", decide(&d, &log, &policy));
    };
    assert_eq!(step, 1);
    assert!(reason.contains("participant unavailable"), "{reason}");
    log.push(Event::StepAbandoned { step, reason });
    assert_eq!(
        decide(&d, &log, &policy),
        Decision::Call {
            step: 1,
            direction: Direction::Compensate,
            round: 0,
            forward_uncertain: true,
        }
    );
    log.push(Event::CompensationSucceeded { step: 1 });
    assert_eq!(decide(&d, &log, &policy), call(0, Direction::Compensate, 0));
    log.push(Event::CompensationSucceeded { step: 0 });
    let (state, why) = summarize(&d, &log, &policy);
    assert_eq!(state, SagaState::Compensated);
    assert!(why.contains("retry budget"), "{why}");
}

#[test]
fn time_the_orchestrator_was_away_does_not_count_toward_a_budget() {
    let d = complete_review();
    let policy = Policy {
        forward: Budget {
            rounds_max: 100,
            elapsed_ms_max: 120_000,
        },
        ..Policy::default()
    };
    // One failed round, an hour of downtime, one more: still within the budget.
    let log = vec![ok(0), down(1, 1_000), down(1, 3_601_000)];
    assert_eq!(decide(&d, &log, &policy), call(1, Direction::Forward, 2));
}

#[test]
fn the_forward_budget_also_counts_rounds() {
    let d = complete_review();
    let policy = rounds(3);
    let log = vec![down(0, 0), down(0, 0), down(0, 0)];
    assert!(matches!(
        decide(&d, &log, &policy),
        Decision::GiveUp { step: 0, .. }
    ));
}

#[test]
fn a_fault_on_the_participant_is_stuck_at_once_in_any_direction() {
    let d = complete_review();
    let policy = Policy::default();
    let mut log = vec![
        ok(0),
        Event::StepFailed {
            step: 1,
            failure: Failure::fault("Internal: a bug", 5),
        },
    ];
    let Decision::Stuck {
        step,
        direction,
        reason,
    } = decide(&d, &log, &policy)
    else {
        panic!("stuck expected");
    };
    assert_eq!((step, direction), (1, Direction::Forward));
    assert!(reason.contains("a bug"), "{reason}");
    // Once fixed, an operator retries: the same call again.
    log.push(ops("r-1"));
    assert_eq!(decide(&d, &log, &policy), call(1, Direction::Forward, 0));

    let log = vec![
        ok(0),
        Event::StepRejected {
            step: 1,
            reason: "no".into(),
        },
        Event::CompensationFailed {
            step: 0,
            failure: Failure::fault("Unauthenticated: bad key", 5),
        },
    ];
    assert!(matches!(
        decide(&d, &log, &policy),
        Decision::Stuck {
            step: 0,
            direction: Direction::Compensate,
            ..
        }
    ));
}

#[test]
fn a_refused_undo_is_stuck_at_once() {
    let d = complete_review();
    let log = vec![
        ok(0),
        Event::StepRejected {
            step: 1,
            reason: "no".into(),
        },
        Event::CompensationFailed {
            step: 0,
            failure: Failure {
                kind: hrmesh_saga_core::FailureKind::Rejected,
                error: "FailedPrecondition REVIEW_LOCKED".into(),
                at_ms: 1,
            },
        },
    ];
    assert!(matches!(
        decide(&d, &log, &Policy::default()),
        Decision::Stuck {
            step: 0,
            direction: Direction::Compensate,
            ..
        }
    ));
}

#[test]
fn compensation_failures_retry_then_stop_as_stuck_for_an_operator() {
    let d = complete_review();
    let policy = rounds(3);
    let mut log = vec![
        ok(0),
        ok(1),
        Event::StepRejected {
            step: 2,
            reason: "no".into(),
        },
    ];
    for round in 0..3 {
        assert_eq!(
            decide(&d, &log, &policy),
            call(1, Direction::Compensate, round)
        );
        log.push(undo_down(1));
    }
    let Decision::Stuck {
        step,
        direction,
        reason,
    } = decide(&d, &log, &policy)
    else {
        panic!("stuck expected");
    };
    assert_eq!((step, direction), (1, Direction::Compensate));
    assert!(reason.contains("ledger unavailable"), "{reason}");
    assert_eq!(summarize(&d, &log, &policy).0, SagaState::Stuck);

    // Retry: a fresh set of rounds.
    let mut retried = log.clone();
    retried.push(ops("r-1"));
    assert_eq!(
        decide(&d, &retried, &policy),
        call(1, Direction::Compensate, 0)
    );

    // Skip: the stuck step counts as compensated, the rest goes on.
    let mut skipped = log.clone();
    skipped.push(Event::OperatorSkipped {
        step: 1,
        direction: Direction::Compensate,
        actor: "ops".into(),
        justification: "reversed by hand in the ledger".into(),
        request_id: "r-2".into(),
    });
    assert_eq!(
        decide(&d, &skipped, &policy),
        call(0, Direction::Compensate, 0)
    );

    // Mark compensated: done.
    let mut marked = log;
    marked.push(Event::OperatorMarkedCompensated {
        actor: "ops".into(),
        justification: "fixed by hand".into(),
        request_id: "r-3".into(),
    });
    assert_eq!(
        decide(&d, &marked, &policy),
        Decision::Finish(Outcome::Compensated)
    );
}

#[test]
fn after_the_pivot_retriable_steps_are_retried_within_their_budget() {
    let d = complete_review();
    let policy = rounds(25);
    let mut log = vec![ok(0), ok(1), ok(2)];
    for round in 0..20 {
        assert_eq!(
            decide(&d, &log, &policy),
            call(3, Direction::Forward, round)
        );
        log.push(down(3, 0));
    }
    let mut past_bound = log.clone();
    for _ in 20..25 {
        past_bound.push(down(3, 0));
    }
    let Decision::Stuck {
        step, direction, ..
    } = decide(&d, &past_bound, &policy)
    else {
        panic!("stuck past the bound");
    };
    assert_eq!((step, direction), (3, Direction::Forward));
    // Time counts too.
    let timed = Policy {
        after_pivot: Budget {
            rounds_max: 1000,
            elapsed_ms_max: 10_000,
        },
        ..policy
    };
    assert!(matches!(
        decide(
            &d,
            &[ok(0), ok(1), ok(2), down(3, 1_000), down(3, 11_000)],
            &timed
        ),
        Decision::Stuck { step: 3, .. }
    ));
    log.push(ok(3));
    assert_eq!(decide(&d, &log, &policy), call(4, Direction::Forward, 0));
    // A rejection there cannot be retried away: stuck, and an operator may skip it.
    log.push(Event::StepRejected {
        step: 4,
        reason: "unknown template".into(),
    });
    assert!(matches!(
        decide(&d, &log, &policy),
        Decision::Stuck {
            step: 4,
            direction: Direction::Forward,
            ..
        }
    ));
    log.push(Event::OperatorSkipped {
        step: 4,
        direction: Direction::Forward,
        actor: "ops".into(),
        justification: "told the manager by phone".into(),
        request_id: "r-4".into(),
    });
    assert_eq!(
        decide(&d, &log, &policy),
        Decision::Finish(Outcome::Completed)
    );
}

#[test]
fn a_pivot_without_an_answer_is_re_driven_then_stuck() {
    let d = complete_review();
    let policy = rounds(2);
    let mut log = vec![ok(0), ok(1)];
    for round in 0..2 {
        assert_eq!(
            decide(&d, &log, &policy),
            call(2, Direction::Forward, round)
        );
        log.push(down(2, 0));
    }
    assert!(matches!(
        decide(&d, &log, &policy),
        Decision::Stuck {
            step: 2,
            direction: Direction::Forward,
            ..
        }
    ));
    log.push(ops("r-5"));
    assert_eq!(decide(&d, &log, &policy), call(2, Direction::Forward, 0));
}

/// A participant's answer in the simulation.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok,
    Reject,
    Fail,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![6 => Just(Answer::Ok), 1 => Just(Answer::Reject), 2 => Just(Answer::Fail)]
}

proptest! {
    /// Runs sagas against random participant answers. At every point the decision from any
    /// prefix of the log equals the decision taken then; the run ends completed, compensated or
    /// stuck; compensations run in strict reverse order and only for steps that may have applied;
    /// nothing after the pivot is ever compensated.
    #[test]
    fn replaying_any_prefix_of_the_log_gives_the_same_next_command(
        answers in prop::collection::vec(answer(), 1..80),
    ) {
        let d = complete_review();
        let policy = rounds(3);
        let mut log = Vec::new();
        let mut decisions = Vec::new();
        let mut answers = answers.into_iter().cycle();
        let mut compensated_order = Vec::new();
        for _ in 0..200 {
            let decision = decide(&d, &log, &policy);
            decisions.push((log.len(), decision.clone()));
            match decision {
                Decision::Finish(_) | Decision::Stuck { .. } => break,
                Decision::GiveUp { step, reason } => {
                    prop_assert!(step < 2, "only steps before the pivot are given up");
                    log.push(Event::StepAbandoned { step, reason });
                }
                Decision::Call { step, direction: Direction::Forward, .. } => {
                    log.push(match answers.next().expect("cycle") {
                        Answer::Ok => ok(step),
                        Answer::Reject => Event::StepRejected { step, reason: "no".into() },
                        Answer::Fail => down(step, 0),
                    });
                }
                Decision::Call { step, direction: Direction::Compensate, .. } => {
                    prop_assert!(step < 2, "only steps before the pivot are compensated");
                    match answers.next().expect("cycle") {
                        Answer::Fail => log.push(undo_down(step)),
                        _ => {
                            compensated_order.push(step);
                            log.push(Event::CompensationSucceeded { step });
                        }
                    }
                }
            }
        }
        let last = decisions.last().map(|(_, d)| d.clone()).expect("a decision");
        prop_assert!(matches!(last, Decision::Finish(_) | Decision::Stuck { .. }), "{last:?}");
        let mut sorted = compensated_order.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        prop_assert_eq!(&compensated_order, &sorted, "reverse order");
        for (len, decision) in decisions {
            prop_assert_eq!(decide(&d, &log[..len], &policy), decision);
        }
        if let Decision::Finish(Outcome::Completed) = last {
            prop_assert!(compensated_order.is_empty());
        }
    }
}

#[test]
fn lock_modes_conflict_as_offboarding_needs() {
    use LockMode::*;
    assert!(Shared.compatible_with(Shared));
    assert!(!Shared.compatible_with(Exclusive));
    assert!(!Exclusive.compatible_with(Shared));
    assert!(!Exclusive.compatible_with(Exclusive));
    assert!(None.compatible_with(Exclusive));
}
