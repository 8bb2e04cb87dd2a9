//! The whole mesh in one process for the end-to-end tests: the orchestrator and the real
//! participants, each server on its own port with its own real database (SQLite or PostgreSQL).

#![allow(dead_code)]

pub use std::time::Duration;

pub use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
pub use hrmesh_mesh::auth::{ALL_PERMISSIONS, ActorType, Claims, TokenSource};
pub use hrmesh_mesh::client::MeshChannel;
pub use hrmesh_mesh::testing;
pub use hrmesh_mesh::testing::{Backend, TestDatabase};
pub use hrmesh_mesh::tls::TlsConfig;
pub use hrmesh_mesh::tls::dev::DevPki;
pub use hrmesh_notification_server::{NotificationConfig, NotificationServer};
pub use hrmesh_orchestrator_server::resilience::ResilienceConfig;
pub use hrmesh_orchestrator_server::{OrchestratorConfig, OrchestratorServer};
pub use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
pub use hrmesh_performance_store::SeaPerformanceStore;
pub use hrmesh_proto::common::DateRange;
pub use hrmesh_proto::ledger as lpb;
pub use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
pub use hrmesh_proto::notification as npb;
pub use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
pub use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
pub use hrmesh_proto::orchestrator::start_saga_request::Input;
pub use hrmesh_proto::orchestrator::*;
pub use hrmesh_proto::performance as ppb;
pub use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
pub use tonic::{Code, Status};
pub use tonic_types::StatusExt;

pub struct Mesh {
    pub saga: SagaServiceClient<MeshChannel>,
    pub ledger: LedgerServiceClient<MeshChannel>,
    pub performance: PerformanceServiceClient<MeshChannel>,
    pub notification_port: u16,
    /// How the test's clients connect: plaintext, or TLS with the test client's certificate.
    pub client_tls: TlsConfig,
    pub notification_config: NotificationConfig,
    pub notification: Option<NotificationServer>,
    pub orchestrator: OrchestratorServer,
    pub orchestrator_config: OrchestratorConfig,
    pub ledger_config: LedgerConfig,
    /// Where the orchestrator looks for a ledger that was started down.
    pub ledger_down_port: Option<u16>,
    /// The ledger `bring_ledger_up` started there, on the same database.
    pub late_ledger: Option<LedgerServer>,
    pub ledger_server: LedgerServer,
    pub performance_server: PerformanceServer,
    pub dbs: Vec<TestDatabase>,
}

pub fn localhost_zero() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// A free port for a server that starts later in the test (a participant that "comes back").
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

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

pub struct Options {
    pub notification_up: bool,
    pub ledger_down: bool,
    /// Every server on TLS with this PKI, requiring client certificates (mutual TLS).
    pub tls: Option<DevPki>,
}

/// The names a test PKI issues certificates for: the four services and the test's own client.
pub const PKI_NAMES: [&str; 5] = [
    "ledger",
    "performance",
    "notification",
    "orchestrator",
    "test-client",
];

impl Mesh {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(
            backend,
            Options {
                notification_up: true,
                ledger_down: false,
                tls: None,
            },
        )
        .await
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
        let dbs = vec![
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
            TestDatabase::new(backend).await,
        ];
        let tls = |name: &str| {
            options
                .tls
                .as_ref()
                .map(|pki| pki.config(name, true))
                .unwrap_or_default()
        };
        let client_tls = tls("test-client");
        let mut ledger_config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..Default::default()
        };
        hrmesh_mesh::testing::secure(&mut ledger_config.common);
        ledger_config.common.tls = tls("ledger");
        ledger_config.common.listen = localhost_zero();
        ledger_config.common.database_url = Some(dbs[0].url.clone());
        let ledger_server = LedgerServer::start(&ledger_config).await.expect("ledger");
        let mut performance_config = PerformanceConfig::default();
        hrmesh_mesh::testing::secure(&mut performance_config.common);
        hrmesh_mesh::testing::sign(&mut performance_config.identity);
        performance_config.common.tls = tls("performance");
        performance_config.common.listen = localhost_zero();
        performance_config.common.database_url = Some(dbs[1].url.clone());
        let performance_server = PerformanceServer::start(&performance_config)
            .await
            .expect("performance");
        let notification_port = free_port();
        let mut notification_config = NotificationConfig::default();
        hrmesh_mesh::testing::secure(&mut notification_config.common);
        notification_config.common.tls = tls("notification");
        notification_config.common.listen = format!("127.0.0.1:{notification_port}")
            .parse()
            .expect("addr");
        notification_config.common.database_url = Some(dbs[2].url.clone());
        notification_config.worker_enabled = false;
        let notification = if options.notification_up {
            Some(
                NotificationServer::start(&notification_config)
                    .await
                    .expect("notification"),
            )
        } else {
            None
        };
        let mut config = OrchestratorConfig::default();
        hrmesh_mesh::testing::secure(&mut config.common);
        hrmesh_mesh::testing::sign(&mut config.identity);
        config.common.tls = tls("orchestrator");
        config.common.listen = localhost_zero();
        config.common.database_url = Some(dbs[3].url.clone());
        config.performance_url = performance_server.server.uri();
        // A ledger that is down listens nowhere yet; `bring_ledger_up` starts one on its port.
        let ledger_down_port = options.ledger_down.then(free_port);
        config.ledger_url = match ledger_down_port {
            Some(port) => format!("{}://127.0.0.1:{port}", config.common.tls.scheme()),
            None => ledger_server.server.uri(),
        };
        config.notification_url = format!(
            "{}://127.0.0.1:{notification_port}",
            notification_config.common.tls.scheme()
        );
        config.replica_id = Some("replica-a".into());
        // Outages before the pivot and of undos are given up on quickly; after the pivot the
        // saga keeps retrying (tests that bound it tune the budget).
        config.forward_rounds = 3;
        config.compensation_rounds = 3;
        config.after_pivot_rounds = 1_000;
        config.round_backoff_ms = 10;
        config.round_backoff_max_ms = 100;
        config.resilience = fast_resilience();
        tune(&mut config);
        let orchestrator = OrchestratorServer::start(&config)
            .await
            .expect("orchestrator");
        let orchestrator_config = config;
        let saga = SagaServiceClient::new(testing::admin_channel_over(
            &orchestrator.server.uri(),
            &client_tls,
        ));
        let ledger = LedgerServiceClient::new(testing::admin_channel_over(
            &ledger_server.server.uri(),
            &client_tls,
        ));
        let performance = PerformanceServiceClient::new(testing::admin_channel_over(
            &performance_server.server.uri(),
            &client_tls,
        ));
        Mesh {
            saga,
            ledger,
            performance,
            notification_port,
            client_tls,
            notification_config,
            notification,
            orchestrator,
            orchestrator_config,
            ledger_config,
            ledger_down_port,
            late_ledger: None,
            ledger_server,
            performance_server,
            dbs,
        }
    }

    pub async fn notification_client(&self) -> NotificationServiceClient<MeshChannel> {
        NotificationServiceClient::new(testing::admin_channel_over(
            &format!(
                "{}://127.0.0.1:{}",
                self.notification_config.common.tls.scheme(),
                self.notification_port
            ),
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
        let _ = self
            .ledger
            .create_policy(lpb::CreatePolicyRequest {
                request_id: "policy-pto".into(),
                policy_id: "pto".into(),
                policy: Some(lpb::Policy {
                    resource_type: "pto".into(),
                    unit: lpb::Unit::Days as i32,
                    accrual: Some(lpb::AccrualRule {
                        frequency: lpb::AccrualFrequency::Monthly as i32,
                        amount: "1.75".into(),
                        max_balance: String::new(),
                    }),
                    allow_negative: false,
                    ..Default::default()
                }),
            })
            .await
            .expect("policy");
        self.ledger
            .assign_policy(lpb::AssignPolicyRequest {
                request_id: format!("assign-{employee}"),
                employee_id: employee.into(),
                policy_id: "pto".into(),
                effective_from: "2020-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
        self.ledger
            .append_entries(lpb::AppendEntriesRequest {
                request_id: format!("accrue-{employee}"),
                entries: vec![lpb::NewEntry {
                    employee_id: employee.into(),
                    policy_id: "pto".into(),
                    kind: lpb::EntryKind::Accrual as i32,
                    amount: days.into(),
                    effective_date: "2026-01-31".into(),
                    ..Default::default()
                }],
            })
            .await
            .expect("accrue");
    }

    /// A review of `employee` (manager m-1) waiting for the manager.
    pub async fn review_in_manager_review(&mut self, employee: &str) -> String {
        self.review_by(employee, "m-1").await
    }

    /// A review of `employee` by `manager`, waiting for the manager.
    pub async fn review_by(&mut self, employee: &str, manager: &str) -> String {
        let review = self
            .performance
            .create_review(ppb::CreateReviewRequest {
                request_id: format!("review-{employee}-{manager}"),
                employee_id: employee.into(),
                manager_id: manager.into(),
                cycle: ppb::ReviewCycle::Annual as i32,
                period_start: "2026-01-01".into(),
                period_end: "2026-12-31".into(),
                due_date: "2027-01-31".into(),
            })
            .await
            .expect("review")
            .into_inner();
        for (n, step) in ["open", "self"].into_iter().enumerate() {
            let request_id = format!("{employee}-{manager}-{step}");
            if n == 0 {
                self.performance
                    .open_self_assessment(ppb::OpenSelfAssessmentRequest {
                        request_id,
                        review_id: review.review_id.clone(),
                    })
                    .await
                    .expect("open");
            } else {
                self.performance
                    .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
                        request_id,
                        review_id: review.review_id.clone(),
                        sections: sections(),
                    })
                    .await
                    .expect("self-assessment");
            }
        }
        review.review_id
    }

    pub async fn review_state(&mut self, review_id: &str) -> ppb::Review {
        self.performance
            .get_review(ppb::GetReviewRequest {
                review_id: review_id.into(),
            })
            .await
            .expect("review")
            .into_inner()
    }

    pub async fn entries(&mut self, employee: &str) -> Vec<lpb::Entry> {
        self.ledger
            .list_entries(lpb::ListEntriesRequest {
                employee_id: employee.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("entries")
            .into_inner()
            .entries
    }

    pub async fn balance(&mut self, employee: &str) -> lpb::Balance {
        self.ledger
            .get_balance(lpb::GetBalanceRequest {
                employee_id: employee.into(),
                policy_id: "pto".into(),
                as_of_date: String::new(),
            })
            .await
            .expect("balance")
            .into_inner()
    }

    pub async fn inbox(&self, recipient: &str) -> Vec<npb::Notification> {
        self.notification_client()
            .await
            .list_notifications(npb::ListNotificationsRequest {
                recipient_id: recipient.into(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("notifications")
            .into_inner()
            .notifications
    }

    pub async fn run_saga(&mut self, request_id: &str, input: Input) -> Result<Saga, Status> {
        let mut request = tonic::Request::new(StartSagaRequest {
            request_id: request_id.into(),
            wait: true,
            input: Some(input),
        });
        request.set_timeout(Duration::from_secs(20));
        self.saga.start_saga(request).await.map(|r| r.into_inner())
    }

    /// Waits for the saga to settle by watching it.
    pub async fn settled(&mut self, saga_id: &str) -> Saga {
        let mut updates = self
            .saga
            .watch_saga(WatchSagaRequest {
                saga_id: saga_id.into(),
            })
            .await
            .expect("watch")
            .into_inner();
        while updates.message().await.expect("update").is_some() {}
        self.get(saga_id).await
    }

    pub async fn get(&mut self, saga_id: &str) -> Saga {
        self.saga
            .get_saga(GetSagaRequest {
                saga_id: saga_id.into(),
            })
            .await
            .expect("get saga")
            .into_inner()
    }

    pub async fn stop(self) {
        self.orchestrator.stop().await.expect("stop orchestrator");
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

pub fn sections() -> Vec<ppb::ReviewSection> {
    vec![ppb::ReviewSection {
        title: "Delivery".into(),
        body: "Shipped the payroll migration.".into(),
    }]
}

pub fn complete_review(
    review_id: &str,
    employee: &str,
    rating: ppb::Rating,
    bonus_policy: &str,
) -> Input {
    Input::CompleteReview(CompleteReviewInput {
        review_id: review_id.into(),
        employee_id: employee.into(),
        rating: rating as i32,
        sections: sections(),
        bonus_policy_id: bonus_policy.into(),
    })
}

pub fn statuses(saga: &Saga) -> Vec<StepStatus> {
    saga.steps
        .iter()
        .map(|step| StepStatus::try_from(step.status).expect("status"))
        .collect()
}

pub fn reason_of(status: &Status) -> (String, std::collections::HashMap<String, String>) {
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    (info.reason.clone(), info.metadata.clone())
}
