//! `hrmesh`: serve one hrmesh service, bring up the whole mesh on the embedded defaults, or start,
//! follow and operate sagas.

mod demo;
mod saga_cli;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_mesh::auth::{ALL_PERMISSIONS, ActorType, Claims, Minter, SERVICES};
use hrmesh_mesh::config::audience;
use hrmesh_mesh::server::RunningServer;
use hrmesh_mesh::telemetry::{self, LogFormat, TelemetryConfig};
use hrmesh_mesh::tls::TlsConfig;
use hrmesh_mesh::tls::dev::{CA_FILE as DEV_CA_FILE, DevPki};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_orchestrator_server::{OrchestratorConfig, OrchestratorServer};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer};

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
    /// Export traces over OTLP/gRPC to this collector (e.g. http://127.0.0.1:4317); without it no
    /// spans are recorded or exported.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    otlp_endpoint: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (one endpoint per process; under `up` it
    /// covers all four services, told apart by the `service` label).
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = "HRMESH_METRICS_LISTEN"
    )]
    metrics_listen: Option<SocketAddr>,
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
    ///
    /// Every service also reads a [crypto] table (keyring, keyring_file, rewrap_interval_secs) and
    /// a [retention] table: archive_dir (default <data-dir>/archive on the embedded database; a
    /// service on PostgreSQL or MongoDB archives only when it is set), interval_secs (default
    /// 86400, 0 off) and [retention.periods] (default_days 2557, audit_days 2557, inbox_days 400,
    /// kinds.<name> for any kind). Records past their period are written as JSON Lines with a
    /// manifest and checksums to <archive_dir>/<service>/, then removed.
    #[command(subcommand)]
    Serve(Service),
    /// Start the whole mesh in this process, each service on its default port (or from
    /// --base-port on) with an embedded SQLite database under --data-dir, and print the
    /// endpoints: the saga orchestrator
    /// (127.0.0.1:50051), the ledger (50052), the performance service (50053, sending its reminders
    /// through the notification service) and the notification service (50054, in-app channel;
    /// email and webhooks need configuration). Prints the operator console's address, carrying a
    /// development admin token good for an hour (not with --tls: browsers present no client
    /// certificate).
    Up(UpArgs),
    /// Start, inspect, follow and operate sagas (talks to the orchestrator over gRPC). A followed
    /// saga sets the exit code: 0 completed, 3 compensated, 4 stuck, 5 still running; 1 is an
    /// error, 2 a command line that does not parse.
    Saga(saga_cli::SagaArgs),
    /// Demonstration data for the README's walkthrough on a running `hrmesh up`.
    Demo(demo::DemoArgs),
    /// Print a shell completion script: `hrmesh completions bash > /etc/bash_completion.d/hrmesh`
    /// (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Ask a service whether it is serving (grpc.health.v1) and exit non-zero unless it is: the
    /// container health check.
    Probe(ProbeArgs),
    /// Mint a bearer token signed with an HS256 development key (`hrmesh up` writes one to
    /// <data-dir>/dev-hs256.key) and print it. Production tokens come from your identity provider
    /// and are verified against its JWKS.
    Token(TokenArgs),
    /// Write development keys into a directory, keeping any already there: the HS256 signing key
    /// (dev-hs256.key), the keyring that wraps the data keys of personal data (keyring.toml) and,
    /// with --tls-for, a development CA (ca.pem) with a certificate and key per name (<name>.pem,
    /// <name>.key) valid for that DNS name, localhost, 127.0.0.1 and ::1, as server and as client.
    /// Key files are readable by their owner only. For development and the compose stack;
    /// production keys and certificates come from your own secret store, identity provider and CA.
    Keygen(KeygenArgs),
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Where the files are written.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// A name (service host name) to issue a TLS certificate for (repeatable).
    #[arg(long = "tls-for", value_name = "NAME")]
    tls_for: Vec<String>,
    /// Add a new version to the keyring (keyring.toml) and make it current: new writes use it at
    /// once, each service's re-wrap job moves its data keys to it, and older versions stay
    /// readable until you delete them from the file.
    #[arg(long)]
    rotate_keyring: bool,
}

/// Writes what is missing (see [`DevPki::ensure`]).
fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = args.out_dir.join("dev-hs256.key");
    let existed = key.exists();
    hrmesh_mesh::auth::ensure_dev_key(&key)?;
    println!(
        "{} {}",
        if existed { "kept" } else { "wrote" },
        key.display()
    );
    let keyring = args.out_dir.join(hrmesh_mesh::crypto::DEVELOPMENT_KEYRING);
    if keyring.exists() {
        if args.rotate_keyring {
            let text = std::fs::read_to_string(&keyring)
                .with_context(|| format!("reading {}", keyring.display()))?;
            let rotated = hrmesh_crypto::rotate(&text)?;
            let next = keyring.with_extension("toml.new");
            let _ = std::fs::remove_file(&next);
            hrmesh_mesh::crypto::write_private(&next, &rotated)?;
            std::fs::rename(&next, &keyring)
                .with_context(|| format!("replacing {}", keyring.display()))?;
            let current = hrmesh_crypto::Keyring::from_toml(&rotated)?.current();
            println!(
                "rotated {}: version {current} is current",
                keyring.display()
            );
        } else {
            println!("kept {}", keyring.display());
        }
    } else {
        hrmesh_mesh::crypto::write_private(&keyring, &hrmesh_crypto::development_keyring())?;
        println!("wrote {}", keyring.display());
    }
    if args.tls_for.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = args.tls_for.iter().map(String::as_str).collect();
    let (_, new) = DevPki::ensure(&args.out_dir, &names)?;
    if new {
        println!(
            "wrote a new development CA {} and certificates for {}",
            args.out_dir.join(DEV_CA_FILE).display(),
            names.join(", ")
        );
    } else {
        println!("kept the CA and certificates in {}", args.out_dir.display());
    }
    Ok(())
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The HS256 key file.
    #[arg(long, value_name = "FILE", default_value = ".data/dev-hs256.key")]
    key_file: PathBuf,
    /// Whom the token speaks for: an employee id, or a service name.
    #[arg(long)]
    subject: String,
    /// employee, manager, admin or system.
    #[arg(long, default_value = "employee")]
    actor: ActorType,
    /// A permission such as performance.read or saga.create (repeatable); `all` grants every one.
    #[arg(long = "permission", value_name = "PERMISSION")]
    permissions: Vec<String>,
    /// An employee whose records the subject may read as their manager (repeatable).
    #[arg(long = "manages", value_name = "EMPLOYEE_ID")]
    manages: Vec<String>,
    /// The services the token is good for (repeatable; default: all four).
    #[arg(long = "audience", value_name = "AUDIENCE")]
    audiences: Vec<String>,
    #[arg(long, default_value = hrmesh_mesh::auth::DEFAULT_ISSUER)]
    issuer: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    ttl_secs: u64,
}

async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let minter = Minter::hs256_file(&args.key_file).await?;
    let permissions = if args.permissions.iter().any(|perm| perm == "all") {
        all_permissions()
    } else {
        for perm in &args.permissions {
            anyhow::ensure!(
                ALL_PERMISSIONS.contains(&perm.as_str()),
                "unknown permission {perm:?}; known: {}",
                ALL_PERMISSIONS.join(", ")
            );
        }
        args.permissions
    };
    let audiences = if args.audiences.is_empty() {
        every_audience()
    } else {
        args.audiences
    };
    let now = hrmesh_mesh::auth::now_secs();
    let jwt = minter.mint(&Claims {
        iss: args.issuer,
        sub: args.subject,
        aud: audiences,
        exp: now + args.ttl_secs,
        iat: now,
        act: args.actor,
        perms: permissions,
        manages: args.manages,
    })?;
    println!("{jwt}");
    Ok(())
}

/// TLS for the calls this command makes to an `https://` URL.
#[derive(Debug, Args)]
pub(crate) struct ClientTlsArgs {
    /// PEM CA certificates to trust for an https:// service.
    #[arg(long, global = true, value_name = "FILE", env = "HRMESH_TLS_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate to present to a service that requires mutual TLS.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "HRMESH_TLS_CERT_FILE",
        requires = "key_file"
    )]
    cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "HRMESH_TLS_KEY_FILE",
        requires = "cert_file"
    )]
    key_file: Option<PathBuf>,
}

impl ClientTlsArgs {
    pub(crate) fn config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            ca_file: self.ca_file.clone(),
            require_client_cert: false,
        }
    }
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// The service's address.
    #[arg(default_value = "http://127.0.0.1:50051")]
    url: String,
    /// The gRPC service to ask about (e.g. hrmesh.ledger.v1.LedgerService); empty asks about the
    /// server as a whole.
    #[arg(long, default_value = "")]
    service: String,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let limit = std::time::Duration::from_secs(args.timeout_secs.max(1));
    let channel = args
        .tls
        .config()
        .endpoint(&args.url)?
        .connect_timeout(limit)
        .timeout(limit)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.url))?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .with_context(|| format!("asking {} for its health", args.url))?
        .into_inner()
        .status();
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{} is {}",
        args.url,
        status.as_str_name()
    );
    println!("{} is serving", args.url);
    Ok(())
}

#[derive(Debug, Subcommand)]
enum Service {
    /// Serve hrmesh.ledger.v1.LedgerService: time-off policies, assignments and the append-only
    /// ledger of accruals, adjustments, holds (post / void / expiry), carry-over expiries and
    /// reversals, with accrual freezes and assignment ends.
    ///
    /// A worker applies each policy's accrual rule (monthly, semi-monthly, biweekly or annual; in
    /// advance, on a period's first assigned day; the first and last periods prorated by the days
    /// assigned and not frozen; at most once per employee, policy and period; up to an optional
    /// maximum balance) and its carry-over cap (the balance above it expires at the policy year's
    /// end) up to today, at start and then every --accrual-run-interval seconds; RunAccruals does the
    /// same up to any day, for backfills. FreezeAccruals freezes an employee's accruals under a
    /// policy over a date range (frozen days accrue nothing; accrual grants inside it are refused
    /// with ACCRUALS_FROZEN); EndAssignments ends assignments, voiding later holds and withdrawing
    /// what accrued in advance for days after the end.
    ///
    /// Configuration is read from built-in defaults, then --config (TOML), then environment
    /// variables HRMESH_LEDGER_<FIELD> (listen, data_dir, database_url, cors_allowed_origins,
    /// hold_sweep_interval_secs, accrual_run_interval_secs, notification_url; the [identity] table
    /// signs the expiry notices, e.g. HRMESH_LEDGER_IDENTITY__HS256_KEY_FILE), then these flags. With
    /// a notification URL, an employee whose hold expires undecided is told (time_off.expired). Without a database URL the ledger keeps a SQLite
    /// file at <data-dir>/ledger.sqlite. Health (grpc.health.v1) and reflection are served on the same
    /// port, as is grpc-web.
    Ledger(LedgerArgs),
    /// Serve hrmesh.notification.v1.NotificationService: notifications over in-app, email (SMTP)
    /// and signed webhook channels, delivered in the background with retries, exponential backoff
    /// and jitter, dead letters and redrive; per-recipient preferences with quiet hours.
    ///
    /// Configuration: defaults, then --config (TOML), then HRMESH_NOTIFICATION_<FIELD> variables
    /// (listen, data_dir, database_url, mongodb_url, mongodb_database, cors_allowed_origins,
    /// worker_enabled, worker_poll_ms, worker_batch; nested tables such as smtp and webhook as
    /// HRMESH_NOTIFICATION_SMTP__HOST), then these flags. Notifications are kept in MongoDB when a
    /// MongoDB URL is given, otherwise in <data-dir>/notification.sqlite (or --database-url).
    /// The email channel needs an [smtp] table (host, port, security = none|starttls|tls, username,
    /// password, from); the webhook channel a [webhook] table (url, secret, timeout_ms).
    Notification(NotificationArgs),
    /// Serve hrmesh.performance.v1.PerformanceService: reviews (annual, semi-annual, quarterly,
    /// probation) through draft -> self-assessment -> manager review -> submitted -> completed ->
    /// acknowledged, goals with a progress history, PIPs with check-ins and outcomes, 360 feedback
    /// (anonymous givers never revealed), closing and reopening an employee's records, and
    /// per-employee limits (50 reviews, 100 goals, 200 feedback entries).
    ///
    /// Configuration: defaults, then --config (TOML), then HRMESH_PERFORMANCE_<FIELD> variables
    /// (listen, data_dir, database_url, cors_allowed_origins, notification_url,
    /// reminder_interval_secs, review_reminder_days, pip_reminder_days), then these flags. Without
    /// a database URL the service keeps a SQLite file at <data-dir>/performance.sqlite. With a
    /// notification URL it sends review deadline reminders (daily, from review_reminder_days
    /// before the due date, default 7) and PIP check-in reminders (once per check-in, within
    /// pip_reminder_days, default 7), each at most once even with several replicas.
    Performance(PerformanceArgs),
    /// Serve hrmesh.orchestrator.v1.SagaService: the saga orchestrator. Sagas (complete-review,
    /// request-time-off, decide-time-off, initiate-pip, conclude-pip, offboard-employee,
    /// onboard-employee, erase-personal-data) run
    /// step by step against the performance, ledger and notification services: outages are
    /// retried within a budget, a rejection before the pivot compensates in reverse order, and a
    /// durable log resumes every unfinished saga on start.
    ///
    /// Configuration: defaults, then --config (TOML), then HRMESH_ORCHESTRATOR_<FIELD> variables
    /// (listen, data_dir, database_url, cors_allowed_origins, performance_url, ledger_url,
    /// notification_url, replica_id, lease_secs, forward_budget_secs, forward_rounds,
    /// after_pivot_budget_secs, after_pivot_rounds, compensation_budget_secs,
    /// compensation_rounds, round_backoff_ms, round_backoff_max_ms, and the [resilience] table: attempt_timeout_ms,
    /// attempts, backoff_ms, backoff_max_ms, breaker_failure_rate, breaker_window,
    /// breaker_min_calls, breaker_open_ms, max_concurrent_calls; the [console] table: enabled,
    /// orchestrator_url, ledger_url, performance_url, notification_url, where the operator
    /// console at /console/ finds each service, empty for its own origin), then these flags. The
    /// saga log is <data-dir>/orchestrator.sqlite unless a database URL is given; replicas sharing one
    /// PostgreSQL log need distinct --replica-id values and take over each other's sagas when a
    /// lease (lease_secs, default 15) runs out.
    Orchestrator(OrchestratorArgs),
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
    /// How often scheduled accruals and carry-over expiries are applied up to today, in seconds
    /// (default 3600; the first run is at start, catching up what was missed; 0 turns it off).
    #[arg(long, value_name = "SECS")]
    accrual_run_interval: Option<u64>,
    /// The notification service employees are told through when their time-off hold expires
    /// (http://host:port); none tells nobody.
    #[arg(long, value_name = "URL")]
    notification_url: Option<String>,
}

#[derive(Debug, Args)]
struct NotificationArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A MongoDB URI (mongodb://host:port); notifications are stored there instead of SQL.
    #[arg(long, value_name = "URI")]
    mongodb_url: Option<String>,
}

#[derive(Debug, Args)]
struct PerformanceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The notification service reminders go through (http://host:port); none sends no reminders.
    #[arg(long, value_name = "URL")]
    notification_url: Option<String>,
    /// Seconds between reminder runs (0 turns reminders off).
    #[arg(long, value_name = "SECS")]
    reminder_interval: Option<u64>,
}

#[derive(Debug, Args)]
struct OrchestratorArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The performance service (http://host:port).
    #[arg(long, value_name = "URL")]
    performance_url: Option<String>,
    /// The ledger service (http://host:port).
    #[arg(long, value_name = "URL")]
    ledger_url: Option<String>,
    /// The notification service (http://host:port).
    #[arg(long, value_name = "URL")]
    notification_url: Option<String>,
    /// This replica's name in saga leases (default: a fresh one per start).
    #[arg(long, value_name = "NAME")]
    replica_id: Option<String>,
    /// Seconds a replica owns a saga without renewing its lease.
    #[arg(long, value_name = "SECS")]
    lease_secs: Option<u64>,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Directory for the services' embedded SQLite databases and the development signing key
    /// (dev-hs256.key, generated on first start).
    #[arg(long, value_name = "DIR", default_value = ".data")]
    data_dir: PathBuf,
    /// Serve every service over mutual TLS, with a development CA and certificates generated
    /// under <data-dir>/tls on first use (client.pem and client.key are for your own clients).
    #[arg(long)]
    tls: bool,
    /// The orchestrator's port on 127.0.0.1; the ledger, performance and notification services
    /// take the next three.
    #[arg(long, value_name = "PORT", default_value_t = hrmesh_orchestrator_server::DEFAULT_PORT,
          env = "HRMESH_UP_BASE_PORT", value_parser = clap::value_parser!(u16).range(1..=65532))]
    base_port: u16,
}

/// The certificate names of `hrmesh up --tls`: the four services and one for the user's clients.
const UP_TLS_NAMES: [&str; 5] = [
    "ledger",
    "notification",
    "performance",
    "orchestrator",
    "client",
];

impl CommonArgs {
    /// Flags win over the file and the environment.
    fn apply(self, config: &mut hrmesh_mesh::config::CommonConfig) {
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(url) = self.database_url {
            config.database_url = Some(url);
        }
        if !self.cors_origins.is_empty() {
            config.cors_allowed_origins = self.cors_origins;
        }
    }
}

impl LedgerArgs {
    fn into_config(self) -> anyhow::Result<LedgerConfig> {
        let mut config = hrmesh_mesh::config::load(
            LedgerConfig::default(),
            self.common.config.as_deref(),
            "HRMESH_LEDGER_",
        )
        .context("loading the ledger configuration")?;
        self.common.apply(&mut config.common);
        if let Some(secs) = self.hold_sweep_interval {
            config.hold_sweep_interval_secs = secs;
        }
        if let Some(secs) = self.accrual_run_interval {
            config.accrual_run_interval_secs = secs;
        }
        if let Some(url) = self.notification_url {
            config.notification_url = Some(url);
        }
        Ok(config)
    }
}

impl NotificationArgs {
    fn into_config(self) -> anyhow::Result<NotificationConfig> {
        let mut config = hrmesh_mesh::config::load(
            NotificationConfig::default(),
            self.common.config.as_deref(),
            "HRMESH_NOTIFICATION_",
        )
        .context("loading the notification configuration")?;
        self.common.apply(&mut config.common);
        if let Some(url) = self.mongodb_url {
            config.mongodb_url = Some(url);
        }
        Ok(config)
    }
}

impl PerformanceArgs {
    fn into_config(self) -> anyhow::Result<PerformanceConfig> {
        let mut config = hrmesh_mesh::config::load(
            PerformanceConfig::default(),
            self.common.config.as_deref(),
            "HRMESH_PERFORMANCE_",
        )
        .context("loading the performance configuration")?;
        self.common.apply(&mut config.common);
        if let Some(url) = self.notification_url {
            config.notification_url = Some(url);
        }
        if let Some(secs) = self.reminder_interval {
            config.reminder_interval_secs = secs;
        }
        Ok(config)
    }
}

impl OrchestratorArgs {
    fn into_config(self) -> anyhow::Result<OrchestratorConfig> {
        let mut config = hrmesh_mesh::config::load(
            OrchestratorConfig::default(),
            self.common.config.as_deref(),
            "HRMESH_ORCHESTRATOR_",
        )
        .context("loading the orchestrator configuration")?;
        self.common.apply(&mut config.common);
        if let Some(url) = self.performance_url {
            config.performance_url = url;
        }
        if let Some(url) = self.ledger_url {
            config.ledger_url = url;
        }
        if let Some(url) = self.notification_url {
            config.notification_url = url;
        }
        if let Some(id) = self.replica_id {
            config.replica_id = Some(id);
        }
        if let Some(secs) = self.lease_secs {
            config.lease_secs = secs;
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let service_name = match &cli.command {
        Command::Serve(Service::Ledger(_)) => "hrmesh-ledger",
        Command::Serve(Service::Notification(_)) => "hrmesh-notification",
        Command::Serve(Service::Performance(_)) => "hrmesh-performance",
        Command::Serve(Service::Orchestrator(_)) => "hrmesh-orchestrator",
        _ => "hrmesh",
    };
    let serving = matches!(cli.command, Command::Serve(_) | Command::Up(_));
    let telemetry = telemetry::init(&TelemetryConfig {
        log_format: match cli.log_format {
            Format::Text => LogFormat::Text,
            Format::Json => LogFormat::Json,
        },
        service_name: service_name.to_owned(),
        otlp_endpoint: cli.otlp_endpoint.filter(|_| serving),
        metrics_listen: cli.metrics_listen.filter(|_| serving),
    })?;
    let result = run(cli.command).await;
    telemetry.shutdown().await;
    result
}

async fn run(command: Command) -> anyhow::Result<std::process::ExitCode> {
    let done = match command {
        // A followed saga's end is the exit code.
        Command::Saga(args) => return saga_cli::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "hrmesh",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Serve(Service::Ledger(args)) => {
            let ledger = LedgerServer::start(&args.into_config()?).await?;
            run_until_shutdown(vec![Running::Ledger(ledger)]).await
        }
        Command::Serve(Service::Notification(args)) => {
            let notification = NotificationServer::start(&args.into_config()?).await?;
            run_until_shutdown(vec![Running::Notification(notification)]).await
        }
        Command::Probe(args) => probe(args).await,
        Command::Token(args) => token(args).await,
        Command::Keygen(args) => keygen(args),
        Command::Serve(Service::Orchestrator(args)) => {
            let orchestrator = OrchestratorServer::start(&args.into_config()?).await?;
            run_until_shutdown(vec![Running::Orchestrator(orchestrator)]).await
        }
        Command::Serve(Service::Performance(args)) => {
            let performance = PerformanceServer::start(&args.into_config()?).await?;
            run_until_shutdown(vec![Running::Performance(performance)]).await
        }
        Command::Up(args) => {
            // Development only: one generated HS256 key signs and verifies every token.
            let key = args.data_dir.join("dev-hs256.key");
            hrmesh_mesh::auth::ensure_dev_key(&key)?;
            let mut ledger_config = LedgerConfig::default();
            ledger_config.common.data_dir = args.data_dir.clone();
            let mut notification_config = NotificationConfig::default();
            notification_config.common.data_dir = args.data_dir.clone();
            let mut performance_config = PerformanceConfig::default();
            performance_config.common.data_dir = args.data_dir.clone();
            let mut orchestrator_config = OrchestratorConfig::default();
            orchestrator_config.common.data_dir = args.data_dir.clone();
            let port = |offset: u16| SocketAddr::from(([127, 0, 0, 1], args.base_port + offset));
            orchestrator_config.common.listen = port(0);
            ledger_config.common.listen = port(1);
            performance_config.common.listen = port(2);
            notification_config.common.listen = port(3);
            let pki = if args.tls {
                let (pki, _) = DevPki::ensure(&args.data_dir.join("tls"), &UP_TLS_NAMES)?;
                ledger_config.common.tls = pki.config("ledger", true);
                notification_config.common.tls = pki.config("notification", true);
                performance_config.common.tls = pki.config("performance", true);
                orchestrator_config.common.tls = pki.config("orchestrator", true);
                Some(pki)
            } else {
                None
            };
            // One process, one replica: a restart resumes its sagas at once.
            orchestrator_config.replica_id = Some("embedded".into());
            // The console's page calls each participant from the orchestrator's origin.
            let console_origins = local_origins(orchestrator_config.common.listen);
            if pki.is_none() {
                for common in [
                    &mut ledger_config.common,
                    &mut notification_config.common,
                    &mut performance_config.common,
                ] {
                    common.cors_allowed_origins = console_origins.clone();
                }
            } else {
                orchestrator_config.console.enabled = false;
            }
            ledger_config.common.auth.hs256_key_file = Some(key.clone());
            notification_config.common.auth.hs256_key_file = Some(key.clone());
            performance_config.common.auth.hs256_key_file = Some(key.clone());
            performance_config.identity.hs256_key_file = Some(key.clone());
            ledger_config.identity.hs256_key_file = Some(key.clone());
            orchestrator_config.common.auth.hs256_key_file = Some(key.clone());
            orchestrator_config.identity.hs256_key_file = Some(key.clone());
            let notification = NotificationServer::start(&notification_config).await?;
            performance_config.notification_url = Some(notification.server.uri());
            ledger_config.notification_url = Some(notification.server.uri());
            let ledger = LedgerServer::start(&ledger_config).await?;
            let performance = PerformanceServer::start(&performance_config).await?;
            orchestrator_config.ledger_url = ledger.server.uri();
            orchestrator_config.performance_url = performance.server.uri();
            orchestrator_config.notification_url = performance_config
                .notification_url
                .clone()
                .unwrap_or_default();
            orchestrator_config.console.ledger_url = orchestrator_config.ledger_url.clone();
            orchestrator_config.console.performance_url =
                orchestrator_config.performance_url.clone();
            orchestrator_config.console.notification_url =
                orchestrator_config.notification_url.clone();
            let orchestrator = OrchestratorServer::start(&orchestrator_config).await?;
            orchestrator.server.ready().await?;
            println!("hrmesh is up (Ctrl-C stops it):");
            println!(
                "  orchestrator  {}   hrmesh.orchestrator.v1.SagaService",
                orchestrator.server.uri()
            );
            println!(
                "  ledger        {}   hrmesh.ledger.v1.LedgerService",
                ledger.server.uri()
            );
            println!(
                "  performance   {}   hrmesh.performance.v1.PerformanceService",
                performance.server.uri()
            );
            println!(
                "  notification  {}   hrmesh.notification.v1.NotificationService",
                notification.server.uri()
            );
            println!(
                "Calls need a bearer token signed with the development key {} (never use it in \
                 production), e.g.:\n  export HRMESH_TOKEN=$(hrmesh token --key-file {} --subject \
                 admin --actor admin --permission all)",
                key.display(),
                key.display()
            );
            if orchestrator_config.console.enabled {
                let token = admin_token(&key, CONSOLE_TOKEN_SECS).await?;
                println!(
                    "The operator console (signed in as admin for an hour; the token stays in \
                     the page's memory):\n  {}/console/#token={token}",
                    orchestrator.server.uri()
                );
            }
            if let Some(pki) = &pki {
                let client = pki.config("client", false);
                let path = |file: &Option<PathBuf>| {
                    file.as_deref()
                        .map(|file| file.display().to_string())
                        .unwrap_or_default()
                };
                println!(
                    "Every service requires TLS with a client certificate of the development CA \
                     (https:// URLs), e.g.:\n  export HRMESH_TLS_CA_FILE={} \
                     HRMESH_TLS_CERT_FILE={} HRMESH_TLS_KEY_FILE={}",
                    path(&client.ca_file),
                    path(&client.cert_file),
                    path(&client.key_file)
                );
            }
            run_until_shutdown(vec![
                Running::Orchestrator(orchestrator),
                Running::Ledger(ledger),
                Running::Performance(performance),
                Running::Notification(notification),
            ])
            .await
        }
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

/// How long the token in the console address `hrmesh up` prints is good for.
const CONSOLE_TOKEN_SECS: u64 = 3600;

/// The origins a browser may give a page served at `listen`: as typed, and as localhost when it
/// is a loopback address.
fn local_origins(listen: SocketAddr) -> Vec<String> {
    let mut origins = vec![format!("http://{listen}")];
    if listen.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", listen.port()));
    }
    origins
}

/// A development admin token with every permission for `ttl_secs`, signed with `key`.
async fn admin_token(key: &std::path::Path, ttl_secs: u64) -> anyhow::Result<String> {
    let minter = Minter::hs256_file(key).await?;
    let now = hrmesh_mesh::auth::now_secs();
    minter.mint(&Claims {
        iss: hrmesh_mesh::auth::DEFAULT_ISSUER.to_owned(),
        sub: "admin".into(),
        aud: every_audience(),
        exp: now + ttl_secs,
        iat: now,
        act: ActorType::Admin,
        perms: all_permissions(),
        manages: Vec::new(),
    })
}

/// Every permission a token may hold (`hrmesh token --permission all`).
fn all_permissions() -> Vec<String> {
    ALL_PERMISSIONS
        .iter()
        .map(|perm| (*perm).to_owned())
        .collect()
}

/// The audiences of all four services: a token good for the whole mesh.
fn every_audience() -> Vec<String> {
    SERVICES.iter().map(|service| audience(service)).collect()
}

/// One running service of this process.
enum Running {
    Ledger(LedgerServer),
    Notification(NotificationServer),
    Performance(PerformanceServer),
    Orchestrator(OrchestratorServer),
}

impl Running {
    fn name(&self) -> &'static str {
        match self {
            Running::Ledger(_) => "ledger",
            Running::Notification(_) => "notification",
            Running::Performance(_) => "performance",
            Running::Orchestrator(_) => "orchestrator",
        }
    }

    fn server(&mut self) -> &mut RunningServer {
        match self {
            Running::Ledger(ledger) => &mut ledger.server,
            Running::Notification(notification) => &mut notification.server,
            Running::Performance(performance) => &mut performance.server,
            Running::Orchestrator(orchestrator) => &mut orchestrator.server,
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Running::Ledger(ledger) => ledger.stop().await,
            Running::Notification(notification) => notification.stop().await,
            Running::Performance(performance) => performance.stop().await,
            Running::Orchestrator(orchestrator) => orchestrator.stop().await,
        }
    }
}

async fn run_until_shutdown(mut services: Vec<Running>) -> anyhow::Result<()> {
    let ended_on_its_own = futures_util::future::select_all(services.iter_mut().map(|service| {
        let name = service.name();
        Box::pin(async move { (name, service.server().task().await) })
    }));
    tokio::select! {
        () = hrmesh_mesh::server::shutdown_signal() => {
            tracing::info!("shutting down");
        }
        ((name, result), _, _) = ended_on_its_own => {
            // A server that ends without being asked to has failed.
            anyhow::bail!("the {name} server stopped unexpectedly: {result:?}");
        }
    }
    for service in services {
        let name = service.name();
        service
            .stop()
            .await
            .with_context(|| format!("stopping the {name} server"))?;
    }
    Ok(())
}
