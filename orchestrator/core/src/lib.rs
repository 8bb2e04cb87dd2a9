//! The sans-IO saga engine.
//!
//! A saga is a [`Definition`] — an ordered list of steps, each **compensatable** (it has an undo),
//! the **pivot** (the point of no return) or **retriable** (after the pivot; retried until it
//! succeeds, never undone) — and a log of [`Event`]s. [`decide`] reads both and says what to do
//! next: call a step forward, compensate one, finish, or stop as stuck for an operator. It does no
//! IO and keeps no state, so the same log always gives the same decision: a saga resumed from its
//! durable log after a crash continues exactly where it was.
//!
//! The rules:
//! - a definition is compensatable steps, then at most one pivot, then retriable steps; anything
//!   else is refused when it is built;
//! - a business rejection (or a failed round of attempts) before the pivot compensates every step
//!   that completed — and the failed step itself, whose effect may have landed — in strict reverse
//!   order;
//! - a pivot whose outcome is unknown is re-driven; after `pivot_rounds` failed rounds the saga is
//!   stuck (an operator decides), since nothing after the pivot can be undone;
//! - retriable steps are retried until they succeed; one a participant rejects is stuck;
//! - a compensation that fails `compensation_rounds` rounds in a row makes the saga stuck;
//! - operators may retry a stuck saga, skip its stuck step (with a justification) or mark it
//!   compensated; those actions are events too.

mod decide;
mod definition;

pub use decide::{Decision, Event, Outcome, Policy, SagaState, StepOutput, decide, summarize};
pub use definition::{
    Definition, DefinitionError, Direction, LockMode, StepDef, StepKind, idempotency_key,
};
