//! The transport every hrmesh server and client shares, written once: server bootstrap (health,
//! reflection, grpc-web, TCP_NODELAY, graceful shutdown, static files beside gRPC), the mesh layer (token verification,
//! per-method permissions, the audit trail, request ids and trace context), minting tokens, TLS,
//! client channels, layered configuration, telemetry, the mapping of domain errors to rich gRPC
//! statuses, and integration events (EventService and the RabbitMQ relay).
//!
//! Only servers and clients depend on this crate: cores and stores never see tonic. The HR rules
//! of who may act for whom are the domain's ([`hrmesh_domain::acting`]); the storage of the inbox
//! and the audit trail is [`hrmesh_storage`]'s.

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod crypto;
pub mod events;
pub mod mesh;
pub mod retention;
pub mod server;
pub mod site;
pub mod status;
pub mod telemetry;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "testing")]
pub use hrmesh_storage::test_on_every_backend;
