//! Notification storage behind the core's [`NotificationStore`] port, twice: MongoDB (the
//! production store) and sea-orm on SQLite or PostgreSQL (the embedded default). Both keep one
//! document per notification plus a few indexed fields derived from it (recipient, due time,
//! dead-letter flag), and save only over the version they read. One conformance suite
//! (`tests/conformance.rs`) runs against SQLite, PostgreSQL and a MongoDB wire server.

mod mongo;
mod mongo_outbox;
mod mongo_retention;
mod sealed;
mod sql;

/// The retention job's name for notifications.
pub const NOTIFICATIONS: &str = "notifications";

pub use mongo::MongoNotificationStore;
pub use sql::{Migrator, SqlNotificationStore};

use hrmesh_domain::Fault;
use hrmesh_notification_core::NotificationError;

fn internal(what: &str, err: impl std::error::Error + Send + Sync + 'static) -> NotificationError {
    NotificationError::Internal(Fault::caused_by(what, err))
}
