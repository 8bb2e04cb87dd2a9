//! Negative controls: providers that break the contract make the verification fail, naming the
//! interaction and what broke. The provider here is the mock participant serving the pact's own
//! answers, over real gRPC, changed by a [`Tamper`]; untampered, it passes.

use std::sync::Arc;

use hrmesh_contracts::mock::{MockProvider, Tamper};
use hrmesh_contracts::verify::{Provider, Report, Started, verify};
use pact_models::v4::sync_message::SynchronousMessage;
use serde_json::{Value, json};

use crate::consumer::pact_path;
use crate::ledger;

const LEDGER_SERVICE: &str = "hrmesh.ledger.v1.LedgerService";

struct Tampered(Option<Tamper>);

impl Provider for Tampered {
    type Running = MockProvider;

    async fn start(
        &self,
        interaction: &SynchronousMessage,
    ) -> anyhow::Result<Started<Self::Running>> {
        let (auth, permissions) = crate::participant_auth(LEDGER_SERVICE);
        let mock = MockProvider::start(LEDGER_SERVICE, &auth, permissions).await?;
        mock.expect(interaction.clone());
        if let Some(tamper) = &self.0 {
            mock.tamper(tamper.clone());
        }
        let channel = crate::connect(&mock.uri()).await?;
        Ok(Started {
            running: mock,
            channel,
            values: Default::default(),
        })
    }

    async fn stop(&self, mock: Self::Running) -> anyhow::Result<()> {
        mock.stop().await
    }
}

async fn verify_ledger(tamper: Option<Tamper>) -> Report {
    let report = verify(&pact_path(ledger::PROVIDER), &Tampered(tamper))
        .await
        .expect("verification ran");
    println!("{report}");
    report
}

/// The failures of the one interaction that failed.
fn only_failure(report: &Report) -> (String, Vec<String>) {
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|outcome| !outcome.mismatches.is_empty())
        .collect();
    assert_eq!(failed.len(), 1, "exactly one interaction fails:\n{report}");
    (failed[0].description.clone(), failed[0].mismatches.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_serving_the_contract_passes() {
    let report = verify_ledger(None).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.outcomes.len(), 23);
}

/// `holdId` renamed in the provider's proto (a new field): the orchestrator no longer sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_response_field_fails() {
    let report = verify_ledger(Some(Arc::new(|method, _code, body| {
        if method.ends_with("/HoldDays")
            && let Some(object) = body.as_object_mut()
        {
            object.remove("holdId");
        }
    })))
    .await;
    let (description, mismatches) = only_failure(&report);
    assert_eq!(description, "hold the days of a time-off request");
    assert!(
        mismatches.iter().any(|m| m.contains("holdId")),
        "{mismatches:?}"
    );
}

/// The provider refuses a request the contract says it accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_status_fails() {
    let report = verify_ledger(Some(Arc::new(|method, code, body| {
        if method.ends_with("/ListBalances") {
            *code = "NOT_FOUND".into();
            *body = json!({"reason": "RESOURCE_NOT_FOUND"});
        }
    })))
    .await;
    let (description, mismatches) = only_failure(&report);
    assert_eq!(description, "read every balance to settle at offboarding");
    assert!(
        mismatches
            .iter()
            .any(|m| m.contains("grpc-status") && m.contains("NOT_FOUND")),
        "{mismatches:?}"
    );
}

/// The provider rejects for a different reason than the one the orchestrator relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_error_reason_fails() {
    let report = verify_ledger(Some(Arc::new(|_method, _code, body| {
        if body.get("reason") == Some(&Value::from("ENTRY_ALREADY_REVERSED")) {
            body["reason"] = Value::from("ENTRY_NOT_REVERSIBLE");
        }
    })))
    .await;
    let (description, mismatches) = only_failure(&report);
    assert_eq!(description, "reverse an entry that was reversed already");
    assert!(
        mismatches
            .iter()
            .any(|m| m.contains("ENTRY_NOT_REVERSIBLE")),
        "{mismatches:?}"
    );
}

/// A value of the wrong format: the contract's regex catches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_value_fails() {
    let report = verify_ledger(Some(Arc::new(|method, _code, body| {
        if method.ends_with("/AssignPolicies") {
            body["assignments"][0]["assignmentId"] = Value::from("assignment-7");
        }
    })))
    .await;
    let (description, mismatches) = only_failure(&report);
    assert_eq!(description, "assign the leave policies at onboarding");
    assert!(
        mismatches.iter().any(|m| m.contains("assignment-7")),
        "{mismatches:?}"
    );
}
