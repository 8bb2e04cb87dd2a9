use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::ServiceError;
use serde::{Deserialize, Serialize};

use crate::{EntryKind, HoldState, Quantity, RecordKind};

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Everything a ledger operation can fail with: bad input and rejections (business outcomes,
/// never retried), `Unavailable` (retry), `Internal` (a bug). See [`hrmesh_domain::error`].
pub type LedgerError = ServiceError<Rejection>;

/// A business rule that refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Rejection {
    #[error("policy {policy_id} already exists")]
    PolicyExists { policy_id: String },
    #[error("insufficient balance: {available} available, {requested} requested")]
    InsufficientBalance {
        available: Quantity,
        requested: Quantity,
    },
    #[error("{date} is already taken by hold {hold_id}")]
    DayAlreadyTaken { date: NaiveDate, hold_id: String },
    #[error("hold {hold_id} is already {}", .state.as_str())]
    HoldAlreadyResolved { hold_id: String, state: HoldState },
    #[error("hold {hold_id} expired at {expired_at}")]
    HoldExpired {
        hold_id: String,
        expired_at: DateTime<Utc>,
    },
    #[error("entry {entry_id} was already reversed by entry {reversal_entry_id}")]
    EntryAlreadyReversed {
        entry_id: i64,
        reversal_entry_id: i64,
    },
    #[error("entry {entry_id} is a {} entry; only accruals, adjustments and carry-over expiries can be reversed", .kind.as_str())]
    EntryNotReversible { entry_id: i64, kind: EntryKind },
    #[error("the assignment overlaps assignment {assignment_id} of the same policy")]
    AssignmentOverlaps { assignment_id: String },
    /// An accrual grant dated inside a freeze of the account's accruals.
    #[error(
        "accruals are frozen from {start_date} to {end_date} by freeze {freeze_id} ({reference})"
    )]
    AccrualsFrozen {
        freeze_id: String,
        reference: String,
        start_date: NaiveDate,
        end_date: NaiveDate,
    },
    #[error("the freeze overlaps freeze {freeze_id} of the same policy")]
    FreezeOverlaps { freeze_id: String },
    /// Extending a freeze that was lifted, or to an end not after its current one.
    #[error("freeze {freeze_id} cannot be extended: {why}")]
    FreezeNotExtendable { freeze_id: String, why: String },
    /// Ending an assignment before its first day.
    #[error("assignment {assignment_id} starts on {effective_from}, after the requested end")]
    AssignmentStartsLater {
        assignment_id: String,
        effective_from: NaiveDate,
    },
    /// The hold or entry does not belong to the employee the request named. The message never
    /// names the owner: the caller was not meant to learn whose record it is.
    #[error("{} {record_id} is not a record of the employee the request names", .record.as_str())]
    RecordOfAnotherEmployee {
        record: RecordKind,
        record_id: String,
    },
}
