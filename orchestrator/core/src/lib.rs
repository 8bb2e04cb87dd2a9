//! The sans-IO saga core: the business sagas as typed definitions, the commands their steps send
//! to participants, the saga log's events and their versioned encoding, and the engine's
//! decision of what to do next.
//!
//! A saga is a [`Definition`] — an ordered list of steps, each **compensatable** (it has an undo),
//! the **pivot** (the point of no return) or **retriable** (after the pivot; never undone) — and a
//! log of [`Event`]s. [`decide`] reads both and says what to do next: call a step forward,
//! compensate one, give up going forward, finish, or stop as stuck for an operator. It does no IO
//! and keeps no state, so the same log always gives the same decision: a saga resumed from its
//! durable log after a crash continues exactly where it was. Each saga in [`sagas`] turns its
//! typed input and the outputs of earlier steps into a [`ParticipantCommand`] per step and
//! direction ([`SagaInput::plan`]).
//!
//! The rules:
//! - a definition is compensatable steps, then at most one pivot, then retriable steps; anything
//!   else is refused when it is built;
//! - only a business rejection before the pivot compensates at once; an outage (no answer) is
//!   retried within the forward budget, and only when that runs out does the saga give up
//!   ([`Event::StepAbandoned`]) and compensate every step that completed — and the failed step
//!   itself, whose effect may have landed — in strict reverse order;
//! - the pivot and the retriable steps are retried within their own budget; past it, or when a
//!   participant rejects a retriable step, the saga is stuck (nothing after the pivot can be
//!   undone);
//! - a fault (a bug or a misconfiguration answering) makes the saga stuck at once: retrying will
//!   not mend it, an operator retries once it is fixed;
//! - an undo that is refused, or fails past the compensation budget, makes the saga stuck;
//! - operators may retry a stuck saga, skip its stuck step (with a justification) or mark it
//!   compensated; those actions are events too.
//!
//! No transport or storage types: only `hrmesh-domain`, chrono, serde.

pub mod codec;
pub mod command;
mod decide;
mod definition;
pub mod ids;
pub mod integration;
pub mod output;
pub mod sagas;

pub use command::{CallOutcome, CommandKind, Participant, ParticipantCommand, Reason, Rejection};
pub use decide::{
    Budget, Decision, Event, Failure, FailureKind, Outcome, Policy, SagaState, decide, stuck_at,
    summarize,
};
pub use definition::{
    Definition, DefinitionError, Direction, LockMode, StepDef, StepKind, idempotency_key,
};
pub use integration::{IntegrationEvent, SagaFacts};
pub use output::StepOutput;
pub use sagas::{Plan, SagaInput, SagaType, StepContext};
