//! complete-review: finalize the review with its rating (undo: reopen), grant bonus days for a
//! high rating (undo: reversal entry), complete the review (the pivot), tell the employee and the
//! manager.

use hrmesh_domain::{EmployeeId, Quantity};
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext};
use crate::command::{
    EntryKind, NewEntry, ParticipantCommand, Rating, RecipientKind, ReviewSection,
};
use crate::ids::{PolicyId, RecordId};
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Shared;
pub const STEPS: &[StepDef] = &[
    StepDef::compensatable("finalize-review"),
    StepDef::compensatable("grant-bonus-days"),
    StepDef::pivot("complete-review"),
    StepDef::retriable("notify-employee"),
    StepDef::retriable("notify-manager"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteReview {
    pub review_id: RecordId,
    pub employee_id: EmployeeId,
    pub rating: Rating,
    pub sections: Vec<ReviewSection>,
    /// The ledger policy bonus days go to; none: no bonus.
    pub bonus_policy_id: Option<PolicyId>,
}

impl CompleteReview {
    /// The bonus this review earns, and where it goes.
    pub fn bonus(&self) -> Option<(&PolicyId, Quantity)> {
        Some((self.bonus_policy_id.as_ref()?, self.rating.bonus_days()?))
    }

    fn finalized(ctx: &StepContext<'_>) -> (String, String) {
        match ctx.output(0) {
            Some(StepOutput::ReviewFinalized { manager_id, cycle }) => {
                (manager_id.clone(), cycle.clone())
            }
            _ => Default::default(),
        }
    }

    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::FinalizeReview {
                review_id: self.review_id.clone(),
                employee_id: self.employee_id.clone(),
                rating: self.rating,
                sections: self.sections.clone(),
            },
            (0, Compensate) => ParticipantCommand::ReopenReview {
                review_id: self.review_id.clone(),
                employee_id: self.employee_id.clone(),
                finalize_request_id: ctx.key(0, Forward),
                reason: ctx.undo_reason(),
            },
            (1, Forward) => {
                let Some((policy_id, amount)) = self.bonus() else {
                    return Plan::Done(StepOutput::Entry {
                        entry_id: None,
                        amount: Quantity::ZERO,
                    });
                };
                ParticipantCommand::AppendEntry(NewEntry {
                    employee_id: self.employee_id.clone(),
                    policy_id: policy_id.clone(),
                    kind: EntryKind::Accrual,
                    amount,
                    effective_date: ctx.created,
                    reason: format!("bonus for review {}", self.review_id),
                    reference: ctx.saga_id.to_owned(),
                })
            }
            (1, Compensate) => match ctx.output(1) {
                Some(StepOutput::Entry {
                    entry_id: Some(entry_id),
                    ..
                }) => ParticipantCommand::ReverseEntry {
                    entry_id: *entry_id,
                    employee_id: self.employee_id.clone(),
                    reason: ctx.undo_reason(),
                },
                _ => return Plan::Done(StepOutput::Nothing),
            },
            (2, Forward) => ParticipantCommand::CompleteReview {
                review_id: self.review_id.clone(),
                employee_id: self.employee_id.clone(),
            },
            (3, Forward) => {
                let (_, cycle) = Self::finalized(ctx);
                ParticipantCommand::Notify {
                    recipient_id: self.employee_id.to_string(),
                    recipient: RecipientKind::Employee,
                    template: "review.completed",
                    payload: vec![("cycle", cycle), ("rating", self.rating.words().to_owned())],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            (4, Forward) => {
                let (manager_id, cycle) = Self::finalized(ctx);
                ParticipantCommand::Notify {
                    recipient_id: manager_id,
                    recipient: RecipientKind::Manager,
                    template: "review.completed_for_manager",
                    payload: vec![
                        ("cycle", cycle),
                        ("rating", self.rating.words().to_owned()),
                        ("employee_name", self.employee_id.to_string()),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
