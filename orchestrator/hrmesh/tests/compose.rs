//! The production shape (`docker-compose.yaml`, `.compose/`) checked without a Docker engine:
//! every referenced file exists, every hrmesh service's environment is configuration the service
//! reads (loaded through its real loader), every port and address agrees with the service it
//! names, and the gateway routes each gRPC service of the descriptor set to the right port.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hrmesh_ledger_server::LedgerConfig;
use hrmesh_mesh::config::CommonConfig;
use hrmesh_notification_server::NotificationConfig;
use hrmesh_orchestrator_server::OrchestratorConfig;
use hrmesh_performance_server::PerformanceConfig;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().map(text).collect())
        .unwrap_or_default()
}

struct Compose {
    services: BTreeMap<String, Value>,
}

impl Compose {
    fn load() -> Self {
        let compose = yaml("docker-compose.yaml");
        let services = compose["services"]
            .as_mapping()
            .expect("services")
            .iter()
            .map(|(name, service)| (text(name), service.clone()))
            .collect();
        Self { services }
    }

    /// `(compose service, hrmesh service)` for every service running `hrmesh serve <service>`.
    fn hrmesh(&self) -> Vec<(String, String)> {
        self.services
            .iter()
            .filter_map(|(name, service)| {
                let command = strings(&service["command"]);
                (command.first().map(String::as_str) == Some("serve"))
                    .then(|| (name.clone(), command[1].clone()))
            })
            .collect()
    }

    fn env(&self, service: &str) -> BTreeMap<String, String> {
        self.services[service]["environment"]
            .as_mapping()
            .map(|env| env.iter().map(|(k, v)| (text(k), text(v))).collect())
            .unwrap_or_default()
    }

    /// Container ports the service publishes.
    fn ports(&self, service: &str) -> BTreeSet<u16> {
        strings(&self.services[service]["ports"])
            .iter()
            .map(|mapping| {
                mapping
                    .rsplit(':')
                    .next()
                    .and_then(|port| port.parse().ok())
                    .unwrap_or_else(|| panic!("{service}: port mapping {mapping}"))
            })
            .collect()
    }

    fn depends_on(&self, service: &str) -> BTreeSet<String> {
        self.services[service]["depends_on"]
            .as_mapping()
            .map(|deps| deps.keys().map(text).collect())
            .unwrap_or_default()
    }

    /// The databases the PostgreSQL service creates: POSTGRES_DB and the init script's.
    fn postgres_databases(&self) -> BTreeSet<String> {
        let mut databases: BTreeSet<String> = self
            .env("postgres")
            .get("POSTGRES_DB")
            .cloned()
            .into_iter()
            .collect();
        for volume in strings(&self.services["postgres"]["volumes"]) {
            if let Some(file) = volume.split(':').next().filter(|s| s.starts_with("./")) {
                let sql = std::fs::read_to_string(root().join(file)).expect("init script");
                for line in sql.lines() {
                    if let Some(rest) = line.trim().strip_prefix("CREATE DATABASE ") {
                        databases.insert(rest.split_whitespace().next().unwrap_or("").into());
                    }
                }
            }
        }
        databases
    }
}

/// Whether `path` (snake_case keys) names a field of the configuration serialised as `json`.
fn has_field(json: &serde_json::Value, path: &[String]) -> bool {
    match path.split_first() {
        None => true,
        Some((first, rest)) => json
            .as_object()
            .and_then(|object| object.get(first))
            .is_some_and(|inner| rest.is_empty() || has_field(inner, rest)),
    }
}

/// The environment variables `hrmesh` reads for its global options (`[env: NAME=]` in its help),
/// asked once per test binary.
fn cli_variables() -> &'static BTreeSet<String> {
    static VARIABLES: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    VARIABLES.get_or_init(read_cli_variables)
}

fn read_cli_variables() -> BTreeSet<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hrmesh"))
        .arg("--help")
        .output()
        .expect("run hrmesh --help");
    let help = String::from_utf8_lossy(&output.stdout);
    let variables: BTreeSet<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split('=').next())
        .map(str::to_owned)
        .collect();
    assert!(variables.contains("HRMESH_LOG_FORMAT"), "{help}");
    variables
}

/// Loads `T` through the real loader with exactly `env` set; every variable must name a field.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closure must return figment's own Result"
)]
fn load<T: Serialize + DeserializeOwned + Default>(
    prefix: &str,
    env: &BTreeMap<String, String>,
) -> T {
    let fields = serde_json::to_value(T::default()).expect("configuration serialises");
    let global = cli_variables();
    for key in env.keys().filter(|key| !global.contains(key.as_str())) {
        let rest = key
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{key} is not read by this service (prefix {prefix})"));
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        assert!(
            has_field(&fields, &path),
            "{key} names no configuration field"
        );
    }
    let mut loaded = None;
    figment::Jail::expect_with(|jail| {
        for (key, value) in env {
            jail.set_env(key, value);
        }
        loaded = Some(
            hrmesh_mesh::config::load(T::default(), None, prefix)
                .map_err(|e| figment::Error::from(format!("{e:#}")))?,
        );
        Ok(())
    });
    loaded.expect("loaded")
}

/// The common configuration of the hrmesh service `kind` as compose configures it, and the
/// addresses of the other services it calls.
fn configured(kind: &str, env: &BTreeMap<String, String>) -> (CommonConfig, Vec<String>) {
    let prefix = format!("HRMESH_{}_", kind.to_uppercase());
    match kind {
        "ledger" => {
            let config = load::<LedgerConfig>(&prefix, env);
            (config.common, config.notification_url.into_iter().collect())
        }
        "notification" => {
            let config = load::<NotificationConfig>(&prefix, env);
            (config.common, config.mongodb_url.into_iter().collect())
        }
        "performance" => {
            let config = load::<PerformanceConfig>(&prefix, env);
            (config.common, config.notification_url.into_iter().collect())
        }
        "orchestrator" => {
            let config = load::<OrchestratorConfig>(&prefix, env);
            let urls = vec![
                config.performance_url,
                config.ledger_url,
                config.notification_url,
            ];
            (config.common, urls)
        }
        other => panic!("hrmesh has no service {other}"),
    }
}

/// `(scheme, host, port, path)` of a URL.
fn parts(url: &str) -> (String, String, Option<u16>, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme://");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (authority, None),
    };
    (
        scheme.into(),
        host.into(),
        port,
        path.split('?').next().unwrap_or("").into(),
    )
}

#[test]
fn every_referenced_file_exists_and_the_image_runs_unprivileged() {
    let compose = Compose::load();
    for (name, service) in &compose.services {
        if let Some(build) = service["build"].as_mapping() {
            let context = root().join(text(&build[&Value::from("context")]));
            assert!(context.is_dir(), "{name}: build context");
            let dockerfile = context.join(text(&build[&Value::from("dockerfile")]));
            let docker = std::fs::read_to_string(&dockerfile)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", dockerfile.display()));
            assert!(
                docker.matches("\nFROM ").count() + usize::from(docker.starts_with("FROM ")) >= 2,
                "{name}: a multi-stage build"
            );
            let user = docker
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("USER "))
                .expect("USER");
            assert!(
                user.trim() != "root" && user.trim() != "0",
                "{name}: runs as {user}"
            );
        }
        for volume in strings(&service["volumes"]) {
            if let Some(source) = volume.split(':').next().filter(|s| s.starts_with("./")) {
                assert!(
                    root().join(source).is_file(),
                    "{name}: {source} does not exist"
                );
            }
        }
    }
}

#[test]
fn every_hrmesh_service_reads_its_environment_and_agrees_on_ports_and_addresses() {
    let compose = Compose::load();
    let services = compose.hrmesh();
    assert_eq!(
        services
            .iter()
            .map(|(_, kind)| kind.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["ledger", "notification", "orchestrator", "performance"])
    );
    let mut listen_ports = BTreeMap::new();
    let mut calls = Vec::new();
    for (name, kind) in &services {
        let env = compose.env(name);
        if let Some(format) = env.get("HRMESH_LOG_FORMAT") {
            assert!(
                ["text", "json"].contains(&format.as_str()),
                "{name}: log format"
            );
        }
        let (common, urls) = configured(kind, &env);
        assert!(
            common.listen.ip().is_unspecified(),
            "{name} listens on all interfaces"
        );
        let port = common.listen.port();
        assert!(
            compose.ports(name).is_empty(),
            "{name} publishes no port: the gateway is the way in"
        );
        assert_eq!(
            strings(&compose.services[name]["healthcheck"]["test"]),
            [
                "CMD",
                "hrmesh",
                "probe",
                &format!("http://127.0.0.1:{port}")
            ],
            "{name}: the health check probes its own port"
        );
        listen_ports.insert(name.clone(), port);
        let amqp_url = common.events.amqp_url.clone();
        assert!(
            amqp_url.is_some(),
            "{name} publishes its integration events to the broker"
        );
        for url in urls.into_iter().chain(common.database_url).chain(amqp_url) {
            calls.push((name.clone(), url));
        }
    }
    let databases = compose.postgres_databases();
    for (name, url) in calls {
        let (scheme, host, port, path) = parts(&url);
        assert!(
            compose.services.contains_key(&host),
            "{name}: {url} names no service"
        );
        assert!(
            compose.depends_on(&name).contains(&host),
            "{name} waits for {host}"
        );
        match scheme.as_str() {
            "http" => assert_eq!(port, listen_ports.get(&host).copied(), "{name}: {url}"),
            "postgres" => {
                assert_eq!(port, Some(5432), "{name}: {url}");
                assert!(
                    databases.contains(&path),
                    "{name}: database {path} is never created"
                );
            }
            "mongodb" => assert_eq!(port, Some(27017), "{name}: {url}"),
            "amqp" => {
                assert_eq!(port, Some(5672), "{name}: {url}");
                assert_eq!(
                    text(&compose.services[&name]["depends_on"][&host]["condition"]),
                    "service_healthy",
                    "{name} waits until the broker answers its health check"
                );
                assert_eq!(
                    strings(&compose.services[&host]["healthcheck"]["test"]),
                    ["CMD", "rabbitmq-diagnostics", "-q", "ping"],
                    "{host}: the broker's own health check"
                );
            }
            other => panic!("{name}: unexpected scheme {other} in {url}"),
        }
    }
}

#[test]
fn the_gateway_serves_grpc_web_and_routes_each_service_to_its_port() {
    let compose = Compose::load();
    let gateway = &compose.services["gateway"];
    assert!(
        strings(&gateway["volumes"])
            .iter()
            .any(|v| v.starts_with("./.compose/envoy.yaml:")),
        "the gateway mounts its configuration"
    );
    let envoy = yaml(".compose/envoy.yaml");
    let listener = &envoy["static_resources"]["listeners"][0];
    let listen_port = listener["address"]["socket_address"]["port_value"]
        .as_u64()
        .expect("listener port");
    assert_eq!(
        compose.ports("gateway"),
        BTreeSet::from([listen_port as u16]),
        "the gateway publishes its listener only"
    );
    assert_eq!(
        text(&envoy["admin"]["address"]["socket_address"]["address"]),
        "127.0.0.1",
        "the admin interface is reachable inside the container only"
    );
    let manager = &listener["filter_chains"][0]["filters"][0]["typed_config"];
    // The audit trail records the caller's address, taken from the connection.
    assert_eq!(manager["use_remote_address"].as_bool(), Some(true));
    assert_eq!(manager["xff_num_trusted_hops"].as_u64(), Some(0));
    let cors = &manager["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"];
    let listed = |field: &str| -> BTreeSet<String> {
        text(&cors[field])
            .split(',')
            .map(|header| header.trim().to_owned())
            .collect()
    };
    for header in ["traceparent", "tracestate", "x-request-id"] {
        assert!(
            listed("allow_headers").contains(header),
            "CORS allows {header}"
        );
        assert!(
            listed("expose_headers").contains(header),
            "CORS exposes {header}"
        );
    }
    for header in [
        "authorization",
        "grpc-timeout",
        "x-grpc-web",
        "content-type",
    ] {
        assert!(
            listed("allow_headers").contains(header),
            "CORS allows {header}"
        );
    }
    for header in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(
            listed("expose_headers").contains(header),
            "CORS exposes {header}"
        );
    }
    let filters: Vec<String> = manager["http_filters"]
        .as_sequence()
        .expect("http filters")
        .iter()
        .map(|f| text(&f["name"]))
        .collect();
    for filter in [
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.cors",
        "envoy.filters.http.local_ratelimit",
    ] {
        assert!(
            filters.contains(&filter.to_owned()),
            "{filter} is configured"
        );
    }
    assert_eq!(
        filters.last().map(String::as_str),
        Some("envoy.filters.http.router")
    );

    // Clusters: each an hrmesh service at its listen port.
    let mut clusters = BTreeMap::new();
    for cluster in envoy["static_resources"]["clusters"]
        .as_sequence()
        .expect("clusters")
    {
        let name = text(&cluster["name"]);
        let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"];
        let host = text(&address["address"]);
        let port = address["port_value"].as_u64().expect("port") as u16;
        let (_, kind) = compose
            .hrmesh()
            .into_iter()
            .find(|(service, _)| *service == host)
            .unwrap_or_else(|| panic!("cluster {name} points at {host}, no hrmesh service"));
        let (common, _) = configured(&kind, &compose.env(&host));
        assert_eq!(port, common.listen.port(), "cluster {name}");
        assert!(
            compose.depends_on("gateway").contains(&host),
            "the gateway waits for {host}"
        );
        clusters.insert(name, kind);
    }

    // Routes: one per gRPC service of the descriptor set, to the cluster serving it, rate limited.
    // EventService is the exception: every service serves its own, read inside the deployment (or
    // through RabbitMQ), so the gateway routes none of them.
    let descriptors = prost_types::FileDescriptorSet::decode(hrmesh_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    let services: BTreeSet<String> = descriptors
        .file
        .iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(move |s| format!("{}.{}", file.package(), s.name()))
        })
        .filter(|service| service != "hrmesh.events.v1.EventService")
        .collect();
    let mut routed = BTreeSet::new();
    let hosts = manager["route_config"]["virtual_hosts"]
        .as_sequence()
        .expect("virtual hosts");
    let mut console = false;
    for route in hosts[0]["routes"].as_sequence().expect("routes") {
        // The console: / redirects to /console/, which the orchestrator serves.
        if route["match"]["path"].as_str() == Some("/") {
            assert_eq!(text(&route["redirect"]["path_redirect"]), "/console/");
            continue;
        }
        let prefix = text(&route["match"]["prefix"]);
        if prefix == "/console" {
            let cluster = text(&route["route"]["cluster"]);
            assert_eq!(
                clusters.get(&cluster).map(String::as_str),
                Some("orchestrator"),
                "the console is the orchestrator's"
            );
            assert_per_caller_limit(&prefix, route, 240);
            console = true;
            continue;
        }
        let service = prefix.trim_matches('/').to_owned();
        assert!(
            services.contains(&service),
            "route {prefix} names no gRPC service"
        );
        let cluster = text(&route["route"]["cluster"]);
        let kind = clusters
            .get(&cluster)
            .unwrap_or_else(|| panic!("no cluster {cluster}"));
        assert_eq!(
            service.split('.').nth(1),
            Some(kind.as_str()),
            "{prefix} goes to {cluster}"
        );
        // SagaService streams (WatchSaga, a StartSaga that waits) outlive any fixed timeout.
        if service == "hrmesh.orchestrator.v1.SagaService" {
            for timeout in ["timeout", "idle_timeout"] {
                assert_eq!(text(&route["route"][timeout]), "0s", "{prefix}: {timeout}");
            }
            assert_eq!(
                text(&route["route"]["max_stream_duration"]["grpc_timeout_header_max"]),
                "0s",
                "{prefix}: the caller's grpc-timeout applies"
            );
        }
        // Seed 001's gateway table, per caller.
        let per_minute = match kind.as_str() {
            "notification" => 150,
            _ => 100,
        };
        assert_per_caller_limit(&prefix, route, per_minute);
        routed.insert(service);
    }
    assert_eq!(routed, services, "every gRPC service is routed");
    assert!(console, "the console is routed");
    // Behind the gateway the page calls every service on its own origin.
    let orchestrator = compose.env("orchestrator");
    assert!(
        !orchestrator
            .keys()
            .any(|name| name.starts_with("HRMESH_ORCHESTRATOR_CONSOLE__")),
        "{orchestrator:?}"
    );
}

/// `route` limits each caller (its client address, as `use_remote_address` sets it) to
/// `per_minute` calls, in a token bucket of its own, and no caller uses up another's.
fn assert_per_caller_limit(prefix: &str, route: &Value, per_minute: u64) {
    let actions: Vec<&Value> = route["route"]["rate_limits"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{prefix}: no rate_limits"))
        .iter()
        .flat_map(|limit| limit["actions"].as_sequence().into_iter().flatten())
        .collect();
    assert!(
        actions
            .iter()
            .any(|action| action["remote_address"].is_mapping()),
        "{prefix}: the descriptor names the caller's address: {actions:?}"
    );
    let limit = &route["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"];
    let bucket = |bucket: &Value| {
        assert_eq!(text(&bucket["fill_interval"]), "60s", "{prefix}");
        assert_eq!(
            bucket["tokens_per_fill"].as_u64(),
            bucket["max_tokens"].as_u64()
        );
        bucket["max_tokens"].as_u64().expect("a bucket size")
    };
    let descriptors = limit["descriptors"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{prefix}: no descriptors"));
    let per_caller: Vec<u64> = descriptors
        .iter()
        .filter(|descriptor| {
            descriptor["entries"].as_sequence().is_some_and(|entries| {
                entries.len() == 1
                    && text(&entries[0]["key"]) == "remote_address"
                    // An empty value: one bucket per value seen.
                    && entries[0]["value"].as_str() == Some("")
            })
        })
        .map(|descriptor| bucket(&descriptor["token_bucket"]))
        .collect();
    assert_eq!(per_caller, [per_minute], "{prefix}: one bucket per caller");
    assert_eq!(
        limit["always_consume_default_token_bucket"].as_bool(),
        Some(false),
        "{prefix}: a caller's call does not also drain the route's shared bucket"
    );
    assert!(
        limit["max_dynamic_descriptors"]
            .as_u64()
            .is_some_and(|callers| callers >= 1000),
        "{prefix}: room for many callers"
    );
    bucket(&limit["token_bucket"]);
    if prefix != "/console" {
        assert_eq!(
            limit["rate_limited_as_resource_exhausted"].as_bool(),
            Some(true)
        );
    }
}

#[test]
fn the_collector_exports_traces_to_jaeger() {
    let compose = Compose::load();
    assert!(
        strings(&compose.services["otel-collector"]["volumes"])
            .iter()
            .any(|v| v.starts_with("./.compose/otel-collector.yaml:")),
        "the collector mounts its configuration"
    );
    let collector = yaml(".compose/otel-collector.yaml");
    let exporters = strings(&collector["service"]["pipelines"]["traces"]["exporters"]);
    assert!(!exporters.is_empty());
    for exporter in exporters {
        let endpoint = text(&collector["exporters"][exporter.as_str()]["endpoint"]);
        let host = endpoint.split(':').next().unwrap_or_default();
        assert!(
            compose.services.contains_key(host),
            "{exporter} sends to {host}"
        );
        assert!(compose.depends_on("otel-collector").contains(host));
    }
}

/// `(volume, mount point)` of the named volumes `service` mounts.
fn named_volumes(compose: &Compose, service: &str) -> Vec<(String, PathBuf)> {
    strings(&compose.services[service]["volumes"])
        .iter()
        .filter(|volume| !volume.starts_with("./") && !volume.starts_with('/'))
        .map(|volume| {
            let mut parts = volume.split(':');
            let name = parts.next().expect("a volume name").to_owned();
            let target = PathBuf::from(parts.next().expect("a mount point"));
            (name, target)
        })
        .collect()
}

/// The key files service `kind` reads: its `[auth]` HS256 key and, where it calls other services,
/// its `[identity]` key. Every service must verify tokens somehow.
fn key_files(kind: &str, env: &BTreeMap<String, String>) -> Vec<PathBuf> {
    let prefix = format!("HRMESH_{}_", kind.to_uppercase());
    let (common, identity) = match kind {
        "ledger" => {
            let config = load::<LedgerConfig>(&prefix, env);
            (config.common, Some(config.identity))
        }
        "notification" => (load::<NotificationConfig>(&prefix, env).common, None),
        "performance" => {
            let config = load::<PerformanceConfig>(&prefix, env);
            (config.common, Some(config.identity))
        }
        "orchestrator" => {
            let config = load::<OrchestratorConfig>(&prefix, env);
            (config.common, Some(config.identity))
        }
        other => panic!("hrmesh has no service {other}"),
    };
    assert!(
        common.auth.hs256_key_file.is_some() || common.auth.jwks_url.is_some(),
        "{kind} has no way to verify tokens"
    );
    let mut files: Vec<PathBuf> = common.auth.hs256_key_file.clone().into_iter().collect();
    // Every service is on PostgreSQL or MongoDB and seals personal data with a keyring it is
    // given.
    assert!(
        common.crypto.keyring_file.is_some() || common.crypto.keyring.is_some(),
        "{kind} has no keyring"
    );
    files.extend(common.crypto.keyring_file.clone());
    if let Some(identity) = identity {
        assert!(
            identity.hs256_key_file.is_some() || identity.private_key_file.is_some(),
            "{kind} has no identity to call other services with"
        );
        files.extend(identity.hs256_key_file);
        files.extend(identity.private_key_file);
    }
    files
}

/// Every key file a service reads is on a volume that a `hrmesh keygen` service writes first, and
/// that keygen run (the compose command itself, into a temporary directory) writes that file.
#[test]
fn every_service_reads_keys_that_keygen_wrote_before_it_started() {
    let compose = Compose::load();
    let keygens: Vec<(String, Vec<String>)> = compose
        .services
        .iter()
        .filter_map(|(name, service)| {
            let command = strings(&service["command"]);
            (command.first().map(String::as_str) == Some("keygen")).then(|| (name.clone(), command))
        })
        .collect();
    assert!(!keygens.is_empty(), "a service generates the keys");
    for (name, kind) in compose.hrmesh() {
        let files = key_files(&kind, &compose.env(&name));
        assert!(!files.is_empty(), "{name} reads no key");
        let volumes = named_volumes(&compose, &name);
        for file in files {
            let (volume, mount) = volumes
                .iter()
                .find(|(_, mount)| file.starts_with(mount))
                .unwrap_or_else(|| panic!("{name}: {} is on no volume", file.display()));
            let (writer, command) = keygens
                .iter()
                .find(|(keygen, _)| {
                    named_volumes(&compose, keygen)
                        .iter()
                        .any(|(written, _)| written == volume)
                })
                .unwrap_or_else(|| panic!("{name}: no keygen service writes volume {volume}"));
            assert_eq!(
                text(&compose.services[&name]["depends_on"][writer.as_str()]["condition"]),
                "service_completed_successfully",
                "{name} starts once {writer} has written the keys"
            );
            let (_, writer_mount) = named_volumes(&compose, writer)
                .into_iter()
                .find(|(written, _)| written == volume)
                .expect("the writer mounts the volume");
            let out_dir = command
                .iter()
                .skip_while(|arg| *arg != "--out-dir")
                .nth(1)
                .expect("keygen --out-dir");
            assert_eq!(
                Path::new(out_dir),
                writer_mount,
                "{writer} writes into its volume"
            );
            let dir = tempfile::tempdir().expect("a temporary directory");
            let args: Vec<String> = command
                .iter()
                .map(|arg| {
                    if arg == out_dir {
                        dir.path().display().to_string()
                    } else {
                        arg.clone()
                    }
                })
                .collect();
            let run = std::process::Command::new(env!("CARGO_BIN_EXE_hrmesh"))
                .args(&args)
                .output()
                .expect("run the keygen command");
            assert!(run.status.success(), "{writer}: {args:?}");
            let relative = file.strip_prefix(mount).expect("under the mount");
            assert!(
                dir.path().join(relative).is_file(),
                "{name} reads {}, which {writer} does not write",
                file.display()
            );
        }
    }
}

/// Every service sends traces to the collector's OTLP/gRPC receiver and serves metrics that
/// Prometheus scrapes.
#[test]
fn every_service_is_traced_and_scraped() {
    let compose = Compose::load();
    let collector = yaml(".compose/otel-collector.yaml");
    let receiver = text(&collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]);
    let receiver_port: u16 = receiver
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("the collector's gRPC port");
    assert!(
        strings(&compose.services["prometheus"]["volumes"])
            .iter()
            .any(|v| v.starts_with("./.compose/prometheus.yaml:")),
        "Prometheus mounts its configuration"
    );
    let prometheus = yaml(".compose/prometheus.yaml");
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape configs")
        .iter()
        .flat_map(|job| {
            job["static_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(|config| strings(&config["targets"]))
        })
        .collect();
    let mut scraped = BTreeSet::new();
    for (name, _) in compose.hrmesh() {
        let env = compose.env(&name);
        let endpoint = env
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|| panic!("{name} exports no traces"));
        let (scheme, host, port, _) = parts(endpoint);
        assert_eq!(scheme, "http", "{name}: {endpoint}");
        assert_eq!(host, "otel-collector", "{name}: {endpoint}");
        assert_eq!(port, Some(receiver_port), "{name}: {endpoint}");
        assert!(
            compose.depends_on(&name).contains(&host),
            "{name} waits for {host}"
        );
        let listen: std::net::SocketAddr = env
            .get("HRMESH_METRICS_LISTEN")
            .unwrap_or_else(|| panic!("{name} serves no metrics"))
            .parse()
            .expect("a socket address");
        assert!(
            listen.ip().is_unspecified(),
            "{name}: metrics on all interfaces"
        );
        let target = format!("{name}:{}", listen.port());
        assert!(targets.contains(&target), "Prometheus scrapes {target}");
        scraped.insert(target);
    }
    assert_eq!(scraped, targets, "Prometheus scrapes only hrmesh services");
}
