//! A real RabbitMQ broker for tests: Debian's `rabbitmq-server`, run from a temporary directory
//! on free loopback ports, stopped and started again by the test (for outages mid-stream) and
//! killed when dropped. Tests that only need a broker use the one the test command started
//! ([`shared_url`]); starting one costs 7-15 s of two cores.

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
