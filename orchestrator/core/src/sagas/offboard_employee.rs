//! offboard-employee: close the employee's open reviews, goals and PIPs (undo: reopen exactly
//! those), read the remaining balance, settle it with one adjustment entry (undo: reversal),
//! then tell the employee and HR. Holds the employee exclusively.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, Quantity};
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, date_text};
use crate::command::{EntryKind, NewEntry, ParticipantCommand, RecipientKind};
use crate::ids::PolicyId;
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Exclusive;
pub const STEPS: &[StepDef] = &[
    StepDef::compensatable("close-records"),
    StepDef::compensatable("read-balance"),
    StepDef::compensatable("settle-balance"),
    StepDef::retriable("notify-employee"),
    StepDef::retriable("notify-hr"),
];

/// What happens to the remaining balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    Payout,
    Forfeit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardEmployee {
    pub employee_id: EmployeeId,
    pub last_day: NaiveDate,
    pub policy_id: PolicyId,
    pub settlement: Settlement,
    pub hr_recipient_id: EmployeeId,
    pub reason: String,
}

impl OffboardEmployee {
    /// The entry that settles `available` days: their removal, as a payout or a forfeiture;
    /// nothing when nothing is left.
    pub fn settlement_amount(available: Quantity) -> Option<Quantity> {
        available.is_positive().then_some(-available)
    }

    fn settled(ctx: &StepContext<'_>) -> Quantity {
        match ctx.output(2) {
            Some(StepOutput::Entry { amount, .. }) => -*amount,
            _ => Quantity::ZERO,
        }
    }

    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let payout = self.settlement == Settlement::Payout;
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::CloseEmployeeRecords {
                employee_id: self.employee_id.clone(),
                reason: if self.reason.is_empty() {
                    "offboarding".to_owned()
                } else {
                    self.reason.clone()
                },
            },
            (0, Compensate) => ParticipantCommand::ReopenEmployeeRecords {
                close_request_id: ctx.key(0, Forward),
            },
            (1, Forward) => ParticipantCommand::GetBalance {
                employee_id: self.employee_id.clone(),
                policy_id: self.policy_id.clone(),
            },
            // Reading has nothing to undo.
            (1, Compensate) => return Plan::Done(StepOutput::Nothing),
            (2, Forward) => {
                let available = match ctx.output(1) {
                    Some(StepOutput::Balance { available }) => *available,
                    _ => Quantity::ZERO,
                };
                let Some(amount) = Self::settlement_amount(available) else {
                    return Plan::Done(StepOutput::Entry {
                        entry_id: None,
                        amount: Quantity::ZERO,
                    });
                };
                ParticipantCommand::AppendEntry(NewEntry {
                    employee_id: self.employee_id.clone(),
                    policy_id: self.policy_id.clone(),
                    kind: EntryKind::Adjustment,
                    amount,
                    effective_date: self.last_day,
                    reason: if payout {
                        "offboarding payout"
                    } else {
                        "offboarding forfeiture"
                    }
                    .to_owned(),
                    reference: ctx.saga_id.to_owned(),
                })
            }
            (2, Compensate) => match ctx.output(2) {
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
            (3 | 4, Forward) => {
                let settlement = format!(
                    "{} day(s) {}",
                    Self::settled(ctx),
                    if payout { "paid out" } else { "forfeited" }
                );
                let (recipient_id, recipient) = if step == 3 {
                    (self.employee_id.to_string(), RecipientKind::Employee)
                } else {
                    (self.hr_recipient_id.to_string(), RecipientKind::Hr)
                };
                ParticipantCommand::Notify {
                    recipient_id,
                    recipient,
                    template: "employee.offboarded",
                    payload: vec![
                        ("employee_name", self.employee_id.to_string()),
                        ("last_day", date_text(self.last_day)),
                        ("settlement", settlement),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
