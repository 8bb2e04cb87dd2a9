//! request-time-off: hold the days as pending (undo: void the hold), then ask the manager.

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
    StepDef::compensatable("hold-days"),
    StepDef::retriable("ask-manager"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestTimeOff {
    pub employee_id: EmployeeId,
    pub manager_id: EmployeeId,
    pub policy_id: PolicyId,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub half_days: Vec<NaiveDate>,
    pub reason: String,
}

impl RequestTimeOff {
    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::HoldDays {
                employee_id: self.employee_id.clone(),
                policy_id: self.policy_id.clone(),
                start_date: self.start_date,
                end_date: self.end_date,
                half_days: self.half_days.clone(),
                reference: ctx.saga_id.to_owned(),
                reason: self.reason.clone(),
            },
            (0, Compensate) => match ctx.output(0) {
                Some(StepOutput::Hold { hold_id, .. }) => ParticipantCommand::VoidHold {
                    hold_id: RecordId::from_participant(hold_id.clone()),
                    employee_id: self.employee_id.clone(),
                    reason: ctx.undo_reason(),
                    undo: true,
                },
                // The hold was never made.
                _ => return Plan::Done(StepOutput::Nothing),
            },
            (1, Forward) => {
                let total = match ctx.output(0) {
                    Some(StepOutput::Hold { total, .. }) => total.to_string(),
                    _ => String::new(),
                };
                ParticipantCommand::Notify {
                    recipient_id: self.manager_id.to_string(),
                    recipient: RecipientKind::Manager,
                    template: "time_off.requested",
                    payload: vec![
                        ("employee_name", self.employee_id.to_string()),
                        ("days", total),
                        ("start_date", date_text(self.start_date)),
                        ("end_date", date_text(self.end_date)),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
