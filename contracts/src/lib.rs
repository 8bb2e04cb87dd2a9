//! Pact contracts between the orchestrator and the participants, over gRPC.
//!
//! The pacts are V4 *synchronous message* pacts: each interaction names its gRPC method in the
//! request metadata ([`grpc::METHOD_KEY`]), carries the request and the response as canonical
//! proto3 JSON, and says in the response metadata which status the call ends with
//! ([`grpc::STATUS_KEY`]); a failed call's body is its `google.rpc.ErrorInfo`.
//!
//! - [`mock::MockProvider`] plays a participant from its pact, so the consumer tests run the
//!   orchestrator's real client code over real gRPC.
//! - [`verify`] replays a pact against a real participant, with provider states set up by the
//!   participant's own code, and matches the real responses with `pact_matching`.

pub mod grpc;
pub mod mock;
pub mod states;
pub mod verify;
