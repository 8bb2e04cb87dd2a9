//! `hrmesh`: serve one hrmesh service, or bring up the whole mesh on the embedded defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hrmesh_kit::telemetry::{self, LogFormat};
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};

#[derive(Debug, Parser)]
#[command(
    name = "hrmesh",
    version,
    about = "The hrmesh HR service mesh: a saga orchestrator and its participants over gRPC."
)]
struct Cli {
    /// How log lines are written (filter them with RUST_LOG, e.g. RUST_LOG=debug).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true, env = "HRMESH_LOG_FORMAT")]
    log_format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one service.
    #[command(subcommand)]
    Serve(Service),
    /// Start every service of the mesh in this process on its default port, on embedded SQLite
    /// databases under --data-dir, and print the endpoints. Today the mesh is the ledger
    /// (127.0.0.1:50052); the orchestrator, performance and notification services are not built yet.
    Up(UpArgs),
}

#[derive(Debug, Subcommand)]
enum Service {
    /// Serve hrmesh.ledger.v1.LedgerService: time-off policies, assignments and the append-only
    /// ledger of accruals, adjustments, holds (post / void / expiry) and reversals.
    ///
    /// Configuration is read from built-in defaults, then --config (TOML), then environment
    /// variables HRMESH_LEDGER_<FIELD> (listen, data_dir, database_url, cors_allowed_origins,
    /// hold_sweep_interval_secs), then these flags. Without a database URL the ledger keeps a SQLite
    /// file at <data-dir>/ledger.sqlite. Health (grpc.health.v1) and reflection are served on the same
    /// port, as is grpc-web.
    Ledger(LedgerArgs),
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// A TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (gRPC and grpc-web).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite database.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (postgres://user:password@host:port/db or sqlite://path?mode=rwc); overrides --data-dir.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// A browser origin allowed to call over grpc-web (repeatable).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
}

#[derive(Debug, Args)]
struct LedgerArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// How often undecided holds past their expiry are expired, in seconds.
    #[arg(long, value_name = "SECS")]
    hold_sweep_interval: Option<u64>,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Directory for the services' embedded SQLite databases.
    #[arg(long, value_name = "DIR", default_value = ".data")]
    data_dir: PathBuf,
}

impl LedgerArgs {
    fn into_config(self) -> anyhow::Result<LedgerConfig> {
        let mut config = hrmesh_kit::config::load(
            LedgerConfig::default(),
            self.common.config.as_deref(),
            "HRMESH_LEDGER_",
        )
        .context("loading the ledger configuration")?;
        if let Some(listen) = self.common.listen {
            config.common.listen = listen;
        }
        if let Some(data_dir) = self.common.data_dir {
            config.common.data_dir = data_dir;
        }
        if let Some(url) = self.common.database_url {
            config.common.database_url = Some(url);
        }
        if !self.common.cors_origins.is_empty() {
            config.common.cors_allowed_origins = self.common.cors_origins;
        }
        if let Some(secs) = self.hold_sweep_interval {
            config.hold_sweep_interval_secs = secs;
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(match cli.log_format {
        Format::Text => LogFormat::Text,
        Format::Json => LogFormat::Json,
    });
    match cli.command {
        Command::Serve(Service::Ledger(args)) => {
            let ledger = LedgerServer::start(&args.into_config()?).await?;
            run_until_shutdown(vec![("ledger", ledger)]).await
        }
        Command::Up(args) => {
            let mut ledger_config = LedgerConfig::default();
            ledger_config.common.data_dir = args.data_dir;
            let ledger = LedgerServer::start(&ledger_config).await?;
            println!("hrmesh is up (Ctrl-C stops it):");
            println!(
                "  ledger        grpc://{}   hrmesh.ledger.v1.LedgerService",
                ledger.addr()
            );
            run_until_shutdown(vec![("ledger", ledger)]).await
        }
    }
}

async fn run_until_shutdown(mut services: Vec<(&'static str, LedgerServer)>) -> anyhow::Result<()> {
    let ended_on_its_own = futures_util::future::select_all(
        services
            .iter_mut()
            .map(|(name, service)| Box::pin(async move { (*name, service.server.task().await) })),
    );
    tokio::select! {
        () = hrmesh_kit::server::shutdown_signal() => {
            tracing::info!("shutting down");
        }
        ((name, result), _, _) = ended_on_its_own => {
            // A server that ends without being asked to has failed.
            anyhow::bail!("the {name} server stopped unexpectedly: {result:?}");
        }
    }
    for (name, service) in services {
        service
            .stop()
            .await
            .with_context(|| format!("stopping the {name} server"))?;
    }
    Ok(())
}
