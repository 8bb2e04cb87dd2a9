//! conclude-pip: record the PIP's outcome in performance (the pivot), then — retried within their
//! budget — lift the freeze of the employee's bonus accrual from the day the saga was started
//! (an extended PIP extends the freeze to its new end instead), and tell the employee and the
//! manager.

use chrono::NaiveDate;
use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, optional_date_text};
use crate::command::{FreezeTarget, ParticipantCommand, PipOutcome, RecipientKind};
use crate::ids::RecordId;
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Shared;
pub const STEPS: &[StepDef] = &[
    StepDef::pivot("record-outcome"),
    StepDef::retriable("lift-freeze"),
    StepDef::retriable("notify-employee"),
    StepDef::retriable("notify-manager"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcludePip {
    pub pip_id: RecordId,
    pub employee_id: EmployeeId,
    pub outcome: PipOutcome,
    pub notes: String,
    /// For an extension: the PIP's new end.
    pub new_end_date: Option<NaiveDate>,
    pub additional_check_in_dates: Vec<NaiveDate>,
}

impl ConcludePip {
    fn concluded(ctx: &StepContext<'_>) -> (String, Option<NaiveDate>) {
        match ctx.output(0) {
            Some(StepOutput::PipConcluded {
                manager_id,
                end_date,
                ..
            }) => (manager_id.clone(), *end_date),
            _ => Default::default(),
        }
    }

    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let reference = FreezeTarget::Reference(self.pip_id.to_string());
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::RecordPipOutcome {
                pip_id: self.pip_id.clone(),
                employee_id: self.employee_id.clone(),
                outcome: self.outcome,
                notes: self.notes.clone(),
                new_end_date: self.new_end_date,
                additional_check_in_dates: self.additional_check_in_dates.clone(),
            },
            (1, Forward) => match (self.outcome, self.new_end_date) {
                (PipOutcome::Extended, Some(end_date)) => ParticipantCommand::ExtendFreeze {
                    target: reference,
                    employee_id: self.employee_id.clone(),
                    end_date,
                },
                _ => ParticipantCommand::UnfreezeAccruals {
                    target: reference,
                    employee_id: self.employee_id.clone(),
                    from_date: Some(ctx.created),
                    reason: format!("PIP {} concluded: {}", self.pip_id, self.outcome.words()),
                },
            },
            (2 | 3, Forward) => {
                let (manager_id, end_date) = Self::concluded(ctx);
                let (recipient_id, recipient) = if step == 2 {
                    (self.employee_id.to_string(), RecipientKind::Employee)
                } else {
                    (manager_id, RecipientKind::Manager)
                };
                ParticipantCommand::Notify {
                    recipient_id,
                    recipient,
                    template: "pip.concluded",
                    payload: vec![
                        ("employee_name", self.employee_id.to_string()),
                        ("outcome", self.outcome.words().to_owned()),
                        ("end_date", optional_date_text(end_date)),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
