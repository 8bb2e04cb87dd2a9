//! Performance's domain events (catalogued in `proto/hrmesh/events/v1`), written by the store in
//! the transaction of the change.

use hrmesh_domain::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::{Feedback, Goal, GoalStatus, Pip, PipChange, Review, ReviewChange};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PerformanceEvent {
    ReviewCreated(Review),
    /// The manager's assessment and rating (FinalizeReview).
    ReviewSubmitted(Review),
    ReviewCompleted(Review),
    ReviewAcknowledged(Review),
    GoalCompleted(Goal),
    PipInitiated(Pip),
    /// The PIP after the check-in (its last).
    PipCheckedIn(Pip),
    /// The PIP after the outcome (its last).
    PipConcluded(Pip),
    /// As anyone outside the service may see it ([`Feedback::visible`]): no anonymous giver.
    FeedbackGiven(Feedback),
}

impl PerformanceEvent {
    /// The event of a review change that took effect, if the change is one the outside hears of.
    pub fn of_review_change(change: &ReviewChange, review: &Review) -> Option<Self> {
        match change {
            ReviewChange::Finalize { .. } => Some(Self::ReviewSubmitted(review.clone())),
            ReviewChange::Complete => Some(Self::ReviewCompleted(review.clone())),
            ReviewChange::Acknowledge { .. } => Some(Self::ReviewAcknowledged(review.clone())),
            ReviewChange::OpenSelfAssessment
            | ReviewChange::SubmitSelfAssessment { .. }
            | ReviewChange::Reopen { .. } => None,
        }
    }

    /// The event of a goal change: its completion, when this change completed it.
    pub fn of_goal_change(before: GoalStatus, goal: &Goal) -> Option<Self> {
        (before != GoalStatus::Completed && goal.status == GoalStatus::Completed)
            .then(|| Self::GoalCompleted(goal.clone()))
    }

    /// The event of a PIP change that took effect.
    pub fn of_pip_change(change: &PipChange, pip: &Pip) -> Option<Self> {
        match change {
            PipChange::CheckIn { .. } => Some(Self::PipCheckedIn(pip.clone())),
            PipChange::Outcome { .. } => Some(Self::PipConcluded(pip.clone())),
            PipChange::Cancel { .. } => None,
        }
    }

    pub fn feedback_given(feedback: &Feedback) -> Self {
        Self::FeedbackGiven(feedback.clone().visible())
    }
}

impl DomainEvent for PerformanceEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ReviewCreated(_) => "hrmesh.performance.review.created.v1",
            Self::ReviewSubmitted(_) => "hrmesh.performance.review.submitted.v1",
            Self::ReviewCompleted(_) => "hrmesh.performance.review.completed.v1",
            Self::ReviewAcknowledged(_) => "hrmesh.performance.review.acknowledged.v1",
            Self::GoalCompleted(_) => "hrmesh.performance.goal.completed.v1",
            Self::PipInitiated(_) => "hrmesh.performance.pip.initiated.v1",
            Self::PipCheckedIn(_) => "hrmesh.performance.pip.checked_in.v1",
            Self::PipConcluded(_) => "hrmesh.performance.pip.concluded.v1",
            Self::FeedbackGiven(_) => "hrmesh.performance.feedback.given.v1",
        }
    }

    fn subject(&self) -> &str {
        match self {
            Self::ReviewCreated(review)
            | Self::ReviewSubmitted(review)
            | Self::ReviewCompleted(review)
            | Self::ReviewAcknowledged(review) => review.employee_id.as_str(),
            Self::GoalCompleted(goal) => goal.employee_id.as_str(),
            Self::PipInitiated(pip) | Self::PipCheckedIn(pip) | Self::PipConcluded(pip) => {
                pip.employee_id.as_str()
            }
            Self::FeedbackGiven(feedback) => feedback.employee_id.as_str(),
        }
    }

    fn aggregate(&self) -> String {
        match self {
            Self::ReviewCreated(review)
            | Self::ReviewSubmitted(review)
            | Self::ReviewCompleted(review)
            | Self::ReviewAcknowledged(review) => format!("review/{}", review.id),
            Self::GoalCompleted(goal) => format!("goal/{}", goal.id),
            Self::PipInitiated(pip) | Self::PipCheckedIn(pip) | Self::PipConcluded(pip) => {
                format!("pip/{}", pip.id)
            }
            Self::FeedbackGiven(feedback) => format!("feedback/{}", feedback.id),
        }
    }
}
