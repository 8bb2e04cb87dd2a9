//! The Pact contracts between the orchestrator and each participant: the consumer tests that
//! generate the pacts (and fail when they drift from the committed ones), the provider
//! verifications against the real servers, and the negative controls.

mod consumer;
mod ledger;
mod negative;
mod notification;
mod performance;

/// A channel to a server that is already listening.
pub async fn connect(uri: &str) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(uri.to_owned())?
        .connect()
        .await?)
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
