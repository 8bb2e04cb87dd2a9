//! Calls to the participants through one tower-resilience stack per participant:
//! retry (exponential backoff with jitter, for UNAVAILABLE / DEADLINE_EXCEEDED /
//! RESOURCE_EXHAUSTED and timeouts only) → circuit breaker → bulkhead (bounded concurrency) →
//! per-attempt time limit → the generated tonic client.
//!
//! The stack's request is an [`Attempt`]: a closure that makes the typed call (prost messages are
//! `Clone`, so a retry repeats exactly the same request and idempotency key), with the caller's
//! deadline, which becomes the call's `grpc-timeout` while any budget is left.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hrmesh_saga_core::StepOutput;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tonic::{Code, Status};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_resilience::bulkhead::{BulkheadLayer, BulkheadServiceError};
use tower_resilience::circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};
use tower_resilience::retry::{ExponentialRandomBackoff, RetryLayer};
use tower_resilience::timelimiter::{TimeLimiterError, TimeLimiterLayer};
use tracing::Instrument;

type CallFuture = Pin<Box<dyn Future<Output = Result<StepOutput, Status>> + Send>>;

/// One call to a participant, repeatable.
#[derive(Clone)]
pub struct Attempt {
    /// The caller's deadline, while the saga has one.
    pub deadline: Option<Instant>,
    rpc: &'static str,
    /// Attempts made so far, shared by the clones the retry layer makes.
    tries: Arc<AtomicU32>,
    run: Arc<dyn Fn(Option<Duration>) -> CallFuture + Send + Sync>,
}

type StackError = CircuitBreakerError<BulkheadServiceError<TimeLimiterError<Status>>>;
type Stack = BoxCloneSyncService<Attempt, StepOutput, StackError>;

/// How a call ended when it did not succeed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The participant answered with a business outcome (its inbox keeps it): not retried.
    Rejected(Status),
    /// No answer: transport error, timeout, overload, open circuit. The effect may or may not have
    /// landed; calling again with the same key is safe.
    Unavailable(String),
    /// An answer that is a bug or a misconfiguration on the other side: it will not mend itself.
    Fault(String),
}

/// What a status from a participant means to a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// No answer, or "try again": UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
    /// CANCELLED, and any status the client made up for a broken connection (it carries the
    /// transport error as its source).
    Unavailable,
    /// A business answer: INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS,
    /// PERMISSION_DENIED, OUT_OF_RANGE.
    Rejected,
    /// INTERNAL, UNKNOWN and DATA_LOSS as the participant sent them, UNIMPLEMENTED,
    /// UNAUTHENTICATED: a bug or a misconfiguration.
    Fault,
}

/// Classifies a participant's status (see [`StatusClass`]).
pub fn classify(status: &Status) -> StatusClass {
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled => StatusClass::Unavailable,
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::OutOfRange => StatusClass::Rejected,
        // A status the client built from a transport failure keeps that failure as its source;
        // one the participant sent has none.
        Code::Internal | Code::Unknown | Code::DataLoss
            if std::error::Error::source(status).is_some() =>
        {
            StatusClass::Unavailable
        }
        Code::Ok
        | Code::Internal
        | Code::Unknown
        | Code::DataLoss
        | Code::Unimplemented
        | Code::Unauthenticated => StatusClass::Fault,
    }
}

/// Whether a status means "try again later" rather than "no".
pub fn is_transient(status: &Status) -> bool {
    classify(status) == StatusClass::Unavailable
}

fn retryable(error: &StackError) -> bool {
    match error {
        CircuitBreakerError::OpenCircuit => false,
        CircuitBreakerError::Inner(BulkheadServiceError::Bulkhead(_)) => true,
        CircuitBreakerError::Inner(BulkheadServiceError::Inner(TimeLimiterError::Timeout)) => true,
        CircuitBreakerError::Inner(BulkheadServiceError::Inner(TimeLimiterError::Inner(
            status,
        ))) => classify(status) == StatusClass::Unavailable,
    }
}

/// Resilience settings of one participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResilienceConfig {
    /// Time limit of one attempt, in milliseconds.
    pub attempt_timeout_ms: u64,
    /// Attempts per round (the first included).
    pub attempts: usize,
    /// First retry delay, in milliseconds; doubles per attempt, ±50 % jitter.
    pub backoff_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub backoff_max_ms: u64,
    /// Failure rate (0-1) over the sliding window that opens the circuit.
    pub breaker_failure_rate: f64,
    /// Calls in the breaker's sliding window.
    pub breaker_window: usize,
    /// Calls before the failure rate counts.
    pub breaker_min_calls: usize,
    /// How long the circuit stays open before it lets a trial call through, in milliseconds.
    pub breaker_open_ms: u64,
    /// Calls in flight to this participant at most (the bulkhead).
    pub max_concurrent_calls: usize,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            attempt_timeout_ms: 5_000,
            attempts: 3,
            backoff_ms: 50,
            backoff_max_ms: 2_000,
            breaker_failure_rate: 0.5,
            breaker_window: 20,
            breaker_min_calls: 10,
            breaker_open_ms: 5_000,
            max_concurrent_calls: 256,
        }
    }
}

/// A participant's resilient call path.
#[derive(Clone)]
pub struct Resilient {
    name: &'static str,
    stack: Stack,
}

impl std::fmt::Debug for Resilient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resilient")
            .field("name", &self.name)
            .finish()
    }
}

impl Resilient {
    pub fn new(name: &'static str, config: &ResilienceConfig) -> anyhow::Result<Self> {
        // Each attempt is a span of its own (the callee's server span is its child) and one
        // latency observation labelled with the participant, the RPC and the status code.
        let base = tower::service_fn(move |attempt: Attempt| {
            let number = attempt.tries.fetch_add(1, Ordering::Relaxed) + 1;
            let rpc = attempt.rpc;
            if number > 1 {
                metrics::counter!("hrmesh_participant_retries_total", "participant" => name, "rpc" => rpc)
                    .increment(1);
            }
            let span = tracing::info_span!(
                "participant.call",
                otel.name = %format_args!("{name} {rpc}"),
                otel.kind = "client",
                participant = name,
                rpc,
                attempt = number,
            );
            let timeout = attempt
                .deadline
                .map(|deadline| deadline.saturating_duration_since(Instant::now()))
                .filter(|left| !left.is_zero());
            let started = Instant::now();
            let call = span.in_scope(|| (attempt.run)(timeout));
            async move {
                let result = call.await;
                let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
                metrics::histogram!(
                    "hrmesh_participant_rpc_duration_seconds",
                    "participant" => name,
                    "rpc" => rpc,
                    "code" => hrmesh_mesh::status::code_name(code),
                )
                .record(started.elapsed().as_secs_f64());
                result
            }
            .instrument(span)
        });
        let time_limiter = TimeLimiterLayer::builder()
            .timeout_duration(Duration::from_millis(config.attempt_timeout_ms))
            .name(name)
            .build();
        let bulkhead = BulkheadLayer::builder()
            .max_concurrent_calls(config.max_concurrent_calls.max(1))
            .max_wait_duration(Duration::from_millis(config.attempt_timeout_ms))
            .name(name)
            .build()
            .map_err(|err| anyhow::anyhow!("{name} bulkhead: {err}"))?;
        let breaker = CircuitBreakerLayer::builder()
            .name(name)
            .failure_rate_threshold(config.breaker_failure_rate)
            .sliding_window_size(config.breaker_window.max(1))
            .minimum_number_of_calls(config.breaker_min_calls.max(1))
            .wait_duration_in_open(Duration::from_millis(config.breaker_open_ms))
            .failure_classifier(
                |result: &Result<StepOutput, BulkheadServiceError<TimeLimiterError<Status>>>| {
                    match result {
                        Ok(_) => false,
                        Err(BulkheadServiceError::Inner(TimeLimiterError::Inner(status))) => {
                            is_transient(status)
                        }
                        Err(_) => true,
                    }
                },
            )
            .on_state_transition(move |from, to| {
                tracing::warn!(participant = name, ?from, ?to, "circuit breaker");
                // 0 closed, 1 open, 2 half-open.
                metrics::gauge!("hrmesh_circuit_breaker_state", "participant" => name)
                    .set(f64::from(to as u8));
            })
            .build()
            .map_err(|err| anyhow::anyhow!("{name} circuit breaker: {err}"))?;
        let backoff = ExponentialRandomBackoff::new(Duration::from_millis(config.backoff_ms), 0.5)
            .map_err(|err| anyhow::anyhow!("{name} backoff: {err}"))?
            .max_interval(Duration::from_millis(config.backoff_max_ms));
        let retry = RetryLayer::<Attempt, StepOutput, StackError>::builder()
            .name(name)
            .max_attempts(config.attempts.max(1))
            .backoff(backoff)
            .retry_on(retryable)
            .build();
        let stack = tower::ServiceBuilder::new()
            .layer(retry)
            .layer(breaker)
            .layer(bulkhead)
            .layer(time_limiter)
            .service(base);
        Ok(Self {
            name,
            stack: BoxCloneSyncService::new(stack),
        })
    }

    /// Makes `call` (a typed tonic call given the remaining budget) through the stack.
    pub async fn call<F, Fut>(
        &self,
        rpc: &'static str,
        deadline: Option<Instant>,
        call: F,
    ) -> Result<StepOutput, CallError>
    where
        F: Fn(Option<Duration>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<StepOutput, Status>> + Send + 'static,
    {
        let attempt = Attempt {
            deadline,
            rpc,
            tries: Arc::new(AtomicU32::new(0)),
            run: Arc::new(move |timeout| Box::pin(call(timeout))),
        };
        match self.stack.clone().oneshot(attempt).await {
            Ok(output) => Ok(output),
            Err(CircuitBreakerError::OpenCircuit) => Err(CallError::Unavailable(format!(
                "{}: circuit open after repeated failures",
                self.name
            ))),
            Err(CircuitBreakerError::Inner(BulkheadServiceError::Bulkhead(err))) => {
                Err(CallError::Unavailable(format!("{}: {err}", self.name)))
            }
            Err(CircuitBreakerError::Inner(BulkheadServiceError::Inner(
                TimeLimiterError::Timeout,
            ))) => Err(CallError::Unavailable(format!(
                "{} {rpc}: no answer within the attempt time limit",
                self.name
            ))),
            Err(CircuitBreakerError::Inner(BulkheadServiceError::Inner(
                TimeLimiterError::Inner(status),
            ))) => {
                let described = || {
                    format!(
                        "{} {rpc}: {:?} {}",
                        self.name,
                        status.code(),
                        status.message()
                    )
                };
                match classify(&status) {
                    StatusClass::Unavailable => Err(CallError::Unavailable(described())),
                    StatusClass::Fault => Err(CallError::Fault(described())),
                    StatusClass::Rejected => Err(CallError::Rejected(status)),
                }
            }
        }
    }
}

/// Sets the remaining budget as the request's deadline, and names the end user the call is made
/// for (`on_behalf_of`). A subject the header cannot carry (empty, longer than
/// `ON_BEHALF_OF_LEN_MAX`, not visible ASCII) is left out rather than have the participant refuse
/// the call: the saga's own log keeps who started it.
pub fn request<T>(message: T, timeout: Option<Duration>, on_behalf_of: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    let carried = !on_behalf_of.is_empty()
        && on_behalf_of.len() <= hrmesh_mesh::mesh::ON_BEHALF_OF_LEN_MAX
        && on_behalf_of.bytes().all(|b| b.is_ascii_graphic());
    if carried && let Ok(value) = tonic::metadata::MetadataValue::try_from(on_behalf_of) {
        request
            .metadata_mut()
            .insert(hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER, value);
    }
    request
}
