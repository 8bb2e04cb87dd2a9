//! `hrmesh saga ...`: start, inspect, watch and operate sagas from a terminal.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_proto::common::DateRange;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::orchestrator::*;
use hrmesh_proto::performance::{PipOutcome, Rating, ReviewSection};

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
    #[command(flatten)]
    tls: crate::ClientTlsArgs,
    #[command(subcommand)]
    command: SagaCommand,
}

#[derive(Debug, Subcommand)]
enum SagaCommand {
    /// Start a saga and follow its steps live until it ends (or return at once with --detach).
    Start(StartArgs),
    /// Show a saga with its steps and full history.
    Get { saga_id: String },
    /// List sagas, newest first.
    List(ListArgs),
    /// Follow a saga's steps live until it ends or is stuck.
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
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long = "type", value_name = "TYPE")]
    saga_type: Option<String>,
    /// running, compensating, completed, compensated or stuck.
    #[arg(long)]
    state: Option<String>,
    #[arg(long)]
    employee_id: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: i32,
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
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
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

async fn watch(client: &mut SagaServiceClient<MeshChannel>, saga_id: &str) -> anyhow::Result<()> {
    let mut updates = client
        .watch_saga(WatchSagaRequest {
            saga_id: saga_id.to_owned(),
        })
        .await?
        .into_inner();
    println!("watching saga {saga_id} (Ctrl-C stops watching; the saga goes on)");
    let mut state = 0;
    while let Some(update) = updates.message().await? {
        if let Some(event) = &update.event {
            println!("{}", event_line(event));
        }
        state = update.state;
    }
    println!("saga {saga_id} is {}", state_name(state));
    Ok(())
}

pub async fn run(args: SagaArgs) -> anyhow::Result<()> {
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
                .await?
                .into_inner();
            if start.detach {
                println!("{}", saga.saga_id);
                return Ok(());
            }
            watch(&mut client, &saga.saga_id).await?;
            let saga = client
                .get_saga(GetSagaRequest {
                    saga_id: saga.saga_id,
                })
                .await?
                .into_inner();
            print_saga(&saga);
        }
        SagaCommand::Get { saga_id } => {
            let saga = client
                .get_saga(GetSagaRequest { saga_id })
                .await?
                .into_inner();
            print_saga(&saga);
        }
        SagaCommand::List(list) => {
            let saga_type = match list.saga_type.as_deref() {
                None => 0,
                Some(name) => SagaType::from_str_name(&format!(
                    "SAGA_TYPE_{}",
                    name.to_uppercase().replace('-', "_")
                ))
                .with_context(|| format!("unknown saga type {name}"))?
                    as i32,
            };
            let state = match list.state.as_deref() {
                None => 0,
                Some(name) => {
                    SagaState::from_str_name(&format!("SAGA_STATE_{}", name.to_uppercase()))
                        .with_context(|| format!("unknown saga state {name}"))?
                        as i32
                }
            };
            let sagas = client
                .list_sagas(ListSagasRequest {
                    r#type: saga_type,
                    state,
                    employee_id: list.employee_id.unwrap_or_default(),
                    page_size: list.limit,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .sagas;
            for saga in sagas {
                println!(
                    "{}  {:<18} {:<12} {:<10} {}  {}",
                    saga.saga_id,
                    type_name(saga.r#type),
                    state_name(saga.state),
                    saga.employee_id,
                    time(saga.create_time.as_ref()),
                    saga.reason
                );
            }
        }
        SagaCommand::Watch { saga_id } => watch(&mut client, &saga_id).await?,
        SagaCommand::Retry(op) => {
            let saga = client.retry_saga(operator(op)).await?.into_inner();
            print_saga(&saga);
        }
        SagaCommand::Skip(op) => {
            let saga = client.skip_step(operator(op)).await?.into_inner();
            print_saga(&saga);
        }
        SagaCommand::MarkCompensated(op) => {
            let saga = client.mark_compensated(operator(op)).await?.into_inner();
            print_saga(&saga);
        }
    }
    Ok(())
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
