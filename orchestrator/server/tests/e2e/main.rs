//! The orchestrator with the real participants, every server on its own port with its own real
//! database, on SQLite and on PostgreSQL (the mesh of `hrmesh-testkit`); the operator console in
//! a headless Chromium; and the executor over fake ports.

mod console;
mod erasure;
mod executor;
mod expiry;
mod hr_sagas;
mod integration_events;
mod legacy;
mod lossy_ledger;
mod outages;
mod ownership;
mod sagas;

// What every mesh test has in scope (`use super::*`): the harness and the types it speaks.
pub use std::time::Duration;

pub use hrmesh_mesh::auth::{ALL_PERMISSIONS, ActorType, Claims, TokenSource};
pub use hrmesh_mesh::client::MeshChannel;
pub use hrmesh_mesh::testing;
pub use hrmesh_mesh::testing::Backend;
pub use hrmesh_mesh::tls::TlsConfig;
pub use hrmesh_mesh::tls::dev::DevPki;
pub use hrmesh_proto::common::DateRange;
pub use hrmesh_proto::ledger as lpb;
pub use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
pub use hrmesh_proto::notification as npb;
pub use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
pub use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
pub use hrmesh_proto::orchestrator::start_saga_request::Input;
pub use hrmesh_proto::orchestrator::*;
pub use hrmesh_proto::performance as ppb;
pub use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
pub use hrmesh_testkit::*;
pub use tonic::{Code, Status};
pub use tonic_types::StatusExt;
