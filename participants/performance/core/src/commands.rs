//! Validated requests. They are what the idempotency inbox compares, so they hold exactly what the
//! caller asked for: no generated ids, no clock readings.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, RequestId};
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::{
    FeedbackRequestStatus, GoalChange, GoalStatus, Pip, PipChange, PipStatus, Rating, Relationship,
    Resource, Result, Review, ReviewChange, ReviewCycle, ReviewState, check_record_of,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateReview {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub cycle: ReviewCycle,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub due_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateReview {
    pub request_id: RequestId,
    pub review_id: String,
    pub change: ReviewChange,
    /// The employee the caller says the review belongs to ([`check_record_of`]). Left out of the
    /// inbox's canonical JSON when unset, so requests recorded before it existed still replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

impl UpdateReview {
    /// Applies the change to `review`, the record as loaded in the request's transaction: first
    /// the expected employee, then the state machine ([`Review::apply`]).
    pub fn apply_to(&self, review: &mut Review, now: DateTime<Utc>) -> Result<bool> {
        check_record_of(
            Resource::Review,
            &review.id,
            &review.employee_id,
            self.expected_employee.as_ref(),
        )?;
        review.apply(&self.change, self.request_id.as_str(), now)
    }

    /// The operation name the inbox records.
    pub fn operation(&self) -> &'static str {
        match self.change {
            ReviewChange::OpenSelfAssessment => "OpenSelfAssessment",
            ReviewChange::SubmitSelfAssessment { .. } => "SubmitSelfAssessment",
            ReviewChange::Finalize { .. } => "FinalizeReview",
            ReviewChange::Reopen { .. } => "ReopenReview",
            ReviewChange::Complete => "CompleteReview",
            ReviewChange::Acknowledge { .. } => "AcknowledgeReview",
        }
    }
}

/// Reviews of an employee or of a manager's reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewFilter {
    pub employee_id: Option<EmployeeId>,
    pub manager_id: Option<EmployeeId>,
    pub cycle: Option<ReviewCycle>,
    pub state: Option<ReviewState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGoal {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub title: String,
    pub description: String,
    pub target_date: NaiveDate,
    pub weight: u8,
    pub review_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateGoal {
    pub request_id: RequestId,
    pub goal_id: String,
    pub change: GoalChange,
}

impl UpdateGoal {
    pub fn operation(&self) -> &'static str {
        match self.change {
            GoalChange::Progress { .. } => "UpdateGoalProgress",
            GoalChange::Cancel { .. } => "CancelGoal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalFilter {
    pub employee_id: EmployeeId,
    pub review_id: Option<String>,
    pub status: Option<GoalStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPip {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub reason: String,
    pub objectives: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Sorted and distinct.
    pub check_in_dates: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePip {
    pub request_id: RequestId,
    pub pip_id: String,
    pub change: PipChange,
    /// The employee the caller says the PIP belongs to ([`check_record_of`]); left out of the
    /// canonical JSON when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

impl UpdatePip {
    /// Applies the change to `pip` as loaded in the request's transaction: first the expected
    /// employee, then [`Pip::apply`].
    pub fn apply_to(&self, pip: &mut Pip, now: DateTime<Utc>) -> Result<bool> {
        check_record_of(
            Resource::Pip,
            &pip.id,
            &pip.employee_id,
            self.expected_employee.as_ref(),
        )?;
        pip.apply(&self.change, self.request_id.as_str(), now)
    }

    pub fn operation(&self) -> &'static str {
        match self.change {
            PipChange::CheckIn { .. } => "RecordPipCheckIn",
            PipChange::Outcome { .. } => "RecordPipOutcome",
            PipChange::Cancel { .. } => "CancelPip",
        }
    }
}

/// Cancels the PIP a request opened, if it opened one (the saga's undo of OpenPip).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelPipOpenedBy {
    pub request_id: RequestId,
    pub opened_by_request_id: String,
    pub reason: String,
    /// The employee the caller says the PIP belongs to, checked on the PIP the request opened
    /// ([`check_record_of`]); left out of the canonical JSON when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_employee: Option<EmployeeId>,
}

impl CancelPipOpenedBy {
    /// Cancels `pip`, the PIP `opened_by_request_id` opened as loaded in the request's
    /// transaction: first the expected employee, then [`Pip::apply`].
    pub fn apply_to(&self, pip: &mut Pip, now: DateTime<Utc>) -> Result<bool> {
        check_record_of(
            Resource::Pip,
            &pip.id,
            &pip.employee_id,
            self.expected_employee.as_ref(),
        )?;
        let cancel = PipChange::Cancel {
            reason: self.reason.clone(),
        };
        pip.apply(&cancel, self.request_id.as_str(), now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipFilter {
    pub employee_id: EmployeeId,
    pub status: Option<PipStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFeedback {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub giver_id: EmployeeId,
    pub relationship: Relationship,
    pub review_id: Option<String>,
    pub anonymous: bool,
    pub due_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRequestFilter {
    pub giver_id: EmployeeId,
    pub status: Option<FeedbackRequestStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveFeedback {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub giver_id: EmployeeId,
    pub relationship: Relationship,
    pub review_id: Option<String>,
    pub feedback_request_id: Option<String>,
    pub anonymous: bool,
    pub rating: Option<Rating>,
    pub strengths: String,
    pub improvements: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackFilter {
    pub employee_id: EmployeeId,
    pub review_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseEmployeeRecords {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
    pub reason: String,
}

pub use hrmesh_domain::erasure::ErasePersonalData;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenEmployeeRecords {
    pub request_id: RequestId,
    pub close_request_id: String,
}
