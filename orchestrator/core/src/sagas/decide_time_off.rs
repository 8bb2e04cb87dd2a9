//! decide-time-off: post (approve) or void (reject) the hold — the pivot — then tell the employee.

use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, optional_date_text};
use crate::command::{ParticipantCommand, RecipientKind};
use crate::ids::RecordId;
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Shared;
pub const STEPS: &[StepDef] = &[
    StepDef::pivot("post-or-void-hold"),
    StepDef::retriable("notify-employee"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideTimeOff {
    pub employee_id: EmployeeId,
    pub hold_id: RecordId,
    pub approve: bool,
    pub reason: String,
}

impl DecideTimeOff {
    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let command = match (step, direction) {
            (0, Forward) if self.approve => ParticipantCommand::PostHold {
                hold_id: self.hold_id.clone(),
                employee_id: self.employee_id.clone(),
            },
            (0, Forward) => ParticipantCommand::VoidHold {
                hold_id: self.hold_id.clone(),
                employee_id: self.employee_id.clone(),
                reason: self.reason.clone(),
                undo: false,
            },
            (1, Forward) => {
                let (start, end) = match ctx.output(0) {
                    Some(StepOutput::HoldResolved {
                        start_date,
                        end_date,
                    }) => (*start_date, *end_date),
                    _ => (None, None),
                };
                ParticipantCommand::Notify {
                    recipient_id: self.employee_id.to_string(),
                    recipient: RecipientKind::Employee,
                    template: "time_off.decided",
                    payload: vec![
                        (
                            "decision",
                            if self.approve { "approved" } else { "rejected" }.to_owned(),
                        ),
                        ("start_date", optional_date_text(start)),
                        ("end_date", optional_date_text(end)),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
