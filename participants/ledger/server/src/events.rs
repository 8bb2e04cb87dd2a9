//! The ledger's events as the catalogue's messages (`hrmesh.events.v1`), encoded for the outbox.

use hrmesh_ledger_core::{Entry, EntryKind, Hold, LedgerEvent};
use hrmesh_mesh::events::pack;
use hrmesh_proto::events as pb;

fn time_off(hold: &Hold) -> pb::TimeOff {
    pb::TimeOff {
        hold_id: hold.id.clone(),
        employee_id: hold.employee_id.to_string(),
        policy_id: hold.policy_id.to_string(),
        resource_type: hold.resource_type.as_str().to_owned(),
        days: hold
            .days
            .iter()
            .map(|day| pb::HeldDay {
                date: day.date.to_string(),
                amount: day.amount.to_string(),
            })
            .collect(),
        total: hold.total.to_string(),
    }
}

fn accrual(entry: &Entry) -> pb::AccrualPosted {
    pb::AccrualPosted {
        entry_id: entry.id,
        employee_id: entry.employee_id.to_string(),
        policy_id: entry.policy_id.to_string(),
        resource_type: entry.resource_type.as_str().to_owned(),
        amount: entry.amount.to_string(),
        period_start: entry
            .period
            .map(|period| period.start.to_string())
            .unwrap_or_default(),
        period_end: entry
            .period
            .map(|period| period.end.to_string())
            .unwrap_or_default(),
        effective_date: entry.effective_date.to_string(),
    }
}

/// The outbox's encoder for the ledger ([`hrmesh_ledger_store::SeaLedgerStore::open`]).
pub fn encode(event: &LedgerEvent) -> Vec<u8> {
    match event {
        LedgerEvent::TimeOffRequested(hold) => pack(&pb::TimeOffRequested {
            time_off: Some(time_off(hold)),
            expires_at: Some(hrmesh_mesh::events::timestamp(hold.expires_at)),
        }),
        LedgerEvent::TimeOffApproved(hold) => pack(&pb::TimeOffApproved {
            time_off: Some(time_off(hold)),
        }),
        LedgerEvent::TimeOffRejected(hold) => pack(&pb::TimeOffRejected {
            time_off: Some(time_off(hold)),
        }),
        LedgerEvent::TimeOffCancelled(hold) => pack(&pb::TimeOffCancelled {
            time_off: Some(time_off(hold)),
        }),
        LedgerEvent::TimeOffExpired(hold) => pack(&pb::TimeOffExpired {
            time_off: Some(time_off(hold)),
        }),
        LedgerEvent::AccrualPosted(entry) => pack(&accrual(entry)),
        LedgerEvent::BalanceSettled(entry) => pack(&pb::BalanceSettled {
            entry_id: entry.id,
            employee_id: entry.employee_id.to_string(),
            policy_id: entry.policy_id.to_string(),
            resource_type: entry.resource_type.as_str().to_owned(),
            amount: (-entry.amount).to_string(),
            settlement: if entry.kind == EntryKind::Payout {
                pb::Settlement::Payout
            } else {
                pb::Settlement::Forfeiture
            }
            .into(),
            effective_date: entry.effective_date.to_string(),
        }),
    }
}
