//! Property tests over the review state machine: whatever sequence of requests arrives, a review
//! only ever takes the transitions the machine lists, and what it carries matches its state.

use chrono::{DateTime, TimeZone, Utc};
use hrmesh_domain::EmployeeId;
use hrmesh_performance_core::{
    PerformanceError, Rating, Rejection, Review, ReviewChange, ReviewCycle, ReviewState, Section,
};
use proptest::prelude::*;

/// Every transition the machine allows, written out independently of the implementation.
const ALLOWED: &[(ReviewState, ReviewState)] = &[
    (ReviewState::Draft, ReviewState::SelfAssessment),
    (ReviewState::SelfAssessment, ReviewState::ManagerReview),
    (ReviewState::ManagerReview, ReviewState::Submitted),
    (ReviewState::Submitted, ReviewState::ManagerReview),
    (ReviewState::Submitted, ReviewState::Completed),
    (ReviewState::Completed, ReviewState::Acknowledged),
    (ReviewState::Draft, ReviewState::Closed),
    (ReviewState::SelfAssessment, ReviewState::Closed),
    (ReviewState::ManagerReview, ReviewState::Closed),
    (ReviewState::Submitted, ReviewState::Closed),
    (ReviewState::Closed, ReviewState::Draft),
    (ReviewState::Closed, ReviewState::SelfAssessment),
    (ReviewState::Closed, ReviewState::ManagerReview),
    (ReviewState::Closed, ReviewState::Submitted),
];

#[derive(Debug, Clone)]
enum Call {
    Change(ReviewChange),
    Close,
    Restore(ReviewState),
}

fn section() -> Section {
    Section {
        title: "Delivery".into(),
        body: "Shipped the payroll migration.".into(),
    }
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        Just(Call::Change(ReviewChange::OpenSelfAssessment)),
        Just(Call::Change(ReviewChange::SubmitSelfAssessment {
            sections: vec![section()],
        })),
        (1u8..=5).prop_map(|points| Call::Change(ReviewChange::Finalize {
            rating: Rating::from_points(points).expect("1-5"),
            sections: vec![section()],
        })),
        prop::option::of(0u8..3).prop_map(|which| Call::Change(ReviewChange::Reopen {
            finalize_request_id: which.map(|n| format!("req-{n}")),
            reason: "rating disputed".into(),
        })),
        Just(Call::Change(ReviewChange::Complete)),
        Just(Call::Change(ReviewChange::Acknowledge {
            comment: "Thanks".into(),
        })),
        Just(Call::Close),
        prop::sample::select(ReviewState::ALL.to_vec()).prop_map(Call::Restore),
    ]
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::minutes(i64::from(minute))
}

fn new_review() -> Review {
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    Review {
        id: "0195f1d2-0000-7000-8000-000000000001".into(),
        employee_id: EmployeeId::from_trusted("e-1".into()),
        manager_id: EmployeeId::from_trusted("m-1".into()),
        cycle: ReviewCycle::Annual,
        period_start: date,
        period_end: date,
        due_date: date,
        state: ReviewState::Draft,
        rating: None,
        self_assessment: Vec::new(),
        manager_assessment: Vec::new(),
        employee_comment: String::new(),
        finalize_request_id: None,
        history: Vec::new(),
        created_at: at(0),
        updated_at: at(0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_of_calls_leaves_the_machine(calls in prop::collection::vec(call(), 0..40)) {
        let mut review = new_review();
        for (n, call) in calls.into_iter().enumerate() {
            let request_id = format!("req-{}", n % 3);
            let before = review.clone();
            let result = match &call {
                Call::Change(change) => review.apply(change, &request_id, at(n as u32 + 1)).map(|_| ()),
                Call::Close => review.close(&request_id, at(n as u32 + 1), "offboarding"),
                Call::Restore(previous) => review.restore(*previous, &request_id, at(n as u32 + 1)),
            };
            match result {
                Ok(()) => {
                    if review.state != before.state {
                        prop_assert!(
                            ALLOWED.contains(&(before.state, review.state)),
                            "{:?} -> {:?} by {:?}", before.state, review.state, call
                        );
                        let last = review.history.last().expect("a transition is recorded");
                        prop_assert_eq!((last.from, last.to), (before.state, review.state));
                        prop_assert_eq!(review.history.len(), before.history.len() + 1);
                    } else {
                        // Only an undo with nothing to undo succeeds without moving.
                        prop_assert_eq!(&review, &before, "{:?}", call);
                    }
                }
                Err(PerformanceError::Rejected(Rejection::IllegalTransition { state, .. })) => {
                    prop_assert_eq!(state, before.state.as_str());
                    prop_assert_eq!(&review, &before, "a refused call changes nothing");
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
            // What a review carries matches its state.
            let rated = match review.state {
                ReviewState::Closed => review
                    .history
                    .iter()
                    .rev()
                    .find(|t| t.to == ReviewState::Closed)
                    .is_some_and(|t| t.from.is_rated()),
                state => state.is_rated(),
            };
            prop_assert_eq!(review.rating.is_some(), rated, "rating in {:?}", review.state);
            prop_assert_eq!(review.finalize_request_id.is_some(), rated);
            // The history is one connected path from draft to the current state.
            let mut state = ReviewState::Draft;
            for transition in &review.history {
                prop_assert_eq!(transition.from, state);
                state = transition.to;
            }
            prop_assert_eq!(state, review.state);
        }
    }
}

#[test]
fn each_state_allows_exactly_the_listed_transitions() {
    use hrmesh_performance_core::ReviewAction as A;
    let actions = [
        A::OpenSelfAssessment,
        A::SubmitSelfAssessment,
        A::Finalize,
        A::Reopen,
        A::Complete,
        A::Acknowledge,
        A::Close,
    ]
    .into_iter()
    .chain(ReviewState::ALL.into_iter().map(A::Restore));
    let mut reached = Vec::new();
    for from in ReviewState::ALL {
        for action in actions.clone() {
            if let Some(to) = from.after(action) {
                reached.push((from, to));
            }
        }
    }
    reached.sort_by_key(|(from, to)| (*from as u8, *to as u8));
    let mut allowed = ALLOWED.to_vec();
    allowed.sort_by_key(|(from, to)| (*from as u8, *to as u8));
    assert_eq!(reached, allowed);
}
