use hrmesh_domain::ServiceError;
use serde::{Deserialize, Serialize};

use crate::Resource;

pub type Result<T, E = PerformanceError> = std::result::Result<T, E>;

/// Everything a performance operation can fail with: bad input and rejections (business
/// outcomes, never retried), `Unavailable` (retry), `Internal` (a bug). See
/// [`hrmesh_domain::error`].
pub type PerformanceError = ServiceError<Rejection>;

/// A business rule that refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Rejection {
    /// The action is not allowed in the record's current state.
    #[error("cannot {action} {} {id}: it is {state}", .resource.as_str())]
    IllegalTransition {
        resource: Resource,
        id: String,
        state: String,
        action: String,
    },
    /// A per-employee data volume limit.
    #[error("employee {employee_id} already has the maximum of {limit} {}", .resource.plural())]
    LimitReached {
        employee_id: String,
        resource: Resource,
        limit: u32,
    },
    #[error("review {review_id} already covers this employee, cycle and period")]
    ReviewExists { review_id: String },
    #[error("the goals of review {review_id} would weigh {weight_total} in total; at most 100")]
    GoalWeightsExceeded {
        review_id: String,
        weight_total: u32,
    },
    #[error("the employee already has the active PIP {pip_id}")]
    PipAlreadyActive { pip_id: String },
    #[error("feedback request {feedback_request_id} {problem}")]
    FeedbackRequestMismatch {
        feedback_request_id: String,
        problem: String,
    },
    /// The record does not belong to the employee the request named. The message never names
    /// the owner: the caller was not meant to learn whose record it is.
    #[error("{} {id} is not a record of the employee the request names", .resource.as_str())]
    RecordOfAnotherEmployee { resource: Resource, id: String },
}

impl Rejection {
    pub fn illegal(
        resource: Resource,
        id: &str,
        state: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Rejection::IllegalTransition {
            resource,
            id: id.to_owned(),
            state: state.into(),
            action: action.into(),
        }
    }
}
