//! Performance storage on sea-orm: SQLite (the embedded default) and PostgreSQL, one schema.
//!
//! Each record is a row with the columns queries filter on and the whole record as a JSON
//! document; the domain computes every change and this crate saves it in one transaction with
//! the idempotency inbox entry. Rules that span records hold under concurrency because every
//! write that creates or closes an employee's records first updates that employee's counter row
//! (the limit check and the per-employee lock in one statement), and updates of one record lock
//! its row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer at a time).

mod entities;
mod migration;
mod retention;
mod store;

pub use migration::Migrator;
pub use store::SeaPerformanceStore;
