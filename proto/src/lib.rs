//! Generated protobuf and gRPC code for every `hrmesh.*.v1` package.
//!
//! This crate owns nothing but generated code: domain logic must never live here, and no other crate
//! compiles `.proto` files.

pub mod hrmesh {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("hrmesh.common.v1");
        }
    }
    pub mod ledger {
        pub mod v1 {
            tonic::include_proto!("hrmesh.ledger.v1");
        }
    }
    pub mod notification {
        pub mod v1 {
            tonic::include_proto!("hrmesh.notification.v1");
        }
    }
    pub mod performance {
        pub mod v1 {
            tonic::include_proto!("hrmesh.performance.v1");
        }
    }
    pub mod orchestrator {
        pub mod v1 {
            tonic::include_proto!("hrmesh.orchestrator.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("hrmesh.events.v1");
        }
    }
}

pub use hrmesh::common::v1 as common;
pub use hrmesh::events::v1 as events;
pub use hrmesh::ledger::v1 as ledger;
pub use hrmesh::notification::v1 as notification;
pub use hrmesh::orchestrator::v1 as orchestrator;
pub use hrmesh::performance::v1 as performance;

/// The encoded `FileDescriptorSet` of every hrmesh package, for gRPC server reflection and dynamic
/// codecs.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hrmesh_descriptor");
