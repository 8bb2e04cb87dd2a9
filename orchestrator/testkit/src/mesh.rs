//! The mesh in one process: the participants, and the orchestrator in front of them.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_mesh::auth::ActorType;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::events::EventsConfig;
use hrmesh_mesh::testing::{self, Backend, TestDatabase};
use hrmesh_mesh::tls::TlsConfig;
use hrmesh_mesh::tls::dev::DevPki;
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_orchestrator_server::console::ConsoleConfig;
use hrmesh_orchestrator_server::resilience::ResilienceConfig;
use hrmesh_orchestrator_server::{OrchestratorConfig, OrchestratorServer};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::orchestrator::{Saga, StartSagaRequest, WatchSagaRequest};
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use tonic::Status;

use crate::{free_port, localhost_zero, read, seed};

/// The orchestrator's resilience in tests: short timeouts and backoffs, a breaker that opens
/// after a few failures.
pub fn fast_resilience() -> ResilienceConfig {
    ResilienceConfig {
        attempt_timeout_ms: 3_000,
        attempts: 2,
        backoff_ms: 5,
        backoff_max_ms: 20,
        breaker_failure_rate: 0.5,
        breaker_window: 4,
        breaker_min_calls: 4,
        // Long enough that every round of a stuck compensation meets the open circuit.
        breaker_open_ms: 1_000,
        max_concurrent_calls: 64,
    }
}

/// The names a test PKI issues certificates for: the four services and the test's own client.
pub const PKI_NAMES: [&str; 5] = [
    "ledger",
    "performance",
    "notification",
    "orchestrator",
    "test-client",
];

/// What the mesh is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// For tests: the notification service listens on a port picked up front, so that it can
    /// start later (or again) where the orchestrator looks for it, and its delivery worker is
    /// off, so that what was sent stays in its store to be read; the orchestrator (replica
    /// `replica-a`) gives up on outages before the pivot and of undos after three rounds, keeps
    /// retrying after the pivot, with short backoffs and [`fast_resilience`].
    #[default]
    Test,
    /// For measuring, as deployed: the notification service on a port the OS picks, delivering;
    /// the orchestrator (replica `bench`) with its default budgets, backoffs and resilience.
    Bench,
}

/// How the mesh starts.
#[derive(Clone, Debug)]
pub struct Options {
    /// The notification service is up from the start (else it starts on
    /// [`Participants::bring_notification_up`]).
    pub notification_up: bool,
    /// The orchestrator looks for the ledger where none listens yet, until
    /// [`Participants::bring_ledger_up`]. The test's own ledger client reaches a ledger on the
    /// same database all along.
    pub ledger_down: bool,
    /// Every server on TLS with this PKI, requiring client certificates (mutual TLS).
    pub tls: Option<DevPki>,
    pub profile: Profile,
    /// Every service's events: to the broker and exchange named here, or (no AMQP URL, the
    /// default) kept in the outboxes, read with EventService.
    pub events: EventsConfig,
    /// The console's page can call every participant from the browser: the orchestrator listens
    /// on a port picked before the participants start, whose origin each of them allows (CORS),
    /// and its console configuration points the page at each participant.
    pub console: bool,
}

/// Everything up, plaintext, for tests.
impl Default for Options {
    fn default() -> Self {
        Self {
            notification_up: true,
            ledger_down: false,
            tls: None,
            profile: Profile::Test,
            events: EventsConfig::default(),
            console: false,
        }
    }
}

impl Options {
    /// Everything up, plaintext, as deployed: for the benchmark.
    pub fn bench() -> Self {
        Self {
            profile: Profile::Bench,
            ..Self::default()
        }
    }

    /// The TLS settings of the server (or client) `name`: the PKI's with mutual TLS, or none.
    fn tls(&self, name: &str) -> TlsConfig {
        self.tls
            .as_ref()
            .map(|pki| pki.config(name, true))
            .unwrap_or_default()
    }
}

/// The three participants, each on its own port with its own database, and admin clients of the
/// ledger and the performance service.
pub struct Participants {
    pub ledger: LedgerServiceClient<MeshChannel>,
    pub performance: PerformanceServiceClient<MeshChannel>,
    /// Where the notification service listens (or will, once it is brought up).
    pub notification_port: u16,
    /// How the test's clients connect: plaintext, or TLS with the test client's certificate.
    pub client_tls: TlsConfig,
    pub notification_config: NotificationConfig,
    pub notification: Option<NotificationServer>,
    pub ledger_config: LedgerConfig,
    /// Where the orchestrator looks for a ledger that was started down.
    pub ledger_down_port: Option<u16>,
    /// The ledger `bring_ledger_up` started there, on the same database.
    pub late_ledger: Option<LedgerServer>,
    pub ledger_server: LedgerServer,
    pub performance_server: PerformanceServer,
    /// The ledger's, the performance service's, the notification service's and the
    /// orchestrator's databases, in that order.
    pub dbs: Vec<TestDatabase>,
    /// With [`Options::console`]: where the orchestrator is to listen.
    pub console_port: Option<u16>,
}

impl Participants {
    /// The participants as `options` say, and a database for the orchestrator (`dbs[3]`).
    pub async fn start(backend: Backend, options: &Options) -> Self {
        let dbs = vec![
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
        ];
        let client_tls = options.tls("test-client");
        let console_port = options.console.then(free_port);
        let cors: Vec<String> = console_port
            .map(|port| format!("http://127.0.0.1:{port}"))
            .into_iter()
            .collect();
        let mut ledger_config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..Default::default()
        };
        testing::secure(&mut ledger_config.common);
        ledger_config.common.tls = options.tls("ledger");
        ledger_config.common.listen = localhost_zero();
        ledger_config.common.database_url = Some(dbs[0].url.clone());
        ledger_config.common.events = options.events.clone();
        ledger_config.common.cors_allowed_origins = cors.clone();
        let ledger_server = LedgerServer::start(&ledger_config).await.expect("ledger");
        let mut performance_config = PerformanceConfig::default();
        testing::secure(&mut performance_config.common);
        testing::sign(&mut performance_config.identity);
        performance_config.common.tls = options.tls("performance");
        performance_config.common.listen = localhost_zero();
        performance_config.common.database_url = Some(dbs[1].url.clone());
        performance_config.common.events = options.events.clone();
        performance_config.common.cors_allowed_origins = cors.clone();
        let performance_server = PerformanceServer::start(&performance_config)
            .await
            .expect("performance");
        let mut notification_config = NotificationConfig::default();
        testing::secure(&mut notification_config.common);
        notification_config.common.tls = options.tls("notification");
        notification_config.common.database_url = Some(dbs[2].url.clone());
        notification_config.common.events = options.events.clone();
        notification_config.common.cors_allowed_origins = cors;
        let bench = options.profile == Profile::Bench;
        notification_config.common.listen = if bench && options.notification_up {
            localhost_zero()
        } else {
            format!("127.0.0.1:{}", free_port()).parse().expect("addr")
        };
        notification_config.worker_enabled = bench;
        let notification = if options.notification_up {
            Some(
                NotificationServer::start(&notification_config)
                    .await
                    .expect("notification"),
            )
        } else {
            None
        };
        let notification_port = match notification.as_ref() {
            Some(running) => running.addr().port(),
            None => notification_config.common.listen.port(),
        };
        // A ledger that is down listens nowhere yet; `bring_ledger_up` starts one on its port.
        let ledger_down_port = options.ledger_down.then(free_port);
        let ledger = LedgerServiceClient::new(testing::admin_channel_over(
            &ledger_server.server.uri(),
            &client_tls,
        ));
        let performance = PerformanceServiceClient::new(testing::admin_channel_over(
            &performance_server.server.uri(),
            &client_tls,
        ));
        Self {
            ledger,
            performance,
            notification_port,
            client_tls,
            notification_config,
            notification,
            ledger_config,
            ledger_down_port,
            late_ledger: None,
            ledger_server,
            performance_server,
            dbs,
            console_port,
        }
    }

    /// Where the orchestrator finds the ledger: the one that is up, or where the one that was
    /// started down will listen.
    pub fn ledger_url(&self) -> String {
        match self.ledger_down_port {
            Some(port) => format!(
                "{}://127.0.0.1:{port}",
                self.ledger_config.common.tls.scheme()
            ),
            None => self.ledger_server.server.uri(),
        }
    }

    pub fn performance_url(&self) -> String {
        self.performance_server.server.uri()
    }

    /// Where the notification service listens, up or not.
    pub fn notification_url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.notification_config.common.tls.scheme(),
            self.notification_port
        )
    }

    pub fn notification_client(&self) -> NotificationServiceClient<MeshChannel> {
        NotificationServiceClient::new(testing::admin_channel_over(
            &self.notification_url(),
            &self.client_tls,
        ))
    }

    /// Starts a ledger where the orchestrator looks for the one that was down (same database).
    pub async fn bring_ledger_up(&mut self) {
        let port = self
            .ledger_down_port
            .expect("the mesh started with the ledger down");
        let mut config = self.ledger_config.clone();
        config.common.listen = format!("127.0.0.1:{port}").parse().expect("addr");
        self.late_ledger = Some(LedgerServer::start(&config).await.expect("ledger comes up"));
    }

    pub async fn bring_notification_up(&mut self) {
        self.notification = Some(
            NotificationServer::start(&self.notification_config)
                .await
                .expect("notification comes back"),
        );
    }

    /// Policy `pto` (no negative balance) assigned to `employee` with `days` accrued.
    pub async fn pto(&mut self, employee: &str, days: &str) {
        seed::create_pto(&mut self.ledger, "1.75").await;
        seed::assign_pto(&mut self.ledger, employee, Some(days)).await;
    }

    /// A review of `employee` (manager m-1) waiting for the manager.
    pub async fn review_in_manager_review(&mut self, employee: &str) -> String {
        self.review_by(employee, "m-1").await
    }

    /// A review of `employee` by `manager`, waiting for the manager.
    pub async fn review_by(&mut self, employee: &str, manager: &str) -> String {
        seed::review_by(&mut self.performance, employee, manager).await
    }

    pub async fn review_state(&mut self, review_id: &str) -> ppb::Review {
        read::review(&mut self.performance, review_id).await
    }

    pub async fn entries(&mut self, employee: &str) -> Vec<lpb::Entry> {
        read::entries(&mut self.ledger, employee).await
    }

    pub async fn balance(&mut self, employee: &str) -> lpb::Balance {
        read::balance(&mut self.ledger, employee).await
    }

    pub async fn inbox(&self, recipient: &str) -> Vec<npb::Notification> {
        read::inbox(&mut self.notification_client(), recipient).await
    }

    /// Stops every participant still running.
    pub async fn stop(self) {
        if let Some(ledger) = self.late_ledger {
            ledger.stop().await.expect("stop the late ledger");
        }
        if let Some(notification) = self.notification {
            notification.stop().await.expect("stop notification");
        }
        self.ledger_server.stop().await.expect("stop ledger");
        self.performance_server
            .stop()
            .await
            .expect("stop performance");
    }
}

/// An admin client of every service.
#[derive(Clone)]
pub struct Clients {
    pub ledger: LedgerServiceClient<MeshChannel>,
    pub performance: PerformanceServiceClient<MeshChannel>,
    pub notification: NotificationServiceClient<MeshChannel>,
    pub saga: SagaServiceClient<MeshChannel>,
}

/// The whole mesh: the [`Participants`] (which it derefs to, for their servers, clients and
/// seeding) and the orchestrator in front of them, with an admin client of it.
pub struct Mesh {
    pub participants: Participants,
    pub saga: SagaServiceClient<MeshChannel>,
    pub orchestrator: OrchestratorServer,
    pub orchestrator_config: OrchestratorConfig,
}

impl Deref for Mesh {
    type Target = Participants;

    fn deref(&self) -> &Participants {
        &self.participants
    }
}

impl DerefMut for Mesh {
    fn deref_mut(&mut self) -> &mut Participants {
        &mut self.participants
    }
}

impl Mesh {
    /// Everything up, plaintext, for tests.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> Self {
        Self::start_tuned(backend, options, |_| {}).await
    }

    /// [`Self::start_with`], the orchestrator's configuration changed by `tune`.
    pub async fn start_tuned(
        backend: Backend,
        options: Options,
        tune: impl FnOnce(&mut OrchestratorConfig),
    ) -> Self {
        let participants = Participants::start(backend, &options).await;
        let mut config = OrchestratorConfig::default();
        testing::secure(&mut config.common);
        testing::sign(&mut config.identity);
        config.common.tls = options.tls("orchestrator");
        config.common.listen = localhost_zero();
        config.common.database_url = Some(participants.dbs[3].url.clone());
        config.common.events = options.events.clone();
        config.performance_url = participants.performance_url();
        config.ledger_url = participants.ledger_url();
        config.notification_url = participants.notification_url();
        if let Some(port) = participants.console_port {
            config.common.listen = format!("127.0.0.1:{port}").parse().expect("addr");
            config.console = ConsoleConfig {
                enabled: true,
                orchestrator_url: String::new(),
                ledger_url: participants.ledger_url(),
                performance_url: participants.performance_url(),
                notification_url: participants.notification_url(),
            };
        }
        match options.profile {
            Profile::Test => {
                config.replica_id = Some("replica-a".into());
                // Outages before the pivot and of undos are given up on quickly; after the pivot
                // the saga keeps retrying (tests that bound it tune the budget).
                config.forward_rounds = 3;
                config.compensation_rounds = 3;
                config.after_pivot_rounds = 1_000;
                config.round_backoff_ms = 10;
                config.round_backoff_max_ms = 100;
                config.resilience = fast_resilience();
            }
            Profile::Bench => config.replica_id = Some("bench".into()),
        }
        tune(&mut config);
        let orchestrator = OrchestratorServer::start(&config)
            .await
            .expect("orchestrator");
        let saga = SagaServiceClient::new(testing::admin_channel_over(
            &orchestrator.server.uri(),
            &participants.client_tls,
        ));
        Mesh {
            participants,
            saga,
            orchestrator,
            orchestrator_config: config,
        }
    }

    /// An admin client of every service, to clone into concurrent callers.
    pub fn clients(&self) -> Clients {
        Clients {
            ledger: self.ledger.clone(),
            performance: self.performance.clone(),
            notification: self.notification_client(),
            saga: self.saga.clone(),
        }
    }

    /// A saga client calling as manager `subject` of `manages`.
    pub fn manager_sagas(&self, subject: &str, manages: &[&str]) -> SagaServiceClient<MeshChannel> {
        let mut claims =
            testing::claims(subject, ActorType::Manager, &["saga.create", "saga.read"]);
        claims.manages = manages.iter().map(|e| (*e).to_owned()).collect();
        SagaServiceClient::new(
            MeshChannel::lazy(
                &self.orchestrator.server.uri(),
                &self.client_tls,
                Some(testing::mint(&claims)),
            )
            .expect("channel"),
        )
    }

    /// Starts the saga and waits for it to settle (within 20 seconds).
    pub async fn run_saga(&mut self, request_id: &str, input: Input) -> Result<Saga, Status> {
        let mut request = tonic::Request::new(StartSagaRequest {
            request_id: request_id.into(),
            wait: true,
            input: Some(input),
        });
        request.set_timeout(Duration::from_secs(20));
        self.saga.start_saga(request).await.map(|r| r.into_inner())
    }

    /// Starts the saga without waiting for it.
    pub async fn start_saga(&mut self, request_id: &str, input: Input) -> Saga {
        self.saga
            .start_saga(StartSagaRequest {
                request_id: request_id.into(),
                wait: false,
                input: Some(input),
            })
            .await
            .expect("start")
            .into_inner()
    }

    /// Waits for the saga to settle by watching it.
    pub async fn settled(&mut self, saga_id: &str) -> Saga {
        read::settled(&mut self.saga, saga_id).await
    }

    /// Follows the saga until an event of `kind` is logged.
    pub async fn until_logged(&mut self, saga_id: &str, kind: &str) {
        let mut updates = self
            .saga
            .watch_saga(WatchSagaRequest {
                saga_id: saga_id.into(),
            })
            .await
            .expect("watch")
            .into_inner();
        while let Some(update) = updates.message().await.expect("update") {
            if update.event.is_some_and(|event| event.kind == kind) {
                return;
            }
        }
        panic!("the saga settled without a {kind} event");
    }

    pub async fn get(&mut self, saga_id: &str) -> Saga {
        read::saga(&mut self.saga, saga_id).await
    }

    pub async fn stop(self) {
        self.orchestrator.stop().await.expect("stop orchestrator");
        self.participants.stop().await;
    }
}
