//! `hrmesh.orchestrator.v1.SagaService`: thin handlers over the engine and the log.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hrmesh_domain::{RequestId, Violations, page_size, parse_issued_id};
use hrmesh_mesh::auth::{ActingRule, principal};
use hrmesh_mesh::status;
use hrmesh_proto::orchestrator as pb;
use hrmesh_saga_core::codec::{self, SagaStart};
use hrmesh_saga_core::sagas::Starter;
use hrmesh_saga_core::{Direction, Event, SagaState, SagaType, StepKind};
use hrmesh_saga_store::{Created, ListFilter, LogError, NewSaga};
use hrmesh_storage::audit::AuditLog;
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use crate::convert;
use crate::executor::{Engine, OperatorAction, OperatorError, Snapshot};

const PAGE_SIZE_DEFAULT: u32 = 50;
const PAGE_SIZE_MAX: u32 = 500;
/// How often a replica that does not run a saga looks at its log for a waiter or watcher.
const POLL: Duration = Duration::from_millis(100);
const JUSTIFICATION_CHARS_MAX: usize = 2_000;

/// The permission each method needs (checked by the mesh layer before the handler runs):
/// starting sagas, reading them, and the operator actions.
pub const PERMISSIONS: &[(&str, &str)] = &[
    (
        "/hrmesh.orchestrator.v1.SagaService/StartSaga",
        "saga.create",
    ),
    ("/hrmesh.orchestrator.v1.SagaService/GetSaga", READ),
    ("/hrmesh.orchestrator.v1.SagaService/ListSagas", READ),
    ("/hrmesh.orchestrator.v1.SagaService/WatchSaga", READ),
    ("/hrmesh.orchestrator.v1.SagaService/RetrySaga", ADMIN),
    ("/hrmesh.orchestrator.v1.SagaService/SkipStep", ADMIN),
    ("/hrmesh.orchestrator.v1.SagaService/MarkCompensated", ADMIN),
    ("/hrmesh.orchestrator.v1.SagaService/ListAuditEvents", ADMIN),
    ("/hrmesh.events.v1.EventService/ListEvents", READ),
    ("/hrmesh.events.v1.EventService/WatchEvents", READ),
];
const READ: &str = "saga.read";
/// Operator actions; also lets a caller read every employee's sagas.
pub(crate) const ADMIN: &str = "saga.admin";

pub struct SagaGrpc {
    engine: Engine,
    audit: AuditLog,
}

impl SagaGrpc {
    pub fn new(engine: Engine, audit: AuditLog) -> Self {
        Self { engine, audit }
    }
}

fn log_status(error: LogError) -> Status {
    match error {
        LogError::Locked {
            employee_id,
            saga_id,
        } => status::with_reason(
            Code::FailedPrecondition,
            pb::OrchestratorErrorReason::EmployeeLocked.as_str_name(),
            format!("employee {employee_id} is held by saga {saga_id}; try again once it ends"),
            vec![("employee_id", employee_id), ("saga_id", saga_id)],
        ),
        LogError::NotStuck { saga_id, state } => status::with_reason(
            Code::FailedPrecondition,
            pb::OrchestratorErrorReason::SagaNotStuck.as_str_name(),
            format!("saga {saga_id} is {state}; operator actions need a stuck saga"),
            vec![("saga_id", saga_id), ("state", state)],
        ),
        LogError::NotFound(id) => status::not_found("saga", &id),
        error if error.is_transient() => status::unavailable(&error.to_string()),
        LogError::LostLease { saga_id } => status::with_reason(
            Code::Aborted,
            pb::OrchestratorErrorReason::ConcurrentChange.as_str_name(),
            format!("saga {saga_id} changed meanwhile; read it and try again"),
            vec![("saga_id", saga_id)],
        ),
        error => status::internal(&error.to_string()),
    }
}

fn operator_status(error: OperatorError) -> Status {
    match error {
        OperatorError::Log(error) => log_status(error),
        OperatorError::RequestReused { request_id } => status::idempotency_key_reused(&request_id),
        OperatorError::NotSkippable { step, name, why } => status::with_reason(
            Code::FailedPrecondition,
            pb::OrchestratorErrorReason::StepNotSkippable.as_str_name(),
            format!("step {step} ({name}) cannot be skipped: {why}"),
            vec![("step", step.to_string()), ("step_name", name.to_owned())],
        ),
    }
}

/// Who may start a saga of this type, in the mesh's terms.
fn acting_rule(starter: Starter) -> ActingRule {
    match starter {
        Starter::SelfOrManager => ActingRule::SelfOrManager,
        Starter::Manager => ActingRule::Manager,
        Starter::Admin => ActingRule::Admin,
    }
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn state_pb(state: SagaState) -> pb::SagaState {
    match state {
        SagaState::Running => pb::SagaState::Running,
        SagaState::Compensating => pb::SagaState::Compensating,
        SagaState::Completed => pb::SagaState::Completed,
        SagaState::Compensated => pb::SagaState::Compensated,
        SagaState::Stuck => pb::SagaState::Stuck,
    }
}

fn event_pb(seq: u64, at: DateTime<Utc>, event: &Event) -> pb::SagaEvent {
    let none = Default::default;
    let (step, kind, detail, actor, output) = match event {
        Event::StepSucceeded { step, output } => (
            *step,
            "succeeded",
            "",
            "",
            output
                .facts()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        ),
        Event::StepRejected { step, reason } => (*step, "rejected", reason.as_str(), "", none()),
        Event::StepFailed { step, failure } => {
            (*step, "failed", failure.error.as_str(), "", none())
        }
        Event::StepAbandoned { step, reason } => (*step, "abandoned", reason.as_str(), "", none()),
        Event::CompensationSucceeded { step } => (*step, "compensated", "", "", none()),
        Event::CompensationFailed { step, failure } => (
            *step,
            "compensation_failed",
            failure.error.as_str(),
            "",
            none(),
        ),
        Event::OperatorRetried { actor, .. } => (0, "operator_retried", "", actor.as_str(), none()),
        Event::OperatorSkipped {
            step,
            actor,
            justification,
            ..
        } => (
            *step,
            "operator_skipped",
            justification.as_str(),
            actor.as_str(),
            none(),
        ),
        Event::OperatorMarkedCompensated {
            actor,
            justification,
            ..
        } => (
            0,
            "operator_marked_compensated",
            justification.as_str(),
            actor.as_str(),
            none(),
        ),
    };
    pb::SagaEvent {
        sequence: seq,
        time: Some(timestamp(at)),
        step: step as u32,
        kind: kind.to_owned(),
        detail: detail.to_owned(),
        actor: actor.to_owned(),
        output,
    }
}

fn saga_pb(snapshot: &Snapshot, with_history: bool) -> pb::Saga {
    let record = &snapshot.record;
    let kind = SagaType::parse(&record.saga_type);
    let start = convert::decode_start(record)
        .ok()
        .map(|start| pb::StartSagaRequest {
            request_id: record.request_id.clone(),
            wait: false,
            input: Some(convert::input_pb(&start.input)),
        });
    let mut steps: Vec<pb::Step> = kind
        .map(|kind| {
            kind.definition()
                .steps()
                .iter()
                .enumerate()
                .map(|(index, step)| pb::Step {
                    index: index as u32,
                    name: step.name.to_owned(),
                    kind: match step.kind {
                        StepKind::Compensatable => pb::StepKind::Compensatable,
                        StepKind::Pivot => pb::StepKind::Pivot,
                        StepKind::Retriable => pb::StepKind::Retriable,
                    } as i32,
                    status: pb::StepStatus::Pending as i32,
                    output: Default::default(),
                })
                .collect()
        })
        .unwrap_or_default();
    for logged in &snapshot.events {
        let (step, status) = match &logged.event {
            Event::StepSucceeded { step, output } => {
                if let Some(s) = steps.get_mut(*step) {
                    s.output = output
                        .facts()
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect();
                }
                (*step, pb::StepStatus::Succeeded)
            }
            Event::StepRejected { step, .. } => (*step, pb::StepStatus::Rejected),
            Event::StepFailed { step, .. } | Event::StepAbandoned { step, .. } => {
                (*step, pb::StepStatus::Failed)
            }
            Event::CompensationSucceeded { step } => (*step, pb::StepStatus::Compensated),
            Event::OperatorSkipped {
                step, direction, ..
            } => (
                *step,
                match direction {
                    Direction::Forward => pb::StepStatus::Skipped,
                    Direction::Compensate => pb::StepStatus::Compensated,
                },
            ),
            _ => continue,
        };
        if let Some(s) = steps.get_mut(step) {
            s.status = status as i32;
        }
    }
    pb::Saga {
        saga_id: record.id.clone(),
        r#type: kind.map_or(0, |kind| convert::saga_type_pb(kind) as i32),
        state: state_pb(record.state) as i32,
        employee_id: record.employee_id.clone(),
        request_id: record.request_id.clone(),
        reason: record.reason.clone(),
        steps: if with_history { steps } else { Vec::new() },
        history: if with_history {
            snapshot
                .events
                .iter()
                .map(|logged| event_pb(logged.seq, logged.at, &logged.event))
                .collect()
        } else {
            Vec::new()
        },
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        start,
    }
}

/// The caller's deadline from its `grpc-timeout` header.
pub fn deadline_of<T>(request: &Request<T>) -> Option<Instant> {
    let header = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = header.split_at(header.len().checked_sub(1)?);
    let value: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    };
    Some(Instant::now() + timeout)
}

fn still_running(saga_id: &str) -> Status {
    status::with_reason(
        Code::DeadlineExceeded,
        pb::OrchestratorErrorReason::SagaStillRunning.as_str_name(),
        format!("the deadline ran out; saga {saga_id} goes on: watch or get it"),
        vec![("saga_id", saga_id.to_owned())],
    )
}

impl SagaGrpc {
    /// Waits until the saga is settled or `deadline` (less a margin, so the caller hears why)
    /// passes.
    async fn wait_for(&self, saga_id: &str, deadline: Option<Instant>) -> Result<Snapshot, Status> {
        let give_up = deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            deadline - (left / 10).min(Duration::from_millis(50))
        });
        let wait = async {
            loop {
                if let Some(mut watch) = self.engine.subscribe(saga_id) {
                    loop {
                        let snapshot = watch.borrow_and_update().as_ref().clone();
                        if snapshot.is_settled() {
                            return Ok(snapshot);
                        }
                        if watch.changed().await.is_err() {
                            break;
                        }
                    }
                }
                // Not (or no longer) run here: the log has it.
                match self.engine.snapshot(saga_id).await.map_err(log_status)? {
                    Some(snapshot) if snapshot.is_settled() => return Ok(snapshot),
                    Some(_) => tokio::time::sleep(POLL).await,
                    None => return Err(status::not_found("saga", saga_id)),
                }
            }
        };
        match give_up {
            Some(give_up) => tokio::time::timeout_at(give_up, wait)
                .await
                .unwrap_or_else(|_| Err(still_running(saga_id))),
            None => wait.await,
        }
    }

    /// An operator action: the actor is the token's subject, never the request's say-so.
    async fn operator(
        &self,
        request: Request<pb::OperatorRequest>,
        action: OperatorAction,
    ) -> Result<Response<pb::Saga>, Status> {
        let actor = principal(&request)?.subject.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let saga_id = parse_issued_id("saga_id", &request.saga_id, &mut v);
        let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
        if action != OperatorAction::Retry && request.justification.trim().is_empty() {
            v.add(
                "justification",
                "is required: why the saga may go on without the call",
            );
        }
        hrmesh_domain::check_text(
            "justification",
            &request.justification,
            JUSTIFICATION_CHARS_MAX,
            &mut v,
        );
        let (saga_id, request_id) = match (v.is_empty(), saga_id, request_id) {
            (true, Some(id), Some(request_id)) => (id, request_id),
            _ => return Err(status::invalid_argument(&v.into_vec())),
        };
        let snapshot = self
            .engine
            .operator(
                &saga_id,
                action,
                &actor,
                &request.justification,
                request_id.as_str(),
            )
            .await
            .map_err(operator_status)?;
        Ok(Response::new(saga_pb(&snapshot, true)))
    }
}

type UpdateStream = Pin<Box<dyn Stream<Item = Result<pb::SagaUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl pb::saga_service_server::SagaService for SagaGrpc {
    async fn start_saga(
        &self,
        request: Request<pb::StartSagaRequest>,
    ) -> Result<Response<pb::Saga>, Status> {
        let deadline = deadline_of(&request);
        let caller = principal(&request)?.clone();
        let start = request.into_inner();
        let (request_id, input) =
            convert::start_input(&start).map_err(|v| status::invalid_argument(&v.into_vec()))?;
        let kind = input.saga_type();
        let employee_id = input.employee().to_string();
        caller.check_act(&employee_id, ADMIN, acting_rule(kind.starter()))?;
        let now = Utc::now();
        let created = self
            .engine
            .create(NewSaga {
                id: uuid::Uuid::now_v7().to_string(),
                saga_type: kind.as_str().to_owned(),
                employee_id,
                lock: kind.definition().lock(),
                request_id: request_id.to_string(),
                input: codec::encode_start(&SagaStart {
                    actor: caller.subject.clone(),
                    input: input.clone(),
                }),
                owner: self.engine.replica_id().to_owned(),
                lease_until: self.engine.lease_until(),
                now,
            })
            .await
            .map_err(log_status)?;
        let saga_id = match created {
            Created::New(record) => {
                let id = record.id.clone();
                tracing::info!(saga_id = %id, saga_type = kind.as_str(), "saga started");
                metrics::counter!("hrmesh_sagas_started_total", "saga_type" => kind.as_str())
                    .increment(1);
                self.engine.spawn(record, Vec::new(), deadline);
                id
            }
            Created::Existing(record) => {
                // The same request again, whoever repeats it; another input under the key is
                // refused.
                let same =
                    convert::decode_start(&record).is_ok_and(|earlier| earlier.input == input);
                if !same {
                    return Err(status::idempotency_key_reused(request_id.as_str()));
                }
                record.id
            }
        };
        let wait = start.wait;
        let snapshot = if wait {
            self.wait_for(&saga_id, deadline).await?
        } else {
            self.engine
                .snapshot(&saga_id)
                .await
                .map_err(log_status)?
                .ok_or_else(|| status::not_found("saga", &saga_id))?
        };
        Ok(Response::new(saga_pb(&snapshot, true)))
    }

    async fn get_saga(
        &self,
        request: Request<pb::GetSagaRequest>,
    ) -> Result<Response<pb::Saga>, Status> {
        let mut v = Violations::default();
        let id = parse_issued_id("saga_id", &request.get_ref().saga_id, &mut v)
            .ok_or_else(|| status::invalid_argument(&v.into_vec()))?;
        let snapshot = self
            .engine
            .snapshot(&id)
            .await
            .map_err(log_status)?
            .ok_or_else(|| status::not_found("saga", &id))?;
        principal(&request)?.check_read(&snapshot.record.employee_id, ADMIN)?;
        Ok(Response::new(saga_pb(&snapshot, true)))
    }

    async fn list_sagas(
        &self,
        request: Request<pb::ListSagasRequest>,
    ) -> Result<Response<pb::ListSagasResponse>, Status> {
        // Everyone's sagas for admins and services; one employee's for that employee and their
        // managers.
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let saga_type = match request.r#type {
            0 => None,
            value => match convert::saga_type(value) {
                Some(kind) => Some(kind.as_str().to_owned()),
                None => {
                    v.add("type", "is not a saga type");
                    None
                }
            },
        };
        let state = match request.state {
            0 => None,
            value => {
                let state = SagaState::ALL
                    .into_iter()
                    .find(|state| state_pb(*state) as i32 == value);
                if state.is_none() {
                    v.add("state", "is not a saga state");
                }
                state
            }
        };
        let employee_id = (!request.employee_id.is_empty())
            .then(|| hrmesh_domain::EmployeeId::parse("employee_id", &request.employee_id, &mut v))
            .flatten()
            .map(|id| id.to_string());
        let time = |field: &str, ts: Option<prost_types::Timestamp>, v: &mut Violations| {
            ts.and_then(|ts| {
                let time = DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32);
                if time.is_none() {
                    v.add(field, "is not a valid time");
                }
                time
            })
        };
        let created_after = time("created_after", request.created_after, &mut v);
        let created_before = time("created_before", request.created_before, &mut v);
        let before = (!request.page_token.is_empty())
            .then(|| parse_issued_id("page_token", &request.page_token, &mut v))
            .flatten();
        let limit = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
        if !v.is_empty() {
            return Err(status::invalid_argument(&v.into_vec()));
        }
        let filter = ListFilter {
            saga_type,
            state,
            employee_id,
            created_after,
            created_before,
        };
        let mut records = self
            .engine
            .log()
            .list(&filter, before.as_deref(), u64::from(limit) + 1)
            .await
            .map_err(log_status)?;
        let next_page_token = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        let sagas = records
            .into_iter()
            .map(|record| {
                saga_pb(
                    &Snapshot {
                        record,
                        events: Vec::new(),
                    },
                    false,
                )
            })
            .collect();
        Ok(Response::new(pb::ListSagasResponse {
            sagas,
            next_page_token,
        }))
    }

    type WatchSagaStream = UpdateStream;

    async fn watch_saga(
        &self,
        request: Request<pb::WatchSagaRequest>,
    ) -> Result<Response<Self::WatchSagaStream>, Status> {
        let mut v = Violations::default();
        let id = parse_issued_id("saga_id", &request.get_ref().saga_id, &mut v)
            .ok_or_else(|| status::invalid_argument(&v.into_vec()))?;
        let first = self
            .engine
            .snapshot(&id)
            .await
            .map_err(log_status)?
            .ok_or_else(|| status::not_found("saga", &id))?;
        let engine = self.engine.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut sent = 0u64;
            let mut snapshot = Arc::new(first);
            loop {
                let already = sent;
                for logged in snapshot.events.iter().filter(|e| e.seq > already) {
                    let update = pb::SagaUpdate {
                        event: Some(event_pb(logged.seq, logged.at, &logged.event)),
                        state: state_pb(snapshot.record.state) as i32,
                    };
                    if sender.send(Ok(update)).await.is_err() {
                        return;
                    }
                    sent = logged.seq;
                }
                if snapshot.is_settled() {
                    return;
                }
                let next = match engine.subscribe(&id) {
                    Some(mut watch) => {
                        let current = watch.borrow_and_update().clone();
                        if current.record.events > sent {
                            Some(current)
                        } else if watch.changed().await.is_ok() {
                            Some(watch.borrow_and_update().clone())
                        } else {
                            None
                        }
                    }
                    None => {
                        tokio::time::sleep(POLL).await;
                        None
                    }
                };
                snapshot = match next {
                    Some(next) => next,
                    None => match engine.snapshot(&id).await {
                        Ok(Some(fresh)) => Arc::new(fresh),
                        Ok(None) => return,
                        Err(error) => {
                            let _ = sender.send(Err(log_status(error))).await;
                            return;
                        }
                    },
                };
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn retry_saga(
        &self,
        request: Request<pb::OperatorRequest>,
    ) -> Result<Response<pb::Saga>, Status> {
        self.operator(request, OperatorAction::Retry).await
    }

    async fn skip_step(
        &self,
        request: Request<pb::OperatorRequest>,
    ) -> Result<Response<pb::Saga>, Status> {
        self.operator(request, OperatorAction::Skip).await
    }

    async fn mark_compensated(
        &self,
        request: Request<pb::OperatorRequest>,
    ) -> Result<Response<pb::Saga>, Status> {
        self.operator(request, OperatorAction::MarkCompensated)
            .await
    }

    async fn list_audit_events(
        &self,
        request: Request<hrmesh_proto::common::ListAuditEventsRequest>,
    ) -> Result<Response<hrmesh_proto::common::ListAuditEventsResponse>, Status> {
        hrmesh_mesh::audit::list_rpc(&self.audit, request).await
    }
}
