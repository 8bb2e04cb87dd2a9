//! What a saga step asks of a participant, in domain terms, and what comes back.
//!
//! A [`ParticipantCommand`] names one participant operation with typed fields; the server turns it
//! into the participant's protobuf request and the answer into a [`CallOutcome`]. Nothing here
//! knows gRPC: a business refusal is a [`Rejection`] (its code name, reason and facts), an outage
//! is `Unavailable`, a bug on the other side is a `Fault`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, Quantity};
use serde::{Deserialize, Serialize};

use crate::ids::{PolicyId, RecordId};
use crate::output::StepOutput;

/// The three participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Participant {
    Performance,
    Ledger,
    Notification,
}

impl Participant {
    pub fn as_str(self) -> &'static str {
        match self {
            Participant::Performance => "performance",
            Participant::Ledger => "ledger",
            Participant::Notification => "notification",
        }
    }
}

/// A review's overall rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rating {
    Unsatisfactory,
    NeedsImprovement,
    MeetsExpectations,
    ExceedsExpectations,
    Outstanding,
}

impl Rating {
    pub const ALL: [Rating; 5] = [
        Rating::Unsatisfactory,
        Rating::NeedsImprovement,
        Rating::MeetsExpectations,
        Rating::ExceedsExpectations,
        Rating::Outstanding,
    ];

    /// How people read it, e.g. "exceeds expectations".
    pub fn words(self) -> &'static str {
        match self {
            Rating::Unsatisfactory => "unsatisfactory",
            Rating::NeedsImprovement => "needs improvement",
            Rating::MeetsExpectations => "meets expectations",
            Rating::ExceedsExpectations => "exceeds expectations",
            Rating::Outstanding => "outstanding",
        }
    }

    /// Bonus time off a completed review earns: 2 days for outstanding, 1 for exceeds
    /// expectations, none otherwise.
    pub fn bonus_days(self) -> Option<Quantity> {
        match self {
            Rating::Outstanding => Some(Quantity::from_units(2)),
            Rating::ExceedsExpectations => Some(Quantity::from_units(1)),
            _ => None,
        }
    }
}

/// A written part of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSection {
    pub title: String,
    pub body: String,
}

/// The kinds of ledger entries sagas append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    Accrual,
    Adjustment,
    Payout,
    Forfeiture,
}

/// How a PIP ends (or goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipOutcome {
    Successful,
    /// Goes on to a new end date.
    Extended,
    Unsuccessful,
}

impl PipOutcome {
    pub fn words(self) -> &'static str {
        match self {
            PipOutcome::Successful => "successful",
            PipOutcome::Extended => "extended",
            PipOutcome::Unsuccessful => "unsuccessful",
        }
    }
}

/// Which freezes of the employee's accruals a command changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezeTarget {
    /// The freeze this request created, if it did (an undo).
    CreatedBy(String),
    /// The employee's freezes with this reference (a PIP's id).
    Reference(String),
}

/// Who a notification is for, as the notification service files it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientKind {
    Employee,
    Manager,
    Hr,
}

/// One ledger entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub employee_id: EmployeeId,
    pub policy_id: PolicyId,
    pub kind: EntryKind,
    pub amount: Quantity,
    pub effective_date: NaiveDate,
    pub reason: String,
    /// The saga that wrote it.
    pub reference: String,
}

/// One participant operation a saga step makes. Every command that names a record carries the
/// employee the saga was authorised for: the participant refuses it, inside the transaction that
/// would apply it, when the record belongs to someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantCommand {
    FinalizeReview {
        review_id: RecordId,
        employee_id: EmployeeId,
        rating: Rating,
        sections: Vec<ReviewSection>,
    },
    /// Undoes the finalization made by `finalize_request_id`, if it happened.
    ReopenReview {
        review_id: RecordId,
        employee_id: EmployeeId,
        finalize_request_id: String,
        reason: String,
    },
    CompleteReview {
        review_id: RecordId,
        employee_id: EmployeeId,
    },
    OpenPip {
        employee_id: EmployeeId,
        manager_id: EmployeeId,
        reason: String,
        objectives: Vec<String>,
        start_date: NaiveDate,
        end_date: NaiveDate,
        check_in_dates: Vec<NaiveDate>,
    },
    /// Cancels the PIP `opened_by_request_id` opened, if any.
    CancelPip {
        opened_by_request_id: String,
        employee_id: EmployeeId,
        reason: String,
    },
    CloseEmployeeRecords {
        employee_id: EmployeeId,
        reason: String,
    },
    /// Reopens what the close made by `close_request_id` closed, if anything.
    ReopenEmployeeRecords {
        close_request_id: String,
    },
    /// Destroys the employee's data keys in `participant` (an erasure: never undone).
    ErasePersonalData {
        participant: Participant,
        employee_id: EmployeeId,
    },
    CreateProbationReview {
        employee_id: EmployeeId,
        manager_id: EmployeeId,
        period_start: NaiveDate,
        due_date: NaiveDate,
    },
    /// Several goals, one call each (request ids `<key>/<n>`).
    CreateGoals {
        employee_id: EmployeeId,
        review_id: Option<RecordId>,
        target_date: NaiveDate,
        goals: Vec<(String, u32)>,
    },
    AppendEntry(NewEntry),
    /// Reverses an entry the saga appended; an entry reversed already counts as done.
    ReverseEntry {
        entry_id: i64,
        employee_id: EmployeeId,
        reason: String,
    },
    HoldDays {
        employee_id: EmployeeId,
        policy_id: PolicyId,
        start_date: NaiveDate,
        end_date: NaiveDate,
        half_days: Vec<NaiveDate>,
        reference: String,
        reason: String,
    },
    PostHold {
        hold_id: RecordId,
        employee_id: EmployeeId,
    },
    /// As an undo (`undo`), a hold that expired or was voided already counts as done.
    VoidHold {
        hold_id: RecordId,
        employee_id: EmployeeId,
        reason: String,
        undo: bool,
    },
    /// Several assignments from one day, all or none.
    AssignPolicies {
        employee_id: EmployeeId,
        policy_ids: Vec<PolicyId>,
        effective_from: NaiveDate,
    },
    RecordPipOutcome {
        pip_id: RecordId,
        employee_id: EmployeeId,
        outcome: PipOutcome,
        notes: String,
        /// For an extension.
        new_end_date: Option<NaiveDate>,
        additional_check_in_dates: Vec<NaiveDate>,
    },
    FreezeAccruals {
        employee_id: EmployeeId,
        policy_id: PolicyId,
        start_date: NaiveDate,
        end_date: NaiveDate,
        reason: String,
        reference: String,
    },
    /// Lifts freezes from `from_date` (none: from their start, undoing them).
    UnfreezeAccruals {
        target: FreezeTarget,
        employee_id: EmployeeId,
        from_date: Option<NaiveDate>,
        reason: String,
    },
    ExtendFreeze {
        target: FreezeTarget,
        employee_id: EmployeeId,
        end_date: NaiveDate,
    },
    /// Ends every assignment of the employee on `end_date`, voiding the pending holds after it.
    EndAssignments {
        employee_id: EmployeeId,
        end_date: NaiveDate,
        post_earlier_holds: bool,
        reason: String,
    },
    /// Restores what the EndAssignments request `ended_by_request_id` ended.
    ReopenAssignments {
        ended_by_request_id: String,
        employee_id: EmployeeId,
    },
    /// Every balance of the employee.
    ListBalances {
        employee_id: EmployeeId,
    },
    /// Entries appended all or none, in one request.
    AppendEntries(Vec<NewEntry>),
    /// Reverses entries the saga appended, one call each (request ids `<key>/<n>`); an entry
    /// reversed already counts as done.
    ReverseEntries {
        entry_ids: Vec<i64>,
        employee_id: EmployeeId,
        reason: String,
    },
    /// Applies the employee's scheduled accruals up to a day.
    RunAccruals {
        employee_id: EmployeeId,
        up_to: NaiveDate,
    },
    /// An in-app notification.
    Notify {
        recipient_id: String,
        recipient: RecipientKind,
        template: &'static str,
        payload: Vec<(&'static str, String)>,
        correlation_id: String,
    },
}

/// The variants of [`ParticipantCommand`], for the contract tests: each has a contract, and a
/// new one without is a build error there (an exhaustive match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandKind {
    FinalizeReview,
    ReopenReview,
    CompleteReview,
    OpenPip,
    CancelPip,
    CloseEmployeeRecords,
    ReopenEmployeeRecords,
    CreateProbationReview,
    CreateGoals,
    AppendEntry,
    ReverseEntry,
    HoldDays,
    PostHold,
    VoidHold,
    AssignPolicies,
    RecordPipOutcome,
    FreezeAccruals,
    UnfreezeAccruals,
    ExtendFreeze,
    EndAssignments,
    ReopenAssignments,
    ListBalances,
    AppendEntries,
    ReverseEntries,
    RunAccruals,
    Notify,
    ErasePerformanceData,
    EraseLedgerData,
    EraseNotificationData,
}

impl CommandKind {
    pub const ALL: [CommandKind; 29] = [
        CommandKind::FinalizeReview,
        CommandKind::ReopenReview,
        CommandKind::CompleteReview,
        CommandKind::OpenPip,
        CommandKind::CancelPip,
        CommandKind::CloseEmployeeRecords,
        CommandKind::ReopenEmployeeRecords,
        CommandKind::CreateProbationReview,
        CommandKind::CreateGoals,
        CommandKind::AppendEntry,
        CommandKind::ReverseEntry,
        CommandKind::HoldDays,
        CommandKind::PostHold,
        CommandKind::VoidHold,
        CommandKind::AssignPolicies,
        CommandKind::RecordPipOutcome,
        CommandKind::FreezeAccruals,
        CommandKind::UnfreezeAccruals,
        CommandKind::ExtendFreeze,
        CommandKind::EndAssignments,
        CommandKind::ReopenAssignments,
        CommandKind::ListBalances,
        CommandKind::AppendEntries,
        CommandKind::ReverseEntries,
        CommandKind::RunAccruals,
        CommandKind::Notify,
        CommandKind::ErasePerformanceData,
        CommandKind::EraseLedgerData,
        CommandKind::EraseNotificationData,
    ];

    /// The participant and the RPC the command is.
    pub fn rpc(self) -> (Participant, &'static str) {
        use Participant::*;
        match self {
            CommandKind::FinalizeReview => (Performance, "FinalizeReview"),
            CommandKind::ReopenReview => (Performance, "ReopenReview"),
            CommandKind::CompleteReview => (Performance, "CompleteReview"),
            CommandKind::OpenPip => (Performance, "OpenPip"),
            CommandKind::CancelPip => (Performance, "CancelPip"),
            CommandKind::CloseEmployeeRecords => (Performance, "CloseEmployeeRecords"),
            CommandKind::ReopenEmployeeRecords => (Performance, "ReopenEmployeeRecords"),
            CommandKind::CreateProbationReview => (Performance, "CreateReview"),
            CommandKind::CreateGoals => (Performance, "CreateGoal"),
            CommandKind::AppendEntry => (Ledger, "AppendEntries"),
            CommandKind::ReverseEntry => (Ledger, "ReverseEntry"),
            CommandKind::HoldDays => (Ledger, "HoldDays"),
            CommandKind::PostHold => (Ledger, "PostHold"),
            CommandKind::VoidHold => (Ledger, "VoidHold"),
            CommandKind::AssignPolicies => (Ledger, "AssignPolicies"),
            CommandKind::RecordPipOutcome => (Performance, "RecordPipOutcome"),
            CommandKind::FreezeAccruals => (Ledger, "FreezeAccruals"),
            CommandKind::UnfreezeAccruals => (Ledger, "UnfreezeAccruals"),
            CommandKind::ExtendFreeze => (Ledger, "ExtendFreeze"),
            CommandKind::EndAssignments => (Ledger, "EndAssignments"),
            CommandKind::ReopenAssignments => (Ledger, "ReopenAssignments"),
            CommandKind::ListBalances => (Ledger, "ListBalances"),
            CommandKind::AppendEntries => (Ledger, "AppendEntries"),
            CommandKind::ReverseEntries => (Ledger, "ReverseEntry"),
            CommandKind::RunAccruals => (Ledger, "RunAccruals"),
            CommandKind::Notify => (Notification, "Send"),
            CommandKind::ErasePerformanceData => (Performance, "ErasePersonalData"),
            CommandKind::EraseLedgerData => (Ledger, "ErasePersonalData"),
            CommandKind::EraseNotificationData => (Notification, "ErasePersonalData"),
        }
    }
}

impl ParticipantCommand {
    pub fn kind(&self) -> CommandKind {
        match self {
            ParticipantCommand::FinalizeReview { .. } => CommandKind::FinalizeReview,
            ParticipantCommand::ReopenReview { .. } => CommandKind::ReopenReview,
            ParticipantCommand::CompleteReview { .. } => CommandKind::CompleteReview,
            ParticipantCommand::OpenPip { .. } => CommandKind::OpenPip,
            ParticipantCommand::CancelPip { .. } => CommandKind::CancelPip,
            ParticipantCommand::CloseEmployeeRecords { .. } => CommandKind::CloseEmployeeRecords,
            ParticipantCommand::ReopenEmployeeRecords { .. } => CommandKind::ReopenEmployeeRecords,
            ParticipantCommand::CreateProbationReview { .. } => CommandKind::CreateProbationReview,
            ParticipantCommand::CreateGoals { .. } => CommandKind::CreateGoals,
            ParticipantCommand::AppendEntry(_) => CommandKind::AppendEntry,
            ParticipantCommand::ReverseEntry { .. } => CommandKind::ReverseEntry,
            ParticipantCommand::HoldDays { .. } => CommandKind::HoldDays,
            ParticipantCommand::PostHold { .. } => CommandKind::PostHold,
            ParticipantCommand::VoidHold { .. } => CommandKind::VoidHold,
            ParticipantCommand::AssignPolicies { .. } => CommandKind::AssignPolicies,
            ParticipantCommand::RecordPipOutcome { .. } => CommandKind::RecordPipOutcome,
            ParticipantCommand::FreezeAccruals { .. } => CommandKind::FreezeAccruals,
            ParticipantCommand::UnfreezeAccruals { .. } => CommandKind::UnfreezeAccruals,
            ParticipantCommand::ExtendFreeze { .. } => CommandKind::ExtendFreeze,
            ParticipantCommand::EndAssignments { .. } => CommandKind::EndAssignments,
            ParticipantCommand::ReopenAssignments { .. } => CommandKind::ReopenAssignments,
            ParticipantCommand::ListBalances { .. } => CommandKind::ListBalances,
            ParticipantCommand::AppendEntries(_) => CommandKind::AppendEntries,
            ParticipantCommand::ReverseEntries { .. } => CommandKind::ReverseEntries,
            ParticipantCommand::RunAccruals { .. } => CommandKind::RunAccruals,
            ParticipantCommand::Notify { .. } => CommandKind::Notify,
            ParticipantCommand::ErasePersonalData { participant, .. } => match participant {
                Participant::Performance => CommandKind::ErasePerformanceData,
                Participant::Ledger => CommandKind::EraseLedgerData,
                Participant::Notification => CommandKind::EraseNotificationData,
            },
        }
    }

    /// Whether `rejection` means the command's aim is met anyway: an undo that finds its effect
    /// gone already (an entry reversed by hand, a hold that expired or was voided), or a grant the
    /// ledger refuses because the employee's accruals are frozen (a PIP): no bonus is due then, and
    /// the saga goes on without it.
    pub fn rejection_is_done(&self, rejection: &Rejection) -> bool {
        match self {
            ParticipantCommand::AppendEntry(entry) if entry.kind == EntryKind::Accrual => {
                rejection.reason == Reason::AccrualsFrozen
            }
            ParticipantCommand::ReverseEntry { .. } | ParticipantCommand::ReverseEntries { .. } => {
                rejection.reason == Reason::EntryAlreadyReversed
            }
            ParticipantCommand::VoidHold { undo: true, .. } => match rejection.reason {
                Reason::HoldExpired => true,
                Reason::HoldAlreadyResolved => {
                    rejection.metadata.get("state").map(String::as_str) != Some("posted")
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// A participant's business answer "no": the status code's name, the ErrorInfo reason, the
/// message and the ErrorInfo facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: String,
    /// What the sagas read.
    pub reason: Reason,
    /// The reason as the participant named it, for people.
    pub reason_name: String,
    pub message: String,
    pub metadata: BTreeMap<String, String>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason_name, self.message)
    }
}

/// A refusal's ErrorInfo reason, as the adapter read it from the participants' proto reason
/// enums. The sagas act on the named ones and on no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The ledger: an accrual grant dated inside a freeze of the employee's accruals.
    AccrualsFrozen,
    /// The ledger: the entry was reversed already.
    EntryAlreadyReversed,
    /// The ledger: the hold expired before it was decided.
    HoldExpired,
    /// The ledger: the hold was posted or voided already (the `state` fact says which).
    HoldAlreadyResolved,
    /// Common to every service: the request id names another request.
    IdempotencyKeyReused,
    /// Any other reason, or none.
    Other,
}

/// How one command call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    Done(StepOutput),
    /// A business refusal (kept by the participant's inbox: asking again gets the same answer).
    Rejected(Rejection),
    /// No answer; calling again with the same key is safe.
    Unavailable(String),
    /// An answer that is a bug or a misconfiguration on the other side.
    Fault(String),
}
