//! sea-orm storage for the time-off ledger, on SQLite (the embedded default) and PostgreSQL.
//!
//! How the invariants are enforced here, where they cannot be bypassed:
//! - append-only: database triggers refuse UPDATE and DELETE on `entries`;
//! - idempotency: every write runs inside the kit's inbox transaction;
//! - day uniqueness: the primary key of `day_claims` (employee, resource type, day);
//! - the balance floor: one conditional UPDATE of the account's running totals, which also
//!   serialises concurrent writers of one account (row lock on PostgreSQL, the write lock on SQLite);
//! - a hold resolves once: a conditional state change on the hold row;
//! - an entry is reversed once: a unique index on `reverses_entry_id`.
//!
//! Entities and sea-orm types never leave this crate; it speaks the core's types.

mod accrual;
mod entities;
mod migration;
mod retention;
mod sealed;
mod store;

pub use migration::Migrator;
pub use store::SeaLedgerStore;
