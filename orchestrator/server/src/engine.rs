//! The saga executor: runs each saga the engine decides on, logs every outcome through one
//! group-commit writer, renews the leases of the sagas this replica runs, and takes over sagas
//! whose replica died.
//!
//! What is flushed before going on, and what is not:
//! - the saga itself, before its first call (`SagaLog::create`);
//! - every outcome that changes the saga's direction or needs an operator (a rejection, a failed
//!   round, a failed compensation, stuck): a crash must not let a resumed saga go forward after
//!   compensations ran, so these are durable before the next call;
//! - successes are queued for the writer without waiting: if a crash loses one, the resumed saga
//!   calls the step again with the same idempotency key and the participant's inbox answers with
//!   the first result, so the lost record costs one replayed call and nothing else.
//!
//! The writer commits whatever is queued in one transaction (group commit), in queue order, so a
//! saga's appends stay in order and an awaited append also makes every earlier one durable. Jobs
//! that someone waits on to go on — a new saga, a change of direction — are urgent and commit at
//! once, taking every queued lazy append (successes, a saga's end) along; lazy appends alone wait
//! up to `linger` for company. A saga on the happy path thus costs one flush of its own: its
//! creation, which also carries the end of sagas that finished meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hrmesh_proto::orchestrator as pb;
use hrmesh_saga_core::{
    Decision, Direction, Event, Policy, SagaState, StepOutput, decide, summarize,
};
use hrmesh_saga_store::{
    Append, Created, Fence, LogError, LoggedEvent, NewSaga, SagaLog, SagaRecord,
};
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::sagas::{Participants, SagaKind, StepContext, StepResult, run_step};

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

type AppendDone = oneshot::Sender<Result<(), LogError>>;

enum WriteJob {
    Create {
        new: NewSaga,
        done: oneshot::Sender<Result<Created, LogError>>,
    },
    Append {
        append: Append,
        urgent: bool,
        done: Option<AppendDone>,
    },
}

impl WriteJob {
    fn urgent(&self) -> bool {
        matches!(
            self,
            WriteJob::Create { .. } | WriteJob::Append { urgent: true, .. }
        )
    }
}

struct Inner {
    log: SagaLog,
    writer: mpsc::UnboundedSender<WriteJob>,
    participants: Participants,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How often the writer runs a batch again after a transient storage failure before it reports
/// the failure to the batch's waiters.
const WRITE_RETRIES: u32 = 3;

async fn write_loop(log: SagaLog, mut jobs: mpsc::UnboundedReceiver<WriteJob>, linger: Duration) {
    const BATCH_MAX: usize = 256;
    let drain = |jobs: &mut mpsc::UnboundedReceiver<WriteJob>, batch: &mut Vec<WriteJob>| {
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
    };
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        drain(&mut jobs, &mut batch);
        let linger_until = Instant::now() + linger;
        while batch.len() < BATCH_MAX && !batch.iter().any(WriteJob::urgent) {
            match tokio::time::timeout_at(linger_until, jobs.recv()).await {
                Ok(Some(job)) => {
                    batch.push(job);
                    drain(&mut jobs, &mut batch);
                }
                _ => break,
            }
        }
        let mut creates = Vec::new();
        let mut created_done = Vec::new();
        // Consecutive appends of one saga become one (one UPDATE, one INSERT of all its events);
        // every job waiting on them gets the merged answer.
        let mut appends: Vec<Append> = Vec::new();
        let mut appended_done: Vec<Vec<(String, Option<AppendDone>)>> = Vec::new();
        for job in batch {
            match job {
                WriteJob::Create { new, done } => {
                    creates.push(new);
                    created_done.push(done);
                }
                WriteJob::Append { append, done, .. } => {
                    let waiter = (append.saga_id.clone(), done);
                    let merged = appends.iter_mut().enumerate().rev().find(|(_, earlier)| {
                        earlier.saga_id == append.saga_id
                            && earlier.fence == append.fence
                            && earlier.after + earlier.events.len() as u64 == append.after
                    });
                    match merged {
                        Some((index, earlier)) => {
                            earlier.events.extend(append.events);
                            earlier.state = append.state;
                            earlier.reason = append.reason;
                            earlier.owner = append.owner;
                            earlier.lease_until = append.lease_until;
                            earlier.now = append.now;
                            appended_done[index].push(waiter);
                        }
                        None => {
                            appends.push(append);
                            appended_done.push(vec![waiter]);
                        }
                    }
                }
            }
        }
        // A deadlock or serialisation failure (PostgreSQL, against the lease renewal's updates)
        // rolled the whole batch back: nothing of it applied, so it is safe to run again.
        let mut retries = 0;
        let outcome = loop {
            match log.commit(&creates, &appends).await {
                Err(error) if error.is_transient() && retries < WRITE_RETRIES => {
                    retries += 1;
                    tracing::warn!(%error, retries, "saga log write failed; writing the batch again");
                    tokio::time::sleep(Duration::from_millis(5 << retries)).await;
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok((created, appended)) => {
                for (done, result) in created_done.into_iter().zip(created) {
                    let _ = done.send(result);
                }
                for (waiters, result) in appended_done.into_iter().zip(appended) {
                    for (saga_id, done) in waiters {
                        let result = match &result {
                            Ok(()) => Ok(()),
                            Err(_) => Err(LogError::LostLease {
                                saga_id: saga_id.clone(),
                            }),
                        };
                        match done {
                            Some(done) => {
                                let _ = done.send(result);
                            }
                            None => {
                                if let Err(error) = result {
                                    tracing::warn!(%saga_id, %error, "saga log append refused");
                                }
                            }
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "saga log write failed");
                for done in created_done {
                    let _ = done.send(Err(LogError::Db(sea_orm_error(&error))));
                }
                for (_, done) in appended_done.into_iter().flatten() {
                    if let Some(done) = done {
                        let _ = done.send(Err(LogError::Db(sea_orm_error(&error))));
                    }
                }
            }
        }
    }
}

fn sea_orm_error(error: &LogError) -> hrmesh_saga_store::DbErr {
    hrmesh_saga_store::DbErr::Custom(error.to_string())
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

impl Engine {
    /// Starts the writer; [`Engine::start_background`] starts leases and recovery.
    pub fn new(
        log: SagaLog,
        participants: Participants,
        config: EngineConfig,
    ) -> (Self, JoinHandle<()>) {
        let (writer, jobs) = mpsc::unbounded_channel();
        let writer_task = tokio::spawn(write_loop(log.clone(), jobs, config.linger));
        let engine = Self {
            inner: Arc::new(Inner {
                log,
                writer,
                participants,
                config,
                local: Mutex::new(HashMap::new()),
            }),
        };
        (engine, writer_task)
    }

    pub fn log(&self) -> &SagaLog {
        &self.inner.log
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

    /// Creates a saga through the writer, sharing its flush with queued appends.
    pub async fn create(&self, new: NewSaga) -> Result<Created, LogError> {
        let (done, answer) = oneshot::channel();
        self.inner
            .writer
            .send(WriteJob::Create { new, done })
            .map_err(|_| LogError::Corrupt("the saga log writer stopped".into()))?;
        answer
            .await
            .map_err(|_| LogError::Corrupt("the saga log writer stopped".into()))?
    }

    async fn write(&self, append: Append, urgent: bool, wait: bool) -> Result<(), LogError> {
        if !wait {
            let _ = self.inner.writer.send(WriteJob::Append {
                append,
                urgent,
                done: None,
            });
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.inner
            .writer
            .send(WriteJob::Append {
                append,
                urgent,
                done: Some(done),
            })
            .map_err(|_| LogError::Corrupt("the saga log writer stopped".into()))?;
        answer
            .await
            .map_err(|_| LogError::Corrupt("the saga log writer stopped".into()))?
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

    async fn run(&self, sender: &watch::Sender<Arc<Snapshot>>, deadline: Option<Instant>) {
        let snapshot = sender.borrow().as_ref().clone();
        let mut record = snapshot.record;
        let mut logged = snapshot.events;
        let saga_id = record.id.clone();
        let Some(kind) = SagaKind::parse(&record.saga_type) else {
            tracing::error!(%saga_id, saga_type = %record.saga_type, "unknown saga type");
            return;
        };
        let input = match pb::StartSagaRequest::decode(record.input.as_slice()) {
            Ok(pb::StartSagaRequest {
                input: Some(input), ..
            }) => input,
            _ => {
                tracing::error!(%saga_id, "the saga's start request cannot be decoded");
                return;
            }
        };
        let definition = kind.definition();
        let policy = self.inner.config.policy;
        let me = self.inner.config.replica_id.clone();
        let mut events: Vec<Event> = logged.iter().map(|e| e.event.clone()).collect();
        let mut step_outputs = outputs(&events, definition.steps().len());
        let created = record.created_at.date_naive();
        loop {
            let (event, wait) = match decide(definition, &events, &policy) {
                Decision::Finish(_) | Decision::Stuck { .. } => {
                    let (state, reason) = summarize(definition, &events, &policy);
                    if record.state != state {
                        // Recovered with a stale state: record what the log says.
                        let append = Append {
                            saga_id: saga_id.clone(),
                            fence: Fence::Owner(me.clone()),
                            after: record.events,
                            events: Vec::new(),
                            state,
                            reason: reason.clone(),
                            owner: None,
                            lease_until: None,
                            now: Utc::now(),
                        };
                        if let Err(error) = self.write(append, true, true).await {
                            tracing::warn!(%saga_id, %error, "could not record the saga's state");
                        }
                        record.state = state;
                        record.reason = reason;
                        sender.send_replace(Arc::new(Snapshot {
                            record: record.clone(),
                            events: logged.clone(),
                        }));
                    }
                    return;
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
                    let budget = deadline.filter(|deadline| *deadline > Instant::now());
                    let participants = &self.inner.participants;
                    let mut redriven = None;
                    if direction == Direction::Compensate && forward_uncertain {
                        // The forward call never answered: call it again (same key) to learn
                        // whether it applied and with what, then undo that.
                        let ctx = StepContext {
                            saga_id: &saga_id,
                            created,
                            input: &input,
                            outputs: &step_outputs,
                            deadline: budget,
                        };
                        let span = step_span(definition, step, Direction::Forward, round);
                        match run_step(participants, &ctx, step, Direction::Forward)
                            .instrument(span)
                            .await
                        {
                            StepResult::Done(output) => step_outputs[step] = Some(output),
                            StepResult::Rejected(_) => {
                                redriven = Some(StepResult::Done(StepOutput::new()));
                            }
                            failed @ StepResult::Failed(_) => redriven = Some(failed),
                        }
                    }
                    let result = match redriven {
                        Some(result) => result,
                        None => {
                            let ctx = StepContext {
                                saga_id: &saga_id,
                                created,
                                input: &input,
                                outputs: &step_outputs,
                                deadline: budget,
                            };
                            let started = Instant::now();
                            let span = step_span(definition, step, direction, round);
                            let result = run_step(participants, &ctx, step, direction)
                                .instrument(span)
                                .await;
                            metrics::histogram!(
                                "hrmesh_saga_step_duration_seconds",
                                "saga_type" => kind.as_str(),
                                "step" => definition.steps()[step].name,
                                "direction" => direction_name(direction),
                                "outcome" => match &result {
                                    StepResult::Done(_) => "done",
                                    StepResult::Rejected(_) => "rejected",
                                    StepResult::Failed(_) => "failed",
                                },
                            )
                            .record(started.elapsed().as_secs_f64());
                            result
                        }
                    };
                    match (direction, result) {
                        (Direction::Forward, StepResult::Done(output)) => {
                            step_outputs[step] = Some(output.clone());
                            (Event::StepSucceeded { step, output }, false)
                        }
                        (Direction::Forward, StepResult::Rejected(reason)) => {
                            (Event::StepRejected { step, reason }, true)
                        }
                        (Direction::Forward, StepResult::Failed(error)) => {
                            (Event::StepFailed { step, error }, true)
                        }
                        (Direction::Compensate, StepResult::Done(_)) => {
                            (Event::CompensationSucceeded { step }, false)
                        }
                        (
                            Direction::Compensate,
                            StepResult::Rejected(error) | StepResult::Failed(error),
                        ) => (Event::CompensationFailed { step, error }, true),
                    }
                }
            };
            events.push(event.clone());
            let (state, reason) = summarize(definition, &events, &policy);
            let active = matches!(state, SagaState::Running | SagaState::Compensating);
            let now = Utc::now();
            // Entering stuck needs an operator: make it durable before saying so.
            let wait = wait || state == SagaState::Stuck;
            if state != record.state {
                saga_state_reached(kind.as_str(), state);
            }
            let append = Append {
                saga_id: saga_id.clone(),
                fence: Fence::Owner(me.clone()),
                after: record.events,
                events: vec![event.clone()],
                state,
                reason: reason.clone(),
                owner: active.then(|| me.clone()),
                lease_until: active.then(|| self.lease_until()),
                now,
            };
            if active || state == SagaState::Stuck {
                if let Err(error) = self.write(append, wait, wait).await {
                    // Another replica owns the saga now, or the log is unreachable: stop here.
                    // The lease runs out and whoever claims the saga resumes it from its log.
                    tracing::warn!(%saga_id, %error, "stopping the saga here");
                    return;
                }
            } else {
                // Finished: tell waiters at once, and stay registered (so reads see this
                // snapshot) until the log has it. Were the write lost, the saga would be resumed
                // and finish the same way: every call replays its first answer.
                let mut finished = record.clone();
                finished.events += 1;
                finished.state = state;
                finished.reason = reason.clone();
                finished.updated_at = now;
                finished.owner = None;
                finished.lease_until = None;
                let mut all = logged.clone();
                all.push(LoggedEvent {
                    seq: finished.events,
                    at: now,
                    event,
                });
                sender.send_replace(Arc::new(Snapshot {
                    record: finished,
                    events: all,
                }));
                if let Err(error) = self.write(append, false, true).await {
                    tracing::warn!(%saga_id, %error, "the saga's end was not logged; it will be resumed");
                }
                return;
            }
            record.events += 1;
            record.state = state;
            record.reason = reason;
            record.updated_at = now;
            if !active {
                record.owner = None;
                record.lease_until = None;
            }
            logged.push(LoggedEvent {
                seq: record.events,
                at: now,
                event,
            });
            sender.send_replace(Arc::new(Snapshot {
                record: record.clone(),
                events: logged.clone(),
            }));
        }
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
        let claimed = self
            .inner
            .log
            .claim(
                &self.inner.config.replica_id,
                Utc::now(),
                self.lease_until(),
                100,
            )
            .await?;
        let mut resumed = 0;
        for record in claimed {
            if self.subscribe(&record.id).is_some() {
                continue;
            }
            let events = self.inner.log.events(&record.id, 0).await?;
            tracing::info!(saga_id = %record.id, events = events.len(), "resuming saga");
            self.spawn(record, events, None);
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Appends an operator's event to a stuck saga and resumes it if it has more to do.
    pub async fn operator(&self, saga_id: &str, event: Event) -> Result<Snapshot, LogError> {
        let Some((record, mut logged)) = self.inner.log.get(saga_id).await? else {
            return Err(LogError::NotFound(saga_id.to_owned()));
        };
        if record.state != SagaState::Stuck {
            return Err(LogError::NotStuck {
                saga_id: saga_id.to_owned(),
                state: record.state.as_str().to_owned(),
            });
        }
        let kind = SagaKind::parse(&record.saga_type)
            .ok_or_else(|| LogError::Corrupt(format!("saga type {}", record.saga_type)))?;
        let definition = kind.definition();
        let mut events: Vec<Event> = logged.iter().map(|e| e.event.clone()).collect();
        events.push(event.clone());
        let policy = self.inner.config.policy;
        let (state, reason) = summarize(definition, &events, &policy);
        let active = matches!(state, SagaState::Running | SagaState::Compensating);
        let now = Utc::now();
        let me = self.inner.config.replica_id.clone();
        self.write(
            Append {
                saga_id: saga_id.to_owned(),
                fence: Fence::Stuck,
                after: record.events,
                events: vec![event.clone()],
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

    /// Which step a stuck saga is stuck on, and in which direction.
    pub fn stuck_step(&self, snapshot: &Snapshot) -> Option<(usize, Direction)> {
        let kind = SagaKind::parse(&snapshot.record.saga_type)?;
        let events: Vec<Event> = snapshot.events.iter().map(|e| e.event.clone()).collect();
        match decide(kind.definition(), &events, &self.inner.config.policy) {
            Decision::Stuck {
                step, direction, ..
            } => Some((step, direction)),
            _ => None,
        }
    }
}

fn step_span(
    definition: &hrmesh_saga_core::Definition,
    step: usize,
    direction: Direction,
    round: u32,
) -> tracing::Span {
    let name = definition.steps().get(step).map_or("?", |def| def.name);
    let direction = direction_name(direction);
    tracing::info_span!(
        "saga.step",
        otel.name = %format_args!("{direction} {name}"),
        step = name,
        direction,
        round,
    )
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
