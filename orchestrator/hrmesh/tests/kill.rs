//! Processes killed with SIGKILL in the middle of sagas. An orchestrator killed and replaced:
//! every saga finishes. Participants killed and restarted, as a crash or a rolling deploy would:
//! every saga still completes — an outage is retried, not compensated. In both, no effect lands
//! twice — counted in the ledger, the performance records and the notification store.

use std::process::{Child, Stdio};

use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::broker::{self, Consumer};
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator as opb;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_testkit::events::{assert_arrived_in_commit_order, until_received_as_listed};
use hrmesh_testkit::{Cohort, Options, Participants, complete_review, free_port, process, read};

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

/// Starts `hrmesh serve orchestrator` calling the performance service, the ledger and the
/// notification service at `participants`, and waits until it serves.
fn orchestrator(database_url: &str, participants: &[String; 3], replica: &str) -> Orchestrator {
    let mut child = process::command(env!("CARGO_BIN_EXE_hrmesh"))
        .env(
            "HRMESH_ORCHESTRATOR_AUTH__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        .env(
            "HRMESH_ORCHESTRATOR_IDENTITY__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        // One keyring for every start of a replica: a restart reads the starts it sealed.
        .env(
            "HRMESH_ORCHESTRATOR_CRYPTO__KEYRING",
            hrmesh_mesh::testing::keyring_text(),
        )
        .env("HRMESH_ORCHESTRATOR_ROUND_BACKOFF_MS", "20")
        .env("HRMESH_ORCHESTRATOR_ROUND_BACKOFF_MAX_MS", "200")
        .env("HRMESH_ORCHESTRATOR_RESILIENCE__BREAKER_OPEN_MS", "100")
        .args(["serve", "orchestrator", "--listen", "127.0.0.1:0"])
        .args(["--database-url", database_url])
        .args(["--performance-url", &participants[0]])
        .args(["--ledger-url", &participants[1]])
        .args(["--notification-url", &participants[2]])
        .args(["--replica-id", replica, "--lease-secs", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh serve orchestrator");
    let line = process::wait_for_line(&mut child, "orchestrator serving");
    Orchestrator {
        child,
        url: format!("http://{}", process::logged_addr(&line)),
    }
}

/// Employees e-0… (policy `pto` accruing a day a month, with `days` accrued, if any), each with
/// an annual review by m-1 waiting for the manager. Answers the review ids.
async fn seed(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    performance: &mut PerformanceServiceClient<MeshChannel>,
    employees: usize,
    days: Option<&str>,
) -> Vec<String> {
    let cohort = Cohort {
        prefix: "e",
        count: employees,
        manager: "m-1",
        monthly: "1",
        days,
    };
    let seeded = cohort.seed(ledger, performance).await;
    seeded.into_iter().map(|(_, review_id)| review_id).collect()
}

/// Each saga in `ids` watched until it settles, as it ended.
async fn settled(sagas: &mut SagaServiceClient<MeshChannel>, ids: &[String]) -> Vec<opb::Saga> {
    let mut settled = Vec::with_capacity(ids.len());
    for id in ids {
        settled.push(read::settled(sagas, id).await);
    }
    settled
}

/// Every review of e-0… is completed, finalized once, and its employee told once.
async fn every_review_completed_once(
    performance: &mut PerformanceServiceClient<MeshChannel>,
    notifications: &mut NotificationServiceClient<MeshChannel>,
    reviews: &[String],
) {
    for (n, review_id) in reviews.iter().enumerate() {
        let employee = format!("e-{n}");
        let review = read::review(performance, review_id).await;
        assert_eq!(review.state, ppb::ReviewState::Completed as i32);
        let finalized = review
            .history
            .iter()
            .filter(|t| t.to == ppb::ReviewState::Submitted as i32)
            .count();
        assert_eq!(finalized, 1, "finalized once");
        let inbox = read::inbox(notifications, &employee).await;
        assert_eq!(inbox.len(), 1, "{employee} is told once");
    }
}

async fn a_killed_orchestrator_is_replaced_and_every_saga_finishes_once(backend: Backend) {
    // The notification service is down at first: sagas pass their pivot and then wait on it.
    let mut participants = Participants::start(
        backend,
        &Options {
            notification_up: false,
            ..Options::default()
        },
    )
    .await;
    let mut ledger = participants.ledger.clone();
    let mut performance = participants.performance.clone();
    let reviews = seed(&mut ledger, &mut performance, SAGAS, None).await;

    let urls = [
        participants.performance_url(),
        participants.ledger_url(),
        participants.notification_url(),
    ];
    let orchestrator_db = participants.dbs[3].url.clone();
    let mut first = orchestrator(&orchestrator_db, &urls, "replica-1");
    let mut sagas = SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(&first.url.clone()));
    let mut ids = Vec::new();
    for (n, review_id) in reviews.iter().enumerate() {
        let saga = sagas
            .start_saga(opb::StartSagaRequest {
                request_id: format!("complete-{n}"),
                wait: false,
                input: Some(complete_review(
                    review_id,
                    &format!("e-{n}"),
                    ppb::Rating::Outstanding,
                    "pto",
                )),
            })
            .await
            .expect("start")
            .into_inner();
        ids.push(saga.saga_id);
    }
    // Kill it once the first saga is under way, with the others at various steps.
    until_under_way(&mut sagas, &ids[..1], 1).await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");

    // The participant comes back, and another replica takes over once the leases run out.
    participants.bring_notification_up().await;
    let mut second = orchestrator(&orchestrator_db, &urls, "replica-2");
    let mut sagas =
        SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(&second.url.clone()));
    for saga in settled(&mut sagas, &ids).await {
        assert_eq!(saga.state, opb::SagaState::Completed as i32, "{saga:?}");
    }

    let mut notifications = participants.notification_client();
    for n in 0..reviews.len() {
        let employee = format!("e-{n}");
        let entries = read::entries(&mut ledger, &employee).await;
        assert_eq!(
            entries.len(),
            1,
            "one bonus accrual for {employee}: {entries:?}"
        );
        assert_eq!(entries[0].amount, "2");
    }
    every_review_completed_once(&mut performance, &mut notifications, &reviews).await;
    let manager = read::inbox(&mut notifications, "m-1").await;
    assert_eq!(manager.len(), SAGAS, "the manager is told once per review");

    second.child.kill().expect("stop");
    second.child.wait().expect("reap");
    participants.stop().await;
}

hrmesh_mesh::test_on_every_backend!(a_killed_orchestrator_is_replaced_and_every_saga_finishes_once);

/// A participant process of `hrmesh serve <service>` on a fixed port, so that it can be killed and
/// started again where the orchestrator looks for it.
struct Participant {
    service: &'static str,
    port: u16,
    database_url: String,
    /// Further settings, as environment variables.
    env: Vec<(String, String)>,
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
        Self::start_with(service, database_url, Vec::new())
    }

    fn start_with(service: &'static str, database_url: &str, env: Vec<(String, String)>) -> Self {
        let mut participant = Self {
            service,
            port: free_port(),
            database_url: database_url.to_owned(),
            env,
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
        let mut command = process::command(env!("CARGO_BIN_EXE_hrmesh"));
        command
            .env(
                format!("{prefix}AUTH__HS256_KEY_FILE"),
                hrmesh_mesh::testing::dev_key_file(),
            )
            .env(
                format!("{prefix}IDENTITY__HS256_KEY_FILE"),
                hrmesh_mesh::testing::dev_key_file(),
            )
            // One keyring for every start of the service: a restart reads what it sealed.
            .env(
                format!("{prefix}CRYPTO__KEYRING"),
                hrmesh_mesh::testing::keyring_text(),
            )
            .envs(self.env.iter().cloned())
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
        process::wait_for_line(&mut child, "serving");
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
async fn until_under_way(sagas: &mut SagaServiceClient<MeshChannel>, ids: &[String], count: usize) {
    tokio::time::timeout(WAIT_MAX, async {
        loop {
            let mut started = 0;
            for id in ids {
                let saga = read::saga(sagas, id).await;
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
async fn until_a_round_failed(sagas: &mut SagaServiceClient<MeshChannel>, ids: &[String]) {
    tokio::time::timeout(WAIT_MAX, async {
        loop {
            for id in ids {
                let saga = read::saga(sagas, id).await;
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
    let mut orchestrator_process = orchestrator(&dbs[3].url, &urls, "replica-1");
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
        let input = complete_review(
            review_id,
            &format!("e-{n}"),
            ppb::Rating::Outstanding,
            "pto",
        );
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
        let input = hrmesh_testkit::time_off(&format!("e-{n}"), "m-1", "2026-08-03", "2026-08-05");
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
    for saga in settled(&mut sagas, &ids).await {
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
    for n in 0..reviews.len() {
        let employee = format!("e-{n}");
        let entries = read::entries(&mut ledger, &employee).await;
        let accruals = entries
            .iter()
            .filter(|e| e.kind == lpb::EntryKind::Accrual as i32)
            .count();
        assert_eq!(
            accruals, 2,
            "the accrual and one bonus for {employee}: {entries:?}"
        );
        let balance = read::balance(&mut ledger, &employee).await;
        assert_eq!(
            (balance.balance.as_str(), balance.pending.as_str()),
            ("12", "3"),
            "one bonus, one hold of three days for {employee}"
        );
    }
    every_review_completed_once(&mut performance, &mut notifications, &reviews).await;
    let manager = read::inbox(&mut notifications, "m-1").await;
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

/// A ledger process SIGKILLed again and again while writers commit and its relay publishes: the
/// broker consumer ends up with every committed effect's event — one per ledger entry — and
/// none invented; what was published twice (confirmed, then the process died before marking it)
/// is counted and deduplicated on the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_killed_between_commit_and_confirm_loses_and_invents_no_event() {
    let url = broker::shared_url();
    let exchange = format!("hrmesh.test.kill.{}", uuid::Uuid::now_v7());
    let mut consumer = Consumer::bind(&url, &exchange, &format!("{exchange}.all"))
        .await
        .expect("consumer");
    let db = TestDatabase::new(Backend::Sqlite).await;
    let mut process = Participant::start_with(
        "ledger",
        &db.url,
        vec![
            ("HRMESH_LEDGER_EVENTS__AMQP_URL".into(), url.clone()),
            ("HRMESH_LEDGER_EVENTS__EXCHANGE".into(), exchange.clone()),
        ],
    );
    let client = LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&process.url()));
    hrmesh_testkit::seed::create_pto(&mut client.clone(), "1").await;
    const WRITERS: usize = 4;
    for n in 0..WRITERS {
        hrmesh_testkit::seed::assign_pto(&mut client.clone(), &format!("e-{n}"), None).await;
    }
    for round in 0..5 {
        // Writers commit accruals until the process dies under them; it dies once they have
        // committed 25 more, with the relay publishing behind them.
        let (answered, mut answers) = tokio::sync::watch::channel(0usize);
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (mut client, answered) = (client.clone(), answered.clone());
                tokio::spawn(async move {
                    for n in 0..10_000 {
                        let request = lpb::AppendEntriesRequest {
                            request_id: format!("r{round}-w{writer}-{n}"),
                            entries: vec![lpb::NewEntry {
                                employee_id: format!("e-{writer}"),
                                policy_id: "pto".into(),
                                kind: lpb::EntryKind::Accrual as i32,
                                amount: "0.5".into(),
                                effective_date: "2026-02-28".into(),
                                ..Default::default()
                            }],
                        };
                        if client.append_entries(request).await.is_err() {
                            return;
                        }
                        answered.send_modify(|count| *count += 1);
                    }
                })
            })
            .collect();
        tokio::time::timeout(WAIT_MAX, answers.wait_for(|count| *count >= 25))
            .await
            .expect("writes within the wait")
            .expect("writers running");
        process.restart();
        for writer in writers {
            writer.await.expect("writer");
        }
    }
    // Every entry that committed, whether or not its writer heard back, has its one event.
    let mut client = client.clone();
    let mut entries = 0;
    for n in 0..WRITERS {
        entries += read::entries(&mut client, &format!("e-{n}")).await.len();
    }
    assert!(entries >= 5 * 25, "{entries} entries");
    let listed = until_received_as_listed(&mut consumer, &[process.url()], entries).await;
    assert_eq!(listed.len(), entries, "one event per committed entry");
    assert_arrived_in_commit_order(&consumer, &listed);
    eprintln!(
        "{entries} events over 5 kills; {} published again and deduplicated",
        consumer.duplicates
    );
    consumer.close().await;
}
