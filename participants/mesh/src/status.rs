//! Rich gRPC statuses (google.rpc details) built the same way by every service, and the one
//! mapping of the domain's [`ServiceError`] to them ([`to_status`]).

use std::collections::HashMap;

use hrmesh_domain::{FieldViolation, ServiceError};
use hrmesh_proto::common::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The ErrorInfo domain of every hrmesh error.
pub const ERROR_DOMAIN: &str = "hrmesh";

/// At most this many violations are listed in one BadRequest: status details travel in an HTTP/2
/// header, and a batch with a thousand bad entries would otherwise exceed the peer's header limit
/// and arrive as an opaque protocol error instead of INVALID_ARGUMENT.
pub const VIOLATIONS_LISTED_MAX: usize = 20;

/// INVALID_ARGUMENT with a google.rpc.BadRequest listing the violations (the first
/// [`VIOLATIONS_LISTED_MAX`]; the message gives the total).
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let message = match violations {
        [only] => format!("invalid {}: {}", only.field, only.description),
        _ if violations.len() > VIOLATIONS_LISTED_MAX => format!(
            "{} fields are invalid; the first {VIOLATIONS_LISTED_MAX} are listed",
            violations.len()
        ),
        _ => format!("{} fields are invalid", violations.len()),
    };
    let mut details = ErrorDetails::new();
    for violation in violations.iter().take(VIOLATIONS_LISTED_MAX) {
        details.add_bad_request_violation(&violation.field, &violation.description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// A status with a google.rpc.ErrorInfo (domain "hrmesh", `reason`, facts in `metadata`).
pub fn with_reason(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'static str, String)>,
) -> Status {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

/// How a service's business refusal travels: its code, its ErrorInfo reason (a name from the
/// service's proto reason enum, `as_str_name()`) and its facts. The message is the refusal's own
/// text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: Code,
    pub reason: &'static str,
    pub metadata: Vec<(&'static str, String)>,
}

impl Refused {
    /// FAILED_PRECONDITION: a business outcome a retry cannot change.
    pub fn precondition(reason: &'static str, metadata: Vec<(&'static str, String)>) -> Self {
        Self {
            code: Code::FailedPrecondition,
            reason,
            metadata,
        }
    }
}

/// The status of a service error, the same for every service: INVALID_ARGUMENT with a BadRequest
/// naming every field; the refusal as `refused` maps it; NOT_FOUND and ALREADY_EXISTS (a reused
/// request id) with the common reasons; UNAVAILABLE and INTERNAL, whose causes are logged here and
/// never described to the caller.
pub fn to_status<R: std::fmt::Display>(
    error: ServiceError<R>,
    refused: impl FnOnce(R) -> Refused,
) -> Status {
    match error {
        ServiceError::Invalid(violations) => invalid_argument(&violations),
        ServiceError::Rejected(rejection) => {
            let message = rejection.to_string();
            let Refused {
                code,
                reason,
                metadata,
            } = refused(rejection);
            with_reason(code, reason, message, metadata)
        }
        ServiceError::NotFound { resource, id } => not_found(&resource, &id),
        ServiceError::IdempotencyKeyReused { request_id } => idempotency_key_reused(&request_id),
        ServiceError::Unavailable(fault) => unavailable(&fault.report()),
        ServiceError::Internal(fault) => internal(&fault.report()),
    }
}

/// ALREADY_EXISTS for a request id reused with a different request.
pub fn idempotency_key_reused(request_id: &str) -> Status {
    with_reason(
        Code::AlreadyExists,
        ErrorReason::IdempotencyKeyReused.as_str_name(),
        format!("request_id {request_id} was already used for a different request"),
        [("request_id", request_id.to_owned())],
    )
}

pub fn not_found(resource: &str, id: &str) -> Status {
    with_reason(
        Code::NotFound,
        ErrorReason::ResourceNotFound.as_str_name(),
        format!("{resource} {id} not found"),
        [("resource", resource.to_owned()), ("id", id.to_owned())],
    )
}

/// UNAVAILABLE: the caller may retry with the same request id.
pub fn unavailable(detail: &str) -> Status {
    tracing::warn!(detail, "request failed with a transient storage error");
    Status::unavailable("storage temporarily unavailable; retry with the same request_id")
}

/// INTERNAL: logged once here, never described to the caller.
pub fn internal(detail: &str) -> Status {
    tracing::error!(detail, "internal error");
    Status::internal("internal error")
}

/// The canonical name of a status code, as in `google.rpc.Code`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
