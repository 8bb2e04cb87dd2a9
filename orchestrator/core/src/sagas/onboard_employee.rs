//! onboard-employee: assign the time-off policies (the pivot), then — retried within their budget —
//! the first accrual by each policy's rule (prorated from the start date), the probation review,
//! the starter goals and a welcome.

use chrono::NaiveDate;
use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, date_text};
use crate::command::{ParticipantCommand, RecipientKind};
use crate::ids::{PolicyId, RecordId};
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Shared;
pub const STEPS: &[StepDef] = &[
    StepDef::pivot("assign-policies"),
    StepDef::retriable("first-accrual"),
    StepDef::retriable("probation-review"),
    StepDef::retriable("starter-goals"),
    StepDef::retriable("welcome"),
];

/// Starter goals a saga creates at most.
pub const GOALS_MAX: usize = 10;
/// Policies a saga assigns at most.
pub const POLICIES_MAX: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardEmployee {
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    /// Distinct, 1 to [`POLICIES_MAX`]. (Version 2 logs named one, as `policy_id`.)
    #[serde(alias = "policy_id", deserialize_with = "one_or_many")]
    pub policy_ids: Vec<PolicyId>,
    pub start_date: NaiveDate,
    pub probation_review_due_date: NaiveDate,
    pub starter_goals: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<PolicyId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PolicyId),
        Many(Vec<PolicyId>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl OnboardEmployee {
    /// The starter goals with their weights: 100 split evenly, the remainder to the first ones.
    pub fn weighted_goals(&self) -> Vec<(String, u32)> {
        let count = self.starter_goals.len().max(1) as u32;
        self.starter_goals
            .iter()
            .enumerate()
            .map(|(n, title)| {
                let weight = 100 / count + u32::from((n as u32) < 100 % count);
                (title.clone(), weight)
            })
            .collect()
    }

    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::AssignPolicies {
                employee_id: self.employee_id.clone(),
                policy_ids: self.policy_ids.clone(),
                effective_from: self.start_date,
            },
            // The first period of each policy, prorated from the start (the ledger's rule).
            (1, Forward) => ParticipantCommand::RunAccruals {
                employee_id: self.employee_id.clone(),
                up_to: self.start_date,
            },
            (2, Forward) => ParticipantCommand::CreateProbationReview {
                employee_id: self.employee_id.clone(),
                manager_id: self.manager_id.clone(),
                period_start: self.start_date,
                due_date: self.probation_review_due_date,
            },
            (3, Forward) => {
                if self.starter_goals.is_empty() {
                    return Plan::Done(StepOutput::GoalsCreated {
                        goal_ids: Vec::new(),
                    });
                }
                let review_id = match ctx.output(2) {
                    Some(StepOutput::ReviewCreated { review_id }) => {
                        Some(RecordId::from_participant(review_id.clone()))
                    }
                    _ => None,
                };
                ParticipantCommand::CreateGoals {
                    employee_id: self.employee_id.clone(),
                    review_id,
                    target_date: self.probation_review_due_date,
                    goals: self.weighted_goals(),
                }
            }
            (4, Forward) => ParticipantCommand::Notify {
                recipient_id: self.employee_id.to_string(),
                recipient: RecipientKind::Employee,
                template: "employee.onboarded",
                payload: vec![
                    ("employee_name", self.employee_id.to_string()),
                    ("review_date", date_text(self.probation_review_due_date)),
                ],
                correlation_id: ctx.saga_id.to_owned(),
            },
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
