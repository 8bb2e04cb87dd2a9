use serde::{Deserialize, Serialize};

/// What kind of step a saga step is (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepKind {
    Compensatable,
    Pivot,
    Retriable,
}

/// Which way a step is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Forward,
    Compensate,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "do",
            Direction::Compensate => "undo",
        }
    }
}

/// The idempotency key of one call: (saga, step, direction). Participants keep the first result
/// under it, so a call repeated after a crash has one effect and gets the same answer.
pub fn idempotency_key(saga_id: &str, step: usize, direction: Direction) -> String {
    format!("saga:{saga_id}:{step}:{}", direction.as_str())
}

/// Whether a saga holds a semantic lock on its employee while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LockMode {
    /// Touches nothing another saga must not interleave with.
    None,
    /// Changes the employee's records; may run alongside other shared holders.
    Shared,
    /// Must not interleave with any other saga of the employee (offboarding).
    Exclusive,
}

impl LockMode {
    /// Whether a saga holding `self` and one holding `other` on one employee may run together.
    pub fn compatible_with(self, other: LockMode) -> bool {
        !matches!(
            (self, other),
            (LockMode::Exclusive, LockMode::Shared | LockMode::Exclusive)
                | (LockMode::Shared, LockMode::Exclusive)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDef {
    pub name: &'static str,
    pub kind: StepKind,
}

impl StepDef {
    pub const fn compensatable(name: &'static str) -> Self {
        Self {
            name,
            kind: StepKind::Compensatable,
        }
    }

    pub const fn pivot(name: &'static str) -> Self {
        Self {
            name,
            kind: StepKind::Pivot,
        }
    }

    pub const fn retriable(name: &'static str) -> Self {
        Self {
            name,
            kind: StepKind::Retriable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("saga {saga_type} has no steps")]
    Empty { saga_type: &'static str },
    #[error(
        "saga {saga_type}: step {step} ({name}) is {kind:?} after a {after:?} step; the order is compensatable steps, then at most one pivot, then retriable steps"
    )]
    OutOfOrder {
        saga_type: &'static str,
        step: usize,
        name: &'static str,
        kind: StepKind,
        after: StepKind,
    },
    #[error("saga {saga_type}: two steps are named {name}")]
    DuplicateName {
        saga_type: &'static str,
        name: &'static str,
    },
}

/// A saga type: its steps in order and the lock it takes on its employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    saga_type: &'static str,
    steps: Vec<StepDef>,
    lock: LockMode,
}

fn rank(kind: StepKind) -> u8 {
    match kind {
        StepKind::Compensatable => 0,
        StepKind::Pivot => 1,
        StepKind::Retriable => 2,
    }
}

impl Definition {
    /// Builds a definition, refusing one whose steps break the order.
    pub fn new(
        saga_type: &'static str,
        lock: LockMode,
        steps: Vec<StepDef>,
    ) -> Result<Self, DefinitionError> {
        if steps.is_empty() {
            return Err(DefinitionError::Empty { saga_type });
        }
        for (step, pair) in steps.windows(2).enumerate() {
            let (before, this) = (pair[0], pair[1]);
            let out_of_order = rank(this.kind) < rank(before.kind)
                || (this.kind == StepKind::Pivot && before.kind == StepKind::Pivot);
            if out_of_order {
                return Err(DefinitionError::OutOfOrder {
                    saga_type,
                    step: step + 1,
                    name: this.name,
                    kind: this.kind,
                    after: before.kind,
                });
            }
        }
        for (i, step) in steps.iter().enumerate() {
            if steps[..i].iter().any(|other| other.name == step.name) {
                return Err(DefinitionError::DuplicateName {
                    saga_type,
                    name: step.name,
                });
            }
        }
        Ok(Self {
            saga_type,
            steps,
            lock,
        })
    }

    pub fn saga_type(&self) -> &'static str {
        self.saga_type
    }

    pub fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    pub fn step(&self, index: usize) -> Option<&StepDef> {
        self.steps.get(index)
    }

    pub fn lock(&self) -> LockMode {
        self.lock
    }

    /// The index of the pivot, if there is one.
    pub fn pivot(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|step| step.kind == StepKind::Pivot)
    }
}
