//! One error model for every service: what went wrong, by what the caller should do about it.
//!
//! Each core names its business refusals (`Rejection`) and uses [`ServiceError`] with them:
//! `pub type LedgerError = ServiceError<Rejection>`. The transport maps the kinds to statuses
//! once (`hrmesh_mesh::status::to_status`), with the refusal's reason taken from the service's
//! proto enum; storage maps its failures to [`ServiceError::Unavailable`] or
//! [`ServiceError::Internal`] once (`hrmesh_storage::error`), keeping the cause.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{FieldViolation, Violations};

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Fix the request: it is malformed; nothing was written.
    Invalid,
    /// A business rule said no; asking again gets the same answer.
    Rejected,
    /// The request names something that does not exist.
    NotFound,
    /// The request id was used for another request.
    KeyReused,
    /// Try again with the same request id: storage or a dependency is away.
    Unavailable,
    /// A bug or corrupt data: a person has to look.
    Internal,
}

/// A failure of the machinery rather than of the request: what was being done, and the error
/// that stopped it, kept as the [`Error::source`] so logs show the whole chain.
#[derive(Clone)]
pub struct Fault {
    what: String,
    cause: Option<Arc<dyn Error + Send + Sync>>,
}

impl Fault {
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            cause: None,
        }
    }

    /// `what` failed because of `cause`.
    pub fn caused_by(what: impl Into<String>, cause: impl Error + Send + Sync + 'static) -> Self {
        Self {
            what: what.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// What was being done.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The whole chain on one line: what, then each cause.
    pub fn report(&self) -> String {
        report(self)
    }
}

/// An error and its chain of sources on one line (`a: b: c`), for logs: a [`Fault`] shows only
/// what was being done, its cause is its source.
pub fn report(error: &(dyn Error + 'static)) -> String {
    let mut report = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        report.push_str(": ");
        report.push_str(&cause.to_string());
        next = cause.source();
    }
    report
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report())
    }
}

impl Error for Fault {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

/// Two faults are equal when they read the same: causes are compared by their text.
impl PartialEq for Fault {
    fn eq(&self, other: &Self) -> bool {
        self.report() == other.report()
    }
}

impl Eq for Fault {}

/// Written as its report; read back without a cause (the text keeps it).
impl Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.report())
    }
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Fault::new)
    }
}

impl From<String> for Fault {
    fn from(what: String) -> Self {
        Fault::new(what)
    }
}

impl From<&str> for Fault {
    fn from(what: &str) -> Self {
        Fault::new(what)
    }
}

/// Everything a service operation can fail with; `R` is the service's business refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ServiceError<R> {
    /// The request is malformed or refers to things that do not exist; nothing was written.
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    /// A business rule refused the request; nothing was written. Recorded under the request id,
    /// so a retry gets the same answer.
    #[error("{0}")]
    Rejected(R),
    #[error("{resource} {id} not found")]
    NotFound { resource: String, id: String },
    #[error("request id {request_id} was already used for a different request")]
    IdempotencyKeyReused { request_id: String },
    /// Storage could not be reached, or a transaction lost a race it may win when retried.
    /// The fault is the source: [`report`] shows the whole chain.
    #[error("storage unavailable")]
    Unavailable(#[source] Fault),
    /// A bug or corrupt data; details stay in the logs.
    #[error("internal error")]
    Internal(#[source] Fault),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{} {}", violation.field, violation.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl<R> ServiceError<R> {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Invalid(_) => ErrorKind::Invalid,
            ServiceError::Rejected(_) => ErrorKind::Rejected,
            ServiceError::NotFound { .. } => ErrorKind::NotFound,
            ServiceError::IdempotencyKeyReused { .. } => ErrorKind::KeyReused,
            ServiceError::Unavailable(_) => ErrorKind::Unavailable,
            ServiceError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// One field violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ServiceError::Invalid(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn not_found(resource: impl fmt::Display, id: impl Into<String>) -> Self {
        ServiceError::NotFound {
            resource: resource.to_string(),
            id: id.into(),
        }
    }

    /// A bug: something that cannot happen did.
    pub fn internal(what: impl Into<String>) -> Self {
        ServiceError::Internal(Fault::new(what))
    }

    /// The end of parsing a request: `value` when nothing was violated, the violations otherwise.
    /// A parser that produced no value yet recorded no violation is a bug.
    pub fn parsed<T>(violations: Violations, value: Option<T>) -> Result<T, Self> {
        match (violations.is_empty(), value) {
            (true, Some(value)) => Ok(value),
            (true, None) => Err(Self::internal(
                "a request failed to parse without a violation",
            )),
            (false, _) => Err(ServiceError::Invalid(violations.into_vec())),
        }
    }

    /// Whether the idempotency inbox keeps this outcome and replays it to a retry: only business
    /// refusals are answers; everything else lets a retry run afresh.
    pub fn is_recorded(&self) -> bool {
        matches!(self, ServiceError::Rejected(_))
    }
}

impl<R> From<R> for ServiceError<R> {
    fn from(rejection: R) -> Self {
        ServiceError::Rejected(rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Reset;

    #[test]
    fn a_fault_keeps_its_cause() {
        let error: ServiceError<String> =
            ServiceError::Unavailable(Fault::caused_by("committing the hold", Reset));
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert_eq!(error.to_string(), "storage unavailable");
        let fault = error.source().expect("the fault");
        assert_eq!(
            fault.source().map(ToString::to_string).as_deref(),
            Some("connection reset")
        );
        let ServiceError::Unavailable(fault) = &error else {
            unreachable!()
        };
        assert_eq!(fault.report(), "committing the hold: connection reset");
        assert_eq!(
            report(&error),
            "storage unavailable: committing the hold: connection reset"
        );
    }

    #[test]
    fn only_rejections_are_recorded() {
        let rejected: ServiceError<String> = "no".to_owned().into();
        assert!(rejected.is_recorded());
        assert!(!ServiceError::<String>::invalid("f", "is required").is_recorded());
        assert!(!ServiceError::<String>::internal("bug").is_recorded());
    }

    #[test]
    fn parsing_ends_in_the_value_or_every_violation() {
        let mut violations = Violations::default();
        violations.add("a", "is required");
        violations.add("b", "is required");
        assert_eq!(
            ServiceError::<String>::parsed(violations, Some(1)).map_err(|e| e.kind()),
            Err(ErrorKind::Invalid)
        );
        assert_eq!(
            ServiceError::<String>::parsed(Violations::default(), Some(1)),
            Ok(1)
        );
        assert_eq!(
            ServiceError::<String>::parsed::<i32>(Violations::default(), None)
                .map_err(|e| e.kind()),
            Err(ErrorKind::Internal)
        );
    }
}
