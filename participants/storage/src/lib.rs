//! Storage plumbing every hrmesh store shares, written once: database connections (SQLite with
//! WAL, PostgreSQL) and the classification of their errors, the participants' idempotency inbox,
//! the audit trail's store and group-committing writer, the transactional outbox of domain
//! events, and the vault of data keys that seals personal data, each with its migrations, and the retention
//! job that archives and removes records past their retention period.
//!
//! Stores depend on this crate and on their core; it knows sea-orm and nothing of gRPC (no tonic,
//! no prost), so a store cannot reach the transport either. `cargo tree` in the test command checks
//! it. No ledger, performance or notification types live here.

pub mod audit;
pub mod db;
pub mod error;
pub mod group;
pub mod inbox;
pub mod outbox;
pub mod retention;
pub mod vault;

#[cfg(feature = "testing")]
pub mod testing;
