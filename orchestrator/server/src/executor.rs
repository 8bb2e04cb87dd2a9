//! The saga executor: runs each saga the core decides on, logs every outcome through the
//! group-commit [`Writer`], renews the leases of the sagas this replica runs, and takes over sagas
//! whose replica died. It knows the log and the participants only through their ports.
//!
//! What is flushed before going on, and what is not:
//! - the saga itself, before its first call;
//! - every outcome that is not a success (a rejection, a failed round, giving up, a failed undo,
//!   stuck): a crash must neither let a resumed saga go forward after compensations ran nor
//!   forget how long a step has been failing;
//! - successes are queued for the writer without waiting: if a crash loses one, the resumed saga
//!   calls the step again with the same idempotency key and the participant's inbox answers with
//!   the first result, so the lost record costs one replayed call and nothing else.
//!
//! A saga on the happy path thus costs one flush of its own: its creation, which also carries the
//! end of sagas that finished meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hrmesh_saga_core::codec::{self, SagaStart};
use hrmesh_saga_core::{
    CallOutcome, Decision, Definition, Direction, Event, Failure, FailureKind, Plan, Policy,
    SagaState, SagaType, StepContext, StepKind, StepOutput, decide, stuck_at, summarize,
};
use hrmesh_saga_store::{Append, Created, Fence, LogError, LoggedEvent, NewSaga, SagaRecord};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::ports::{Call, LogPort, ParticipantPort};
use crate::writer::Writer;

/// A saga as this replica last saw it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub record: SagaRecord,
    pub events: Vec<LoggedEvent>,
}

impl Snapshot {
    /// Whether nothing will happen without an operator (or ever).
    pub fn is_settled(&self) -> bool {
        self.record.state.is_terminal() || self.record.state == SagaState::Stuck
    }
}

/// How the engine runs sagas.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub replica_id: String,
    /// How long a replica owns a saga without renewing.
    pub lease: Duration,
    pub policy: Policy,
    /// Delay before the second round of a step; doubles per round, ±50 % jitter.
    pub round_backoff: Duration,
    pub round_backoff_max: Duration,
    /// How long lazy appends wait for an urgent job to share a flush with.
    pub linger: Duration,
}

/// Decodes a saga's start from its row, whatever version wrote it.
pub type StartDecoder = fn(&SagaRecord) -> Result<SagaStart, String>;

struct Inner {
    log: Arc<dyn LogPort>,
    writer: Writer,
    participants: Arc<dyn ParticipantPort>,
    decode_start: StartDecoder,
    config: EngineConfig,
    local: Mutex<HashMap<String, watch::Sender<Arc<Snapshot>>>>,
}

/// The engine of one replica.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("replica_id", &self.inner.config.replica_id)
            .finish_non_exhaustive()
    }
}

/// The engine's background tasks; dropping them stops nothing, [`Background::stop`] does.
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// What an operator asks of a stuck saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    Retry,
    Skip,
    MarkCompensated,
}

/// Why an operator action was not taken.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("request id {request_id} was used for another operator action")]
    RequestReused { request_id: String },
    #[error("step {step} ({name}) cannot be skipped: {why}")]
    NotSkippable {
        step: usize,
        name: &'static str,
        why: &'static str,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Milliseconds since the Unix epoch: when a failed round ended.
fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// The outputs of the steps that succeeded, by index.
fn outputs(events: &[Event], steps: usize) -> Vec<Option<StepOutput>> {
    let mut outputs = vec![None; steps];
    for event in events {
        if let Event::StepSucceeded { step, output } = event
            && *step < steps
        {
            outputs[*step] = Some(output.clone());
        }
    }
    outputs
}

/// The log event a call's outcome becomes, and whether it must be durable before going on.
fn outcome_event(step: usize, direction: Direction, outcome: CallOutcome) -> (Event, bool) {
    let (kind, error) = match outcome {
        CallOutcome::Done(output) => {
            let event = match direction {
                Direction::Forward => Event::StepSucceeded { step, output },
                Direction::Compensate => Event::CompensationSucceeded { step },
            };
            return (event, false);
        }
        CallOutcome::Rejected(rejection) if direction == Direction::Forward => {
            let reason = rejection.to_string();
            return (Event::StepRejected { step, reason }, true);
        }
        CallOutcome::Rejected(rejection) => (FailureKind::Rejected, rejection.to_string()),
        CallOutcome::Unavailable(error) => (FailureKind::Unavailable, error),
        CallOutcome::Fault(error) => (FailureKind::Fault, error),
    };
    let failure = Failure {
        kind,
        error,
        at_ms: now_ms(),
    };
    let event = match direction {
        Direction::Forward => Event::StepFailed { step, failure },
        Direction::Compensate => Event::CompensationFailed { step, failure },
    };
    (event, true)
}

fn outcome_name(outcome: &CallOutcome) -> &'static str {
    match outcome {
        CallOutcome::Done(_) => "done",
        CallOutcome::Rejected(_) => "rejected",
        CallOutcome::Unavailable(_) => "unavailable",
        CallOutcome::Fault(_) => "fault",
    }
}

/// One saga being run by this replica: its start, its log as far as this replica wrote it, and
/// the outputs of its steps.
struct Running {
    saga_type: SagaType,
    start: SagaStart,
    record: SagaRecord,
    logged: Vec<LoggedEvent>,
    events: Vec<Event>,
    outputs: Vec<Option<StepOutput>>,
    deadline: Option<Instant>,
}

impl Running {
    fn definition(&self) -> &'static Definition {
        self.saga_type.definition()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            record: self.record.clone(),
            events: self.logged.clone(),
        })
    }
}

impl Engine {
    /// Starts the writer; [`Engine::start_background`] starts leases and recovery.
    pub fn new(
        log: Arc<dyn LogPort>,
        participants: Arc<dyn ParticipantPort>,
        decode_start: StartDecoder,
        config: EngineConfig,
    ) -> (Self, JoinHandle<()>) {
        let (writer, writer_task) = Writer::start(log.clone(), config.linger);
        let engine = Self {
            inner: Arc::new(Inner {
                log,
                writer,
                participants,
                decode_start,
                config,
                local: Mutex::new(HashMap::new()),
            }),
        };
        (engine, writer_task)
    }

    pub fn log(&self) -> &dyn LogPort {
        self.inner.log.as_ref()
    }

    pub fn replica_id(&self) -> &str {
        &self.inner.config.replica_id
    }

    /// When a lease taken now runs out.
    pub fn lease_until(&self) -> DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.inner.config.lease)
                .unwrap_or_else(|_| chrono::Duration::seconds(15))
    }

    /// A watch on a saga this replica runs.
    pub fn subscribe(&self, saga_id: &str) -> Option<watch::Receiver<Arc<Snapshot>>> {
        lock(&self.inner.local)
            .get(saga_id)
            .map(|sender| sender.subscribe())
    }

    /// The freshest view of a saga: this replica's if it runs it, the log's otherwise.
    pub async fn snapshot(&self, saga_id: &str) -> Result<Option<Snapshot>, LogError> {
        if let Some(watch) = self.subscribe(saga_id) {
            return Ok(Some(watch.borrow().as_ref().clone()));
        }
        Ok(self
            .inner
            .log
            .get(saga_id)
            .await?
            .map(|(record, events)| Snapshot { record, events }))
    }

    /// Creates a saga through the writer, sharing its flush with queued appends.
    pub async fn create(&self, new: NewSaga) -> Result<Created, LogError> {
        self.inner.writer.create(new).await
    }

    /// Runs the saga here unless this replica runs it already. `deadline` is the caller's budget.
    pub fn spawn(&self, record: SagaRecord, events: Vec<LoggedEvent>, deadline: Option<Instant>) {
        let id = record.id.clone();
        let sender = {
            let mut local = lock(&self.inner.local);
            if local.contains_key(&id) {
                return;
            }
            let (sender, _) = watch::channel(Arc::new(Snapshot { record, events }));
            local.insert(id.clone(), sender.clone());
            sender
        };
        let engine = self.clone();
        // One span for the saga's run: a child of the call that started it (so the whole saga is
        // one trace), or a root of its own when resumed after a restart or a takeover.
        let saga_type = sender.borrow().record.saga_type.clone();
        let span = tracing::info_span!(
            "saga",
            otel.name = %format_args!("saga {saga_type}"),
            saga_id = %id,
            saga_type = %saga_type,
        );
        tokio::spawn(
            async move {
                engine.run(&sender, deadline).await;
                lock(&engine.inner.local).remove(&id);
            }
            .instrument(span),
        );
    }

    fn backoff(&self, round: u32) -> Duration {
        let base = self.inner.config.round_backoff.as_millis() as u64;
        let max = self.inner.config.round_backoff_max.as_millis() as u64;
        let exp = base
            .saturating_mul(1u64 << round.saturating_sub(1).min(20))
            .min(max);
        // ±50 % jitter, so sagas failing together do not retry together.
        Duration::from_millis(exp / 2 + fastrand::u64(0..=exp))
    }

    fn load(&self, snapshot: &Snapshot, deadline: Option<Instant>) -> Result<Running, String> {
        let record = snapshot.record.clone();
        let saga_type = SagaType::parse(&record.saga_type)
            .ok_or_else(|| format!("unknown saga type {:?}", record.saga_type))?;
        if codec::steps_changed_since(saga_type, record.log_version) {
            return Err(format!(
                "started (log version {}) with the earlier steps of {}, which this build no longer runs: \
                 finish it by hand and mark it compensated",
                record.log_version,
                saga_type.as_str()
            ));
        }
        let start = (self.inner.decode_start)(&record)
            .map_err(|error| format!("the saga's start cannot be decoded: {error}"))?;
        let events: Vec<Event> = snapshot.events.iter().map(|e| e.event.clone()).collect();
        let outputs = outputs(&events, saga_type.definition().steps().len());
        Ok(Running {
            saga_type,
            start,
            record,
            logged: snapshot.events.clone(),
            events,
            outputs,
            deadline,
        })
    }

    /// A saga this build cannot run: stuck with the reason, for an operator, instead of being
    /// claimed again and again while it holds its employee's lock.
    async fn unreadable(&self, record: &SagaRecord, reason: String) {
        tracing::error!(saga_id = %record.id, %reason, "the saga cannot be run");
        let append = Append {
            saga_id: record.id.clone(),
            fence: Fence::Owner(self.inner.config.replica_id.clone()),
            after: record.events,
            events: Vec::new(),
            state: SagaState::Stuck,
            reason,
            owner: None,
            lease_until: None,
            now: Utc::now(),
        };
        if let Err(error) = self.inner.writer.append(append, true, true).await {
            tracing::warn!(saga_id = %record.id, %error, "could not record the saga as stuck");
        }
    }

    async fn run(&self, sender: &watch::Sender<Arc<Snapshot>>, deadline: Option<Instant>) {
        let first = sender.borrow().as_ref().clone();
        let mut saga = match self.load(&first, deadline) {
            Ok(saga) => saga,
            Err(reason) => return self.unreadable(&first.record, reason).await,
        };
        let policy = self.inner.config.policy;
        loop {
            let (event, urgent) = match decide(saga.definition(), &saga.events, &policy) {
                Decision::Finish(_) | Decision::Stuck { .. } => {
                    self.settle(&mut saga, sender).await;
                    return;
                }
                Decision::GiveUp { step, reason } => {
                    tracing::warn!(step, %reason, "giving up going forward; compensating");
                    (Event::StepAbandoned { step, reason }, true)
                }
                Decision::Call {
                    step,
                    direction,
                    round,
                    forward_uncertain,
                } => {
                    if round > 0 {
                        tokio::time::sleep(self.backoff(round)).await;
                    }
                    self.call_step(&mut saga, step, direction, round, forward_uncertain)
                        .await
                }
            };
            if !self.record(&mut saga, sender, event, urgent).await {
                return;
            }
        }
    }

    /// Calls `step` in `direction`. An undo of a step whose forward call never answered first
    /// re-drives the forward call (same key) to learn whether it applied and with what.
    async fn call_step(
        &self,
        saga: &mut Running,
        step: usize,
        direction: Direction,
        round: u32,
        forward_uncertain: bool,
    ) -> (Event, bool) {
        if direction == Direction::Compensate && forward_uncertain {
            match self.attempt(saga, step, Direction::Forward, round).await {
                CallOutcome::Done(output) => saga.outputs[step] = Some(output),
                // Refused: it never applied, so there is nothing to undo.
                CallOutcome::Rejected(_) => {
                    return (Event::CompensationSucceeded { step }, false);
                }
                failed => return outcome_event(step, Direction::Compensate, failed),
            }
        }
        let outcome = self.attempt(saga, step, direction, round).await;
        if direction == Direction::Forward
            && let CallOutcome::Done(output) = &outcome
        {
            saga.outputs[step] = Some(output.clone());
        }
        outcome_event(step, direction, outcome)
    }

    /// One call of a step, as its saga plans it.
    async fn attempt(
        &self,
        saga: &Running,
        step: usize,
        direction: Direction,
        round: u32,
    ) -> CallOutcome {
        let ctx = StepContext {
            saga_id: &saga.record.id,
            created: saga.record.created_at.date_naive(),
            outputs: &saga.outputs,
        };
        let command = match saga.start.input.plan(step, direction, &ctx) {
            Plan::Call(command) => command,
            Plan::Done(output) => return CallOutcome::Done(output),
            Plan::Undefined => {
                return CallOutcome::Fault(format!(
                    "{} has no {direction:?} call for step {step}",
                    saga.saga_type.as_str()
                ));
            }
        };
        let name = saga.definition().steps().get(step).map_or("?", |s| s.name);
        let span = tracing::info_span!(
            "saga.step",
            otel.name = %format_args!("{} {name}", direction_name(direction)),
            step = name,
            direction = direction_name(direction),
            round,
        );
        let request_id = ctx.key(step, direction);
        let started = Instant::now();
        let outcome = self
            .inner
            .participants
            .execute(Call {
                command: &command,
                request_id: &request_id,
                deadline: saga.deadline.filter(|deadline| *deadline > Instant::now()),
                on_behalf_of: &saga.start.actor,
                hold_to_employee: saga.record.log_version >= 2,
            })
            .instrument(span)
            .await;
        let outcome = match outcome {
            CallOutcome::Rejected(rejection) if command.rejection_is_done(&rejection) => {
                CallOutcome::Done(StepOutput::Nothing)
            }
            other => other,
        };
        metrics::histogram!(
            "hrmesh_saga_step_duration_seconds",
            "saga_type" => saga.saga_type.as_str(),
            "step" => name,
            "direction" => direction_name(direction),
            "outcome" => outcome_name(&outcome),
        )
        .record(started.elapsed().as_secs_f64());
        outcome
    }

    /// The saga reached an end or needs an operator: record the state the log makes, if this
    /// replica had it otherwise (recovered with a stale state).
    async fn settle(&self, saga: &mut Running, sender: &watch::Sender<Arc<Snapshot>>) {
        let (state, reason) = summarize(saga.definition(), &saga.events, &self.inner.config.policy);
        if saga.record.state == state {
            return;
        }
        let append = Append {
            saga_id: saga.record.id.clone(),
            fence: Fence::Owner(self.inner.config.replica_id.clone()),
            after: saga.record.events,
            events: Vec::new(),
            state,
            reason: reason.clone(),
            owner: None,
            lease_until: None,
            now: Utc::now(),
        };
        if let Err(error) = self.inner.writer.append(append, true, true).await {
            tracing::warn!(saga_id = %saga.record.id, %error, "could not record the saga's state");
        }
        saga.record.state = state;
        saga.record.reason = reason;
        sender.send_replace(saga.snapshot());
    }

    /// Logs `event`; answers whether the saga goes on here.
    async fn record(
        &self,
        saga: &mut Running,
        sender: &watch::Sender<Arc<Snapshot>>,
        event: Event,
        urgent: bool,
    ) -> bool {
        saga.events.push(event.clone());
        let (state, reason) = summarize(saga.definition(), &saga.events, &self.inner.config.policy);
        let active = matches!(state, SagaState::Running | SagaState::Compensating);
        let now = Utc::now();
        // Entering stuck needs an operator: make it durable before saying so.
        let wait = urgent || state == SagaState::Stuck;
        if state != saga.record.state {
            saga_state_reached(saga.saga_type.as_str(), state);
        }
        let me = &self.inner.config.replica_id;
        let append = Append {
            saga_id: saga.record.id.clone(),
            fence: Fence::Owner(me.clone()),
            after: saga.record.events,
            events: vec![(now, event.clone())],
            state,
            reason: reason.clone(),
            owner: active.then(|| me.clone()),
            lease_until: active.then(|| self.lease_until()),
            now,
        };
        saga.record.events += 1;
        saga.record.state = state;
        saga.record.reason = reason;
        saga.record.updated_at = now;
        if !active {
            saga.record.owner = None;
            saga.record.lease_until = None;
        }
        saga.logged.push(LoggedEvent {
            seq: saga.record.events,
            at: now,
            event,
        });
        if !active && state != SagaState::Stuck {
            // Finished: tell waiters at once, and stay registered (so reads see this snapshot)
            // until the log has it. Were the write lost, the saga would be resumed and finish
            // the same way: every call replays its first answer.
            sender.send_replace(saga.snapshot());
            if let Err(error) = self.inner.writer.append(append, false, true).await {
                tracing::warn!(saga_id = %saga.record.id, %error, "the saga's end was not logged; it will be resumed");
            }
            return false;
        }
        if let Err(error) = self.inner.writer.append(append, wait, wait).await {
            // Another replica owns the saga now, or the log is unreachable: stop here. The lease
            // runs out and whoever claims the saga resumes it from its log.
            tracing::warn!(saga_id = %saga.record.id, %error, "stopping the saga here");
            return false;
        }
        sender.send_replace(saga.snapshot());
        active
    }

    /// Renews this replica's leases and takes over sagas left by dead replicas, until stopped.
    pub fn start_background(&self) -> Background {
        let lease = self.inner.config.lease;
        let renewer = {
            let engine = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval((lease / 3).max(Duration::from_millis(50)));
                loop {
                    ticks.tick().await;
                    let ids: Vec<String> = lock(&engine.inner.local).keys().cloned().collect();
                    if let Err(error) = engine
                        .inner
                        .log
                        .renew(&engine.inner.config.replica_id, &ids, engine.lease_until())
                        .await
                    {
                        tracing::warn!(%error, "renewing saga leases failed");
                    }
                }
            })
        };
        let recovery = {
            let engine = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval((lease / 2).max(Duration::from_millis(50)));
                loop {
                    ticks.tick().await;
                    if let Err(error) = engine.recover().await {
                        tracing::warn!(%error, "recovering sagas failed");
                    }
                }
            })
        };
        Background {
            tasks: vec![renewer, recovery],
        }
    }

    /// Claims and resumes the sagas that need a replica. Returns how many it resumed.
    pub async fn recover(&self) -> Result<usize, LogError> {
        /// Sagas claimed per round at most.
        const CLAIM_MAX: u64 = 100;
        let claimed = self
            .inner
            .log
            .claim(
                &self.inner.config.replica_id,
                Utc::now(),
                self.lease_until(),
                CLAIM_MAX,
            )
            .await?;
        let mut resumed = 0;
        for record in claimed {
            if self.subscribe(&record.id).is_some() {
                continue;
            }
            // One saga whose log cannot be read must not keep the others from resuming.
            let events = match self.inner.log.events(&record, 0).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::error!(saga_id = %record.id, %error, "the saga's log cannot be read");
                    self.unreadable(&record, format!("its log cannot be read: {error}"))
                        .await;
                    continue;
                }
            };
            tracing::info!(saga_id = %record.id, events = events.len(), "resuming saga");
            self.spawn(record, events, None);
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Takes an operator's action on a stuck saga and resumes it if it has more to do. Idempotent
    /// on `request_id`: the same action again answers the saga as it is.
    pub async fn operator(
        &self,
        saga_id: &str,
        action: OperatorAction,
        actor: &str,
        justification: &str,
        request_id: &str,
    ) -> Result<Snapshot, OperatorError> {
        let Some((record, mut logged)) = self.inner.log.get(saga_id).await? else {
            return Err(LogError::NotFound(saga_id.to_owned()).into());
        };
        if let Some(earlier) = logged
            .iter()
            .find(|e| e.event.operator_request_id() == Some(request_id))
        {
            let same = matches!(
                (&earlier.event, action),
                (Event::OperatorRetried { .. }, OperatorAction::Retry)
                    | (Event::OperatorSkipped { .. }, OperatorAction::Skip)
                    | (
                        Event::OperatorMarkedCompensated { .. },
                        OperatorAction::MarkCompensated
                    )
            );
            if !same {
                return Err(OperatorError::RequestReused {
                    request_id: request_id.to_owned(),
                });
            }
            drop(logged);
            return Ok(self
                .snapshot(saga_id)
                .await?
                .ok_or_else(|| LogError::NotFound(saga_id.to_owned()))?);
        }
        if record.state != SagaState::Stuck {
            return Err(LogError::NotStuck {
                saga_id: saga_id.to_owned(),
                state: record.state.as_str().to_owned(),
            }
            .into());
        }
        let saga_type = SagaType::parse(&record.saga_type)
            .ok_or_else(|| LogError::Corrupt(format!("saga type {}", record.saga_type)))?;
        let definition = saga_type.definition();
        let policy = self.inner.config.policy;
        let mut events: Vec<Event> = logged.iter().map(|e| e.event.clone()).collect();
        let event = match action {
            OperatorAction::Retry => Event::OperatorRetried {
                actor: actor.to_owned(),
                request_id: request_id.to_owned(),
            },
            OperatorAction::Skip => {
                let Some((step, direction)) = stuck_at(definition, &events, &policy) else {
                    return Err(LogError::NotStuck {
                        saga_id: saga_id.to_owned(),
                        state: record.state.as_str().to_owned(),
                    }
                    .into());
                };
                let def = &definition.steps()[step];
                if direction == Direction::Forward && def.kind == StepKind::Compensatable {
                    return Err(OperatorError::NotSkippable {
                        step,
                        name: def.name,
                        why: "a step before the pivot has no output to go on with or undo; \
                              retry it or mark the saga compensated",
                    });
                }
                Event::OperatorSkipped {
                    step,
                    direction,
                    actor: actor.to_owned(),
                    justification: justification.to_owned(),
                    request_id: request_id.to_owned(),
                }
            }
            OperatorAction::MarkCompensated => Event::OperatorMarkedCompensated {
                actor: actor.to_owned(),
                justification: justification.to_owned(),
                request_id: request_id.to_owned(),
            },
        };
        events.push(event.clone());
        let (state, reason) = summarize(definition, &events, &policy);
        let active = matches!(state, SagaState::Running | SagaState::Compensating);
        let now = Utc::now();
        let me = self.inner.config.replica_id.clone();
        self.inner
            .writer
            .append(
                Append {
                    saga_id: saga_id.to_owned(),
                    fence: Fence::Stuck,
                    after: record.events,
                    events: vec![(now, event.clone())],
                    state,
                    reason: reason.clone(),
                    owner: active.then(|| me.clone()),
                    lease_until: active.then(|| self.lease_until()),
                    now,
                },
                true,
                true,
            )
            .await?;
        if state != record.state {
            saga_state_reached(saga_type.as_str(), state);
        }
        let record = SagaRecord {
            events: record.events + 1,
            state,
            reason,
            owner: active.then_some(me),
            lease_until: active.then(|| self.lease_until()),
            updated_at: now,
            ..record
        };
        logged.push(LoggedEvent {
            seq: record.events,
            at: now,
            event,
        });
        if active {
            self.spawn(record.clone(), logged.clone(), None);
        }
        Ok(Snapshot {
            record,
            events: logged,
        })
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Forward => "forward",
        Direction::Compensate => "compensate",
    }
}

/// Counts a saga entering `state` (compensating, completed, compensated or stuck).
pub(crate) fn saga_state_reached(saga_type: &'static str, state: SagaState) {
    let name = match state {
        SagaState::Running => return,
        SagaState::Compensating => "hrmesh_sagas_compensating_total",
        SagaState::Completed => "hrmesh_sagas_completed_total",
        SagaState::Compensated => "hrmesh_sagas_compensated_total",
        SagaState::Stuck => "hrmesh_sagas_stuck_total",
    };
    metrics::counter!(name, "saga_type" => saga_type).increment(1);
}
