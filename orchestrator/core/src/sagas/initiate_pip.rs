//! initiate-pip: open a PIP with its check-in dates (undo: cancel it), freeze the employee's
//! bonus accrual for the PIP's period (undo: unfreeze), then tell the employee.

use chrono::NaiveDate;
use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, date_text, optional_date_text};
use crate::command::{FreezeTarget, ParticipantCommand, RecipientKind};
use crate::ids::PolicyId;
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Shared;
pub const STEPS: &[StepDef] = &[
    StepDef::compensatable("open-pip"),
    StepDef::compensatable("freeze-bonus-accrual"),
    StepDef::retriable("notify-employee"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiatePip {
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub reason: String,
    pub objectives: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub check_in_dates: Vec<NaiveDate>,
    /// The ledger policy bonus days go to, frozen for the PIP's period; none: nothing to freeze.
    #[serde(default)]
    pub bonus_policy_id: Option<PolicyId>,
}

impl InitiatePip {
    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::OpenPip {
                employee_id: self.employee_id.clone(),
                manager_id: self.manager_id.clone(),
                reason: self.reason.clone(),
                objectives: self.objectives.clone(),
                start_date: self.start_date,
                end_date: self.end_date,
                check_in_dates: self.check_in_dates.clone(),
            },
            (0, Compensate) => ParticipantCommand::CancelPip {
                opened_by_request_id: ctx.key(0, Forward),
                employee_id: self.employee_id.clone(),
                reason: ctx.undo_reason(),
            },
            (1, Forward) => {
                let Some(policy_id) = &self.bonus_policy_id else {
                    return Plan::Done(StepOutput::Frozen { freeze_id: None });
                };
                let pip_id = match ctx.output(0) {
                    Some(StepOutput::PipOpened { pip_id, .. }) => pip_id.clone(),
                    _ => String::new(),
                };
                ParticipantCommand::FreezeAccruals {
                    employee_id: self.employee_id.clone(),
                    policy_id: policy_id.clone(),
                    start_date: self.start_date,
                    end_date: self.end_date,
                    reason: "performance improvement plan".to_owned(),
                    reference: pip_id,
                }
            }
            (1, Compensate) => {
                if self.bonus_policy_id.is_none() {
                    return Plan::Done(StepOutput::Nothing);
                }
                ParticipantCommand::UnfreezeAccruals {
                    target: FreezeTarget::CreatedBy(ctx.key(1, Forward)),
                    employee_id: self.employee_id.clone(),
                    from_date: None,
                    reason: ctx.undo_reason(),
                }
            }
            (2, Forward) => {
                let first_check_in = match ctx.output(0) {
                    Some(StepOutput::PipOpened { first_check_in, .. }) => *first_check_in,
                    _ => None,
                };
                ParticipantCommand::Notify {
                    recipient_id: self.employee_id.to_string(),
                    recipient: RecipientKind::Employee,
                    template: "pip.initiated",
                    payload: vec![
                        ("start_date", date_text(self.start_date)),
                        ("end_date", date_text(self.end_date)),
                        ("first_check_in", optional_date_text(first_check_in)),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
