//! The Pact contracts between the orchestrator and each participant: the consumer tests that
//! generate the pacts (and fail when they drift from the committed ones), the provider
//! verifications against the real servers, and the negative controls.

mod consumer;
mod ledger;
mod negative;
mod notification;
mod performance;

/// A channel to a server that is already listening.
pub async fn connect(uri: &str) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(uri.to_owned())?
        .connect()
        .await?)
}
