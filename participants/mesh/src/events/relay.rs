//! The relay: one worker per service process. While it holds its database's `relay` lease it
//! numbers newly committed events (where the writers do not number their own), publishes numbered
//! ones to RabbitMQ in position order with publisher confirms, marks them published only after the
//! broker confirmed them, and removes events past the retention period. Without a broker it only
//! numbers and removes. Whether it holds the lease or not, it tells this process's watchers when
//! new events are numbered.
//!
//! It costs the writers little: it lingers a moment after a wake-up so a burst of effects is
//! numbered and published in one transaction, and it renews its lease only once half of it has
//! run, so a round with nothing to number writes nothing.
//!
//! Delivery is at least once: a relay killed between the broker's confirm and its mark, or one
//! whose lease ran out mid-batch, publishes those events again; consumers deduplicate on the
//! event id. Order: events are published in position order on one channel, so the events of one
//! aggregate (which commit one after the other) arrive in the order they committed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hrmesh_storage::outbox::{Notify, OutboxStore, StoredEvent};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the relay works; the defaults suit production.
#[derive(Debug, Clone)]
pub struct RelaySpec {
    /// The CloudEvents source, "/hrmesh/ledger".
    pub source: String,
    pub exchange: String,
    pub amqp_url: Option<String>,
    pub retention: Duration,
    /// How long the lease lasts without renewal: another replica's relay takes over after it.
    pub lease: Duration,
    /// How often the relay looks for work when nothing wakes it (events written by another
    /// replica, an expired lease to take over).
    pub poll: Duration,
    /// How long the relay waits after a write wakes it, so the events of a burst go together.
    pub linger: Duration,
    /// Events numbered, or published, per transaction.
    pub batch: u64,
    /// The longest wait between attempts while the broker or the database is away.
    pub backoff_max: Duration,
}

impl Default for RelaySpec {
    fn default() -> Self {
        Self {
            source: String::new(),
            exchange: super::DEFAULT_EXCHANGE.to_owned(),
            amqp_url: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            linger: Duration::from_millis(10),
            batch: 500,
            backoff_max: Duration::from_secs(15),
        }
    }
}

/// Rounds of numbering or publishing per wake-up, so the lease is renewed between them.
const ROUNDS_MAX: usize = 20;
/// Published batches waiting for their confirms at once.
const IN_FLIGHT_MAX: usize = 4;
/// How often published events past the retention period are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub struct Relay {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts the relay; `numbered` is told whenever it numbered new events.
    pub fn start(
        spec: RelaySpec,
        store: Arc<dyn OutboxStore>,
        written: Arc<Notify>,
        numbered: watch::Sender<()>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let worker = Worker {
            holder: format!("relay-{}", uuid::Uuid::now_v7()),
            spec,
            store,
            numbered,
            head: 0,
            lease_until: None,
            publisher: None,
        };
        let task = tokio::spawn(worker.run(written, stopped));
        Self { stop, task }
    }

    /// Stops the relay after the round it is in (bounded by the broker's and database's
    /// timeouts; cut after 10 s).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

struct Worker {
    holder: String,
    spec: RelaySpec,
    store: Arc<dyn OutboxStore>,
    numbered: watch::Sender<()>,
    /// The newest position this process's watchers were told of.
    head: i64,
    /// Until when this worker holds the lease, as it last took or renewed it.
    lease_until: Option<chrono::DateTime<Utc>>,
    publisher: Option<Publisher>,
}

/// Why a round stopped early.
enum Trouble {
    Store(anyhow::Error),
    Broker(anyhow::Error),
}

impl Worker {
    async fn run(mut self, written: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        let mut last_prune: Option<tokio::time::Instant> = None;
        // A round that spent its budget goes on at once (after renewing the lease).
        let mut more = false;
        loop {
            let wait = if failures == 0 {
                self.spec.poll
            } else {
                backoff(failures, self.spec.backoff_max)
            };
            if !more {
                let woken = tokio::select! {
                    _ = written.notified() => true,
                    _ = tokio::time::sleep(wait) => false,
                    _ = stopped.changed() => false,
                };
                if woken && failures == 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(self.spec.linger) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
            more = false;
            if *stopped.borrow() {
                break;
            }
            match self.round().await {
                Ok(spent) => {
                    failures = 0;
                    more = spent;
                }
                Err(Trouble::Store(err)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        error = format!("{err:#}"),
                        failures,
                        "the event relay cannot reach its database; retrying"
                    );
                }
                Err(Trouble::Broker(err)) => {
                    failures = failures.saturating_add(1);
                    self.publisher = None;
                    tracing::warn!(
                        error = format!("{err:#}"),
                        failures,
                        "the event relay cannot publish; events wait in the outbox"
                    );
                }
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(tokio::time::Instant::now());
                self.prune().await;
            }
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.close().await;
        }
    }

    /// Takes or renews the lease, numbers what is new, publishes what is numbered. True when it
    /// stopped at its budget with work left.
    async fn round(&mut self) -> Result<bool, Trouble> {
        if !self.lease().await.map_err(Trouble::Store)? {
            return self.tell_watchers().await.map(|()| false);
        }
        let mut spent = true;
        for _ in 0..ROUNDS_MAX {
            let numbered = self
                .store
                .sequence(&self.holder, Utc::now(), self.spec.batch)
                .await
                .map_err(Trouble::Store)?;
            if numbered < self.spec.batch {
                spent = false;
                break;
            }
        }
        self.tell_watchers().await?;
        if self.spec.amqp_url.is_none() {
            return Ok(spent);
        }
        Ok(self.publish_round().await? || spent)
    }

    /// Takes the lease, or renews it once half of it has run. True while this worker holds it.
    async fn lease(&mut self) -> anyhow::Result<bool> {
        let now = Utc::now();
        let length = chrono::Duration::from_std(self.spec.lease).unwrap_or_default();
        if self
            .lease_until
            .is_some_and(|until| now < until - length / 2)
        {
            return Ok(true);
        }
        let until = now + length;
        let held = self.store.acquire(&self.holder, now, until).await?;
        self.lease_until = held.then_some(until);
        Ok(held)
    }

    /// Tells this process's watchers when events were numbered since it last told them.
    async fn tell_watchers(&mut self) -> Result<(), Trouble> {
        let head = self.store.head().await.map_err(Trouble::Store)?;
        if head != self.head {
            self.head = head;
            self.numbered.send_replace(());
        }
        Ok(())
    }

    /// Publishes numbered events in position order, keeping up to [`IN_FLIGHT_MAX`] batches
    /// waiting for the broker's confirms while the next one is sent (a confirm waits for the
    /// broker's disk, so one batch at a time leaves the link idle), and marks each batch's
    /// confirmed prefix published, in order. True when it stopped at its budget.
    async fn publish_round(&mut self) -> Result<bool, Trouble> {
        let source = self.spec.source.clone();
        let mut in_flight: std::collections::VecDeque<Sent> = std::collections::VecDeque::new();
        for _ in 0..ROUNDS_MAX {
            let batch = match in_flight.back() {
                None => self.store.unpublished(self.spec.batch).await,
                Some(sent) => self
                    .store
                    .after(sent.last, None, self.spec.batch)
                    .await
                    .map(|events| events.into_iter().filter(|e| !e.published).collect()),
            }
            .map_err(Trouble::Store)?;
            let drained = (batch.len() as u64) < self.spec.batch;
            if !batch.is_empty() {
                let publisher = self.publisher().await.map_err(Trouble::Broker)?;
                in_flight.push_back(
                    publisher
                        .send(&source, &batch)
                        .await
                        .map_err(Trouble::Broker)?,
                );
            }
            while in_flight.len() > IN_FLIGHT_MAX || (drained && !in_flight.is_empty()) {
                let sent = in_flight.pop_front().expect("a batch in flight");
                if !self.settle(sent).await? {
                    return Ok(false);
                }
            }
            if drained {
                return Ok(false);
            }
        }
        // The round's budget is spent: settle what is in flight, then renew the lease.
        while let Some(sent) = in_flight.pop_front() {
            if !self.settle(sent).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Waits for `sent`'s confirms and marks its confirmed prefix. False when the lease was lost.
    async fn settle(&mut self, sent: Sent) -> Result<bool, Trouble> {
        let last = sent.last;
        let confirmed = sent.confirmed().await.map_err(Trouble::Broker)?;
        if let Some(through) = confirmed {
            let kept = self
                .store
                .mark_published(&self.holder, Utc::now(), through)
                .await
                .map_err(Trouble::Store)?;
            if !kept {
                self.lease_until = None;
                tracing::warn!("the relay lost its lease mid-batch; another replica goes on");
                return Ok(false);
            }
        }
        if confirmed != Some(last) {
            return Err(Trouble::Broker(anyhow::anyhow!(
                "the broker refused an event after position {confirmed:?}"
            )));
        }
        Ok(true)
    }

    async fn publisher(&mut self) -> anyhow::Result<&Publisher> {
        if self.publisher.as_ref().is_none_or(|p| !p.is_connected()) {
            let url = self.spec.amqp_url.as_deref().unwrap_or_default();
            self.publisher = Some(Publisher::connect(url, &self.spec.exchange).await?);
            tracing::info!(exchange = %self.spec.exchange, "the event relay is connected to the broker");
        }
        self.publisher
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no broker connection"))
    }

    async fn prune(&self) {
        let before =
            Utc::now() - chrono::Duration::from_std(self.spec.retention).unwrap_or_default();
        let unpublished_too = self.spec.amqp_url.is_none();
        for _ in 0..ROUNDS_MAX {
            match self
                .store
                .prune(before, unpublished_too, self.spec.batch)
                .await
            {
                Ok(removed) if removed == self.spec.batch => continue,
                Ok(removed) => {
                    if removed > 0 {
                        tracing::info!(removed, "removed events past the retention period");
                    }
                    return;
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "removing old events failed; retrying later"
                    );
                    return;
                }
            }
        }
    }
}

/// 100 ms doubling per failure, up to `max`.
fn backoff(failures: u32, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_millis(100u64 << exponent).min(max)
}

/// One confirmed channel on the broker.
struct Publisher {
    connection: Connection,
    channel: lapin::Channel,
    exchange: ShortString,
}

impl Publisher {
    async fn connect(url: &str, exchange: &str) -> anyhow::Result<Self> {
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connecting to the broker timed out"))??;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            connection,
            channel,
            exchange: exchange.into(),
        })
    }

    fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Publishes `events` in order; their confirms are awaited with [`Sent::confirmed`].
    ///
    /// lapin queues a message's frames on the first poll of `basic_publish` and then waits until
    /// its I/O loop has written them. Each publish is polled once, in order, before any is awaited,
    /// so the frames go out in order and the loop writes many per wake-up instead of one.
    async fn send(&self, source: &str, events: &[StoredEvent]) -> anyhow::Result<Sent> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let (body, properties) = message(source, event);
            let channel = self.channel.clone();
            let (exchange, routing_key) = (self.exchange.clone(), event.event_type.clone());
            let mut publish = Box::pin(async move {
                channel
                    .basic_publish(
                        exchange,
                        routing_key.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties,
                    )
                    .await
            });
            // The first poll queues the frames (and takes the delivery tag) in this order.
            let ready =
                std::future::poll_fn(|cx| std::task::Poll::Ready(publish.as_mut().poll(cx))).await;
            pending.push((event.position, ready, publish));
        }
        let mut confirms = Vec::with_capacity(pending.len());
        for (position, ready, publish) in pending {
            let confirm = match ready {
                std::task::Poll::Ready(done) => done?,
                std::task::Poll::Pending => publish.await?,
            };
            confirms.push((position, confirm));
        }
        Ok(Sent {
            last: events.last().map_or(0, |event| event.position),
            confirms,
        })
    }

    async fn close(self) {
        let _ = self.connection.close(200, "relay stopping".into()).await;
    }
}

/// A batch published and waiting for its confirms.
struct Sent {
    /// The position of its last event.
    last: i64,
    confirms: Vec<(i64, lapin::PublisherConfirm)>,
}

impl Sent {
    /// Waits for the broker's confirms (30 s at most each). Answers the position of the last
    /// event of the longest confirmed prefix (`None` when the first was refused).
    async fn confirmed(self) -> anyhow::Result<Option<i64>> {
        let mut confirmed = None;
        for (position, confirm) in self.confirms {
            let confirmation = tokio::time::timeout(Duration::from_secs(30), confirm)
                .await
                .map_err(|_| anyhow::anyhow!("the broker did not confirm in 30 s"))??;
            if !confirmation.is_ack() {
                break;
            }
            confirmed = Some(position);
        }
        Ok(confirmed)
    }
}

/// The AMQP message of `event` in CloudEvents' binary content mode: the body is the data, the
/// attributes are `cloudEvents:` headers, repeated in the message properties.
pub fn message(source: &str, event: &StoredEvent) -> (Vec<u8>, BasicProperties) {
    let any = prost_types::Any::decode(event.data.as_slice()).unwrap_or_default();
    let schema = any
        .type_url
        .rsplit('/')
        .next()
        .map(|name| format!("proto:{name}"))
        .unwrap_or_default();
    let time = event
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut headers = FieldTable::default();
    for (name, value) in [
        ("specversion", "1.0"),
        ("id", event.id.as_str()),
        ("source", source),
        ("type", event.event_type.as_str()),
        ("subject", event.subject.as_str()),
        ("time", time.as_str()),
        ("datacontenttype", "application/protobuf"),
        ("dataschema", schema.as_str()),
    ] {
        headers.insert(
            format!("cloudEvents:{name}").into(),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/protobuf".into())
        .with_message_id(event.id.as_str().into())
        .with_type(event.event_type.as_str().into())
        .with_app_id(source.into())
        .with_timestamp(u64::try_from(event.time.timestamp()).unwrap_or_default())
        .with_headers(headers);
    (any.value, properties)
}
