//! offboard-employee: close the employee's open reviews, goals and PIPs (undo: reopen exactly
//! those); end every assignment on the last day, which voids each pending hold with a day after
//! it and posts the pending holds entirely on or before it (undo: the assignments' ends are
//! restored; the holds stay resolved); read every balance; settle each policy with one payout or
//! forfeiture entry, all in one batch (undo: reversals); then tell the employee and HR. Holds the
//! employee exclusively.
//!
//! Why the holds before the last day are posted: they are days off within the employment that
//! were asked for and counted as pending; settling from the balance with them left pending would
//! pay them out if they were later voided, and nobody decides a leaver's requests afterwards.
//! Why a compensation leaves holds resolved: a hold resolves once in the ledger (its entries are
//! append-only), and a voided request is the employee's to make again.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, Quantity};
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext, date_text};
use crate::command::{EntryKind, NewEntry, ParticipantCommand, RecipientKind};
use crate::output::StepOutput;
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Exclusive;
pub const STEPS: &[StepDef] = &[
    StepDef::compensatable("close-records"),
    StepDef::compensatable("end-assignments"),
    StepDef::compensatable("read-balances"),
    StepDef::compensatable("settle-balances"),
    StepDef::retriable("notify-employee"),
    StepDef::retriable("notify-hr"),
];

/// What happens to the remaining balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    Payout,
    Forfeit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardEmployee {
    pub employee_id: EmployeeId,
    pub last_day: NaiveDate,
    pub settlement: Settlement,
    pub hr_recipient_id: EmployeeId,
    pub reason: String,
}

impl OffboardEmployee {
    /// The entry that settles `available` days: their removal, as a payout or a forfeiture;
    /// nothing when nothing is left (an overdrawn balance is HR's to recover, not the ledger's).
    pub fn settlement_amount(available: Quantity) -> Option<Quantity> {
        available.is_positive().then_some(-available)
    }

    /// "pto: 3 day(s) paid out; sick: 1.5 day(s) paid out", or "nothing to settle".
    fn settled(&self, ctx: &StepContext<'_>) -> String {
        let verb = match self.settlement {
            Settlement::Payout => "paid out",
            Settlement::Forfeit => "forfeited",
        };
        let parts: Vec<String> = match ctx.output(3) {
            Some(StepOutput::Entries { entries }) => entries
                .iter()
                .map(|e| format!("{}: {} day(s) {verb}", e.policy_id, -e.amount))
                .collect(),
            _ => Vec::new(),
        };
        if parts.is_empty() {
            "nothing to settle".to_owned()
        } else {
            parts.join("; ")
        }
    }

    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        use Direction::*;
        let reason = if self.reason.is_empty() {
            "offboarding".to_owned()
        } else {
            self.reason.clone()
        };
        let command = match (step, direction) {
            (0, Forward) => ParticipantCommand::CloseEmployeeRecords {
                employee_id: self.employee_id.clone(),
                reason,
            },
            (0, Compensate) => ParticipantCommand::ReopenEmployeeRecords {
                close_request_id: ctx.key(0, Forward),
            },
            (1, Forward) => ParticipantCommand::EndAssignments {
                employee_id: self.employee_id.clone(),
                end_date: self.last_day,
                post_earlier_holds: true,
                reason,
            },
            (1, Compensate) => ParticipantCommand::ReopenAssignments {
                ended_by_request_id: ctx.key(1, Forward),
                employee_id: self.employee_id.clone(),
            },
            (2, Forward) => ParticipantCommand::ListBalances {
                employee_id: self.employee_id.clone(),
            },
            // Reading has nothing to undo.
            (2, Compensate) => return Plan::Done(StepOutput::Nothing),
            (3, Forward) => {
                let available = match ctx.output(2) {
                    Some(StepOutput::Balances { available }) => available.as_slice(),
                    _ => &[],
                };
                let entries: Vec<NewEntry> = available
                    .iter()
                    .filter_map(|(policy_id, available)| {
                        let amount = Self::settlement_amount(*available)?;
                        Some(NewEntry {
                            employee_id: self.employee_id.clone(),
                            policy_id: policy_id.clone(),
                            kind: match self.settlement {
                                Settlement::Payout => EntryKind::Payout,
                                Settlement::Forfeit => EntryKind::Forfeiture,
                            },
                            amount,
                            effective_date: self.last_day,
                            reason: match self.settlement {
                                Settlement::Payout => "offboarding payout",
                                Settlement::Forfeit => "offboarding forfeiture",
                            }
                            .to_owned(),
                            reference: ctx.saga_id.to_owned(),
                        })
                    })
                    .collect();
                if entries.is_empty() {
                    return Plan::Done(StepOutput::Entries {
                        entries: Vec::new(),
                    });
                }
                ParticipantCommand::AppendEntries(entries)
            }
            (3, Compensate) => match ctx.output(3) {
                Some(StepOutput::Entries { entries }) if !entries.is_empty() => {
                    ParticipantCommand::ReverseEntries {
                        entry_ids: entries.iter().map(|e| e.entry_id).collect(),
                        employee_id: self.employee_id.clone(),
                        reason: ctx.undo_reason(),
                    }
                }
                _ => return Plan::Done(StepOutput::Nothing),
            },
            (4 | 5, Forward) => {
                let (recipient_id, recipient) = if step == 4 {
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
                        ("settlement", self.settled(ctx)),
                    ],
                    correlation_id: ctx.saga_id.to_owned(),
                }
            }
            _ => return Plan::Undefined,
        };
        Plan::Call(command)
    }
}
