//! A request that names an employee changes only that employee's record: the command refuses any
//! other record before the state machine is consulted, and leaves it exactly as it was.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hrmesh_domain::{EmployeeId, RequestId, Violations};
use hrmesh_performance_core::{
    CancelPipOpenedBy, PerformanceError, Pip, PipChange, PipStatus, Rating, Rejection, Resource,
    Review, ReviewChange, ReviewCycle, ReviewState, Section, UpdatePip, UpdateReview,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0)
        .single()
        .expect("time")
}

fn employee(id: &str) -> EmployeeId {
    EmployeeId::from_trusted(id.to_owned())
}

fn request_id(id: &str) -> RequestId {
    RequestId::parse("request_id", id, &mut Violations::default()).expect("a valid request id")
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
}

fn review_of(owner: &str, state: ReviewState) -> Review {
    Review {
        id: "0195f1d2-0000-7000-8000-000000000001".into(),
        employee_id: employee(owner),
        manager_id: employee("m-1"),
        cycle: ReviewCycle::Annual,
        period_start: date(),
        period_end: date(),
        due_date: date(),
        state,
        rating: (state == ReviewState::Submitted).then_some(Rating::Outstanding),
        self_assessment: Vec::new(),
        manager_assessment: Vec::new(),
        employee_comment: String::new(),
        finalize_request_id: (state == ReviewState::Submitted).then(|| "finalize-1".to_owned()),
        history: Vec::new(),
        created_at: now(),
        updated_at: now(),
    }
}

fn pip_of(owner: &str) -> Pip {
    Pip {
        id: "0195f1d2-0000-7000-8000-000000000002".into(),
        employee_id: employee(owner),
        manager_id: employee("m-1"),
        reason: "Missed deadlines".into(),
        objectives: vec!["Deliver".into()],
        start_date: date(),
        end_date: date() + chrono::Duration::days(90),
        check_in_dates: vec![date() + chrono::Duration::days(30)],
        check_ins: Vec::new(),
        status: PipStatus::Active,
        outcomes: Vec::new(),
        opened_by_request_id: "open-1".into(),
        cancel_reason: String::new(),
        created_at: now(),
        updated_at: now(),
    }
}

fn refused(resource: Resource, id: &str) -> PerformanceError {
    PerformanceError::Rejected(Rejection::RecordOfAnotherEmployee {
        resource,
        id: id.to_owned(),
    })
}

/// Each review change with the state it applies from.
fn review_changes() -> Vec<(ReviewState, ReviewChange)> {
    vec![
        (
            ReviewState::ManagerReview,
            ReviewChange::Finalize {
                rating: Rating::NeedsImprovement,
                sections: vec![Section {
                    title: "Delivery".into(),
                    body: "Late".into(),
                }],
            },
        ),
        (
            ReviewState::Submitted,
            ReviewChange::Reopen {
                finalize_request_id: Some("finalize-1".into()),
                reason: "disputed".into(),
            },
        ),
        (ReviewState::Submitted, ReviewChange::Complete),
    ]
}

#[test]
fn a_review_change_naming_another_employee_is_refused_and_changes_nothing() {
    for (state, change) in review_changes() {
        let command = UpdateReview {
            request_id: request_id("r-1"),
            review_id: "0195f1d2-0000-7000-8000-000000000001".into(),
            change: change.clone(),
            expected_employee: Some(employee("e-1")),
        };
        let mut theirs = review_of("e-2", state);
        let before = theirs.clone();
        assert_eq!(
            command.apply_to(&mut theirs, now()),
            Err(refused(Resource::Review, &before.id)),
            "{change:?}"
        );
        assert_eq!(theirs, before, "{change:?} left the review as it was");
        assert!(
            !refused(Resource::Review, &before.id)
                .to_string()
                .contains("e-2"),
            "the owner is never named"
        );

        let mut own = review_of("e-1", state);
        assert_eq!(command.apply_to(&mut own, now()), Ok(true), "{change:?}");
        assert_ne!(own.state, state, "{change:?} moved the review");

        let unchecked = UpdateReview {
            expected_employee: None,
            ..command
        };
        let mut anyones = review_of("e-2", state);
        assert_eq!(
            unchecked.apply_to(&mut anyones, now()),
            Ok(true),
            "{change:?}"
        );
    }
}

#[test]
fn the_owner_is_checked_before_the_state_machine() {
    // A completed review cannot be finalized; naming another employee is still the answer, so a
    // caller learns nothing about the state of someone else's review.
    let command = UpdateReview {
        request_id: request_id("r-1"),
        review_id: "0195f1d2-0000-7000-8000-000000000001".into(),
        change: ReviewChange::Complete,
        expected_employee: Some(employee("e-1")),
    };
    let mut theirs = review_of("e-2", ReviewState::Draft);
    assert_eq!(
        command.apply_to(&mut theirs, now()),
        Err(refused(Resource::Review, &theirs.id))
    );
}

#[test]
fn a_pip_cancel_naming_another_employee_is_refused_and_changes_nothing() {
    let by_id = UpdatePip {
        request_id: request_id("c-1"),
        pip_id: "0195f1d2-0000-7000-8000-000000000002".into(),
        change: PipChange::Cancel {
            reason: "opened by mistake".into(),
        },
        expected_employee: Some(employee("e-1")),
    };
    let by_request = CancelPipOpenedBy {
        request_id: request_id("c-1"),
        opened_by_request_id: "open-1".into(),
        reason: "opened by mistake".into(),
        expected_employee: Some(employee("e-1")),
    };

    let mut theirs = pip_of("e-2");
    let before = theirs.clone();
    assert_eq!(
        by_id.apply_to(&mut theirs, now()),
        Err(refused(Resource::Pip, &before.id))
    );
    assert_eq!(
        by_request.apply_to(&mut theirs, now()),
        Err(refused(Resource::Pip, &before.id))
    );
    assert_eq!(theirs, before);

    let mut own = pip_of("e-1");
    assert_eq!(by_id.apply_to(&mut own, now()), Ok(true));
    assert_eq!(own.status, PipStatus::Cancelled);
    let mut own = pip_of("e-1");
    assert_eq!(by_request.apply_to(&mut own, now()), Ok(true));
    assert_eq!(own.status, PipStatus::Cancelled);
}
