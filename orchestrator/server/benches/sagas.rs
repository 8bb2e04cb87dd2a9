//! complete-review as a saga against the same participant calls made directly, over the real gRPC
//! servers (loopback, TCP_NODELAY), on SQLite and PostgreSQL.
//!
//! The direct baseline makes the saga's five calls in sequence from one client: FinalizeReview,
//! AppendEntries (the bonus), CompleteReview and two Sends. The saga is StartSaga with `wait`, so
//! its latency includes the orchestrator's hop and its durable log. Each of those workflows is
//! its employee's first, so it creates the employee's data keys; the saga is then measured again
//! for employees who completed a review before (the steady state), at 1 and 32 clients. Then
//! GetReview of the completed reviews, at 1 and 8 clients (their free text is sealed at rest). Run it with
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

/// Workflows measured at each number of clients: (clients, workflows per client).
const LEVELS: [(usize, usize); 4] = [(1, 200), (8, 50), (32, 16), (64, 8)];

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

/// The employee's second review (a quarter's), waiting for the manager like the first.
async fn next_review(c: &mut Clients, employee: &str) -> String {
    let review = c
        .performance
        .create_review(ppb::CreateReviewRequest {
            request_id: format!("next-review-{employee}"),
            employee_id: employee.into(),
            manager_id: format!("m2-{employee}"),
            cycle: ppb::ReviewCycle::Quarterly as i32,
            period_start: "2026-04-01".into(),
            period_end: "2026-06-30".into(),
            due_date: "2026-07-31".into(),
        })
        .await
        .expect("a second review")
        .into_inner();
    c.performance
        .open_self_assessment(ppb::OpenSelfAssessmentRequest {
            request_id: format!("next-review-{employee}-open"),
            review_id: review.review_id.clone(),
        })
        .await
        .expect("open");
    c.performance
        .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
            request_id: format!("next-review-{employee}-self"),
            review_id: review.review_id.clone(),
            sections: sections(),
        })
        .await
        .expect("self-assessment");
    review.review_id
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
    /// CPU of the whole mesh (every service is in this process) per workflow.
    cpu_ms: f64,
    /// Bytes this process sent to storage per workflow (`write_bytes` of /proc/self/io).
    kib_written: f64,
    /// PostgreSQL only: WAL syncs and commits per workflow, cluster-wide.
    wal_syncs: f64,
    commits: f64,
}

/// What this process has used so far: CPU time and bytes written to storage; on PostgreSQL also
/// the cluster's WAL syncs and committed transactions (its statistics lag by up to a second).
struct Usage {
    at: std::time::SystemTime,
    cpu: Duration,
    written: u64,
    wal_syncs: i64,
    commits: i64,
}

/// The cluster's WAL syncs and commits so far.
async fn postgres_counts(pg: &sea_orm::DatabaseConnection) -> (i64, i64) {
    use sea_orm::ConnectionTrait;
    let row = pg
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT (SELECT wal_sync FROM pg_stat_wal)::bigint AS syncs, \
             (SELECT sum(xact_commit) FROM pg_stat_database)::bigint AS commits",
        ))
        .await
        .expect("read the cluster's statistics")
        .expect("a row");
    (
        row.try_get("", "syncs").expect("syncs"),
        row.try_get("", "commits").expect("commits"),
    )
}

impl Usage {
    async fn now(pg: Option<&sea_orm::DatabaseConnection>) -> Self {
        let (wal_syncs, commits) = match pg {
            Some(pg) => postgres_counts(pg).await,
            None => (0, 0),
        };
        // utime and stime, in clock ticks: fields 14 and 15 of /proc/self/stat, counted after
        // the command name, which is in parentheses.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let hz = 100; // USER_HZ on Linux
        let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 1000 / hz);
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        let written = io
            .lines()
            .find_map(|line| line.strip_prefix("write_bytes: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        Self {
            at: std::time::SystemTime::now(),
            cpu,
            written,
            wal_syncs,
            commits,
        }
    }
}

/// Appends a measurement window to the file HRMESH_BENCH_WINDOWS names, if any: loadtest's
/// saga-bench.sh counts the fsyncs inside each window from an strace of this process.
fn window(name: &str, from: &Usage, to: &Usage, workflows: usize) {
    let Some(path) = std::env::var_os("HRMESH_BENCH_WINDOWS") else {
        return;
    };
    let secs = |at: std::time::SystemTime| {
        at.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    };
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the windows file");
    writeln!(
        file,
        "{name}\t{:.6}\t{:.6}\t{workflows}",
        secs(from.at),
        secs(to.at)
    )
    .expect("write a window");
}

fn figures(mut latencies: Vec<Duration>, from: &Usage, to: &Usage, total: Duration) -> Figures {
    latencies.sort_unstable();
    let count = latencies.len() as f64;
    Figures {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        per_second: count / total.as_secs_f64(),
        cpu_ms: ms(to.cpu.saturating_sub(from.cpu)) / count,
        kib_written: to.written.saturating_sub(from.written) as f64 / 1024.0 / count,
        wal_syncs: (to.wal_syncs - from.wal_syncs) as f64 / count,
        commits: (to.commits - from.commits) as f64 / count,
    }
}

/// Runs `items` as `clients` clients, each its share in turn; the window is named `name`.
async fn measure<F, Fut>(
    c: &Clients,
    pg: Option<&sea_orm::DatabaseConnection>,
    name: &str,
    clients: usize,
    items: Vec<(String, String)>,
    run: F,
) -> Figures
where
    F: Fn(Clients, String, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_client = items.len().div_ceil(clients);
    let from = Usage::now(pg).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in items.chunks(per_client) {
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
    let to = Usage::now(pg).await;
    window(name, &from, &to, latencies.len());
    figures(latencies, &from, &to, total)
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
    let pg = match backend {
        Backend::Postgres => {
            let url = std::env::var(hrmesh_mesh::testing::POSTGRES_URL_VAR).expect("the server");
            Some(
                sea_orm::Database::connect(format!("{url}/postgres"))
                    .await
                    .expect("connect to the cluster"),
            )
        }
        Backend::Sqlite => None,
    };
    println!("\n## complete-review on {backend:?}\n");
    println!(
        "CPU and bytes written are the whole mesh's (one process) per workflow; \
         the ratio column is saga / direct.\n"
    );
    println!(
        "| clients | direct wf/s | saga wf/s | ratio | direct p50 | saga p50 | ratio | direct p99 | saga p99 | ratio | direct CPU | saga CPU | direct written | saga written |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (callers, per_caller) in LEVELS {
        let count = callers * per_caller;
        let direct_items = seed(&mut mesh.clients(), &format!("d{callers}"), count).await;
        let saga_items = seed(&mut mesh.clients(), &format!("s{callers}"), count).await;
        let d = measure(
            &mesh.clients(),
            pg.as_ref(),
            &format!("{backend:?} direct {callers}"),
            callers,
            direct_items,
            |mut c, e, r| async move { direct(&mut c, &e, &r).await },
        )
        .await;
        let s = measure(
            &mesh.clients(),
            pg.as_ref(),
            &format!("{backend:?} saga {callers}"),
            callers,
            saga_items,
            |mut c, e, r| async move { saga(&mut c, &e, &r).await },
        )
        .await;
        println!(
            "| {callers} | {:.0} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms | {:.2} ms | {:.2} | {:.1} ms | {:.1} ms | {:.0} KiB | {:.0} KiB |",
            d.per_second,
            s.per_second,
            s.per_second / d.per_second,
            ms(d.p50),
            ms(s.p50),
            ms(s.p50) / ms(d.p50),
            ms(d.p99),
            ms(s.p99),
            ms(s.p99) / ms(d.p99),
            d.cpu_ms,
            s.cpu_ms,
            d.kib_written,
            s.kib_written,
        );
        if pg.is_some() {
            println!(
                "|   | WAL syncs per workflow: direct {:.2}, saga {:.2}; commits per workflow: direct {:.1}, saga {:.1} |",
                d.wal_syncs, s.wal_syncs, d.commits, s.commits
            );
        }
    }
    // The steady state: employees who completed a review before, so every service already
    // holds their data key (above, each workflow is its employee's first, creating keys in the
    // ledger, the notification service and the saga log).
    println!(
        "\n### complete-review as a saga, for employees who completed one before, on {backend:?}\n"
    );
    println!("| clients | saga wf/s | p50 | p99 | CPU | written |");
    println!("|---|---|---|---|---|---|");
    for (callers, per_caller) in [(1, 100), (32, 16)] {
        let first = seed(
            &mut mesh.clients(),
            &format!("k{callers}"),
            callers * per_caller,
        )
        .await;
        let mut second = Vec::with_capacity(first.len());
        for (employee, review_id) in &first {
            saga(&mut mesh.clients(), employee, review_id).await;
            second.push((
                employee.clone(),
                next_review(&mut mesh.clients(), employee).await,
            ));
        }
        let k = measure(
            &mesh.clients(),
            pg.as_ref(),
            &format!("{backend:?} saga known {callers}"),
            callers,
            second,
            |mut c, e, r| async move { saga(&mut c, &e, &r).await },
        )
        .await;
        println!(
            "| {callers} | {:.0} | {:.2} ms | {:.2} ms | {:.1} ms | {:.0} KiB |",
            k.per_second,
            ms(k.p50),
            ms(k.p99),
            k.cpu_ms,
            k.kib_written
        );
    }
    // Review reads: GetReview of completed reviews, whose sections and comments are sealed at
    // rest and opened on every read.
    println!("\n### GetReview on {backend:?}\n");
    println!("| clients | reads/s | p50 | p99 | CPU per read |");
    println!("|---|---|---|---|---|");
    for callers in [1, 8] {
        let items: Vec<(String, String)> = warm.iter().cycle().take(800).cloned().collect();
        let r = measure(
            &mesh.clients(),
            pg.as_ref(),
            &format!("{backend:?} review reads {callers}"),
            callers,
            items,
            |mut c, _employee, review_id| async move {
                c.performance
                    .get_review(ppb::GetReviewRequest { review_id })
                    .await
                    .expect("read a review");
            },
        )
        .await;
        println!(
            "| {callers} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
            r.per_second,
            ms(r.p50),
            ms(r.p99),
            r.cpu_ms
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
