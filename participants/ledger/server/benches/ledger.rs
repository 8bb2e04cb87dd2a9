//! Ledger benchmark over the real gRPC server (loopback, TCP_NODELAY) on SQLite and PostgreSQL.
//!
//! Reports append throughput, balance-read latency at 10, 1,000 and 100,000 entries of history,
//! hold throughput under 8 concurrent clients, and one accrual run over 10,000 assignments. Run it with `bash loadtest/ledger-bench.sh`, which
//! starts a throwaway PostgreSQL (fsync on) and sets HRMESH_TEST_POSTGRES_URL; without that variable
//! only SQLite is measured.

use std::time::{Duration, Instant};

use hrmesh_domain::SystemClock;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_proto::common::DateRange;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::ledger::*;

const HISTORY_SIZES: [usize; 3] = [10, 1_000, 100_000];
/// Entries per month of history: a heavy account (daily holds and their decisions). 100,000 entries
/// then span 2,500 months, within the dates the ledger accepts (1970-2199).
const ENTRIES_PER_MONTH: usize = 40;
const BALANCE_READS: usize = 2_000;
const APPEND_BATCHES: usize = 200;
const APPEND_BATCH_SIZE: usize = 100;
const SINGLE_APPENDS: usize = 2_000;
const HOLD_CLIENTS: usize = 8;
const HOLDS_PER_CLIENT: usize = 250;
/// Assignments one measured accrual run brings up to date.
const ACCRUAL_ASSIGNMENTS: usize = 10_000;

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, p: f64) -> Duration {
        self.0.sort_unstable();
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index]
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

async fn client(server: &LedgerServer) -> LedgerServiceClient<MeshChannel> {
    LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()))
}

async fn setup(client: &mut LedgerServiceClient<MeshChannel>, employees: &[String]) {
    client
        .create_policy(CreatePolicyRequest {
            request_id: "bench-policy".into(),
            policy_id: "pto-bench".into(),
            policy: Some(Policy {
                resource_type: "pto".into(),
                unit: Unit::Days as i32,
                accrual: Some(AccrualRule {
                    frequency: AccrualFrequency::None as i32,
                    amount: String::new(),
                    max_balance: String::new(),
                }),
                // Appends of any sign must not be refused while seeding long histories.
                allow_negative: true,
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
    for employee in employees {
        client
            .assign_policy(AssignPolicyRequest {
                request_id: format!("assign-{employee}"),
                employee_id: employee.clone(),
                policy_id: "pto-bench".into(),
                effective_from: "1970-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
    }
}

fn accrual(employee: &str, amount: &str, date: chrono::NaiveDate) -> NewEntry {
    NewEntry {
        employee_id: employee.into(),
        policy_id: "pto-bench".into(),
        kind: EntryKind::Accrual as i32,
        amount: amount.into(),
        effective_date: date.to_string(),
        ..Default::default()
    }
}

async fn bench_backend(backend: Backend) -> Vec<(String, String)> {
    let db = TestDatabase::new(backend).await;
    let store = SeaLedgerStore::open(
        &db.url,
        hrmesh_ledger_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("store");
    let mut config = LedgerConfig {
        // Accruals run when a test asks (RunAccruals), not on the wall clock.
        accrual_run_interval_secs: 0,
        ..LedgerConfig::default()
    };
    hrmesh_mesh::testing::secure(&mut config.common);
    config.common.listen = "127.0.0.1:0".parse().expect("addr");
    config.hold_sweep_interval_secs = 3600;
    let server = LedgerServer::start_with(store, SystemClock, &config)
        .await
        .expect("server");
    let mut c = client(&server).await;
    let mut rows = Vec::new();

    let history_employees: Vec<String> = HISTORY_SIZES
        .iter()
        .map(|n| format!("history-{n}"))
        .collect();
    let append_employees: Vec<String> = (0..10).map(|i| format!("append-{i}")).collect();
    let hold_employees: Vec<String> = (0..HOLD_CLIENTS * 10)
        .map(|i| format!("hold-{i}"))
        .collect();
    let all: Vec<String> = history_employees
        .iter()
        .chain(&append_employees)
        .chain(&hold_employees)
        .cloned()
        .collect();
    setup(&mut c, &all).await;
    let start_date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");

    // Append throughput: batches of 100 (one transaction each), then single-entry requests.
    let started = Instant::now();
    for batch in 0..APPEND_BATCHES {
        let entries = (0..APPEND_BATCH_SIZE)
            .map(|i| {
                accrual(
                    &append_employees[i % append_employees.len()],
                    "0.5",
                    start_date + chrono::Duration::days((batch % 300) as i64),
                )
            })
            .collect();
        c.append_entries(AppendEntriesRequest {
            request_id: format!("append-batch-{batch}"),
            entries,
        })
        .await
        .expect("append");
    }
    let rate = (APPEND_BATCHES * APPEND_BATCH_SIZE) as f64 / started.elapsed().as_secs_f64();
    rows.push((
        "append, batches of 100 (entries/s)".into(),
        format!("{rate:.0}"),
    ));
    let mut latencies = Latencies(Vec::with_capacity(SINGLE_APPENDS));
    let started = Instant::now();
    for i in 0..SINGLE_APPENDS {
        let entry = accrual(
            &append_employees[i % append_employees.len()],
            "0.25",
            start_date + chrono::Duration::days((i % 300) as i64),
        );
        let t = Instant::now();
        c.append_entries(AppendEntriesRequest {
            request_id: format!("append-one-{i}"),
            entries: vec![entry],
        })
        .await
        .expect("append");
        latencies.0.push(t.elapsed());
    }
    let rate = SINGLE_APPENDS as f64 / started.elapsed().as_secs_f64();
    rows.push((
        "append, one entry per request (entries/s)".into(),
        format!("{rate:.0}"),
    ));
    rows.push((
        "append, one entry per request p50 / p99".into(),
        format!(
            "{} / {}",
            ms(latencies.percentile(0.5)),
            ms(latencies.percentile(0.99))
        ),
    ));

    // Balance reads over histories of growing length, ENTRIES_PER_MONTH entries per month.
    for (size, employee) in HISTORY_SIZES.iter().zip(&history_employees) {
        let first_month = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
        let mut written = 0;
        let mut batch_number = 0;
        while written < *size {
            let count = (size - written).min(1000);
            let entries = (written..written + count)
                .map(|i| {
                    let month = (i / ENTRIES_PER_MONTH) as u32;
                    let date = first_month
                        .checked_add_months(chrono::Months::new(month))
                        .and_then(|d| d.with_day0(((i % ENTRIES_PER_MONTH) % 28) as u32))
                        .expect("date in range");
                    accrual(employee, "1", date)
                })
                .collect();
            c.append_entries(AppendEntriesRequest {
                request_id: format!("seed-{employee}-{batch_number}"),
                entries,
            })
            .await
            .expect("seed");
            written += count;
            batch_number += 1;
        }
        let months = size.div_ceil(ENTRIES_PER_MONTH) as u32;
        let middle = first_month
            .checked_add_months(chrono::Months::new(months / 2))
            .expect("date")
            + chrono::Duration::days(14);
        for (label, as_of) in [
            ("current", String::new()),
            ("as of a mid-history date", middle.to_string()),
        ] {
            let mut latencies = Latencies(Vec::with_capacity(BALANCE_READS));
            for _ in 0..BALANCE_READS {
                let t = Instant::now();
                let balance = c
                    .get_balance(GetBalanceRequest {
                        employee_id: employee.clone(),
                        policy_id: "pto-bench".into(),
                        as_of_date: as_of.clone(),
                    })
                    .await
                    .expect("balance")
                    .into_inner();
                latencies.0.push(t.elapsed());
                std::hint::black_box(balance);
            }
            rows.push((
                format!("balance read, {size} entries, {label}: p50 / p99"),
                format!(
                    "{} / {}",
                    ms(latencies.percentile(0.5)),
                    ms(latencies.percentile(0.99))
                ),
            ));
        }
    }

    // Hold throughput: 8 clients, each on its own connection and its own employees.
    let seed: Vec<NewEntry> = hold_employees
        .iter()
        .map(|e| accrual(e, "500", start_date))
        .collect();
    c.append_entries(AppendEntriesRequest {
        request_id: "seed-holds".into(),
        entries: seed,
    })
    .await
    .expect("seed holds");
    let weekdays: Vec<chrono::NaiveDate> = start_date
        .iter_days()
        .filter(|d| !matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun))
        .take(HOLDS_PER_CLIENT.div_ceil(10))
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = (0..HOLD_CLIENTS)
        .map(|k| {
            let uri = server.server.uri();
            let employees: Vec<String> = hold_employees[k * 10..(k + 1) * 10].to_vec();
            let weekdays = weekdays.clone();
            tokio::spawn(async move {
                let mut c = LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&uri));
                let mut latencies = Vec::with_capacity(HOLDS_PER_CLIENT);
                for i in 0..HOLDS_PER_CLIENT {
                    let day = weekdays[i / employees.len()].to_string();
                    let t = Instant::now();
                    c.hold_days(HoldDaysRequest {
                        request_id: format!("hold-{k}-{i}"),
                        employee_id: employees[i % employees.len()].clone(),
                        policy_id: "pto-bench".into(),
                        dates: Some(DateRange {
                            start_date: day.clone(),
                            end_date: day,
                        }),
                        ..Default::default()
                    })
                    .await
                    .expect("hold");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Latencies(Vec::new());
    for task in tasks {
        latencies.0.extend(task.await.expect("client task"));
    }
    let rate = (HOLD_CLIENTS * HOLDS_PER_CLIENT) as f64 / started.elapsed().as_secs_f64();
    rows.push((
        "holds, 8 concurrent clients (requests/s)".into(),
        format!("{rate:.0}"),
    ));
    rows.push((
        "holds, 8 concurrent clients p50 / p99".into(),
        format!(
            "{} / {}",
            ms(latencies.percentile(0.5)),
            ms(latencies.percentile(0.99))
        ),
    ));
    rows.extend(accrual_runs(&mut c).await);
    server.stop().await.expect("stop");
    rows
}

/// One accrual run over [`ACCRUAL_ASSIGNMENTS`] assignments of a monthly policy: the first period
/// of each, then the next month's run, then a run with nothing due.
async fn accrual_runs(c: &mut LedgerServiceClient<MeshChannel>) -> Vec<(String, String)> {
    c.create_policy(CreatePolicyRequest {
        request_id: "bench/accrual-policy".into(),
        policy_id: "accrual-bench".into(),
        policy: Some(Policy {
            resource_type: "bench".into(),
            unit: Unit::Days as i32,
            accrual: Some(AccrualRule {
                frequency: AccrualFrequency::Monthly as i32,
                amount: "1.75".into(),
                max_balance: String::new(),
            }),
            ..Default::default()
        }),
    })
    .await
    .expect("accrual policy");
    for i in 0..ACCRUAL_ASSIGNMENTS {
        c.assign_policy(AssignPolicyRequest {
            request_id: format!("bench/accrual-assign/{i}"),
            employee_id: format!("accrue-{i}"),
            policy_id: "accrual-bench".into(),
            effective_from: "2026-01-01".into(),
            effective_to: String::new(),
        })
        .await
        .expect("assign");
    }
    let mut rows = Vec::new();
    for (label, request_id, up_to) in [
        ("first period", "bench/run-1", "2026-01-01"),
        ("next month", "bench/run-2", "2026-02-01"),
    ] {
        let started = Instant::now();
        let run = c
            .run_accruals(RunAccrualsRequest {
                request_id: request_id.into(),
                up_to_date: up_to.into(),
                employee_id: String::new(),
                policy_id: "accrual-bench".into(),
            })
            .await
            .expect("run")
            .into_inner();
        let elapsed = started.elapsed();
        assert_eq!(run.accrual_entries, ACCRUAL_ASSIGNMENTS as i64, "{run:?}");
        rows.push((
            format!("accrual run over {ACCRUAL_ASSIGNMENTS} assignments, {label} (entries/s)"),
            format!(
                "{:.0} ({})",
                run.accrual_entries as f64 / elapsed.as_secs_f64(),
                ms(elapsed)
            ),
        ));
    }
    let started = Instant::now();
    let idle = c
        .run_accruals(RunAccrualsRequest {
            request_id: "bench/run-3".into(),
            up_to_date: "2026-02-01".into(),
            employee_id: String::new(),
            policy_id: "accrual-bench".into(),
        })
        .await
        .expect("idle run")
        .into_inner();
    assert_eq!(idle.accrual_entries, 0);
    rows.push((
        format!("accrual run over {ACCRUAL_ASSIGNMENTS} assignments, nothing due"),
        ms(started.elapsed()),
    ));
    rows
}

use chrono::Datelike;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut backends = vec![("SQLite", Backend::Sqlite)];
    if std::env::var(hrmesh_mesh::testing::POSTGRES_URL_VAR).is_ok() {
        backends.push(("PostgreSQL", Backend::Postgres));
    } else {
        eprintln!(
            "{} is not set: measuring SQLite only",
            hrmesh_mesh::testing::POSTGRES_URL_VAR
        );
    }
    for (name, backend) in backends {
        let rows = runtime.block_on(bench_backend(backend));
        println!("\n## ledger on {name}\n");
        println!("| measurement | value |\n|---|---|");
        for (label, value) in rows {
            println!("| {label} | {value} |");
        }
    }
}
