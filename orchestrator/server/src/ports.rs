//! The executor's two ports: the saga log and the participants. The server plugs in the real
//! ones (`hrmesh_saga_store::SagaLog`, [`crate::adapter::Participants`]); the executor's tests
//! plug in fakes.

use chrono::{DateTime, Utc};
use hrmesh_saga_core::{CallOutcome, ParticipantCommand};
use hrmesh_saga_store::{
    Append, Created, ListFilter, LogError, LoggedEvent, NewSaga, SagaLog, SagaRecord,
};
use tokio::time::Instant;

/// Answers of one group commit: per creation, per append.
pub type Committed = (Vec<Result<Created, LogError>>, Vec<Result<(), LogError>>);

/// The durable saga log, as the executor uses it.
#[async_trait::async_trait]
pub trait LogPort: Send + Sync + 'static {
    /// Applies `appends` (each fenced on its own terms), then `creates`, in one transaction.
    async fn commit(&self, creates: &[NewSaga], appends: &[Append]) -> Result<Committed, LogError>;
    async fn get(&self, id: &str) -> Result<Option<(SagaRecord, Vec<LoggedEvent>)>, LogError>;
    async fn events(&self, saga: &SagaRecord, after: u64) -> Result<Vec<LoggedEvent>, LogError>;
    /// Extends `owner`'s leases of `ids` to `until`.
    async fn renew(
        &self,
        owner: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> Result<u64, LogError>;
    /// Claims up to `limit` sagas that need a replica.
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>, LogError>;
    async fn list(
        &self,
        filter: &ListFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>, LogError>;
}

#[async_trait::async_trait]
impl LogPort for SagaLog {
    async fn commit(&self, creates: &[NewSaga], appends: &[Append]) -> Result<Committed, LogError> {
        SagaLog::commit(self, creates, appends).await
    }
    async fn get(&self, id: &str) -> Result<Option<(SagaRecord, Vec<LoggedEvent>)>, LogError> {
        SagaLog::get(self, id).await
    }
    async fn events(&self, saga: &SagaRecord, after: u64) -> Result<Vec<LoggedEvent>, LogError> {
        SagaLog::events(self, saga, after).await
    }
    async fn renew(
        &self,
        owner: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> Result<u64, LogError> {
        SagaLog::renew(self, owner, ids, until).await
    }
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>, LogError> {
        SagaLog::claim(self, owner, now, until, limit).await
    }
    async fn list(
        &self,
        filter: &ListFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>, LogError> {
        SagaLog::list(self, filter, before, limit).await
    }
}

/// One participant call of a step.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub command: &'a ParticipantCommand,
    /// The step's idempotency key.
    pub request_id: &'a str,
    /// The caller's budget, while the saga has one.
    pub deadline: Option<Instant>,
    /// The end user the saga acts for (empty: unknown, a saga logged before it was recorded).
    pub on_behalf_of: &'a str,
    /// Whether record-addressed requests name the saga's employee for the participant to hold
    /// the record to. Off only for sagas logged by version 1, whose calls were recorded without
    /// it: a replay under the same key must be the same request.
    pub hold_to_employee: bool,
}

/// The participants, as the executor uses them.
#[async_trait::async_trait]
pub trait ParticipantPort: Send + Sync + 'static {
    async fn execute(&self, call: Call<'_>) -> CallOutcome;
}
