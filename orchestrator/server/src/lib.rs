//! The saga orchestrator: `hrmesh.orchestrator.v1.SagaService` over the sans-IO saga core
//! (`hrmesh-saga-core`), the durable saga log (`hrmesh-saga-store`) and resilient clients of the
//! performance, ledger and notification participants.
//!
//! - `console`: the operator console's page, served on the same port;
//! - `grpc`: the handlers; `convert`: protobuf <-> the core's typed sagas;
//! - `executor`: runs sagas over two ports (`ports`): the log, through the group-commit `writer`,
//!   and the participants, through the one `adapter` from commands to their gRPC calls, each
//!   behind its `resilience` stack.

pub mod adapter;
pub mod console;
pub mod convert;
pub mod events;
pub mod executor;
pub mod grpc;
pub mod ports;
pub mod resilience;
pub mod writer;

use std::time::Duration;

use anyhow::Context;
use hrmesh_mesh::auth::{IdentityConfig, TokenSource};
use hrmesh_mesh::config::CommonConfig;
use hrmesh_mesh::server::{RunningServer, ServeSpec};
use hrmesh_proto::orchestrator::saga_service_server::SagaServiceServer;
use hrmesh_saga_core::{Budget, Policy};
use hrmesh_saga_store::SagaLog;
use hrmesh_storage::audit::AuditSource;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::adapter::Participants;
use crate::console::ConsoleConfig;
use crate::executor::{Background, Engine, EngineConfig};
use crate::resilience::ResilienceConfig;

/// The port `hrmesh serve orchestrator` listens on by default.
pub const DEFAULT_PORT: u16 = 50051;

/// The orchestrator's configuration (see `hrmesh serve orchestrator --help`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrchestratorConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub performance_url: String,
    pub ledger_url: String,
    pub notification_url: String,
    /// This replica's name in saga leases; several replicas sharing one PostgreSQL log need
    /// distinct ones. A replica restarted under the same name resumes its sagas at once; sagas of
    /// a replica that does not come back are taken over when their leases run out.
    pub replica_id: Option<String>,
    /// Seconds a replica owns a saga without renewing its lease.
    pub lease_secs: u64,
    /// How long a step before the pivot may go without an answer before the saga gives up and
    /// compensates, in seconds (long enough to ride out a participant's restart or rolling
    /// deploy), and in failed rounds at most.
    pub forward_budget_secs: u64,
    pub forward_rounds: u32,
    /// The same for the pivot and the retriable steps, past which the saga is stuck.
    pub after_pivot_budget_secs: u64,
    pub after_pivot_rounds: u32,
    /// The same for a compensation, past which the saga is stuck.
    pub compensation_budget_secs: u64,
    pub compensation_rounds: u32,
    /// Delay before a step's second round, in milliseconds; doubles per round.
    pub round_backoff_ms: u64,
    pub round_backoff_max_ms: u64,
    /// How long, in milliseconds, appends that need not be flushed at once (successes, a saga's
    /// end) wait to share the next flush.
    pub group_commit_linger_ms: u64,
    /// Per-participant resilience: attempt time limit, retries, circuit breaker, bulkhead.
    pub resilience: ResilienceConfig,
    /// How the orchestrator signs the calls it makes to participants (the `[identity]` table).
    pub identity: IdentityConfig,
    /// The operator console at /console/ (the `[console]` table).
    pub console: ConsoleConfig,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::new("orchestrator", DEFAULT_PORT),
            performance_url: "http://127.0.0.1:50053".into(),
            ledger_url: "http://127.0.0.1:50052".into(),
            notification_url: "http://127.0.0.1:50054".into(),
            replica_id: None,
            lease_secs: 15,
            forward_budget_secs: 120,
            forward_rounds: 40,
            after_pivot_budget_secs: 600,
            after_pivot_rounds: 60,
            compensation_budget_secs: 120,
            compensation_rounds: 40,
            round_backoff_ms: 200,
            round_backoff_max_ms: 30_000,
            group_commit_linger_ms: 10,
            resilience: ResilienceConfig::default(),
            identity: IdentityConfig::new(
                "hrmesh-orchestrator",
                &["hrmesh-performance", "hrmesh-ledger", "hrmesh-notification"],
            ),
            console: ConsoleConfig::default(),
        }
    }
}

impl OrchestratorConfig {
    /// The saga log's URL: configured, or `orchestrator.sqlite` in the data directory.
    pub fn database_url(&self) -> String {
        self.common.database_url("orchestrator")
    }

    /// The retry budgets the engine applies.
    pub fn policy(&self) -> Policy {
        let budget = |secs: u64, rounds: u32| Budget {
            rounds_max: rounds.max(1),
            elapsed_ms_max: secs.saturating_mul(1000),
        };
        Policy {
            forward: budget(self.forward_budget_secs, self.forward_rounds),
            after_pivot: budget(self.after_pivot_budget_secs, self.after_pivot_rounds),
            compensation: budget(self.compensation_budget_secs, self.compensation_rounds),
        }
    }
}

/// A running orchestrator replica.
pub struct OrchestratorServer {
    pub server: RunningServer,
    engine: Engine,
    background: Background,
    writer: JoinHandle<()>,
    events: hrmesh_mesh::events::Events,
    /// The job that moves data keys to the keyring's current version.
    rewrap: Option<hrmesh_mesh::crypto::Rewrap>,
    /// The job that archives finished sagas and audit events past their retention.
    retention: Option<JoinHandle<()>>,
}

impl OrchestratorServer {
    /// Opens the saga log, resumes the sagas left to this replica and serves.
    pub async fn start(config: &OrchestratorConfig) -> anyhow::Result<Self> {
        let url = config.database_url();
        let keyring = config.common.keyring()?;
        let log = SagaLog::open(&url, events::encode, keyring)
            .await
            .with_context(|| {
                format!("opening the saga log {}", hrmesh_storage::db::redact(&url))
            })?;
        let rewrap = (config.common.crypto.rewrap_interval_secs > 0).then(|| {
            hrmesh_mesh::crypto::Rewrap::start(
                log.vault().clone(),
                std::sync::Arc::new(log.connection().clone()),
                Duration::from_secs(config.common.crypto.rewrap_interval_secs),
            )
        });
        let retention = config.common.retention.start(
            "orchestrator",
            &config.common,
            log.record_kinds(),
            std::sync::Arc::new(log.connection().clone()),
            hrmesh_domain::SystemClock,
        )?;
        let events = hrmesh_mesh::events::Events::start(
            "orchestrator",
            grpc::ADMIN,
            &log,
            &config.common.events,
        );
        let token = TokenSource::identity(&config.identity, adapter::IDENTITY_PERMISSIONS)
            .await
            .context("the orchestrator's identity")?;
        let (mesh, audit) = hrmesh_mesh::mesh::layer(
            "orchestrator",
            grpc::PERMISSIONS,
            &config.common.auth,
            log.audit_store(),
        )
        .await?;
        let participants = Participants::connect(
            &config.performance_url,
            &config.ledger_url,
            &config.notification_url,
            &config.resilience,
            &config.common.tls,
            token,
        )?;
        let replica_id = config
            .replica_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let (engine, writer) = Engine::new(
            std::sync::Arc::new(log),
            std::sync::Arc::new(participants),
            convert::decode_start,
            EngineConfig {
                replica_id: replica_id.clone(),
                lease: Duration::from_secs(config.lease_secs.max(1)),
                policy: config.policy(),
                round_backoff: Duration::from_millis(config.round_backoff_ms),
                round_backoff_max: Duration::from_millis(config.round_backoff_max_ms),
                linger: Duration::from_millis(config.group_commit_linger_ms),
            },
        );
        let resumed = engine.recover().await.context("resuming sagas")?;
        let background = engine.start_background();
        let spec = ServeSpec {
            routes: tonic::service::Routes::new(SagaServiceServer::new(grpc::SagaGrpc::new(
                engine.clone(),
                audit,
            )))
            .add_service(events.service()),
            service_names: vec![
                <SagaServiceServer<grpc::SagaGrpc> as tonic::server::NamedService>::NAME,
                hrmesh_mesh::events::SERVICE_NAME,
            ],
            descriptor_sets: vec![hrmesh_proto::FILE_DESCRIPTOR_SET],
            cors_allowed_origins: config.common.cors_allowed_origins.clone(),
            mesh,
            // Not ready until every participant answers.
            dependencies: vec![
                config.performance_url.clone(),
                config.ledger_url.clone(),
                config.notification_url.clone(),
            ],
            tls: config.common.tls.clone(),
            site: console::site(&config.console).context("the console's configuration")?,
        };
        let server = RunningServer::start(config.common.listen, spec).await?;
        tracing::info!(addr = %server.addr, %replica_id, resumed, "orchestrator serving");
        Ok(Self {
            server,
            engine,
            background,
            writer,
            events,
            rewrap,
            retention,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops serving and running sagas. Sagas in flight keep their log; their leases run out
    /// (or this replica, restarted under the same id, resumes them at once).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.background.stop();
        let result = self.server.stop().await;
        self.writer.abort();
        if let Some(retention) = self.retention {
            retention.abort();
        }
        self.events.stop().await;
        if let Some(rewrap) = self.rewrap {
            rewrap.stop().await;
        }
        result
    }
}
