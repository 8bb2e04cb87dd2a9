//! erase-personal-data: each participant destroys the employee's data keys, each step retried
//! until it is done. An erasure cannot be undone, so nothing is compensated; the saga log
//! destroys its own key for the employee when the saga completes (the store does, in the
//! completing transaction).

use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use super::{Plan, StepContext};
use crate::command::{Participant, ParticipantCommand};
use crate::{Direction, LockMode, StepDef};

pub const LOCK: LockMode = LockMode::Exclusive;
pub const STEPS: &[StepDef] = &[
    StepDef::retriable("erase-performance"),
    StepDef::retriable("erase-ledger"),
    StepDef::retriable("erase-notifications"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasePersonalData {
    pub employee_id: EmployeeId,
}

impl ErasePersonalData {
    pub fn plan(&self, step: usize, direction: Direction, _ctx: &StepContext<'_>) -> Plan {
        let participant = match (step, direction) {
            (0, Direction::Forward) => Participant::Performance,
            (1, Direction::Forward) => Participant::Ledger,
            (2, Direction::Forward) => Participant::Notification,
            _ => return Plan::Undefined,
        };
        Plan::Call(ParticipantCommand::ErasePersonalData {
            participant,
            employee_id: self.employee_id.clone(),
        })
    }
}
