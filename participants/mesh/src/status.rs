//! Rich gRPC statuses (google.rpc details) built the same way by every service.

use std::collections::HashMap;

use hrmesh_domain::FieldViolation;
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

/// The ErrorInfo reason of [`idempotency_key_reused`].
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// ALREADY_EXISTS for a request id reused with a different request.
pub fn idempotency_key_reused(request_id: &str) -> Status {
    with_reason(
        Code::AlreadyExists,
        IDEMPOTENCY_KEY_REUSED,
        format!("request_id {request_id} was already used for a different request"),
        [("request_id", request_id.to_owned())],
    )
}

pub fn not_found(resource: &str, id: &str) -> Status {
    with_reason(
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
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
