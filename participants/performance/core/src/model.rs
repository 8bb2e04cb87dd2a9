//! The records performance management keeps, and the transitions each allows.

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use crate::{PerformanceError, Rejection, Result};

/// The kinds of record this service keeps (for errors and limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resource {
    Review,
    Goal,
    Pip,
    Feedback,
    FeedbackRequest,
    Closure,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Review => "review",
            Resource::Goal => "goal",
            Resource::Pip => "pip",
            Resource::Feedback => "feedback",
            Resource::FeedbackRequest => "feedback request",
            Resource::Closure => "closure",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Review => "reviews",
            Resource::Goal => "goals",
            Resource::Pip => "pips",
            Resource::Feedback => "feedback entries",
            Resource::FeedbackRequest => "feedback requests",
            Resource::Closure => "closures",
        }
    }
}

/// Checks that the record `id` of `resource`, owned by `owner`, belongs to the employee the request
/// names, if it names one. Callers apply it to the record as loaded in the request's transaction,
/// before any change: a request naming one employee never changes another one's record, whoever
/// sends it (a service acting for a user included).
pub fn check_record_of(
    resource: Resource,
    id: &str,
    owner: &EmployeeId,
    expected: Option<&EmployeeId>,
) -> Result<()> {
    match expected {
        Some(expected) if expected != owner => Err(Rejection::RecordOfAnotherEmployee {
            resource,
            id: id.to_owned(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// Reviews an employee may have over their tenure (FR-074).
pub const REVIEWS_PER_EMPLOYEE: u32 = 50;
/// Goals an employee may have (FR-074).
pub const GOALS_PER_EMPLOYEE: u32 = 100;
/// Feedback entries about one employee (FR-074).
pub const FEEDBACK_PER_EMPLOYEE: u32 = 200;
/// The most the goals of one review may weigh together.
pub const GOAL_WEIGHT_TOTAL_MAX: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewCycle {
    Annual,
    SemiAnnual,
    Quarterly,
    Probation,
}

impl ReviewCycle {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewCycle::Annual => "annual",
            ReviewCycle::SemiAnnual => "semi_annual",
            ReviewCycle::Quarterly => "quarterly",
            ReviewCycle::Probation => "probation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ReviewCycle::Annual,
            ReviewCycle::SemiAnnual,
            ReviewCycle::Quarterly,
            ReviewCycle::Probation,
        ]
        .into_iter()
        .find(|cycle| cycle.as_str() == text)
    }
}

/// A review's state. The machine (and nothing else) is [`ReviewState::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewState {
    Draft,
    SelfAssessment,
    ManagerReview,
    Submitted,
    Completed,
    Acknowledged,
    Closed,
}

/// What can happen to a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewAction {
    OpenSelfAssessment,
    SubmitSelfAssessment,
    Finalize,
    Reopen,
    Complete,
    Acknowledge,
    Close,
    /// Undo of `Close`, back to the state the review had.
    Restore(ReviewState),
}

impl ReviewAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::OpenSelfAssessment => "open the self-assessment of",
            ReviewAction::SubmitSelfAssessment => "submit the self-assessment of",
            ReviewAction::Finalize => "finalize",
            ReviewAction::Reopen => "reopen",
            ReviewAction::Complete => "complete",
            ReviewAction::Acknowledge => "acknowledge",
            ReviewAction::Close => "close",
            ReviewAction::Restore(_) => "restore",
        }
    }
}

impl ReviewState {
    pub const ALL: [ReviewState; 7] = [
        ReviewState::Draft,
        ReviewState::SelfAssessment,
        ReviewState::ManagerReview,
        ReviewState::Submitted,
        ReviewState::Completed,
        ReviewState::Acknowledged,
        ReviewState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Draft => "draft",
            ReviewState::SelfAssessment => "self_assessment",
            ReviewState::ManagerReview => "manager_review",
            ReviewState::Submitted => "submitted",
            ReviewState::Completed => "completed",
            ReviewState::Acknowledged => "acknowledged",
            ReviewState::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Still in progress: closing an employee's records closes it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ReviewState::Draft
                | ReviewState::SelfAssessment
                | ReviewState::ManagerReview
                | ReviewState::Submitted
        )
    }

    /// Whether a rating belongs to a review in this state.
    pub fn is_rated(self) -> bool {
        matches!(
            self,
            ReviewState::Submitted | ReviewState::Completed | ReviewState::Acknowledged
        )
    }

    /// The state `action` leads to from this one, or `None` when the machine forbids it.
    pub fn after(self, action: ReviewAction) -> Option<ReviewState> {
        use ReviewAction as A;
        use ReviewState as S;
        match (self, action) {
            (S::Draft, A::OpenSelfAssessment) => Some(S::SelfAssessment),
            (S::SelfAssessment, A::SubmitSelfAssessment) => Some(S::ManagerReview),
            (S::ManagerReview, A::Finalize) => Some(S::Submitted),
            (S::Submitted, A::Reopen) => Some(S::ManagerReview),
            (S::Submitted, A::Complete) => Some(S::Completed),
            (S::Completed, A::Acknowledge) => Some(S::Acknowledged),
            (state, A::Close) if state.is_open() => Some(S::Closed),
            (S::Closed, A::Restore(previous)) if previous.is_open() => Some(previous),
            _ => None,
        }
    }
}

/// The five-point scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rating {
    Unsatisfactory = 1,
    NeedsImprovement = 2,
    MeetsExpectations = 3,
    ExceedsExpectations = 4,
    Outstanding = 5,
}

impl Rating {
    pub const ALL: [Rating; 5] = [
        Rating::Unsatisfactory,
        Rating::NeedsImprovement,
        Rating::MeetsExpectations,
        Rating::ExceedsExpectations,
        Rating::Outstanding,
    ];

    pub fn points(self) -> u8 {
        self as u8
    }

    pub fn from_points(points: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|rating| rating.points() == points)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewTransition {
    pub from: ReviewState,
    pub to: ReviewState,
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: String,
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub cycle: ReviewCycle,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub due_date: NaiveDate,
    pub state: ReviewState,
    pub rating: Option<Rating>,
    pub self_assessment: Vec<Section>,
    pub manager_assessment: Vec<Section>,
    pub employee_comment: String,
    pub finalize_request_id: Option<String>,
    pub history: Vec<ReviewTransition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to one review, as a request asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewChange {
    OpenSelfAssessment,
    SubmitSelfAssessment {
        sections: Vec<Section>,
    },
    Finalize {
        rating: Rating,
        sections: Vec<Section>,
    },
    /// Undo of `Finalize`: a no-op unless the review is SUBMITTED (by `finalize_request_id` when
    /// given).
    Reopen {
        finalize_request_id: Option<String>,
        reason: String,
    },
    Complete,
    Acknowledge {
        comment: String,
    },
}

impl Review {
    /// Moves the review along `action`, recording the transition.
    fn transition(
        &mut self,
        action: ReviewAction,
        request_id: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        let Some(next) = self.state.after(action) else {
            return Err(Rejection::illegal(
                Resource::Review,
                &self.id,
                self.state.as_str(),
                action.as_str(),
            )
            .into());
        };
        self.history.push(ReviewTransition {
            from: self.state,
            to: next,
            request_id: request_id.to_owned(),
            at: now,
            reason: reason.to_owned(),
        });
        self.state = next;
        self.updated_at = now;
        Ok(())
    }

    /// Applies `change`; `Ok(false)` when it was an undo with nothing to undo.
    pub fn apply(
        &mut self,
        change: &ReviewChange,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        match change {
            ReviewChange::OpenSelfAssessment => {
                self.transition(ReviewAction::OpenSelfAssessment, request_id, now, "")?;
            }
            ReviewChange::SubmitSelfAssessment { sections } => {
                self.transition(ReviewAction::SubmitSelfAssessment, request_id, now, "")?;
                self.self_assessment = sections.clone();
            }
            ReviewChange::Finalize { rating, sections } => {
                self.transition(ReviewAction::Finalize, request_id, now, "")?;
                self.rating = Some(*rating);
                self.manager_assessment = sections.clone();
                self.finalize_request_id = Some(request_id.to_owned());
            }
            ReviewChange::Reopen {
                finalize_request_id,
                reason,
            } => {
                let finalized_by_that_request = finalize_request_id
                    .as_ref()
                    .is_none_or(|id| self.finalize_request_id.as_ref() == Some(id));
                if self.state != ReviewState::Submitted || !finalized_by_that_request {
                    // Not finalized (by that request): the forward step never happened here.
                    return match self.state {
                        ReviewState::Completed | ReviewState::Acknowledged
                            if finalized_by_that_request =>
                        {
                            Err(Rejection::illegal(
                                Resource::Review,
                                &self.id,
                                self.state.as_str(),
                                ReviewAction::Reopen.as_str(),
                            )
                            .into())
                        }
                        _ => Ok(false),
                    };
                }
                self.transition(ReviewAction::Reopen, request_id, now, reason)?;
                self.rating = None;
                self.finalize_request_id = None;
            }
            ReviewChange::Complete => {
                self.transition(ReviewAction::Complete, request_id, now, "")?;
            }
            ReviewChange::Acknowledge { comment } => {
                self.transition(ReviewAction::Acknowledge, request_id, now, "")?;
                self.employee_comment = comment.clone();
            }
        }
        Ok(true)
    }

    pub fn close(&mut self, request_id: &str, now: DateTime<Utc>, reason: &str) -> Result<()> {
        self.transition(ReviewAction::Close, request_id, now, reason)
    }

    /// Undoes [`Review::close`]: back to `previous`, which must be the state the review was
    /// closed from.
    pub fn restore(
        &mut self,
        previous: ReviewState,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let closed_from = (self.state == ReviewState::Closed)
            .then(|| {
                self.history
                    .iter()
                    .rev()
                    .find(|transition| transition.to == ReviewState::Closed)
            })
            .flatten()
            .map(|transition| transition.from);
        if closed_from != Some(previous) {
            return Err(Rejection::illegal(
                Resource::Review,
                &self.id,
                self.state.as_str(),
                format!("restore to {}", previous.as_str()),
            )
            .into());
        }
        self.transition(ReviewAction::Restore(previous), request_id, now, "")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GoalStatus {
    NotStarted,
    InProgress,
    Completed,
    Cancelled,
    Closed,
}

impl GoalStatus {
    pub const ALL: [GoalStatus; 5] = [
        GoalStatus::NotStarted,
        GoalStatus::InProgress,
        GoalStatus::Completed,
        GoalStatus::Cancelled,
        GoalStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GoalStatus::NotStarted => "not_started",
            GoalStatus::InProgress => "in_progress",
            GoalStatus::Completed => "completed",
            GoalStatus::Cancelled => "cancelled",
            GoalStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        matches!(self, GoalStatus::NotStarted | GoalStatus::InProgress)
    }

    /// Whether the goal's weight counts towards its review's total.
    pub fn counts_towards_review(self) -> bool {
        !matches!(self, GoalStatus::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalProgress {
    pub percent: u8,
    pub note: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub id: String,
    pub employee_id: EmployeeId,
    pub title: String,
    pub description: String,
    pub target_date: NaiveDate,
    pub weight: u8,
    pub review_id: Option<String>,
    pub status: GoalStatus,
    pub progress: Vec<GoalProgress>,
    pub cancel_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Progress updates one goal keeps.
pub const GOAL_PROGRESS_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoalChange {
    Progress { percent: u8, note: String },
    Cancel { reason: String },
}

impl Goal {
    pub fn percent_complete(&self) -> u8 {
        self.progress.last().map_or(0, |update| update.percent)
    }

    fn illegal(&self, action: &str) -> PerformanceError {
        Rejection::illegal(Resource::Goal, &self.id, self.status.as_str(), action).into()
    }

    pub fn apply(
        &mut self,
        change: &GoalChange,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match change {
            GoalChange::Progress { percent, note } => {
                if !self.status.is_open() {
                    return Err(self.illegal("record progress on"));
                }
                if self.progress.len() >= GOAL_PROGRESS_MAX {
                    return Err(Rejection::LimitReached {
                        employee_id: self.employee_id.to_string(),
                        resource: Resource::Goal,
                        limit: GOAL_PROGRESS_MAX as u32,
                    }
                    .into());
                }
                self.progress.push(GoalProgress {
                    percent: *percent,
                    note: note.clone(),
                    request_id: request_id.to_owned(),
                    at: now,
                });
                self.status = if *percent >= 100 {
                    GoalStatus::Completed
                } else {
                    GoalStatus::InProgress
                };
            }
            GoalChange::Cancel { reason } => {
                if !self.status.is_open() {
                    return Err(self.illegal("cancel"));
                }
                self.status = GoalStatus::Cancelled;
                self.cancel_reason = reason.clone();
            }
        }
        self.updated_at = now;
        Ok(())
    }

    pub fn close(&mut self, now: DateTime<Utc>) -> Result<()> {
        if !self.status.is_open() {
            return Err(self.illegal("close"));
        }
        self.status = GoalStatus::Closed;
        self.updated_at = now;
        Ok(())
    }

    pub fn restore(&mut self, previous: GoalStatus, now: DateTime<Utc>) -> Result<()> {
        if self.status != GoalStatus::Closed || !previous.is_open() {
            return Err(self.illegal("restore"));
        }
        self.status = previous;
        self.updated_at = now;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PipStatus {
    Active,
    Completed,
    Cancelled,
    Closed,
}

impl PipStatus {
    pub const ALL: [PipStatus; 4] = [
        PipStatus::Active,
        PipStatus::Completed,
        PipStatus::Cancelled,
        PipStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PipStatus::Active => "active",
            PipStatus::Completed => "completed",
            PipStatus::Cancelled => "cancelled",
            PipStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PipOutcome {
    Successful,
    Extended,
    Unsuccessful,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipCheckIn {
    pub date: NaiveDate,
    pub notes: String,
    pub on_track: bool,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipOutcomeRecord {
    pub outcome: PipOutcome,
    pub notes: String,
    pub new_end_date: Option<NaiveDate>,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pip {
    pub id: String,
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub reason: String,
    pub objectives: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub check_in_dates: Vec<NaiveDate>,
    pub check_ins: Vec<PipCheckIn>,
    pub status: PipStatus,
    pub outcomes: Vec<PipOutcomeRecord>,
    pub opened_by_request_id: String,
    pub cancel_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Check-in dates one PIP may have, extensions included.
pub const PIP_CHECK_INS_MAX: usize = 104;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipChange {
    CheckIn {
        date: NaiveDate,
        notes: String,
        on_track: bool,
    },
    Outcome {
        outcome: PipOutcome,
        notes: String,
        new_end_date: Option<NaiveDate>,
        additional_check_in_dates: Vec<NaiveDate>,
    },
    /// Undo of opening: a no-op on a PIP already cancelled.
    Cancel { reason: String },
}

impl Pip {
    /// The final outcome, once the PIP is completed.
    pub fn final_outcome(&self) -> Option<PipOutcome> {
        (self.status == PipStatus::Completed)
            .then(|| self.outcomes.last().map(|record| record.outcome))
            .flatten()
    }

    /// Check-in dates not yet recorded.
    pub fn pending_check_ins(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.check_in_dates
            .iter()
            .copied()
            .filter(|date| !self.check_ins.iter().any(|done| done.date == *date))
    }

    fn illegal(&self, action: &str) -> PerformanceError {
        Rejection::illegal(Resource::Pip, &self.id, self.status.as_str(), action).into()
    }

    /// Applies `change`; `Ok(false)` when it was a cancel of a PIP already cancelled.
    pub fn apply(
        &mut self,
        change: &PipChange,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        match change {
            PipChange::CheckIn {
                date,
                notes,
                on_track,
            } => {
                if self.status != PipStatus::Active {
                    return Err(self.illegal("record a check-in of"));
                }
                if !self.check_in_dates.contains(date) {
                    return Err(PerformanceError::invalid(
                        "check_in_date",
                        format!("{date} is not one of the PIP's check-in dates"),
                    ));
                }
                if self.check_ins.iter().any(|done| done.date == *date) {
                    return Err(self.illegal(&format!("record the {date} check-in again of")));
                }
                self.check_ins.push(PipCheckIn {
                    date: *date,
                    notes: notes.clone(),
                    on_track: *on_track,
                    request_id: request_id.to_owned(),
                    at: now,
                });
            }
            PipChange::Outcome {
                outcome,
                notes,
                new_end_date,
                additional_check_in_dates,
            } => {
                if self.status != PipStatus::Active {
                    return Err(self.illegal("record an outcome of"));
                }
                if *outcome == PipOutcome::Extended {
                    let Some(new_end) = *new_end_date else {
                        return Err(PerformanceError::invalid(
                            "new_end_date",
                            "is required for an extension",
                        ));
                    };
                    if new_end <= self.end_date {
                        return Err(PerformanceError::invalid(
                            "new_end_date",
                            format!("must be after the PIP's end date {}", self.end_date),
                        ));
                    }
                    if let Some(bad) = additional_check_in_dates
                        .iter()
                        .find(|date| **date <= self.end_date || **date > new_end)
                    {
                        return Err(PerformanceError::invalid(
                            "additional_check_in_dates",
                            format!(
                                "{bad} is not within the extension ({}, {new_end}]",
                                self.end_date
                            ),
                        ));
                    }
                    if self.check_in_dates.len() + additional_check_in_dates.len()
                        > PIP_CHECK_INS_MAX
                    {
                        return Err(PerformanceError::invalid(
                            "additional_check_in_dates",
                            format!("a PIP has at most {PIP_CHECK_INS_MAX} check-ins"),
                        ));
                    }
                    self.end_date = new_end;
                    self.check_in_dates
                        .extend(additional_check_in_dates.iter().copied());
                    self.check_in_dates.sort_unstable();
                    self.check_in_dates.dedup();
                } else {
                    self.status = PipStatus::Completed;
                }
                self.outcomes.push(PipOutcomeRecord {
                    outcome: *outcome,
                    notes: notes.clone(),
                    new_end_date: *new_end_date,
                    request_id: request_id.to_owned(),
                    at: now,
                });
            }
            PipChange::Cancel { reason } => match self.status {
                PipStatus::Cancelled => return Ok(false),
                PipStatus::Active => {
                    self.status = PipStatus::Cancelled;
                    self.cancel_reason = reason.clone();
                }
                _ => return Err(self.illegal("cancel")),
            },
        }
        self.updated_at = now;
        Ok(true)
    }

    pub fn close(&mut self, now: DateTime<Utc>) -> Result<()> {
        if self.status != PipStatus::Active {
            return Err(self.illegal("close"));
        }
        self.status = PipStatus::Closed;
        self.updated_at = now;
        Ok(())
    }

    pub fn restore(&mut self, now: DateTime<Utc>) -> Result<()> {
        if self.status != PipStatus::Closed {
            return Err(self.illegal("restore"));
        }
        self.status = PipStatus::Active;
        self.updated_at = now;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Relationship {
    Peer,
    Manager,
    DirectReport,
    SelfAssessment,
}

impl Relationship {
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Peer => "peer",
            Relationship::Manager => "manager",
            Relationship::DirectReport => "direct_report",
            Relationship::SelfAssessment => "self",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FeedbackRequestStatus {
    Open,
    Given,
    Closed,
}

impl FeedbackRequestStatus {
    pub const ALL: [FeedbackRequestStatus; 3] = [
        FeedbackRequestStatus::Open,
        FeedbackRequestStatus::Given,
        FeedbackRequestStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackRequestStatus::Open => "open",
            FeedbackRequestStatus::Given => "given",
            FeedbackRequestStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRequest {
    pub id: String,
    /// Whom the feedback is about.
    pub employee_id: EmployeeId,
    pub giver_id: EmployeeId,
    pub relationship: Relationship,
    pub review_id: Option<String>,
    pub anonymous: bool,
    pub due_date: Option<NaiveDate>,
    pub status: FeedbackRequestStatus,
    pub created_at: DateTime<Utc>,
}

impl FeedbackRequest {
    /// Checks that `giver_id` may answer this request about `employee_id`.
    pub fn check_answer(&self, employee_id: &EmployeeId, giver_id: &EmployeeId) -> Result<()> {
        let problem = if self.status != FeedbackRequestStatus::Open {
            format!("is {}", self.status.as_str())
        } else if &self.giver_id != giver_id {
            "was addressed to someone else".to_owned()
        } else if &self.employee_id != employee_id {
            "is about another employee".to_owned()
        } else {
            return Ok(());
        };
        Err(Rejection::FeedbackRequestMismatch {
            feedback_request_id: self.id.clone(),
            problem,
        }
        .into())
    }
}

/// Feedback as stored. The giver of anonymous feedback is kept (for limits and audit) but never
/// leaves the service: [`Feedback::visible`] is what every read returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub id: String,
    pub employee_id: EmployeeId,
    pub giver_id: Option<EmployeeId>,
    pub relationship: Relationship,
    pub anonymous: bool,
    pub review_id: Option<String>,
    pub feedback_request_id: Option<String>,
    pub rating: Option<Rating>,
    pub strengths: String,
    pub improvements: String,
    pub created_at: DateTime<Utc>,
}

impl Feedback {
    /// The pseudonym an anonymous entry's giver has in the audit trail: it names the entry, whose
    /// giver only the service can read, and nobody else.
    pub fn pseudonym(&self) -> String {
        format!("anonymous-feedback/{}", self.id)
    }

    /// Makes this feedback anonymous. It is dated to the start of its day (UTC), and its id
    /// carries that time instead of the instant, so nothing in it orders it among its giver's
    /// other acts that day. Call before it is stored: the id changes.
    pub fn make_anonymous(&mut self) {
        self.anonymous = true;
        let start = self
            .created_at
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        self.created_at = start;
        let seconds = u64::try_from(start.timestamp()).unwrap_or_default();
        self.id =
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, 0)).to_string();
    }

    /// This feedback as anyone outside the service may see it: an anonymous entry loses its giver
    /// and the request it answered (which names the giver).
    pub fn visible(mut self) -> Self {
        if self.anonymous {
            self.giver_id = None;
            self.feedback_request_id = None;
        }
        self
    }
}

/// What a record was before [`Closure`] closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreviousState {
    Review(ReviewState),
    Goal(GoalStatus),
    Pip(PipStatus),
    FeedbackRequest(FeedbackRequestStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedRecord {
    pub id: String,
    pub previous: PreviousState,
}

/// What one CloseEmployeeRecords closed, so that its undo reopens exactly that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub close_request_id: String,
    pub employee_id: EmployeeId,
    pub reason: String,
    pub records: Vec<ClosedRecord>,
    pub closed_at: DateTime<Utc>,
    pub reopened_at: Option<DateTime<Utc>>,
}

pub use hrmesh_domain::erasure::Erasure;

/// One page of a listing; `next_after` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl FeedbackRequest {
    fn illegal(&self, action: &str) -> PerformanceError {
        Rejection::illegal(
            Resource::FeedbackRequest,
            &self.id,
            self.status.as_str(),
            action,
        )
        .into()
    }

    pub fn mark_given(&mut self) -> Result<()> {
        if self.status != FeedbackRequestStatus::Open {
            return Err(self.illegal("answer"));
        }
        self.status = FeedbackRequestStatus::Given;
        Ok(())
    }

    pub fn close(&mut self) -> Result<()> {
        if self.status != FeedbackRequestStatus::Open {
            return Err(self.illegal("close"));
        }
        self.status = FeedbackRequestStatus::Closed;
        Ok(())
    }

    pub fn restore(&mut self) -> Result<()> {
        if self.status != FeedbackRequestStatus::Closed {
            return Err(self.illegal("restore"));
        }
        self.status = FeedbackRequestStatus::Open;
        Ok(())
    }
}

/// When a record's retention period starts: once it is finished (closed, concluded, answered,
/// given), from the time it was. Records still in progress have none and are never archived.
pub trait Retained {
    fn retention_start(&self) -> Option<DateTime<Utc>>;
}

impl Retained for Review {
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        (!self.state.is_open()).then_some(self.updated_at)
    }
}

impl Retained for Goal {
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        (!self.status.is_open()).then_some(self.updated_at)
    }
}

impl Retained for Pip {
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        (self.status != PipStatus::Active).then_some(self.updated_at)
    }
}

impl Retained for FeedbackRequest {
    /// A request keeps no time of its answer: its creation, which is earlier.
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        (self.status != FeedbackRequestStatus::Open).then_some(self.created_at)
    }
}

impl Retained for Feedback {
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        Some(self.created_at)
    }
}

impl Retained for Closure {
    fn retention_start(&self) -> Option<DateTime<Utc>> {
        Some(self.reopened_at.unwrap_or(self.closed_at))
    }
}
