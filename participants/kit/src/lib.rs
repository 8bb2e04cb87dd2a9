//! Plumbing every hrmesh server shares, written once: server bootstrap (health, reflection,
//! grpc-web, TCP_NODELAY, graceful shutdown), layered configuration, tracing setup, database
//! connections, the mapping of domain failures to rich gRPC statuses, and the participants'
//! idempotency inbox.
//!
//! Nothing domain-specific lives here: no ledger, performance or notification types.

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod inbox;
pub mod mesh;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;
