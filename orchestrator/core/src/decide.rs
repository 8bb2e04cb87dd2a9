use serde::{Deserialize, Serialize};

use crate::{Definition, Direction, StepKind, StepOutput};

/// Why a round of attempts at a call did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// No answer: the participant was down, slow, overloaded, or its breaker is open. The effect
    /// may or may not have landed; calling again with the same key is safe. Retried within a
    /// budget.
    Unavailable,
    /// The participant answered with a bug or a misconfiguration (INTERNAL, UNKNOWN,
    /// UNAUTHENTICATED, UNIMPLEMENTED, DATA_LOSS): it will not mend itself, so an operator looks
    /// at once.
    Fault,
    /// The participant refused an undo (a business answer its inbox keeps): asking again gets
    /// the same answer.
    Rejected,
}

/// One failed round of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub error: String,
    /// When the round ended, in milliseconds since the Unix epoch; 0 when unknown (a log written
    /// before failures were timed). Budgets measured in time start at the first known one.
    pub at_ms: u64,
}

impl Failure {
    pub fn unavailable(error: impl Into<String>, at_ms: u64) -> Self {
        Self {
            kind: FailureKind::Unavailable,
            error: error.into(),
            at_ms,
        }
    }

    pub fn fault(error: impl Into<String>, at_ms: u64) -> Self {
        Self {
            kind: FailureKind::Fault,
            error: error.into(),
            at_ms,
        }
    }
}

/// One entry of a saga's log. The log is append-only; the saga's state is a function of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The step's forward call succeeded.
    StepSucceeded {
        step: usize,
        output: StepOutput,
    },
    /// The participant refused the step's forward call (a business outcome).
    StepRejected {
        step: usize,
        reason: String,
    },
    /// A round of attempts at the step's forward call failed without a business answer.
    StepFailed {
        step: usize,
        failure: Failure,
    },
    /// The forward budget of a step before the pivot ran out: the saga gives up and compensates,
    /// the step included (its effect may have landed).
    StepAbandoned {
        step: usize,
        reason: String,
    },
    CompensationSucceeded {
        step: usize,
    },
    /// A round of attempts at the step's undo failed.
    CompensationFailed {
        step: usize,
        failure: Failure,
    },
    /// An operator asked a stuck saga to try again.
    OperatorRetried {
        actor: String,
        request_id: String,
    },
    /// An operator declared the stuck step done without calling it.
    OperatorSkipped {
        step: usize,
        direction: Direction,
        actor: String,
        justification: String,
        request_id: String,
    },
    /// An operator declared the saga compensated by hand.
    OperatorMarkedCompensated {
        actor: String,
        justification: String,
        request_id: String,
    },
}

impl Event {
    /// The request id of an operator's event.
    pub fn operator_request_id(&self) -> Option<&str> {
        match self {
            Event::OperatorRetried { request_id, .. }
            | Event::OperatorSkipped { request_id, .. }
            | Event::OperatorMarkedCompensated { request_id, .. } => Some(request_id),
            _ => None,
        }
    }
}

/// How long a call may keep failing without an answer: whichever limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Failed rounds at most.
    pub rounds_max: u32,
    /// Milliseconds from the first failed round to the last at most.
    pub elapsed_ms_max: u64,
}

/// The longest gap between two failed rounds that counts toward a time budget. A longer one is
/// not the participant's outage but the orchestrator's (it was stopped, or the saga waited for a
/// takeover): a saga resumed after downtime must not give up for time it did not spend trying.
pub const ROUND_GAP_COUNTED_MS_MAX: u64 = 60_000;

impl Budget {
    /// Whether the failed rounds `at_ms` (their end times, oldest first; 0 when unknown) have used
    /// it up: the rounds, or the time between them, each gap counted up to
    /// [`ROUND_GAP_COUNTED_MS_MAX`].
    fn exhausted(&self, at_ms: &[u64]) -> bool {
        if at_ms.len() as u64 >= u64::from(self.rounds_max.max(1)) {
            return true;
        }
        let known: Vec<u64> = at_ms.iter().copied().filter(|at| *at > 0).collect();
        let spent: u64 = known
            .windows(2)
            .map(|pair| {
                pair[1]
                    .saturating_sub(pair[0])
                    .min(ROUND_GAP_COUNTED_MS_MAX)
            })
            .sum();
        spent >= self.elapsed_ms_max
    }
}

/// How long the engine retries before it gives up (before the pivot) or stops for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// A compensatable step's outages before the saga gives up and compensates: long enough to
    /// ride out a restart or a rolling deploy of the participant.
    pub forward: Budget,
    /// The pivot's and the retriable steps' outages before the saga is stuck.
    pub after_pivot: Budget,
    /// An undo's outages before the saga is stuck.
    pub compensation: Budget,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            forward: Budget {
                rounds_max: 40,
                elapsed_ms_max: 120_000,
            },
            after_pivot: Budget {
                rounds_max: 60,
                elapsed_ms_max: 600_000,
            },
            compensation: Budget {
                rounds_max: 40,
                elapsed_ms_max: 120_000,
            },
        }
    }
}

/// How a saga ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Completed,
    Compensated,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Call `step` in `direction`. `round` counts the failed rounds before this one (for backoff).
    /// `forward_uncertain` marks a compensation of a step whose forward call never answered: the
    /// executor re-drives the forward call first (same idempotency key) to learn what to undo.
    Call {
        step: usize,
        direction: Direction,
        round: u32,
        forward_uncertain: bool,
    },
    /// The forward budget of `step` (before the pivot) ran out: log [`Event::StepAbandoned`] with
    /// `reason`, then compensate.
    GiveUp {
        step: usize,
        reason: String,
    },
    Finish(Outcome),
    /// Waiting for an operator.
    Stuck {
        step: usize,
        direction: Direction,
        reason: String,
    },
}

/// A saga's state as the log makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SagaState {
    Running,
    Compensating,
    Completed,
    Compensated,
    Stuck,
}

impl SagaState {
    pub const ALL: [SagaState; 5] = [
        SagaState::Running,
        SagaState::Compensating,
        SagaState::Completed,
        SagaState::Compensated,
        SagaState::Stuck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaState::Running => "running",
            SagaState::Compensating => "compensating",
            SagaState::Completed => "completed",
            SagaState::Compensated => "compensated",
            SagaState::Stuck => "stuck",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Completed and compensated sagas never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, SagaState::Completed | SagaState::Compensated)
    }
}

/// The failed rounds of one call since its last success or operator retry.
#[derive(Debug, Clone, Default)]
struct Streak {
    at_ms: Vec<u64>,
    /// The last round's failure, if it needs an operator at once (a fault or a refused undo).
    blocking: Option<Failure>,
    last_error: String,
}

impl Streak {
    fn push(&mut self, failure: &Failure) {
        self.at_ms.push(failure.at_ms);
        self.last_error = failure.error.clone();
        self.blocking = (failure.kind != FailureKind::Unavailable).then(|| failure.clone());
    }
}

/// What the log says about each step and the saga.
struct Replay {
    done: Vec<bool>,
    forward_uncertain: Vec<bool>,
    compensated: Vec<bool>,
    forward: Vec<Streak>,
    compensation: Vec<Streak>,
    /// A retriable step's rejection, waiting for an operator.
    forward_rejected: Option<(usize, String)>,
    compensating: bool,
    marked_compensated: bool,
}

fn replay(definition: &Definition, log: &[Event]) -> Replay {
    let n = definition.steps().len();
    let mut r = Replay {
        done: vec![false; n],
        forward_uncertain: vec![false; n],
        compensated: vec![false; n],
        forward: vec![Streak::default(); n],
        compensation: vec![Streak::default(); n],
        forward_rejected: None,
        compensating: false,
        marked_compensated: false,
    };
    let kind = |step: usize| definition.step(step).map(|s| s.kind);
    for event in log {
        match event {
            Event::StepSucceeded { step, .. } if *step < n => {
                r.done[*step] = true;
                r.forward_uncertain[*step] = false;
                r.forward[*step] = Streak::default();
            }
            Event::StepRejected { step, reason } if *step < n => {
                r.forward_uncertain[*step] = false;
                if kind(*step) == Some(StepKind::Retriable) {
                    r.forward_rejected = Some((*step, reason.clone()));
                } else {
                    r.compensating = true;
                }
            }
            Event::StepFailed { step, failure } if *step < n => {
                r.forward[*step].push(failure);
                if kind(*step) == Some(StepKind::Compensatable) {
                    r.forward_uncertain[*step] = true;
                }
            }
            Event::StepAbandoned { step, .. } if *step < n => {
                r.forward_uncertain[*step] = !r.done[*step];
                r.compensating = true;
            }
            Event::CompensationSucceeded { step } if *step < n => {
                r.compensated[*step] = true;
            }
            Event::CompensationFailed { step, failure } if *step < n => {
                r.compensation[*step].push(failure);
            }
            Event::OperatorRetried { .. } => {
                r.forward.iter_mut().for_each(|s| *s = Streak::default());
                r.compensation
                    .iter_mut()
                    .for_each(|s| *s = Streak::default());
                r.forward_rejected = None;
            }
            Event::OperatorSkipped {
                step, direction, ..
            } if *step < n => match direction {
                Direction::Compensate => r.compensated[*step] = true,
                Direction::Forward => {
                    r.done[*step] = true;
                    r.forward[*step] = Streak::default();
                    if r.forward_rejected.as_ref().is_some_and(|(s, _)| s == step) {
                        r.forward_rejected = None;
                    }
                }
            },
            Event::OperatorMarkedCompensated { .. } => r.marked_compensated = true,
            // Events naming a step the definition does not have are ignored: the log of an
            // older definition never steers a newer one off its steps.
            _ => {}
        }
    }
    r
}

fn step_name(definition: &Definition, step: usize) -> &'static str {
    definition.step(step).map_or("?", |s| s.name)
}

/// Decides what to do next for a saga of `definition` whose log is `log`. Pure: the same inputs
/// always give the same decision.
pub fn decide(definition: &Definition, log: &[Event], policy: &Policy) -> Decision {
    let r = replay(definition, log);
    if r.marked_compensated {
        return Decision::Finish(Outcome::Compensated);
    }
    if r.compensating {
        // Undo, newest first, every compensatable step whose effect exists or may exist.
        for step in (0..r.done.len()).rev() {
            let applied = r.done[step] || r.forward_uncertain[step];
            let undoable = definition.step(step).map(|s| s.kind) == Some(StepKind::Compensatable);
            if !applied || !undoable || r.compensated[step] {
                continue;
            }
            let streak = &r.compensation[step];
            let name = step_name(definition, step);
            if let Some(failure) = &streak.blocking {
                return Decision::Stuck {
                    step,
                    direction: Direction::Compensate,
                    reason: format!(
                        "compensating step {step} ({name}) {}: {}",
                        match failure.kind {
                            FailureKind::Rejected => "was refused",
                            _ => "met a fault on the participant",
                        },
                        failure.error
                    ),
                };
            }
            if policy.compensation.exhausted(&streak.at_ms) {
                return Decision::Stuck {
                    step,
                    direction: Direction::Compensate,
                    reason: format!(
                        "compensating step {step} ({name}) failed {} times: {}",
                        streak.at_ms.len(),
                        streak.last_error
                    ),
                };
            }
            return Decision::Call {
                step,
                direction: Direction::Compensate,
                round: streak.at_ms.len() as u32,
                forward_uncertain: !r.done[step],
            };
        }
        return Decision::Finish(Outcome::Compensated);
    }
    if let Some((step, reason)) = r.forward_rejected {
        return Decision::Stuck {
            step,
            direction: Direction::Forward,
            reason: format!(
                "step {step} ({}) after the pivot was rejected: {reason}",
                step_name(definition, step)
            ),
        };
    }
    let Some(step) = r.done.iter().position(|done| !done) else {
        return Decision::Finish(Outcome::Completed);
    };
    let streak = &r.forward[step];
    let name = step_name(definition, step);
    if let Some(failure) = &streak.blocking {
        return Decision::Stuck {
            step,
            direction: Direction::Forward,
            reason: format!(
                "step {step} ({name}) met a fault on the participant: {}; retry once it is fixed",
                failure.error
            ),
        };
    }
    let before_pivot = definition.steps()[step].kind == StepKind::Compensatable;
    let budget = if before_pivot {
        &policy.forward
    } else {
        &policy.after_pivot
    };
    if budget.exhausted(&streak.at_ms) {
        let rounds = streak.at_ms.len();
        let reason = format!(
            "step {step} ({name}) had no answer in {rounds} rounds, the retry budget: {}",
            streak.last_error
        );
        if before_pivot {
            return Decision::GiveUp { step, reason };
        }
        return Decision::Stuck {
            step,
            direction: Direction::Forward,
            reason,
        };
    }
    Decision::Call {
        step,
        direction: Direction::Forward,
        round: streak.at_ms.len() as u32,
        forward_uncertain: false,
    }
}

/// Which step a stuck saga waits on, and in which direction; `None` unless stuck.
pub fn stuck_at(
    definition: &Definition,
    log: &[Event],
    policy: &Policy,
) -> Option<(usize, Direction)> {
    match decide(definition, log, policy) {
        Decision::Stuck {
            step, direction, ..
        } => Some((step, direction)),
        _ => None,
    }
}

/// The saga's state and, when it failed or is stuck, why.
pub fn summarize(definition: &Definition, log: &[Event], policy: &Policy) -> (SagaState, String) {
    let why_compensating = || {
        log.iter()
            .find_map(|event| match event {
                Event::StepRejected { step, reason } => Some(format!(
                    "step {step} ({}) was rejected: {reason}",
                    step_name(definition, *step)
                )),
                Event::StepAbandoned { step: _, reason } => Some(format!("gave up: {reason}")),
                _ => None,
            })
            .unwrap_or_default()
    };
    match decide(definition, log, policy) {
        Decision::Finish(Outcome::Completed) => (SagaState::Completed, String::new()),
        Decision::Finish(Outcome::Compensated) => (SagaState::Compensated, why_compensating()),
        Decision::Stuck { reason, .. } => (SagaState::Stuck, reason),
        Decision::Call {
            direction: Direction::Compensate,
            ..
        } => (SagaState::Compensating, why_compensating()),
        Decision::Call { .. } | Decision::GiveUp { .. } => (SagaState::Running, String::new()),
    }
}
