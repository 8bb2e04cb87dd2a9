//! Integration events: how fast the ledger's relay publishes to RabbitMQ with publisher confirms,
//! on SQLite and PostgreSQL.
//!
//! The ledger first commits [`EVENTS`] accruals (one `accrual.posted` event each) with no broker
//! configured, so they wait in its outbox, numbered; it then restarts pointed at a broker, and the
//! figure is the time until the outbox holds nothing unpublished: every event sent, confirmed by
//! the broker and marked. With a durable queue bound to the exchange, the broker confirms a persistent
//! message once it has stored it; a second run binds no queue, so the broker confirms at once
//! without storing anything, which shows what the relay and its database cost alone. Run it with
//! `bash loadtest/events-bench.sh`, which starts a throwaway RabbitMQ and PostgreSQL (fsync on).

use std::time::{Duration, Instant};

use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::events::EventsConfig;
use hrmesh_mesh::testing::{Backend, TestDatabase, broker};
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::ledger::*;
use hrmesh_storage::outbox::OutboxSource;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

/// Events published in one measurement.
const EVENTS: usize = 20_000;
const EMPLOYEES: usize = 100;
/// Entries per AppendEntries call while filling the outbox.
const BATCH: usize = 100;

async fn ledger(db: &TestDatabase, events: EventsConfig) -> LedgerServer {
    let mut config = LedgerConfig {
        accrual_run_interval_secs: 0,
        ..LedgerConfig::default()
    };
    hrmesh_mesh::testing::secure(&mut config.common);
    config.common.listen = "127.0.0.1:0".parse().expect("addr");
    config.common.database_url = Some(db.url.clone());
    config.common.events = events;
    LedgerServer::start(&config).await.expect("ledger")
}

/// Commits `EVENTS` accruals through the ledger's gRPC API.
async fn fill(server: &LedgerServer) {
    let mut client =
        LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
    client
        .create_policy(CreatePolicyRequest {
            request_id: "policy".into(),
            policy_id: "pto".into(),
            policy: Some(Policy {
                resource_type: "pto".into(),
                unit: Unit::Days as i32,
                accrual: Some(AccrualRule {
                    frequency: AccrualFrequency::None as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
    for n in 0..EMPLOYEES {
        client
            .assign_policy(AssignPolicyRequest {
                request_id: format!("assign-{n}"),
                employee_id: format!("e-{n}"),
                policy_id: "pto".into(),
                effective_from: "2020-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
    }
    for call in 0..EVENTS / BATCH {
        let entries = (0..BATCH)
            .map(|n| NewEntry {
                employee_id: format!("e-{}", (call * BATCH + n) % EMPLOYEES),
                policy_id: "pto".into(),
                kind: EntryKind::Accrual as i32,
                amount: "0.25".into(),
                effective_date: "2026-02-28".into(),
                ..Default::default()
            })
            .collect();
        client
            .append_entries(AppendEntriesRequest {
                request_id: format!("fill-{call}"),
                entries,
            })
            .await
            .expect("append");
    }
}

/// A durable queue bound to every type on `exchange`, as a consumer would have it.
async fn queue(url: &str, exchange: &str, name: &str) -> lapin::Channel {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange");
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    channel
        .queue_bind(
            name.into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    channel
}

async fn depth(channel: &lapin::Channel, name: &str) -> u32 {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue")
        .message_count()
}

/// Publishes the `EVENTS` waiting in a fresh outbox; with `queued`, into a durable queue.
async fn bench_backend(backend: Backend, url: &str, queued: bool) -> (f64, Duration) {
    let db = TestDatabase::new(backend).await;
    let filling = ledger(&db, EventsConfig::default()).await;
    fill(&filling).await;
    let outbox = SeaLedgerStore::open(
        &db.url,
        hrmesh_ledger_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("store")
    .outbox_store();
    // Numbered by the filling ledger's relay, so the measurement is publishing alone.
    let last = i64::try_from(EVENTS).expect("small") - 1;
    while outbox
        .after(last, None, 1)
        .await
        .expect("outbox")
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    filling.stop().await.expect("stop");
    let exchange = format!("hrmesh.bench.{}", uuid::Uuid::now_v7());
    let name = format!("{exchange}.all");
    let channel = if queued {
        Some(queue(url, &exchange, &name).await)
    } else {
        None
    };
    let started = Instant::now();
    let publishing = ledger(
        &db,
        EventsConfig {
            amqp_url: Some(url.to_owned()),
            exchange,
            ..EventsConfig::default()
        },
    )
    .await;
    while !outbox.unpublished(1).await.expect("outbox").is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    publishing.stop().await.expect("stop");
    if let Some(channel) = channel {
        assert_eq!(
            depth(&channel, &name).await as usize,
            EVENTS,
            "every event queued"
        );
        let _ = channel
            .queue_delete(name.as_str().into(), Default::default())
            .await;
    }
    (EVENTS as f64 / elapsed.as_secs_f64(), elapsed)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = broker::shared_url();
    let mut backends = vec![("SQLite", Backend::Sqlite)];
    if std::env::var(hrmesh_mesh::testing::POSTGRES_URL_VAR).is_ok() {
        backends.push(("PostgreSQL", Backend::Postgres));
    } else {
        eprintln!(
            "{} is not set: measuring SQLite only",
            hrmesh_mesh::testing::POSTGRES_URL_VAR
        );
    }
    println!("\n## the ledger's relay, {EVENTS} events, publisher confirms\n");
    println!("| database | broker | events/s | all published after |\n|---|---|---|---|");
    for (name, backend) in backends {
        for (queued, broker) in [
            (true, "durable queue, persistent"),
            (false, "no queue bound"),
        ] {
            let (rate, elapsed) = runtime.block_on(bench_backend(backend, &url, queued));
            println!(
                "| {name} | {broker} | {rate:.0} | {:.2} s |",
                elapsed.as_secs_f64()
            );
        }
    }
}
