//! The `hrmesh` binary as a user runs it: real processes, real ports, real signals.

use std::process::{Child, Command, Stdio};

use hrmesh_testkit::process::{logged_addr, wait_for_line};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn hrmesh() -> Command {
    hrmesh_testkit::process::command(env!("CARGO_BIN_EXE_hrmesh"))
}

async fn serving(addr: &str, service: &str) -> bool {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    let reply = health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health check")
        .into_inner();
    reply.status == ServingStatus::Serving as i32
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    child.wait().expect("wait for hrmesh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ledger_listens_where_told_and_stops_cleanly_on_sigterm() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut child = hrmesh()
        .env(
            "HRMESH_LEDGER_AUTH__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        .args(["serve", "ledger", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh");
    let line = wait_for_line(&mut child, "ledger serving");
    let addr = logged_addr(&line);
    assert!(serving(&addr, "hrmesh.ledger.v1.LedgerService").await);
    assert!(
        data_dir.path().join("ledger.sqlite").exists(),
        "the embedded database lives in --data-dir"
    );
    assert!(terminate(&mut child).success(), "graceful shutdown exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_starts_the_mesh_on_the_default_ports_and_prints_the_endpoints() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut child = hrmesh()
        .args(["up", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh up");
    // Printed once every service, the orchestrator included, reports SERVING.
    let line = wait_for_line(&mut child, "hrmesh.notification.v1.NotificationService");
    assert!(line.contains("127.0.0.1:50054"), "{line}");
    assert!(serving("127.0.0.1:50052", "hrmesh.ledger.v1.LedgerService").await);
    assert!(
        serving(
            "127.0.0.1:50054",
            "hrmesh.notification.v1.NotificationService"
        )
        .await
    );
    assert!(
        serving(
            "127.0.0.1:50053",
            "hrmesh.performance.v1.PerformanceService"
        )
        .await
    );
    assert!(serving("127.0.0.1:50051", "hrmesh.orchestrator.v1.SagaService").await);
    assert!(data_dir.path().join("notification.sqlite").exists());
    assert!(data_dir.path().join("performance.sqlite").exists());
    assert!(data_dir.path().join("orchestrator.sqlite").exists());
    assert!(data_dir.path().join("dev-hs256.key").exists());
    assert!(terminate(&mut child).success());

    // The same ports again, now over mutual TLS with a generated development CA.
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut child = hrmesh()
        .args(["up", "--tls", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh up --tls");
    let line = wait_for_line(&mut child, "hrmesh.notification.v1.NotificationService");
    assert!(line.contains("https://127.0.0.1:50054"), "{line}");
    let tls = data_dir.path().join("tls");
    let probe = |with_certificate: bool| {
        let mut command = hrmesh();
        command
            .args(["probe", "https://127.0.0.1:50051", "--ca-file"])
            .arg(tls.join("ca.pem"));
        if with_certificate {
            command
                .arg("--cert-file")
                .arg(tls.join("client.pem"))
                .arg("--key-file")
                .arg(tls.join("client.key"));
        }
        command.output().expect("run hrmesh probe")
    };
    let accepted = probe(true);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(
        !probe(false).status.success(),
        "without a client certificate the orchestrator refuses the connection"
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn a_server_with_half_a_tls_key_pair_refuses_to_start_and_says_why() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let output = hrmesh()
        .env(
            "HRMESH_LEDGER_AUTH__HS256_KEY_FILE",
            hrmesh_mesh::testing::dev_key_file(),
        )
        .env(
            "HRMESH_LEDGER_TLS__CERT_FILE",
            data_dir.path().join("ledger.pem"),
        )
        .args(["serve", "ledger", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .expect("run hrmesh serve ledger");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tls.cert_file is set but tls.key_file is not"),
        "{stderr}"
    );
}

#[test]
fn keygen_writes_private_keys_once_and_keeps_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("keys");
    let keygen = || {
        let output = hrmesh()
            .args([
                "keygen",
                "--tls-for",
                "ledger",
                "--tls-for",
                "gateway",
                "--out-dir",
            ])
            .arg(&out)
            .output()
            .expect("run hrmesh keygen");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        [
            "dev-hs256.key",
            "ca.pem",
            "ledger.pem",
            "ledger.key",
            "gateway.pem",
            "gateway.key",
        ]
        .map(|file| std::fs::read(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")))
    };
    let first = keygen();
    assert_eq!(keygen(), first, "a second run keeps every file");
    #[cfg(unix)]
    for key in ["dev-hs256.key", "ledger.key", "gateway.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(key))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{key} is readable by its owner only");
    }
    // A name without a certificate needs a new CA: everything is issued again.
    let output = hrmesh()
        .args([
            "keygen",
            "--tls-for",
            "ledger",
            "--tls-for",
            "orchestrator",
            "--out-dir",
        ])
        .arg(&out)
        .output()
        .expect("run hrmesh keygen");
    assert!(output.status.success());
    assert!(out.join("orchestrator.pem").exists());
    assert_ne!(std::fs::read(out.join("ca.pem")).expect("ca"), first[1]);
    assert_eq!(
        std::fs::read(out.join("dev-hs256.key")).expect("key"),
        first[0],
        "the signing key is kept"
    );
    let refused = hrmesh()
        .args(["keygen", "--tls-for", "../escape", "--out-dir"])
        .arg(&out)
        .output()
        .expect("run hrmesh keygen");
    assert!(!refused.status.success(), "a name is not a path");
}

#[test]
fn every_subcommand_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["serve", "ledger", "--help"],
        vec!["serve", "notification", "--help"],
        vec!["serve", "performance", "--help"],
        vec!["serve", "orchestrator", "--help"],
        vec!["saga", "--help"],
        vec!["saga", "start", "complete-review", "--help"],
        vec!["up", "--help"],
        vec!["token", "--help"],
        vec!["keygen", "--help"],
        vec!["probe", "--help"],
    ] {
        let output = hrmesh().args(&args).output().expect("run --help");
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage: hrmesh"), "{args:?}: {text}");
    }
    let ledger_help = hrmesh()
        .args(["serve", "ledger", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&ledger_help.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
        "--cors-origin",
        "--hold-sweep-interval",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let performance_help = hrmesh()
        .args(["serve", "performance", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&performance_help.stdout);
    for needle in [
        "--notification-url",
        "--reminder-interval",
        "acknowledged",
        "anonymous",
        "50 reviews",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let bad_flag = hrmesh()
        .args(["serve", "ledger", "--listen", "not-an-address"])
        .output()
        .expect("run");
    assert!(!bad_flag.status.success());
}
