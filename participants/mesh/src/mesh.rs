//! The tower layer in front of every service's handlers. For each call it
//! - continues the caller's trace (W3C `traceparent` in the metadata) in a `grpc.server` span that
//!   carries the request id (`x-request-id`, or a fresh one) and the trace id;
//! - verifies the bearer token and checks the permission the method needs (UNAUTHENTICATED or
//!   PERMISSION_DENIED with a google.rpc.ErrorInfo otherwise, before any handler runs, so a refused
//!   call writes nothing);
//! - takes the end user a service acts for from `x-hrmesh-on-behalf-of` ([`ON_BEHALF_OF_HEADER`]),
//!   from services only (PERMISSION_DENIED, DELEGATION_NOT_ALLOWED for anyone else);
//! - hands the verified [`Principal`] to the handler in the request's extensions;
//! - records the call's latency and status code for Prometheus;
//! - writes an audit event for every accepted mutating call before the answer leaves.
//!
//! grpc.health.v1 is open to all: orchestrators and container runtimes probe it without a token.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Code;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::{ActorType, Principal, Verifier};
use crate::status;
use hrmesh_proto::common::ErrorReason;
use hrmesh_storage::audit::{AuditEvent, AuditLog, CallSlot};

/// The metadata key a request id travels in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The metadata key in which a service names the end user it acts for (the orchestrator: who
/// started the saga). Only callers with a service token (actor type system) may send it; the
/// value is 1-[`ON_BEHALF_OF_LEN_MAX`] visible ASCII characters. It lands on
/// [`Principal::on_behalf_of`] and in the audit trail, and grants nothing.
pub const ON_BEHALF_OF_HEADER: &str = "x-hrmesh-on-behalf-of";
/// The longest subject [`ON_BEHALF_OF_HEADER`] may carry.
pub const ON_BEHALF_OF_LEN_MAX: usize = 128;

/// What a service lets through: the permission each of its methods needs.
pub struct Policy {
    /// The service's short name, e.g. "ledger" (a metric label and the audit's service).
    pub service: &'static str,
    /// Full method path (`/hrmesh.ledger.v1.LedgerService/HoldDays`) → permission.
    permissions: HashMap<&'static str, &'static str>,
    verifier: Verifier,
    audit: Option<AuditLog>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The peer's address, over plaintext or TLS.
fn client_addr(extensions: &http::Extensions) -> Option<std::net::SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
}

/// Whether the method at `path` changes anything: all but the AIP read methods (Get…, List…,
/// Watch…). Mutations are audited.
pub fn is_mutating(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    !["Get", "List", "Watch"]
        .iter()
        .any(|read| method.starts_with(read))
}

impl Policy {
    /// `permissions` pairs each method of the service (`/package.Service/Method`) with the
    /// permission it needs. Methods outside the table (server reflection, unknown paths that the
    /// router answers UNIMPLEMENTED) need a valid token and nothing more; a test
    /// (`every_method_of_every_service_is_guarded`) keeps every table complete.
    pub fn new(
        service: &'static str,
        permissions: &[(&'static str, &'static str)],
        verifier: Verifier,
        audit: Option<AuditLog>,
    ) -> Self {
        Self {
            service,
            permissions: permissions.iter().copied().collect(),
            verifier,
            audit,
        }
    }
}

/// The mesh layer of service `service`: tokens verified as `auth` says, `permissions` enforced,
/// audit events written to `audit`; with the audit trail, for the service's ListAuditEvents.
pub async fn layer(
    service: &'static str,
    permissions: &[(&'static str, &'static str)],
    auth: &crate::auth::AuthConfig,
    audit: Arc<dyn hrmesh_storage::audit::AuditStore>,
) -> anyhow::Result<(MeshLayer, AuditLog)> {
    let verifier = Verifier::from_config(auth).await?;
    let audit = AuditLog::start(audit);
    let layer = MeshLayer::new(Policy::new(
        service,
        permissions,
        verifier,
        Some(audit.clone()),
    ));
    Ok((layer, audit))
}

/// Adds the mesh checks to a server (see the module documentation).
#[derive(Clone, Debug)]
pub struct MeshLayer {
    policy: Arc<Policy>,
}

impl MeshLayer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for MeshLayer {
    type Service = Mesh<S>;
    fn layer(&self, inner: S) -> Mesh<S> {
        Mesh {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mesh<S> {
    inner: S,
    policy: Arc<Policy>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Mesh<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if path.starts_with("/grpc.health.v1.Health/") {
                return inner.call(request).await;
            }
            let started = Instant::now();
            let request_id = request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|value| value.to_str().ok())
                .filter(|id| !id.is_empty() && id.len() <= 128)
                .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
            let span = server_span(&path, &request_id, request.headers());

            let checked = check(&policy, &path, request.headers())
                .instrument(span.clone())
                .await;
            let principal = match checked {
                Ok(allowed) => allowed,
                Err(status) => {
                    record_metrics(&policy, &path, status.code(), started);
                    span.in_scope(|| {
                        tracing::info!(code = ?status.code(), reason = status.message(), "call refused");
                    });
                    return Ok(status.into_http());
                }
            };
            let client_addr = client_addr(request.extensions()).map(|addr| addr.to_string());
            let forwarded_for = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            // Only the service's own mutating methods: reflection and unknown paths change
            // nothing.
            let audited = policy
                .audit
                .as_ref()
                .filter(|_| policy.permissions.contains_key(path.as_str()) && is_mutating(&path))
                .map(|audit| {
                    (
                        audit.clone(),
                        principal.subject.clone(),
                        principal.actor.as_str(),
                        principal.on_behalf_of.clone(),
                    )
                });
            request.extensions_mut().insert(principal);

            // The event is committed before the handler runs, or handed to the store to write
            // with the call's effect (`hrmesh_storage::audit`), so no effect can exist without
            // it; the outcome follows once the handler answered.
            let mut settle = None;
            let mut handed = None;
            if let Some((audit, subject, actor, on_behalf_of)) = audited {
                let id = uuid::Uuid::now_v7().to_string();
                let event = AuditEvent {
                    id: id.clone(),
                    at: chrono::Utc::now(),
                    service: policy.service.to_owned(),
                    method: path.clone(),
                    subject,
                    actor: actor.to_owned(),
                    on_behalf_of,
                    client_addr,
                    forwarded_for,
                    request_id,
                    trace_id: trace_id(&span),
                    outcome: None,
                };
                if audit.with_effects() {
                    let slot: CallSlot = Arc::new(std::sync::Mutex::new(Some(
                        hrmesh_storage::audit::CallEvent::Pending(event),
                    )));
                    handed = Some((audit, id, slot));
                } else if let Err(err) = audit.record(event).instrument(span.clone()).await {
                    span.in_scope(|| tracing::error!(error = %format!("{err:#}"), "audit event not recorded; the call is not made"));
                    let message =
                        "the audit trail cannot be written, so the call was not made; retry later";
                    return Ok(audit_unavailable(&policy, &path, started, message).into_http());
                } else {
                    settle = Some((audit, id));
                }
            }

            let response = match &handed {
                Some((_, _, slot)) => {
                    hrmesh_storage::audit::in_call(
                        slot.clone(),
                        inner.call(request).instrument(span.clone()),
                    )
                    .await?
                }
                None => inner.call(request).instrument(span.clone()).await?,
            };
            // A unary handler's error travels in the headers (trailers-only); no status there
            // means the handler answered.
            let code = tonic::Status::from_header_map(response.headers())
                .map_or(Code::Ok, |status| status.code());
            if let Some((audit, id, slot)) = handed {
                let held = slot
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take();
                match held {
                    // Not written with an effect (refused, failed, replayed): written now, with
                    // its outcome, before the answer leaves.
                    Some(hrmesh_storage::audit::CallEvent::Pending(mut event)) => {
                        event.outcome = Some(crate::status::code_name(code).to_owned());
                        if let Err(err) = audit.record(event).instrument(span.clone()).await {
                            span.in_scope(|| tracing::error!(error = %format!("{err:#}"), "audit event not recorded; the answer is withheld"));
                            let message = "the call's audit event cannot be written; retry the call with the same request id";
                            return Ok(
                                audit_unavailable(&policy, &path, started, message).into_http()
                            );
                        }
                    }
                    Some(hrmesh_storage::audit::CallEvent::Written { ok: true })
                        if code == Code::Ok => {}
                    Some(hrmesh_storage::audit::CallEvent::Written { .. }) => {
                        settle = Some((audit, id))
                    }
                    None => {}
                }
            }
            record_metrics(&policy, &path, code, started);
            if let Some((audit, id)) = settle {
                audit.settle(id, crate::status::code_name(code)).await;
            }
            Ok(response)
        })
    }
}

/// The answer when the audit trail cannot be written.
fn audit_unavailable(
    policy: &Policy,
    path: &str,
    started: Instant,
    message: &'static str,
) -> tonic::Status {
    let status = status::with_reason(
        Code::Unavailable,
        ErrorReason::AuditUnavailable.as_str_name(),
        message,
        [],
    );
    record_metrics(policy, path, status.code(), started);
    status
}

async fn check(
    policy: &Policy,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Principal, tonic::Status> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let mut principal = policy
        .verifier
        .verify_header(header)
        .await
        .map_err(|err| err.to_status())?;
    principal.on_behalf_of = on_behalf_of(&principal, headers)?;
    let Some(permission) = policy.permissions.get(path).copied() else {
        // Reflection and unknown methods: a verified caller may look, nothing more.
        return Ok(principal);
    };
    if !principal.has(permission) {
        return Err(status::with_reason(
            Code::PermissionDenied,
            ErrorReason::MissingPermission.as_str_name(),
            format!("{path} needs the {permission} permission"),
            [("permission", permission.to_owned())],
        ));
    }
    Ok(principal)
}

/// The end user a service acts for, from [`ON_BEHALF_OF_HEADER`]: `None` without the header;
/// PERMISSION_DENIED (DELEGATION_NOT_ALLOWED) when the caller is not a service, whatever the
/// value; INVALID_ARGUMENT when a service sends anything but one value of 1-128 visible ASCII
/// characters.
fn on_behalf_of(
    principal: &Principal,
    headers: &http::HeaderMap,
) -> Result<Option<String>, tonic::Status> {
    let mut values = headers.get_all(ON_BEHALF_OF_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if principal.actor != ActorType::System {
        return Err(status::with_reason(
            Code::PermissionDenied,
            ErrorReason::DelegationNotAllowed.as_str_name(),
            format!(
                "only services may act on behalf of someone ({ON_BEHALF_OF_HEADER}); this {} \
                 token acts for itself",
                principal.actor.as_str()
            ),
            [("header", ON_BEHALF_OF_HEADER.to_owned())],
        ));
    }
    let subject = value
        .to_str()
        .ok()
        .filter(|subject| (1..=ON_BEHALF_OF_LEN_MAX).contains(&subject.len()))
        .filter(|subject| subject.bytes().all(|byte| byte.is_ascii_graphic()))
        .filter(|_| values.next().is_none());
    match subject {
        Some(subject) => Ok(Some(subject.to_owned())),
        None => Err(status::invalid_argument(&[hrmesh_domain::FieldViolation {
            field: ON_BEHALF_OF_HEADER.to_owned(),
            description: format!(
                "must be one value of 1-{ON_BEHALF_OF_LEN_MAX} visible ASCII characters"
            ),
        }])),
    }
}

fn server_span(path: &str, request_id: &str, headers: &http::HeaderMap) -> tracing::Span {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let remote = parent.span().span_context().clone();
    if remote.is_valid() {
        // Ignoring the error: it only says no OpenTelemetry layer is installed.
        let _ = span.set_parent(parent);
    }
    let id = trace_id(&span).or_else(|| remote.is_valid().then(|| remote.trace_id().to_string()));
    if let Some(id) = id {
        span.record("trace_id", id.as_str());
    }
    span
}

/// The span's trace id, when OpenTelemetry is recording.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The `method` label of a call to `path`: the method when this service serves it (or server
/// reflection), `unknown` for every other path, so callers cannot create series at will.
fn method_label(policy: &Policy, path: &str) -> String {
    if policy.permissions.contains_key(path) || path.starts_with("/grpc.reflection.") {
        path.trim_start_matches('/').to_owned()
    } else {
        "unknown".to_owned()
    }
}

fn record_metrics(policy: &Policy, path: &str, code: Code, started: Instant) {
    metrics::histogram!(
        "hrmesh_rpc_server_duration_seconds",
        "service" => policy.service,
        "method" => method_label(policy, path),
        "code" => crate::status::code_name(code),
    )
    .record(started.elapsed().as_secs_f64());
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Writes the current span's trace context into outgoing metadata.
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    fn caller(actor: ActorType) -> Principal {
        Principal {
            subject: "caller".into(),
            actor,
            permissions: Default::default(),
            manages: Default::default(),
            on_behalf_of: None,
        }
    }

    fn headers(values: &[&[u8]]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(
                ON_BEHALF_OF_HEADER,
                http::HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn a_service_names_whom_it_acts_for_and_nobody_else_may() {
        let service = caller(ActorType::System);
        assert_eq!(on_behalf_of(&service, &headers(&[])).expect("none"), None);
        assert_eq!(
            on_behalf_of(&service, &headers(&[b"m-1"])).expect("accepted"),
            Some("m-1".to_owned())
        );
        let longest = "u".repeat(ON_BEHALF_OF_LEN_MAX);
        assert_eq!(
            on_behalf_of(&service, &headers(&[longest.as_bytes()])).expect("accepted"),
            Some(longest)
        );
        for actor in [ActorType::Employee, ActorType::Manager, ActorType::Admin] {
            let refused = on_behalf_of(&caller(actor), &headers(&[b"e-2"])).expect_err("refused");
            assert_eq!(refused.code(), Code::PermissionDenied, "{actor:?}");
            let details = refused.get_error_details();
            let info = details.error_info().expect("an ErrorInfo");
            assert_eq!(info.reason, "DELEGATION_NOT_ALLOWED");
            // Not even a malformed value gets past the question of who sent it.
            let malformed = on_behalf_of(&caller(actor), &headers(&[b""])).expect_err("refused");
            assert_eq!(malformed.code(), Code::PermissionDenied, "{actor:?}");
        }
    }

    #[test]
    fn a_malformed_on_behalf_of_is_invalid_argument_naming_the_header() {
        let service = caller(ActorType::System);
        let too_long = "u".repeat(ON_BEHALF_OF_LEN_MAX + 1);
        let cases: [&[&[u8]]; 5] = [
            &[b""],
            &[b"m 1"],
            &[too_long.as_bytes()],
            &[b"caf\xc3\xa9"],
            &[b"m-1", b"m-2"],
        ];
        for values in cases {
            let status = on_behalf_of(&service, &headers(values)).expect_err("malformed");
            assert_eq!(status.code(), Code::InvalidArgument, "{values:?}");
            let details = status.get_error_details();
            let fields: Vec<&str> = details
                .bad_request()
                .expect("a BadRequest")
                .field_violations
                .iter()
                .map(|violation| violation.field.as_str())
                .collect();
            assert_eq!(fields, [ON_BEHALF_OF_HEADER], "{values:?}");
        }
    }
}
