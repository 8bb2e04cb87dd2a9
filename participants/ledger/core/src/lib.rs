//! The time-off ledger's domain: quantities, policies, assignments, entries, holds and balances;
//! the rules that validate and plan every operation; the [`LedgerStore`] port the storage layer
//! implements; and [`Ledger`], the service the gRPC server calls.
//!
//! Invariants this crate states and the store enforces atomically:
//! - entries are append-only; a correction is a reversal entry;
//! - a request id has one effect and one answer (the store's idempotency inbox);
//! - at most one active hold or consumption per employee, resource type and day;
//! - balance = accrued - consumed + adjustments, identical however it is computed;
//! - a scheduled accrual happens at most once per account and period, a carry-over expiry once per
//!   account and policy year (the store's unique index on the entry's period);
//! - a batch is applied completely or not at all;
//! - available (balance - pending) never drops below zero where the policy forbids it.
//!
//! No transport or storage types here: no tonic, prost or sea-orm.

mod error;
mod events;
mod model;
mod plan;
mod schedule;
mod service;

pub use error::{LedgerError, Rejection, Result};
pub use events::LedgerEvent;
pub use hrmesh_domain::Quantity;
pub use model::*;
pub use plan::{AccountPlan, EntryDraft, HoldPlan, expand_hold_days};
pub use schedule::{
    BIWEEKLY_ANCHOR, Due, EVENTS_PER_ACCOUNT_MAX, Period, capped, due, entitled, expiring,
    period_containing, policy_year, prorate, reopen_watermark, withdrawal_for_end,
};
pub use service::{
    ACCRUAL_RUN_AHEAD_DAYS_MAX, FREEZE_SPAN_DAYS_MAX, HOLD_TIMEOUT_DEFAULT_SECS, Ledger,
    LedgerStore,
};
