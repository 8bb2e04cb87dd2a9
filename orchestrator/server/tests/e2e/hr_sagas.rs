//! The HR sagas over the ledger's accruals, end to end with the real participants: initiate-pip
//! freezes the bonus accrual over the plan, conclude-pip lifts or extends the freeze,
//! offboarding resolves the pending holds, ends every assignment and settles every policy,
//! onboarding assigns several policies that accrue their first periods by their own rules — and
//! the compensations, each undo checked in the participant it undid.

use chrono::NaiveDate;

use super::lossy_ledger::mesh_with_lossy_ledger;
use super::*;

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a test date")
}

fn text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// The day the orchestrator created `saga` (UTC): the day its plans date things from.
fn created_on(saga: &Saga) -> NaiveDate {
    let time = saga.create_time.as_ref().expect("create_time");
    chrono::DateTime::from_timestamp(time.seconds, 0)
        .expect("a valid time")
        .date_naive()
}

fn range(start: &str, end: &str) -> Option<DateRange> {
    Some(DateRange {
        start_date: start.into(),
        end_date: end.into(),
    })
}

/// Policy `policy_id` of `resource_type` accruing `amount` per period of `frequency`.
async fn create_policy(
    mesh: &mut Mesh,
    policy_id: &str,
    resource_type: &str,
    frequency: lpb::AccrualFrequency,
    amount: &str,
    year_start_month: i32,
) {
    mesh.ledger
        .create_policy(lpb::CreatePolicyRequest {
            request_id: format!("policy-{policy_id}"),
            policy_id: policy_id.into(),
            policy: Some(lpb::Policy {
                resource_type: resource_type.into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: frequency as i32,
                    amount: amount.into(),
                    max_balance: String::new(),
                }),
                allow_negative: false,
                year_start_month,
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
}

async fn assign(mesh: &mut Mesh, employee: &str, policy_id: &str, from: &str) {
    mesh.ledger
        .assign_policy(lpb::AssignPolicyRequest {
            request_id: format!("assign-{employee}-{policy_id}"),
            employee_id: employee.into(),
            policy_id: policy_id.into(),
            effective_from: from.into(),
            effective_to: String::new(),
        })
        .await
        .expect("assign");
}

/// A direct ACCRUAL grant, as HR would append it.
async fn grant(
    mesh: &mut Mesh,
    request_id: &str,
    employee: &str,
    policy_id: &str,
    amount: &str,
    on: &str,
) -> Result<lpb::Entry, Status> {
    mesh.ledger
        .append_entries(lpb::AppendEntriesRequest {
            request_id: request_id.into(),
            entries: vec![lpb::NewEntry {
                employee_id: employee.into(),
                policy_id: policy_id.into(),
                kind: lpb::EntryKind::Accrual as i32,
                amount: amount.into(),
                effective_date: on.into(),
                ..Default::default()
            }],
        })
        .await
        .map(|reply| reply.into_inner().entries.remove(0))
}

async fn freezes(mesh: &mut Mesh, employee: &str) -> Vec<lpb::Freeze> {
    mesh.ledger
        .list_freezes(lpb::ListFreezesRequest {
            employee_id: employee.into(),
            policy_id: String::new(),
        })
        .await
        .expect("freezes")
        .into_inner()
        .freezes
}

async fn pips(mesh: &mut Mesh, employee: &str) -> Vec<ppb::Pip> {
    mesh.performance
        .list_pips(ppb::ListPipsRequest {
            employee_id: employee.into(),
            ..Default::default()
        })
        .await
        .expect("pips")
        .into_inner()
        .pips
}

async fn pip(mesh: &mut Mesh, pip_id: &str) -> ppb::Pip {
    mesh.performance
        .get_pip(ppb::GetPipRequest {
            pip_id: pip_id.into(),
        })
        .await
        .expect("pip")
        .into_inner()
}

async fn assignments(mesh: &mut Mesh, employee: &str) -> Vec<lpb::Assignment> {
    mesh.ledger
        .list_assignments(lpb::ListAssignmentsRequest {
            employee_id: employee.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("assignments")
        .into_inner()
        .assignments
}

async fn balances(mesh: &mut Mesh, employee: &str) -> Vec<lpb::Balance> {
    mesh.ledger
        .list_balances(lpb::ListBalancesRequest {
            employee_id: employee.into(),
        })
        .await
        .expect("balances")
        .into_inner()
        .balances
}

/// (policy, available) of every balance of the employee.
async fn available(mesh: &mut Mesh, employee: &str) -> Vec<(String, String)> {
    balances(mesh, employee)
        .await
        .into_iter()
        .map(|b| (b.policy_id, b.available))
        .collect()
}

async fn hold(mesh: &mut Mesh, employee: &str, policy_id: &str, start: &str, end: &str) -> String {
    mesh.ledger
        .hold_days(lpb::HoldDaysRequest {
            request_id: format!("hold-{employee}-{start}"),
            employee_id: employee.into(),
            policy_id: policy_id.into(),
            dates: range(start, end),
            ..Default::default()
        })
        .await
        .expect("hold")
        .into_inner()
        .hold_id
}

async fn hold_state(mesh: &mut Mesh, hold_id: &str) -> lpb::HoldState {
    let hold = mesh
        .ledger
        .get_hold(lpb::GetHoldRequest {
            hold_id: hold_id.into(),
        })
        .await
        .expect("hold")
        .into_inner();
    lpb::HoldState::try_from(hold.state).expect("a hold state")
}

async fn reviews(mesh: &mut Mesh, employee: &str) -> Vec<ppb::Review> {
    mesh.performance
        .list_reviews(ppb::ListReviewsRequest {
            employee_id: employee.into(),
            ..Default::default()
        })
        .await
        .expect("reviews")
        .into_inner()
        .reviews
}

async fn goals(mesh: &mut Mesh, employee: &str) -> Vec<ppb::Goal> {
    mesh.performance
        .list_goals(ppb::ListGoalsRequest {
            employee_id: employee.into(),
            ..Default::default()
        })
        .await
        .expect("goals")
        .into_inner()
        .goals
}

fn initiate_pip(
    employee: &str,
    manager: &str,
    start: NaiveDate,
    end: NaiveDate,
    check_in: NaiveDate,
    bonus_policy: &str,
) -> Input {
    Input::InitiatePip(InitiatePipInput {
        employee_id: employee.into(),
        manager_id: manager.into(),
        reason: "Missed deadlines".into(),
        objectives: vec!["Deliver commitments".into()],
        start_date: text(start),
        end_date: text(end),
        check_in_dates: vec![text(check_in)],
        bonus_policy_id: bonus_policy.into(),
    })
}

fn conclude_pip(
    pip_id: &str,
    employee: &str,
    outcome: ppb::PipOutcome,
    new_end: Option<NaiveDate>,
) -> Input {
    Input::ConcludePip(ConcludePipInput {
        pip_id: pip_id.into(),
        employee_id: employee.into(),
        outcome: outcome as i32,
        notes: "Reviewed with HR".into(),
        new_end_date: new_end.map(text).unwrap_or_default(),
        additional_check_in_dates: vec![],
    })
}

fn offboard(employee: &str, last_day: &str) -> Input {
    Input::OffboardEmployee(OffboardEmployeeInput {
        employee_id: employee.into(),
        last_day: last_day.into(),
        settlement: Settlement::Payout as i32,
        hr_recipient_id: "hr-1".into(),
        reason: "resigned".into(),
        ..Default::default()
    })
}

fn step_names(saga: &Saga) -> Vec<&str> {
    saga.steps.iter().map(|step| step.name.as_str()).collect()
}

// ---- initiate-pip

async fn initiate_pip_freezes_the_bonus_accrual_over_the_plan(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-3", "10").await;
    let saga = mesh
        .run_saga(
            "pip-frozen",
            initiate_pip(
                "e-3",
                "m-1",
                date("2026-03-01"),
                date("2026-05-31"),
                date("2026-03-15"),
                "pto",
            ),
        )
        .await
        .expect("saga");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(
        step_names(&saga),
        vec!["open-pip", "freeze-bonus-accrual", "notify-employee"]
    );
    assert_eq!(statuses(&saga), vec![StepStatus::Succeeded; 3]);
    let pip_id = saga.steps[0].output["pip_id"].clone();
    let opened = pip(&mut mesh, &pip_id).await;
    assert_eq!(opened.status, ppb::PipStatus::Active as i32);
    assert_eq!(opened.employee_id, "e-3");

    // One freeze of the bonus policy over exactly the plan's days, naming the plan.
    let frozen = freezes(&mut mesh, "e-3").await;
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    let freeze = &frozen[0];
    assert_eq!(freeze.freeze_id, saga.steps[1].output["freeze_id"]);
    assert_eq!(freeze.policy_id, "pto");
    assert_eq!(freeze.reference, pip_id);
    assert_eq!(freeze.dates, range("2026-03-01", "2026-05-31"));
    assert_eq!(freeze.lifted_from, "");

    // A grant dated inside the plan is refused, naming the freeze; one after it is taken.
    let refused = grant(&mut mesh, "grant-in-pip", "e-3", "pto", "2", "2026-04-15")
        .await
        .expect_err("accruals are frozen");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let (reason, metadata) = reason_of(&refused);
    assert_eq!(reason, "ACCRUALS_FROZEN");
    assert_eq!(metadata["freeze_id"], freeze.freeze_id);
    assert_eq!(metadata["reference"], pip_id);
    for day in ["2026-03-01", "2026-05-31"] {
        let edge = grant(&mut mesh, &format!("grant-{day}"), "e-3", "pto", "1", day)
            .await
            .expect_err("both ends of the plan are frozen");
        assert_eq!(reason_of(&edge).0, "ACCRUALS_FROZEN", "{day}");
    }
    grant(
        &mut mesh,
        "grant-after-pip",
        "e-3",
        "pto",
        "2",
        "2026-06-01",
    )
    .await
    .expect("a grant after the plan");
    assert_eq!(mesh.balance("e-3").await.balance, "12");

    // The scheduled accruals skip the frozen months: January, February and June accrue.
    let run = mesh
        .ledger
        .run_accruals(lpb::RunAccrualsRequest {
            request_id: "run-e-3".into(),
            up_to_date: "2026-06-30".into(),
            employee_id: "e-3".into(),
            policy_id: String::new(),
        })
        .await
        .expect("run accruals")
        .into_inner();
    let periods_2026: Vec<String> = run
        .entries
        .iter()
        .filter_map(|entry| entry.period.as_ref())
        .map(|period| period.start_date.clone())
        .filter(|start| start.starts_with("2026-"))
        .collect();
    assert_eq!(
        periods_2026,
        vec!["2026-01-01", "2026-02-01", "2026-06-01"],
        "{run:?}"
    );

    let inbox = mesh.inbox("e-3").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].template, "pip.initiated");
    mesh.stop().await;
}

async fn a_refused_freeze_cancels_the_plan(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    // The policy exists, but e-5 was never assigned it: the ledger refuses the freeze.
    mesh.pto("e-1", "10").await;
    let saga = mesh
        .run_saga(
            "pip-unassigned-bonus",
            initiate_pip(
                "e-5",
                "m-1",
                date("2026-03-01"),
                date("2026-05-31"),
                date("2026-03-15"),
                "pto",
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
            StepStatus::Pending
        ]
    );
    assert_eq!(kinds(&saga), vec!["succeeded", "rejected", "compensated"]);
    assert!(saga.reason.contains("never assigned"), "{}", saga.reason);
    let plans = pips(&mut mesh, "e-5").await;
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].status, ppb::PipStatus::Cancelled as i32);
    assert_eq!(plans[0].pip_id, saga.steps[0].output["pip_id"]);
    assert!(freezes(&mut mesh, "e-5").await.is_empty());
    assert!(mesh.inbox("e-5").await.is_empty(), "nobody was told");
    mesh.stop().await;
}

/// The freeze lands but its answer is lost: the saga gives up going forward, learns from the
/// ledger (the same call again) which freeze it made, lifts it from its start and cancels the plan.
async fn a_freeze_whose_answer_was_lost_is_undone_with_the_plan(backend: Backend) {
    let (mut mesh, faults) = mesh_with_lossy_ledger(backend).await;
    mesh.pto("e-7", "10").await;
    faults.lose_answers_of("freeze_accruals");
    let saga = mesh
        .start_saga(
            "pip-lost-freeze",
            initiate_pip(
                "e-7",
                "m-1",
                date("2026-03-01"),
                date("2026-05-31"),
                date("2026-03-15"),
                "pto",
            ),
        )
        .await;
    mesh.until_logged(&saga.saga_id, "abandoned").await;
    faults.heal();
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Compensated as i32, "{done:?}");
    assert!(done.reason.contains("retry budget"), "{}", done.reason);
    assert!(faults.forwarded("freeze_accruals") > 1, "it was re-driven");
    assert_eq!(
        statuses(&done),
        vec![
            StepStatus::Compensated,
            StepStatus::Compensated,
            StepStatus::Pending
        ]
    );
    // The one freeze made (the re-drive made no second one) is undone entirely.
    let frozen = freezes(&mut mesh, "e-7").await;
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    assert_eq!(frozen[0].lifted_from, "2026-03-01", "lifted from its start");
    grant(
        &mut mesh,
        "grant-after-undo",
        "e-7",
        "pto",
        "2",
        "2026-04-15",
    )
    .await
    .expect("nothing is frozen any more");
    let plans = pips(&mut mesh, "e-7").await;
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].status, ppb::PipStatus::Cancelled as i32);
    assert!(mesh.inbox("e-7").await.is_empty());
    mesh.stop().await;
}

// ---- conclude-pip

async fn conclude_pip_lifts_or_extends_the_freeze_and_tells_both(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    // Plans that run today, so lifting the freeze from the day conclude-pip runs changes it.
    let today = chrono::Utc::now().date_naive();
    let (start_day, end_day) = (today - days(30), today + days(60));
    mesh.pto("e-3", "10").await;
    mesh.pto("e-4", "10").await;
    let mut plans = Vec::new();
    for employee in ["e-3", "e-4"] {
        let saga = mesh
            .run_saga(
                &format!("pip-{employee}"),
                initiate_pip(employee, "m-1", start_day, end_day, today + days(7), "pto"),
            )
            .await
            .expect("initiate");
        assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
        plans.push(saga.steps[0].output["pip_id"].clone());
    }

    // e-3's plan succeeds: completed, the freeze lifted from today, both told.
    let concluded = mesh
        .run_saga(
            "conclude-e-3",
            conclude_pip(&plans[0], "e-3", ppb::PipOutcome::Successful, None),
        )
        .await
        .expect("conclude");
    assert_eq!(
        concluded.state,
        SagaState::Completed as i32,
        "{concluded:?}"
    );
    assert_eq!(concluded.r#type, SagaType::ConcludePip as i32);
    assert_eq!(
        step_names(&concluded),
        vec![
            "record-outcome",
            "lift-freeze",
            "notify-employee",
            "notify-manager"
        ]
    );
    assert_eq!(statuses(&concluded), vec![StepStatus::Succeeded; 4]);
    let completed = pip(&mut mesh, &plans[0]).await;
    assert_eq!(completed.status, ppb::PipStatus::Completed as i32);
    assert_eq!(completed.outcome, ppb::PipOutcome::Successful as i32);
    let frozen = freezes(&mut mesh, "e-3").await;
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    assert_eq!(frozen[0].lifted_from, text(created_on(&concluded)));
    assert_eq!(frozen[0].dates, range(&text(start_day), &text(end_day)));
    grant(
        &mut mesh,
        "grant-after-lift",
        "e-3",
        "pto",
        "1",
        &text(end_day),
    )
    .await
    .expect("the rest of the plan accrues again");
    let refused = grant(
        &mut mesh,
        "grant-before-lift",
        "e-3",
        "pto",
        "1",
        &text(start_day),
    )
    .await
    .expect_err("the days before the lift stay frozen");
    assert_eq!(reason_of(&refused).0, "ACCRUALS_FROZEN");
    for (recipient, initiated) in [("e-3", 1), ("m-1", 0)] {
        let inbox = mesh.inbox(recipient).await;
        let concluded: Vec<_> = inbox
            .iter()
            .filter(|n| n.template == "pip.concluded")
            .collect();
        assert_eq!(concluded.len(), 1, "{recipient}: {inbox:?}");
        assert!(
            concluded[0].body.contains("e-3") && concluded[0].body.contains("successful"),
            "{}",
            concluded[0].body
        );
        assert!(concluded[0].body.contains(&text(end_day)));
        assert_eq!(
            inbox
                .iter()
                .filter(|n| n.template == "pip.initiated")
                .count(),
            initiated,
            "{recipient}"
        );
    }

    // e-4's plan is extended: still active with the new end, the freeze extended to it.
    let new_end = end_day + days(30);
    let extended = mesh
        .run_saga(
            "extend-e-4",
            conclude_pip(&plans[1], "e-4", ppb::PipOutcome::Extended, Some(new_end)),
        )
        .await
        .expect("extend");
    assert_eq!(extended.state, SagaState::Completed as i32, "{extended:?}");
    let active = pip(&mut mesh, &plans[1]).await;
    assert_eq!(active.status, ppb::PipStatus::Active as i32);
    assert_eq!(active.end_date, text(new_end));
    assert_eq!(active.outcomes.len(), 1);
    let frozen = freezes(&mut mesh, "e-4").await;
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    assert_eq!(frozen[0].dates, range(&text(start_day), &text(new_end)));
    assert_eq!(frozen[0].lifted_from, "", "extended, not lifted");
    let refused = grant(
        &mut mesh,
        "grant-in-extension",
        "e-4",
        "pto",
        "1",
        &text(new_end),
    )
    .await
    .expect_err("the extension is frozen");
    assert_eq!(reason_of(&refused).0, "ACCRUALS_FROZEN");
    let told: Vec<_> = mesh
        .inbox("e-4")
        .await
        .into_iter()
        .filter(|n| n.template == "pip.concluded")
        .collect();
    assert_eq!(told.len(), 1);
    assert!(
        told[0].body.contains("extended") && told[0].body.contains(&text(new_end)),
        "{}",
        told[0].body
    );
    assert_eq!(
        mesh.inbox("m-1")
            .await
            .iter()
            .filter(|n| n.template == "pip.concluded")
            .count(),
        2,
        "the manager is told of both"
    );

    // Then it ends unsuccessfully: the extended freeze is lifted from today.
    let ended = mesh
        .run_saga(
            "end-e-4",
            conclude_pip(&plans[1], "e-4", ppb::PipOutcome::Unsuccessful, None),
        )
        .await
        .expect("end");
    assert_eq!(ended.state, SagaState::Completed as i32, "{ended:?}");
    assert_eq!(
        pip(&mut mesh, &plans[1]).await.status,
        ppb::PipStatus::Completed as i32
    );
    let frozen = freezes(&mut mesh, "e-4").await;
    assert_eq!(frozen[0].lifted_from, text(created_on(&ended)));
    assert_eq!(frozen[0].dates, range(&text(start_day), &text(new_end)));
    mesh.stop().await;
}

/// A manager of e-9 concludes e-8's plan through a saga about e-9: performance refuses the
/// record at the pivot, nothing changes anywhere.
async fn conclude_pip_of_another_employees_plan_changes_nothing(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    let today = chrono::Utc::now().date_naive();
    mesh.pto("e-8", "10").await;
    mesh.pto("e-9", "10").await;
    let theirs = mesh
        .run_saga(
            "pip-e-8",
            initiate_pip(
                "e-8",
                "m-1",
                today - days(30),
                today + days(60),
                today + days(7),
                "pto",
            ),
        )
        .await
        .expect("initiate");
    assert_eq!(theirs.state, SagaState::Completed as i32, "{theirs:?}");
    let pip_id = theirs.steps[0].output["pip_id"].clone();
    let freezes_before = freezes(&mut mesh, "e-8").await;

    let mut m2 = mesh.manager_sagas("m-2", &["e-9"]);
    for (request_id, outcome, new_end) in [
        ("steal-success", ppb::PipOutcome::Successful, None),
        (
            "steal-extend",
            ppb::PipOutcome::Extended,
            Some(today + days(90)),
        ),
    ] {
        let mut request = tonic::Request::new(StartSagaRequest {
            request_id: request_id.into(),
            wait: true,
            input: Some(conclude_pip(&pip_id, "e-9", outcome, new_end)),
        });
        request.set_timeout(Duration::from_secs(20));
        let saga = m2
            .start_saga(request)
            .await
            .expect("the start is allowed: m-2 manages e-9")
            .into_inner();
        assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:?}");
        assert!(
            saga.reason.contains("RECORD_OF_ANOTHER_EMPLOYEE"),
            "{}",
            saga.reason
        );
        assert_eq!(
            statuses(&saga),
            vec![
                StepStatus::Rejected,
                StepStatus::Pending,
                StepStatus::Pending,
                StepStatus::Pending
            ]
        );
    }
    let untouched = pip(&mut mesh, &pip_id).await;
    assert_eq!(untouched.status, ppb::PipStatus::Active as i32);
    assert!(untouched.outcomes.is_empty(), "{untouched:?}");
    assert_eq!(untouched.end_date, text(today + days(60)));
    assert_eq!(freezes(&mut mesh, "e-8").await, freezes_before);
    assert!(freezes(&mut mesh, "e-9").await.is_empty());
    for recipient in ["e-8", "e-9", "m-1", "m-2"] {
        assert!(
            !mesh
                .inbox(recipient)
                .await
                .iter()
                .any(|n| n.template == "pip.concluded"),
            "{recipient} was told nothing"
        );
    }
    mesh.stop().await;
}

// ---- offboard-employee

/// e-6: pto (10 days) and sick (4.5 days); holds on pto of 2 days before the last day (June
/// 30th), 3 days across it and 2 days after it; an annual review waiting for the manager.
/// Answers the holds (before, across, after) and the review.
async fn leaver(mesh: &mut Mesh) -> ([String; 3], String) {
    mesh.pto("e-6", "10").await;
    create_policy(mesh, "sick", "sick", lpb::AccrualFrequency::Annual, "10", 1).await;
    assign(mesh, "e-6", "sick", "2020-01-01").await;
    grant(mesh, "sick-e-6", "e-6", "sick", "4.5", "2026-01-31")
        .await
        .expect("sick days");
    let before = hold(mesh, "e-6", "pto", "2026-06-22", "2026-06-23").await;
    let across = hold(mesh, "e-6", "pto", "2026-06-29", "2026-07-01").await;
    let after = hold(mesh, "e-6", "pto", "2026-07-06", "2026-07-07").await;
    let review = mesh.review_in_manager_review("e-6").await;
    assert_eq!(
        available(mesh, "e-6").await,
        vec![("pto".into(), "3".into()), ("sick".into(), "4.5".into())]
    );
    ([before, across, after], review)
}

async fn offboarding_resolves_the_holds_ends_every_assignment_and_settles_every_policy(
    backend: Backend,
) {
    let mut mesh = Mesh::start(backend).await;
    let ([before, across, after], review) = leaver(&mut mesh).await;
    let saga = mesh
        .run_saga("offboard-e-6", offboard("e-6", "2026-06-30"))
        .await
        .expect("offboard");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(
        step_names(&saga),
        vec![
            "close-records",
            "end-assignments",
            "read-balances",
            "settle-balances",
            "notify-employee",
            "notify-hr"
        ]
    );
    assert_eq!(statuses(&saga), vec![StepStatus::Succeeded; 6]);

    // The holds with a day after the last day are voided, the one before it posted.
    assert_eq!(hold_state(&mut mesh, &before).await, lpb::HoldState::Posted);
    assert_eq!(hold_state(&mut mesh, &across).await, lpb::HoldState::Voided);
    assert_eq!(hold_state(&mut mesh, &after).await, lpb::HoldState::Voided);
    let ended = &saga.steps[1].output;
    assert_eq!(ended["ended_assignments"], "2");
    assert_eq!(ended["posted_hold_ids"], before);
    let mut voided: Vec<&str> = ended["voided_hold_ids"].split(',').collect();
    voided.sort_unstable();
    let mut expected = vec![across.as_str(), after.as_str()];
    expected.sort_unstable();
    assert_eq!(voided, expected);
    // Every assignment ends on the last day.
    let ends: Vec<(String, String)> = assignments(&mut mesh, "e-6")
        .await
        .into_iter()
        .map(|a| (a.policy_id, a.effective_to))
        .collect();
    assert_eq!(
        ends,
        vec![
            ("pto".into(), "2026-06-30".into()),
            ("sick".into(), "2026-06-30".into())
        ]
    );

    // The balances were read after the holds were resolved: pto 10 - 2 posted = 8; then one
    // batch settled each policy with one payout of -available.
    assert_eq!(saga.steps[2].output["available"], "pto=8,sick=4.5");
    let settlements: Vec<lpb::Entry> = mesh
        .entries("e-6")
        .await
        .into_iter()
        .filter(|e| e.kind == lpb::EntryKind::Payout as i32)
        .collect();
    let settled: Vec<(&str, &str, &str)> = settlements
        .iter()
        .map(|e| {
            (
                e.policy_id.as_str(),
                e.amount.as_str(),
                e.effective_date.as_str(),
            )
        })
        .collect();
    assert_eq!(
        settled,
        vec![("pto", "-8", "2026-06-30"), ("sick", "-4.5", "2026-06-30")]
    );
    assert!(settlements.iter().all(|e| e.reason == "offboarding payout"
        && e.reference == saga.saga_id
        && e.request_id == settlements[0].request_id));
    for balance in balances(&mut mesh, "e-6").await {
        assert_eq!(
            (balance.available.as_str(), balance.pending.as_str()),
            ("0", "0"),
            "{balance:?}"
        );
    }
    assert_eq!(mesh.balance("e-6").await.consumed, "2");

    // The records are closed; the employee and HR are told what was settled.
    assert_eq!(
        mesh.review_state(&review).await.state,
        ppb::ReviewState::Closed as i32
    );
    for recipient in ["e-6", "hr-1"] {
        let inbox = mesh.inbox(recipient).await;
        assert_eq!(inbox.len(), 1, "{recipient}: {inbox:?}");
        assert_eq!(inbox[0].template, "employee.offboarded");
        assert!(
            inbox[0]
                .body
                .contains("pto: 8 day(s) paid out; sick: 4.5 day(s) paid out"),
            "{}",
            inbox[0].body
        );
    }
    mesh.stop().await;
}

/// The settlement lands but its answer is lost until the saga gives up going forward: it learns
/// from the ledger which entries it appended, reverses them, restores the assignments' ends and
/// reopens the records. The holds stay as end-assignments resolved them.
async fn offboarding_undone_after_the_settlement_restores_all_but_the_holds(backend: Backend) {
    let (mut mesh, faults) = mesh_with_lossy_ledger(backend).await;
    let ([before, across, after], review) = leaver(&mut mesh).await;
    let goal = mesh
        .performance
        .create_goal(ppb::CreateGoalRequest {
            request_id: "goal-e-6".into(),
            employee_id: "e-6".into(),
            title: "Hand over the payroll export".into(),
            target_date: "2026-06-30".into(),
            weight: 10,
            ..Default::default()
        })
        .await
        .expect("goal")
        .into_inner();
    faults.lose_answers_of("append_entries");
    let saga = mesh
        .start_saga("offboard-lost", offboard("e-6", "2026-06-30"))
        .await;
    mesh.until_logged(&saga.saga_id, "abandoned").await;
    faults.heal();
    let done = mesh.settled(&saga.saga_id).await;
    assert_eq!(done.state, SagaState::Compensated as i32, "{done:?}");
    assert!(done.reason.contains("retry budget"), "{}", done.reason);
    assert_eq!(
        statuses(&done),
        vec![
            StepStatus::Compensated,
            StepStatus::Compensated,
            StepStatus::Compensated,
            StepStatus::Compensated,
            StepStatus::Pending,
            StepStatus::Pending
        ]
    );
    let abandoned = done
        .history
        .iter()
        .find(|e| e.kind == "abandoned")
        .expect("abandoned");
    assert_eq!(abandoned.step, 3, "settle-balances gave up");

    // The settlement landed once and is reversed entry by entry.
    let entries = mesh.entries("e-6").await;
    let adjustments: Vec<&lpb::Entry> = entries
        .iter()
        .filter(|e| e.kind == lpb::EntryKind::Payout as i32)
        .collect();
    let settled: Vec<(&str, &str)> = adjustments
        .iter()
        .map(|e| (e.policy_id.as_str(), e.amount.as_str()))
        .collect();
    assert_eq!(
        settled,
        vec![("pto", "-8"), ("sick", "-4.5")],
        "{entries:?}"
    );
    let mut reversed: Vec<(i64, &str)> = entries
        .iter()
        .filter(|e| e.kind == lpb::EntryKind::Reversal as i32)
        .map(|e| (e.reverses_entry_id, e.amount.as_str()))
        .collect();
    reversed.sort_unstable();
    assert_eq!(
        reversed,
        vec![
            (adjustments[0].entry_id, "8"),
            (adjustments[1].entry_id, "4.5")
        ]
    );
    assert_eq!(
        available(&mut mesh, "e-6").await,
        vec![("pto".into(), "8".into()), ("sick".into(), "4.5".into())]
    );

    // The assignments are open-ended again; the records are reopened as they were.
    let ends: Vec<(String, String)> = assignments(&mut mesh, "e-6")
        .await
        .into_iter()
        .map(|a| (a.policy_id, a.effective_to))
        .collect();
    assert_eq!(
        ends,
        vec![
            ("pto".into(), String::new()),
            ("sick".into(), String::new())
        ]
    );
    assert_eq!(
        mesh.review_state(&review).await.state,
        ppb::ReviewState::ManagerReview as i32
    );
    let reopened = goals(&mut mesh, "e-6").await;
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].goal_id, goal.goal_id);
    assert_eq!(reopened[0].status, goal.status, "{reopened:?}");

    // A hold resolves once: the posted one stays posted, the voided ones voided.
    assert_eq!(hold_state(&mut mesh, &before).await, lpb::HoldState::Posted);
    assert_eq!(hold_state(&mut mesh, &across).await, lpb::HoldState::Voided);
    assert_eq!(hold_state(&mut mesh, &after).await, lpb::HoldState::Voided);
    assert_eq!(mesh.balance("e-6").await.consumed, "2");
    assert!(mesh.inbox("e-6").await.is_empty() && mesh.inbox("hr-1").await.is_empty());
    mesh.stop().await;
}

/// A policy the employee was moved off before leaving still has days left: offboarding settles
/// every policy with a positive balance, that one too, and completes.
///
/// Fails today (a library bug, reported): settle-balances dates every settlement on the last day
/// (orchestrator/core/src/sagas/offboard_employee.rs, `effective_date: self.last_day`), the
/// ledger refuses an entry no assignment covers (participants/ledger/core/src/service.rs,
/// "has no assignment of policy … on …"), so the whole offboarding is compensated, every time.
async fn offboarding_settles_a_policy_whose_assignment_ended_earlier(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-12", "10").await;
    create_policy(
        &mut mesh,
        "pto-2025",
        "pto",
        lpb::AccrualFrequency::Monthly,
        "1.5",
        1,
    )
    .await;
    mesh.ledger
        .assign_policy(lpb::AssignPolicyRequest {
            request_id: "assign-e-12-pto-2025".into(),
            employee_id: "e-12".into(),
            policy_id: "pto-2025".into(),
            effective_from: "2015-01-01".into(),
            effective_to: "2019-12-31".into(),
        })
        .await
        .expect("an earlier assignment");
    grant(
        &mut mesh,
        "left-over",
        "e-12",
        "pto-2025",
        "3",
        "2019-12-31",
    )
    .await
    .expect("days left on the earlier policy");
    let saga = mesh
        .run_saga("offboard-e-12", offboard("e-12", "2026-06-30"))
        .await
        .expect("offboard");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    for balance in balances(&mut mesh, "e-12").await {
        assert_eq!(balance.available, "0", "{balance:?}");
    }
    let hr = mesh.inbox("hr-1").await;
    assert_eq!(hr.len(), 1);
    assert!(
        hr[0]
            .body
            .contains("pto: 10 day(s) paid out; pto-2025: 3 day(s) paid out"),
        "{}",
        hr[0].body
    );
    mesh.stop().await;
}

// ---- onboard-employee

async fn onboarding_assigns_every_policy_and_accrues_each_first_period_by_its_rule(
    backend: Backend,
) {
    let mut mesh = Mesh::start(backend).await;
    create_policy(
        &mut mesh,
        "pto",
        "pto",
        lpb::AccrualFrequency::Monthly,
        "1.75",
        0,
    )
    .await;
    // Policy years from April to March.
    create_policy(
        &mut mesh,
        "sick",
        "sick",
        lpb::AccrualFrequency::Annual,
        "10",
        4,
    )
    .await;
    let saga = mesh
        .run_saga(
            "onboard-e-10",
            Input::OnboardEmployee(OnboardEmployeeInput {
                employee_id: "e-10".into(),
                manager_id: "m-1".into(),
                policy_id: "pto".into(),
                policy_ids: vec!["sick".into()],
                start_date: "2026-02-10".into(),
                probation_review_due_date: "2026-05-10".into(),
                starter_goals: vec![
                    "Learn the payroll stack".into(),
                    "Ship a fix".into(),
                    "Pair on an incident".into(),
                ],
                ..Default::default()
            }),
        )
        .await
        .expect("onboard");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(
        step_names(&saga),
        vec![
            "assign-policies",
            "first-accrual",
            "probation-review",
            "starter-goals",
            "welcome"
        ]
    );
    assert_eq!(statuses(&saga), vec![StepStatus::Succeeded; 5]);

    // Both policies from the start date, open-ended.
    let assigned: Vec<(String, String, String)> = assignments(&mut mesh, "e-10")
        .await
        .into_iter()
        .map(|a| (a.policy_id, a.effective_from, a.effective_to))
        .collect();
    let mut assigned_sorted = assigned.clone();
    assigned_sorted.sort();
    assert_eq!(
        assigned_sorted,
        vec![
            ("pto".into(), "2026-02-10".into(), String::new()),
            ("sick".into(), "2026-02-10".into(), String::new())
        ]
    );
    let ids: Vec<&str> = saga.steps[0].output["assignment_ids"].split(',').collect();
    assert_eq!(ids.len(), 2, "{:?}", saga.steps[0].output);

    // The first period of each, in advance on the start date, prorated (rounded down to the
    // thousandth): pto 1.75 * 19/28 days of February = 1.1875; sick 10 * 50/365 days of the
    // policy year 2025-04-01..2026-03-31 = 1.369863...
    let mut accrued: Vec<(String, String, String, Option<DateRange>)> = mesh
        .entries("e-10")
        .await
        .into_iter()
        .map(|e| {
            assert_eq!(e.kind, lpb::EntryKind::Accrual as i32, "{e:?}");
            (e.policy_id, e.amount, e.effective_date, e.period)
        })
        .collect();
    accrued.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        accrued,
        vec![
            (
                "pto".into(),
                "1.187".into(),
                "2026-02-10".into(),
                range("2026-02-01", "2026-02-28")
            ),
            (
                "sick".into(),
                "1.369".into(),
                "2026-02-10".into(),
                range("2025-04-01", "2026-03-31")
            ),
        ]
    );
    assert_eq!(saga.steps[1].output["accrual_entries"], "2");
    // Only the first periods: the next run up to March accrues March's pto, whole, and no sick.
    let run = mesh
        .ledger
        .run_accruals(lpb::RunAccrualsRequest {
            request_id: "run-e-10".into(),
            up_to_date: "2026-03-01".into(),
            employee_id: "e-10".into(),
            policy_id: String::new(),
        })
        .await
        .expect("run")
        .into_inner();
    let next: Vec<(&str, &str)> = run
        .entries
        .iter()
        .map(|e| (e.policy_id.as_str(), e.amount.as_str()))
        .collect();
    assert_eq!(next, vec![("pto", "1.75")]);

    // The probation review, the goals under it, the welcome.
    let review = reviews(&mut mesh, "e-10").await;
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].review_id, saga.steps[2].output["review_id"]);
    assert_eq!(review[0].cycle, ppb::ReviewCycle::Probation as i32);
    assert_eq!(review[0].manager_id, "m-1");
    assert_eq!(review[0].period_start, "2026-02-10");
    assert_eq!(review[0].due_date, "2026-05-10");
    let mut weights: Vec<(String, u32)> = goals(&mut mesh, "e-10")
        .await
        .into_iter()
        .map(|g| {
            assert_eq!(g.review_id, review[0].review_id);
            assert_eq!(g.target_date, "2026-05-10");
            (g.title, g.weight)
        })
        .collect();
    weights.sort();
    assert_eq!(
        weights,
        vec![
            ("Learn the payroll stack".into(), 34),
            ("Pair on an incident".into(), 33),
            ("Ship a fix".into(), 33)
        ]
    );
    let inbox = mesh.inbox("e-10").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].template, "employee.onboarded");
    assert!(inbox[0].body.contains("2026-05-10"), "{}", inbox[0].body);
    mesh.stop().await;
}

/// The pivot assigns every policy or none: when the ledger refuses one of them (here a policy
/// that does not exist), the saga ends compensated and leaves no assignment behind, so the
/// corrected onboarding goes through.
///
/// Fails today (a library bug, reported): assign-policies is a pivot made of one AssignPolicy call
/// per policy (orchestrator/server/src/adapter.rs, `C::AssignPolicies`); a refusal of a later one
/// is reported as the pivot's rejection after the earlier ones landed, and a pivot has no undo. The
/// assignment of `pto` stays, and the corrected onboarding is refused ASSIGNMENT_OVERLAPS.
async fn a_refused_policy_assigns_none_of_them(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    create_policy(
        &mut mesh,
        "pto",
        "pto",
        lpb::AccrualFrequency::Monthly,
        "1.75",
        0,
    )
    .await;
    let onboard = |policies: &[&str]| {
        Input::OnboardEmployee(OnboardEmployeeInput {
            employee_id: "e-13".into(),
            manager_id: "m-1".into(),
            policy_ids: policies.iter().map(|p| (*p).to_owned()).collect(),
            start_date: "2026-02-01".into(),
            probation_review_due_date: "2026-05-01".into(),
            ..Default::default()
        })
    };
    let refused = mesh
        .run_saga("onboard-e-13-typo", onboard(&["pto", "no-such-policy"]))
        .await
        .expect("saga");
    assert_eq!(refused.state, SagaState::Compensated as i32, "{refused:?}");
    assert_eq!(statuses(&refused)[0], StepStatus::Rejected);
    assert!(
        assignments(&mut mesh, "e-13").await.is_empty(),
        "a compensated onboarding assigned nothing"
    );
    assert!(mesh.entries("e-13").await.is_empty());

    let corrected = mesh
        .run_saga("onboard-e-13", onboard(&["pto"]))
        .await
        .expect("saga");
    assert_eq!(
        corrected.state,
        SagaState::Completed as i32,
        "{corrected:?}"
    );
    assert_eq!(assignments(&mut mesh, "e-13").await.len(), 1);
    mesh.stop().await;
}

/// A review completed while a PIP freezes the bonus policy completes without the bonus: the
/// refused grant is no bonus due, not a reason to reopen the review.
async fn a_review_completed_during_a_pip_grants_no_bonus(backend: Backend) {
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-4", "10").await;
    let today = chrono::Utc::now().date_naive();
    let plan = mesh
        .run_saga(
            "pip-before-review",
            initiate_pip(
                "e-4",
                "m-1",
                today,
                today + days(60),
                today + days(14),
                "pto",
            ),
        )
        .await
        .expect("pip");
    assert_eq!(plan.state, SagaState::Completed as i32, "{plan:?}");
    let review_id = mesh.review_by("e-4", "m-1").await;
    let saga = mesh
        .run_saga(
            "review-during-pip",
            complete_review(&review_id, "e-4", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("review");
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    assert_eq!(
        saga.steps[1]
            .output
            .get("entry_id")
            .map(String::as_str)
            .unwrap_or_default(),
        "",
        "no bonus entry: {:?}",
        saga.steps[1]
    );
    assert_eq!(mesh.balance("e-4").await.balance, "10", "no bonus days");
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        ppb::ReviewState::Completed as i32
    );
    mesh.stop().await;
}

hrmesh_mesh::test_on_every_backend!(
    a_review_completed_during_a_pip_grants_no_bonus,
    initiate_pip_freezes_the_bonus_accrual_over_the_plan,
    a_refused_freeze_cancels_the_plan,
    a_freeze_whose_answer_was_lost_is_undone_with_the_plan,
    conclude_pip_lifts_or_extends_the_freeze_and_tells_both,
    conclude_pip_of_another_employees_plan_changes_nothing,
    offboarding_resolves_the_holds_ends_every_assignment_and_settles_every_policy,
    offboarding_undone_after_the_settlement_restores_all_but_the_holds,
    offboarding_settles_a_policy_whose_assignment_ended_earlier,
    onboarding_assigns_every_policy_and_accrues_each_first_period_by_its_rule,
    a_refused_policy_assigns_none_of_them,
);

/// The inputs the new steps no longer take, or take only once, are refused with their fields
/// named; nothing is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_refuses_a_first_accrual_and_repeated_policies() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    #[allow(deprecated)]
    let with_days = OnboardEmployeeInput {
        employee_id: "e-11".into(),
        manager_id: "m-1".into(),
        policy_ids: vec!["pto".into()],
        start_date: "2026-02-01".into(),
        first_accrual_days: "1.75".into(),
        probation_review_due_date: "2026-05-01".into(),
        ..Default::default()
    };
    let cases = [
        (
            "a first accrual",
            with_days.clone(),
            "onboard_employee.first_accrual_days",
        ),
        (
            "a policy twice",
            OnboardEmployeeInput {
                policy_id: "pto".into(),
                policy_ids: vec!["sick".into(), "pto".into()],
                ..Default::default()
            },
            "onboard_employee.policy_ids[1]",
        ),
        (
            "no policy",
            OnboardEmployeeInput {
                policy_ids: vec![],
                ..Default::default()
            },
            "onboard_employee.policy_ids",
        ),
    ];
    for (n, (case, change, field)) in cases.into_iter().enumerate() {
        #[allow(deprecated)]
        let input = OnboardEmployeeInput {
            policy_id: change.policy_id,
            policy_ids: change.policy_ids,
            first_accrual_days: change.first_accrual_days,
            ..with_days.clone()
        };
        let status = mesh
            .run_saga(&format!("bad-onboard-{n}"), Input::OnboardEmployee(input))
            .await
            .expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        let details = status.get_error_details();
        let fields: Vec<String> = details
            .bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, vec![field.to_owned()], "{case}");
    }
    // Offboarding settles every policy: one named by an old caller is refused, not ignored.
    #[allow(deprecated)]
    let one_policy = OffboardEmployeeInput {
        policy_id: "pto".into(),
        ..match offboard("e-1", "2026-06-30") {
            Input::OffboardEmployee(input) => input,
            _ => unreachable!("an offboarding"),
        }
    };
    let status = mesh
        .run_saga("bad-offboard", Input::OffboardEmployee(one_policy))
        .await
        .expect_err("a policy named");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let fields: Vec<String> = details
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, vec!["offboard_employee.policy_id".to_owned()]);
    let listed = mesh
        .saga
        .list_sagas(ListSagasRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.sagas.is_empty(), "nothing was started");
    mesh.stop().await;
}
