//! The Pact contracts between the orchestrator and each participant: the consumer tests that
//! generate the pacts (and fail when they drift from the committed ones), the provider
//! verifications against the real servers, and the negative controls.

mod consumer;
mod ledger;
mod negative;
mod notification;
mod performance;

/// A channel to a server that is already listening, calling with the orchestrator's identity:
/// a system actor with exactly the permissions the orchestrator's own tokens carry.
pub async fn connect(uri: &str) -> anyhow::Result<hrmesh_kit::client::MeshChannel> {
    let channel = tonic::transport::Endpoint::from_shared(uri.to_owned())?
        .connect()
        .await?;
    Ok(hrmesh_kit::client::MeshChannel::new(
        channel,
        Some(orchestrator_identity()),
    ))
}

/// The orchestrator's token, as its identity would mint it.
pub fn orchestrator_identity() -> hrmesh_kit::auth::TokenSource {
    hrmesh_kit::testing::mint(&hrmesh_kit::testing::claims(
        "hrmesh-orchestrator",
        hrmesh_kit::auth::ActorType::System,
        hrmesh_orchestrator_server::sagas::IDENTITY_PERMISSIONS,
    ))
}

/// How the participant `service` (e.g. hrmesh.ledger.v1.LedgerService) verifies tokens in
/// these tests, and its permission table.
pub fn participant_auth(
    service: &str,
) -> (
    hrmesh_kit::auth::AuthConfig,
    &'static [(&'static str, &'static str)],
) {
    let (short, permissions) = match service {
        "hrmesh.ledger.v1.LedgerService" => ("ledger", hrmesh_ledger_server::PERMISSIONS),
        "hrmesh.performance.v1.PerformanceService" => {
            ("performance", hrmesh_performance_server::PERMISSIONS)
        }
        "hrmesh.notification.v1.NotificationService" => {
            ("notification", hrmesh_notification_server::PERMISSIONS)
        }
        other => panic!("no participant serves {other}"),
    };
    let mut common = hrmesh_kit::config::CommonConfig::new(short, 0);
    hrmesh_kit::testing::secure(&mut common);
    (common.auth, permissions)
}

use std::collections::BTreeSet;

use serde_json::Value;

/// `(participant, rpc)` of every participant call in the orchestrator's saga steps, read from the
/// source: every call goes through `call!`/`call_raw!` with the participant's resilient path and
/// the RPC's name.
fn calls_in_sagas() -> BTreeSet<(String, String)> {
    let source = include_str!("../../../orchestrator/server/src/sagas.rs");
    let mut calls = BTreeSet::new();
    for chunk in source
        .split("call!(")
        .chain(source.split("call_raw!("))
        .skip(1)
    {
        let args: Vec<&str> = chunk.splitn(5, ',').map(str::trim).collect();
        if let [calls_path, _client, _method, rpc, ..] = args.as_slice()
            && let Some(participant) = calls_path
                .strip_prefix("p.")
                .and_then(|path| path.strip_suffix("_calls"))
            && rpc.starts_with('"')
        {
            calls.insert((participant.to_owned(), rpc.trim_matches('"').to_owned()));
        }
    }
    calls
}

/// `(participant, rpc)` of every interaction in the committed pacts.
fn calls_in_pacts() -> BTreeSet<(String, String)> {
    let mut calls = BTreeSet::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/pacts")).expect("pacts") {
        let path = entry.expect("entry").path();
        let pact: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        for interaction in pact["interactions"].as_array().expect("interactions") {
            let method = interaction["request"]["metadata"][hrmesh_contracts::grpc::METHOD_KEY]
                .as_str()
                .expect("every interaction names its method");
            let (service, rpc) = method.split_once('/').expect("package.Service/Method");
            let participant = service.split('.').nth(1).expect("hrmesh.<participant>.v1");
            calls.insert((participant.to_owned(), rpc.to_owned()));
        }
    }
    calls
}

/// Every participant RPC the sagas call has a contract, and no contract is left for a call the
/// sagas no longer make.
#[test]
fn every_saga_call_has_a_contract() {
    let sagas = calls_in_sagas();
    assert!(
        sagas.len() >= 17,
        "the source scan found the calls: {sagas:?}"
    );
    assert_eq!(sagas, calls_in_pacts());
}

/// The committed folder holds exactly the pacts the consumer tests generate.
#[test]
fn no_stale_pacts() {
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/pacts"))
        .expect("pacts")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let expected: Vec<String> = [
        ledger::PROVIDER,
        notification::PROVIDER,
        performance::PROVIDER,
    ]
    .iter()
    .map(|provider| format!("{}-{provider}.json", consumer::CONSUMER))
    .collect();
    assert_eq!(files, expected);
}
