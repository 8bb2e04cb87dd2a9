//! A gRPC server that plays a participant from its pact: it answers every call with the response
//! of the interaction it was told to expect, after checking the call against that interaction's
//! request. The consumer tests point the orchestrator's real clients at it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use pact_matching::{CoreMatchingContext, DiffConfig, Mismatch};
use pact_models::PactSpecification;
use pact_models::content_types::JSON;
use pact_models::prelude::OptionalBody;
use pact_models::v4::message_parts::MessageContents;
use pact_models::v4::sync_message::SynchronousMessage;
use prost_reflect::DynamicMessage;
use serde_json::Value;
use tonic::Status;
use tonic::service::Routes;

use crate::grpc::{
    DynamicCodec, METHOD_KEY, STATUS_KEY, code_from_name, error_status, from_json, method, to_json,
};
use hrmesh_mesh::auth::Verifier;
use hrmesh_mesh::mesh::{MeshLayer, Policy};
use hrmesh_mesh::server::{RunningServer, ServeSpec};

/// Changes a response before it is sent: `(method, grpc-status, body)`. Negative controls use it
/// to play a provider that broke its contract.
pub type Tamper = Arc<dyn Fn(&str, &mut String, &mut Value) + Send + Sync>;

/// One call the mock received.
#[derive(Debug, Clone)]
pub struct ReceivedCall {
    /// `package.Service/Method`.
    pub method: String,
    /// The request as canonical proto3 JSON.
    pub request: Value,
    /// How the call differed from the expected interaction; empty when it matched.
    pub mismatches: Vec<String>,
}

#[derive(Default)]
struct State {
    expected: Option<SynchronousMessage>,
    tamper: Option<Tamper>,
    calls: Vec<ReceivedCall>,
}

/// A running mock participant.
pub struct MockProvider {
    server: RunningServer,
    state: Arc<Mutex<State>>,
}

impl MockProvider {
    /// Serves on a free loopback port. `service` is the participant's gRPC service name (health
    /// reports it serving); calls to any method are answered from the expected interaction.
    /// `auth` and `permissions` are the real participant's: the mock refuses a call without a
    /// token it would refuse, before looking at the contract.
    pub async fn start(
        service: &'static str,
        auth: &hrmesh_mesh::auth::AuthConfig,
        permissions: &'static [(&'static str, &'static str)],
    ) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = state.clone();
        let handler = tower::service_fn(move |request: http::Request<tonic::body::Body>| {
            let state = handler_state.clone();
            async move { Ok::<_, Infallible>(answer(state, request).await) }
        });
        let mut routes = Routes::default();
        let router = std::mem::take(routes.axum_router_mut());
        *routes.axum_router_mut() = router.route_service(
            &format!("/{service}/{{method}}"),
            tower::ServiceExt::map_request(handler, |request: http::Request<axum::body::Body>| {
                request.map(tonic::body::Body::new)
            }),
        );
        let spec = ServeSpec {
            routes,
            service_names: vec![service],
            descriptor_sets: vec![hrmesh_proto::FILE_DESCRIPTOR_SET],
            cors_allowed_origins: Vec::new(),
            mesh: MeshLayer::new(Policy::new(
                "mock",
                permissions,
                Verifier::from_config(auth).await?,
                None,
            )),
            dependencies: Vec::new(),
            tls: hrmesh_mesh::tls::TlsConfig::default(),
            site: None,
        };
        let server = RunningServer::start(([127, 0, 0, 1], 0).into(), spec).await?;
        Ok(Self { server, state })
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Answers the next calls from `interaction`, forgetting the calls received so far.
    pub fn expect(&self, interaction: SynchronousMessage) {
        let mut state = self.lock();
        state.expected = Some(interaction);
        state.calls.clear();
    }

    /// Changes every response from now on (see [`Tamper`]).
    pub fn tamper(&self, tamper: Tamper) {
        self.lock().tamper = Some(tamper);
    }

    /// The calls received since the last [`MockProvider::expect`].
    pub fn calls(&self) -> Vec<ReceivedCall> {
        self.lock().calls.clone()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    request: http::Request<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let name = request.uri().path().trim_start_matches('/').to_owned();
    let descriptor = match method(&name) {
        Ok(descriptor) => descriptor,
        Err(err) => return Status::unimplemented(err.to_string()).into_http(),
    };
    let codec = DynamicCodec::new(descriptor.input());
    let handler = tower::service_fn(move |call: tonic::Request<DynamicMessage>| {
        let state = state.clone();
        let name = name.clone();
        let descriptor = descriptor.clone();
        async move {
            let request = to_json(call.get_ref());
            let (expected, tamper) = {
                let state = state.lock().unwrap_or_else(PoisonError::into_inner);
                (state.expected.clone(), state.tamper.clone())
            };
            let Some(expected) = expected else {
                record(
                    &state,
                    &name,
                    &request,
                    vec!["no interaction expected".into()],
                );
                return Err(Status::internal("the mock expected no call"));
            };
            let mismatches = check_request(&expected, &name, &request).await;
            record(&state, &name, &request, mismatches.clone());
            if !mismatches.is_empty() {
                return Err(Status::internal(format!(
                    "the call does not match the contract \"{}\": {}",
                    expected.description,
                    mismatches.join("; ")
                )));
            }
            let response = expected.response.first().cloned().unwrap_or_default();
            let mut code = response
                .metadata
                .get(STATUS_KEY)
                .and_then(Value::as_str)
                .unwrap_or("OK")
                .to_owned();
            let mut body = body_json(&response.contents).unwrap_or(Value::Null);
            if let Some(tamper) = tamper {
                tamper(&name, &mut code, &mut body);
            }
            let code = code_from_name(&code)
                .ok_or_else(|| Status::internal(format!("unknown status code {code}")))?;
            if code != tonic::Code::Ok {
                return Err(error_status(code, &body));
            }
            let message = from_json(descriptor.output(), &body)
                .map_err(|err| Status::internal(format!("the contract's response: {err:#}")))?;
            Ok(tonic::Response::new(message))
        }
    });
    tonic::server::Grpc::new(codec)
        .unary(handler, request)
        .await
}

fn record(state: &Mutex<State>, name: &str, request: &Value, mismatches: Vec<String>) {
    state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .calls
        .push(ReceivedCall {
            method: name.to_owned(),
            request: request.clone(),
            mismatches,
        });
}

/// The JSON of a message body, if it has one.
pub fn body_json(body: &OptionalBody) -> Option<Value> {
    body.value()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// A pact message part holding `body` as JSON.
pub fn json_contents(body: &Value) -> MessageContents {
    MessageContents {
        contents: OptionalBody::Present(body.to_string().into(), Some(JSON.clone()), None),
        ..MessageContents::default()
    }
}

/// How a call differs from the interaction's request: the method, and the body under the
/// interaction's matching rules with *no unexpected fields*: a field the consumer sends that the
/// contract leaves out would never reach the provider's verification.
pub async fn check_request(
    expected: &SynchronousMessage,
    name: &str,
    request: &Value,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    let expected_method = expected
        .request
        .metadata
        .get(METHOD_KEY)
        .and_then(Value::as_str)
        .unwrap_or_default();
    if expected_method != name {
        mismatches.push(format!(
            "called {name}, but the contract's interaction is for {expected_method}"
        ));
    }
    let context = CoreMatchingContext {
        matchers: expected
            .request
            .matching_rules
            .rules_for_category("body")
            .unwrap_or_default(),
        config: DiffConfig::NoUnexpectedKeys,
        matching_spec: PactSpecification::V4,
    };
    let actual = json_contents(request);
    if let Err(found) =
        pact_matching::match_message_contents(&expected.request, &actual, &context).await
    {
        mismatches.extend(found.iter().map(Mismatch::description));
    }
    mismatches
}
