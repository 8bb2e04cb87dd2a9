//! The five business sagas: typed definitions, input validation, and each step's participant
//! calls forward and back. Every call's `request_id` is the step's idempotency key.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, RequestId, Violations, parse_date, parse_issued_id};
use hrmesh_kit::auth::{ActingRule, TokenSource};
use hrmesh_kit::client::MeshChannel;
use hrmesh_kit::tls::TlsConfig;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator as pb;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_saga_core::{Definition, Direction, LockMode, StepDef, StepOutput, idempotency_key};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::resilience::{CallError, ResilienceConfig, Resilient, request};

/// The saga types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaKind {
    CompleteReview,
    RequestTimeOff,
    DecideTimeOff,
    InitiatePip,
    OffboardEmployee,
    OnboardEmployee,
}

impl SagaKind {
    pub const ALL: [SagaKind; 6] = [
        SagaKind::CompleteReview,
        SagaKind::RequestTimeOff,
        SagaKind::DecideTimeOff,
        SagaKind::InitiatePip,
        SagaKind::OffboardEmployee,
        SagaKind::OnboardEmployee,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaKind::CompleteReview => "complete-review",
            SagaKind::RequestTimeOff => "request-time-off",
            SagaKind::DecideTimeOff => "decide-time-off",
            SagaKind::InitiatePip => "initiate-pip",
            SagaKind::OffboardEmployee => "offboard-employee",
            SagaKind::OnboardEmployee => "onboard-employee",
        }
    }

    /// Who may start this saga about an employee, besides services and `saga.admin` holders.
    pub fn acting_rule(self) -> ActingRule {
        match self {
            SagaKind::RequestTimeOff => ActingRule::SelfOrManager,
            SagaKind::CompleteReview | SagaKind::DecideTimeOff | SagaKind::InitiatePip => {
                ActingRule::Manager
            }
            SagaKind::OffboardEmployee | SagaKind::OnboardEmployee => ActingRule::Admin,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn proto(self) -> pb::SagaType {
        match self {
            SagaKind::CompleteReview => pb::SagaType::CompleteReview,
            SagaKind::RequestTimeOff => pb::SagaType::RequestTimeOff,
            SagaKind::DecideTimeOff => pb::SagaType::DecideTimeOff,
            SagaKind::InitiatePip => pb::SagaType::InitiatePip,
            SagaKind::OffboardEmployee => pb::SagaType::OffboardEmployee,
            SagaKind::OnboardEmployee => pb::SagaType::OnboardEmployee,
        }
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.proto() as i32 == value)
    }

    pub fn of(input: &Input) -> Self {
        match input {
            Input::CompleteReview(_) => SagaKind::CompleteReview,
            Input::RequestTimeOff(_) => SagaKind::RequestTimeOff,
            Input::DecideTimeOff(_) => SagaKind::DecideTimeOff,
            Input::InitiatePip(_) => SagaKind::InitiatePip,
            Input::OffboardEmployee(_) => SagaKind::OffboardEmployee,
            Input::OnboardEmployee(_) => SagaKind::OnboardEmployee,
        }
    }

    /// The saga's steps, checked for order once.
    pub fn definition(self) -> &'static Definition {
        static DEFINITIONS: OnceLock<Vec<Definition>> = OnceLock::new();
        let all = DEFINITIONS.get_or_init(|| {
            SagaKind::ALL
                .into_iter()
                .map(|kind| {
                    let (lock, steps) = kind.steps();
                    Definition::new(kind.as_str(), lock, steps)
                        .unwrap_or_else(|err| panic!("saga definitions are static: {err}"))
                })
                .collect()
        });
        &all[SagaKind::ALL.iter().position(|k| *k == self).unwrap_or(0)]
    }

    fn steps(self) -> (LockMode, Vec<StepDef>) {
        use StepDef as S;
        match self {
            SagaKind::CompleteReview => (
                LockMode::Shared,
                vec![
                    S::compensatable("finalize-review"),
                    S::compensatable("grant-bonus-days"),
                    S::pivot("complete-review"),
                    S::retriable("notify-employee"),
                    S::retriable("notify-manager"),
                ],
            ),
            SagaKind::RequestTimeOff => (
                LockMode::Shared,
                vec![S::compensatable("hold-days"), S::retriable("ask-manager")],
            ),
            SagaKind::DecideTimeOff => (
                LockMode::Shared,
                vec![
                    S::pivot("post-or-void-hold"),
                    S::retriable("notify-employee"),
                ],
            ),
            SagaKind::InitiatePip => (
                LockMode::Shared,
                vec![
                    S::compensatable("open-pip"),
                    S::retriable("notify-employee"),
                ],
            ),
            SagaKind::OffboardEmployee => (
                LockMode::Exclusive,
                vec![
                    S::compensatable("close-records"),
                    S::compensatable("read-balance"),
                    S::compensatable("settle-balance"),
                    S::retriable("notify-employee"),
                    S::retriable("notify-hr"),
                ],
            ),
            SagaKind::OnboardEmployee => (
                LockMode::Shared,
                vec![
                    S::pivot("assign-policy"),
                    S::retriable("first-accrual"),
                    S::retriable("probation-review"),
                    S::retriable("starter-goals"),
                    S::retriable("welcome"),
                ],
            ),
        }
    }
}

const TEXT_MAX: usize = 500;
const GOALS_MAX: usize = 10;

fn employee(field: &str, value: &str, v: &mut Violations) -> Option<EmployeeId> {
    EmployeeId::parse(field, value, v)
}

fn text(field: &str, value: &str, v: &mut Violations) {
    hrmesh_domain::check_text(field, value, TEXT_MAX, v);
}

fn quantity(field: &str, value: &str, v: &mut Violations) {
    let valid = value.split_once('.').map_or_else(
        || !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
        |(whole, fraction)| {
            !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && (1..=3).contains(&fraction.len())
                && fraction.bytes().all(|b| b.is_ascii_digit())
        },
    );
    if !valid || value.len() > 12 {
        v.add(
            field,
            "must be a non-negative decimal with at most three decimals, e.g. \"1.75\"",
        );
    }
}

/// Checks a start request: every field a step will need, so that no step after the pivot is
/// refused for bad input. Answers the saga type and the employee it concerns.
pub fn validate(request: &pb::StartSagaRequest) -> Result<(SagaKind, EmployeeId), Violations> {
    let mut v = Violations::default();
    RequestId::parse("request_id", &request.request_id, &mut v);
    let Some(input) = &request.input else {
        v.add("input", "is required: one of the saga inputs");
        return Err(v);
    };
    let kind = SagaKind::of(input);
    let employee_id = match input {
        Input::CompleteReview(i) => {
            parse_issued_id("complete_review.review_id", &i.review_id, &mut v);
            if !(1..=5).contains(&i.rating) {
                v.add(
                    "complete_review.rating",
                    "is required (UNSATISFACTORY to OUTSTANDING)",
                );
            }
            if i.sections.is_empty() {
                v.add("complete_review.sections", "must have at least one section");
            }
            if !i.bonus_policy_id.is_empty() && i.bonus_policy_id.len() > 64 {
                v.add(
                    "complete_review.bonus_policy_id",
                    "must be at most 64 characters",
                );
            }
            employee("complete_review.employee_id", &i.employee_id, &mut v)
        }
        Input::RequestTimeOff(i) => {
            employee("request_time_off.manager_id", &i.manager_id, &mut v);
            if i.policy_id.is_empty() {
                v.add("request_time_off.policy_id", "is required");
            }
            match &i.dates {
                Some(dates) => {
                    parse_date(
                        "request_time_off.dates.start_date",
                        &dates.start_date,
                        &mut v,
                    );
                    parse_date("request_time_off.dates.end_date", &dates.end_date, &mut v);
                }
                None => v.add("request_time_off.dates", "is required"),
            }
            text("request_time_off.reason", &i.reason, &mut v);
            employee("request_time_off.employee_id", &i.employee_id, &mut v)
        }
        Input::DecideTimeOff(i) => {
            parse_issued_id("decide_time_off.hold_id", &i.hold_id, &mut v);
            text("decide_time_off.reason", &i.reason, &mut v);
            employee("decide_time_off.employee_id", &i.employee_id, &mut v)
        }
        Input::InitiatePip(i) => {
            employee("initiate_pip.manager_id", &i.manager_id, &mut v);
            if i.objectives.is_empty() {
                v.add(
                    "initiate_pip.objectives",
                    "must have at least one objective",
                );
            }
            if i.check_in_dates.is_empty() {
                v.add("initiate_pip.check_in_dates", "must have at least one date");
            }
            parse_date("initiate_pip.start_date", &i.start_date, &mut v);
            parse_date("initiate_pip.end_date", &i.end_date, &mut v);
            for (n, date) in i.check_in_dates.iter().enumerate() {
                parse_date(&format!("initiate_pip.check_in_dates[{n}]"), date, &mut v);
            }
            if i.reason.trim().is_empty() {
                v.add("initiate_pip.reason", "is required");
            }
            employee("initiate_pip.employee_id", &i.employee_id, &mut v)
        }
        Input::OffboardEmployee(i) => {
            parse_date("offboard_employee.last_day", &i.last_day, &mut v);
            if i.policy_id.is_empty() {
                v.add("offboard_employee.policy_id", "is required");
            }
            if pb::Settlement::try_from(i.settlement).unwrap_or(pb::Settlement::Unspecified)
                == pb::Settlement::Unspecified
            {
                v.add("offboard_employee.settlement", "must be PAYOUT or FORFEIT");
            }
            employee(
                "offboard_employee.hr_recipient_id",
                &i.hr_recipient_id,
                &mut v,
            );
            text("offboard_employee.reason", &i.reason, &mut v);
            employee("offboard_employee.employee_id", &i.employee_id, &mut v)
        }
        Input::OnboardEmployee(i) => {
            employee("onboard_employee.manager_id", &i.manager_id, &mut v);
            if i.policy_id.is_empty() {
                v.add("onboard_employee.policy_id", "is required");
            }
            let start = parse_date("onboard_employee.start_date", &i.start_date, &mut v);
            let due = parse_date(
                "onboard_employee.probation_review_due_date",
                &i.probation_review_due_date,
                &mut v,
            );
            if let (Some(start), Some(due)) = (start, due)
                && due <= start
            {
                v.add(
                    "onboard_employee.probation_review_due_date",
                    "must be after start_date",
                );
            }
            if !i.first_accrual_days.is_empty() {
                quantity(
                    "onboard_employee.first_accrual_days",
                    &i.first_accrual_days,
                    &mut v,
                );
            }
            if i.starter_goals.len() > GOALS_MAX {
                v.add(
                    "onboard_employee.starter_goals",
                    format!("must have at most {GOALS_MAX} goals"),
                );
            }
            for (n, goal) in i.starter_goals.iter().enumerate() {
                if goal.trim().is_empty() || goal.chars().count() > 200 {
                    v.add(
                        format!("onboard_employee.starter_goals[{n}]"),
                        "must be 1-200 characters",
                    );
                }
            }
            employee("onboard_employee.employee_id", &i.employee_id, &mut v)
        }
    };
    match employee_id {
        Some(employee_id) if v.is_empty() => Ok((kind, employee_id)),
        _ => Err(v),
    }
}

/// The permissions the orchestrator's identity holds: what the saga steps call.
pub const IDENTITY_PERMISSIONS: &[&str] = &[
    "performance.create",
    "performance.read",
    "performance.update",
    "performance.admin",
    "ledger.create",
    "ledger.read",
    "ledger.update",
    "ledger.admin",
    "notification.create",
    "notification.update",
];

/// The participants' clients, each behind its resilience stack.
#[derive(Clone, Debug)]
pub struct Participants {
    pub performance: PerformanceServiceClient<MeshChannel>,
    pub ledger: LedgerServiceClient<MeshChannel>,
    pub notification: NotificationServiceClient<MeshChannel>,
    pub performance_calls: Resilient,
    pub ledger_calls: Resilient,
    pub notification_calls: Resilient,
}

impl Participants {
    /// Clients for the participants at these URLs, each behind its own resilience stack. The
    /// channels connect lazily: a participant that is down fails its calls, not the start. Every
    /// call carries `token`: the orchestrator's own identity, never an end user's.
    pub fn connect(
        performance_url: &str,
        ledger_url: &str,
        notification_url: &str,
        resilience: &ResilienceConfig,
        tls: &TlsConfig,
        token: TokenSource,
    ) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<MeshChannel> {
            Ok(MeshChannel::new(
                channel(url, resilience, tls)?,
                Some(token.clone()),
            ))
        };
        Ok(Self {
            performance: PerformanceServiceClient::new(channel(performance_url)?),
            ledger: LedgerServiceClient::new(channel(ledger_url)?),
            notification: NotificationServiceClient::new(channel(notification_url)?),
            performance_calls: Resilient::new("performance", resilience)?,
            ledger_calls: Resilient::new("ledger", resilience)?,
            notification_calls: Resilient::new("notification", resilience)?,
        })
    }
}

fn channel(url: &str, config: &ResilienceConfig, tls: &TlsConfig) -> anyhow::Result<Channel> {
    Ok(tls
        .endpoint(url)
        .with_context(|| format!("participant URL {url}"))?
        .connect_timeout(Duration::from_millis(config.attempt_timeout_ms))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// What one call of a step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    Done(StepOutput),
    /// The participant said no (kept by its inbox).
    Rejected(String),
    /// No answer; calling again with the same key is safe.
    Failed(String),
}

impl From<Result<StepOutput, CallError>> for StepResult {
    fn from(result: Result<StepOutput, CallError>) -> Self {
        match result {
            Ok(output) => StepResult::Done(output),
            Err(CallError::Rejected(status)) => {
                let reason = status_reason(&status);
                StepResult::Rejected(format!(
                    "{:?} {reason}: {}",
                    status.code(),
                    status.message()
                ))
            }
            Err(CallError::Unavailable(error)) => StepResult::Failed(error),
        }
    }
}

/// What a step call needs to know about its saga.
#[derive(Debug)]
pub struct StepContext<'a> {
    pub saga_id: &'a str,
    /// The day the saga was created: the effective date of the entries it writes, so a re-driven
    /// call is the same request.
    pub created: NaiveDate,
    pub input: &'a Input,
    /// Outputs of the steps that succeeded, by index.
    pub outputs: &'a [Option<StepOutput>],
    pub deadline: Option<Instant>,
}

impl StepContext<'_> {
    fn key(&self, step: usize, direction: Direction) -> String {
        idempotency_key(self.saga_id, step, direction)
    }

    fn output(&self, step: usize, name: &str) -> String {
        self.outputs
            .get(step)
            .and_then(|output| output.as_ref())
            .and_then(|output| output.get(name))
            .cloned()
            .unwrap_or_default()
    }

    fn reason(&self) -> String {
        format!("saga {} compensation", self.saga_id)
    }
}

fn output(pairs: &[(&str, String)]) -> StepOutput {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Calls `$method` on `$client` through `$calls`, making the output with `$make` from the reply;
/// answers the call's `Result`.
macro_rules! call_raw {
    ($calls:expr, $client:expr, $method:ident, $rpc:literal, $deadline:expr, $request:expr, |$reply:ident| $make:expr) => {{
        let client = $client.clone();
        let message = $request;
        let result: Result<StepOutput, CallError> = $calls
            .call($rpc, $deadline, move |timeout| {
                let mut client = client.clone();
                let message = message.clone();
                async move {
                    let $reply = client
                        .$method(request(message, timeout))
                        .await?
                        .into_inner();
                    Ok($make)
                }
            })
            .await;
        result
    }};
}

/// [`call_raw!`] as a [`StepResult`].
macro_rules! call {
    ($($arg:tt)*) => {
        StepResult::from(call_raw!($($arg)*))
    };
}

/// Sends an in-app notification (a retriable step's call).
async fn notify(
    p: &Participants,
    ctx: &StepContext<'_>,
    key: String,
    recipient_id: &str,
    kind: npb::RecipientKind,
    template: &str,
    payload: &[(&str, String)],
) -> StepResult {
    call!(
        p.notification_calls,
        p.notification,
        send,
        "Send",
        ctx.deadline,
        npb::SendRequest {
            request_id: key,
            recipient: Some(npb::Recipient {
                recipient_id: recipient_id.to_owned(),
                kind: kind as i32,
                email: String::new(),
            }),
            template: template.to_owned(),
            payload: payload
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<HashMap<_, _>>(),
            channels: vec![npb::Channel::InApp as i32],
            category: String::new(),
            priority: npb::Priority::Normal as i32,
            correlation_id: ctx.saga_id.to_owned(),
        },
        |n| output(&[("notification_id", n.notification_id)])
    )
}

/// Appends one ledger entry; the output names it (`entry_id`) and its `amount`.
async fn append_entry(
    p: &Participants,
    ctx: &StepContext<'_>,
    key: String,
    entry: lpb::NewEntry,
) -> StepResult {
    call!(
        p.ledger_calls,
        p.ledger,
        append_entries,
        "AppendEntries",
        ctx.deadline,
        lpb::AppendEntriesRequest {
            request_id: key,
            entries: vec![entry],
        },
        |reply| {
            let entry = reply.entries.into_iter().next().unwrap_or_default();
            output(&[
                ("entry_id", entry.entry_id.to_string()),
                ("amount", entry.amount),
            ])
        }
    )
}

fn rating_name(rating: i32) -> String {
    ppb::Rating::try_from(rating)
        .map(|rating| {
            rating
                .as_str_name()
                .trim_start_matches("RATING_")
                .to_lowercase()
                .replace('_', " ")
        })
        .unwrap_or_default()
}

/// Bonus days for a rating: 2 for outstanding, 1 for exceeds expectations.
pub fn bonus_days(rating: i32) -> Option<&'static str> {
    match ppb::Rating::try_from(rating) {
        Ok(ppb::Rating::Outstanding) => Some("2"),
        Ok(ppb::Rating::ExceedsExpectations) => Some("1"),
        _ => None,
    }
}

/// The ErrorInfo reason of a status, if it has one.
fn status_reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// An ErrorInfo metadata value of a status.
fn status_detail(status: &tonic::Status, key: &str) -> String {
    status
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// Runs `step` of the saga in `direction`.
pub async fn run_step(
    participants: &Participants,
    ctx: &StepContext<'_>,
    step: usize,
    direction: Direction,
) -> StepResult {
    let p = participants;
    let deadline = ctx.deadline;
    let key = ctx.key(step, direction);
    match (ctx.input, step, direction) {
        // ---- complete-review
        (Input::CompleteReview(i), 0, Direction::Forward) => call!(
            p.performance_calls,
            p.performance,
            finalize_review,
            "FinalizeReview",
            deadline,
            ppb::FinalizeReviewRequest {
                request_id: key,
                review_id: i.review_id.clone(),
                rating: i.rating,
                sections: i.sections.clone(),
            },
            |review| output(&[
                ("manager_id", review.manager_id),
                (
                    "cycle",
                    ppb::ReviewCycle::try_from(review.cycle)
                        .map(|c| c
                            .as_str_name()
                            .trim_start_matches("REVIEW_CYCLE_")
                            .to_lowercase()
                            .replace('_', "-"))
                        .unwrap_or_default()
                ),
            ])
        ),
        (Input::CompleteReview(i), 0, Direction::Compensate) => call!(
            p.performance_calls,
            p.performance,
            reopen_review,
            "ReopenReview",
            deadline,
            ppb::ReopenReviewRequest {
                request_id: key,
                review_id: i.review_id.clone(),
                finalize_request_id: ctx.key(0, Direction::Forward),
                reason: ctx.reason(),
            },
            |_review| StepOutput::new()
        ),
        (Input::CompleteReview(i), 1, Direction::Forward) => {
            let Some(days) = bonus_days(i.rating).filter(|_| !i.bonus_policy_id.is_empty()) else {
                return StepResult::Done(output(&[("entry_id", String::new())]));
            };
            append_entry(
                p,
                ctx,
                key,
                lpb::NewEntry {
                    employee_id: i.employee_id.clone(),
                    policy_id: i.bonus_policy_id.clone(),
                    kind: lpb::EntryKind::Accrual as i32,
                    amount: days.to_owned(),
                    effective_date: date_text(ctx.created),
                    reason: format!("bonus for review {}", i.review_id),
                    reference: ctx.saga_id.to_owned(),
                },
            )
            .await
        }
        (Input::CompleteReview(_), 1, Direction::Compensate) => {
            reverse_entry(p, ctx, key, &ctx.output(1, "entry_id")).await
        }
        (Input::CompleteReview(i), 2, Direction::Forward) => call!(
            p.performance_calls,
            p.performance,
            complete_review,
            "CompleteReview",
            deadline,
            ppb::CompleteReviewRequest {
                request_id: key,
                review_id: i.review_id.clone(),
            },
            |_review| StepOutput::new()
        ),
        (Input::CompleteReview(i), 3, Direction::Forward) => {
            notify(
                p,
                ctx,
                key,
                &i.employee_id,
                npb::RecipientKind::Employee,
                "review.completed",
                &[
                    ("cycle", ctx.output(0, "cycle")),
                    ("rating", rating_name(i.rating)),
                ],
            )
            .await
        }
        (Input::CompleteReview(i), 4, Direction::Forward) => {
            notify(
                p,
                ctx,
                key,
                &ctx.output(0, "manager_id"),
                npb::RecipientKind::Manager,
                "review.completed_for_manager",
                &[
                    ("cycle", ctx.output(0, "cycle")),
                    ("rating", rating_name(i.rating)),
                    ("employee_name", i.employee_id.clone()),
                ],
            )
            .await
        }

        // ---- request-time-off
        (Input::RequestTimeOff(i), 0, Direction::Forward) => call!(
            p.ledger_calls,
            p.ledger,
            hold_days,
            "HoldDays",
            deadline,
            lpb::HoldDaysRequest {
                request_id: key,
                employee_id: i.employee_id.clone(),
                policy_id: i.policy_id.clone(),
                dates: i.dates.clone(),
                half_days: i.half_days.clone(),
                hold_timeout: None,
                reference: ctx.saga_id.to_owned(),
                reason: i.reason.clone(),
            },
            |hold| output(&[("hold_id", hold.hold_id), ("total", hold.total),])
        ),
        (Input::RequestTimeOff(_), 0, Direction::Compensate) => {
            let result = call_raw!(
                p.ledger_calls,
                p.ledger,
                void_hold,
                "VoidHold",
                deadline,
                lpb::VoidHoldRequest {
                    request_id: key,
                    hold_id: ctx.output(0, "hold_id"),
                    reason: ctx.reason(),
                },
                |_hold| StepOutput::new()
            );
            hold_gone(result)
        }
        (Input::RequestTimeOff(i), 1, Direction::Forward) => {
            let dates = i.dates.clone().unwrap_or_default();
            notify(
                p,
                ctx,
                key,
                &i.manager_id,
                npb::RecipientKind::Manager,
                "time_off.requested",
                &[
                    ("employee_name", i.employee_id.clone()),
                    ("days", ctx.output(0, "total")),
                    ("start_date", dates.start_date),
                    ("end_date", dates.end_date),
                ],
            )
            .await
        }

        // ---- decide-time-off
        (Input::DecideTimeOff(i), 0, Direction::Forward) => {
            let dates = |hold: lpb::Hold| {
                let first = hold
                    .days
                    .first()
                    .map(|d| d.date.clone())
                    .unwrap_or_default();
                let last = hold.days.last().map(|d| d.date.clone()).unwrap_or_default();
                output(&[("start_date", first), ("end_date", last)])
            };
            if i.approve {
                call!(
                    p.ledger_calls,
                    p.ledger,
                    post_hold,
                    "PostHold",
                    deadline,
                    lpb::PostHoldRequest {
                        request_id: key,
                        hold_id: i.hold_id.clone()
                    },
                    |hold| dates(hold)
                )
            } else {
                call!(
                    p.ledger_calls,
                    p.ledger,
                    void_hold,
                    "VoidHold",
                    deadline,
                    lpb::VoidHoldRequest {
                        request_id: key,
                        hold_id: i.hold_id.clone(),
                        reason: i.reason.clone(),
                    },
                    |hold| dates(hold)
                )
            }
        }
        (Input::DecideTimeOff(i), 1, Direction::Forward) => {
            notify(
                p,
                ctx,
                key,
                &i.employee_id,
                npb::RecipientKind::Employee,
                "time_off.decided",
                &[
                    (
                        "decision",
                        if i.approve { "approved" } else { "rejected" }.to_owned(),
                    ),
                    ("start_date", ctx.output(0, "start_date")),
                    ("end_date", ctx.output(0, "end_date")),
                ],
            )
            .await
        }

        // ---- initiate-pip
        (Input::InitiatePip(i), 0, Direction::Forward) => call!(
            p.performance_calls,
            p.performance,
            open_pip,
            "OpenPip",
            deadline,
            ppb::OpenPipRequest {
                request_id: key,
                employee_id: i.employee_id.clone(),
                manager_id: i.manager_id.clone(),
                reason: i.reason.clone(),
                objectives: i.objectives.clone(),
                start_date: i.start_date.clone(),
                end_date: i.end_date.clone(),
                check_in_dates: i.check_in_dates.clone(),
            },
            |pip| output(&[
                ("pip_id", pip.pip_id),
                (
                    "first_check_in",
                    pip.check_in_dates.first().cloned().unwrap_or_default()
                ),
            ])
        ),
        (Input::InitiatePip(_), 0, Direction::Compensate) => call!(
            p.performance_calls,
            p.performance,
            cancel_pip,
            "CancelPip",
            deadline,
            ppb::CancelPipRequest {
                request_id: key,
                target: Some(ppb::cancel_pip_request::Target::OpenedByRequestId(
                    ctx.key(0, Direction::Forward),
                )),
                reason: ctx.reason(),
            },
            |_reply| StepOutput::new()
        ),
        (Input::InitiatePip(i), 1, Direction::Forward) => {
            notify(
                p,
                ctx,
                key,
                &i.employee_id,
                npb::RecipientKind::Employee,
                "pip.initiated",
                &[
                    ("start_date", i.start_date.clone()),
                    ("end_date", i.end_date.clone()),
                    ("first_check_in", ctx.output(0, "first_check_in")),
                ],
            )
            .await
        }

        // ---- offboard-employee
        (Input::OffboardEmployee(i), 0, Direction::Forward) => call!(
            p.performance_calls,
            p.performance,
            close_employee_records,
            "CloseEmployeeRecords",
            deadline,
            ppb::CloseEmployeeRecordsRequest {
                request_id: key,
                employee_id: i.employee_id.clone(),
                reason: if i.reason.is_empty() {
                    "offboarding".to_owned()
                } else {
                    i.reason.clone()
                },
            },
            |closure| output(&[("closed_records", closure.records.len().to_string())])
        ),
        (Input::OffboardEmployee(_), 0, Direction::Compensate) => call!(
            p.performance_calls,
            p.performance,
            reopen_employee_records,
            "ReopenEmployeeRecords",
            deadline,
            ppb::ReopenEmployeeRecordsRequest {
                request_id: key,
                close_request_id: ctx.key(0, Direction::Forward),
            },
            |_closure| StepOutput::new()
        ),
        (Input::OffboardEmployee(i), 1, Direction::Forward) => call!(
            p.ledger_calls,
            p.ledger,
            get_balance,
            "GetBalance",
            deadline,
            lpb::GetBalanceRequest {
                employee_id: i.employee_id.clone(),
                policy_id: i.policy_id.clone(),
                as_of_date: String::new(),
            },
            |balance| output(&[("available", balance.available)])
        ),
        // Reading has nothing to undo.
        (Input::OffboardEmployee(_), 1, Direction::Compensate) => {
            StepResult::Done(StepOutput::new())
        }
        (Input::OffboardEmployee(i), 2, Direction::Forward) => {
            let available = ctx.output(1, "available");
            if available.is_empty()
                || available.starts_with('-')
                || available.trim_start_matches(['0', '.']).is_empty()
            {
                return StepResult::Done(output(&[
                    ("entry_id", String::new()),
                    ("amount", "0".into()),
                ]));
            }
            let payout = i.settlement == pb::Settlement::Payout as i32;
            append_entry(
                p,
                ctx,
                key,
                lpb::NewEntry {
                    employee_id: i.employee_id.clone(),
                    policy_id: i.policy_id.clone(),
                    kind: lpb::EntryKind::Adjustment as i32,
                    amount: format!("-{available}"),
                    effective_date: i.last_day.clone(),
                    reason: if payout {
                        "offboarding payout"
                    } else {
                        "offboarding forfeiture"
                    }
                    .to_owned(),
                    reference: ctx.saga_id.to_owned(),
                },
            )
            .await
        }
        (Input::OffboardEmployee(_), 2, Direction::Compensate) => {
            reverse_entry(p, ctx, key, &ctx.output(2, "entry_id")).await
        }
        (Input::OffboardEmployee(i), 3 | 4, Direction::Forward) => {
            let payout = i.settlement == pb::Settlement::Payout as i32;
            let amount = ctx.output(2, "amount");
            let settled = match amount.trim_start_matches('-') {
                "" => "0",
                days => days,
            };
            let settlement = format!(
                "{settled} day(s) {}",
                if payout { "paid out" } else { "forfeited" }
            );
            let (recipient, kind) = if step == 3 {
                (i.employee_id.as_str(), npb::RecipientKind::Employee)
            } else {
                (i.hr_recipient_id.as_str(), npb::RecipientKind::Hr)
            };
            notify(
                p,
                ctx,
                key,
                recipient,
                kind,
                "employee.offboarded",
                &[
                    ("employee_name", i.employee_id.clone()),
                    ("last_day", i.last_day.clone()),
                    ("settlement", settlement),
                ],
            )
            .await
        }

        // ---- onboard-employee
        (Input::OnboardEmployee(i), 0, Direction::Forward) => call!(
            p.ledger_calls,
            p.ledger,
            assign_policy,
            "AssignPolicy",
            deadline,
            lpb::AssignPolicyRequest {
                request_id: key,
                employee_id: i.employee_id.clone(),
                policy_id: i.policy_id.clone(),
                effective_from: i.start_date.clone(),
                effective_to: String::new(),
            },
            |assignment| output(&[("assignment_id", assignment.assignment_id)])
        ),
        (Input::OnboardEmployee(i), 1, Direction::Forward) => {
            let days = i.first_accrual_days.trim();
            if days.is_empty() || days.trim_start_matches(['0', '.']).is_empty() {
                return StepResult::Done(output(&[("entry_id", String::new())]));
            }
            append_entry(
                p,
                ctx,
                key,
                lpb::NewEntry {
                    employee_id: i.employee_id.clone(),
                    policy_id: i.policy_id.clone(),
                    kind: lpb::EntryKind::Accrual as i32,
                    amount: days.to_owned(),
                    effective_date: i.start_date.clone(),
                    reason: "first accrual".to_owned(),
                    reference: ctx.saga_id.to_owned(),
                },
            )
            .await
        }
        (Input::OnboardEmployee(i), 2, Direction::Forward) => call!(
            p.performance_calls,
            p.performance,
            create_review,
            "CreateReview",
            deadline,
            ppb::CreateReviewRequest {
                request_id: key,
                employee_id: i.employee_id.clone(),
                manager_id: i.manager_id.clone(),
                cycle: ppb::ReviewCycle::Probation as i32,
                period_start: i.start_date.clone(),
                period_end: i.probation_review_due_date.clone(),
                due_date: i.probation_review_due_date.clone(),
            },
            |review| output(&[("review_id", review.review_id)])
        ),
        (Input::OnboardEmployee(i), 3, Direction::Forward) => {
            let review_id = ctx.output(2, "review_id");
            let count = i.starter_goals.len().max(1) as u32;
            let mut created = Vec::new();
            for (n, title) in i.starter_goals.iter().enumerate() {
                let weight = 100 / count + u32::from((n as u32) < 100 % count);
                let result = call!(
                    p.performance_calls,
                    p.performance,
                    create_goal,
                    "CreateGoal",
                    deadline,
                    ppb::CreateGoalRequest {
                        request_id: format!("{key}/{n}"),
                        employee_id: i.employee_id.clone(),
                        title: title.clone(),
                        description: String::new(),
                        target_date: i.probation_review_due_date.clone(),
                        weight,
                        review_id: review_id.clone(),
                    },
                    |goal| output(&[("goal_id", goal.goal_id)])
                );
                match result {
                    StepResult::Done(out) => {
                        created.push(out.get("goal_id").cloned().unwrap_or_default())
                    }
                    other => return other,
                }
            }
            StepResult::Done(output(&[("goal_ids", created.join(","))]))
        }
        (Input::OnboardEmployee(i), 4, Direction::Forward) => {
            notify(
                p,
                ctx,
                key,
                &i.employee_id,
                npb::RecipientKind::Employee,
                "employee.onboarded",
                &[
                    ("employee_name", i.employee_id.clone()),
                    ("review_date", i.probation_review_due_date.clone()),
                ],
            )
            .await
        }

        (input, step, direction) => StepResult::Rejected(format!(
            "{} has no {direction:?} call for step {step}",
            SagaKind::of(input).as_str()
        )),
    }
}

/// Reverses a ledger entry (the undo of an accrual or a settlement); nothing to do without one.
async fn reverse_entry(
    p: &Participants,
    ctx: &StepContext<'_>,
    key: String,
    entry_id: &str,
) -> StepResult {
    let Ok(entry_id) = entry_id.parse::<i64>() else {
        return StepResult::Done(StepOutput::new());
    };
    let result = call_raw!(
        p.ledger_calls,
        p.ledger,
        reverse_entry,
        "ReverseEntry",
        ctx.deadline,
        lpb::ReverseEntryRequest {
            request_id: key,
            entry_id,
            reason: ctx.reason(),
        },
        |entry| output(&[("reversal_entry_id", entry.entry_id.to_string())])
    );
    // Reversed already (by hand): the effect is gone, which is what the undo wants.
    match result {
        Err(CallError::Rejected(status)) if status_reason(&status) == "ENTRY_ALREADY_REVERSED" => {
            StepResult::Done(StepOutput::new())
        }
        other => other.into(),
    }
}

/// A hold voided or expired already needs no void; a posted one cannot be voided.
fn hold_gone(result: Result<StepOutput, CallError>) -> StepResult {
    match result {
        Err(CallError::Rejected(status))
            if status_reason(&status) == "HOLD_EXPIRED"
                || (status_reason(&status) == "HOLD_ALREADY_RESOLVED"
                    && status_detail(&status, "state") != "posted") =>
        {
            StepResult::Done(StepOutput::new())
        }
        other => other.into(),
    }
}
