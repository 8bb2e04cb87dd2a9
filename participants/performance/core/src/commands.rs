//! Validated requests. They are what the idempotency inbox compares, so they hold exactly what the
//! caller asked for: no generated ids, no clock readings.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, RequestId};
use serde::{Deserialize, Serialize};

use crate::{
    FeedbackRequestStatus, GoalChange, GoalStatus, PipChange, PipStatus, Rating, Relationship,
    ReviewChange, ReviewCycle, ReviewState,
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
}

impl UpdateReview {
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
}

impl UpdatePip {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenEmployeeRecords {
    pub request_id: RequestId,
    pub close_request_id: String,
}
