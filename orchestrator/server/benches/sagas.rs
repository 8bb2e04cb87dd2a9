//! complete-review as a saga against the same participant calls made directly, over the real gRPC
//! servers (loopback, TCP_NODELAY), on SQLite and PostgreSQL.
//!
//! The direct baseline makes the saga's five calls in sequence from one client: FinalizeReview,
//! AppendEntries (the bonus), CompleteReview and two Sends. The saga is StartSaga with `wait`, so
//! its latency includes the orchestrator's hop and its durable log. Run it with
//! `bash loadtest/saga-bench.sh` (a throwaway PostgreSQL with fsync on); without
//! HRMESH_TEST_POSTGRES_URL only SQLite is measured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_orchestrator_server::{OrchestratorConfig, OrchestratorServer};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator as opb;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;

const SEQUENTIAL: usize = 300;
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 60;

struct Mesh {
    ledger: LedgerServer,
    performance: PerformanceServer,
    notification: NotificationServer,
    orchestrator: OrchestratorServer,
    _dbs: Vec<TestDatabase>,
}

#[derive(Clone)]
struct Clients {
    ledger: LedgerServiceClient<MeshChannel>,
    performance: PerformanceServiceClient<MeshChannel>,
    notification: NotificationServiceClient<MeshChannel>,
    saga: SagaServiceClient<MeshChannel>,
}

fn zero() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

async fn mesh(backend: Backend) -> (Mesh, Clients) {
    let dbs = vec![
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
    ];
    let mut ledger_config = LedgerConfig {
        // Accruals run when a test asks (RunAccruals), not on the wall clock.
        accrual_run_interval_secs: 0,
        ..LedgerConfig::default()
    };
    hrmesh_mesh::testing::secure(&mut ledger_config.common);
    ledger_config.common.listen = zero();
    ledger_config.common.database_url = Some(dbs[0].url.clone());
    let ledger = LedgerServer::start(&ledger_config).await.expect("ledger");
    let mut performance_config = PerformanceConfig::default();
    hrmesh_mesh::testing::secure(&mut performance_config.common);
    hrmesh_mesh::testing::sign(&mut performance_config.identity);
    performance_config.common.listen = zero();
    performance_config.common.database_url = Some(dbs[1].url.clone());
    let performance = PerformanceServer::start(&performance_config)
        .await
        .expect("performance");
    let mut notification_config = NotificationConfig::default();
    hrmesh_mesh::testing::secure(&mut notification_config.common);
    notification_config.common.listen = zero();
    notification_config.common.database_url = Some(dbs[2].url.clone());
    let notification = NotificationServer::start(&notification_config)
        .await
        .expect("notification");
    let mut config = OrchestratorConfig::default();
    hrmesh_mesh::testing::secure(&mut config.common);
    hrmesh_mesh::testing::sign(&mut config.identity);
    config.common.listen = zero();
    config.common.database_url = Some(dbs[3].url.clone());
    config.ledger_url = ledger.server.uri();
    config.performance_url = performance.server.uri();
    config.notification_url = notification.server.uri();
    config.replica_id = Some("bench".into());
    let orchestrator = OrchestratorServer::start(&config)
        .await
        .expect("orchestrator");
    let clients = Clients {
        ledger: LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&ledger.server.uri())),
        performance: PerformanceServiceClient::new(hrmesh_mesh::testing::admin_channel(
            &performance.server.uri(),
        )),
        notification: NotificationServiceClient::new(hrmesh_mesh::testing::admin_channel(
            &notification.server.uri(),
        )),
        saga: SagaServiceClient::new(hrmesh_mesh::testing::admin_channel(
            &orchestrator.server.uri(),
        )),
    };
    (
        Mesh {
            ledger,
            performance,
            notification,
            orchestrator,
            _dbs: dbs,
        },
        clients,
    )
}

fn sections() -> Vec<ppb::ReviewSection> {
    vec![ppb::ReviewSection {
        title: "Summary".into(),
        body: "A strong year.".into(),
    }]
}

/// Employees with the bonus policy and a review waiting for the manager.
async fn seed(c: &mut Clients, prefix: &str, count: usize) -> Vec<(String, String)> {
    let _ = c
        .ledger
        .create_policy(lpb::CreatePolicyRequest {
            request_id: "bench-policy".into(),
            policy_id: "pto".into(),
            policy: Some(lpb::Policy {
                resource_type: "pto".into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: lpb::AccrualFrequency::Monthly as i32,
                    amount: "1.75".into(),
                    max_balance: String::new(),
                }),
                ..Default::default()
            }),
        })
        .await;
    let mut out = Vec::new();
    for n in 0..count {
        let employee = format!("{prefix}-{n}");
        c.ledger
            .assign_policy(lpb::AssignPolicyRequest {
                request_id: format!("assign-{employee}"),
                employee_id: employee.clone(),
                policy_id: "pto".into(),
                effective_from: "2020-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
        let review = c
            .performance
            .create_review(ppb::CreateReviewRequest {
                request_id: format!("review-{employee}"),
                employee_id: employee.clone(),
                manager_id: format!("m-{prefix}"),
                cycle: ppb::ReviewCycle::Annual as i32,
                period_start: "2026-01-01".into(),
                period_end: "2026-12-31".into(),
                due_date: "2027-01-31".into(),
            })
            .await
            .expect("review")
            .into_inner();
        c.performance
            .open_self_assessment(ppb::OpenSelfAssessmentRequest {
                request_id: format!("open-{employee}"),
                review_id: review.review_id.clone(),
            })
            .await
            .expect("open");
        c.performance
            .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
                request_id: format!("self-{employee}"),
                review_id: review.review_id.clone(),
                sections: sections(),
            })
            .await
            .expect("self");
        out.push((employee, review.review_id));
    }
    out
}

fn send(
    key: String,
    recipient: &str,
    template: &str,
    payload: &[(&str, &str)],
) -> npb::SendRequest {
    npb::SendRequest {
        request_id: key,
        recipient: Some(npb::Recipient {
            recipient_id: recipient.into(),
            kind: npb::RecipientKind::Employee as i32,
            email: String::new(),
        }),
        template: template.into(),
        payload: payload
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        channels: vec![npb::Channel::InApp as i32],
        ..Default::default()
    }
}

/// The five calls of complete-review, made directly.
async fn direct(c: &mut Clients, employee: &str, review_id: &str) {
    let key = format!("direct-{review_id}");
    c.performance
        .finalize_review(ppb::FinalizeReviewRequest {
            request_id: format!("{key}-0"),
            review_id: review_id.into(),
            rating: ppb::Rating::Outstanding as i32,
            sections: sections(),
            employee_id: employee.into(),
        })
        .await
        .expect("finalize");
    c.ledger
        .append_entries(lpb::AppendEntriesRequest {
            request_id: format!("{key}-1"),
            entries: vec![lpb::NewEntry {
                employee_id: employee.into(),
                policy_id: "pto".into(),
                kind: lpb::EntryKind::Accrual as i32,
                amount: "2".into(),
                effective_date: "2026-11-21".into(),
                reason: "bonus".into(),
                reference: key.clone(),
            }],
        })
        .await
        .expect("bonus");
    c.performance
        .complete_review(ppb::CompleteReviewRequest {
            request_id: format!("{key}-2"),
            review_id: review_id.into(),
            employee_id: employee.into(),
        })
        .await
        .expect("complete");
    let payload = [("cycle", "annual"), ("rating", "outstanding")];
    c.notification
        .send(send(
            format!("{key}-3"),
            employee,
            "review.completed",
            &payload,
        ))
        .await
        .expect("notify employee");
    let payload = [
        ("cycle", "annual"),
        ("rating", "outstanding"),
        ("employee_name", employee),
    ];
    c.notification
        .send(send(
            format!("{key}-4"),
            "m-1",
            "review.completed_for_manager",
            &payload,
        ))
        .await
        .expect("notify manager");
}

async fn saga(c: &mut Clients, employee: &str, review_id: &str) {
    let saga = c
        .saga
        .start_saga(opb::StartSagaRequest {
            request_id: format!("saga-{review_id}"),
            wait: true,
            input: Some(opb::start_saga_request::Input::CompleteReview(
                opb::CompleteReviewInput {
                    review_id: review_id.into(),
                    employee_id: employee.into(),
                    rating: ppb::Rating::Outstanding as i32,
                    sections: sections(),
                    bonus_policy_id: "pto".into(),
                },
            )),
        })
        .await
        .expect("saga")
        .into_inner();
    assert_eq!(saga.state, opb::SagaState::Completed as i32, "{saga:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

async fn sequential<F, Fut>(c: &Clients, items: &[(String, String)], run: F) -> Figures
where
    F: Fn(Clients, String, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(items.len());
    let started = Instant::now();
    for (employee, review) in items {
        let at = Instant::now();
        run(c.clone(), employee.clone(), review.clone()).await;
        latencies.push(at.elapsed());
    }
    let total = started.elapsed();
    latencies.sort_unstable();
    Figures {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        per_second: items.len() as f64 / total.as_secs_f64(),
    }
}

async fn concurrent<F, Fut>(c: &Clients, items: Vec<(String, String)>, run: F) -> Figures
where
    F: Fn(Clients, String, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let count = items.len();
    let mut tasks = Vec::new();
    for chunk in items.chunks(PER_CLIENT) {
        let chunk = chunk.to_vec();
        let c = c.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for (employee, review) in chunk {
                let at = Instant::now();
                run(c.clone(), employee, review).await;
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let total = started.elapsed();
    latencies.sort_unstable();
    Figures {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        per_second: count as f64 / total.as_secs_f64(),
    }
}

async fn bench(backend: Backend) {
    let (mesh, mut clients) = mesh(backend).await;
    let warm = seed(&mut clients, "warm", 20).await;
    for (e, r) in &warm[..10] {
        direct(&mut clients.clone(), e, r).await;
    }
    for (e, r) in &warm[10..] {
        saga(&mut clients.clone(), e, r).await;
    }
    let direct_items = seed(&mut clients, "d", SEQUENTIAL).await;
    let saga_items = seed(&mut clients, "s", SEQUENTIAL).await;
    let direct_seq = sequential(&clients, &direct_items, |mut c, e, r| async move {
        direct(&mut c, &e, &r).await
    })
    .await;
    let saga_seq = sequential(&clients, &saga_items, |mut c, e, r| async move {
        saga(&mut c, &e, &r).await
    })
    .await;
    let direct_items = seed(&mut clients, "dc", CLIENTS * PER_CLIENT).await;
    let saga_items = seed(&mut clients, "sc", CLIENTS * PER_CLIENT).await;
    let direct_par = concurrent(&clients, direct_items, |mut c, e, r| async move {
        direct(&mut c, &e, &r).await
    })
    .await;
    let saga_par = concurrent(&clients, saga_items, |mut c, e, r| async move {
        saga(&mut c, &e, &r).await
    })
    .await;
    println!("\n## complete-review on {backend:?}\n");
    println!("| measurement | direct calls | saga | saga / direct |");
    println!("|---|---|---|---|");
    for (name, d, s) in [
        ("1 client", &direct_seq, &saga_seq),
        ("8 clients", &direct_par, &saga_par),
    ] {
        println!(
            "| {name}: workflows/s | {:.0} | {:.0} | {:.2} |",
            d.per_second,
            s.per_second,
            s.per_second / d.per_second
        );
        println!(
            "| {name}: p50 | {:.2} ms | {:.2} ms | {:.2} |",
            ms(d.p50),
            ms(s.p50),
            ms(s.p50) / ms(d.p50)
        );
        println!(
            "| {name}: p99 | {:.2} ms | {:.2} ms | {:.2} |",
            ms(d.p99),
            ms(s.p99),
            ms(s.p99) / ms(d.p99)
        );
    }
    mesh.orchestrator.stop().await.expect("stop");
    mesh.notification.stop().await.expect("stop");
    mesh.ledger.stop().await.expect("stop");
    mesh.performance.stop().await.expect("stop");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        bench(Backend::Sqlite).await;
        if std::env::var_os(hrmesh_mesh::testing::POSTGRES_URL_VAR).is_some() {
            bench(Backend::Postgres).await;
        } else {
            println!(
                "\n(PostgreSQL skipped: set HRMESH_TEST_POSTGRES_URL or use loadtest/saga-bench.sh)"
            );
        }
    });
}
