//! Provider verification: every interaction of a pact replayed against a fresh provider whose
//! states were set up for it, and the real response matched against the contract.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;

use anyhow::{Context, anyhow};
use hrmesh_mesh::client::MeshChannel;
use pact_matching::Mismatch;
use pact_models::generators::GeneratorTestMode;
use pact_models::v4::sync_message::SynchronousMessage;
use serde_json::{Value, json};

use crate::grpc::{METHOD_KEY, STATUS_KEY, call_json, code_name, error_json};
use crate::mock::{body_json, json_contents};

/// A provider started for one interaction.
pub struct Started<R> {
    /// Whatever stops it.
    pub running: R,
    pub channel: MeshChannel,
    /// Values the provider states produced (ids the provider issued), injected into the request
    /// wherever the contract says `fromProviderState`.
    pub values: HashMap<String, Value>,
}

/// A participant under verification.
pub trait Provider {
    type Running;

    /// Starts a fresh provider (its own empty database) with `interaction`'s provider states set
    /// up through the participant's own code.
    fn start(
        &self,
        interaction: &SynchronousMessage,
    ) -> impl Future<Output = anyhow::Result<Started<Self::Running>>>;

    fn stop(&self, running: Self::Running) -> impl Future<Output = anyhow::Result<()>>;
}

/// How one interaction fared.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub description: String,
    pub states: Vec<String>,
    /// What differed from the contract; empty when the provider honoured it.
    pub mismatches: Vec<String>,
}

/// How a provider fared against one pact.
#[derive(Debug, Clone)]
pub struct Report {
    pub consumer: String,
    pub provider: String,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.mismatches.is_empty())
    }

    /// The mismatches of every interaction, as `description: mismatch`.
    pub fn failures(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .flat_map(|outcome| {
                outcome
                    .mismatches
                    .iter()
                    .map(move |m| format!("{}: {m}", outcome.description))
            })
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Verifying the pact between {} and {}",
            self.consumer, self.provider
        )?;
        for outcome in &self.outcomes {
            let given = if outcome.states.is_empty() {
                String::new()
            } else {
                format!(" (given {})", outcome.states.join(", "))
            };
            let verdict = if outcome.mismatches.is_empty() {
                "OK"
            } else {
                "FAILED"
            };
            writeln!(f, "  {}{given}: {verdict}", outcome.description)?;
            for mismatch in &outcome.mismatches {
                writeln!(f, "    - {mismatch}")?;
            }
        }
        Ok(())
    }
}

/// Verifies every interaction of the pact file at `path` against `provider`.
pub async fn verify(path: &Path, provider: &impl Provider) -> anyhow::Result<Report> {
    let pact = pact_models::pact::read_pact(path)
        .with_context(|| format!("reading the pact {}", path.display()))?;
    let mut outcomes = Vec::new();
    for interaction in pact.interactions() {
        let message = interaction.as_v4_sync_message().ok_or_else(|| {
            anyhow!(
                "{}: only synchronous message interactions are supported",
                interaction.description()
            )
        })?;
        let started = provider
            .start(&message)
            .await
            .with_context(|| format!("starting the provider for \"{}\"", message.description))?;
        let mismatches = verify_one(&message, &started, &pact).await;
        provider.stop(started.running).await?;
        outcomes.push(Outcome {
            description: message.description.clone(),
            states: message
                .provider_states
                .iter()
                .map(|state| state.name.clone())
                .collect(),
            mismatches,
        });
    }
    Ok(Report {
        consumer: pact.consumer().name,
        provider: pact.provider().name,
        outcomes,
    })
}

#[expect(
    clippy::borrowed_box,
    reason = "pact_matching::match_sync_message_response takes the pact as &Box<dyn Pact>"
)]
async fn verify_one<R>(
    message: &SynchronousMessage,
    started: &Started<R>,
    pact: &Box<dyn pact_models::pact::Pact + Send + Sync + std::panic::RefUnwindSafe>,
) -> Vec<String> {
    let context: HashMap<&str, Value> = started
        .values
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    let (request, _) = pact_matching::generators::apply_generators_to_sync_message(
        message,
        &GeneratorTestMode::Provider,
        &context,
        &Vec::new(),
        &HashMap::new(),
    )
    .await;
    let Some(method) = request.metadata.get(METHOD_KEY).and_then(Value::as_str) else {
        return vec![format!("the request has no {METHOD_KEY} metadata")];
    };
    let body = body_json(&request.contents).unwrap_or_else(|| json!({}));
    let (status, body) = match call_json(started.channel.clone(), method, &body).await {
        Ok(Ok(response)) => ("OK", response),
        Ok(Err(status)) => (code_name(status.code()), error_json(&status)),
        Err(err) => return vec![format!("could not make the call: {err:#}")],
    };
    let mut actual = json_contents(&body);
    actual
        .metadata
        .insert(STATUS_KEY.to_owned(), Value::String(status.to_owned()));
    pact_matching::match_sync_message_response(message, &message.response, &[actual], pact)
        .await
        .iter()
        .map(Mismatch::description)
        .collect()
}
