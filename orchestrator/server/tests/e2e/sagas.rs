//! Every saga end to end: completions, rejections, outages, deadlines, authorisation, TLS, traces.

use super::*;

async fn complete_review_completes_once(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "complete-1",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(saga.r#type, SagaType::CompleteReview as i32);
    assert_eq!(statuses(&saga), vec![StepStatus::Succeeded; 5]);
    assert_eq!(saga.history.len(), 5);
    let review = mesh.review_state(&review_id).await;
    assert_eq!(review.state, ppb::ReviewState::Completed as i32);
    assert_eq!(review.rating, ppb::Rating::Outstanding as i32);
    assert_eq!(mesh.balance("e-1").await.balance, "12", "two bonus days");
    let employee_inbox = mesh.inbox("e-1").await;
    assert_eq!(employee_inbox.len(), 1);
    assert_eq!(employee_inbox[0].template, "review.completed");
    assert!(
        employee_inbox[0].body.contains("outstanding"),
        "{}",
        employee_inbox[0].body
    );
    assert_eq!(mesh.inbox("m-1").await.len(), 1);

    // Starting twice is starting once.
    let again = mesh
        .run_saga(
            "complete-1",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("same start");
    assert_eq!(again.saga_id, saga.saga_id);
    let reused = mesh
        .run_saga(
            "complete-1",
            complete_review(&review_id, "e-1", ppb::Rating::Unsatisfactory, "pto"),
        )
        .await
        .expect_err("the key with another input");
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert_eq!(
        mesh.entries("e-1").await.len(),
        2,
        "the accrual and one bonus"
    );

    let listed = mesh
        .saga
        .list_sagas(ListSagasRequest {
            r#type: SagaType::CompleteReview as i32,
            state: SagaState::Completed as i32,
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.sagas.len(), 1);
    assert_eq!(listed.sagas[0].saga_id, saga.saga_id);
    mesh.stop().await;
}

async fn every_saga_runs_to_completion(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-2", "10").await;

    // request-time-off, then decide-time-off.
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
                reason: "summer".into(),
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
    assert_eq!(mesh.balance("e-2").await.pending, "3");
    assert_eq!(mesh.inbox("m-1").await[0].template, "time_off.requested");
    let decided = mesh
        .run_saga(
            "decide-1",
            Input::DecideTimeOff(DecideTimeOffInput {
                employee_id: "e-2".into(),
                hold_id: hold_id.clone(),
                approve: true,
                reason: String::new(),
            }),
        )
        .await
        .expect("decide");
    assert_eq!(decided.state, SagaState::Completed as i32, "{decided:?}");
    let balance = mesh.balance("e-2").await;
    assert_eq!(
        (balance.consumed.as_str(), balance.pending.as_str()),
        ("3", "0")
    );
    assert!(mesh.inbox("e-2").await[0].body.contains("approved"));

    // initiate-pip.
    let pip = mesh
        .run_saga(
            "pip-1",
            Input::InitiatePip(InitiatePipInput {
                employee_id: "e-3".into(),
                manager_id: "m-1".into(),
                reason: "Missed deadlines".into(),
                objectives: vec!["Deliver commitments".into()],
                start_date: "2026-03-01".into(),
                end_date: "2026-05-31".into(),
                check_in_dates: vec!["2026-03-15".into()],
                // No bonus policy: nothing to freeze.
                bonus_policy_id: String::new(),
            }),
        )
        .await
        .expect("pip");
    assert_eq!(pip.state, SagaState::Completed as i32, "{pip:?}");
    assert_eq!(statuses(&pip), vec![StepStatus::Succeeded; 3]);
    assert_eq!(pip.steps[1].name, "freeze-bonus-accrual");
    assert_eq!(pip.steps[1].output["freeze_id"], "", "nothing was frozen");
    let freezes = mesh
        .ledger
        .list_freezes(lpb::ListFreezesRequest {
            employee_id: "e-3".into(),
            policy_id: String::new(),
        })
        .await
        .expect("freezes")
        .into_inner()
        .freezes;
    assert!(freezes.is_empty(), "{freezes:?}");
    assert!(mesh.inbox("e-3").await[0].body.contains("2026-03-15"));

    // onboard-employee, then offboard-employee.
    let onboarded = mesh
        .run_saga(
            "onboard-1",
            Input::OnboardEmployee(OnboardEmployeeInput {
                employee_id: "e-4".into(),
                manager_id: "m-1".into(),
                policy_id: "pto".into(),
                policy_ids: vec![],
                // Mid-month: the first month accrues 14 of its 28 days.
                start_date: "2026-02-15".into(),
                probation_review_due_date: "2026-05-01".into(),
                starter_goals: vec!["Learn the payroll stack".into(), "Ship a fix".into()],
                ..Default::default()
            }),
        )
        .await
        .expect("onboard");
    assert_eq!(
        onboarded.state,
        SagaState::Completed as i32,
        "{onboarded:?}"
    );
    // pto accrues 1.75 a month in advance: 1.75 * 14 / 28 on the first assigned day.
    assert_eq!(mesh.balance("e-4").await.balance, "0.875");
    let accruals = mesh.entries("e-4").await;
    assert_eq!(accruals.len(), 1, "{accruals:?}");
    assert_eq!(accruals[0].kind, lpb::EntryKind::Accrual as i32);
    assert_eq!(accruals[0].amount, "0.875");
    assert_eq!(accruals[0].effective_date, "2026-02-15");
    assert_eq!(
        accruals[0].period,
        Some(DateRange {
            start_date: "2026-02-01".into(),
            end_date: "2026-02-28".into(),
        })
    );
    let goals = mesh
        .performance
        .list_goals(ppb::ListGoalsRequest {
            employee_id: "e-4".into(),
            ..Default::default()
        })
        .await
        .expect("goals")
        .into_inner()
        .goals;
    assert_eq!(goals.len(), 2);
    assert_eq!(goals.iter().map(|g| g.weight).sum::<u32>(), 100);
    let offboarded = mesh
        .run_saga(
            "offboard-1",
            Input::OffboardEmployee(OffboardEmployeeInput {
                employee_id: "e-4".into(),
                last_day: "2026-06-30".into(),
                settlement: Settlement::Payout as i32,
                hr_recipient_id: "hr-1".into(),
                reason: "resigned".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("offboard");
    assert_eq!(
        offboarded.state,
        SagaState::Completed as i32,
        "{offboarded:?}"
    );
    assert_eq!(mesh.balance("e-4").await.available, "0", "settled");
    let review = mesh
        .performance
        .list_reviews(ppb::ListReviewsRequest {
            employee_id: "e-4".into(),
            ..Default::default()
        })
        .await
        .expect("reviews")
        .into_inner()
        .reviews;
    assert_eq!(review[0].state, ppb::ReviewState::Closed as i32);
    let hr = mesh.inbox("hr-1").await;
    assert_eq!(hr.len(), 1);
    assert!(
        hr[0].body.contains("pto: 0.875 day(s) paid out"),
        "{}",
        hr[0].body
    );
    mesh.stop().await;
}

async fn a_rejection_compensates_exactly_the_completed_steps(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;

    // Step 0 refused (the review is still a draft): nothing to undo.
    let draft = mesh
        .performance
        .create_review(ppb::CreateReviewRequest {
            request_id: "draft".into(),
            employee_id: "e-1".into(),
            manager_id: "m-1".into(),
            cycle: ppb::ReviewCycle::Quarterly as i32,
            period_start: "2026-01-01".into(),
            period_end: "2026-03-31".into(),
            due_date: "2026-04-15".into(),
        })
        .await
        .expect("draft")
        .into_inner();
    let saga = mesh
        .run_saga(
            "reject-0",
            complete_review(&draft.review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Compensated as i32);
    assert_eq!(
        statuses(&saga),
        vec![
            StepStatus::Rejected,
            StepStatus::Pending,
            StepStatus::Pending,
            StepStatus::Pending,
            StepStatus::Pending
        ]
    );
    assert!(
        saga.reason.contains("ILLEGAL_TRANSITION"),
        "{}",
        saga.reason
    );

    // Step 1 refused (no such bonus policy): step 0 is undone, the review is open again.
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "reject-1",
            complete_review(
                &review_id,
                "e-1",
                ppb::Rating::Outstanding,
                "no-such-policy",
            ),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:?}");
    assert_eq!(
        statuses(&saga),
        vec![
            StepStatus::Compensated,
            StepStatus::Rejected,
            StepStatus::Pending,
            StepStatus::Pending,
            StepStatus::Pending
        ]
    );
    let kinds = kinds(&saga);
    assert_eq!(kinds, vec!["succeeded", "rejected", "compensated"]);
    let review = mesh.review_state(&review_id).await;
    assert_eq!(review.state, ppb::ReviewState::ManagerReview as i32);
    assert_eq!(review.rating, 0);
    assert_eq!(mesh.entries("e-1").await.len(), 1, "no bonus written");
    assert!(mesh.inbox("e-1").await.is_empty(), "nobody was told");

    // A pivot refused: approving a hold that was voided.
    let requested = mesh
        .run_saga("hold", time_off("e-1", "m-1", "2026-08-03", "2026-08-03"))
        .await
        .expect("request");
    let hold_id = requested.steps[0].output["hold_id"].clone();
    mesh.ledger
        .void_hold(lpb::VoidHoldRequest {
            request_id: "void-by-hand".into(),
            hold_id: hold_id.clone(),
            reason: "withdrawn".into(),
            employee_id: String::new(),
            rejected: false,
        })
        .await
        .expect("void");
    let decided = mesh
        .run_saga(
            "approve-voided",
            Input::DecideTimeOff(DecideTimeOffInput {
                employee_id: "e-1".into(),
                hold_id,
                approve: true,
                reason: String::new(),
            }),
        )
        .await
        .expect("decide");
    assert_eq!(decided.state, SagaState::Compensated as i32);
    assert!(
        decided.reason.contains("HOLD_ALREADY_RESOLVED"),
        "{}",
        decided.reason
    );

    // Too many days: the hold is refused, nothing to undo, the manager is not asked.
    let too_many = mesh
        .run_saga(
            "too-many",
            time_off("e-1", "m-2", "2026-09-01", "2026-09-30"),
        )
        .await
        .expect("request");
    assert_eq!(too_many.state, SagaState::Compensated as i32);
    assert!(
        too_many.reason.contains("INSUFFICIENT_BALANCE"),
        "{}",
        too_many.reason
    );
    assert!(mesh.inbox("m-2").await.is_empty());
    mesh.stop().await;
}

async fn a_participant_down_trips_the_breaker_and_the_saga_is_stuck_not_half_done(
    backend: Backend,
) {
    let mut mesh = Mesh::start_with(
        backend,
        Options {
            ledger_down: true,
            ..Options::default()
        },
    )
    .await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "ledger-down",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Stuck as i32, "{saga:?}");
    assert!(saga.reason.contains("circuit open"), "{}", saga.reason);
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::Submitted as i32,
        "the finalize is not undone before the later step's undo: strict reverse order"
    );

    // Offboarding waits for no stuck saga of the same employee: it is refused.
    let refused = mesh
        .run_saga(
            "offboard-while-stuck",
            Input::OffboardEmployee(OffboardEmployeeInput {
                employee_id: "e-1".into(),
                last_day: "2026-06-30".into(),
                settlement: Settlement::Forfeit as i32,
                hr_recipient_id: "hr-1".into(),
                reason: String::new(),
                ..Default::default()
            }),
        )
        .await
        .expect_err("employee locked");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let (reason, metadata) = reason_of(&refused);
    assert_eq!(reason, "EMPLOYEE_LOCKED");
    assert_eq!(metadata["saga_id"], saga.saga_id);

    // Operator actions: the justification is required; skip the stuck undo, the rest unwinds.
    let missing = mesh
        .saga
        .skip_step(OperatorRequest {
            saga_id: saga.saga_id.clone(),
            justification: String::new(),
            request_id: "skip-1".into(),
        })
        .await
        .expect_err("no justification");
    assert_eq!(missing.code(), Code::InvalidArgument);
    let skipped = mesh
        .saga
        .skip_step(OperatorRequest {
            saga_id: saga.saga_id.clone(),
            justification: "no bonus was ever written: the ledger was down".into(),
            request_id: "skip-1".into(),
        })
        .await
        .expect("skip")
        .into_inner();
    let operator = skipped
        .history
        .iter()
        .find(|e| e.kind == "operator_skipped")
        .expect("the action is in the history");
    assert_eq!(
        operator.actor, "test-admin",
        "the actor is the token's subject, not the request's"
    );
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Compensated as i32, "{done:?}");
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::ManagerReview as i32
    );
    let not_stuck = mesh
        .saga
        .retry_saga(OperatorRequest {
            saga_id: saga.saga_id.clone(),
            justification: String::new(),
            request_id: "retry-1".into(),
        })
        .await
        .expect_err("not stuck");
    assert_eq!(reason_of(&not_stuck).0, "SAGA_NOT_STUCK");
    mesh.stop().await;
}

async fn past_the_deadline_the_saga_goes_on_and_completes(backend: Backend) {
    let mut mesh = Mesh::start_with(
        backend,
        Options {
            notification_up: false,
            ..Options::default()
        },
    )
    .await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let mut request = tonic::Request::new(StartSagaRequest {
        request_id: "deadline".into(),
        wait: true,
        input: Some(complete_review(
            &review_id,
            "e-1",
            ppb::Rating::ExceedsExpectations,
            "pto",
        )),
    });
    request.set_timeout(Duration::from_millis(1500));
    let status = mesh.saga.start_saga(request).await.expect_err("deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let (reason, metadata) = reason_of(&status);
    assert_eq!(reason, "SAGA_STILL_RUNNING");
    let saga_id = metadata["saga_id"].clone();
    let running = mesh.get(&saga_id).await;
    assert_eq!(running.state, SagaState::Running as i32);
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::Completed as i32,
        "past the pivot"
    );
    // The notification service comes back: the retriable steps go through, once.
    mesh.bring_notification_up().await;
    let done = mesh.settled(&saga_id).await;
    assert_eq!(done.state, SagaState::Completed as i32, "{done:?}");
    assert!(
        done.history.iter().any(|e| e.kind == "failed"),
        "retries are in the history"
    );
    assert_eq!(mesh.inbox("e-1").await.len(), 1);
    assert_eq!(mesh.inbox("m-1").await.len(), 1);
    assert_eq!(mesh.balance("e-1").await.balance, "11");
    mesh.stop().await;
}

async fn bad_starts_name_the_fields(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    let status = mesh
        .run_saga(
            "",
            Input::CompleteReview(CompleteReviewInput {
                review_id: "nope".into(),
                employee_id: String::new(),
                rating: 0,
                sections: vec![],
                bonus_policy_id: String::new(),
            }),
        )
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    let mut fields: Vec<String> = details
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "complete_review.employee_id",
            "complete_review.rating",
            "complete_review.review_id",
            "complete_review.sections",
            "request_id"
        ]
    );
    let listed = mesh
        .saga
        .list_sagas(ListSagasRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.sagas.is_empty(), "nothing was started");
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(
    complete_review_completes_once,
    every_saga_runs_to_completion,
    a_rejection_compensates_exactly_the_completed_steps,
    a_participant_down_trips_the_breaker_and_the_saga_is_stuck_not_half_done,
    past_the_deadline_the_saga_goes_on_and_completes,
    bad_starts_name_the_fields,
    every_service_refuses_bad_callers_and_writes_nothing,
);

/// A caller with `saga.create` starts sagas only about whom the saga type allows: time off for
/// themselves or an employee they manage, reviews, decisions and PIPs only as the manager, and
/// onboarding and offboarding only with `saga.admin`. A refused start writes no saga.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_start_a_saga_about_whom() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    let url = mesh.orchestrator.server.uri();
    let caller = |subject: &str, actor: ActorType, manages: &[&str]| {
        let mut claims = testing::claims(subject, actor, &["saga.create", "saga.read"]);
        claims.manages = manages.iter().map(|id| (*id).to_owned()).collect();
        SagaServiceClient::new(channel_as(&url, Some(testing::mint(&claims))))
    };
    let onboard = Input::OnboardEmployee(OnboardEmployeeInput {
        employee_id: "e-9".into(),
        manager_id: "m-1".into(),
        policy_ids: vec!["pto".into()],
        start_date: "2026-02-01".into(),
        probation_review_due_date: "2026-05-01".into(),
        starter_goals: vec![],
        ..Default::default()
    });
    let start = |request_id: &str, input: Input| StartSagaRequest {
        request_id: request_id.into(),
        wait: false,
        input: Some(input),
    };
    let review = uuid::Uuid::now_v7().to_string();
    let cases = [
        (
            "an employee asks time off for a colleague",
            caller("e-2", ActorType::Employee, &[]),
            start("s-1", time_off("e-1", "m-1", "2026-09-07", "2026-09-07")),
            Some("NOT_OWN_RECORD"),
        ),
        (
            "an employee completes their own review",
            caller("e-1", ActorType::Employee, &[]),
            start(
                "s-2",
                complete_review(&review, "e-1", ppb::Rating::Outstanding, "pto"),
            ),
            Some("NOT_MANAGER"),
        ),
        (
            "a manager completes the review of someone they do not manage",
            caller("m-2", ActorType::Manager, &["e-5"]),
            start(
                "s-3",
                complete_review(&review, "e-1", ppb::Rating::Outstanding, "pto"),
            ),
            Some("NOT_MANAGER"),
        ),
        (
            "a manager onboards without saga.admin",
            caller("m-1", ActorType::Manager, &["e-9"]),
            start("s-4", onboard.clone()),
            Some("ADMIN_ONLY"),
        ),
        (
            "an employee asks time off for themselves",
            caller("e-1", ActorType::Employee, &[]),
            start("s-5", time_off("e-1", "m-1", "2026-09-07", "2026-09-07")),
            None,
        ),
        (
            "a manager asks time off for their report",
            caller("m-1", ActorType::Manager, &["e-2"]),
            start("s-6", time_off("e-2", "m-1", "2026-09-07", "2026-09-07")),
            None,
        ),
        (
            "a manager completes their report's review",
            caller("m-1", ActorType::Manager, &["e-1"]),
            start(
                "s-7",
                complete_review(&review, "e-1", ppb::Rating::Outstanding, "pto"),
            ),
            None,
        ),
    ];
    for (case, mut client, request, refusal) in cases {
        let request_id = request.request_id.clone();
        let result = client.start_saga(request).await;
        match refusal {
            Some(reason) => {
                let status = result.expect_err(case);
                assert_eq!(status.code(), Code::PermissionDenied, "{case}: {status:?}");
                assert_eq!(reason_of(&status).0, reason, "{case}");
            }
            None => {
                result.unwrap_or_else(|status| panic!("{case}: {status:?}"));
            }
        }
        let written = mesh
            .saga
            .list_sagas(ListSagasRequest::default())
            .await
            .expect("list")
            .into_inner()
            .sagas;
        assert_eq!(
            written.iter().any(|saga| saga.request_id == request_id),
            refusal.is_none(),
            "{case}: a saga is written exactly when the start is allowed"
        );
    }
    mesh.stop().await;
}

/// Holding a performance permission is not enough to change someone's records: a self-assessment
/// is the employee's own, opening the review is its manager's (the one it names, or by the
/// `manages` claim), goals are the employee's and their manager's, closing records is an admin's.
/// A refused change leaves the record as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_change_whose_performance_records() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    let url = mesh.performance_server.server.uri();
    let as_caller = |subject: &str, actor: ActorType, manages: &[&str]| {
        let mut claims = testing::claims(
            subject,
            actor,
            &[
                "performance.create",
                "performance.read",
                "performance.update",
            ],
        );
        claims.manages = manages.iter().map(|id| (*id).to_owned()).collect();
        PerformanceServiceClient::new(channel_as(&url, Some(testing::mint(&claims))))
    };
    let employee = || as_caller("e-1", ActorType::Employee, &[]);
    let colleague = || as_caller("e-2", ActorType::Employee, &[]);
    let named_manager = || as_caller("m-1", ActorType::Manager, &[]);
    let other_manager = || as_caller("m-2", ActorType::Manager, &["e-5"]);
    let refused =
        |result: Result<tonic::Response<ppb::Review>, Status>, reason: &str, case: &str| {
            let status = result.expect_err(case);
            assert_eq!(status.code(), Code::PermissionDenied, "{case}: {status:?}");
            assert_eq!(reason_of(&status).0, reason, "{case}");
        };

    // Creating a review needs the `manages` claim: naming yourself as manager is not enough.
    let create = |request_id: &str| ppb::CreateReviewRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        manager_id: "m-1".into(),
        cycle: ppb::ReviewCycle::Annual as i32,
        period_start: "2026-01-01".into(),
        period_end: "2026-12-31".into(),
        due_date: "2027-01-31".into(),
    };
    refused(
        named_manager().create_review(create("r-1")).await,
        "NOT_MANAGER",
        "a manager without the claim creates a review",
    );
    let review_id = as_caller("m-1", ActorType::Manager, &["e-1"])
        .create_review(create("r-2"))
        .await
        .expect("the manager of e-1 creates it")
        .into_inner()
        .review_id;
    let open = |request_id: &str| ppb::OpenSelfAssessmentRequest {
        request_id: request_id.into(),
        review_id: review_id.clone(),
    };
    refused(
        other_manager().open_self_assessment(open("o-1")).await,
        "NOT_MANAGER",
        "another manager opens it",
    );
    refused(
        employee().open_self_assessment(open("o-2")).await,
        "NOT_MANAGER",
        "the employee opens their own review",
    );
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::Draft as i32,
        "refusals change nothing"
    );
    named_manager()
        .open_self_assessment(open("o-3"))
        .await
        .expect("the manager the review names opens it");
    let submit = |request_id: &str| ppb::SubmitSelfAssessmentRequest {
        request_id: request_id.into(),
        review_id: review_id.clone(),
        sections: sections(),
    };
    refused(
        colleague().submit_self_assessment(submit("s-1")).await,
        "NOT_OWN_RECORD",
        "a colleague writes the self-assessment",
    );
    refused(
        named_manager().submit_self_assessment(submit("s-2")).await,
        "NOT_OWN_RECORD",
        "the manager writes the self-assessment",
    );
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::SelfAssessment as i32
    );
    employee()
        .submit_self_assessment(submit("s-3"))
        .await
        .expect("the employee writes their own");
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::ManagerReview as i32
    );

    // Goals: the employee's and their manager's.
    let goal = |request_id: &str| ppb::CreateGoalRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        title: "Ship the payroll export".into(),
        target_date: "2026-12-01".into(),
        weight: 10,
        ..Default::default()
    };
    let status = colleague()
        .create_goal(goal("g-1"))
        .await
        .expect_err("a colleague sets e-1's goal");
    assert_eq!(reason_of(&status).0, "NOT_OWN_RECORD");
    employee()
        .create_goal(goal("g-2"))
        .await
        .expect("the employee sets their own goal");
    let goals = mesh
        .performance
        .list_goals(ppb::ListGoalsRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("goals")
        .into_inner()
        .goals;
    assert_eq!(goals.len(), 1, "only the allowed goal exists");

    // Closing an employee's records is an admin's act (its permission table says so).
    let status = as_caller("m-1", ActorType::Manager, &["e-1"])
        .close_employee_records(ppb::CloseEmployeeRecordsRequest {
            request_id: "close-1".into(),
            employee_id: "e-1".into(),
            reason: "left".into(),
        })
        .await
        .expect_err("a manager closes the records");
    assert_eq!(reason_of(&status).0, "MISSING_PERMISSION");
    mesh.stop().await;
}

/// With every server on TLS requiring client certificates, a saga crosses all four services
/// (the orchestrator and the test presenting certificates of the mesh's CA), and every way of
/// connecting without the right certificates is turned away before any call is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_mesh_runs_over_mutual_tls() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pki = DevPki::generate(&dir.path().join("mesh"), &PKI_NAMES).expect("the mesh's PKI");
    let other = DevPki::generate(&dir.path().join("other"), &PKI_NAMES).expect("another PKI");
    let mut mesh = Mesh::start_with(
        Backend::Sqlite,
        Options {
            tls: Some(pki.clone()),
            ..Options::default()
        },
    )
    .await;
    let ledger_url = mesh.ledger_server.server.uri();
    assert!(ledger_url.starts_with("https://"), "{ledger_url}");
    mesh.orchestrator
        .server
        .ready()
        .await
        .expect("ready: the health checks of its participants passed over mutual TLS");

    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "complete-tls",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(mesh.balance("e-1").await.balance, "12");
    assert_eq!(mesh.inbox("e-1").await.len(), 1);
    // The participants saw the orchestrator's connections, addresses and all.
    let trail = audit_trail_over(
        "ledger",
        testing::admin_channel_over(&ledger_url, &mesh.client_tls),
    )
    .await;
    let by_orchestrator: Vec<_> = trail
        .iter()
        .filter(|event| event.subject == "hrmesh-orchestrator")
        .collect();
    assert_eq!(by_orchestrator.len(), 1, "{trail:?}");
    assert!(
        by_orchestrator[0].client_address.starts_with("127.0.0.1:"),
        "{trail:?}"
    );

    let plaintext_url = ledger_url.replacen("https://", "http://", 1);
    let turned_away = [
        ("plaintext", plaintext_url.as_str(), TlsConfig::default()),
        ("no client certificate", &ledger_url, pki.trusting_client()),
        (
            "a client certificate of another CA",
            &ledger_url,
            TlsConfig {
                ca_file: pki.trusting_client().ca_file,
                ..other.config("test-client", false)
            },
        ),
        (
            "a server certificate it does not trust",
            &ledger_url,
            TlsConfig {
                ca_file: other.trusting_client().ca_file,
                ..pki.config("test-client", false)
            },
        ),
    ];
    for (case, url, tls) in turned_away {
        let channel = MeshChannel::lazy(url, &tls, Some(testing::admin_token())).expect("a URL");
        let status = mutate("ledger", channel).await.expect_err(case);
        // A transport failure, never an answer. With TLS 1.3 the server refuses a missing client
        // certificate after the client's side of the handshake is done, so the client may see
        // the connection closed under its request (CANCELLED) rather than fail to connect.
        assert!(
            matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
            ),
            "{case}: {status:?}"
        );
    }
    let after = audit_trail_over(
        "ledger",
        testing::admin_channel_over(&ledger_url, &mesh.client_tls),
    )
    .await;
    assert_eq!(after.len(), trail.len(), "nothing got through: {after:?}");
    // The right certificate, for contrast.
    mutate(
        "ledger",
        testing::admin_channel_over(&ledger_url, &mesh.client_tls),
    )
    .await
    .expect("the mesh's client certificate is accepted");
    mesh.stop().await;
}

/// A channel to `url` calling with `token` (none sends no authorization metadata).
fn channel_as(url: &str, token: Option<TokenSource>) -> MeshChannel {
    MeshChannel::lazy(url, &hrmesh_mesh::tls::TlsConfig::default(), token).expect("a valid URL")
}

fn token_with(edit: impl FnOnce(&mut Claims)) -> Option<TokenSource> {
    let mut claims = testing::claims("e-2", ActorType::Employee, ALL_PERMISSIONS);
    edit(&mut claims);
    Some(testing::mint(&claims))
}

/// One valid mutation per service, as a caller with `channel` makes it.
async fn mutate(service: &str, channel: MeshChannel) -> Result<(), Status> {
    match service {
        "ledger" => LedgerServiceClient::new(channel)
            .create_policy(lpb::CreatePolicyRequest {
                request_id: "auth-policy".into(),
                policy_id: "auth-pto".into(),
                policy: Some(lpb::Policy {
                    resource_type: "pto".into(),
                    unit: lpb::Unit::Days as i32,
                    accrual: Some(lpb::AccrualRule {
                        frequency: lpb::AccrualFrequency::Monthly as i32,
                        amount: "1.75".into(),
                        max_balance: String::new(),
                    }),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
        "performance" => PerformanceServiceClient::new(channel)
            .create_review(ppb::CreateReviewRequest {
                request_id: "auth-review".into(),
                employee_id: "e-1".into(),
                manager_id: "m-1".into(),
                cycle: ppb::ReviewCycle::Annual as i32,
                period_start: "2026-01-01".into(),
                period_end: "2026-12-31".into(),
                due_date: "2027-01-31".into(),
            })
            .await
            .map(drop),
        "notification" => NotificationServiceClient::new(channel)
            .set_preferences(npb::SetPreferencesRequest {
                request_id: "auth-preferences".into(),
                preferences: Some(npb::Preferences {
                    recipient_id: "e-1".into(),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
        _ => SagaServiceClient::new(channel)
            .start_saga(StartSagaRequest {
                request_id: "auth-saga".into(),
                input: Some(complete_review(
                    &uuid::Uuid::now_v7().to_string(),
                    "e-1",
                    ppb::Rating::Outstanding,
                    "auth-pto",
                )),
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

/// One read of employee e-1's records per service.
async fn read_e1(service: &str, channel: MeshChannel) -> Result<(), Status> {
    match service {
        "ledger" => LedgerServiceClient::new(channel)
            .list_entries(lpb::ListEntriesRequest {
                employee_id: "e-1".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "performance" => PerformanceServiceClient::new(channel)
            .list_reviews(ppb::ListReviewsRequest {
                employee_id: "e-1".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "notification" => NotificationServiceClient::new(channel)
            .get_preferences(npb::GetPreferencesRequest {
                recipient_id: "e-1".into(),
            })
            .await
            .map(drop),
        _ => SagaServiceClient::new(channel)
            .list_sagas(ListSagasRequest {
                employee_id: "e-1".into(),
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

fn assert_refused(result: Result<(), Status>, code: Code, reason: &str, case: &str) {
    let status = result.expect_err(case);
    assert_eq!(status.code(), code, "{case}: {status:?}");
    let info = status
        .get_error_details()
        .error_info()
        .cloned()
        .unwrap_or_else(|| panic!("{case}: no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{case}");
}

async fn every_service_refuses_bad_callers_and_writes_nothing(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    let now = hrmesh_mesh::auth::now_secs();
    let services = [
        ("ledger", mesh.ledger_server.server.uri(), "ledger"),
        (
            "performance",
            mesh.performance_server.server.uri(),
            "performance",
        ),
        (
            "notification",
            format!("http://127.0.0.1:{}", mesh.notification_port),
            "notification",
        ),
        ("orchestrator", mesh.orchestrator.server.uri(), "saga"),
    ];
    for (service, url, prefix) in &services {
        let refused = [
            (None, Code::Unauthenticated, "TOKEN_MISSING", "no token"),
            (
                token_with(|claims| {
                    claims.iat = now - 7200;
                    claims.exp = now - 3600;
                }),
                Code::Unauthenticated,
                "TOKEN_EXPIRED",
                "expired token",
            ),
            (
                token_with(|claims| claims.aud = vec!["hrmesh-payroll".into()]),
                Code::Unauthenticated,
                "TOKEN_WRONG_AUDIENCE",
                "wrong audience",
            ),
            (
                token_with(|claims| claims.iss = "someone-else".into()),
                Code::Unauthenticated,
                "TOKEN_WRONG_ISSUER",
                "wrong issuer",
            ),
            (
                Some(TokenSource::fixed("not.a.jwt")),
                Code::Unauthenticated,
                "TOKEN_INVALID",
                "garbage token",
            ),
            (
                token_with(|claims| claims.perms = vec![format!("{prefix}.read")]),
                Code::PermissionDenied,
                "MISSING_PERMISSION",
                "missing permission",
            ),
        ];
        for (token, code, reason, case) in refused {
            let result = mutate(service, channel_as(url, token)).await;
            assert_refused(result, code, reason, &format!("{service}, {case}"));
        }
        // Reading another employee's records, holding every permission but not admin's.
        let employee = token_with(|claims| {
            claims.perms = ALL_PERMISSIONS
                .iter()
                .filter(|perm| !perm.ends_with(".admin"))
                .map(|perm| (*perm).to_owned())
                .collect();
        });
        assert_refused(
            read_e1(service, channel_as(url, employee.clone())).await,
            Code::PermissionDenied,
            "NOT_OWN_RECORD",
            &format!("{service}, another employee's records"),
        );
        // ... which their manager, and they themselves, may read.
        let manager = token_with(|claims| {
            claims.act = ActorType::Manager;
            claims.perms = vec![format!("{prefix}.read")];
            claims.manages = vec!["e-1".into()];
        });
        read_e1(service, channel_as(url, manager))
            .await
            .unwrap_or_else(|status| panic!("{service}: the manager reads: {status:?}"));
        let own = token_with(|claims| {
            claims.sub = "e-1".into();
            claims.perms = vec![format!("{prefix}.read")];
        });
        read_e1(service, channel_as(url, own))
            .await
            .unwrap_or_else(|status| panic!("{service}: e-1 reads their own: {status:?}"));

        assert!(
            audit_trail(service, url).await.is_empty(),
            "{service}: a refused call left an audit event"
        );
    }
    // Nothing any refused call would have written is there.
    assert_eq!(
        mesh.ledger
            .get_policy(lpb::GetPolicyRequest {
                policy_id: "auth-pto".into(),
            })
            .await
            .expect_err("no policy")
            .code(),
        Code::NotFound
    );
    let reviews = mesh
        .performance
        .list_reviews(ppb::ListReviewsRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("reviews")
        .into_inner();
    assert!(reviews.reviews.is_empty());
    let sagas = mesh
        .saga
        .list_sagas(ListSagasRequest::default())
        .await
        .expect("sagas")
        .into_inner();
    assert!(sagas.sagas.is_empty());

    // The same calls by an admin go through, and each lands in its service's audit trail.
    for (service, url, _) in &services {
        mutate(service, testing::admin_channel(url))
            .await
            .unwrap_or_else(|status| panic!("{service}: the admin's call: {status:?}"));
        let trail = audit_trail(service, url).await;
        assert_eq!(trail.len(), 1, "{service}: {trail:?}");
        let event = &trail[0];
        assert_eq!(event.service, *service);
        assert_eq!(event.subject, "test-admin");
        assert_eq!(event.actor_type, "admin");
        assert!(event.client_address.starts_with("127.0.0.1:"), "{event:?}");
        assert!(!event.request_id.is_empty());
        assert!(event.time.is_some());
    }
    // The saga's calls to the participants were made as the orchestrator, not as the admin.
    let ledger_trail = audit_trail("ledger", &services[0].1).await;
    let performance_trail = audit_trail("performance", &services[1].1).await;
    assert!(
        ledger_trail
            .iter()
            .chain(&performance_trail)
            .filter(|event| event.subject != "test-admin")
            .all(|event| event.subject == "hrmesh-orchestrator" && event.actor_type == "system"),
        "{ledger_trail:?} {performance_trail:?}"
    );

    // An authorised call is in the trail whatever it came to, with its outcome: bad input, then
    // a good call (queued after it, so the first one's outcome is written by the time it returns).
    let ledger_url = &services[0].1;
    let refused = LedgerServiceClient::new(testing::admin_channel(ledger_url))
        .append_entries(lpb::AppendEntriesRequest {
            request_id: "audit-bad-input".into(),
            entries: vec![],
        })
        .await
        .expect_err("no entries");
    assert_eq!(refused.code(), Code::InvalidArgument);
    mutate("ledger", testing::admin_channel(ledger_url))
        .await
        .expect("a replay of the admin's call");
    let trail = audit_trail("ledger", ledger_url).await;
    let bad = trail
        .iter()
        .find(|event| event.method.ends_with("/AppendEntries") && event.subject == "test-admin")
        .unwrap_or_else(|| panic!("the refused call is audited: {trail:?}"));
    assert_eq!(bad.outcome, "INVALID_ARGUMENT", "{bad:?}");
    // Newest first: the admin's first call, then its replay (whose outcome may still be on its way).
    let created: Vec<_> = trail
        .iter()
        .filter(|event| event.method.ends_with("/CreatePolicy") && event.subject == "test-admin")
        .collect();
    assert_eq!(created.len(), 2, "{trail:?}");
    assert_eq!(created[1].outcome, "OK", "{:?}", created[1]);
    mesh.stop().await;
}

/// An OTLP/gRPC collector on port 0 keeping every span it receives.
#[derive(Clone, Default)]
struct Collector {
    spans: std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        Status,
    > {
        let mut spans = self.spans.lock().expect("spans");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Sends one grpc-web GetPolicy to `addr` with a W3C `traceparent` naming `trace_id`.
async fn grpc_web_get_policy(addr: std::net::SocketAddr, trace_id: &str) -> String {
    grpc_web_call(addr, "/hrmesh.ledger.v1.LedgerService/GetPolicy", trace_id).await
}

/// A grpc-web call of `path` with a GetPolicyRequest body, answered as raw HTTP/1.1.
async fn grpc_web_call(addr: std::net::SocketAddr, path: &'static str, trace_id: &str) -> String {
    use std::io::{Read, Write};
    let body = prost::Message::encode_to_vec(&lpb::GetPolicyRequest {
        policy_id: "pto".into(),
    });
    let bearer = testing::admin_token().bearer().expect("a token");
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let mut frame = vec![0u8];
        frame.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&body);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nAuthorization: {bearer}\r\ntraceparent: {traceparent}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            frame.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&frame).expect("write body");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("read");
        String::from_utf8_lossy(&reply).into_owned()
    })
    .await
    .expect("blocking task")
}

/// GET http://addr/metrics.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.expect("read");
    reply
}

/// One saga across all four services is one trace: the call that started it, the saga, every
/// step, every participant call and the participants' server spans share its trace id; a
/// grpc-web call continues the trace its `traceparent` names. The metrics endpoint shows the
/// saga counted, its steps timed and the participant calls timed by status code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_saga_is_one_trace_and_the_metrics_move() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer::new(
                    collector.clone(),
                ),
            )
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let provider =
        hrmesh_mesh::telemetry::otlp_provider(&format!("http://{collector_addr}"), "hrmesh-test")
            .expect("exporter");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            // As in production: info and above (h2's and sqlx's own spans stay out).
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
    )
    .expect("the only subscriber of this test process");
    let metrics_addr: std::net::SocketAddr =
        format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    hrmesh_mesh::telemetry::install_prometheus(Some(metrics_addr)).expect("metrics");

    let mut mesh = Mesh::start(Backend::Sqlite).await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let saga = mesh
        .run_saga(
            "traced-1",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    // The saga's task (and so its span, and the StartSaga span above it) ends once the saga's
    // end is logged, which may be after the answer: wait for its watch channel to close.
    if let Some(mut updates) = mesh.orchestrator.engine().subscribe(&saga.saga_id) {
        while updates.changed().await.is_ok() {}
    }
    let web_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = grpc_web_get_policy(mesh.ledger_server.addr(), web_trace).await;
    assert!(reply.contains("grpc-status:0"), "{reply}");

    let flushed = tokio::task::spawn_blocking({
        let provider = provider.clone();
        move || provider.force_flush()
    })
    .await
    .expect("flush task");
    flushed.expect("spans exported");
    let spans = collector.spans.lock().expect("spans").clone();
    let start = spans
        .iter()
        .find(|span| span.name == "hrmesh.orchestrator.v1.SagaService/StartSaga")
        .unwrap_or_else(|| panic!("no StartSaga span among {:?}", names(&spans)));
    let trace = start.trace_id.clone();
    let in_trace: Vec<&str> = spans
        .iter()
        .filter(|span| span.trace_id == trace)
        .map(|span| span.name.as_str())
        .collect();
    assert!(in_trace.contains(&"saga complete-review"), "{in_trace:?}");
    let steps: Vec<&&str> = in_trace
        .iter()
        .filter(|name| name.starts_with("forward "))
        .collect();
    assert_eq!(steps.len(), 5, "one span per step: {in_trace:?}");
    for participant in ["performance", "ledger", "notification"] {
        assert!(
            in_trace
                .iter()
                .any(|name| name.starts_with(&format!("{participant} "))),
            "a {participant} call span in the saga's trace: {in_trace:?}"
        );
    }
    for server in [
        "hrmesh.performance.v1.PerformanceService/CompleteReview",
        "hrmesh.ledger.v1.LedgerService/AppendEntries",
        "hrmesh.notification.v1.NotificationService/Send",
    ] {
        assert!(in_trace.contains(&server), "{server} in {in_trace:?}");
    }
    // No step or participant span of this saga is in another trace.
    let elsewhere: Vec<&str> = spans
        .iter()
        .filter(|span| span.trace_id != trace)
        .filter(|span| {
            [
                "forward ",
                "compensate ",
                "saga ",
                "performance ",
                "ledger ",
                "notification ",
            ]
            .iter()
            .any(|prefix| span.name.starts_with(prefix))
        })
        .map(|span| span.name.as_str())
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    assert!(
        spans.iter().any(|span| hex(&span.trace_id) == web_trace
            && span.name == "hrmesh.ledger.v1.LedgerService/GetPolicy"),
        "the grpc-web call continues its caller's trace: {:?}",
        names(&spans)
    );

    // A method the ledger does not serve: UNIMPLEMENTED, not audited, and counted under one
    // label, so made-up paths cannot create series.
    let unknown = grpc_web_call(
        mesh.ledger_server.addr(),
        "/hrmesh.ledger.v1.LedgerService/DropEverything",
        web_trace,
    )
    .await;
    // Refused before any body: the status is a header.
    assert!(unknown.contains("grpc-status: 12"), "{unknown}");
    let trail = audit_trail("ledger", &mesh.ledger_server.server.uri()).await;
    assert!(
        trail
            .iter()
            .all(|event| !event.method.contains("DropEverything")),
        "{trail:?}"
    );

    let text = scrape(metrics_addr).await;
    assert!(!text.contains("DropEverything"), "{text}");
    assert!(
        text.contains("hrmesh_rpc_server_duration_seconds_count{service=\"ledger\",method=\"unknown\",code=\"UNIMPLEMENTED\"} 1"),
        "{text}"
    );
    for line in [
        "hrmesh_sagas_started_total{saga_type=\"complete-review\"} 1",
        "hrmesh_sagas_completed_total{saga_type=\"complete-review\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    for series in [
        "hrmesh_saga_step_duration_seconds_count{saga_type=\"complete-review\",step=",
        "hrmesh_participant_rpc_duration_seconds_count{participant=\"ledger\",rpc=",
        "hrmesh_rpc_server_duration_seconds_count{service=\"ledger\",method=\"hrmesh.ledger.v1.LedgerService/AppendEntries\",code=\"OK\"}",
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
    mesh.stop().await;
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
}

fn names(spans: &[opentelemetry_proto::tonic::trace::v1::Span]) -> Vec<(String, String)> {
    spans
        .iter()
        .take(200)
        .map(|span| (span.name.clone(), hex(&span.trace_id)))
        .collect()
}

/// Every method of every service needs a permission, and no table names a method that is gone.
#[test]
fn every_method_of_every_service_is_guarded() {
    for (service, table) in [
        (
            "hrmesh.ledger.v1.LedgerService",
            hrmesh_ledger_server::PERMISSIONS,
        ),
        (
            "hrmesh.performance.v1.PerformanceService",
            hrmesh_performance_server::PERMISSIONS,
        ),
        (
            "hrmesh.notification.v1.NotificationService",
            hrmesh_notification_server::PERMISSIONS,
        ),
        (
            "hrmesh.orchestrator.v1.SagaService",
            hrmesh_orchestrator_server::grpc::PERMISSIONS,
        ),
    ] {
        testing::assert_every_method_guarded(
            hrmesh_proto::FILE_DESCRIPTOR_SET,
            &[service, "hrmesh.events.v1.EventService"],
            table,
        );
        for (_, permission) in table {
            assert!(
                ALL_PERMISSIONS.contains(permission),
                "{service}: {permission} is not a known permission"
            );
        }
    }
}
