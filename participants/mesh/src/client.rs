//! The client half of the mesh: a channel that sends the caller's bearer token and the current
//! trace context (W3C `traceparent`) with every call, so the callee's `grpc.server` span joins the
//! caller's trace.

use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::transport::Channel;

use crate::auth::TokenSource;
use crate::mesh::inject_trace_context;
use crate::tls::TlsConfig;

/// A tonic channel with credentials and trace propagation. Generated clients take it as their
/// transport: `LedgerServiceClient::new(MeshChannel::new(channel, Some(token)))`.
#[derive(Clone, Debug)]
pub struct MeshChannel {
    channel: Channel,
    token: Option<TokenSource>,
}

impl MeshChannel {
    pub fn new(channel: Channel, token: Option<TokenSource>) -> Self {
        Self { channel, token }
    }

    /// Connects lazily to `url` with TCP_NODELAY (see [`crate::server`]), over TLS for
    /// `https://` (see [`TlsConfig::endpoint`]).
    pub fn lazy(url: &str, tls: &TlsConfig, token: Option<TokenSource>) -> anyhow::Result<Self> {
        Ok(Self::new(tls.endpoint(url)?.connect_lazy(), token))
    }
}

impl tower::Service<http::Request<Body>> for MeshChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let headers = request.headers_mut();
        inject_trace_context(headers);
        if let Some(token) = &self.token {
            match token
                .bearer()
                .map(|bearer| http::HeaderValue::from_str(&bearer))
            {
                Ok(Ok(value)) => {
                    headers.insert(http::header::AUTHORIZATION, value);
                }
                // Sent without a token, the call fails UNAUTHENTICATED at the callee, which is
                // where the caller looks; the reason is logged here.
                Ok(Err(err)) => tracing::error!(error = %err, "the token is not a header value"),
                Err(err) => tracing::error!(error = %format!("{err:#}"), "cannot mint a token"),
            }
        }
        self.channel.call(request)
    }
}
