//! Server bootstrap shared by every service: gRPC and grpc-web on one port (with static files
//! beside them where a service serves a site, see [`crate::site`]), the mesh layer
//! (tracing, authentication, permissions, metrics, audit), grpc.health.v1 reflecting readiness,
//! server reflection, TCP_NODELAY on every accepted socket, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use http::{HeaderName, HeaderValue, Method};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::mesh::MeshLayer;
use crate::site::{Site, SiteLayer};
use crate::tls::TlsConfig;

/// What one server process serves.
pub struct ServeSpec {
    /// The service implementations.
    pub routes: Routes,
    /// Fully qualified names reported SERVING by grpc.health.v1 (besides the overall "").
    pub service_names: Vec<&'static str>,
    /// Encoded descriptor sets for reflection (grpc.health.v1 is added here).
    pub descriptor_sets: Vec<&'static [u8]>,
    /// Browser origins allowed to call over grpc-web.
    pub cors_allowed_origins: Vec<String>,
    /// Authentication, permissions, tracing, metrics and audit for every call.
    pub mesh: MeshLayer,
    /// Services (`http://host:port`) that must answer grpc.health.v1 before this one reports
    /// SERVING.
    pub dependencies: Vec<String>,
    /// TLS for this server (plaintext without a certificate) and for its dependency checks.
    pub tls: TlsConfig,
    /// Static files answered for GET and HEAD on the same port (the orchestrator's console).
    pub site: Option<Site>,
}

/// What [`ServeSpec::tls`] and [`ServeSpec::dependencies`] come to, read once at start so bad
/// settings fail the start rather than the background task.
struct Transport {
    server_tls: Option<tonic::transport::ServerTlsConfig>,
    dependencies: Vec<tonic::transport::Endpoint>,
}

impl Transport {
    fn of(spec: &ServeSpec) -> anyhow::Result<Self> {
        Ok(Self {
            server_tls: spec.tls.server()?,
            dependencies: spec
                .dependencies
                .iter()
                .map(|url| spec.tls.endpoint(url))
                .collect::<anyhow::Result<Vec<_>>>()
                .context("a dependency's address")?,
        })
    }
}

/// Serves `spec` on `listener` until `shutdown` resolves, then drains in-flight calls.
///
/// Callers run migrations and open their databases before calling this; health then reports
/// NOT_SERVING until every dependency answers its own health check as SERVING.
async fn serve(
    listener: TcpListener,
    spec: ServeSpec,
    transport: Transport,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let mut names = spec.service_names.clone();
    names.push("");
    let Transport {
        server_tls,
        dependencies,
    } = transport;
    let no_dependencies = dependencies.is_empty();
    let reporter = health_reporter.clone();
    let ready = async move {
        wait_for_dependencies(dependencies).await;
        for name in names {
            reporter
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        ready.send_replace(true);
    };
    if no_dependencies {
        ready.await;
    } else {
        for name in &spec.service_names {
            health_reporter
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        health_reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        tokio::spawn(ready);
    }

    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in &spec.descriptor_sets {
        reflection = reflection.register_encoded_file_descriptor_set(set);
    }
    let reflection_v1 = reflection
        .build_v1()
        .context("building reflection service")?;

    let routes = spec
        .routes
        .add_service(health_service)
        .add_service(reflection_v1);

    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to every unary call.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    if let Some(tls) = server_tls {
        builder = builder
            .tls_config(tls)
            .context("the server's TLS configuration")?;
    }
    builder
        .accept_http1(true)
        .layer(SiteLayer::new(spec.site))
        .layer(cors_layer(&spec.cors_allowed_origins)?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(spec.mesh)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving gRPC")
}

/// How often an unready server asks its dependencies again.
const DEPENDENCY_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Returns once every endpoint answers grpc.health.v1 Check("") with SERVING.
async fn wait_for_dependencies(endpoints: Vec<tonic::transport::Endpoint>) {
    use tonic_health::pb::health_check_response::ServingStatus as Status;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    for endpoint in endpoints {
        let url = endpoint.uri().to_string();
        let channel = endpoint
            .connect_timeout(std::time::Duration::from_secs(2))
            .timeout(std::time::Duration::from_secs(2))
            .connect_lazy();
        let mut client = HealthClient::new(channel);
        let mut logged = false;
        loop {
            let answer = client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            match answer {
                Ok(reply) if reply.get_ref().status() == Status::Serving => break,
                other => {
                    if !logged {
                        tracing::info!(%url, answer = ?other.map(|reply| reply.into_inner().status()).map_err(|status| status.code()), "waiting for a dependency");
                        logged = true;
                    }
                    tokio::time::sleep(DEPENDENCY_POLL).await;
                }
            }
        }
    }
}

fn cors_layer(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin).with_context(|| format!("CORS origin {origin:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let grpc_headers = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("authorization"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers(grpc_headers.map(HeaderName::from_static)))
}

/// How long a stopping server waits for in-flight calls and open connections.
pub const SHUTDOWN_DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// A server running on a background task.
pub struct RunningServer {
    pub addr: SocketAddr,
    scheme: &'static str,
    ready: watch::Receiver<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Binds `addr` (port 0 picks a free port) and serves `spec` in the background.
    pub async fn start(addr: SocketAddr, spec: ServeSpec) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let transport = Transport::of(&spec)?;
        let scheme = spec.tls.scheme();
        let (shutdown, stop) = oneshot::channel::<()>();
        let (ready_sender, ready) = watch::channel(false);
        let task = tokio::spawn(serve(listener, spec, transport, ready_sender, async {
            // A dropped sender also stops the server.
            let _ = stop.await;
        }));
        Ok(Self {
            addr,
            scheme,
            ready,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// Resolves once health reports SERVING: every dependency answered. An error means the
    /// server stopped first.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|ready| *ready)
            .await
            .map(|_| ())
            .map_err(|_| anyhow::anyhow!("the server stopped before it was ready"))
    }

    /// Stops accepting calls and drains the ones in flight, for at most [`SHUTDOWN_DRAIN_MAX`];
    /// connections still open then (a client that never answers the GOAWAY) are cut.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(SHUTDOWN_DRAIN_MAX, &mut self.task).await {
            Ok(joined) => joined.context("server task panicked")?,
            Err(_) => {
                tracing::warn!(addr = %self.addr, "connections still open after the drain period; closing them");
                self.task.abort();
                Ok(())
            }
        }
    }

    /// Waits until the server ends on its own (an error) without asking it to stop.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("server task panicked")?
    }

    /// A future that resolves when the server task ends.
    pub fn task(&mut self) -> &mut JoinHandle<anyhow::Result<()>> {
        &mut self.task
    }

    /// `http://addr`, or `https://addr` when the server speaks TLS, for clients.
    pub fn uri(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
