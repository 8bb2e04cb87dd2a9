use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Definition, Direction, StepKind};

/// Facts a step's call returned that later calls need (a hold id, an entry id).
pub type StepOutput = BTreeMap<String, String>;

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
    /// A round of attempts at the step's forward call failed without an answer: its effect may or
    /// may not have landed.
    StepFailed {
        step: usize,
        error: String,
    },
    CompensationSucceeded {
        step: usize,
    },
    /// A round of attempts at the step's undo failed.
    CompensationFailed {
        step: usize,
        error: String,
    },
    /// An operator asked a stuck saga to try again.
    OperatorRetried {
        actor: String,
    },
    /// An operator declared the stuck step done without calling it.
    OperatorSkipped {
        step: usize,
        direction: Direction,
        actor: String,
        justification: String,
    },
    /// An operator declared the saga compensated by hand.
    OperatorMarkedCompensated {
        actor: String,
        justification: String,
    },
}

/// How many failed rounds the engine accepts before it stops for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Failed rounds of one compensation before the saga is stuck.
    pub compensation_rounds: u32,
    /// Failed rounds of the pivot (outcome unknown) before the saga is stuck.
    pub pivot_rounds: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            compensation_rounds: 5,
            pivot_rounds: 5,
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

/// What the log says about each step and the saga.
struct Replay {
    done: Vec<bool>,
    forward_uncertain: Vec<bool>,
    compensated: Vec<bool>,
    forward_failures: Vec<u32>,
    compensation_failures: Vec<u32>,
    /// A retriable step's rejection, waiting for an operator.
    forward_rejected: Option<(usize, String)>,
    compensating: bool,
    marked_compensated: bool,
    last_error: Vec<String>,
}

fn replay(definition: &Definition, log: &[Event]) -> Replay {
    let n = definition.steps().len();
    let mut r = Replay {
        done: vec![false; n],
        forward_uncertain: vec![false; n],
        compensated: vec![false; n],
        forward_failures: vec![0; n],
        compensation_failures: vec![0; n],
        forward_rejected: None,
        compensating: false,
        marked_compensated: false,
        last_error: vec![String::new(); n],
    };
    let kind = |step: usize| definition.step(step).map(|s| s.kind);
    for event in log {
        match event {
            Event::StepSucceeded { step, .. } if *step < n => {
                r.done[*step] = true;
                r.forward_uncertain[*step] = false;
            }
            Event::StepRejected { step, reason } if *step < n => {
                r.forward_uncertain[*step] = false;
                r.last_error[*step] = reason.clone();
                if kind(*step) == Some(StepKind::Retriable) {
                    r.forward_rejected = Some((*step, reason.clone()));
                } else {
                    r.compensating = true;
                }
            }
            Event::StepFailed { step, error } if *step < n => {
                r.forward_failures[*step] += 1;
                r.last_error[*step] = error.clone();
                if kind(*step) == Some(StepKind::Compensatable) {
                    r.forward_uncertain[*step] = true;
                    r.compensating = true;
                }
            }
            Event::CompensationSucceeded { step } if *step < n => {
                r.compensated[*step] = true;
            }
            Event::CompensationFailed { step, error } if *step < n => {
                r.compensation_failures[*step] += 1;
                r.last_error[*step] = error.clone();
            }
            Event::OperatorRetried { .. } => {
                r.compensation_failures
                    .iter_mut()
                    .for_each(|count| *count = 0);
                if let Some(pivot) = definition.pivot() {
                    r.forward_failures[pivot] = 0;
                }
                r.forward_rejected = None;
            }
            Event::OperatorSkipped {
                step, direction, ..
            } if *step < n => match direction {
                Direction::Compensate => r.compensated[*step] = true,
                Direction::Forward => {
                    r.done[*step] = true;
                    if r.forward_rejected.as_ref().is_some_and(|(s, _)| s == step) {
                        r.forward_rejected = None;
                    }
                    if definition.step(*step).map(|s| s.kind) == Some(StepKind::Pivot) {
                        r.forward_failures[*step] = 0;
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
            let failures = r.compensation_failures[step];
            if failures >= policy.compensation_rounds {
                return Decision::Stuck {
                    step,
                    direction: Direction::Compensate,
                    reason: format!(
                        "compensating step {step} ({}) failed {failures} times: {}",
                        definition.steps()[step].name,
                        r.last_error[step]
                    ),
                };
            }
            return Decision::Call {
                step,
                direction: Direction::Compensate,
                round: failures,
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
                definition.steps()[step].name
            ),
        };
    }
    let Some(step) = r.done.iter().position(|done| !done) else {
        return Decision::Finish(Outcome::Completed);
    };
    let failures = r.forward_failures[step];
    if definition.steps()[step].kind == StepKind::Pivot && failures >= policy.pivot_rounds {
        return Decision::Stuck {
            step,
            direction: Direction::Forward,
            reason: format!(
                "the pivot, step {step} ({}), has no known outcome after {failures} rounds: {}",
                definition.steps()[step].name,
                r.last_error[step]
            ),
        };
    }
    Decision::Call {
        step,
        direction: Direction::Forward,
        round: failures,
        forward_uncertain: false,
    }
}

/// The saga's state and, when it failed or is stuck, why.
pub fn summarize(definition: &Definition, log: &[Event], policy: &Policy) -> (SagaState, String) {
    let first_rejection = log.iter().find_map(|event| match event {
        Event::StepRejected { step, reason } => Some(format!(
            "step {step} ({}) was rejected: {reason}",
            definition.step(*step).map_or("?", |s| s.name)
        )),
        Event::StepFailed { step, error } => Some(format!(
            "step {step} ({}) failed: {error}",
            definition.step(*step).map_or("?", |s| s.name)
        )),
        _ => None,
    });
    match decide(definition, log, policy) {
        Decision::Finish(Outcome::Completed) => (SagaState::Completed, String::new()),
        Decision::Finish(Outcome::Compensated) => {
            (SagaState::Compensated, first_rejection.unwrap_or_default())
        }
        Decision::Stuck { reason, .. } => (SagaState::Stuck, reason),
        Decision::Call {
            direction: Direction::Compensate,
            ..
        } => (SagaState::Compensating, first_rejection.unwrap_or_default()),
        Decision::Call { .. } => (SagaState::Running, String::new()),
    }
}
