//! A real RabbitMQ broker for tests: Debian's `rabbitmq-server`, run from a temporary directory
//! on free loopback ports, stopped and started again by the test (for outages mid-stream) and
//! killed when dropped. Tests that only need a broker use the one the test command started
//! ([`shared_url`]); starting one costs 7-15 s of two cores. [`Consumer`] reads what the relays
//! publish as an integrator's consumer would: a durable queue, acknowledged after recording,
//! deduplicated on the event id, reconnecting while the broker is away.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The variable naming the broker the test command started.
pub const AMQP_URL_VAR: &str = "HRMESH_TEST_AMQP_URL";

/// Where Debian installs the broker's start script (`/usr/sbin/rabbitmq-server` would switch to
/// the rabbitmq user and its /var/lib directories).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// How long a start may take at most.
const START_MAX: Duration = Duration::from_secs(90);
/// How long a stop may take before the broker is killed.
const STOP_MAX: Duration = Duration::from_secs(30);

/// The broker the test command started. Panics when it is unset: the broker suites must run,
/// never silently pass.
pub fn shared_url() -> String {
    std::env::var(AMQP_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{AMQP_URL_VAR} is not set: run the tests with `bash .ci/run`, which starts a \
             throwaway RabbitMQ, or point it at a broker you own (amqp://guest:guest@127.0.0.1:5672/%2f)"
        )
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A broker of this test's own.
pub struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    dist_port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker and waits until it speaks AMQP.
    pub async fn start() -> anyhow::Result<Self> {
        anyhow::ensure!(
            std::path::Path::new(SERVER).exists(),
            "{SERVER} is missing: install Debian's rabbitmq-server (the test command does)"
        );
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n")?;
        std::fs::write(dir.path().join("rabbitmq.conf"), "")?;
        std::fs::write(dir.path().join("rabbitmq-env.conf"), "")?;
        let mut broker = Self {
            dir,
            port: free_port()?,
            dist_port: free_port()?,
            child: None,
        };
        broker.restart().await?;
        Ok(broker)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` (guest may log in from loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the broker again on the same directory, ports and node name, so durable queues and
    /// persistent messages are there again; waits until it speaks AMQP.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the broker is running");
        let log = std::fs::File::create(self.path("stdout.log"))?;
        let mut command = Command::new(SERVER);
        command
            .env("HOME", self.dir.path())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_NODENAME",
                format!("hrmesh{}@localhost", self.port),
            )
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", self.path("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", self.path("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.path("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", self.path("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.path("log"))
            .env("RABBITMQ_PID_FILE", self.path("rabbit.pid"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: stopping it reaches the Erlang VM the script starts.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        self.child = Some(command.spawn().context("starting rabbitmq-server")?);
        let deadline = tokio::time::Instant::now() + START_MAX;
        while tokio::time::Instant::now() < deadline {
            if speaks_amqp(self.port).await {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                anyhow::bail!("rabbitmq-server exited with {status}: {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "rabbitmq-server did not answer within {START_MAX:?}: {}",
            self.log_tail()
        )
    }

    /// Stops the broker (SIGTERM to its process group, killed after 30 s) and waits until its
    /// port refuses connections.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(child.id(), "-TERM");
        let deadline = tokio::time::Instant::now() + STOP_MAX;
        loop {
            if child.try_wait()?.is_some() && !accepts(self.port).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                signal(child.id(), "-KILL");
                let _ = child.wait();
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.path("stdout.log")).unwrap_or_default();
        let start = text.len().saturating_sub(2_000);
        text[start..].to_owned()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-KILL");
            let _ = child.wait();
        }
    }
}

/// Sends `signal` to the process group `pid` leads.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pid}")])
        .status();
}

async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Whether the broker answers the AMQP 0-9-1 protocol header with a frame.
async fn speaks_amqp(port: u16) -> bool {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"AMQP\x00\x00\x09\x01").await?;
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await?;
        // 1: a METHOD frame (connection.start).
        Ok::<bool, std::io::Error>(first[0] == 1)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(true))
    )
}

/// What a consumer received: one AMQP message as the relay published it.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    /// The `cloudEvents:` headers without their prefix ("id", "type", …), as text.
    pub attributes: std::collections::BTreeMap<String, String>,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub persistent: bool,
    pub body: Vec<u8>,
}

/// A consumer as the README asks integrators to write one: a durable queue bound to every type
/// on the exchange, each message acknowledged after it was recorded, deduplicated on the
/// event id — and it connects again when the broker goes away. Counts what came twice.
pub struct Consumer {
    url: String,
    exchange: String,
    queue: String,
    connection: Option<(lapin::Connection, lapin::Consumer)>,
    /// Every distinct event, in the order it first arrived.
    pub events: Vec<Received>,
    seen: std::collections::HashSet<String>,
    /// Deliveries of an event already recorded.
    pub duplicates: usize,
}

/// How long an unused queue outlives its consumer on the broker.
const QUEUE_EXPIRES_MS: i64 = 10 * 60 * 1000;

impl Consumer {
    /// Declares `exchange` (as the relay does), a durable queue `queue` bound to every routing
    /// key on it, and starts consuming.
    pub async fn bind(url: &str, exchange: &str, queue: &str) -> anyhow::Result<Self> {
        let mut consumer = Self {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            queue: queue.to_owned(),
            connection: None,
            events: Vec::new(),
            seen: std::collections::HashSet::new(),
            duplicates: 0,
        };
        consumer.connect().await?;
        Ok(consumer)
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        use lapin::options::{
            BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
            QueueDeclareOptions,
        };
        use lapin::types::{AMQPValue, FieldTable};
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            lapin::Connection::connect(&self.url, lapin::ConnectionProperties::default()),
        )
        .await
        .context("connecting to the broker timed out")??;
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
        channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await?;
        channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel.basic_qos(200, BasicQosOptions::default()).await?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "hrmesh-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.connection = Some((connection, consumer));
        Ok(())
    }

    /// Records deliveries until `done` holds or `within` has passed; connects again (every
    /// 200 ms) while the broker is away. Answers whether `done` held.
    pub async fn until(&mut self, within: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !done(self) {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            if self.connection.is_none() && self.connect().await.is_err() {
                self.connection = None;
                tokio::time::sleep(Duration::from_millis(200).min(deadline - now)).await;
                continue;
            }
            let Some((_, consumer)) = self.connection.as_mut() else {
                continue;
            };
            let wait = Duration::from_millis(100).min(deadline - now);
            match tokio::time::timeout(wait, tokio_stream::StreamExt::next(consumer)).await {
                Err(_) => {}
                Ok(Some(Ok(delivery))) => {
                    self.record(&delivery);
                    if delivery
                        .ack(lapin::options::BasicAckOptions::default())
                        .await
                        .is_err()
                    {
                        // Unacknowledged: the broker delivers it again, counted as a duplicate.
                        self.connection = None;
                    }
                }
                Ok(Some(Err(_)) | None) => self.connection = None,
            }
        }
        true
    }

    fn record(&mut self, delivery: &lapin::message::Delivery) {
        let mut attributes = std::collections::BTreeMap::new();
        if let Some(headers) = delivery.properties.headers() {
            for (name, value) in headers.inner() {
                if let Some(attribute) = name.as_str().strip_prefix("cloudEvents:") {
                    let text = match value {
                        lapin::types::AMQPValue::LongString(text) => text.to_string(),
                        other => format!("{other:?}"),
                    };
                    attributes.insert(attribute.to_owned(), text);
                }
            }
        }
        let id = attributes.get("id").cloned().unwrap_or_default();
        if !self.seen.insert(id) {
            self.duplicates += 1;
            return;
        }
        self.events.push(Received {
            routing_key: delivery.routing_key.to_string(),
            attributes,
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(ToString::to_string),
            content_type: delivery
                .properties
                .content_type()
                .as_ref()
                .map(ToString::to_string),
            persistent: *delivery.properties.delivery_mode() == Some(2),
            body: delivery.data.clone(),
        });
    }

    /// The distinct event ids received.
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.seen.iter().cloned().collect()
    }

    /// Closes the connection (the durable queue stays until it expires).
    pub async fn close(mut self) {
        if let Some((connection, _)) = self.connection.take() {
            let _ = connection.close(200, "done".into()).await;
        }
    }
}
