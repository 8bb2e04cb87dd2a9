//! The Pact contracts between the orchestrator and each participant: the consumer tests that
//! generate the pacts (and fail when they drift from the committed ones), the provider
//! verifications against the real servers, and the negative controls.

mod consumer;
mod events;
mod ledger;
mod negative;
mod notification;
mod performance;

/// A channel to a server that is already listening, calling with the orchestrator's identity:
/// a system actor with exactly the permissions the orchestrator's own tokens carry.
pub async fn connect(uri: &str) -> anyhow::Result<hrmesh_mesh::client::MeshChannel> {
    let channel = tonic::transport::Endpoint::from_shared(uri.to_owned())?
        .connect()
        .await?;
    Ok(hrmesh_mesh::client::MeshChannel::new(
        channel,
        Some(orchestrator_identity()),
    ))
}

/// The orchestrator's token, as its identity would mint it.
pub fn orchestrator_identity() -> hrmesh_mesh::auth::TokenSource {
    hrmesh_mesh::testing::mint(&hrmesh_mesh::testing::claims(
        "hrmesh-orchestrator",
        hrmesh_mesh::auth::ActorType::System,
        hrmesh_orchestrator_server::adapter::IDENTITY_PERMISSIONS,
    ))
}

/// How the participant `service` (e.g. hrmesh.ledger.v1.LedgerService) verifies tokens in
/// these tests, and its permission table.
pub fn participant_auth(
    service: &str,
) -> (
    hrmesh_mesh::auth::AuthConfig,
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
    let mut common = hrmesh_mesh::config::CommonConfig::new(short, 0);
    hrmesh_mesh::testing::secure(&mut common);
    (common.auth, permissions)
}

use std::collections::BTreeSet;

use hrmesh_saga_core::CommandKind;

use serde_json::Value;

/// The provider whose pact holds the contract of each kind of command. An exhaustive match: a
/// new command does not build until it is given a provider here, and the tests below then fail
/// until its pact has an interaction that exercises it.
fn provider_of(kind: CommandKind) -> &'static str {
    use CommandKind::*;
    match kind {
        FinalizeReview
        | ReopenReview
        | CompleteReview
        | OpenPip
        | CancelPip
        | CloseEmployeeRecords
        | ReopenEmployeeRecords
        | CreateProbationReview
        | CreateGoals
        | RecordPipOutcome
        | ErasePerformanceData => performance::PROVIDER,
        AppendEntry | ReverseEntry | HoldDays | PostHold | VoidHold | AssignPolicies
        | FreezeAccruals | UnfreezeAccruals | ExtendFreeze | EndAssignments | ReopenAssignments
        | ListBalances | AppendEntries | ReverseEntries | RunAccruals | EraseLedgerData => {
            ledger::PROVIDER
        }
        Notify | EraseNotificationData => notification::PROVIDER,
    }
}

/// Every kind of command whose contract is `provider`'s was exercised by its consumer test.
pub fn assert_every_command_exercised(provider: &str, exercised: &[CommandKind]) {
    let missing: Vec<CommandKind> = CommandKind::ALL
        .into_iter()
        .filter(|kind| provider_of(*kind) == provider && !exercised.contains(kind))
        .collect();
    assert!(
        missing.is_empty(),
        "no interaction with {provider} exercises the commands {missing:?}"
    );
}

/// `(participant, rpc)` of every kind of command the sagas send.
fn calls_of_commands() -> BTreeSet<(String, String)> {
    CommandKind::ALL
        .into_iter()
        .map(|kind| {
            let (participant, rpc) = kind.rpc();
            (participant.as_str().to_owned(), rpc.to_owned())
        })
        .collect()
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

/// Every kind of command has a contract, and no contract is left for a call no command makes.
#[test]
fn every_command_has_a_contract() {
    assert_eq!(calls_of_commands(), calls_in_pacts());
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
