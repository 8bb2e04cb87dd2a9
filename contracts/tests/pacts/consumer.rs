//! The orchestrator's side: every participant command the sagas make, forward and undo, written
//! as a V4 synchronous-message interaction and run through the orchestrator's real code — the
//! saga's plan for the step (`SagaInput::plan`) and the one adapter that turns a command into its
//! call (`Participants::execute`, over the real resilient tonic clients) — against a mock
//! participant that answers from the pact. Then the pact is compared with the committed one under
//! `contracts/pacts/`, and every kind of command must have an interaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use hrmesh_contracts::grpc::{METHOD_KEY, STATUS_KEY};
use hrmesh_contracts::mock::MockProvider;
use hrmesh_orchestrator_server::adapter::Participants;
use hrmesh_orchestrator_server::ports::{Call, ParticipantPort};
use hrmesh_orchestrator_server::resilience::ResilienceConfig;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_saga_core::{
    CallOutcome, CommandKind, Direction, Plan, SagaInput, StepContext, StepOutput,
};
use pact_consumer::patterns::{JsonPattern, Pattern};
use pact_consumer::prelude::*;
use pact_models::content_types::JSON;
use pact_models::generators::{Generator, GeneratorCategory, Generators};
use pact_models::matchingrules::MatchingRules;
use pact_models::path_exp::DocPath;
use pact_models::prelude::{OptionalBody, ProviderState};
use pact_models::v4::message_parts::MessageContents;
use pact_models::v4::sync_message::SynchronousMessage;
use serde_json::Value;

pub const CONSUMER: &str = "hrmesh-orchestrator";
/// The saga every interaction's calls belong to.
pub const SAGA: &str = "01937c8e-2f6a-7c3e-9a41-5d2b8c7e0f13";
/// Set to regenerate the committed pacts instead of checking them.
pub const UPDATE_VAR: &str = "HRMESH_UPDATE_PACTS";

pub const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
pub const DATE: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
pub const DECIMAL: &str = "^-?[0-9]+(\\.[0-9]{1,3})?$";
pub const INT64: &str = "^-?[0-9]+$";

/// The committed pact between the orchestrator and `provider`.
pub fn pact_path(provider: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pacts")
        .join(format!("{CONSUMER}-{provider}.json"))
}

/// The idempotency key of a step's call, as the orchestrator makes it.
pub fn key(step: usize, direction: &str) -> String {
    format!("saga:{SAGA}:{step}:{direction}")
}

/// Matches the key of `step` in `direction` of any saga.
pub fn key_pattern(step: usize, direction: &str) -> JsonPattern {
    term!(
        format!("^saga:[0-9a-f-]{{36}}:{step}:{direction}$"),
        key(step, direction)
    )
    .into()
}

/// How the participant answers in the contract.
pub enum Reply {
    Ok(JsonPattern),
    /// A status code name and the ErrorInfo body.
    Error(&'static str, JsonPattern),
}

/// What the orchestrator must make of the answer.
pub enum Expect {
    Done(&'static [(&'static str, &'static str)]),
    /// Rejected, with this ErrorInfo reason.
    Rejected(&'static str),
}

/// One step call: the saga input, the step, the direction and the outputs of earlier steps.
pub struct Drive {
    pub input: Input,
    pub step: usize,
    pub direction: Direction,
    pub outputs: Vec<Option<StepOutput>>,
    pub expect: Expect,
}

impl Drive {
    pub fn new(input: Input, step: usize, direction: Direction, expect: Expect) -> Self {
        Self {
            input,
            step,
            direction,
            outputs: Vec::new(),
            expect,
        }
    }

    /// The output step `step` had, by the facts it shows.
    pub fn after(mut self, step: usize, pairs: &[(&str, &str)]) -> Self {
        if self.outputs.len() <= step {
            self.outputs.resize(step + 1, None);
        }
        let facts = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.outputs[step] = Some(StepOutput::from_legacy(&facts));
        self
    }

    /// The output step `step` had.
    pub fn with(mut self, step: usize, output: StepOutput) -> Self {
        if self.outputs.len() <= step {
            self.outputs.resize(step + 1, None);
        }
        self.outputs[step] = Some(output);
        self
    }

    fn saga_input(&self) -> SagaInput {
        let start = hrmesh_proto::orchestrator::StartSagaRequest {
            request_id: "contract".into(),
            wait: false,
            input: Some(self.input.clone()),
        };
        match hrmesh_orchestrator_server::convert::start_input(&start) {
            Ok((_, input)) => input,
            Err(v) => panic!("the contract's saga input is invalid: {:?}", v.into_vec()),
        }
    }
}

/// A request, with the fields the provider state supplies: `(JSON path, expression)`.
pub struct Request {
    pub body: JsonPattern,
    pub injected: Vec<(&'static str, &'static str)>,
}

impl From<JsonPattern> for Request {
    fn from(body: JsonPattern) -> Self {
        Self {
            body,
            injected: Vec::new(),
        }
    }
}

impl Request {
    /// `path` (e.g. `$.holdId`) comes from the provider state's value `name`.
    pub fn inject(mut self, path: &'static str, name: &'static str) -> Self {
        self.injected.push((path, name));
        self
    }
}

fn contents(body: &JsonPattern, metadata: HashMap<String, Value>) -> MessageContents {
    let mut rules = MatchingRules::default();
    body.extract_matching_rules(DocPath::root(), rules.add_category("body"));
    MessageContents {
        contents: OptionalBody::Present(
            body.to_example().to_string().into(),
            Some(JSON.clone()),
            None,
        ),
        metadata,
        matching_rules: rules,
        generators: Generators::default(),
    }
}

/// The interactions between the orchestrator and one participant, each with the step call that
/// makes it.
pub struct Contract {
    pub provider: &'static str,
    pub service: &'static str,
    builder: PactBuilder,
    drives: Vec<(String, Drive)>,
    /// The kinds of command the interactions exercised.
    commands: Vec<CommandKind>,
}

impl Contract {
    pub fn new(provider: &'static str, service: &'static str) -> Self {
        Self {
            provider,
            service,
            builder: PactBuilder::new_v4(CONSUMER, provider),
            drives: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// ErasePersonalData as erase-personal-data's step `step` sends it: every participant is
    /// asked the same way, and an employee with nothing left to erase answers 0 keys (omitted in
    /// the JSON).
    pub fn erase_personal_data(&mut self, step: usize) {
        self.interaction(
            "erase an employee's personal data",
            &[],
            "ErasePersonalData",
            json_pattern!({
                "requestId": key_pattern(step, "do"),
                "employeeId": like!("e-1"),
            }),
            Reply::Ok(json_pattern!({
                "employeeId": like!("e-1"),
                "erasedAt": like!("2026-12-31T17:00:00Z"),
            })),
            Drive::new(
                erase_personal_data(),
                step,
                hrmesh_saga_core::Direction::Forward,
                Expect::Done(&[("keys_destroyed", "0")]),
            ),
        );
    }

    pub fn interaction(
        &mut self,
        description: &str,
        given: &[&str],
        method: &str,
        request: impl Into<Request>,
        reply: Reply,
        drive: Drive,
    ) {
        let request = request.into();
        let mut request_contents = contents(
            &request.body,
            HashMap::from([(
                METHOD_KEY.to_owned(),
                Value::String(format!("{}/{method}", self.service)),
            )]),
        );
        for (path, name) in &request.injected {
            request_contents.generators.add_generator_with_subcategory(
                &GeneratorCategory::BODY,
                DocPath::new(*path).unwrap_or_else(|err| panic!("{path}: {err}")),
                Generator::ProviderStateGenerator(format!("${{{name}}}"), None),
            );
        }
        let (code, body) = match reply {
            Reply::Ok(body) => ("OK", body),
            Reply::Error(code, body) => (code, body),
        };
        let response = contents(
            &body,
            HashMap::from([(STATUS_KEY.to_owned(), Value::String(code.to_owned()))]),
        );
        let message = SynchronousMessage {
            description: description.to_owned(),
            provider_states: given
                .iter()
                .map(|name| ProviderState::default(*name))
                .collect(),
            request: request_contents,
            response: vec![response],
            ..SynchronousMessage::default()
        };
        self.builder.push_interaction(&message);
        self.drives.push((description.to_owned(), drive));
    }

    /// Runs every interaction's step against a mock participant, then checks the written pact
    /// against the committed one (or replaces it, with `HRMESH_UPDATE_PACTS=1`). Answers the kinds
    /// of command the interactions exercised.
    pub async fn run(mut self) -> Vec<CommandKind> {
        let out = tempfile::tempdir().expect("a temporary directory");
        self.builder.with_output_dir(out.path());
        let (auth, permissions) = crate::participant_auth(self.service);
        let mock = MockProvider::start(self.service, &auth, permissions)
            .await
            .expect("mock");
        let participants = Participants::connect(
            &mock.uri(),
            &mock.uri(),
            &mock.uri(),
            &no_retries(),
            &hrmesh_mesh::tls::TlsConfig::default(),
            crate::orchestrator_identity(),
        )
        .expect("clients");
        let created = NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
        let mut drives: HashMap<String, Drive> = self.drives.drain(..).collect();
        let mut failures = Vec::new();
        // The iterator applies the consumer-side generators; it writes the pact when dropped.
        let messages = tokio::task::block_in_place(|| self.builder.synchronous_messages());
        let mut exercised = 0;
        for message in messages {
            let description = message.description.clone();
            let drive = drives
                .remove(&description)
                .unwrap_or_else(|| panic!("no step drives \"{description}\""));
            mock.expect(message);
            let ctx = StepContext {
                saga_id: SAGA,
                created,
                outputs: &drive.outputs,
            };
            let Plan::Call(command) = drive.saga_input().plan(drive.step, drive.direction, &ctx)
            else {
                failures.push(format!("{description}: the step makes no call"));
                continue;
            };
            self.commands.push(command.kind());
            let request_id = ctx.key(drive.step, drive.direction);
            let outcome = participants
                .execute(Call {
                    command: &command,
                    request_id: &request_id,
                    deadline: None,
                    on_behalf_of: "e-2",
                    hold_to_employee: true,
                })
                .await;
            let outcome = match outcome {
                CallOutcome::Rejected(rejection) if command.rejection_is_done(&rejection) => {
                    CallOutcome::Done(StepOutput::Nothing)
                }
                other => other,
            };
            let calls = mock.calls();
            if calls.len() != 1 {
                failures.push(format!(
                    "{description}: the step made {} calls, not 1: {calls:#?}",
                    calls.len()
                ));
            }
            for call in &calls {
                for mismatch in &call.mismatches {
                    failures.push(format!("{description}: {mismatch}"));
                }
            }
            if let Some(problem) = check(&drive.expect, &outcome) {
                failures.push(format!("{description}: {problem}"));
            }
            exercised += 1;
        }
        assert!(
            failures.is_empty(),
            "the orchestrator does not honour its contract with {}:\n{}",
            self.provider,
            failures.join("\n")
        );
        assert!(exercised > 0 && drives.is_empty(), "every interaction ran");
        mock.stop().await.expect("stop the mock");

        let written = out
            .path()
            .join(format!("{CONSUMER}-{}.json", self.provider));
        let generated =
            canonical(&std::fs::read_to_string(&written).expect("the pact was written"));
        let committed_path = pact_path(self.provider);
        if std::env::var(UPDATE_VAR).is_ok_and(|v| v == "1") {
            std::fs::write(&committed_path, &generated).expect("update the committed pact");
            return self.commands;
        }
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from the contract the orchestrator's tests generate. If the change is \
             intended, regenerate it with `{UPDATE_VAR}=1 cargo nextest run -p hrmesh-contracts \
             consumer`, commit it, and make sure the provider verification passes \
             (contracts/README.md).\n--- generated ---\n{generated}",
            committed_path.display()
        );
        self.commands
    }
}

/// The pact with every object's keys sorted (the pact writer's order follows hash maps), so the
/// committed file changes only when the contract does.
fn canonical(text: &str) -> String {
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let value: Value = serde_json::from_str(text).expect("the written pact is JSON");
    let mut text = serde_json::to_string_pretty(&sorted(value)).expect("JSON serialises");
    text.push('\n');
    text
}

/// One attempt per call: a mismatch answers INTERNAL, which must show, not be retried away.
fn no_retries() -> ResilienceConfig {
    ResilienceConfig {
        attempts: 1,
        ..ResilienceConfig::default()
    }
}

fn check(expect: &Expect, outcome: &CallOutcome) -> Option<String> {
    match (expect, outcome) {
        (Expect::Done(pairs), CallOutcome::Done(output)) => {
            let wanted: std::collections::BTreeMap<&str, String> =
                pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            let facts = output.facts();
            (facts != wanted).then(|| format!("the step's output is {facts:?}, not {wanted:?}"))
        }
        (Expect::Rejected(reason), CallOutcome::Rejected(rejection)) => (rejection.reason_name
            != *reason)
            .then(|| format!("rejected with \"{rejection}\", not for {reason}")),
        (_, other) => Some(format!("the step came to {other:?}")),
    }
}

/// A `google.rpc.ErrorInfo` body with `reason`.
pub fn error_info(reason: &str) -> JsonPattern {
    json_pattern!({ "reason": reason })
}

// ---- the saga inputs the interactions' steps run with

pub const REVIEW: &str = "01937c90-5b1e-7a2c-8f3d-2e4b6a8c0d1f";
pub const HOLD: &str = "01937c91-0a4d-7e21-b6f0-93c5d1e7a2b4";
pub const ASSIGNMENT: &str = "01937c92-7d3b-7f15-a9e2-4c8b0f6d1e3a";
pub const PIP: &str = "01937c93-1e6f-7b40-8c2d-5a9e3b7f0c14";
pub const FREEZE: &str = "01937c94-3c2a-7d51-9e4f-6b0a2c8d1f25";
pub const PROBATION_REVIEW: &str = "01937c94-3c8a-7d52-9f1b-6e2a4d8c0b75";
pub const GOAL: &str = "01937c95-9b2e-7a63-8d4f-1c7e5a3b9d06";
pub const NOTIFICATION: &str = "01937c96-4f1a-7c84-b3e5-8d2c6a0e4f17";

use hrmesh_proto::common::DateRange;
use hrmesh_proto::orchestrator as opb;
use hrmesh_proto::performance::{Rating, ReviewSection};

pub fn complete_review() -> Input {
    Input::CompleteReview(opb::CompleteReviewInput {
        review_id: REVIEW.into(),
        employee_id: "e-1".into(),
        rating: Rating::Outstanding as i32,
        sections: vec![ReviewSection {
            title: "Delivery".into(),
            body: "Shipped the payroll migration a month early.".into(),
        }],
        bonus_policy_id: "pto".into(),
    })
}

pub fn request_time_off() -> Input {
    Input::RequestTimeOff(opb::RequestTimeOffInput {
        employee_id: "e-1".into(),
        manager_id: "e-2".into(),
        policy_id: "pto".into(),
        dates: Some(DateRange {
            start_date: "2026-12-14".into(),
            end_date: "2026-12-16".into(),
        }),
        half_days: Vec::new(),
        reason: "family visit".into(),
    })
}

pub fn decide_time_off(approve: bool) -> Input {
    Input::DecideTimeOff(opb::DecideTimeOffInput {
        employee_id: "e-1".into(),
        hold_id: HOLD.into(),
        approve,
        reason: if approve {
            String::new()
        } else {
            "team offsite that week".into()
        },
    })
}

pub fn initiate_pip() -> Input {
    Input::InitiatePip(opb::InitiatePipInput {
        employee_id: "e-1".into(),
        manager_id: "e-2".into(),
        reason: "missed three release deadlines".into(),
        objectives: vec!["Ship each sprint's committed stories".into()],
        start_date: "2026-12-01".into(),
        end_date: "2027-02-26".into(),
        check_in_dates: vec!["2026-12-15".into(), "2027-01-15".into()],
        bonus_policy_id: "pto".into(),
    })
}

pub fn conclude_pip(extended: bool) -> Input {
    use hrmesh_proto::performance::PipOutcome;
    Input::ConcludePip(opb::ConcludePipInput {
        pip_id: PIP.into(),
        employee_id: "e-1".into(),
        outcome: if extended {
            PipOutcome::Extended
        } else {
            PipOutcome::Successful
        } as i32,
        notes: "met every objective".into(),
        new_end_date: if extended {
            "2027-04-30".into()
        } else {
            String::new()
        },
        additional_check_in_dates: Vec::new(),
    })
}

/// Offboarding's settlement of e-1's 10 days of pto, as the settle step records it.
pub fn settled_pto() -> StepOutput {
    StepOutput::Entries {
        entries: vec![hrmesh_saga_core::output::AppendedEntry {
            entry_id: 3,
            policy_id: policy("pto"),
            amount: hrmesh_domain::Quantity::from_units(-10),
        }],
    }
}

pub fn policy(text: &str) -> hrmesh_saga_core::ids::PolicyId {
    hrmesh_saga_core::ids::PolicyId::parse("policy_id", text, &mut Default::default())
        .expect("a policy id")
}

pub fn offboard_employee() -> Input {
    Input::OffboardEmployee(opb::OffboardEmployeeInput {
        employee_id: "e-1".into(),
        last_day: "2026-12-31".into(),
        #[allow(deprecated)]
        policy_id: String::new(),
        settlement: opb::Settlement::Payout as i32,
        hr_recipient_id: "e-9".into(),
        reason: String::new(),
    })
}

pub fn erase_personal_data() -> Input {
    Input::ErasePersonalData(opb::ErasePersonalDataInput {
        employee_id: "e-1".into(),
    })
}

pub fn onboard_employee() -> Input {
    Input::OnboardEmployee(opb::OnboardEmployeeInput {
        employee_id: "e-7".into(),
        manager_id: "e-2".into(),
        policy_id: "pto".into(),
        policy_ids: Vec::new(),
        start_date: "2026-12-01".into(),
        #[allow(deprecated)]
        first_accrual_days: String::new(),
        probation_review_due_date: "2027-03-01".into(),
        starter_goals: vec!["Finish the onboarding checklist".into()],
    })
}
