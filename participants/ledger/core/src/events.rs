//! The ledger's domain events (catalogued in `proto/hrmesh/events/v1`), written by the store in
//! the transaction of the effect.

use hrmesh_domain::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::{Entry, Hold};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerEvent {
    /// A pending hold was placed.
    TimeOffRequested(Hold),
    /// The hold was posted.
    TimeOffApproved(Hold),
    /// The hold was voided as a rejection.
    TimeOffRejected(Hold),
    /// The hold was voided otherwise: withdrawn, undone by a saga, voided at offboarding.
    TimeOffCancelled(Hold),
    TimeOffExpired(Hold),
    /// An accrual entry, scheduled or appended.
    AccrualPosted(Entry),
    /// A leaver's balance paid out or forfeited (a payout or forfeiture entry).
    BalanceSettled(Entry),
}

impl DomainEvent for LedgerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            LedgerEvent::TimeOffRequested(_) => "hrmesh.ledger.time_off.requested.v1",
            LedgerEvent::TimeOffApproved(_) => "hrmesh.ledger.time_off.approved.v1",
            LedgerEvent::TimeOffRejected(_) => "hrmesh.ledger.time_off.rejected.v1",
            LedgerEvent::TimeOffCancelled(_) => "hrmesh.ledger.time_off.cancelled.v1",
            LedgerEvent::TimeOffExpired(_) => "hrmesh.ledger.time_off.expired.v1",
            LedgerEvent::AccrualPosted(_) => "hrmesh.ledger.accrual.posted.v1",
            LedgerEvent::BalanceSettled(_) => "hrmesh.ledger.balance.settled.v1",
        }
    }

    fn subject(&self) -> &str {
        match self {
            LedgerEvent::TimeOffRequested(hold)
            | LedgerEvent::TimeOffApproved(hold)
            | LedgerEvent::TimeOffRejected(hold)
            | LedgerEvent::TimeOffCancelled(hold)
            | LedgerEvent::TimeOffExpired(hold) => hold.employee_id.as_str(),
            LedgerEvent::AccrualPosted(entry) | LedgerEvent::BalanceSettled(entry) => {
                entry.employee_id.as_str()
            }
        }
    }

    fn aggregate(&self) -> String {
        match self {
            LedgerEvent::TimeOffRequested(hold)
            | LedgerEvent::TimeOffApproved(hold)
            | LedgerEvent::TimeOffRejected(hold)
            | LedgerEvent::TimeOffCancelled(hold)
            | LedgerEvent::TimeOffExpired(hold) => format!("hold/{}", hold.id),
            // An account's entries in order: the employee and policy.
            LedgerEvent::AccrualPosted(entry) | LedgerEvent::BalanceSettled(entry) => {
                format!(
                    "account/{}/{}",
                    entry.employee_id.as_str(),
                    entry.policy_id.as_str()
                )
            }
        }
    }
}
