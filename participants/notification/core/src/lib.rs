//! The notification participant's domain.
//!
//! A notification is one document: the rendered message and one delivery per channel, each with its
//! attempts. Every change is computed here, on the document, by pure functions; the store only loads
//! and saves it with a version check (compare-and-swap), which MongoDB and SQL both do atomically
//! for one document or row. So the two stores hold the same rules by construction.
//!
//! Guarantees: a send is durable before it is acknowledged; a request id sends at most once; a
//! delivery is attempted until it succeeds or its attempts run out, then dead-lettered and kept for
//! redrive; a notification is never reported delivered while a channel failed; a delivery is leased
//! to one worker at a time, so two replicas do not send it twice concurrently (a worker that dies
//! mid-send leaves the lease to expire: delivery is at least once, and webhook receivers get the
//! delivery id to deduplicate).
//!
//! No transport or storage types here.

mod model;
mod rules;
mod service;
mod templates;

pub use model::*;
pub use rules::{QuietHours, RetryPolicy};
pub use service::{ChannelSender, Inserted, NotificationStore, Notifier};
pub use templates::{TEMPLATES, Template, render};

use hrmesh_domain::FieldViolation;
use serde::{Deserialize, Serialize};

pub type Result<T, E = NotificationError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum NotificationError {
    #[error("invalid request: {0:?}")]
    Invalid(Vec<FieldViolation>),
    #[error("{resource} {id} not found")]
    NotFound { resource: String, id: String },
    #[error("request id {request_id} was already used for a different request")]
    IdempotencyKeyReused { request_id: String },
    /// A rule refused the request (the reason is a stable UPPER_SNAKE name).
    #[error("{message}")]
    Rejected { reason: String, message: String },
    #[error("notification storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal notification error: {0}")]
    Internal(String),
}

impl NotificationError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        NotificationError::Invalid(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn not_found(id: &str) -> Self {
        NotificationError::NotFound {
            resource: "notification".into(),
            id: id.to_owned(),
        }
    }

    pub fn rejected(reason: &str, message: impl Into<String>) -> Self {
        NotificationError::Rejected {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}
