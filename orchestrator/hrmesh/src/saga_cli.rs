//! `hrmesh saga ...`: start, inspect, watch and operate sagas from a terminal or a script.
//!
//! Output is a table for people or, with `-o json`, canonical proto3 JSON (one object per line
//! while following a saga). The exit code says how a followed saga ended ([`EXIT_COMPENSATED`],
//! [`EXIT_STUCK`]); a refused call prints its status with every detail (the fields and rules of a
//! BadRequest, the reason and metadata of an ErrorInfo) and exits 1.

use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_proto::common::DateRange;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::orchestrator::*;
use hrmesh_proto::performance::{PipOutcome, Rating, ReviewSection};
use prost::Message;
use tonic_types::StatusExt;

/// A followed saga ended compensated.
pub const EXIT_COMPENSATED: u8 = 3;
/// A followed saga is stuck, waiting for an operator.
pub const EXIT_STUCK: u8 = 4;
/// The stream ended while the saga was still running (the orchestrator went away).
pub const EXIT_RUNNING: u8 = 5;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// Aligned text for people.
    Table,
    /// Canonical proto3 JSON: one object, or one per line while following a saga.
    Json,
}

#[derive(Debug, Args)]
pub struct SagaArgs {
    /// The orchestrator to talk to.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:50051",
        env = "HRMESH_ORCHESTRATOR_URL"
    )]
    orchestrator: String,
    /// The bearer token to call with (`hrmesh token` mints one; `saga.create`, `saga.read` and, for
    /// the operator actions, `saga.admin`).
    #[arg(
        long,
        global = true,
        value_name = "JWT",
        env = "HRMESH_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// How to print results.
    #[arg(
        long,
        short = 'o',
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table
    )]
    output: OutputFormat,
    #[command(flatten)]
    tls: crate::ClientTlsArgs,
    #[command(subcommand)]
    command: SagaCommand,
}

/// Exit codes of `start` (unless --detach) and `watch`: 0 the saga completed, 3 it was
/// compensated, 4 it is stuck (an operator must act), 5 the stream ended while it was still
/// running; 1 for an error (a refused call, an argument the service refused, no connection), 2 for
/// a command line that does not parse. Every other command exits 0 when its call succeeded.
#[derive(Debug, Subcommand)]
enum SagaCommand {
    /// Start a saga and follow its steps live until it ends (or return at once with --detach).
    /// Exits 0 completed, 3 compensated, 4 stuck.
    Start(StartArgs),
    /// Show a saga with its steps and full history.
    Get { saga_id: String },
    /// List sagas, newest first.
    List(ListArgs),
    /// Follow a saga's steps live until it ends or is stuck. Exits 0 completed, 3 compensated,
    /// 4 stuck.
    Watch { saga_id: String },
    /// Operator: try a stuck saga's step again.
    Retry(OperatorArgs),
    /// Operator: declare a stuck saga's step done without calling it (needs --justification).
    Skip(OperatorArgs),
    /// Operator: declare a stuck saga compensated by hand (needs --justification).
    MarkCompensated(OperatorArgs),
}

#[derive(Debug, Args)]
struct StartArgs {
    /// The idempotency key of the start (default: a fresh one). Starting again with the same key
    /// returns the same saga.
    #[arg(long, value_name = "KEY")]
    request_id: Option<String>,
    /// Print the saga id and return instead of following it.
    #[arg(long)]
    detach: bool,
    #[command(subcommand)]
    saga: StartSaga,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RatingArg {
    Unsatisfactory,
    NeedsImprovement,
    MeetsExpectations,
    ExceedsExpectations,
    Outstanding,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutcomeArg {
    Successful,
    Extended,
    Unsuccessful,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SettlementArg {
    Payout,
    Forfeit,
}

#[derive(Debug, Subcommand)]
enum StartSaga {
    /// Finalize a review with its rating, grant bonus days, complete it, tell employee and manager.
    CompleteReview {
        #[arg(long)]
        review_id: String,
        #[arg(long)]
        employee_id: String,
        #[arg(long, value_enum)]
        rating: RatingArg,
        /// A written section, "Title=Body" (repeatable, at least one).
        #[arg(long = "section", value_name = "TITLE=BODY", required = true)]
        sections: Vec<String>,
        /// The ledger policy bonus days go to (none: no bonus).
        #[arg(long, value_name = "POLICY")]
        bonus_policy: Option<String>,
    },
    /// Hold the days as pending, then ask the manager.
    RequestTimeOff {
        #[arg(long)]
        employee_id: String,
        #[arg(long)]
        manager_id: String,
        #[arg(long)]
        policy_id: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: String,
        #[arg(long = "half-day", value_name = "YYYY-MM-DD")]
        half_days: Vec<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Approve (post) or reject (void) a hold, then tell the employee.
    DecideTimeOff {
        #[arg(long)]
        employee_id: String,
        #[arg(long)]
        hold_id: String,
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        #[arg(long)]
        reject: bool,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Open a performance improvement plan, freeze the bonus policy's accruals over it, then tell
    /// the employee.
    InitiatePip {
        #[arg(long)]
        employee_id: String,
        #[arg(long)]
        manager_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long = "objective", required = true)]
        objectives: Vec<String>,
        #[arg(long, value_name = "YYYY-MM-DD")]
        start_date: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        end_date: String,
        #[arg(long = "check-in", value_name = "YYYY-MM-DD", required = true)]
        check_ins: Vec<String>,
        /// The ledger policy bonus days go to: its accruals are frozen over the PIP.
        #[arg(long, default_value = "")]
        bonus_policy_id: String,
    },
    /// Record a PIP's outcome, lift (or, when extended, extend) the bonus freeze, tell the
    /// employee and the manager.
    ConcludePip {
        #[arg(long)]
        pip_id: String,
        #[arg(long)]
        employee_id: String,
        /// successful, extended or unsuccessful.
        #[arg(long, value_enum)]
        outcome: OutcomeArg,
        #[arg(long, default_value = "")]
        notes: String,
        /// For an extended PIP: its new end.
        #[arg(long, value_name = "YYYY-MM-DD", default_value = "")]
        new_end_date: String,
        #[arg(long = "check-in", value_name = "YYYY-MM-DD")]
        additional_check_ins: Vec<String>,
    },
    /// Close the employee's open records, end their assignments on the last day (voiding later
    /// holds, posting earlier ones), settle every balance, tell them and HR.
    OffboardEmployee {
        #[arg(long)]
        employee_id: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        last_day: String,
        #[arg(long, value_enum)]
        settlement: SettlementArg,
        #[arg(long)]
        hr_recipient_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Assign the time-off policies, run their first accrual by their rules, create the probation
    /// review and goals, welcome.
    OnboardEmployee {
        #[arg(long)]
        employee_id: String,
        #[arg(long)]
        manager_id: String,
        /// A policy to assign (repeat for several).
        #[arg(long = "policy-id", required = true)]
        policy_ids: Vec<String>,
        #[arg(long, value_name = "YYYY-MM-DD")]
        start_date: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        probation_review_due: String,
        #[arg(long = "goal")]
        goals: Vec<String>,
    },
    /// Erase the employee's personal data in every service (admins only; cannot be undone):
    /// their free text then reads as "[erased]", while records, balances and saga histories stay.
    ErasePersonalData {
        #[arg(long)]
        employee_id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SagaTypeArg {
    CompleteReview,
    RequestTimeOff,
    DecideTimeOff,
    InitiatePip,
    ConcludePip,
    OffboardEmployee,
    OnboardEmployee,
    ErasePersonalData,
}

impl SagaTypeArg {
    fn proto(self) -> SagaType {
        match self {
            Self::CompleteReview => SagaType::CompleteReview,
            Self::RequestTimeOff => SagaType::RequestTimeOff,
            Self::DecideTimeOff => SagaType::DecideTimeOff,
            Self::InitiatePip => SagaType::InitiatePip,
            Self::ConcludePip => SagaType::ConcludePip,
            Self::OffboardEmployee => SagaType::OffboardEmployee,
            Self::OnboardEmployee => SagaType::OnboardEmployee,
            Self::ErasePersonalData => SagaType::ErasePersonalData,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SagaStateArg {
    /// Going forward.
    Running,
    /// Undoing its completed steps.
    Compensating,
    Completed,
    Compensated,
    /// Waiting for an operator (retry, skip step, mark compensated).
    Stuck,
}

impl SagaStateArg {
    fn proto(self) -> SagaState {
        match self {
            Self::Running => SagaState::Running,
            Self::Compensating => SagaState::Compensating,
            Self::Completed => SagaState::Completed,
            Self::Compensated => SagaState::Compensated,
            Self::Stuck => SagaState::Stuck,
        }
    }
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    saga_type: Option<SagaTypeArg>,
    #[arg(long, value_enum)]
    state: Option<SagaStateArg>,
    #[arg(long)]
    employee_id: Option<String>,
    /// Only sagas created at or after this time: RFC 3339 (2026-12-01T09:00:00Z), a date
    /// (2026-12-01, midnight UTC) or an age (90m, 12h, 7d ago).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only sagas created before this time (as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Sagas per page (1-500).
    #[arg(long, visible_alias = "limit", default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=500))]
    page_size: i32,
    /// Continue from a page token an earlier list printed.
    #[arg(long, value_name = "TOKEN")]
    page_token: Option<String>,
    /// Follow the page tokens to the last page.
    #[arg(long, conflicts_with = "page_token")]
    all: bool,
}

/// `--since` / `--until`: RFC 3339, a date (midnight UTC), or an age before now.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not RFC 3339, YYYY-MM-DD or an age like 12h"))?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(amount),
        "m" => chrono::Duration::try_minutes(amount),
        "h" => chrono::Duration::try_hours(amount),
        "d" => chrono::Duration::try_days(amount),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?}: an age is a number and s, m, h or d"))?;
    Ok(Utc::now() - age)
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[derive(Debug, Args)]
struct OperatorArgs {
    saga_id: String,
    /// The idempotency key of the action (default: a fresh one). Who acts is the token's
    /// subject, recorded in the saga's history.
    #[arg(long, value_name = "KEY")]
    request_id: Option<String>,
    /// Why (required for skip and mark-compensated).
    #[arg(long, default_value = "")]
    justification: String,
}

fn rating(arg: RatingArg) -> Rating {
    match arg {
        RatingArg::Unsatisfactory => Rating::Unsatisfactory,
        RatingArg::NeedsImprovement => Rating::NeedsImprovement,
        RatingArg::MeetsExpectations => Rating::MeetsExpectations,
        RatingArg::ExceedsExpectations => Rating::ExceedsExpectations,
        RatingArg::Outstanding => Rating::Outstanding,
    }
}

fn input(saga: StartSaga) -> anyhow::Result<Input> {
    Ok(match saga {
        StartSaga::CompleteReview {
            review_id,
            employee_id,
            rating: r,
            sections,
            bonus_policy,
        } => Input::CompleteReview(CompleteReviewInput {
            review_id,
            employee_id,
            rating: rating(r) as i32,
            sections: sections
                .into_iter()
                .map(|section| {
                    let (title, body) = section
                        .split_once('=')
                        .with_context(|| format!("--section {section:?} is not TITLE=BODY"))?;
                    Ok(ReviewSection {
                        title: title.to_owned(),
                        body: body.to_owned(),
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            bonus_policy_id: bonus_policy.unwrap_or_default(),
        }),
        StartSaga::RequestTimeOff {
            employee_id,
            manager_id,
            policy_id,
            from,
            to,
            half_days,
            reason,
        } => Input::RequestTimeOff(RequestTimeOffInput {
            employee_id,
            manager_id,
            policy_id,
            dates: Some(DateRange {
                start_date: from,
                end_date: to,
            }),
            half_days,
            reason,
        }),
        StartSaga::DecideTimeOff {
            employee_id,
            hold_id,
            approve,
            reject: _,
            reason,
        } => Input::DecideTimeOff(DecideTimeOffInput {
            employee_id,
            hold_id,
            approve,
            reason,
        }),
        StartSaga::InitiatePip {
            employee_id,
            manager_id,
            reason,
            objectives,
            start_date,
            end_date,
            check_ins,
            bonus_policy_id,
        } => Input::InitiatePip(InitiatePipInput {
            employee_id,
            manager_id,
            reason,
            objectives,
            start_date,
            end_date,
            check_in_dates: check_ins,
            bonus_policy_id,
        }),
        StartSaga::ConcludePip {
            pip_id,
            employee_id,
            outcome,
            notes,
            new_end_date,
            additional_check_ins,
        } => Input::ConcludePip(hrmesh_proto::orchestrator::ConcludePipInput {
            pip_id,
            employee_id,
            outcome: match outcome {
                OutcomeArg::Successful => PipOutcome::Successful,
                OutcomeArg::Extended => PipOutcome::Extended,
                OutcomeArg::Unsuccessful => PipOutcome::Unsuccessful,
            } as i32,
            notes,
            new_end_date,
            additional_check_in_dates: additional_check_ins,
        }),
        StartSaga::ErasePersonalData { employee_id } => {
            Input::ErasePersonalData(hrmesh_proto::orchestrator::ErasePersonalDataInput {
                employee_id,
            })
        }
        StartSaga::OffboardEmployee {
            employee_id,
            last_day,
            settlement,
            hr_recipient_id,
            reason,
        } => Input::OffboardEmployee(OffboardEmployeeInput {
            employee_id,
            last_day,
            #[allow(deprecated)]
            policy_id: String::new(),
            settlement: match settlement {
                SettlementArg::Payout => Settlement::Payout,
                SettlementArg::Forfeit => Settlement::Forfeit,
            } as i32,
            hr_recipient_id,
            reason,
        }),
        StartSaga::OnboardEmployee {
            employee_id,
            manager_id,
            policy_ids,
            start_date,
            probation_review_due,
            goals,
        } => Input::OnboardEmployee(OnboardEmployeeInput {
            employee_id,
            manager_id,
            policy_id: String::new(),
            policy_ids,
            start_date,
            #[allow(deprecated)]
            first_accrual_days: String::new(),
            probation_review_due_date: probation_review_due,
            starter_goals: goals,
        }),
    })
}

fn state_name(state: i32) -> String {
    SagaState::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("SAGA_STATE_").to_owned())
        .unwrap_or_else(|_| state.to_string())
}

fn type_name(saga_type: i32) -> String {
    SagaType::try_from(saga_type)
        .map(|t| {
            t.as_str_name()
                .trim_start_matches("SAGA_TYPE_")
                .to_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_else(|_| saga_type.to_string())
}

fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn event_line(event: &SagaEvent) -> String {
    let mut line = format!(
        "  #{:<3} {}  step {}  {}",
        event.sequence,
        time(event.time.as_ref()),
        event.step,
        event.kind
    );
    if !event.actor.is_empty() {
        line.push_str(&format!("  by {}", event.actor));
    }
    if !event.detail.is_empty() {
        line.push_str(&format!("  — {}", event.detail));
    }
    let mut output: Vec<_> = event.output.iter().collect();
    output.sort();
    for (key, value) in output {
        line.push_str(&format!("  {key}={value}"));
    }
    line
}

fn print_saga(saga: &Saga) {
    println!(
        "saga {}  {}  {}  employee {}  started {}",
        saga.saga_id,
        type_name(saga.r#type),
        state_name(saga.state),
        saga.employee_id,
        time(saga.create_time.as_ref())
    );
    if !saga.reason.is_empty() {
        println!("reason: {}", saga.reason);
    }
    for step in &saga.steps {
        let kind = StepKind::try_from(step.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("STEP_KIND_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        let status = StepStatus::try_from(step.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("STEP_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        println!("  {} {:<20} {:<14} {}", step.index, step.name, kind, status);
    }
    if !saga.history.is_empty() {
        println!("history:");
        for event in &saga.history {
            println!("{}", event_line(event));
        }
    }
}

/// `message` as canonical proto3 JSON (through the embedded descriptors).
fn json<M: Message + prost::Name>(message: &M) -> anyhow::Result<serde_json::Value> {
    static POOL: LazyLock<Result<prost_reflect::DescriptorPool, prost_reflect::DescriptorError>> =
        LazyLock::new(|| prost_reflect::DescriptorPool::decode(hrmesh_proto::FILE_DESCRIPTOR_SET));
    let pool = POOL
        .as_ref()
        .map_err(|err| anyhow::anyhow!("the embedded descriptors: {err}"))?;
    let descriptor = pool
        .get_message_by_name(&M::full_name())
        .with_context(|| format!("{} is not in the descriptors", M::full_name()))?;
    let dynamic =
        prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    Ok(serde_json::to_value(&dynamic)?)
}

fn print_json<M: Message + prost::Name>(message: &M) -> anyhow::Result<()> {
    println!("{}", json(message)?);
    Ok(())
}

/// A refused call with everything the status says: code, message, the violated fields and
/// rules of a BadRequest, the reason, domain and metadata of an ErrorInfo, and the other
/// standard details.
pub fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            text.push_str(&format!(
                "\n  field {}: {}",
                violation.field, violation.description
            ));
        }
    }
    if let Some(info) = details.error_info() {
        text.push_str(&format!("\n  reason {} ({})", info.reason, info.domain));
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (key, value) in metadata {
            text.push_str(&format!("\n    {key}: {value}"));
        }
    }
    if let Some(failure) = details.precondition_failure() {
        for violation in &failure.violations {
            text.push_str(&format!(
                "\n  precondition {} {}: {}",
                violation.r#type, violation.subject, violation.description
            ));
        }
    }
    if let Some(retry) = details.retry_info()
        && let Some(delay) = retry.retry_delay
    {
        text.push_str(&format!("\n  retry after {delay:?}"));
    }
    if let Some(help) = details.help() {
        for link in &help.links {
            text.push_str(&format!("\n  see {}: {}", link.description, link.url));
        }
    }
    text
}

/// A refused call as an error that prints its details.
pub(crate) fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(describe(&status))
}

/// How a followed saga ended, as the exit code.
fn exit_for(state: i32) -> ExitCode {
    match SagaState::try_from(state) {
        Ok(SagaState::Completed) => ExitCode::SUCCESS,
        Ok(SagaState::Compensated) => ExitCode::from(EXIT_COMPENSATED),
        Ok(SagaState::Stuck) => ExitCode::from(EXIT_STUCK),
        _ => ExitCode::from(EXIT_RUNNING),
    }
}

/// Follows `saga_id` until its stream ends; answers the last state.
async fn watch(
    client: &mut SagaServiceClient<MeshChannel>,
    saga_id: &str,
    output: OutputFormat,
) -> anyhow::Result<i32> {
    let mut updates = client
        .watch_saga(WatchSagaRequest {
            saga_id: saga_id.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    if output == OutputFormat::Table {
        println!("watching saga {saga_id} (Ctrl-C stops watching; the saga goes on)");
    }
    let mut state = 0;
    while let Some(update) = updates.message().await.map_err(refused)? {
        match output {
            OutputFormat::Json => print_json(&update)?,
            OutputFormat::Table => {
                if let Some(event) = &update.event {
                    println!("{}", event_line(event));
                }
            }
        }
        state = update.state;
    }
    if output == OutputFormat::Table {
        println!("saga {saga_id} is {}", state_name(state));
    }
    Ok(state)
}

fn show(saga: &Saga, output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(saga),
        OutputFormat::Table => {
            print_saga(saga);
            Ok(())
        }
    }
}

fn list_line(saga: &Saga) -> String {
    format!(
        "{}  {:<18} {:<12} {:<10} {}  {}",
        saga.saga_id,
        type_name(saga.r#type),
        state_name(saga.state),
        saga.employee_id,
        time(saga.create_time.as_ref()),
        saga.reason
    )
}

async fn list(
    client: &mut SagaServiceClient<MeshChannel>,
    list: ListArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let mut request = ListSagasRequest {
        r#type: list.saga_type.map_or(0, |t| t.proto() as i32),
        state: list.state.map_or(0, |s| s.proto() as i32),
        employee_id: list.employee_id.unwrap_or_default(),
        created_after: list.since.map(timestamp),
        created_before: list.until.map(timestamp),
        page_size: list.page_size,
        page_token: list.page_token.unwrap_or_default(),
    };
    loop {
        let page = client
            .list_sagas(request.clone())
            .await
            .map_err(refused)?
            .into_inner();
        match output {
            OutputFormat::Json if list.all => {
                for saga in &page.sagas {
                    print_json(saga)?;
                }
            }
            OutputFormat::Json => print_json(&page)?,
            OutputFormat::Table => {
                for saga in &page.sagas {
                    println!("{}", list_line(saga));
                }
                if !list.all && !page.next_page_token.is_empty() {
                    println!("more: --page-token {}", page.next_page_token);
                }
            }
        }
        if !list.all || page.next_page_token.is_empty() {
            return Ok(());
        }
        request.page_token = page.next_page_token;
    }
}

pub async fn run(args: SagaArgs) -> anyhow::Result<ExitCode> {
    let channel = args
        .tls
        .config()
        .endpoint(&args.orchestrator)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to the orchestrator at {}", args.orchestrator))?;
    let token = args.token.clone().map(TokenSource::fixed);
    let mut client = SagaServiceClient::new(MeshChannel::new(channel, token));
    let output = args.output;
    match args.command {
        SagaCommand::Start(start) => {
            let request_id = start
                .request_id
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let saga = client
                .start_saga(StartSagaRequest {
                    request_id,
                    wait: false,
                    input: Some(input(start.saga)?),
                })
                .await
                .map_err(refused)?
                .into_inner();
            if start.detach {
                match output {
                    OutputFormat::Json => print_json(&saga)?,
                    OutputFormat::Table => println!("{}", saga.saga_id),
                }
                return Ok(ExitCode::SUCCESS);
            }
            watch(&mut client, &saga.saga_id, output).await?;
            let saga = client
                .get_saga(GetSagaRequest {
                    saga_id: saga.saga_id,
                })
                .await
                .map_err(refused)?
                .into_inner();
            show(&saga, output)?;
            return Ok(exit_for(saga.state));
        }
        SagaCommand::Get { saga_id } => {
            let saga = client
                .get_saga(GetSagaRequest { saga_id })
                .await
                .map_err(refused)?
                .into_inner();
            show(&saga, output)?;
        }
        SagaCommand::List(args) => list(&mut client, args, output).await?,
        SagaCommand::Watch { saga_id } => {
            let state = watch(&mut client, &saga_id, output).await?;
            return Ok(exit_for(state));
        }
        SagaCommand::Retry(op) => {
            let saga = client
                .retry_saga(operator(op))
                .await
                .map_err(refused)?
                .into_inner();
            show(&saga, output)?;
        }
        SagaCommand::Skip(op) => {
            let saga = client
                .skip_step(operator(op))
                .await
                .map_err(refused)?
                .into_inner();
            show(&saga, output)?;
        }
        SagaCommand::MarkCompensated(op) => {
            let saga = client
                .mark_compensated(operator(op))
                .await
                .map_err(refused)?
                .into_inner();
            show(&saga, output)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn operator(args: OperatorArgs) -> OperatorRequest {
    OperatorRequest {
        saga_id: args.saga_id,
        justification: args.justification,
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
    }
}
