//! The one adapter between the core's [`ParticipantCommand`]s and the participants' gRPC APIs:
//! each command becomes its protobuf request (with the step's idempotency key, the caller's
//! remaining budget and the end user it is made for), each answer a typed [`CallOutcome`].

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use hrmesh_domain::{Quantity, Violations};
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::tls::TlsConfig;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_saga_core::command::{EntryKind, FreezeTarget, NewEntry, RecipientKind};
use hrmesh_saga_core::ids::PolicyId;
use hrmesh_saga_core::output::AppendedEntry;
use hrmesh_saga_core::{
    CallOutcome, Participant, ParticipantCommand, Reason, Rejection, StepOutput,
};
use tonic::Status;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::convert;
use crate::ports::{Call, ParticipantPort};
use crate::resilience::{CallError, ResilienceConfig, Resilient, request};

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
    "notification.admin",
];

/// The participants' clients, each behind its resilience stack.
#[derive(Clone, Debug)]
pub struct Participants {
    performance: PerformanceServiceClient<MeshChannel>,
    ledger: LedgerServiceClient<MeshChannel>,
    notification: NotificationServiceClient<MeshChannel>,
    performance_calls: Resilient,
    ledger_calls: Resilient,
    notification_calls: Resilient,
}

fn channel(url: &str, config: &ResilienceConfig, tls: &TlsConfig) -> anyhow::Result<Channel> {
    Ok(tls
        .endpoint(url)
        .with_context(|| format!("participant URL {url}"))?
        .connect_timeout(Duration::from_millis(config.attempt_timeout_ms))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

impl Participants {
    /// Clients for the participants at these URLs, each behind its own resilience stack. The
    /// channels connect lazily: a participant that is down fails its calls, not the start. Every
    /// call carries `token`, the orchestrator's own identity, and names the end user it is made
    /// for in `x-hrmesh-on-behalf-of`.
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

/// Calls `$method` on `$client` through `$calls` with `$message`, making the output with
/// `$make` from the reply (which may refuse a malformed reply with a Status).
macro_rules! rpc {
    ($calls:expr, $client:expr, $method:ident, $rpc:literal, $call:expr, $message:expr, |$reply:ident| $make:expr) => {{
        let client = $client.clone();
        let message = $message;
        let on_behalf_of = $call.on_behalf_of.to_owned();
        $calls
            .call($rpc, $call.deadline, move |timeout| {
                let mut client = client.clone();
                let message = message.clone();
                let on_behalf_of = on_behalf_of.clone();
                async move {
                    let $reply = client
                        .$method(request(message, timeout, &on_behalf_of))
                        .await?
                        .into_inner();
                    $make
                }
            })
            .await
    }};
}

fn outcome(result: Result<StepOutput, CallError>) -> CallOutcome {
    match result {
        Ok(output) => CallOutcome::Done(output),
        Err(CallError::Rejected(status)) => {
            let refused = rejection(&status);
            // The step's own key with another request: not the participant's answer to this
            // call but a sign that the call changed under its key. Taking it as a "no" could
            // undo nothing or report a pivot that landed as refused, so a person looks.
            if refused.reason == Reason::IdempotencyKeyReused {
                return CallOutcome::Fault(format!(
                    "the participant holds another request under this step's key: {}",
                    refused.message
                ));
            }
            CallOutcome::Rejected(refused)
        }
        Err(CallError::Unavailable(error)) => CallOutcome::Unavailable(error),
        Err(CallError::Fault(error)) => CallOutcome::Fault(error),
    }
}

/// A refusal's code, ErrorInfo reason, message and facts.
pub fn rejection(status: &Status) -> Rejection {
    let info = status.get_error_details().error_info().cloned();
    let reason_name = info.as_ref().map(|i| i.reason.clone()).unwrap_or_default();
    Rejection {
        code: format!("{:?}", status.code()),
        reason: reason(&reason_name),
        reason_name,
        message: status.message().to_owned(),
        metadata: info
            .map(|i| i.metadata.into_iter().collect())
            .unwrap_or_default(),
    }
}

/// The reason the sagas act on, read through the proto enums that name it (the ledger's and the
/// common ones); any other name is [`Reason::Other`].
fn reason(name: &str) -> Reason {
    use hrmesh_proto::common::ErrorReason;
    use lpb::LedgerErrorReason as Ledger;
    if ErrorReason::from_str_name(name) == Some(ErrorReason::IdempotencyKeyReused) {
        return Reason::IdempotencyKeyReused;
    }
    match Ledger::from_str_name(name) {
        Some(Ledger::AccrualsFrozen) => Reason::AccrualsFrozen,
        Some(Ledger::EntryAlreadyReversed) => Reason::EntryAlreadyReversed,
        Some(Ledger::HoldExpired) => Reason::HoldExpired,
        Some(Ledger::HoldAlreadyResolved) => Reason::HoldAlreadyResolved,
        _ => Reason::Other,
    }
}

/// A reply that breaks the contract: a fault of the participant's.
fn malformed(what: &str, value: &str) -> Status {
    Status::internal(format!(
        "the participant answered a malformed {what}: {value:?}"
    ))
}

fn quantity(what: &str, text: &str) -> Result<Quantity, Status> {
    Quantity::parse(what, text, &mut Violations::default()).ok_or_else(|| malformed(what, text))
}

fn policy_id(text: &str) -> Result<PolicyId, Status> {
    PolicyId::parse("policy_id", text, &mut Violations::default())
        .ok_or_else(|| malformed("policy id", text))
}

fn optional_date(text: Option<&String>) -> Option<NaiveDate> {
    text.and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
}

fn cycle_text(cycle: i32) -> String {
    ppb::ReviewCycle::try_from(cycle)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("REVIEW_CYCLE_")
                .to_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_default()
}

fn hold_resolved(hold: &lpb::Hold) -> StepOutput {
    StepOutput::HoldResolved {
        start_date: optional_date(hold.days.first().map(|d| &d.date)),
        end_date: optional_date(hold.days.last().map(|d| &d.date)),
    }
}

fn new_entry(entry: &NewEntry) -> lpb::NewEntry {
    lpb::NewEntry {
        employee_id: entry.employee_id.to_string(),
        policy_id: entry.policy_id.to_string(),
        kind: match entry.kind {
            EntryKind::Accrual => lpb::EntryKind::Accrual,
            EntryKind::Adjustment => lpb::EntryKind::Adjustment,
            EntryKind::Payout => lpb::EntryKind::Payout,
            EntryKind::Forfeiture => lpb::EntryKind::Forfeiture,
        } as i32,
        amount: entry.amount.to_string(),
        effective_date: convert::date_text(entry.effective_date),
        reason: entry.reason.clone(),
        reference: entry.reference.clone(),
    }
}

fn freeze_target(target: &FreezeTarget) -> lpb::FreezeTarget {
    use lpb::freeze_target::Target;
    lpb::FreezeTarget {
        target: Some(match target {
            FreezeTarget::CreatedBy(request_id) => Target::FrozenByRequestId(request_id.clone()),
            FreezeTarget::Reference(reference) => Target::Reference(reference.clone()),
        }),
    }
}

fn recipient_kind(kind: RecipientKind) -> npb::RecipientKind {
    match kind {
        RecipientKind::Employee => npb::RecipientKind::Employee,
        RecipientKind::Manager => npb::RecipientKind::Manager,
        RecipientKind::Hr => npb::RecipientKind::Hr,
    }
}

#[async_trait::async_trait]
impl ParticipantPort for Participants {
    async fn execute(&self, call: Call<'_>) -> CallOutcome {
        use ParticipantCommand as C;
        let key = call.request_id.to_owned();
        let p = self;
        // The employee a record must belong to; left out for sagas logged before the field
        // existed, whose calls were recorded without it and must replay under the same key.
        let owner = |employee_id: &hrmesh_domain::EmployeeId| {
            if call.hold_to_employee {
                employee_id.to_string()
            } else {
                String::new()
            }
        };
        let result: Result<StepOutput, CallError> = match call.command {
            C::FinalizeReview {
                review_id,
                employee_id,
                rating,
                sections,
            } => rpc!(
                p.performance_calls,
                p.performance,
                finalize_review,
                "FinalizeReview",
                call,
                ppb::FinalizeReviewRequest {
                    request_id: key,
                    review_id: review_id.to_string(),
                    rating: convert::rating_pb(*rating) as i32,
                    sections: sections.iter().map(convert::section_pb).collect(),
                    employee_id: owner(employee_id),
                },
                |review| Ok(StepOutput::ReviewFinalized {
                    manager_id: review.manager_id,
                    cycle: cycle_text(review.cycle),
                })
            ),
            C::ReopenReview {
                review_id,
                employee_id,
                finalize_request_id,
                reason,
            } => rpc!(
                p.performance_calls,
                p.performance,
                reopen_review,
                "ReopenReview",
                call,
                ppb::ReopenReviewRequest {
                    request_id: key,
                    review_id: review_id.to_string(),
                    finalize_request_id: finalize_request_id.clone(),
                    reason: reason.clone(),
                    employee_id: owner(employee_id),
                },
                |_review| Ok(StepOutput::Nothing)
            ),
            C::CompleteReview {
                review_id,
                employee_id,
            } => rpc!(
                p.performance_calls,
                p.performance,
                complete_review,
                "CompleteReview",
                call,
                ppb::CompleteReviewRequest {
                    request_id: key,
                    review_id: review_id.to_string(),
                    employee_id: owner(employee_id),
                },
                |_review| Ok(StepOutput::Nothing)
            ),
            C::OpenPip {
                employee_id,
                manager_id,
                reason,
                objectives,
                start_date,
                end_date,
                check_in_dates,
            } => rpc!(
                p.performance_calls,
                p.performance,
                open_pip,
                "OpenPip",
                call,
                ppb::OpenPipRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    manager_id: manager_id.to_string(),
                    reason: reason.clone(),
                    objectives: objectives.clone(),
                    start_date: convert::date_text(*start_date),
                    end_date: convert::date_text(*end_date),
                    check_in_dates: check_in_dates
                        .iter()
                        .map(|d| convert::date_text(*d))
                        .collect(),
                },
                |pip| Ok(StepOutput::PipOpened {
                    first_check_in: optional_date(pip.check_in_dates.first()),
                    pip_id: pip.pip_id,
                })
            ),
            C::CancelPip {
                opened_by_request_id,
                employee_id,
                reason,
            } => rpc!(
                p.performance_calls,
                p.performance,
                cancel_pip,
                "CancelPip",
                call,
                ppb::CancelPipRequest {
                    request_id: key,
                    target: Some(ppb::cancel_pip_request::Target::OpenedByRequestId(
                        opened_by_request_id.clone(),
                    )),
                    reason: reason.clone(),
                    employee_id: owner(employee_id),
                },
                |_reply| Ok(StepOutput::Nothing)
            ),
            C::CloseEmployeeRecords {
                employee_id,
                reason,
            } => rpc!(
                p.performance_calls,
                p.performance,
                close_employee_records,
                "CloseEmployeeRecords",
                call,
                ppb::CloseEmployeeRecordsRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    reason: reason.clone(),
                },
                |closure| Ok(StepOutput::RecordsClosed {
                    records: u32::try_from(closure.records.len()).unwrap_or(u32::MAX),
                })
            ),
            C::ReopenEmployeeRecords { close_request_id } => rpc!(
                p.performance_calls,
                p.performance,
                reopen_employee_records,
                "ReopenEmployeeRecords",
                call,
                ppb::ReopenEmployeeRecordsRequest {
                    request_id: key,
                    close_request_id: close_request_id.clone(),
                },
                |_closure| Ok(StepOutput::Nothing)
            ),
            C::CreateProbationReview {
                employee_id,
                manager_id,
                period_start,
                due_date,
            } => rpc!(
                p.performance_calls,
                p.performance,
                create_review,
                "CreateReview",
                call,
                ppb::CreateReviewRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    manager_id: manager_id.to_string(),
                    cycle: ppb::ReviewCycle::Probation as i32,
                    period_start: convert::date_text(*period_start),
                    period_end: convert::date_text(*due_date),
                    due_date: convert::date_text(*due_date),
                },
                |review| Ok(StepOutput::ReviewCreated {
                    review_id: review.review_id,
                })
            ),
            C::CreateGoals {
                employee_id,
                review_id,
                target_date,
                goals,
            } => {
                let mut goal_ids = Vec::with_capacity(goals.len());
                for (n, (title, weight)) in goals.iter().enumerate() {
                    let created = rpc!(
                        p.performance_calls,
                        p.performance,
                        create_goal,
                        "CreateGoal",
                        call,
                        ppb::CreateGoalRequest {
                            request_id: format!("{key}/{n}"),
                            employee_id: employee_id.to_string(),
                            title: title.clone(),
                            description: String::new(),
                            target_date: convert::date_text(*target_date),
                            weight: *weight,
                            review_id: review_id
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                        },
                        |goal| Ok(StepOutput::GoalsCreated {
                            goal_ids: vec![goal.goal_id],
                        })
                    );
                    match created {
                        Ok(StepOutput::GoalsCreated { goal_ids: one }) => goal_ids.extend(one),
                        Ok(_) => {}
                        Err(error) => return outcome(Err(error)),
                    }
                }
                Ok(StepOutput::GoalsCreated { goal_ids })
            }
            C::AppendEntry(entry) => rpc!(
                p.ledger_calls,
                p.ledger,
                append_entries,
                "AppendEntries",
                call,
                lpb::AppendEntriesRequest {
                    request_id: key,
                    entries: vec![new_entry(entry)],
                },
                |reply| {
                    let entry = reply
                        .entries
                        .into_iter()
                        .next()
                        .ok_or_else(|| malformed("entry list", "[]"))?;
                    Ok(StepOutput::Entry {
                        entry_id: Some(entry.entry_id),
                        amount: quantity("amount", &entry.amount)?,
                    })
                }
            ),
            C::ReverseEntry {
                entry_id,
                employee_id,
                reason,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                reverse_entry,
                "ReverseEntry",
                call,
                lpb::ReverseEntryRequest {
                    request_id: key,
                    entry_id: *entry_id,
                    reason: reason.clone(),
                    employee_id: owner(employee_id),
                },
                |_entry| Ok(StepOutput::Nothing)
            ),
            C::HoldDays {
                employee_id,
                policy_id,
                start_date,
                end_date,
                half_days,
                reference,
                reason,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                hold_days,
                "HoldDays",
                call,
                lpb::HoldDaysRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    policy_id: policy_id.to_string(),
                    dates: Some(hrmesh_proto::common::DateRange {
                        start_date: convert::date_text(*start_date),
                        end_date: convert::date_text(*end_date),
                    }),
                    half_days: half_days.iter().map(|d| convert::date_text(*d)).collect(),
                    hold_timeout: None,
                    reference: reference.clone(),
                    reason: reason.clone(),
                },
                |hold| Ok(StepOutput::Hold {
                    total: quantity("total", &hold.total)?,
                    hold_id: hold.hold_id,
                })
            ),
            C::PostHold {
                hold_id,
                employee_id,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                post_hold,
                "PostHold",
                call,
                lpb::PostHoldRequest {
                    request_id: key,
                    hold_id: hold_id.to_string(),
                    employee_id: owner(employee_id),
                },
                |hold| Ok(hold_resolved(&hold))
            ),
            C::VoidHold {
                hold_id,
                employee_id,
                reason,
                undo,
            } => {
                // An undo needs nothing back; a decision tells the employee which days.
                let undo = *undo;
                rpc!(
                    p.ledger_calls,
                    p.ledger,
                    void_hold,
                    "VoidHold",
                    call,
                    lpb::VoidHoldRequest {
                        request_id: key,
                        hold_id: hold_id.to_string(),
                        reason: reason.clone(),
                        employee_id: owner(employee_id),
                        // The one void that is no undo is decide-time-off's rejection.
                        rejected: !undo,
                    },
                    |hold| Ok(if undo {
                        StepOutput::Nothing
                    } else {
                        hold_resolved(&hold)
                    })
                )
            }
            C::AssignPolicies {
                employee_id,
                policy_ids,
                effective_from,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                assign_policies,
                "AssignPolicies",
                call,
                lpb::AssignPoliciesRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    policy_ids: policy_ids.iter().map(ToString::to_string).collect(),
                    effective_from: convert::date_text(*effective_from),
                    effective_to: String::new(),
                },
                |reply| Ok(StepOutput::PoliciesAssigned {
                    assignment_ids: reply
                        .assignments
                        .into_iter()
                        .map(|a| a.assignment_id)
                        .collect(),
                })
            ),
            C::RecordPipOutcome {
                pip_id,
                employee_id,
                outcome: pip_outcome,
                notes,
                new_end_date,
                additional_check_in_dates,
            } => {
                let concluded = *pip_outcome;
                rpc!(
                    p.performance_calls,
                    p.performance,
                    record_pip_outcome,
                    "RecordPipOutcome",
                    call,
                    ppb::RecordPipOutcomeRequest {
                        request_id: key,
                        pip_id: pip_id.to_string(),
                        outcome: convert::pip_outcome_pb(*pip_outcome) as i32,
                        notes: notes.clone(),
                        new_end_date: new_end_date.map(convert::date_text).unwrap_or_default(),
                        additional_check_in_dates: additional_check_in_dates
                            .iter()
                            .map(|d| convert::date_text(*d))
                            .collect(),
                        employee_id: owner(employee_id),
                    },
                    |pip| Ok(StepOutput::PipConcluded {
                        outcome: concluded,
                        end_date: optional_date(Some(&pip.end_date)),
                        manager_id: pip.manager_id,
                    })
                )
            }
            C::FreezeAccruals {
                employee_id,
                policy_id,
                start_date,
                end_date,
                reason,
                reference,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                freeze_accruals,
                "FreezeAccruals",
                call,
                lpb::FreezeAccrualsRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    policy_id: policy_id.to_string(),
                    dates: Some(hrmesh_proto::common::DateRange {
                        start_date: convert::date_text(*start_date),
                        end_date: convert::date_text(*end_date),
                    }),
                    reason: reason.clone(),
                    reference: reference.clone(),
                },
                |freeze| Ok(StepOutput::Frozen {
                    freeze_id: Some(freeze.freeze_id),
                })
            ),
            C::UnfreezeAccruals {
                target,
                employee_id,
                from_date,
                reason,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                unfreeze_accruals,
                "UnfreezeAccruals",
                call,
                lpb::UnfreezeAccrualsRequest {
                    request_id: key,
                    target: Some(freeze_target(target)),
                    employee_id: employee_id.to_string(),
                    from_date: from_date.map(convert::date_text).unwrap_or_default(),
                    reason: reason.clone(),
                },
                |reply| Ok(StepOutput::FreezesChanged {
                    freezes: u32::try_from(reply.freezes.len()).unwrap_or(u32::MAX),
                })
            ),
            C::ExtendFreeze {
                target,
                employee_id,
                end_date,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                extend_freeze,
                "ExtendFreeze",
                call,
                lpb::ExtendFreezeRequest {
                    request_id: key,
                    target: Some(freeze_target(target)),
                    employee_id: employee_id.to_string(),
                    end_date: convert::date_text(*end_date),
                },
                |reply| Ok(StepOutput::FreezesChanged {
                    freezes: u32::try_from(reply.freezes.len()).unwrap_or(u32::MAX),
                })
            ),
            C::EndAssignments {
                employee_id,
                end_date,
                post_earlier_holds,
                reason,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                end_assignments,
                "EndAssignments",
                call,
                lpb::EndAssignmentsRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                    policy_id: String::new(),
                    end_date: convert::date_text(*end_date),
                    post_earlier_holds: *post_earlier_holds,
                    reason: reason.clone(),
                },
                |reply| Ok(StepOutput::AssignmentsEnded {
                    assignments: u32::try_from(reply.assignments.len()).unwrap_or(u32::MAX),
                    voided_hold_ids: reply.voided_hold_ids,
                    posted_hold_ids: reply.posted_hold_ids,
                })
            ),
            C::ReopenAssignments {
                ended_by_request_id,
                employee_id,
            } => rpc!(
                p.ledger_calls,
                p.ledger,
                reopen_assignments,
                "ReopenAssignments",
                call,
                lpb::ReopenAssignmentsRequest {
                    request_id: key,
                    ended_by_request_id: ended_by_request_id.clone(),
                    employee_id: employee_id.to_string(),
                },
                |_reply| Ok(StepOutput::Nothing)
            ),
            C::ListBalances { employee_id } => rpc!(
                p.ledger_calls,
                p.ledger,
                list_balances,
                "ListBalances",
                call,
                lpb::ListBalancesRequest {
                    employee_id: employee_id.to_string(),
                },
                |reply| {
                    let mut available = Vec::with_capacity(reply.balances.len());
                    for balance in reply.balances {
                        let policy_id = policy_id(&balance.policy_id)?;
                        available.push((policy_id, quantity("available", &balance.available)?));
                    }
                    Ok(StepOutput::Balances { available })
                }
            ),
            C::AppendEntries(entries) => rpc!(
                p.ledger_calls,
                p.ledger,
                append_entries,
                "AppendEntries",
                call,
                lpb::AppendEntriesRequest {
                    request_id: key,
                    entries: entries.iter().map(new_entry).collect(),
                },
                |reply| {
                    let mut appended = Vec::with_capacity(reply.entries.len());
                    for entry in reply.entries {
                        appended.push(AppendedEntry {
                            entry_id: entry.entry_id,
                            policy_id: policy_id(&entry.policy_id)?,
                            amount: quantity("amount", &entry.amount)?,
                        });
                    }
                    Ok(StepOutput::Entries { entries: appended })
                }
            ),
            C::ReverseEntries {
                entry_ids,
                employee_id,
                reason,
            } => {
                for (n, entry_id) in entry_ids.iter().enumerate() {
                    let reversed = rpc!(
                        p.ledger_calls,
                        p.ledger,
                        reverse_entry,
                        "ReverseEntry",
                        call,
                        lpb::ReverseEntryRequest {
                            request_id: format!("{key}/{n}"),
                            entry_id: *entry_id,
                            reason: reason.clone(),
                            employee_id: owner(employee_id),
                        },
                        |_entry| Ok(StepOutput::Nothing)
                    );
                    if let Err(error) = reversed {
                        match outcome(Err(error)) {
                            // Reversed already (by hand): that one is done.
                            CallOutcome::Rejected(rejection)
                                if rejection.reason == Reason::EntryAlreadyReversed => {}
                            other => return other,
                        }
                    }
                }
                Ok(StepOutput::Nothing)
            }
            C::RunAccruals { employee_id, up_to } => rpc!(
                p.ledger_calls,
                p.ledger,
                run_accruals,
                "RunAccruals",
                call,
                lpb::RunAccrualsRequest {
                    request_id: key,
                    up_to_date: convert::date_text(*up_to),
                    employee_id: employee_id.to_string(),
                    policy_id: String::new(),
                },
                |reply| Ok(StepOutput::Accrued {
                    entries: u32::try_from(reply.entries.len()).unwrap_or(u32::MAX),
                })
            ),
            C::Notify {
                recipient_id,
                recipient,
                template,
                payload,
                correlation_id,
            } => rpc!(
                p.notification_calls,
                p.notification,
                send,
                "Send",
                call,
                npb::SendRequest {
                    request_id: key,
                    recipient: Some(npb::Recipient {
                        recipient_id: recipient_id.clone(),
                        kind: recipient_kind(*recipient) as i32,
                        email: String::new(),
                    }),
                    template: (*template).to_owned(),
                    payload: payload
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect::<HashMap<_, _>>(),
                    channels: vec![npb::Channel::InApp as i32],
                    category: String::new(),
                    priority: npb::Priority::Normal as i32,
                    correlation_id: correlation_id.clone(),
                },
                |n| Ok(StepOutput::Notified {
                    notification_id: n.notification_id,
                })
            ),
            C::ErasePersonalData {
                participant,
                employee_id,
            } => {
                let message = hrmesh_proto::common::ErasePersonalDataRequest {
                    request_id: key,
                    employee_id: employee_id.to_string(),
                };
                let erased = |erasure: hrmesh_proto::common::Erasure| {
                    Ok(StepOutput::Erased {
                        keys_destroyed: erasure.keys_destroyed,
                    })
                };
                match participant {
                    Participant::Performance => rpc!(
                        p.performance_calls,
                        p.performance,
                        erase_personal_data,
                        "ErasePersonalData",
                        call,
                        message,
                        |reply| erased(reply)
                    ),
                    Participant::Ledger => rpc!(
                        p.ledger_calls,
                        p.ledger,
                        erase_personal_data,
                        "ErasePersonalData",
                        call,
                        message,
                        |reply| erased(reply)
                    ),
                    Participant::Notification => rpc!(
                        p.notification_calls,
                        p.notification,
                        erase_personal_data,
                        "ErasePersonalData",
                        call,
                        message,
                        |reply| erased(reply)
                    ),
                }
            }
        };
        outcome(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_step_key_is_a_fault_not_a_business_answer() {
        let reused = hrmesh_mesh::status::idempotency_key_reused("saga:s:0:do");
        assert!(matches!(
            outcome(Err(CallError::Rejected(reused))),
            CallOutcome::Fault(_)
        ));
        let no = hrmesh_mesh::status::with_reason(
            tonic::Code::FailedPrecondition,
            lpb::LedgerErrorReason::HoldExpired.as_str_name(),
            "expired",
            [("hold_id", "h".to_owned())],
        );
        let CallOutcome::Rejected(rejection) = outcome(Err(CallError::Rejected(no))) else {
            panic!("a business answer");
        };
        assert_eq!(rejection.reason, Reason::HoldExpired);
        assert_eq!(rejection.reason_name, "HOLD_EXPIRED");
        assert_eq!(rejection.code, "FailedPrecondition");
        assert_eq!(rejection.metadata["hold_id"], "h");
    }
}
