//! The executor over fakes of its two ports: an in-memory saga log with the real log's fencing,
//! and scripted participants. What the executor calls, in which order, what it logs, and how it
//! ends are checked without any network or database.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hrmesh_domain::{EmployeeId, Violations};
use hrmesh_orchestrator_server::executor::{Engine, EngineConfig, OperatorAction, Snapshot};
use hrmesh_orchestrator_server::ports::{Call, Committed, LogPort, ParticipantPort};
use hrmesh_saga_core::codec::{self, SagaStart};
use hrmesh_saga_core::command::{Rating, ReviewSection};
use hrmesh_saga_core::ids::{PolicyId, RecordId};
use hrmesh_saga_core::sagas::CompleteReview;
use hrmesh_saga_core::{
    Budget, CallOutcome, CommandKind, Event, Policy, SagaInput, SagaState, StepOutput,
};
use hrmesh_saga_store::{
    Append, Created, Fence, ListFilter, LogError, LoggedEvent, NewSaga, SagaRecord,
};

/// The saga log in memory, fenced like the real one: an append applies only on the event count
/// its writer read and, while the saga runs, for the lease holder.
#[derive(Default)]
struct FakeLog {
    sagas: Mutex<BTreeMap<String, (SagaRecord, Vec<LoggedEvent>)>>,
}

#[async_trait::async_trait]
impl LogPort for FakeLog {
    async fn commit(&self, creates: &[NewSaga], appends: &[Append]) -> Result<Committed, LogError> {
        let mut sagas = self.sagas.lock().expect("lock");
        let mut appended = Vec::new();
        for append in appends {
            let Some((record, events)) = sagas.get_mut(&append.saga_id) else {
                appended.push(Err(LogError::NotFound(append.saga_id.clone())));
                continue;
            };
            let fenced = match &append.fence {
                Fence::Owner(owner) => {
                    record.owner.as_deref() == Some(owner.as_str())
                        && matches!(record.state, SagaState::Running | SagaState::Compensating)
                }
                Fence::Stuck => record.state == SagaState::Stuck,
            };
            if !fenced || record.events != append.after {
                appended.push(Err(LogError::LostLease {
                    saga_id: append.saga_id.clone(),
                }));
                continue;
            }
            for (at, event) in &append.events {
                record.events += 1;
                events.push(LoggedEvent {
                    seq: record.events,
                    at: *at,
                    event: event.clone(),
                });
            }
            record.state = append.state;
            record.reason = append.reason.clone();
            record.owner = append.owner.clone();
            record.lease_until = append.lease_until;
            record.updated_at = append.now;
            appended.push(Ok(()));
        }
        let mut created = Vec::new();
        for new in creates {
            if let Some((existing, _)) =
                sagas.values().find(|(r, _)| r.request_id == new.request_id)
            {
                created.push(Ok(Created::Existing(existing.clone())));
                continue;
            }
            let record = SagaRecord {
                id: new.id.clone(),
                saga_type: new.saga_type.clone(),
                state: SagaState::Running,
                employee_id: new.employee_id.clone(),
                lock: new.lock,
                request_id: new.request_id.clone(),
                input: new.input.clone(),
                log_version: codec::LOG_VERSION,
                reason: String::new(),
                events: 0,
                owner: Some(new.owner.clone()),
                lease_until: Some(new.lease_until),
                created_at: new.now,
                updated_at: new.now,
            };
            sagas.insert(new.id.clone(), (record.clone(), Vec::new()));
            created.push(Ok(Created::New(record)));
        }
        Ok((created, appended))
    }

    async fn get(&self, id: &str) -> Result<Option<(SagaRecord, Vec<LoggedEvent>)>, LogError> {
        Ok(self.sagas.lock().expect("lock").get(id).cloned())
    }

    async fn events(&self, saga: &SagaRecord, after: u64) -> Result<Vec<LoggedEvent>, LogError> {
        Ok(self
            .sagas
            .lock()
            .expect("lock")
            .get(&saga.id)
            .map(|(_, events)| events.iter().filter(|e| e.seq > after).cloned().collect())
            .unwrap_or_default())
    }

    async fn renew(&self, _: &str, ids: &[String], _: DateTime<Utc>) -> Result<u64, LogError> {
        Ok(ids.len() as u64)
    }

    async fn claim(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: u64,
    ) -> Result<Vec<SagaRecord>, LogError> {
        Ok(Vec::new())
    }

    async fn list(
        &self,
        _: &ListFilter,
        _: Option<&str>,
        _: u64,
    ) -> Result<Vec<SagaRecord>, LogError> {
        Ok(self
            .sagas
            .lock()
            .expect("lock")
            .values()
            .map(|(r, _)| r.clone())
            .collect())
    }
}

/// Participants that answer from a script per kind of command (then `Done` with the command's
/// usual output), recording every call.
#[derive(Default)]
struct Scripted {
    script: Mutex<HashMap<CommandKind, VecDeque<CallOutcome>>>,
    calls: Mutex<Vec<(CommandKind, String, String)>>,
}

impl Scripted {
    fn answer(&self, kind: CommandKind, outcomes: impl IntoIterator<Item = CallOutcome>) {
        self.script
            .lock()
            .expect("lock")
            .entry(kind)
            .or_default()
            .extend(outcomes);
    }

    fn calls(&self) -> Vec<CommandKind> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .map(|(kind, _, _)| *kind)
            .collect()
    }
}

fn usual(kind: CommandKind) -> StepOutput {
    match kind {
        CommandKind::FinalizeReview => StepOutput::ReviewFinalized {
            manager_id: "m-1".into(),
            cycle: "annual".into(),
        },
        CommandKind::AppendEntry => StepOutput::Entry {
            entry_id: Some(7),
            amount: hrmesh_domain::Quantity::from_units(2),
        },
        CommandKind::Notify => StepOutput::Notified {
            notification_id: "n".into(),
        },
        _ => StepOutput::Nothing,
    }
}

#[async_trait::async_trait]
impl ParticipantPort for Scripted {
    async fn execute(&self, call: Call<'_>) -> CallOutcome {
        let kind = call.command.kind();
        self.calls.lock().expect("lock").push((
            kind,
            call.request_id.to_owned(),
            call.on_behalf_of.to_owned(),
        ));
        let scripted = self
            .script
            .lock()
            .expect("lock")
            .get_mut(&kind)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| CallOutcome::Done(usual(kind)))
    }
}

fn rounds(n: u32) -> Budget {
    Budget {
        rounds_max: n,
        elapsed_ms_max: u64::MAX,
    }
}

fn fake_engine(participants: Arc<Scripted>, policy: Policy) -> (Engine, Arc<FakeLog>) {
    let log = Arc::new(FakeLog::default());
    let (engine, _writer) = Engine::new(
        log.clone(),
        participants,
        hrmesh_orchestrator_server::convert::decode_start,
        EngineConfig {
            replica_id: "fake".into(),
            lease: std::time::Duration::from_secs(15),
            policy,
            round_backoff: std::time::Duration::from_millis(1),
            round_backoff_max: std::time::Duration::from_millis(2),
            linger: std::time::Duration::from_millis(1),
        },
    );
    (engine, log)
}

fn review_input() -> SagaInput {
    let mut v = Violations::default();
    SagaInput::CompleteReview(CompleteReview {
        review_id: RecordId::parse("r", "01937c90-5b1e-7a2c-8f3d-2e4b6a8c0d1f", &mut v)
            .expect("id"),
        employee_id: EmployeeId::parse("e", "e-1", &mut v).expect("id"),
        rating: Rating::Outstanding,
        sections: vec![ReviewSection {
            title: "Delivery".into(),
            body: "Shipped".into(),
        }],
        bonus_policy_id: PolicyId::parse("p", "pto", &mut v),
    })
}

/// Starts a complete-review saga as manager m-1 and waits until it is settled.
async fn run(engine: &Engine, request_id: &str) -> Snapshot {
    let input = review_input();
    let created = engine
        .create(NewSaga {
            id: uuid::Uuid::now_v7().to_string(),
            saga_type: input.saga_type().as_str().to_owned(),
            employee_id: "e-1".into(),
            lock: input.saga_type().definition().lock(),
            request_id: request_id.into(),
            input: codec::encode_start(&SagaStart {
                actor: "m-1".into(),
                input,
            }),
            owner: engine.replica_id().to_owned(),
            lease_until: engine.lease_until(),
            now: Utc::now(),
        })
        .await
        .expect("create");
    let Created::New(record) = created else {
        panic!("a new saga");
    };
    let id = record.id.clone();
    let mut watch = {
        engine.spawn(record, Vec::new(), None);
        engine.subscribe(&id)
    };
    settle(engine, &id, watch.as_mut()).await
}

async fn settle(
    engine: &Engine,
    id: &str,
    watch: Option<&mut tokio::sync::watch::Receiver<Arc<Snapshot>>>,
) -> Snapshot {
    if let Some(watch) = watch {
        loop {
            let snapshot = watch.borrow_and_update().as_ref().clone();
            if snapshot.is_settled() {
                return snapshot;
            }
            if watch.changed().await.is_err() {
                break;
            }
        }
    }
    engine.snapshot(id).await.expect("read").expect("saga")
}

fn kinds(snapshot: &Snapshot) -> Vec<&'static str> {
    snapshot
        .events
        .iter()
        .map(|e| match e.event {
            Event::StepSucceeded { .. } => "succeeded",
            Event::StepRejected { .. } => "rejected",
            Event::StepFailed { .. } => "failed",
            Event::StepAbandoned { .. } => "abandoned",
            Event::CompensationSucceeded { .. } => "compensated",
            Event::CompensationFailed { .. } => "compensation_failed",
            _ => "operator",
        })
        .collect()
}

/// A participant's "no" with `reason`, read as the adapter reads a real status.
fn no(reason: &str) -> CallOutcome {
    let status =
        hrmesh_mesh::status::with_reason(tonic::Code::FailedPrecondition, reason, "no", []);
    CallOutcome::Rejected(hrmesh_orchestrator_server::adapter::rejection(&status))
}

fn away() -> CallOutcome {
    CallOutcome::Unavailable("ledger: connection refused".into())
}

use CommandKind::*;

#[tokio::test]
async fn the_happy_path_calls_every_step_once_in_order_on_behalf_of_the_starter() {
    let participants = Arc::new(Scripted::default());
    let (engine, _log) = fake_engine(participants.clone(), Policy::default());
    let done = run(&engine, "happy").await;
    assert_eq!(done.record.state, SagaState::Completed);
    assert_eq!(
        participants.calls(),
        vec![FinalizeReview, AppendEntry, CompleteReview, Notify, Notify]
    );
    let calls = participants.calls.lock().expect("lock").clone();
    for (step, (_, key, actor)) in calls.iter().enumerate() {
        assert_eq!(key, &format!("saga:{}:{step}:do", done.record.id));
        assert_eq!(actor, "m-1");
    }
}

#[tokio::test]
async fn an_outage_within_the_budget_is_retried_and_nothing_is_compensated() {
    let participants = Arc::new(Scripted::default());
    participants.answer(AppendEntry, std::iter::repeat_with(away).take(5));
    let policy = Policy {
        forward: rounds(10),
        ..Policy::default()
    };
    let (engine, _log) = fake_engine(participants.clone(), policy);
    let done = run(&engine, "outage").await;
    assert_eq!(done.record.state, SagaState::Completed, "{:?}", done.record);
    assert_eq!(
        kinds(&done),
        vec![
            "succeeded",
            "failed",
            "failed",
            "failed",
            "failed",
            "failed",
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded"
        ]
    );
    assert!(!participants.calls().contains(&ReopenReview));
}

#[tokio::test]
async fn an_outage_past_the_forward_budget_gives_up_and_compensates_with_the_reason() {
    let participants = Arc::new(Scripted::default());
    // Three rounds without an answer; the re-driven call then answers, and is undone.
    participants.answer(AppendEntry, std::iter::repeat_with(away).take(3));
    let policy = Policy {
        forward: rounds(3),
        ..Policy::default()
    };
    let (engine, _log) = fake_engine(participants.clone(), policy);
    let done = run(&engine, "give-up").await;
    assert_eq!(done.record.state, SagaState::Compensated);
    assert!(
        done.record.reason.contains("retry budget"),
        "{}",
        done.record.reason
    );
    assert_eq!(
        kinds(&done),
        vec![
            "succeeded",
            "failed",
            "failed",
            "failed",
            "abandoned",
            "compensated",
            "compensated"
        ]
    );
    assert_eq!(
        participants.calls(),
        vec![
            FinalizeReview,
            AppendEntry,
            AppendEntry,
            AppendEntry,
            AppendEntry,
            ReverseEntry,
            ReopenReview
        ]
    );
}

#[tokio::test]
async fn a_rejection_compensates_at_once_in_reverse_order() {
    let participants = Arc::new(Scripted::default());
    participants.answer(CompleteReview, [no("REVIEW_LOCKED")]);
    let (engine, _log) = fake_engine(participants.clone(), Policy::default());
    let done = run(&engine, "rejected").await;
    assert_eq!(done.record.state, SagaState::Compensated);
    assert_eq!(
        participants.calls(),
        vec![
            FinalizeReview,
            AppendEntry,
            CompleteReview,
            ReverseEntry,
            ReopenReview
        ]
    );
}

#[tokio::test]
async fn a_fault_is_stuck_at_once_and_an_operator_retry_goes_on() {
    let participants = Arc::new(Scripted::default());
    participants.answer(
        AppendEntry,
        [CallOutcome::Fault(
            "ledger AppendEntries: Internal boom".into(),
        )],
    );
    let (engine, log) = fake_engine(participants.clone(), Policy::default());
    let stuck = run(&engine, "fault").await;
    assert_eq!(stuck.record.state, SagaState::Stuck);
    assert!(
        stuck.record.reason.contains("boom"),
        "{}",
        stuck.record.reason
    );
    assert_eq!(participants.calls(), vec![FinalizeReview, AppendEntry]);

    // Skipping a step before the pivot is refused: later steps would lack its output.
    let refused = engine
        .operator(
            &stuck.record.id,
            OperatorAction::Skip,
            "ops",
            "why",
            "skip-1",
        )
        .await
        .expect_err("not skippable");
    assert!(
        refused.to_string().contains("cannot be skipped"),
        "{refused}"
    );

    let retried = engine
        .operator(
            &stuck.record.id,
            OperatorAction::Retry,
            "ops",
            "",
            "retry-1",
        )
        .await
        .expect("retry");
    let mut watch = engine.subscribe(&retried.record.id);
    let done = settle(&engine, &retried.record.id, watch.as_mut()).await;
    assert_eq!(done.record.state, SagaState::Completed, "{:?}", done.record);
    // The same request again answers the saga as it is; another action under it is refused.
    let again = engine
        .operator(&done.record.id, OperatorAction::Retry, "ops", "", "retry-1")
        .await
        .expect("the same retry");
    assert_eq!(again.record.state, SagaState::Completed);
    assert!(
        engine
            .operator(
                &done.record.id,
                OperatorAction::MarkCompensated,
                "ops",
                "why",
                "retry-1"
            )
            .await
            .is_err()
    );
    let logged = log
        .get(&done.record.id)
        .await
        .expect("get")
        .expect("saga")
        .1;
    assert_eq!(
        logged
            .iter()
            .filter(|e| matches!(&e.event, Event::OperatorRetried { actor, .. } if actor == "ops"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_retriable_step_past_its_bound_is_stuck_not_retried_forever() {
    let participants = Arc::new(Scripted::default());
    participants.answer(
        Notify,
        std::iter::repeat_with(|| CallOutcome::Unavailable("notification down".into())).take(50),
    );
    let policy = Policy {
        after_pivot: rounds(4),
        ..Policy::default()
    };
    let (engine, _log) = fake_engine(participants.clone(), policy);
    let stuck = run(&engine, "bounded").await;
    assert_eq!(stuck.record.state, SagaState::Stuck);
    assert_eq!(
        participants
            .calls()
            .iter()
            .filter(|k| **k == Notify)
            .count(),
        4
    );
    assert!(
        !participants.calls().contains(&ReopenReview),
        "nothing undone after the pivot"
    );
}

#[tokio::test]
async fn an_undo_that_is_refused_is_stuck_at_once() {
    let participants = Arc::new(Scripted::default());
    participants.answer(CompleteReview, [no("REVIEW_LOCKED")]);
    participants.answer(ReverseEntry, [no("ENTRY_NOT_REVERSIBLE")]);
    let (engine, _log) = fake_engine(participants.clone(), Policy::default());
    let stuck = run(&engine, "undo-refused").await;
    assert_eq!(stuck.record.state, SagaState::Stuck);
    assert_eq!(
        participants
            .calls()
            .iter()
            .filter(|k| **k == ReverseEntry)
            .count(),
        1
    );
    // An undo whose effect is gone already counts as done.
    let participants = Arc::new(Scripted::default());
    participants.answer(CompleteReview, [no("REVIEW_LOCKED")]);
    participants.answer(ReverseEntry, [no("ENTRY_ALREADY_REVERSED")]);
    let (engine, _log) = fake_engine(participants.clone(), Policy::default());
    assert_eq!(
        run(&engine, "undone").await.record.state,
        SagaState::Compensated
    );
}
