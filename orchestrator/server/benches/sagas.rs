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

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::notification as npb;
use hrmesh_proto::orchestrator as opb;
use hrmesh_proto::performance as ppb;
use hrmesh_testkit::{Clients, Cohort, Mesh, Options, complete_review, sections};

const SEQUENTIAL: usize = 300;
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 60;

/// Employees `{prefix}-0`… with the bonus policy and a review by `m-{prefix}` waiting for the
/// manager.
async fn seed(c: &mut Clients, prefix: &str, count: usize) -> Vec<(String, String)> {
    Cohort {
        prefix,
        count,
        manager: &format!("m-{prefix}"),
        monthly: "1.75",
        days: None,
    }
    .seed(&mut c.ledger, &mut c.performance)
    .await
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
            input: Some(complete_review(
                review_id,
                employee,
                ppb::Rating::Outstanding,
                "pto",
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
    let mesh = Mesh::start_with(backend, Options::bench()).await;
    let mut clients = mesh.clients();
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
    mesh.stop().await;
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
