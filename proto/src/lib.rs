//! Generated protobuf and gRPC code for every `hrmesh.*.v1` package.
//!
//! This crate owns nothing but generated code and the event catalogue (the table of
//! `events.proto`'s comment): domain logic must never live here, and no other crate compiles
//! `.proto` files.

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

            /// The catalogue of `events.proto`: each event type and the full name of the message
            /// its data is. A type keeps its message for as long as it exists (the contract
            /// test in `contracts/` holds both to `contracts/events/catalogue.json`).
            pub const CATALOGUE: &[(&str, &str)] = &[
                (
                    "hrmesh.performance.review.created.v1",
                    "hrmesh.events.v1.ReviewCreated",
                ),
                (
                    "hrmesh.performance.review.submitted.v1",
                    "hrmesh.events.v1.ReviewSubmitted",
                ),
                (
                    "hrmesh.performance.review.completed.v1",
                    "hrmesh.events.v1.ReviewCompleted",
                ),
                (
                    "hrmesh.performance.review.acknowledged.v1",
                    "hrmesh.events.v1.ReviewAcknowledged",
                ),
                (
                    "hrmesh.performance.goal.completed.v1",
                    "hrmesh.events.v1.GoalCompleted",
                ),
                (
                    "hrmesh.performance.pip.initiated.v1",
                    "hrmesh.events.v1.PipInitiated",
                ),
                (
                    "hrmesh.performance.pip.checked_in.v1",
                    "hrmesh.events.v1.PipCheckedIn",
                ),
                (
                    "hrmesh.performance.pip.concluded.v1",
                    "hrmesh.events.v1.PipConcluded",
                ),
                (
                    "hrmesh.performance.feedback.given.v1",
                    "hrmesh.events.v1.FeedbackGiven",
                ),
                (
                    "hrmesh.ledger.time_off.requested.v1",
                    "hrmesh.events.v1.TimeOffRequested",
                ),
                (
                    "hrmesh.ledger.time_off.approved.v1",
                    "hrmesh.events.v1.TimeOffApproved",
                ),
                (
                    "hrmesh.ledger.time_off.rejected.v1",
                    "hrmesh.events.v1.TimeOffRejected",
                ),
                (
                    "hrmesh.ledger.time_off.cancelled.v1",
                    "hrmesh.events.v1.TimeOffCancelled",
                ),
                (
                    "hrmesh.ledger.time_off.expired.v1",
                    "hrmesh.events.v1.TimeOffExpired",
                ),
                (
                    "hrmesh.ledger.accrual.posted.v1",
                    "hrmesh.events.v1.AccrualPosted",
                ),
                (
                    "hrmesh.ledger.balance.settled.v1",
                    "hrmesh.events.v1.BalanceSettled",
                ),
                (
                    "hrmesh.notification.notification.delivered.v1",
                    "hrmesh.events.v1.NotificationDelivered",
                ),
                (
                    "hrmesh.notification.notification.dead_lettered.v1",
                    "hrmesh.events.v1.NotificationDeadLettered",
                ),
                (
                    "hrmesh.orchestrator.saga.completed.v1",
                    "hrmesh.events.v1.SagaCompleted",
                ),
                (
                    "hrmesh.orchestrator.saga.compensated.v1",
                    "hrmesh.events.v1.SagaCompensated",
                ),
                (
                    "hrmesh.orchestrator.saga.stuck.v1",
                    "hrmesh.events.v1.SagaStuck",
                ),
                (
                    "hrmesh.orchestrator.employee.onboarded.v1",
                    "hrmesh.events.v1.EmployeeOnboarded",
                ),
                (
                    "hrmesh.orchestrator.employee.offboarded.v1",
                    "hrmesh.events.v1.EmployeeOffboarded",
                ),
            ];
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
