//! Processes killed with SIGKILL in the middle of sagas. An orchestrator killed and replaced:
//! every saga finishes. Participants killed and restarted, as a crash or a rolling deploy would:
//! every saga still completes — an outage is retried, not compensated. In both, no effect lands
//! twice — counted in the ledger, the performance records and the notification store.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator as opb;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;

const SAGAS: usize = 8;

struct Orchestrator {
    child: Child,
    url: String,
}

/// A failed test leaves no process behind.
impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hrmesh serve orchestrator` and waits until it serves.
fn orchestrator(database_url: &str, participants: [&str; 3], replica: &str) -> Orchestrator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hrmesh"))
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env(
            "HRMESH_ORCHESTRATOR_AUTH__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        .env(
            "HRMESH_ORCHESTRATOR_IDENTITY__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        .env("HRMESH_ORCHESTRATOR_ROUND_BACKOFF_MS", "20")
        .env("HRMESH_ORCHESTRATOR_ROUND_BACKOFF_MAX_MS", "200")
        .env("HRMESH_ORCHESTRATOR_RESILIENCE__BREAKER_OPEN_MS", "100")
        .args(["serve", "orchestrator", "--listen", "127.0.0.1:0"])
        .args(["--database-url", database_url])
        .args(["--performance-url", participants[0]])
        .args(["--ledger-url", participants[1]])
        .args(["--notification-url", participants[2]])
        .args(["--replica-id", replica, "--lease-secs", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh serve orchestrator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .map(|line| line.expect("line"))
        .find(|line| line.contains("orchestrator serving"))
        .expect("the orchestrator starts");
    std::thread::spawn(move || lines.for_each(drop));
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("addr")
        .to_owned();
    Orchestrator {
        child,
        url: format!("http://{addr}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("port")
        .port()
}

/// Policy `pto`, and `employees` employees e-0… assigned to it (with `days` accrued, if any), each
/// with an annual review by m-1 waiting for the manager. Answers the review ids.
async fn seed(
    ledger: &mut LedgerServiceClient<hrmesh_mesh::client::MeshChannel>,
    performance: &mut PerformanceServiceClient<hrmesh_mesh::client::MeshChannel>,
    employees: usize,
    days: Option<&str>,
) -> Vec<String> {
    ledger
        .create_policy(lpb::CreatePolicyRequest {
            request_id: "policy".into(),
            policy_id: "pto".into(),
            policy: Some(lpb::Policy {
                resource_type: "pto".into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: lpb::AccrualFrequency::Monthly as i32,
                    amount: "1".into(),
                    max_balance: String::new(),
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
    let mut reviews = Vec::new();
    for n in 0..employees {
        let employee = format!("e-{n}");
        ledger
            .assign_policy(lpb::AssignPolicyRequest {
                request_id: format!("assign-{n}"),
                employee_id: employee.clone(),
                policy_id: "pto".into(),
                effective_from: "2020-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
        if let Some(days) = days {
            ledger
                .append_entries(lpb::AppendEntriesRequest {
                    request_id: format!("accrue-{n}"),
                    entries: vec![lpb::NewEntry {
                        employee_id: employee.clone(),
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
        let review = performance
            .create_review(ppb::CreateReviewRequest {
                request_id: format!("review-{n}"),
                employee_id: employee.clone(),
                manager_id: "m-1".into(),
                cycle: ppb::ReviewCycle::Annual as i32,
                period_start: "2026-01-01".into(),
                period_end: "2026-12-31".into(),
                due_date: "2027-01-31".into(),
            })
            .await
            .expect("review")
            .into_inner();
        performance
            .open_self_assessment(ppb::OpenSelfAssessmentRequest {
                request_id: format!("open-{n}"),
                review_id: review.review_id.clone(),
            })
            .await
            .expect("open");
        performance
            .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
                request_id: format!("self-{n}"),
                review_id: review.review_id.clone(),
                sections: vec![ppb::ReviewSection {
                    title: "Delivery".into(),
                    body: "On time".into(),
                }],
            })
            .await
            .expect("self");
        reviews.push(review.review_id);
    }
    reviews
}

async fn a_killed_orchestrator_is_replaced_and_every_saga_finishes_once(backend: Backend) {
    let dbs = [
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
    ];
    let mut ledger_config = LedgerConfig {
        // Accruals run when a test asks (RunAccruals), not on the wall clock.
        accrual_run_interval_secs: 0,
        ..Default::default()
    };
    hrmesh_mesh::testing::secure(&mut ledger_config.common);
    ledger_config.common.listen = "127.0.0.1:0".parse().expect("addr");
    ledger_config.common.database_url = Some(dbs[0].url.clone());
    let ledger_server = LedgerServer::start(&ledger_config).await.expect("ledger");
    let mut performance_config = PerformanceConfig::default();
    hrmesh_mesh::testing::secure(&mut performance_config.common);
    hrmesh_mesh::testing::sign(&mut performance_config.identity);
    performance_config.common.listen = "127.0.0.1:0".parse().expect("addr");
    performance_config.common.database_url = Some(dbs[1].url.clone());
    let performance_server = PerformanceServer::start(&performance_config)
        .await
        .expect("performance");
    // The notification service is down at first: sagas pass their pivot and then wait on it.
    let notification_port = free_port();
    let notification_url = format!("http://127.0.0.1:{notification_port}");
    let mut notification_config = NotificationConfig::default();
    hrmesh_mesh::testing::secure(&mut notification_config.common);
    notification_config.common.listen = format!("127.0.0.1:{notification_port}")
        .parse()
        .expect("addr");
    notification_config.common.database_url = Some(dbs[2].url.clone());
    notification_config.worker_enabled = false;

    let mut ledger = LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &ledger_server.server.uri(),
    ));
    let mut performance = PerformanceServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &performance_server.server.uri(),
    ));
    let reviews = seed(&mut ledger, &mut performance, SAGAS, None).await;

    let participants = [
        performance_server.server.uri(),
        ledger_server.server.uri(),
        notification_url.clone(),
    ];
    let participant_urls = [
        participants[0].as_str(),
        participants[1].as_str(),
        participants[2].as_str(),
    ];
    let mut first = orchestrator(&dbs[3].url, participant_urls, "replica-1");
    let mut sagas = SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(&first.url.clone()));
    let mut ids = Vec::new();
    for (n, review_id) in reviews.iter().enumerate() {
        let saga = sagas
            .start_saga(opb::StartSagaRequest {
                request_id: format!("complete-{n}"),
                wait: false,
                input: Some(opb::start_saga_request::Input::CompleteReview(
                    opb::CompleteReviewInput {
                        review_id: review_id.clone(),
                        employee_id: format!("e-{n}"),
                        rating: ppb::Rating::Outstanding as i32,
                        sections: vec![ppb::ReviewSection {
                            title: "Summary".into(),
                            body: "Excellent year".into(),
                        }],
                        bonus_policy_id: "pto".into(),
                    },
                )),
            })
            .await
            .expect("start")
            .into_inner();
        ids.push(saga.saga_id);
    }
    // Kill it once the first saga is under way, with the others at various steps.
    loop {
        let saga = sagas
            .get_saga(opb::GetSagaRequest {
                saga_id: ids[0].clone(),
            })
            .await
            .expect("get")
            .into_inner();
        if !saga.history.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");

    // The participant comes back, and another replica takes over once the leases run out.
    let notification = NotificationServer::start(&notification_config)
        .await
        .expect("notification");
    let mut second = orchestrator(&dbs[3].url, participant_urls, "replica-2");
    let mut sagas =
        SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(&second.url.clone()));
    for id in &ids {
        let mut updates = sagas
            .watch_saga(opb::WatchSagaRequest {
                saga_id: id.clone(),
            })
            .await
            .expect("watch")
            .into_inner();
        while updates.message().await.expect("update").is_some() {}
        let saga = sagas
            .get_saga(opb::GetSagaRequest {
                saga_id: id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(saga.state, opb::SagaState::Completed as i32, "{saga:?}");
    }

    let mut notifications =
        NotificationServiceClient::new(hrmesh_mesh::testing::admin_channel(&notification_url));
    for (n, review_id) in reviews.iter().enumerate() {
        let employee = format!("e-{n}");
        let entries = ledger
            .list_entries(lpb::ListEntriesRequest {
                employee_id: employee.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("entries")
            .into_inner()
            .entries;
        assert_eq!(
            entries.len(),
            1,
            "one bonus accrual for {employee}: {entries:?}"
        );
        assert_eq!(entries[0].amount, "2");
        let review = performance
            .get_review(ppb::GetReviewRequest {
                review_id: review_id.clone(),
            })
            .await
            .expect("review")
            .into_inner();
        assert_eq!(review.state, ppb::ReviewState::Completed as i32);
        let finalized = review
            .history
            .iter()
            .filter(|t| t.to == ppb::ReviewState::Submitted as i32)
            .count();
        assert_eq!(finalized, 1, "finalized once");
        let inbox = notifications
            .list_notifications(npb::ListNotificationsRequest {
                recipient_id: employee.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("inbox")
            .into_inner()
            .notifications;
        assert_eq!(inbox.len(), 1, "{employee} is told once");
    }
    let manager = notifications
        .list_notifications(npb::ListNotificationsRequest {
            recipient_id: "m-1".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("inbox")
        .into_inner()
        .notifications;
    assert_eq!(manager.len(), SAGAS, "the manager is told once per review");

    second.child.kill().expect("stop");
    second.child.wait().expect("reap");
    notification.stop().await.expect("stop notification");
    ledger_server.stop().await.expect("stop ledger");
    performance_server.stop().await.expect("stop performance");
}

hrmesh_mesh::test_on_every_backend!(a_killed_orchestrator_is_replaced_and_every_saga_finishes_once);

/// A participant process of `hrmesh serve <service>` on a fixed port, so that it can be killed and
/// started again where the orchestrator looks for it.
struct Participant {
    service: &'static str,
    port: u16,
    database_url: String,
    child: Option<Child>,
}

/// A failed test leaves no process behind.
impl Drop for Participant {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Participant {
    fn start(service: &'static str, database_url: &str) -> Self {
        let mut participant = Self {
            service,
            port: free_port(),
            database_url: database_url.to_owned(),
            child: None,
        };
        participant.spawn();
        participant
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let prefix = format!("HRMESH_{}_", self.service.to_uppercase());
        let mut command = Command::new(env!("CARGO_BIN_EXE_hrmesh"));
        command
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env(
                format!("{prefix}AUTH__HS256_KEY_FILE"),
                hrmesh_mesh::testing::dev_key_file(),
            )
            .env(
                format!("{prefix}IDENTITY__HS256_KEY_FILE"),
                hrmesh_mesh::testing::dev_key_file(),
            )
            .args(["serve", self.service])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--database-url", &self.database_url])
            .stdout(Stdio::piped());
        if self.service == "notification" {
            command.env("HRMESH_NOTIFICATION_WORKER_ENABLED", "false");
        }
        if self.service == "ledger" {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            command.env("HRMESH_LEDGER_ACCRUAL_RUN_INTERVAL_SECS", "0");
        }
        let mut child = command.spawn().expect("start a participant");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        lines
            .by_ref()
            .map(|line| line.expect("line"))
            .find(|line| line.contains("serving"))
            .unwrap_or_else(|| panic!("{} starts", self.service));
        std::thread::spawn(move || lines.for_each(drop));
        self.child = Some(child);
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// SIGKILL, then at once a new process on the same port and database.
    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Employees, each with one complete-review and one request-time-off saga in flight.
const EMPLOYEES: usize = 12;

/// How long a test waits for what must happen at most.
const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until `count` sagas in `ids` have logged anything.
async fn until_under_way(
    sagas: &mut SagaServiceClient<hrmesh_mesh::client::MeshChannel>,
    ids: &[String],
    count: usize,
) {
    tokio::time::timeout(WAIT_MAX, async {
        loop {
            let mut started = 0;
            for id in ids {
                let saga = sagas
                    .get_saga(opb::GetSagaRequest {
                        saga_id: id.clone(),
                    })
                    .await
                    .expect("get")
                    .into_inner();
                started += usize::from(!saga.history.is_empty());
            }
            if started >= count.min(ids.len()) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the sagas got under way within {WAIT_MAX:?}"))
}

/// Waits until one of the sagas `ids` has logged a failed round.
async fn until_a_round_failed(
    sagas: &mut SagaServiceClient<hrmesh_mesh::client::MeshChannel>,
    ids: &[String],
) {
    tokio::time::timeout(WAIT_MAX, async {
        loop {
            for id in ids {
                let saga = sagas
                    .get_saga(opb::GetSagaRequest {
                        saga_id: id.clone(),
                    })
                    .await
                    .expect("get")
                    .into_inner();
                if saga.history.iter().any(|e| e.kind == "failed") {
                    return;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a round failed within {WAIT_MAX:?}"))
}

async fn participants_killed_and_restarted_mid_saga_roll_back_nothing(backend: Backend) {
    let dbs = [
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
    ];
    let mut ledger_process = Participant::start("ledger", &dbs[0].url);
    let mut performance_process = Participant::start("performance", &dbs[1].url);
    let mut notification_process = Participant::start("notification", &dbs[2].url);
    let mut ledger =
        LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&ledger_process.url()));
    let mut performance = PerformanceServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &performance_process.url(),
    ));
    let reviews = seed(&mut ledger, &mut performance, EMPLOYEES, Some("10")).await;

    let urls = [
        performance_process.url(),
        ledger_process.url(),
        notification_process.url(),
    ];
    let mut orchestrator_process = orchestrator(
        &dbs[3].url,
        [urls[0].as_str(), urls[1].as_str(), urls[2].as_str()],
        "replica-1",
    );
    let mut sagas = SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &orchestrator_process.url.clone(),
    ));
    let mut ids = Vec::new();
    let start = |n: usize, input: opb::start_saga_request::Input| opb::StartSagaRequest {
        request_id: format!("saga-{n}"),
        wait: false,
        input: Some(input),
    };
    for (n, review_id) in reviews.iter().enumerate() {
        let input = opb::start_saga_request::Input::CompleteReview(opb::CompleteReviewInput {
            review_id: review_id.clone(),
            employee_id: format!("e-{n}"),
            rating: ppb::Rating::Outstanding as i32,
            sections: vec![ppb::ReviewSection {
                title: "Summary".into(),
                body: "Excellent year".into(),
            }],
            bonus_policy_id: "pto".into(),
        });
        let saga = sagas
            .start_saga(start(ids.len(), input))
            .await
            .expect("start");
        ids.push(saga.into_inner().saga_id);
    }
    // The ledger crashes while sagas run; more sagas come in meanwhile and find it away...
    until_under_way(&mut sagas, &ids, 1).await;
    ledger_process.kill();
    for n in 0..EMPLOYEES {
        let input = opb::start_saga_request::Input::RequestTimeOff(opb::RequestTimeOffInput {
            employee_id: format!("e-{n}"),
            manager_id: "m-1".into(),
            policy_id: "pto".into(),
            dates: Some(hrmesh_proto::common::DateRange {
                start_date: "2026-08-03".into(),
                end_date: "2026-08-05".into(),
            }),
            half_days: vec![],
            reason: String::new(),
        });
        let saga = sagas
            .start_saga(start(ids.len(), input))
            .await
            .expect("start");
        ids.push(saga.into_inner().saga_id);
    }
    until_a_round_failed(&mut sagas, &ids).await;
    // ...until it is back, a moment later. Then the others crash and come back in turn.
    ledger_process.spawn();
    performance_process.restart();
    notification_process.restart();
    ledger_process.restart();

    let mut failed_rounds = 0;
    for id in &ids {
        let mut updates = sagas
            .watch_saga(opb::WatchSagaRequest {
                saga_id: id.clone(),
            })
            .await
            .expect("watch")
            .into_inner();
        while updates.message().await.expect("update").is_some() {}
        let saga = sagas
            .get_saga(opb::GetSagaRequest {
                saga_id: id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(
            saga.state,
            opb::SagaState::Completed as i32,
            "no saga is rolled back for an outage: {saga:?}"
        );
        assert!(
            !saga.history.iter().any(|e| e.kind == "compensated"),
            "{saga:?}"
        );
        failed_rounds += saga.history.iter().filter(|e| e.kind == "failed").count();
    }
    assert!(
        failed_rounds > 0,
        "the restarts met sagas in flight: their calls failed and were retried"
    );
    println!("{failed_rounds} failed rounds were retried");

    let mut notifications = NotificationServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &notification_process.url(),
    ));
    for (n, review_id) in reviews.iter().enumerate() {
        let employee = format!("e-{n}");
        let entries = ledger
            .list_entries(lpb::ListEntriesRequest {
                employee_id: employee.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("entries")
            .into_inner()
            .entries;
        let accruals = entries
            .iter()
            .filter(|e| e.kind == lpb::EntryKind::Accrual as i32)
            .count();
        assert_eq!(
            accruals, 2,
            "the accrual and one bonus for {employee}: {entries:?}"
        );
        let balance = ledger
            .get_balance(lpb::GetBalanceRequest {
                employee_id: employee.clone(),
                policy_id: "pto".into(),
                as_of_date: String::new(),
            })
            .await
            .expect("balance")
            .into_inner();
        assert_eq!(
            (balance.balance.as_str(), balance.pending.as_str()),
            ("12", "3"),
            "one bonus, one hold of three days for {employee}"
        );
        let review = performance
            .get_review(ppb::GetReviewRequest {
                review_id: review_id.clone(),
            })
            .await
            .expect("review")
            .into_inner();
        assert_eq!(review.state, ppb::ReviewState::Completed as i32);
        let finalized = review
            .history
            .iter()
            .filter(|t| t.to == ppb::ReviewState::Submitted as i32)
            .count();
        assert_eq!(finalized, 1, "finalized once");
        let inbox = notifications
            .list_notifications(npb::ListNotificationsRequest {
                recipient_id: employee.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("inbox")
            .into_inner()
            .notifications;
        assert_eq!(inbox.len(), 1, "{employee} is told once");
    }
    let manager = notifications
        .list_notifications(npb::ListNotificationsRequest {
            recipient_id: "m-1".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("inbox")
        .into_inner()
        .notifications;
    assert_eq!(
        manager.len(),
        2 * EMPLOYEES,
        "the manager is told once per review and once per request"
    );

    orchestrator_process.child.kill().expect("stop");
    orchestrator_process.child.wait().expect("reap");
    for process in [
        &mut ledger_process,
        &mut performance_process,
        &mut notification_process,
    ] {
        process.stop();
    }
}

mod restarted_participants {
    use super::participants_killed_and_restarted_mid_saga_roll_back_nothing;
    hrmesh_mesh::test_on_every_backend!(
        participants_killed_and_restarted_mid_saga_roll_back_nothing
    );
}
