//! `hrmesh demo seed`: what the README's walkthrough needs on a fresh mesh, made over gRPC as a
//! development admin. Every request carries a fixed idempotency key, so seeding again answers as
//! before and changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{Datelike, Utc};
use clap::{Args, Subcommand, ValueEnum};
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;

use crate::saga_cli::refused;

/// The employee and the manager of the walkthrough.
const EMPLOYEE: &str = "e-1";
const MANAGER: &str = "m-1";
/// The time-off policy the sagas' examples use.
const POLICY: &str = "pto";

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Create the walkthrough's records on a running mesh, idempotently: policy `pto` (days,
    /// 1.75 a month, never negative) assigned to employee e-1 from January 1st of this year,
    /// its accruals up to today, and an annual review of e-1 by manager m-1 with the
    /// self-assessment submitted, ready for complete-review. Prints the review's id.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:50052",
        env = "HRMESH_DEMO_LEDGER_URL"
    )]
    ledger: String,
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:50053",
        env = "HRMESH_DEMO_PERFORMANCE_URL"
    )]
    performance: String,
    /// The development HS256 key `hrmesh up` wrote: the seed calls as an admin signed with it.
    #[arg(long, value_name = "FILE", default_value = ".data/dev-hs256.key")]
    key_file: PathBuf,
    /// How to print what was seeded: `text` for people, `env` for `eval "$(…)"`
    /// (HRMESH_DEMO_REVIEW_ID).
    #[arg(long, short = 'o', value_enum, default_value_t = SeedOutput::Text)]
    output: SeedOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SeedOutput {
    Text,
    Env,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    match args.command {
        DemoCommand::Seed(seed) => run_seed(seed).await,
    }
}

async fn channel(url: &str, token: &TokenSource) -> anyhow::Result<MeshChannel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("the URL {url:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to {url} (is `hrmesh up` running?)"))?;
    Ok(MeshChannel::new(channel, Some(token.clone())))
}

async fn run_seed(args: SeedArgs) -> anyhow::Result<()> {
    let jwt = crate::admin_token(&args.key_file, 600)
        .await
        .with_context(|| format!("signing with {}", args.key_file.display()))?;
    let token = TokenSource::fixed(jwt);
    let mut ledger = LedgerServiceClient::new(channel(&args.ledger, &token).await?);
    let mut performance = PerformanceServiceClient::new(channel(&args.performance, &token).await?);
    let today = Utc::now().date_naive();
    let year = today.year();

    // The policy may exist already, created by another request: that is what seeding wants.
    let created = ledger
        .create_policy(lpb::CreatePolicyRequest {
            request_id: "demo-seed:policy:pto".into(),
            policy_id: POLICY.into(),
            policy: Some(lpb::Policy {
                resource_type: "pto".into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: lpb::AccrualFrequency::Monthly as i32,
                    amount: "1.75".into(),
                    max_balance: String::new(),
                }),
                allow_negative: false,
                ..Default::default()
            }),
        })
        .await;
    match created {
        Ok(_) => {}
        Err(status) if status.code() == tonic::Code::AlreadyExists => {}
        Err(status) => return Err(refused(status)).context("creating policy pto"),
    }
    ledger
        .assign_policy(lpb::AssignPolicyRequest {
            request_id: format!("demo-seed:assign:{EMPLOYEE}:{year}"),
            employee_id: EMPLOYEE.into(),
            policy_id: POLICY.into(),
            effective_from: format!("{year}-01-01"),
            effective_to: String::new(),
        })
        .await
        .map_err(refused)
        .context("assigning pto to e-1")?;
    // Accruals are at most one per period (the ledger enforces it): running again adds nothing.
    ledger
        .run_accruals(lpb::RunAccrualsRequest {
            request_id: format!("demo-seed:accrue:{EMPLOYEE}:{today}"),
            up_to_date: today.to_string(),
            employee_id: EMPLOYEE.into(),
            policy_id: POLICY.into(),
        })
        .await
        .map_err(refused)
        .context("running e-1's accruals")?;
    let balance = ledger
        .get_balance(lpb::GetBalanceRequest {
            employee_id: EMPLOYEE.into(),
            policy_id: POLICY.into(),
            ..Default::default()
        })
        .await
        .map_err(refused)
        .context("reading e-1's balance")?
        .into_inner();

    let review = performance
        .create_review(ppb::CreateReviewRequest {
            request_id: format!("demo-seed:review:{EMPLOYEE}:{year}"),
            employee_id: EMPLOYEE.into(),
            manager_id: MANAGER.into(),
            cycle: ppb::ReviewCycle::Annual as i32,
            period_start: format!("{year}-01-01"),
            period_end: format!("{year}-12-31"),
            due_date: format!("{}-01-31", year + 1),
        })
        .await
        .map_err(refused)
        .context("creating e-1's review")?
        .into_inner();
    performance
        .open_self_assessment(ppb::OpenSelfAssessmentRequest {
            request_id: format!("demo-seed:review:{EMPLOYEE}:{year}:open"),
            review_id: review.review_id.clone(),
        })
        .await
        .map_err(refused)
        .context("opening the self-assessment")?;
    performance
        .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
            request_id: format!("demo-seed:review:{EMPLOYEE}:{year}:submit"),
            review_id: review.review_id.clone(),
            sections: vec![ppb::ReviewSection {
                title: "Delivery".into(),
                body: "Shipped the payroll migration.".into(),
            }],
        })
        .await
        .map_err(refused)
        .context("submitting the self-assessment")?;

    let available = balance.available;
    match args.output {
        SeedOutput::Env => println!("HRMESH_DEMO_REVIEW_ID={}", review.review_id),
        SeedOutput::Text => {
            println!("policy {POLICY} assigned to {EMPLOYEE}: {available} days available");
            println!(
                "review {} of {EMPLOYEE} by {MANAGER}: self-assessment submitted, ready for \
                 complete-review",
                review.review_id
            );
        }
    }
    Ok(())
}
