//! Performance management's domain: reviews (with their explicit state machine), goals with a
//! progress history, performance improvement plans, 360 feedback (with the anonymity rule), the
//! per-employee limits, the [`PerformanceStore`] port the storage layer implements, and
//! [`Performance`], the service the gRPC server calls.
//!
//! Rules this crate states and the store applies atomically:
//! - a review moves only along [`ReviewState::after`]; anything else is an illegal transition;
//! - at most 50 reviews, 100 goals and 200 feedback entries per employee;
//! - at most one active PIP per employee; the goals of one review weigh at most 100 together;
//! - an anonymous giver never leaves the service ([`Feedback::visible`]);
//! - every undo succeeds without effect when what it undoes never happened;
//! - a request naming an employee changes only that employee's record ([`check_record_of`]).
//!
//! No transport or storage types here: no tonic, prost or sea-orm.

mod commands;
mod error;
mod events;
mod model;
mod service;

pub use commands::*;
pub use error::{PerformanceError, Rejection, Result};
pub use events::PerformanceEvent;
pub use model::*;
pub use service::{
    Performance, PerformanceStore, answer_feedback_request, check_goal_weights, check_review_of,
};
