//! The sagas' plans and the log's encoding, pure.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, Quantity, Violations};
use hrmesh_saga_core::codec::{self, SagaStart};
use hrmesh_saga_core::command::{Rating, ReviewSection};
use hrmesh_saga_core::ids::{PolicyId, RecordId};
use hrmesh_saga_core::sagas::*;
use hrmesh_saga_core::{
    Decision, Direction, Event, ParticipantCommand, Plan, Policy, SagaInput, SagaType, StepContext,
    StepKind, StepOutput, decide,
};

fn employee(id: &str) -> EmployeeId {
    EmployeeId::parse("e", id, &mut Violations::default()).expect("id")
}

fn record(id: &str) -> RecordId {
    RecordId::parse("r", id, &mut Violations::default()).expect("id")
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

const REVIEW: &str = "01937c90-5b1e-7a2c-8f3d-2e4b6a8c0d1f";
const SAGA: &str = "01937c8e-2f6a-7c3e-9a41-5d2b8c7e0f13";

fn complete_review(rating: Rating) -> SagaInput {
    SagaInput::CompleteReview(CompleteReview {
        review_id: record(REVIEW),
        employee_id: employee("e-1"),
        rating,
        sections: vec![ReviewSection {
            title: "Delivery".into(),
            body: "Shipped".into(),
        }],
        bonus_policy_id: Some(PolicyId::parse("p", "pto", &mut Violations::default()).expect("p")),
    })
}

fn ctx(outputs: &[Option<StepOutput>]) -> StepContext<'_> {
    StepContext {
        saga_id: SAGA,
        created: date("2026-11-20"),
        outputs,
    }
}

#[test]
fn every_definition_is_valid_and_named_after_its_type() {
    for kind in SagaType::ALL {
        let definition = kind.definition();
        assert_eq!(definition.saga_type(), kind.as_str());
        assert_eq!(SagaType::parse(kind.as_str()), Some(kind));
    }
}

#[test]
fn every_command_that_names_a_record_carries_the_saga_employee() {
    let input = complete_review(Rating::Outstanding);
    let outputs = vec![
        Some(StepOutput::ReviewFinalized {
            manager_id: "m-1".into(),
            cycle: "annual".into(),
        }),
        Some(StepOutput::Entry {
            entry_id: Some(7),
            amount: Quantity::from_units(2),
        }),
    ];
    let definition = input.saga_type().definition();
    for (step, def) in definition.steps().iter().enumerate() {
        let mut directions = vec![Direction::Forward];
        if def.kind == StepKind::Compensatable {
            directions.push(Direction::Compensate);
        }
        for direction in directions {
            let Plan::Call(command) = input.plan(step, direction, &ctx(&outputs)) else {
                panic!("step {step} {direction:?} calls");
            };
            let named = match &command {
                ParticipantCommand::FinalizeReview { employee_id, .. }
                | ParticipantCommand::ReopenReview { employee_id, .. }
                | ParticipantCommand::CompleteReview { employee_id, .. }
                | ParticipantCommand::ReverseEntry { employee_id, .. } => Some(employee_id),
                ParticipantCommand::AppendEntry(entry) => Some(&entry.employee_id),
                _ => None,
            };
            if let Some(named) = named {
                assert_eq!(named.as_str(), "e-1", "{command:?}");
            }
        }
    }
}

#[test]
fn the_bonus_follows_the_rating() {
    let outputs = Vec::new();
    let plan = complete_review(Rating::Outstanding).plan(1, Direction::Forward, &ctx(&outputs));
    let Plan::Call(ParticipantCommand::AppendEntry(entry)) = plan else {
        panic!("{plan:?}");
    };
    assert_eq!(entry.amount, Quantity::from_units(2));
    assert_eq!(entry.effective_date, date("2026-11-20"));
    assert_eq!(
        complete_review(Rating::MeetsExpectations).plan(1, Direction::Forward, &ctx(&outputs)),
        Plan::Done(StepOutput::Entry {
            entry_id: None,
            amount: Quantity::ZERO
        })
    );
    // Nothing was granted: nothing to reverse.
    let none = vec![
        None,
        Some(StepOutput::Entry {
            entry_id: None,
            amount: Quantity::ZERO,
        }),
    ];
    assert_eq!(
        complete_review(Rating::Outstanding).plan(1, Direction::Compensate, &ctx(&none)),
        Plan::Done(StepOutput::Nothing)
    );
}

#[test]
fn offboarding_settles_only_a_positive_balance() {
    let policy = |id: &str| PolicyId::parse("p", id, &mut Violations::default()).expect("p");
    let input = SagaInput::OffboardEmployee(OffboardEmployee {
        employee_id: employee("e-1"),
        last_day: date("2026-12-31"),
        settlement: Settlement::Payout,
        hr_recipient_id: employee("hr-1"),
        reason: String::new(),
    });
    let with = |available: &[(&str, i64)]| {
        vec![
            Some(StepOutput::RecordsClosed { records: 1 }),
            Some(StepOutput::AssignmentsEnded {
                assignments: 2,
                voided_hold_ids: Vec::new(),
                posted_hold_ids: Vec::new(),
            }),
            Some(StepOutput::Balances {
                available: available
                    .iter()
                    .map(|(id, millis)| (policy(id), Quantity::from_millis(*millis)))
                    .collect(),
            }),
        ]
    };
    // One batch: an adjustment of -available for each policy with something left, none for the
    // policies with nothing or less than nothing.
    let outputs = with(&[
        ("pto", 10_500),
        ("sick", 0),
        ("bonus", -2_000),
        ("extra", 1_250),
    ]);
    let Plan::Call(ParticipantCommand::AppendEntries(entries)) =
        input.plan(3, Direction::Forward, &ctx(&outputs))
    else {
        panic!("settles");
    };
    let settled: Vec<(String, Quantity)> = entries
        .iter()
        .map(|entry| (entry.policy_id.to_string(), entry.amount))
        .collect();
    assert_eq!(
        settled,
        vec![
            ("pto".to_owned(), Quantity::from_millis(-10_500)),
            ("extra".to_owned(), Quantity::from_millis(-1_250)),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.reason, "offboarding payout");
        assert_eq!(entry.effective_date, date("2026-12-31"));
        assert_eq!(entry.employee_id.as_str(), "e-1");
        assert_eq!(entry.reference, SAGA);
    }
    for nothing in [
        &[("pto", 0)][..],
        &[("pto", -2_000), ("sick", 0)][..],
        &[][..],
    ] {
        let outputs = with(nothing);
        assert_eq!(
            input.plan(3, Direction::Forward, &ctx(&outputs)),
            Plan::Done(StepOutput::Entries {
                entries: Vec::new()
            })
        );
    }
    // The undo of the settlement reverses exactly the entries it appended; reading has no undo.
    let mut settled = with(&[("pto", 10_500), ("extra", 1_250)]);
    settled.push(Some(StepOutput::Entries {
        entries: vec![
            hrmesh_saga_core::output::AppendedEntry {
                entry_id: 3,
                policy_id: policy("pto"),
                amount: Quantity::from_millis(-10_500),
            },
            hrmesh_saga_core::output::AppendedEntry {
                entry_id: 4,
                policy_id: policy("extra"),
                amount: Quantity::from_millis(-1_250),
            },
        ],
    }));
    let Plan::Call(ParticipantCommand::ReverseEntries { entry_ids, .. }) =
        input.plan(3, Direction::Compensate, &ctx(&settled))
    else {
        panic!("reverses");
    };
    assert_eq!(entry_ids, vec![3, 4]);
    assert_eq!(
        input.plan(2, Direction::Compensate, &ctx(&settled)),
        Plan::Done(StepOutput::Nothing)
    );
    for step in [4, 5] {
        let Plan::Call(ParticipantCommand::Notify { payload, .. }) =
            input.plan(step, Direction::Forward, &ctx(&settled))
        else {
            panic!("notifies");
        };
        assert!(
            payload.contains(&(
                "settlement",
                "pto: 10.5 day(s) paid out; extra: 1.25 day(s) paid out".to_owned()
            )),
            "{payload:?}"
        );
    }
}

#[test]
fn starter_goal_weights_add_up_to_one_hundred() {
    let input = OnboardEmployee {
        employee_id: employee("e-7"),
        manager_id: employee("m-1"),
        policy_ids: vec![PolicyId::parse("p", "pto", &mut Violations::default()).expect("p")],
        start_date: date("2026-12-01"),
        probation_review_due_date: date("2027-03-01"),
        starter_goals: vec!["a".into(), "b".into(), "c".into()],
    };
    let weights: Vec<u32> = input.weighted_goals().into_iter().map(|(_, w)| w).collect();
    assert_eq!(weights, vec![34, 33, 33]);
}

#[test]
fn a_start_round_trips_through_the_log_encoding() {
    let start = SagaStart {
        actor: "m-1".into(),
        input: complete_review(Rating::Outstanding),
    };
    let bytes = codec::encode_start(&start);
    assert_eq!(
        codec::decode_start(codec::LOG_VERSION, &bytes).expect("decodes"),
        start
    );
    let event = Event::StepSucceeded {
        step: 0,
        output: StepOutput::Hold {
            hold_id: "h".into(),
            total: Quantity::from_millis(1_500),
        },
    };
    let definition = SagaType::RequestTimeOff.definition();
    assert_eq!(
        codec::decode_event(definition, &codec::encode_event(&event)).expect("decodes"),
        event
    );
}

#[test]
fn version_one_events_read_with_their_meaning() {
    let definition = SagaType::CompleteReview.definition();
    let v1 = |text: &str| codec::decode_event(definition, text).expect("a v1 event");
    assert_eq!(
        v1(r#"{"StepSucceeded":{"step":0,"output":{"manager_id":"m-1","cycle":"annual"}}}"#),
        Event::StepSucceeded {
            step: 0,
            output: StepOutput::ReviewFinalized {
                manager_id: "m-1".into(),
                cycle: "annual".into()
            }
        }
    );
    assert_eq!(
        v1(r#"{"StepSucceeded":{"step":1,"output":{"entry_id":"","amount":"0"}}}"#),
        Event::StepSucceeded {
            step: 1,
            output: StepOutput::Entry {
                entry_id: None,
                amount: Quantity::ZERO
            }
        }
    );
    // Version 1 compensated after one failed round before the pivot: such a log keeps
    // compensating, it never goes forward again.
    let log = vec![
        v1(r#"{"StepSucceeded":{"step":0,"output":{"manager_id":"m-1","cycle":"annual"}}}"#),
        v1(r#"{"StepFailed":{"step":1,"error":"ledger: circuit open"}}"#),
    ];
    assert!(matches!(log[1], Event::StepAbandoned { step: 1, .. }));
    assert_eq!(
        decide(definition, &log, &Policy::default()),
        Decision::Call {
            step: 1,
            direction: Direction::Compensate,
            round: 0,
            forward_uncertain: true
        }
    );
    // After the pivot a failed round is one round of the budget.
    assert!(matches!(
        v1(r#"{"StepFailed":{"step":2,"error":"deadline"}}"#),
        Event::StepFailed { step: 2, .. }
    ));
    assert!(matches!(
        v1(r#"{"OperatorRetried":{"actor":"ops"}}"#),
        Event::OperatorRetried { .. }
    ));
}
