//! The orchestrator with the real participants, every server on its own port with its own real
//! database, on SQLite and on PostgreSQL; and the executor over fake ports.

mod executor;
mod expiry;
mod hr_sagas;
mod legacy;
mod lossy_ledger;
mod mesh;
mod outages;
mod ownership;
mod sagas;

pub use mesh::*;
