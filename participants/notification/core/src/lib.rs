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

mod events;
mod model;
mod rules;
mod service;
mod templates;

pub use events::{DeliveryFacts, NotificationEvent};
pub use model::*;
pub use rules::{QuietHours, RetryPolicy};
pub use service::{ChannelSender, Inserted, NotificationStore, Notifier};
pub use templates::{TEMPLATES, Template, render};

use hrmesh_domain::ServiceError;
use serde::{Deserialize, Serialize};

pub type Result<T, E = NotificationError> = std::result::Result<T, E>;

/// Everything a notification operation can fail with. See [`hrmesh_domain::error`].
pub type NotificationError = ServiceError<Rejection>;

/// A rule that refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Rejection {
    /// Marking read a notification that was never meant for the in-app inbox.
    #[error("notification {notification_id} has no in-app delivery to read")]
    NotInApp { notification_id: String },
    /// Redriving a delivery that is not dead-lettered (or whose notification was retracted).
    #[error("delivery {delivery_id} is not dead-lettered (state {state})")]
    DeliveryNotDead { delivery_id: String, state: String },
    /// A send asking for a channel this service has no transport for.
    #[error("the {channel} channel is not configured on this service")]
    ChannelNotConfigured { channel: String },
}
