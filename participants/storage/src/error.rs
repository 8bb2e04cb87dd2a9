//! Storage failures as the domain's [`ServiceError`], mapped once for every store: a failure that
//! may pass when retried (a lost connection, a deadlock, a busy SQLite) is `Unavailable`, anything
//! else `Internal`, and the database error stays the fault's cause.

use hrmesh_domain::{Fault, ServiceError};
use sea_orm::DbErr;

use crate::inbox::{InboxError, TxError};

/// A database error as a service error.
pub fn from_db<R>(err: DbErr) -> ServiceError<R> {
    if crate::db::is_transient(&err) {
        ServiceError::Unavailable(Fault::caused_by("the database", err))
    } else {
        ServiceError::Internal(Fault::caused_by("the database", err))
    }
}

/// Why an inbox-wrapped request (under `request_id`) did not return a value, as a service error.
pub fn from_inbox<R>(err: InboxError<ServiceError<R>>, request_id: &str) -> ServiceError<R> {
    match err {
        InboxError::Domain(err) => err,
        InboxError::KeyReused => ServiceError::IdempotencyKeyReused {
            request_id: request_id.to_owned(),
        },
        InboxError::Erased => ServiceError::not_found(
            "answer (erased with its employee's personal data) of request",
            request_id,
        ),
        InboxError::Db(err) => from_db(err),
        InboxError::Corrupt(detail) => ServiceError::Internal(Fault::new(detail)),
    }
}

/// Ends a transaction's work with a domain outcome: a refusal, bad input, a bug.
pub fn fail<R>(error: impl Into<ServiceError<R>>) -> TxError<ServiceError<R>> {
    TxError::Domain(error.into())
}
